//! `cargo xtask fetch-images`: checks the real Squeak image files that the VM's tests, benches
//! and examples read, or says where to get them.
//!
//! The images are not in the repository and this command downloads nothing (the machines it
//! runs on may reach no network beyond package registries). It looks in the images folder,
//! `$COWHEAP_IMAGES`, else `../shared/images` beside the workspace root (where the tests look:
//! `squeak/tests/images_common`), and for each image:
//!
//! - present: checks its SHA-256 against the one recorded here;
//! - missing: prints where it comes from, and the name and checksum it must have.
//!
//! Exit 0 when every image is present and matches; 1 otherwise. Without the images the tests
//! that need them skip (`skipped: ...` lines, counted in `target/skipped-tests.txt`);
//! `COWHEAP_REQUIRE_IMAGES=1` makes them fail instead, as CI does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One image the tests read: its file name, size, SHA-256 and origin.
pub struct Shared {
    pub file: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
    /// Where it comes from, in words (the images folder's README says the same).
    pub origin: &'static str,
}

/// The images, with the checksums of the copies the tests were written against (computed with
/// `sha256sum ../shared/images/*.image`; the images folder's README lists the same).
pub const IMAGES: [Shared; 4] = [
    Shared {
        file: "mini-2.2-v3-le.image",
        bytes: 726_656,
        sha256: "ad64dfa2e6be96780710149ac91442393fb92b1ffebae62512a35d9635f5a5cc",
        origin: "\"Mini Squeak 2.2 of Sept 23, 1998\" (format 6502, little-endian): the test \
                 image of the RSqueak project (BSD-3; github.com/hpi-swa/RSqueak, its \
                 mini.image among the test images)",
    },
    Shared {
        file: "mini-2.2-v3-be.image",
        bytes: 624_444,
        sha256: "ec22448856129313ceac51968edabf25fe6819f33812bd8f2943a60bc292c9ea",
        origin: "the same mini image re-saved big-endian by SqueakJS (MIT; \
                 github.com/codefrau/SqueakJS, its mini.image)",
    },
    Shared {
        file: "bootstrapped-v3-6505.image",
        bytes: 86_704,
        sha256: "020dfc0919d1f55d2c694679ab782aca6596a3a501dd41d0634daa20380f3b6f",
        origin: "a bootstrapped kernel image, format 6505, class names starting with \"PC\" \
                 (RSqueak's test images: bootstrapped.image)",
    },
    Shared {
        file: "headless-spur32.image",
        bytes: 135_472,
        sha256: "29621e0880d7cef148d17065934aca4ea993cb936ed51f98827d3bb97b18025c",
        origin: "a tiny bootstrapped 32-bit Spur kernel (format 6521) from SqueakJS's headless \
                 demo (headless/headless.image)",
    },
];

/// The images folder and how it was chosen.
fn images_dir() -> (PathBuf, &'static str) {
    match std::env::var_os("COWHEAP_IMAGES") {
        Some(d) if !d.is_empty() => (PathBuf::from(d), "from COWHEAP_IMAGES"),
        _ => {
            let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = xtask.parent().unwrap_or(xtask);
            let dir = match root.parent() {
                Some(beside) => beside.join("shared/images"),
                None => root.join("../shared/images"),
            };
            (
                dir,
                "../shared/images beside the workspace; set COWHEAP_IMAGES for another",
            )
        }
    }
}

/// What one image's check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Ok,
    Missing,
    Unreadable(String),
    WrongChecksum(String),
}

/// Checks one image in `dir`.
pub fn check(dir: &Path, image: &Shared) -> Found {
    let path = dir.join(image.file);
    if !path.exists() {
        return Found::Missing;
    }
    match std::fs::read(&path) {
        Err(e) => Found::Unreadable(e.to_string()),
        Ok(bytes) => {
            let digest = hex_digest(&bytes);
            if digest == image.sha256 {
                Found::Ok
            } else {
                Found::WrongChecksum(digest)
            }
        }
    }
}

pub fn run() -> ExitCode {
    let (dir, how) = images_dir();
    println!("images folder: {} ({how})", dir.display());
    let mut missing = Vec::new();
    let mut bad = 0;
    for image in &IMAGES {
        match check(&dir, image) {
            Found::Ok => println!("  ok          {:<28} sha256 {}", image.file, image.sha256),
            Found::Missing => {
                println!("  missing     {}", image.file);
                missing.push(image);
            }
            Found::Unreadable(e) => {
                println!("  unreadable  {}: {e}", image.file);
                bad += 1;
            }
            Found::WrongChecksum(digest) => {
                println!(
                    "  CHANGED     {}: sha256 {digest}, expected {}",
                    image.file, image.sha256
                );
                bad += 1;
            }
        }
    }
    if missing.is_empty() && bad == 0 {
        println!("all {} images present and verified", IMAGES.len());
        return ExitCode::SUCCESS;
    }
    if !missing.is_empty() {
        println!(
            "\nThis command downloads nothing. Put each missing image into {} under the name \
             shown (or point COWHEAP_IMAGES at a folder that has them), then run \
             `cargo xtask fetch-images` again to verify it:",
            dir.display()
        );
        for image in missing {
            println!(
                "\n  {} ({} bytes)\n    from: {}\n    sha256: {}",
                image.file, image.bytes, image.origin, image.sha256
            );
        }
        println!(
            "\nWithout them the tests that need them skip (a `skipped:` line each, counted in \
             target/skipped-tests.txt); COWHEAP_REQUIRE_IMAGES=1 makes them fail instead."
        );
    }
    if bad > 0 {
        println!(
            "\n{bad} image(s) differ from the copies the tests were written against: their object \
             counts and pinned hashes will not match. Replace them."
        );
    }
    ExitCode::FAILURE
}

/// The SHA-256 of `bytes`, as `sha256sum` prints it.
fn hex_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_the_images_finds_them_missing_and_a_changed_file_is_caught() {
        let dir = std::env::temp_dir().join(format!("xtask-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(check(&dir, &IMAGES[0]), Found::Missing);
        std::fs::write(dir.join(IMAGES[0].file), b"not the image").unwrap();
        assert!(matches!(
            check(&dir, &IMAGES[0]),
            Found::WrongChecksum(d) if d == hex_digest(b"not the image")
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
