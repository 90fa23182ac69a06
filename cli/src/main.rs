//! The `cowheap` command: `stress` runs many images over a shared base; `inspect` describes an
//! image file.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
