//! A closure image (format 6505, the bootstrapped "PC" kernel) runs its own collection and
//! arithmetic code: BlockClosures, copied values, temp vectors, `^` from a closure, and do-its
//! whose blocks are compiled as closures. Skipped when the image file is absent.

mod images_common;

use std::sync::OnceLock;

use cowheap_squeak::interp::{new_heap, run_batch, BatchConfig, Limits, RunError, Vm};
use cowheap_squeak::loader::{self, Loaded};

const IMAGE: &str = "bootstrapped-v3-6505.image";

fn closure_image() -> Option<&'static (Loaded, Vm)> {
    static CELL: OnceLock<(Loaded, Vm)> = OnceLock::new();
    let path = images_common::find(IMAGE)?;
    Some(CELL.get_or_init(|| {
        let loaded = loader::load_file(path).expect("load the closure image");
        let vm = Vm::for_loaded(&loaded).expect("a closure image runs");
        (loaded, vm)
    }))
}

/// The printString of `text`'s answer in a fresh image, or the stop.
fn print(text: &str) -> Result<String, RunError> {
    let (loaded, vm) = closure_image().expect("checked by the caller");
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let v = interp.evaluate(&mut image, text)?;
    interp.print_string(&mut image, v)
}

#[test]
fn its_collections_run_their_closures() {
    if closure_image().is_none() {
        return;
    }
    let cases = [
        ("(1 to: 10) asArray", "#(1 2 3 4 5 6 7 8 9 10 )"),
        ("#(1 2 3) collect: [:x | x * x]", "#(1 4 9 )"),
        (
            "(1 to: 10) asArray select: [:x | x \\\\ 2 = 0]",
            "#(2 4 6 8 10 )",
        ),
        ("#(3 4 5) detect: [:x | x > 3] ifNone: [0]", "4"),
        ("#(3 4 5) detect: [:x | x > 9] ifNone: [0]", "0"),
        ("#(5 3 9 1) asArray sort", "#(1 3 5 9 )"),
        ("#(5 3 9 1) asArray sort: [:a :b | a > b]", "#(9 5 3 1 )"),
        (
            "| c | c := PCOrderedCollection new. 1 to: 5 do: [:i | c add: i * i]. c",
            "PCOrderedCollection (1 4 9 16 25 )",
        ),
        (
            "| d | d := PCDictionary new. d at: 1 put: 10; at: 2 put: 20. (d collect: [:v | v + 1]) asArray sort",
            "#(11 21 )",
        ),
        ("((1 to: 20) asArray collect: [:x | x \\\\ 5]) asSet size", "5"),
        ("#(1 2 3 4) sum", "10"),
    ];
    for (text, want) in cases {
        assert_eq!(print(text).as_deref(), Ok(want), "{text}");
    }
}

#[test]
fn its_large_integers_and_printing_run() {
    if closure_image().is_none() {
        return;
    }
    assert_eq!(
        print("(2 raisedTo: 100) printString").as_deref(),
        Ok("'1267650600228229401496703205376'")
    );
    assert_eq!(
        print("(0 - 1000000000 * 1000000000) printString").as_deref(),
        Ok("'-1000000000000000000'")
    );
    // 30 factorial through a recursive block that reaches itself through a temp vector.
    assert_eq!(
        print("| f | f := [:n | n < 2 ifTrue: [1] ifFalse: [n * (f value: n - 1)]]. f value: 30")
            .as_deref(),
        Ok("265252859812191058636308480000000")
    );
}

/// The image is saved with its String class not initialized (its collation table short): a
/// String `=` stops in the image's own fallback, and a do-it naming a Symbol the image lacks
/// stops in the `asSymbol` that interns it, until `PCString initialize` has run in the same
/// image, as RSqueak's tests run it first.
#[test]
fn string_comparison_needs_the_image_s_string_class_initialized() {
    let Some((loaded, vm)) = closure_image() else {
        return;
    };
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let out_of_bounds = |r: Result<_, RunError>| matches!(r, Err(RunError::SmalltalkError { message }) if message.contains("out of bounds: 98"));
    assert!(out_of_bounds(interp.evaluate(&mut image, "'abc' = 'abc'")));
    assert!(out_of_bounds(interp.evaluate(&mut image, "#abcdef")));
    let yes = interp
        .evaluate(&mut image, "PCString initialize. 'abc' = 'abc'")
        .unwrap();
    assert_eq!(interp.print_string(&mut image, yes).unwrap(), "true");
    let symbol = interp.evaluate(&mut image, "#abcdef").unwrap();
    assert_eq!(interp.print_string(&mut image, symbol).unwrap(), "abcdef");
}

#[test]
fn closures_share_outer_temporaries_and_return_from_their_home() {
    if closure_image().is_none() {
        return;
    }
    // A store inside the block is seen outside it (the temp vector).
    assert_eq!(
        print("| sum | sum := 0. #(1 2 3) do: [:x | sum := sum + x]. sum").as_deref(),
        Ok("6")
    );
    // Each activation of the outer block gets its own vector.
    assert_eq!(
        print("| make a b | make := [:start | | n | n := start. [n := n + 1]]. a := make value: 10. b := make value: 20. a value. a value. b value. a value + b value")
            .as_deref(),
        Ok("35")
    );
    // Copied values: nested blocks reading outer arguments.
    assert_eq!(
        print("([:a | [:b | a + b]] value: 3) value: 4").as_deref(),
        Ok("7")
    );
    // ^ from a block inside the image's do: leaves the do-it, not the block.
    assert_eq!(
        print("#(1 2 3) do: [:x | x = 2 ifTrue: [^x * 100]]. 0").as_deref(),
        Ok("200")
    );
    // The home of a block in a block is the do-it, through the outer context chain.
    assert_eq!(
        print("(#(1) collect: [:x | [:y | ^y + x]]) first value: 5").as_deref(),
        Ok("6")
    );
    assert_eq!(
        print("[:x | x := 3] value: 4").map_err(|e| matches!(e, RunError::Parse(_))),
        Err(true)
    );
}

#[test]
fn a_thousand_images_run_its_closures() {
    let Some((loaded, vm)) = closure_image() else {
        return;
    };
    let config = BatchConfig {
        images: 1000,
        ..BatchConfig::default()
    };
    let text = "| c | c := PCOrderedCollection new. (1 to: 30) asArray do: [:x | x \\\\ 3 = 0 ifTrue: [c add: x * x]]. ((c collect: [:y | y + $i]) asArray sort: [:a :b | a > b]) first";
    let report = run_batch(&loaded.heap, vm, text, &config).unwrap();
    assert_eq!(report.runs.len(), 1000);
    for r in &report.runs {
        assert_eq!(r.stopped, None, "image {}", r.image);
        assert_eq!(
            r.answer.as_deref(),
            Some((900 + r.image as i64).to_string().as_str()),
            "image {}",
            r.image
        );
        assert_eq!(r.copies, 0, "image {} copied", r.image);
    }
    assert!(report.base_unchanged());
}
