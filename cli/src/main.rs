//! The `cowheap` command: `stress` runs many images over a shared base and verifies every
//! image's view; `inspect` describes an image file or a delta.
//!
//! The heap is the `cowheap` library and the harness the `cowheap-stress` library; this crate
//! is only their command line: argument parsing, progress, the report's text and JSON forms,
//! and the exit codes of [`exit`].

#![forbid(unsafe_code)]

mod exit;
mod inspect;
mod limits;
mod load;
mod out;
mod parse;
mod progress;
mod run;
mod serve;
mod stress;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use exit::Failure;

#[derive(Parser)]
#[command(
    name = "cowheap",
    version,
    about = "Many Smalltalk images over one shared copy-on-write base heap",
    after_help = exit::HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run many concurrent images over one base and verify every image's view.
    #[command(after_help = exit::HELP)]
    Stress(stress::Args),
    /// Describe a Squeak or Pharo image file, or a delta saved by `stress --save-deltas`.
    #[command(after_help = exit::HELP)]
    Inspect(inspect::Args),
    /// Run a Smalltalk expression in one or many images of a Squeak V3 base.
    #[command(after_help = exit::RUN_HELP)]
    Run(run::Args),
    /// Drive many sessions of `cowheap serve` hosts, each checking its own counter.
    #[command(after_help = exit::HELP)]
    Load(load::Args),
    /// Serve sessions over HTTP/JSON, each an image over one shared base (docs/SERVING.md).
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stress(args) => stress::run(*args.options),
        Command::Inspect(args) => inspect::run(args),
        Command::Run(args) => run::run(args),
        Command::Load(args) => load::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code.into(),
        // A setting the harness refused (only `stress` has any) is a bad argument: clap says
        // so as for any other, with the usage line, and exits with the usage code.
        Err(Failure::Usage(message)) => {
            let mut cmd = Cli::command();
            cmd.build();
            let stress = cmd
                .find_subcommand_mut("stress")
                .expect("the stress subcommand exists");
            stress
                .error(clap::error::ErrorKind::ValueValidation, message)
                .exit()
        }
        Err(failure) => {
            out::note(&format!("cowheap: {failure}"));
            failure.code().into()
        }
    }
}
