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

/// Where the shared image files are, and the skip without them: the VM crate's tests' one
/// helper (`$COWHEAP_IMAGES`, else `../shared/images` beside the workspace root).
#[path = "../../../squeak/tests/images_common/mod.rs"]
pub mod images;

/// A shared image file by name, or `None` where it is missing: the test prints its skip line
/// and returns (with `COWHEAP_REQUIRE_IMAGES=1`, it fails instead).
pub fn image(name: &str) -> Option<String> {
    images::find(name).map(|p| p.to_str().expect("a UTF-8 image path").to_owned())
}

/// A fresh directory under the system's temporary one, removed when dropped (a failed test
/// leaves it behind for a look).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("cowheap-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }

    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A stress run small enough to save and resume in a debug build: 3 images over a small
/// generated base of `seed`.
pub fn saving_run(seed: &str) -> Vec<&str> {
    vec![
        "--images",
        "3",
        "--ops",
        "400",
        "--objects",
        "1500",
        "--seed",
        seed,
        "-q",
    ]
}
