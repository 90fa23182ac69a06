//! The image's own code gives the answers a real Squeak VM gives, on both byte orders.

mod images_common;
mod interp_common;

use cowheap_squeak::interp::{new_heap, Heap};
use cowheap_squeak::interp::{Interpreter, Limits};
use interp_common::{mini, IMAGES};

fn run(which: usize, expr: &str) -> (String, Heap, Interpreter) {
    let (loaded, vm) = mini(which);
    let mut image = new_heap(&loaded.heap).unwrap();
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
    for (which, file) in IMAGES.iter().enumerate() {
        assert_eq!(run(which, expr).0, expected, "{expr} on {file}");
    }
}

#[test]
fn bench_fib() {
    if interp_common::skip() {
        return;
    }
    check("10 benchFib", "177");
    check("27 benchFib", "635621");
}

#[test]
fn bench_fib_30_copies_nothing_and_allocates_almost_nothing() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (s, image, interp) = run(which, "30 benchFib");
        assert_eq!(s, "2692537");
        assert_eq!(image.stats().copies, 0);
        // The doit method and the printString's strings: no contexts.
        assert!(image.stats().private_bytes < 4096, "{:?}", image.stats());
        assert!(interp.stats().bytecodes > 0);
    }
}

#[test]
fn large_integers_through_the_image_code() {
    if interp_common::skip() {
        return;
    }
    check("100 factorial printString size", "158");
    check(
        "(2 raisedTo: 100) printString",
        "'1267650600228229401496703205376'",
    );
    check("(2 raisedTo: 100) class", "LargePositiveInteger");
}

#[test]
fn benchmark() {
    if interp_common::skip() {
        return;
    }
    check("1 benchmark", "1028");
}

/// Blocks: non-local return from a block (`detect:`), blocks stored and run after their home
/// returned, `thisContext`, and `inject:into:` closures over the home's temporaries.
#[test]
fn blocks_and_contexts() {
    if interp_common::skip() {
        return;
    }
    check("(1 to: 10) inject: 0 into: [:a :b | a + b]", "55");
    check("#(3 4 5) detect: [:x | x > 3]", "4");
    check(
        "(#(3 1 2) asSortedCollection: [:a :b | a > b]) asArray",
        "(3 2 1 )",
    );
    check("thisContext class", "MethodContext");
    check("[:x | x] value: 3", "3");
    check("[:a :b | a - b] valueWithArguments: #(10 3)", "7");
}
