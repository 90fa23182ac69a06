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

/// A fresh image of mini image `which` and an interpreter for it, kept across evaluations.
pub fn session(
    which: usize,
) -> (
    cowheap_squeak::interp::Heap,
    cowheap_squeak::interp::Interpreter,
) {
    let (loaded, vm) = mini(which);
    let image = cowheap_squeak::interp::new_heap(&loaded.heap).unwrap();
    (
        image,
        vm.interpreter(cowheap_squeak::interp::Limits::default()),
    )
}

/// The printString of `expr` evaluated in `image`, or the stop.
pub fn print(
    interp: &mut cowheap_squeak::interp::Interpreter,
    image: &mut cowheap_squeak::interp::Heap,
    expr: &str,
) -> Result<String, cowheap_squeak::interp::RunError> {
    let v = interp.evaluate(image, expr)?;
    interp.print_string(image, v)
}

/// A primitive's answer and its fallback's alike: the same printString, or stops of one kind.
pub fn assert_alike(
    native: &Result<String, cowheap_squeak::interp::RunError>,
    fallback: &Result<String, cowheap_squeak::interp::RunError>,
    what: &str,
) {
    match (native, fallback) {
        (Ok(n), Ok(f)) => assert_eq!(n, f, "{what}"),
        (Err(n), Err(f)) => assert_eq!(n.kind(), f.kind(), "{what}: {n} / {f}"),
        _ => panic!("{what}: {native:?} against {fallback:?}"),
    }
}
