//! Shared helpers for the loader tests: where the shared images are, and what the images
//! README says about them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cowheap_squeak::loader::{self, ImageFamily, Loaded};

/// One shared image and the facts the images README states about it.
pub struct Shared {
    pub file: &'static str,
    pub objects: usize,
    pub format: u32,
    pub family: ImageFamily,
    pub big_endian: bool,
    /// Prefix of the kernel class names ("PC" for the bootstrapped image).
    pub prefix: &'static str,
}

pub const IMAGES: [Shared; 4] = [
    Shared {
        file: "mini-2.2-v3-le.image",
        objects: 17_692,
        format: 6502,
        family: ImageFamily::V3,
        big_endian: false,
        prefix: "",
    },
    Shared {
        file: "mini-2.2-v3-be.image",
        objects: 15_893,
        format: 6502,
        family: ImageFamily::V3,
        big_endian: true,
        prefix: "",
    },
    Shared {
        file: "bootstrapped-v3-6505.image",
        objects: 2_525,
        format: 6505,
        family: ImageFamily::V3,
        big_endian: false,
        prefix: "PC",
    },
    Shared {
        file: "headless-spur32.image",
        objects: 2_493,
        format: 6521,
        family: ImageFamily::Spur,
        big_endian: false,
        prefix: "",
    },
];

/// The images folder if it holds the shared images, else a message saying where they are
/// expected.
pub fn images_dir_at(dir: &Path) -> Result<PathBuf, String> {
    if dir.join(IMAGES[0].file).is_file() {
        Ok(dir.to_owned())
    } else {
        Err(format!(
            "the shared Smalltalk images are expected in {} (../shared/images/ beside the \
             repository root, holding {}); the loader tests need them and do not pass without them",
            dir.display(),
            IMAGES.map(|i| i.file).join(", ")
        ))
    }
}

/// `../shared/images/` beside the repository. Fails the test, loudly, if missing.
pub fn images_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/images");
    images_dir_at(&dir).unwrap_or_else(|message| panic!("{message}"))
}

pub fn path(file: &str) -> PathBuf {
    images_dir().join(file)
}

pub fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(path(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

pub fn load(file: &str) -> Loaded {
    loader::load_file(path(file)).unwrap_or_else(|e| panic!("{file} does not load: {e}"))
}
