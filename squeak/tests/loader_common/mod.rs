//! Shared helpers for the loader tests: the shared images, and what the images README says
//! about them. Where they are, and skipping without them, is `images_common`.
#![allow(dead_code)]

use std::path::PathBuf;

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

/// True when the test must return now: one of `files` is not in the images folder (the skip
/// is printed and recorded, or with `COWHEAP_REQUIRE_IMAGES=1` the test fails): see
/// `images_common`.
pub fn skip(files: &[&str]) -> bool {
    crate::images_common::skip(files)
}

/// [`skip`] for all four shared images.
pub fn skip_all() -> bool {
    skip(&IMAGES.map(|i| i.file))
}

/// The path of a shared image (the test checked it is there with [`skip`]).
pub fn path(file: &str) -> PathBuf {
    crate::images_common::dir().join(file)
}

pub fn bytes(file: &str) -> Vec<u8> {
    std::fs::read(path(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

pub fn load(file: &str) -> Loaded {
    loader::load_file(path(file)).unwrap_or_else(|e| panic!("{file} does not load: {e}"))
}
