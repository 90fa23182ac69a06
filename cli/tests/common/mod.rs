//! Running the `cowheap` binary from the tests.
#![allow(dead_code)] // each test file uses its own part

use std::process::{Command, Output};

/// Runs `cowheap ARGS`.
pub fn cowheap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args(args)
        .output()
        .expect("the cowheap binary runs")
}

/// Runs `cowheap stress ARGS`.
pub fn stress(args: &[&str]) -> Output {
    let mut all = vec!["stress"];
    all.extend_from_slice(args);
    cowheap(&all)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run small enough for a debug build: a few images over a small generated base.
pub const SMALL: &[&str] = &["--images", "6", "--ops", "3000", "--objects", "4000", "-q"];

/// A shared image file by name, or `None` (and a note) where `../shared/images` is not beside
/// the repository.
pub fn image(name: &str) -> Option<String> {
    let path = format!("{}/../../shared/images/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::path::Path::new(&path).exists() {
        Some(path)
    } else {
        eprintln!("skipped: {path} is not here");
        None
    }
}
