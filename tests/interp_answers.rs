//! The image's own code gives the answers a real Squeak VM gives, on both byte orders.

use std::sync::OnceLock;

use cowheap::interp::{Interpreter, Limits, Vm};
use cowheap::loader::{self, Loaded};
use cowheap::Image;

const IMAGES: [&str; 2] = ["mini-2.2-v3-le.image", "mini-2.2-v3-be.image"];

fn loaded(i: usize) -> &'static (Loaded, Vm) {
    static CELLS: [OnceLock<(Loaded, Vm)>; 2] = [OnceLock::new(), OnceLock::new()];
    CELLS[i].get_or_init(|| {
        let path = format!("../shared/images/{}", IMAGES[i]);
        let loaded = loader::load_file(path.as_ref()).expect("load the mini image");
        let vm = Vm::new(&loaded.heap).expect("a V3 image");
        (loaded, vm)
    })
}

fn run(which: usize, expr: &str) -> (String, Image, Interpreter) {
    let (loaded, vm) = loaded(which);
    let mut image = loaded.heap.new_image().unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let v = interp
        .evaluate(&mut image, expr)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", expr, IMAGES[which]));
    let s = interp
        .print_string(&mut image, v)
        .unwrap_or_else(|e| panic!("printString of {} on {}: {e}", expr, IMAGES[which]));
    (s, image, interp)
}

fn check(expr: &str, expected: &str) {
    for which in 0..2 {
        assert_eq!(run(which, expr).0, expected, "{expr} on {}", IMAGES[which]);
    }
}

#[test]
fn bench_fib() {
    check("10 benchFib", "177");
    check("27 benchFib", "635621");
}

#[test]
fn bench_fib_30_copies_nothing() {
    for which in 0..2 {
        let (s, image, interp) = run(which, "30 benchFib");
        assert_eq!(s, "2692537");
        assert_eq!(image.stats().copies, 0);
        assert!(interp.stats().bytecodes > 0);
    }
}

#[test]
fn large_integers_through_the_image_code() {
    check("100 factorial printString size", "158");
    check(
        "(2 raisedTo: 100) printString",
        "'1267650600228229401496703205376'",
    );
}

#[test]
fn benchmark() {
    check("1 benchmark", "1028");
}
