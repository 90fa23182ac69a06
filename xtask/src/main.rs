//! Maintainer tools for cowheap, in their own crate so that the library and its command carry
//! none of their dependencies (plotters). Run from the repository root:
//!
//! ```sh
//! cargo bench --bench read_barrier --bench read_paths --bench writes --bench slot_table \
//!     --bench images --bench scaling --bench memory
//! cargo xtask plot      # BENCHMARKS.md's tables and docs/*.png from those results
//! ```

#![forbid(unsafe_code)]

mod plot;

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("plot") => match plot::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask plot: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask plot\n\n  plot   BENCHMARKS.md's tables and docs/*.png from the bench results");
            ExitCode::from(2)
        }
    }
}
