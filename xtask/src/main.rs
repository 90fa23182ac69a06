//! Maintainer tools for cowheap, in their own crate so that the library and its command carry
//! none of their dependencies (plotters). Run from the repository root:
//!
//! ```sh
//! cargo bench --bench read_barrier --bench read_paths --bench writes --bench entries \
//!     --bench images --bench scaling --bench memory
//! cargo xtask plot      # BENCHMARKS.md's tables and docs/*.png from those results
//! cargo xtask fetch-images   # download and verify the real image files the tests read
//! cargo xtask conformance    # cowheap against the real Squeak VM's answers (--bless, --regenerate)
//! ```

#![forbid(unsafe_code)]

mod conformance;
mod fetch_images;
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
        Some("fetch-images") => fetch_images::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("conformance") => conformance::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!(
                "usage: cargo xtask plot | fetch-images | conformance\n\n  \
                 plot          BENCHMARKS.md's tables and docs/*.png from the bench results\n  \
                 fetch-images  put the real image files where the tests read them ($COWHEAP_IMAGES, \
                 else ../shared/images, else ~/.cache/cowheap/images), downloading what is \
                 missing and checking every SHA-256 (--check: download nothing)\n  \
                 conformance   cowheap against the real Squeak VM's answers \
                 (--bless: update the known differences; --regenerate: ask the real VM again)"
            );
            ExitCode::from(2)
        }
    }
}
