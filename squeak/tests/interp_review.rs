//! Findings of an outside review, each against the real VM's behaviour (Squeak 4.10 on the
//! same mini image, `../shared/realvm`), on both byte orders, and Scratch.image answering.

mod images_common;
mod interp_common;

use cowheap_squeak::interp::{new_heap, Heap, Interpreter, Limits, ParseError, RunError, Vm};
use interp_common::{mini, IMAGES};

/// A fresh image of mini image `which` and its interpreter.
fn fresh(which: usize) -> (Heap, Interpreter) {
    let (loaded, vm) = mini(which);
    (
        new_heap(&loaded.heap).unwrap(),
        vm.interpreter(Limits::default()),
    )
}

/// What `source` answers (printString) with the image's own compiler, and the bytecodes it
/// ran, or its stop.
fn eval(
    image: &mut Heap,
    interp: &mut Interpreter,
    source: &str,
) -> Result<(String, u64), RunError> {
    let v = interp.evaluate_with_compiler(image, source)?;
    let bytecodes = interp.stats().bytecodes;
    Ok((interp.print_string(image, v)?, bytecodes))
}

/// The same through the expression compiler.
fn expr(image: &mut Heap, interp: &mut Interpreter, text: &str) -> Result<(String, u64), RunError> {
    let v = interp.evaluate(image, text)?;
    let bytecodes = interp.stats().bytecodes;
    Ok((interp.print_string(image, v)?, bytecodes))
}

#[test]
fn a_block_re_entered_while_it_runs_stops_as_on_the_real_vm() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        for source in [
            "[:f | f value: f] value: [:g | g value: g]",
            "| f | f := [:n | n < 2 ifTrue: [1] ifFalse: [n * (f value: n - 1)]]. f value: 5",
        ] {
            match eval(&mut image, &mut interp, source) {
                Err(RunError::SmalltalkError { message }) => assert!(
                    message.starts_with(
                        "Attempt to evaluate a block that is already being evaluated."
                    ),
                    "{source}: {message}"
                ),
                other => panic!("{source}: {other:?}"),
            }
        }
        // A block runs again once it returned, in this run and the next one, and one that
        // was running when a run stopped runs in the next.
        let (s, _) = eval(
            &mut image,
            &mut interp,
            "| b | b := [:x | x + 1]. (b value: 1) + (b value: 2)",
        )
        .unwrap();
        assert_eq!(s, "5");
        eval(
            &mut image,
            &mut interp,
            "Smalltalk at: #Kept put: [:x | x zork]",
        )
        .unwrap();
        assert!(eval(&mut image, &mut interp, "Kept value: 3").is_err());
        match eval(&mut image, &mut interp, "Kept value: 3") {
            Err(RunError::DoesNotUnderstand { selector, .. }) => assert_eq!(selector, "zork"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn shallow_copy_point_and_flush_cache_are_primitives() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        // Primitive 148: the copy is another object, equal; a context copies too (its
        // fallback made a MethodContext with basicNew:).
        let (s, bytecodes) = expr(&mut image, &mut interp, "Object new shallowCopy").unwrap();
        assert_eq!((s.as_str(), bytecodes), ("an Object", 4));
        let (s, _) = eval(&mut image, &mut interp, "| a b | a := #(1 2) copy. b := a shallowCopy. b at: 1 put: 9. (a == b) printString, a printString, b printString").unwrap();
        assert_eq!(s, "'false(1 2 )(9 2 )'");
        let (s, _) = eval(&mut image, &mut interp, "thisContext shallowCopy class").unwrap();
        assert_eq!(s, "MethodContext");
        // Primitive 18: `3 @ 4` is the send and its primitive.
        let (s, bytecodes) = expr(&mut image, &mut interp, "3 @ 4").unwrap();
        assert_eq!((s.as_str(), bytecodes), ("3@4", 4));
        let (s, _) = expr(&mut image, &mut interp, "(3 @ 4) class").unwrap();
        assert_eq!(s, "Point");
        // Primitive 119: `Symbol>>flushCache`, the receiver the selector.
        let (s, bytecodes) = expr(&mut image, &mut interp, "#size flushCache").unwrap();
        assert_eq!((s.as_str(), bytecodes), ("size", 3));
    }
}

#[test]
fn a_context_is_as_large_as_its_stack_pointer() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        for text in ["thisContext basicSize", "thisContext size"] {
            assert_eq!(
                expr(&mut image, &mut interp, text).unwrap().0,
                "0",
                "{text}"
            );
        }
        // A doit with two temporaries: its stack pointer counts them.
        let (s, _) = eval(
            &mut image,
            &mut interp,
            "| a b | a := 1. b := 2. thisContext basicSize",
        )
        .unwrap();
        assert_eq!(s, "2");
    }
}

#[test]
fn a_method_that_answers_a_constant_compiles() {
    if interp_common::skip() {
        return;
    }
    // The little-endian image only: on the big-endian copy (re-saved by SqueakJS) every
    // `compile:` stops in BitBlt (primitive 96), whatever the method.
    {
        let (mut image, mut interp) = fresh(0);
        for (body, answer) in [
            ("^0", "0"),
            ("^-1", "-1"),
            ("^1", "1"),
            ("^2", "2"),
            ("^nil", "nil"),
            ("^true", "true"),
            ("^3", "3"),
        ] {
            let source = format!("Object compile: 'm {body}' classified: 'x' notifying: nil");
            let (s, _) =
                eval(&mut image, &mut interp, &source).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(s, "m", "{body}");
            assert_eq!(
                eval(&mut image, &mut interp, "nil m").unwrap().0,
                answer,
                "{body}"
            );
        }
    }
}

#[test]
fn a_syntax_error_is_a_parse_error_with_its_column() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        for (source, column, message) in [
            ("3 +", 4, "Argument expected"),
            ("(3 + 4", 7, "right parenthesis expected"),
        ] {
            match eval(&mut image, &mut interp, source) {
                Err(RunError::Parse(ParseError::Syntax {
                    column: c,
                    message: m,
                })) => {
                    assert_eq!((c, m.as_str()), (column, message), "{source}");
                }
                other => panic!("{source}: {other:?}"),
            }
        }
        assert!(matches!(
            expr(&mut image, &mut interp, "3 +"),
            Err(RunError::Parse(ParseError::Syntax { column: 4, .. }))
        ));
    }
}

#[test]
fn scratch_answers() {
    let Some(path) = images_common::scratch() else {
        return;
    };
    let loaded = cowheap_squeak::loader::load_file(path).expect("load Scratch.image");
    let vm = Vm::for_loaded(&loaded).expect("a V3 image");
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    for (text, answer) in [
        ("3 + 4", "7"),
        ("#(3 1 2) asSortedCollection asArray", "(1 2 3)"),
        ("(1 to: 10) inject: 0 into: [:a :b | a + b]", "55"),
        ("#(1 2 3) collect: [:x | x * x]", "(1 4 9)"),
        ("(Set withAll: #(1 2 2 3)) size", "3"),
        ("'hello' reversed", "'olleh'"),
        ("2 sqrt", "1.414213562373095"),
    ] {
        let (s, _) = expr(&mut image, &mut interp, text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(s, answer, "{text}");
    }
    let (s, _) = eval(
        &mut image,
        &mut interp,
        "(OrderedCollection new add: 3; add: 4; yourself) size",
    )
    .unwrap();
    assert_eq!(s, "2");
}
