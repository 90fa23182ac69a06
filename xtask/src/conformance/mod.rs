//! `cargo xtask conformance [--regenerate [ARGS] | --bless]`: the conformance battery of
//! `squeak/tests/conformance/` in one command each way.
//!
//! - no flag: runs the `conformance` test and prints its summary (how many expressions answer
//!   as the real Squeak VM, and every difference that is not listed or no longer differs);
//! - `--bless`: the same, rewriting `known_differences.txt` from this run (fixed lines go,
//!   reasons stay, new differences land under a heading asking for their reason);
//! - `--regenerate`: asks the real VM again (`realvm.py`: downloads Debian's squeak-vm with
//!   `apt-get download`, installs nothing; a few minutes), rewriting `expected.tsv` after
//!   `battery.txt` changed. Further arguments go to the script (`--only SUBSTRING`, `--keep`).

use std::process::{Command, ExitCode};

const TEST: [&str; 8] = [
    "test",
    "--release",
    "-p",
    "cowheap-squeak",
    "--test",
    "conformance",
    "--",
    "--nocapture",
];

pub fn run(args: &[String]) -> ExitCode {
    let mut cmd = match args.first().map(String::as_str) {
        None => cargo(),
        Some("--bless") if args.len() == 1 => {
            let mut c = cargo();
            c.env("COWHEAP_CONFORMANCE_BLESS", "1");
            c
        }
        Some("--regenerate") => {
            let mut c = Command::new("python3");
            c.arg("squeak/tests/conformance/realvm.py").args(&args[1..]);
            c
        }
        _ => {
            eprintln!("usage: cargo xtask conformance [--bless | --regenerate [--only SUBSTRING] [--keep]]");
            return ExitCode::from(2);
        }
    };
    // The workspace root, wherever cargo was started from.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match cmd.current_dir(root).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask conformance: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.args(TEST);
    c
}
