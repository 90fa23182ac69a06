//! Where the real Squeak image files are, for every test that reads them: this crate's tests,
//! and the command's (`cli/tests/common` includes this file).
//!
//! The folder is `$COWHEAP_IMAGES`, else `../shared/images` beside the workspace root when it
//! exists, else the user's cache folder (`$XDG_CACHE_HOME/cowheap/images`, else
//! `~/.cache/cowheap/images`), where `cargo xtask fetch-images` downloads them. The files are
//! not in the repository (see the README), so a clone without them still passes its tests: a
//! test that needs a missing file *skips*. It prints one line,
//!
//! ```text
//! skipped: TEST: PATH not found (run `cargo xtask fetch-images`, or set COWHEAP_IMAGES)
//! ```
//!
//! on the test process's stderr (past libtest's output capture, so it shows in a plain
//! `cargo test`), appends the same line to `target/skipped-tests.txt` (libtest counts a skip
//! as a pass; `.ci/run` and a person count the lines there), and returns early.
//!
//! With `COWHEAP_REQUIRE_IMAGES=1` (CI sets it) a missing file fails the test instead, with the
//! same message, so that a CI box that lost its images cannot pass by skipping.
#![allow(dead_code)] // each test binary uses its own part

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The variable naming the images folder.
pub const DIR_VAR: &str = "COWHEAP_IMAGES";
/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "COWHEAP_REQUIRE_IMAGES";

/// The images folder: `$COWHEAP_IMAGES`, else `../shared/images` beside the workspace root
/// when it exists, else the cache folder that `cargo xtask fetch-images` fills.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    // Every crate that includes this file is one folder below the workspace root.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.parent().unwrap_or(crate_dir);
    let shared = match root.parent() {
        Some(beside) => beside.join("shared/images"),
        None => root.join("../shared/images"),
    };
    match cache_dir() {
        Some(cache) if !shared.is_dir() => cache,
        _ => shared,
    }
}

/// `$XDG_CACHE_HOME/cowheap/images`, else `$HOME/.cache/cowheap/images`: where
/// `cargo xtask fetch-images` puts what it downloads (unless `COWHEAP_IMAGES` is set).
pub fn cache_dir() -> Option<PathBuf> {
    let nonempty = |v: &str| {
        std::env::var_os(v)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    };
    let base = nonempty("XDG_CACHE_HOME").or_else(|| nonempty("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("cowheap/images"))
}

/// Whether a missing image fails the test (`COWHEAP_REQUIRE_IMAGES=1`) rather than skips it.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// The name of the running test: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "this test".to_owned(),
    }
}

/// The skip record: `target/skipped-tests.txt`.
pub fn record_file() -> PathBuf {
    // `target/tmp` for integration tests and benches: its parent is the target folder.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("skipped-tests.txt")
}

/// The line that says `test` lacks `path` (after `skipped: `, or in the failure).
pub fn missing_message(test: &str, path: &Path) -> String {
    format!(
        "{test}: {} not found (run `cargo xtask fetch-images`, or set {DIR_VAR})",
        path.display()
    )
}

/// The path of image `file` when it is there. When it is not, the test's skip (the line on
/// stderr and in [`record_file`]) and `None`, or, with `COWHEAP_REQUIRE_IMAGES=1`, a panic.
pub fn find(file: &str) -> Option<PathBuf> {
    let path = dir().join(file);
    if path.is_file() {
        return Some(path);
    }
    let message = missing_message(&test_name(), &path);
    if required() {
        panic!("{message}; {REQUIRE_VAR}=1 makes a missing image a failure");
    }
    let line = format!("skipped: {message}\n");
    // Straight to the stderr handle: `eprintln!` would be captured, and shown only on failure.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    let record = record_file();
    if let Some(parent) = record.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&record)
    {
        // One write of one short line: appends from parallel tests do not interleave.
        let _ = f.write_all(line.as_bytes());
    }
    None
}

/// The paths of every one of `files`, or `None` (and one skip, for the first missing file).
pub fn find_all<const N: usize>(files: [&str; N]) -> Option<[PathBuf; N]> {
    let mut out = Vec::with_capacity(N);
    for f in files {
        out.push(find(f)?);
    }
    out.try_into().ok()
}

/// True when the test must return now: one of `files` is missing (and the skip is recorded).
pub fn skip(files: &[&str]) -> bool {
    files.iter().any(|f| find(f).is_none())
}

/// The variable naming Scratch.image (Debian's package `scratch`; see the images README).
pub const SCRATCH_VAR: &str = "COWHEAP_SCRATCH_IMAGE";

/// Scratch.image: `$COWHEAP_SCRATCH_IMAGE`, else `Scratch.image` in the images folder or the
/// cache folder (`cargo xtask fetch-images` extracts it from Debian's package there). It is
/// not among the shared images, so a missing one skips (recorded as any skip) even under
/// `COWHEAP_REQUIRE_IMAGES=1`; only a `$COWHEAP_SCRATCH_IMAGE` that names no file fails.
pub fn scratch() -> Option<PathBuf> {
    match std::env::var_os(SCRATCH_VAR) {
        Some(p) if !p.is_empty() => {
            let path = PathBuf::from(p);
            assert!(
                path.is_file(),
                "{SCRATCH_VAR}={} is no file",
                path.display()
            );
            Some(path)
        }
        _ => {
            let path = dir().join("Scratch.image");
            let cached = cache_dir().map(|c| c.join("Scratch.image"));
            if let Some(found) = std::iter::once(path.clone())
                .chain(cached)
                .find(|p| p.is_file())
            {
                return Some(found);
            }
            let line = format!(
                "skipped: {}: {} not found (run `cargo xtask fetch-images` or set {SCRATCH_VAR})\n",
                test_name(),
                path.display()
            );
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(record_file())
            {
                let _ = f.write_all(line.as_bytes());
            }
            None
        }
    }
}
