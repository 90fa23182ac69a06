//! `cargo xtask fetch-images [--check]`: puts the real Squeak image files that the VM's tests,
//! benches and examples read where they look, and verifies each by SHA-256.
//!
//! Where the tests look (`squeak/tests/images_common`): `$COWHEAP_IMAGES` when set, else
//! `../shared/images` beside the workspace when that folder exists, else the user's cache
//! folder (`$XDG_CACHE_HOME/cowheap/images`, else `~/.cache/cowheap/images`), which is where
//! this command downloads to unless `COWHEAP_IMAGES` names a folder. Nothing is written into
//! the repository.
//!
//! For each image:
//!
//! - present: its SHA-256 is checked against the one recorded here;
//! - missing: the four mini images are downloaded with `curl` from their public repositories
//!   at a pinned commit, Scratch.image is extracted from Debian's `scratch` package
//!   (`apt-get download`, `dpkg-deb -x`); a download is kept only when its checksum matches,
//!   and is renamed into place, so no half-written image is ever seen;
//! - with `--check`, nothing is downloaded: a missing image is reported with where it comes from.
//!
//! Exit 0 when the four images the tests require are present and verified (Scratch.image is
//! optional: its tests skip without it); 1 otherwise. Without the images the tests that need
//! them skip (`skipped: ...` lines, counted in `target/skipped-tests.txt`);
//! `COWHEAP_REQUIRE_IMAGES=1` makes them fail instead, as CI does.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// One image the tests read: its file name, size, SHA-256 and origin.
pub struct Shared {
    pub file: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
    /// Where it comes from, in words (the images folder's README says the same).
    pub origin: &'static str,
    /// How to get it: a file at a pinned commit of a public repository, or a Debian package.
    pub source: Source,
}

/// Where a missing image is fetched from.
pub enum Source {
    /// A URL whose content is the image itself.
    Url(&'static str),
    /// A file inside a Debian package (`apt-get download PACKAGE`, then `dpkg-deb -x`).
    Debian {
        package: &'static str,
        path: &'static str,
    },
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
        source: Source::Url(
            "https://raw.githubusercontent.com/hpi-swa/RSqueak/6c2120b38c9d89bf6742508e6a23a6f42df0a0a0/rsqueakvm/test/images/mini.image",
        ),
    },
    Shared {
        file: "mini-2.2-v3-be.image",
        bytes: 624_444,
        sha256: "ec22448856129313ceac51968edabf25fe6819f33812bd8f2943a60bc292c9ea",
        origin: "the same mini image re-saved big-endian by SqueakJS (MIT; \
                 github.com/codefrau/SqueakJS, its mini.image)",
        source: Source::Url(
            "https://raw.githubusercontent.com/codefrau/SqueakJS/40b9d9c57d479a94dcda867c72fb811473afa486/demo/squeakjs.image",
        ),
    },
    Shared {
        file: "bootstrapped-v3-6505.image",
        bytes: 86_704,
        sha256: "020dfc0919d1f55d2c694679ab782aca6596a3a501dd41d0634daa20380f3b6f",
        origin: "a bootstrapped kernel image, format 6505, class names starting with \"PC\" \
                 (RSqueak's test images: bootstrapped.image)",
        source: Source::Url(
            "https://raw.githubusercontent.com/hpi-swa/RSqueak/6c2120b38c9d89bf6742508e6a23a6f42df0a0a0/rsqueakvm/test/images/bootstrapped.image",
        ),
    },
    Shared {
        file: "headless-spur32.image",
        bytes: 135_472,
        sha256: "29621e0880d7cef148d17065934aca4ea993cb936ed51f98827d3bb97b18025c",
        origin: "a tiny bootstrapped 32-bit Spur kernel (format 6521) from SqueakJS's headless \
                 demo (headless/headless.image)",
        source: Source::Url(
            "https://raw.githubusercontent.com/codefrau/SqueakJS/40b9d9c57d479a94dcda867c72fb811473afa486/headless/headless.image",
        ),
    },
];

/// Scratch.image (83,000 objects), which no test requires: its tests skip without it.
pub const SCRATCH: Shared = Shared {
    file: "Scratch.image",
    bytes: 5_682_544,
    sha256: "100c7ef83c2f0e2b3e885b645199bc70596fe93f036a312a45e209c0abb0191c",
    origin: "Scratch 1.4's image (format 6502, little-endian), in Debian's package `scratch` \
             (1.4.0.6~dfsg1-6.1; its licence is in the package's copyright file)",
    source: Source::Debian {
        package: "scratch",
        path: "usr/share/scratch/Scratch.image",
    },
};

/// The images folder and how it was chosen: the tests' rule (see the module docs).
fn images_dir() -> (PathBuf, &'static str) {
    if let Some(d) = std::env::var_os("COWHEAP_IMAGES").filter(|d| !d.is_empty()) {
        return (PathBuf::from(d), "from COWHEAP_IMAGES");
    }
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = xtask.parent().unwrap_or(xtask);
    let shared = match root.parent() {
        Some(beside) => beside.join("shared/images"),
        None => root.join("../shared/images"),
    };
    if shared.is_dir() {
        return (shared, "../shared/images beside the workspace");
    }
    match cache_dir() {
        Some(cache) => (cache, "the user's cache folder (no ../shared/images here)"),
        None => (shared, "../shared/images (no HOME for a cache folder)"),
    }
}

/// `$XDG_CACHE_HOME/cowheap/images`, else `$HOME/.cache/cowheap/images`.
fn cache_dir() -> Option<PathBuf> {
    let nonempty = |v: &str| {
        std::env::var_os(v)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    };
    let base = nonempty("XDG_CACHE_HOME").or_else(|| nonempty("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("cowheap/images"))
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

pub fn run(args: &[String]) -> ExitCode {
    let check_only = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: cargo xtask fetch-images [--check]");
            return ExitCode::from(2);
        }
    };
    let (dir, how) = images_dir();
    println!("images folder: {} ({how})", dir.display());
    let mut failed = 0;
    for image in &IMAGES {
        if !settle(&dir, image, check_only) {
            failed += 1;
        }
    }
    // Scratch.image goes to the cache folder unless COWHEAP_IMAGES names one, so that a
    // shared images folder is only read; the tests look in both.
    let scratch_dir = match (std::env::var_os("COWHEAP_IMAGES"), cache_dir()) {
        (Some(d), _) if !d.is_empty() => dir.clone(),
        _ if dir.join(SCRATCH.file).exists() => dir.clone(),
        (_, Some(cache)) => cache,
        (_, None) => dir.clone(),
    };
    if !settle(&scratch_dir, &SCRATCH, check_only) {
        println!(
            "  (optional: the tests that read {} skip without it)",
            SCRATCH.file
        );
    }
    if failed == 0 {
        println!(
            "the {} images the tests require are present and verified",
            IMAGES.len()
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "\n{failed} required image(s) missing or wrong. Without them the tests that need them \
         skip (a `skipped:` line each, counted in target/skipped-tests.txt); \
         COWHEAP_REQUIRE_IMAGES=1 makes them fail instead."
    );
    ExitCode::FAILURE
}

/// Checks `image` in `dir`, fetching it when missing (unless `check_only`); true when it is
/// there and verified at the end. Prints one line per image, and the way to get it by hand
/// when it is still missing.
fn settle(dir: &Path, image: &Shared, check_only: bool) -> bool {
    let found = check(dir, image);
    let label = format!("{} ({})", image.file, dir.display());
    match found {
        Found::Ok => {
            println!("  ok          {label}");
            return true;
        }
        Found::Unreadable(e) => {
            println!("  unreadable  {label}: {e}");
            return false;
        }
        Found::WrongChecksum(digest) => {
            println!(
                "  CHANGED     {label}: sha256 {digest}, expected {}; the tests' object counts \
                 and pinned hashes will not match: replace it",
                image.sha256
            );
            return false;
        }
        Found::Missing if check_only => println!("  missing     {label}"),
        Found::Missing => match fetch(dir, image) {
            Ok(()) => {
                println!("  fetched     {label}");
                return true;
            }
            Err(why) => println!("  missing     {label}: could not fetch it: {why}"),
        },
    }
    let how = match &image.source {
        Source::Url(url) => format!("curl -fL -o {} {url}", image.file),
        Source::Debian { package, path } => {
            format!("apt-get download {package} && dpkg-deb -x {package}_*.deb x && cp x/{path} .")
        }
    };
    println!(
        "      from: {}\n      by hand, in {}: {how}\n      size {} bytes, sha256 {}",
        image.origin,
        dir.display(),
        image.bytes,
        image.sha256
    );
    false
}

/// Downloads `image` into `dir`: into a temporary file there, checked, then renamed.
fn fetch(dir: &Path, image: &Shared) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let work = dir.join(format!(".fetch-{}-{}", image.file, std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let result = download(&work, image).and_then(|got| {
        let bytes = std::fs::read(&got).map_err(|e| e.to_string())?;
        let digest = hex_digest(&bytes);
        if digest != image.sha256 {
            return Err(format!("got sha256 {digest}, expected {}", image.sha256));
        }
        std::fs::rename(&got, dir.join(image.file)).map_err(|e| e.to_string())
    });
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Fetches `image` into the folder `work`; answers the file's path there.
fn download(work: &Path, image: &Shared) -> Result<PathBuf, String> {
    match &image.source {
        Source::Url(url) => {
            let out = work.join(image.file);
            tool(
                Command::new("curl")
                    .args(["-fsSL", "--retry", "2", "--max-time", "120", "-o"])
                    .arg(&out)
                    .arg(url),
            )?;
            Ok(out)
        }
        Source::Debian { package, path } => {
            tool(
                Command::new("apt-get")
                    .args(["download", package])
                    .current_dir(work),
            )?;
            let deb = std::fs::read_dir(work)
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
                .ok_or("apt-get download left no .deb")?;
            let tree = work.join("tree");
            tool(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
            Ok(tree.join(path))
        }
    }
}

/// Runs a command to completion; its failure (or absence) as a message.
fn tool(command: &mut Command) -> Result<(), String> {
    let name = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").trim();
    Err(format!("{name} failed ({}): {last}", output.status))
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

    /// A download is kept only when its checksum matches, under the image's name; a wrong one
    /// leaves nothing behind (no image, no work folder).
    #[test]
    fn a_download_is_kept_only_when_its_checksum_matches() {
        let dir = std::env::temp_dir().join(format!("xtask-fetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let origin = dir.join("origin.bin");
        std::fs::write(&origin, b"image bytes").unwrap();
        let url: &'static str = format!("file://{}", origin.display()).leak();
        let image = |sha256: &'static str| Shared {
            file: "fetched.image",
            bytes: 11,
            sha256,
            origin: "a test",
            source: Source::Url(url),
        };
        let right: &'static str = hex_digest(b"image bytes").leak();
        let wrong = fetch(&dir, &image(IMAGES[0].sha256)).unwrap_err();
        assert!(wrong.contains("expected"), "{wrong}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("origin.bin")]);
        fetch(&dir, &image(right)).unwrap();
        assert_eq!(check(&dir, &image(right)), Found::Ok);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
