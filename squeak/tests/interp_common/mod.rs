//! The mini images, loaded once per test binary, with their interpreter tables. Each test
//! that uses them starts with `if interp_common::skip() { return; }`.
#![allow(dead_code)]

use std::sync::OnceLock;

use cowheap_squeak::interp::Vm;
use cowheap_squeak::loader::{self, Loaded};

/// Both byte orders of the same Mini Squeak 2.2 image.
pub const IMAGES: [&str; 2] = ["mini-2.2-v3-le.image", "mini-2.2-v3-be.image"];

/// True when the test must return now: a mini image is not in the images folder (the skip is
/// printed and recorded, or with `COWHEAP_REQUIRE_IMAGES=1` the test fails): see
/// `images_common`.
pub fn skip() -> bool {
    crate::images_common::skip(&IMAGES)
}

/// The loaded base and its `Vm`, image `which` of [`IMAGES`].
pub fn mini(which: usize) -> &'static (Loaded, Vm) {
    static CELLS: [OnceLock<(Loaded, Vm)>; 2] = [OnceLock::new(), OnceLock::new()];
    CELLS[which].get_or_init(|| {
        let path = crate::images_common::dir().join(IMAGES[which]);
        let loaded = loader::load_file(path).expect("load the mini image");
        let vm = Vm::new(&loaded.heap).expect("a V3 image");
        (loaded, vm)
    })
}
