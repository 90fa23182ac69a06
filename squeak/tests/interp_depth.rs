//! No expression text overflows a thread's stack: the parser, the compiler and `Expr`'s drop
//! work in loops over explicit stacks, and nesting past `MAX_NESTING` is a typed error
//! ([`ParseError::TooDeep`]).
//! Everything runs on a 256 KiB thread, the stack of a `run_batch` image thread (and of
//! `cowheap run`'s).

mod images_common;
mod interp_common;

use std::time::{Duration, Instant};

use cowheap::Value;
use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{parse, Limits, ParseError, RunError, MAX_NESTING};
use interp_common::mini;

/// Runs `f` on a thread with a 256 KiB stack: a stack overflow aborts the test process.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn chain(terms: usize) -> String {
    vec!["1"; terms].join("+")
}

fn parens(n: usize) -> String {
    format!("{}1{}", "(".repeat(n), ")".repeat(n))
}

fn blocks(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

fn arrays(n: usize) -> String {
    format!("#({}1{})", "#(".repeat(n), ")".repeat(n))
}

fn too_deep(r: Result<impl std::fmt::Debug, ParseError>) {
    match r {
        Err(ParseError::TooDeep { limit, .. }) => assert_eq!(limit, MAX_NESTING),
        other => panic!("expected TooDeep, got {other:?}"),
    }
}

#[test]
fn deep_and_long_text_parses_on_a_small_stack_or_is_refused() {
    small_stack(|| {
        // Long chains parse (and drop) whatever their length.
        assert!(parse(&chain(10_000)).is_ok());
        assert!(parse(&chain(200_000)).is_ok());
        assert!(parse(&format!("3{}", " abs".repeat(10_000))).is_ok());
        assert!(parse(&format!("3{}", " max: 4".repeat(10_000))).is_ok());
        assert!(parse(&format!("1{}", " + (2 negated abs)".repeat(5_000))).is_ok());
        // Nesting past the limit is refused, at every kind of opening.
        for deep in [5_000, 100_000, MAX_NESTING + 1] {
            too_deep(parse(&parens(deep)));
            too_deep(parse(&blocks(deep)));
            too_deep(parse(&arrays(deep)));
            too_deep(parse(&format!(
                "{}1{}",
                "1 + (".repeat(deep),
                ")".repeat(deep)
            )));
        }
        // Unbalanced deep text is refused too, and so are deep mixtures.
        too_deep(parse(&"(".repeat(5_000)));
        too_deep(parse(&"[".repeat(5_000)));
        too_deep(parse(&"([".repeat(2_000)));
        too_deep(parse(&"#((".repeat(2_000)));
        // Up to the limit, nesting parses.
        assert!(parse(&parens(MAX_NESTING)).is_ok());
        assert!(parse(&blocks(MAX_NESTING)).is_ok());
        assert!(parse(&arrays(MAX_NESTING - 1)).is_ok());
    });
}

#[test]
fn quoted_symbols_lex_in_linear_time() {
    // Each `#'...'` used to lex the whole rest of the text again: 2^n for n symbols.
    let text = format!("#({})", "#'a b' ".repeat(2_000));
    let start = Instant::now();
    assert!(parse(&text).is_ok());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(parse("#'a"), Err(ParseError::Syntax { .. })));
}

#[test]
fn deep_and_long_expressions_run_on_a_small_stack_or_stop_typed() {
    if interp_common::skip() {
        return;
    }
    let run = |text: String| {
        small_stack(move || {
            let (loaded, vm) = mini(0);
            let mut image = new_heap(&loaded.heap).unwrap();
            let mut interp = vm.interpreter(Limits::default());
            interp.evaluate(&mut image, &text)
        })
    };
    let int = |n| Value::small_int(n).unwrap();
    // Long chains compile in a loop and answer.
    assert_eq!(run(chain(10_000)), Ok(int(10_000)));
    assert_eq!(run(format!("-3{}", " abs".repeat(10_000))), Ok(int(3)));
    assert_eq!(
        run(format!("1{}", " + (2 negated abs)".repeat(5_000))),
        Ok(int(10_001))
    );
    // Nesting up to the limit runs on the small stack.
    assert_eq!(run(parens(MAX_NESTING)), Ok(int(1)));
    assert_eq!(
        run(format!(
            "{}1{}",
            "1 + (".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        )),
        Ok(int(MAX_NESTING as i64 + 1))
    );
    // (A block holds at most 1023 bytes of code, which bounds nested blocks first.)
    let nested_values = format!("{}1{}", "[".repeat(100), "] value".repeat(100));
    assert_eq!(run(nested_values), Ok(int(1)));
    assert_eq!(run(format!("{} size", arrays(MAX_NESTING - 1))), Ok(int(1)));
    match run(blocks(MAX_NESTING)) {
        Err(RunError::Parse(ParseError::TooLarge(m))) => assert!(m.contains("block"), "{m}"),
        other => panic!("expected a TooLarge stop, got {other:?}"),
    }
    // Past it, a typed stop.
    for text in [parens(5_000), blocks(5_000), arrays(5_000), parens(300)] {
        match run(text) {
            Err(RunError::Parse(ParseError::TooDeep { .. })) => {}
            other => panic!("expected a TooDeep stop, got {other:?}"),
        }
    }
    // A block too long for its jump is a typed stop that says so.
    match run(format!("[{}] value", chain(600))) {
        Err(RunError::Parse(ParseError::TooLarge(m))) => assert!(m.contains("block"), "{m}"),
        other => panic!("expected a TooLarge stop, got {other:?}"),
    }
}

#[test]
fn the_images_compiler_nests_on_the_interpreters_frames_not_the_rust_stack() {
    if interp_common::skip() {
        return;
    }
    // `Compiler evaluate:` recursing once per parenthesis runs Smalltalk, whose activations
    // are frames on a Vec: deep text either answers or stops at the depth limit, typed.
    let run = |text: String, depth: usize| {
        small_stack(move || {
            let (loaded, vm) = mini(0);
            let mut image = new_heap(&loaded.heap).unwrap();
            let mut interp = vm.interpreter(Limits {
                depth,
                ..Limits::default()
            });
            interp.evaluate_with_compiler(&mut image, &text)
        })
    };
    assert_eq!(run(parens(300), 100_000), Ok(Value::small_int(1).unwrap()));
    assert_eq!(
        run(chain(2_000), 100_000),
        Ok(Value::small_int(2_000).unwrap())
    );
    assert_eq!(
        run(parens(5_000), 1_000),
        Err(RunError::DepthLimit { limit: 1_000 })
    );
}
