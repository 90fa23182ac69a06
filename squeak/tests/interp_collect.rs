//! The image's own code under its collector: garbage never reaches the cap, collections in one
//! image change nothing in the images beside it, weak arrays, identity hashes and deltas.

mod images_common;
mod interp_common;

use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{Limits, RunStats};
use interp_common::mini;

/// Runs `expr` with a private-space cap of `cap` bytes; the answer's printString, the run's
/// bytecodes and the image's collections.
fn run(expr: &str, cap: usize) -> (String, RunStats, u64) {
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits {
        bytecodes: 1_000_000_000,
        private_bytes: cap,
        depth: 10_000,
        ..Limits::default()
    });
    let v = interp.evaluate(&mut image, expr).unwrap();
    let stats = interp.stats();
    let answer = interp.print_string(&mut image, v).unwrap();
    (answer, stats, image.stats().collections)
}

/// Images that collect all the time (a 256 KiB cap) and images that never do (the default
/// cap, under the first collection's 1 MiB) run side by side on their own threads: every one
/// answers the same with the same bytecode count, and the base never changes.
#[test]
fn collections_in_some_images_change_nothing_in_the_others() {
    if interp_common::skip() {
        return;
    }
    // The one-line grammar, compiled in Rust, so that the run is the expression's own code
    // alone (the image's compiler hashes by identity, and identity hashes differ by image).
    let expr = "((1 to: 3000) collect: [:i | i printString]) last";
    let checksum = mini(0).0.heap.checksum();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| s.spawn(move || run(expr, if i % 2 == 0 { 256 << 10 } else { 256 << 20 })))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (answer, stats, _) = &results[0];
    assert_eq!(answer, "'3000'");
    for (i, (a, s, collections)) in results.iter().enumerate() {
        assert_eq!(a, answer, "image {i}");
        assert_eq!(s.bytecodes, stats.bytecodes, "image {i}");
        assert_eq!(s.sends, stats.sends, "image {i}");
        if i % 2 == 0 {
            assert!(*collections > 0, "image {i} collected");
        }
    }
    assert_eq!(mini(0).0.heap.checksum(), checksum);
}

/// A loop that drops a string on every step stays within a small space for as long as it
/// runs, and answers its last string.
#[test]
fn a_print_string_loop_keeps_a_small_space() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits {
        bytecodes: 1_000_000_000,
        ..Limits::default()
    });
    let v = interp
        .evaluate_with_compiler(
            &mut image,
            "| s | 1 to: 200000 do: [:i | s := i printString]. s",
        )
        .unwrap();
    assert_eq!(interp.print_string(&mut image, v).unwrap(), "'200000'");
    assert!(image.stats().collections > 0);
    assert!(
        image.peak_private_bytes() <= 2 << 20,
        "peak {}",
        image.peak_private_bytes()
    );
}

/// Identity hashes survive the moves of the image's own collections.
#[test]
fn identity_hashes_survive_collections() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let v = interp
        .evaluate_with_compiler(
            &mut image,
            "| keep h | 1 to: 100 do: [:i | Array new: 10]. keep := 'kept' copy. \
             h := keep identityHash. Smalltalk garbageCollect. \
             (keep identityHash = h) printString , ' ' , keep",
        )
        .unwrap();
    assert_eq!(interp.print_string(&mut image, v).unwrap(), "'true kept'");
    assert!(image.stats().collections >= 1);
}

/// Float arithmetic and the Float primitives allocate their answers in the dispatch loop
/// itself (the real VM's bytecodes for `+ - * /` on Floats; a cached `sqrt`), where no
/// collection can run: they do so only while the image wants no collection, and leave the
/// rest to the send, whose safe point collects. So a loop of nothing else still collects,
/// and stays within a cap that its 300,000 Floats (about 9 MiB) would pass many times over.
#[test]
fn a_float_loop_collects_at_the_sends_safe_point() {
    if interp_common::skip() {
        return;
    }
    let expr = "| f | f := 1.0. 1 to: 300000 do: [:i | f := f * 1.0000001 + 0]. f";
    let (answer, stats, collections) = run(expr, 1 << 20);
    // 1.0000001 ** 300000 by repeated IEEE multiplication, printed as the image prints it.
    assert_eq!(answer, "1.030454532425916");
    assert_eq!(stats.sends, 1_200_002);
    assert!(collections > 0);
    let expr = "| f | f := 2.0. 1 to: 300000 do: [:i | f := (f * f) sqrt]. f";
    let (answer, _, collections) = run(expr, 1 << 20);
    assert_eq!(answer, "2.0");
    assert!(collections > 0);
}

/// `basicNew` and `basicNew:` run in the dispatch loop too (as the Floats above), while the
/// image wants no collection: a loop that makes nothing but garbage Arrays and Objects,
/// whose sends all stay in the loop, still collects (the primitive goes to the full send,
/// whose safe point collects, once the image wants it) and stays within a cap that its
/// 100,000 Arrays of 50 fields (40 MB) would pass a hundred times over. A failing
/// `basicNew:` (a negative size, a class without indexed fields) still runs its fallback.
#[test]
fn an_allocation_loop_collects_at_the_sends_safe_point() {
    if interp_common::skip() {
        return;
    }
    let expr = "| a o | 1 to: 100000 do: [:i | a := Array new: 50. o := Object new]. \
                a size + (o class == Object ifTrue: [1] ifFalse: [0])";
    let (answer, stats, collections) = run(expr, 256 << 10);
    assert_eq!(answer, "51");
    assert!(collections > 0);
    assert!(stats.sends >= 400_000, "{stats:?}");
    let (loaded, vm) = interp_common::mini(0);
    for (expr, failed) in [("Array new: -1", "was 71)"), ("Object basicNew: 3", "")] {
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        let e = interp.evaluate(&mut image, expr).unwrap_err().to_string();
        assert!(
            e.contains("Smalltalk error") && e.contains(failed),
            "{expr}: {e}"
        );
    }
}

/// `blockCopy:` makes its BlockContext in the dispatch loop too, where the pool has none to
/// reuse (a loop in a frame that has not returned, whose blocks are not dead yet): only
/// while the image wants no collection, as `basicNew` above. A loop whose every send stays
/// in the loop (the block made, entered and returned from, a block made inside a block)
/// still collects and keeps within a cap that its 200,000 contexts (tens of MB) would pass
/// many times over, and answers what the real VM does.
#[test]
fn a_block_making_loop_collects_at_the_sends_safe_point() {
    if interp_common::skip() {
        return;
    }
    let expr = "[:s | 1 to: 100000 do: [:k | s := [:x | [:y | y + 1] value: x] value: s]. s] \
                value: 0";
    let (answer, stats, collections) = run(expr, 256 << 10);
    assert_eq!(answer, "100000");
    assert!(collections > 0);
    assert!(stats.sends >= 500_000, "{stats:?}");
}
