//! Command-line interface. Each subcommand lives in its own module.

mod inspect;
mod stress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cowheap",
    version,
    about = "Many Smalltalk images over one shared copy-on-write base heap"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run many concurrent images over one base and verify every image's view.
    Stress(stress::Args),
    /// Describe a Squeak or Pharo image file.
    Inspect(inspect::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stress(args) => stress::run(args),
        Command::Inspect(args) => inspect::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cowheap: {e}");
            ExitCode::from(2)
        }
    }
}
