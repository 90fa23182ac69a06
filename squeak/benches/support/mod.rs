//! What the VM's benches share: the smoke mode, criterion's settings, thread CPU time and
//! where the real image files are.
#![allow(dead_code)] // each bench binary uses a different part

use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;

/// True when `COWHEAP_BENCH_QUICK` is set (to anything but `0`): the smoke mode.
pub fn quick() -> bool {
    std::env::var("COWHEAP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Picks the full-run or the quick-mode value.
pub fn pick<T>(full: T, quick_value: T) -> T {
    if quick() {
        quick_value
    } else {
        full
    }
}

/// The heap's benches' criterion settings, so that the two crates' figures compare.
pub fn criterion() -> Criterion {
    let c = Criterion::default().configure_from_args();
    if quick() {
        // Apart from full results, so that `cargo xtask plot` never publishes smoke data.
        c.output_directory(&smoke_dir())
            .sample_size(10)
            .warm_up_time(Duration::from_millis(10))
            .measurement_time(Duration::from_millis(40))
            .nresamples(1000)
            .without_plots()
    } else {
        c.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1200))
            .without_plots()
    }
}

/// Where smoke-mode results go: `criterion-smoke` in the workspace's target folder.
pub fn smoke_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion-smoke")
}

#[path = "../../tests/images_common/mod.rs"]
mod images_common;

/// The folder of real image files, found as the tests find them (`tests/images_common`).
pub fn images_dir() -> PathBuf {
    images_common::dir()
}

/// The path of image `file`, or `None` with one line on stderr, so that a bench without the
/// images measures nothing and exits 0 (`cargo bench --no-run` and the smoke mode pass on a
/// clone without them). With `COWHEAP_REQUIRE_IMAGES=1` (CI) a missing image is a panic.
pub fn image(bench: &str, file: &str) -> Option<PathBuf> {
    let path = images_dir().join(file);
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "{bench}: {} not found (run `cargo xtask fetch-images`, or set COWHEAP_IMAGES)",
        path.display()
    );
    if std::env::var("COWHEAP_REQUIRE_IMAGES").is_ok_and(|v| v == "1") {
        panic!("{message}; COWHEAP_REQUIRE_IMAGES=1 makes a missing image a failure");
    }
    eprintln!("skipped: {message}");
    None
}

/// The CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
