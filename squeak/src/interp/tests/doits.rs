//! The do-it grammar beyond one expression: temporaries, assignment, statements, `^`,
//! cascades, `self`, block temporaries, and what it refuses.

use super::{int, Run};
use crate::interp::RunError;
use crate::interp::{parse, Expr, ParseError};

fn eval(r: &mut Run, text: &str) -> Result<cowheap::Value, RunError> {
    r.interp.evaluate(&mut r.image, text)
}

#[test]
fn temporaries_hold_what_is_assigned_across_statements() {
    let mut r = Run::new();
    assert_eq!(
        eval(&mut r, "| a b | a := 3. b := a + 4. b * 2"),
        Ok(int(14))
    );
    // An assignment's value is the value assigned, so assignments chain.
    assert_eq!(eval(&mut r, "| a b | a := b := 5. a + b"), Ok(int(10)));
    // Declared and never assigned: nil. A trailing period ends the last statement.
    assert_eq!(eval(&mut r, "| a | a."), Ok(r.nil()));
    assert_eq!(eval(&mut r, "self"), Ok(r.nil()));
}

#[test]
fn a_cascade_sends_every_message_to_one_receiver_evaluated_once() {
    let mut r = Run::new();
    // To 3, not to 7: the receiver of `+ 4` is the cascade's.
    assert_eq!(eval(&mut r, "3 + 4; * 10"), Ok(int(30)));
    assert_eq!(eval(&mut r, "3 + 4; - 1; * 10"), Ok(int(30)));
    // The receiver's expression runs once.
    assert_eq!(
        eval(&mut r, "| n | n := 0. (n := n + 1) + 0; + 0; + 0. n"),
        Ok(int(1))
    );
}

#[test]
fn a_return_ends_the_doit_even_from_inside_a_block() {
    let mut r = Run::new();
    r.install_blocks();
    assert_eq!(eval(&mut r, "1. ^2"), Ok(int(2)));
    assert_eq!(eval(&mut r, "^3 + 4"), Ok(int(7)));
    // A non-local return: the statement after the block's never runs.
    assert_eq!(eval(&mut r, "[:x | ^x * 2] value: 5. 99"), Ok(int(10)));
    assert_eq!(eval(&mut r, "[:x | x * 2] value: 5. 99"), Ok(int(99)));
}

#[test]
fn block_temporaries_are_the_doits_as_in_v3() {
    let mut r = Run::new();
    r.install_blocks();
    assert_eq!(
        eval(&mut r, "[:x | | t | t := x * 2. t + 1] value: 4"),
        Ok(int(9))
    );
    // V3 blocks keep their temporaries in the home context: the second activation starts
    // with the first one's value.
    assert_eq!(
        eval(
            &mut r,
            "| b r | b := [:x | | t | r := t. t := x]. b value: 1. b value: 2. r"
        ),
        Ok(int(1))
    );
}

#[test]
fn assigning_a_global_changes_it_for_this_image_only() {
    let mut r = Run::new();
    assert_eq!(eval(&mut r, "Pair := 3. Pair"), Ok(int(3)));
    assert_eq!(eval(&mut r, "Pair"), Ok(int(3)));
    let mut other = Run::new();
    assert_eq!(eval(&mut other, "Pair"), Ok(other.t.pair));
}

#[test]
fn text_that_is_not_a_doit_is_refused_with_where_and_why() {
    let refused = |text: &str, needle: &str| match parse(text) {
        Err(ParseError::Syntax { message, .. }) => {
            assert!(message.contains(needle), "{text}: {message}")
        }
        other => panic!("{text}: {other:?}"),
    };
    refused("x := 3", "x is not declared");
    refused("y + 1", "y is not declared");
    refused("[:a | a := 3]", "block argument");
    refused("3 foo; bar baz", "one message");
    refused("3; foo", "must follow a message");
    refused("3 foo; ", "expected a message after ;");
    refused("1. ^2. 3", "nothing may follow");
    refused("super foo", "super");
    refused("| Foo | 3", "cannot be a temporary");
    refused("| a 3", "temporary's name");
    refused("(^3)", "expected an expression");
    refused("3 \"no end", "unterminated comment");
    // A temporary leaves scope with its block.
    refused("[| t | t] value. t", "t is not declared");
}

/// A name declared where another of that name is in scope is refused with the words and
/// the column of Squeak 2.2's own compiler (`Compiler evaluate:` on the mini image); blocks
/// side by side may reuse an argument's name.
#[test]
fn a_name_declared_twice_in_one_scope_is_refused_as_the_image_s_compiler_refuses_it() {
    let refused = |text: &str, column: usize, message: &str| {
        assert_eq!(
            parse(text),
            Err(ParseError::Syntax {
                column,
                message: message.into()
            }),
            "{text}"
        )
    };
    refused("| a a | a := 3. a", 5, "Name is already defined");
    refused(
        "[:x :x | x] value: 1 value: 2",
        6,
        "Name already used in this method",
    );
    refused(
        "[:x | [:x | x] value: 3] value: 4",
        9,
        "Name already used in this method",
    );
    refused(
        "| t | [:t | t] value: 3",
        9,
        "Name already used in this method",
    );
    refused(
        "[:x | | x | x] value: 3",
        9,
        "Name already used in this method",
    );
    let mut r = Run::new();
    r.install_blocks();
    assert_eq!(
        eval(&mut r, "([:x | x] value: 1) + ([:x | x * 10] value: 2)"),
        Ok(int(21))
    );
}

/// Inside a literal array, a keyword with words or keywords written right after it is one
/// Symbol (Squeak's `scanLitWord`): `#(foo:bar: baz)` has two elements.
#[test]
fn keywords_that_run_on_in_a_literal_array_are_one_symbol() {
    let symbols = |text: &str| match &parse(text) {
        Ok(Expr::Array(items)) => items
            .iter()
            .map(|e| match e {
                Expr::Symbol(s) => s.clone(),
                other => panic!("{text}: {other:?}"),
            })
            .collect::<Vec<_>>(),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(symbols("#(foo:bar: baz)"), ["foo:bar:", "baz"]);
    assert_eq!(symbols("#(a:b:c)"), ["a:b:c"]);
    assert_eq!(symbols("#(foo: bar: baz)"), ["foo:", "bar:", "baz"]);
    assert_eq!(symbols("#(foo bar)"), ["foo", "bar"]);
    assert_eq!(parse("#'a b'"), Ok(Expr::QuotedSymbol("a b".into())));
    assert_eq!(parse("\"a\" 3 \"b\" + \"c\" 4 \"d\""), parse("3 + 4"));
}

#[test]
fn one_statement_parses_as_itself_and_more_as_a_sequence() {
    assert!(matches!(parse("3 + 4"), Ok(Expr::Send { .. })));
    assert!(matches!(parse("^3"), Ok(Expr::Return(_))));
    match &parse("| a | a := 1. a") {
        Ok(Expr::Sequence { temps, body }) => {
            assert_eq!(temps, &["a"]);
            assert_eq!(body.len(), 2);
            assert!(matches!(body[0], Expr::Assign { .. }));
        }
        other => panic!("{other:?}"),
    }
    match &parse("Pair new; yourself") {
        Ok(Expr::Cascade { receiver, messages }) => {
            assert_eq!(**receiver, Expr::Global("Pair".into()));
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0].0, "new");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_than_63_temporaries_is_too_large_for_one_method() {
    let mut r = Run::new();
    let names: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    let text = format!("| {} | 3", names.join(" "));
    assert!(matches!(
        eval(&mut r, &text),
        Err(RunError::Parse(ParseError::TooLarge(_)))
    ));
    let text = format!("| {} | 3", names[..63].join(" "));
    assert_eq!(eval(&mut r, &text), Ok(int(3)));
}

#[test]
fn a_minus_before_a_digit_is_a_sign_inside_a_literal_array() {
    let n = |i: i128| Expr::Integer(i);
    assert_eq!(
        parse("#(7 -1 (2 -3) - 4)").ok(),
        Some(Expr::Array(vec![
            n(7),
            n(-1),
            Expr::Array(vec![n(2), n(-3)]),
            Expr::Symbol("-".into()),
            n(4)
        ]))
    );
    // Outside one, after an operand, it is the binary operator, as in Smalltalk.
    assert!(matches!(&parse("7 -1"), Ok(Expr::Send { selector, .. }) if selector == "-"));
    assert!(matches!(&parse("(#(7) -1)"), Ok(Expr::Send { selector, .. }) if selector == "-"));
}

#[test]
fn literal_blocks_of_control_structures_are_inlined_as_jumps() {
    // The tiny base's Booleans understand no ifTrue: and friends, and its SmallIntegers no
    // to:do:: an answer at all means the compiler inlined them.
    let mut r = Run::new();
    assert_eq!(eval(&mut r, "3 < 2 ifTrue: [1] ifFalse: [2]"), Ok(int(2)));
    assert_eq!(eval(&mut r, "3 < 2 ifFalse: [1] ifTrue: [2]"), Ok(int(1)));
    assert_eq!(eval(&mut r, "3 > 2 ifTrue: [1]"), Ok(int(1)));
    assert_eq!(eval(&mut r, "3 < 2 ifTrue: [1]"), Ok(r.nil()));
    assert_eq!(
        eval(&mut r, "3 < 2 ifFalse: [| t | t := 4. t + 1]"),
        Ok(int(5))
    );
    assert_eq!(eval(&mut r, "(3 > 2) and: [1 > 2]"), Ok(r.boolean(false)));
    assert_eq!(eval(&mut r, "(3 < 2) or: [1 < 2]"), Ok(r.boolean(true)));
    assert_eq!(
        eval(&mut r, "| x | x := 1. [x < 100] whileTrue: [x := x * 2]. x"),
        Ok(int(128))
    );
    assert_eq!(
        eval(
            &mut r,
            "| x | x := 1. [x >= 100] whileFalse: [x := x * 2]. x"
        ),
        Ok(int(128))
    );
    assert_eq!(
        eval(&mut r, "| x | x := 0. [x := x + 1. x < 10] whileTrue. x"),
        Ok(int(10))
    );
    assert_eq!(
        eval(&mut r, "| s | s := 0. 1 to: 10 do: [:i | s := s + i]. s"),
        Ok(int(55))
    );
    // A loop's value is nil; its index is the block's own: two loops side by side may both
    // name it, but (as the image's compiler says) not an outer temporary's name.
    assert_eq!(eval(&mut r, "1 to: 0 do: [:i | i]"), Ok(r.nil()));
    assert_eq!(
        eval(
            &mut r,
            "| s | s := 0. 1 to: 2 do: [:i | s := s + i]. 1 to: 3 do: [:i | s := s + i]. s"
        ),
        Ok(int(9))
    );
    // A limit that is a variable is read at every test, as Squeak's compiler reads it; any
    // other limit once, before the start.
    assert_eq!(
        eval(
            &mut r,
            "| r n | r := 0. n := 5. 1 to: n do: [:i | n := 2. r := r + i]. r"
        ),
        Ok(int(3))
    );
    assert_eq!(
        eval(
            &mut r,
            "| r | r := 0. 1 to: r + 3 do: [:i | r := r + 10]. r"
        ),
        Ok(int(30))
    );
    assert!(matches!(
        eval(&mut r, "| i | i := 7. 1 to: 2 do: [:i | i]. i"),
        Err(RunError::Parse(ParseError::Syntax { column: 29, .. }))
    ));
    assert_eq!(
        eval(
            &mut r,
            "| s | s := 0. 1 to: 3 do: [:i | 1 to: i do: [:j | s := s + j]]. s"
        ),
        Ok(int(10))
    );
}

#[test]
fn what_is_not_a_literal_block_is_sent_and_a_jump_too_far_is_refused() {
    let mut r = Run::new();
    // Sent: the compiler needs the selector's Symbol, which the tiny base lacks (and has no
    // #asSymbol to make), where an inlined structure needs none.
    for text in [
        "| b | b := [5]. 3 < 2 ifTrue: b",
        "3 to: 4 do: [1]",
        "3 to: 4 by: 1 + 1 do: [:i | 1]",
    ] {
        assert!(
            matches!(eval(&mut r, text), Err(RunError::Unsupported(m)) if m.contains("asSymbol")),
            "{text}"
        );
    }
    // What Squeak's compiler refuses to compile, refused (and so handed to the image's
    // compiler, where there is one, for its words): a conditional's argument that is
    // neither a block nor a variable, a loop's block of arguments, a cascade after an
    // inlined send.
    for text in [
        "3 < 2 ifTrue: 5",
        "[:x | x] whileTrue: [1]",
        "[1] whileTrue: [:y | 1]",
        "3 < 2 and: [:x | 1]",
        "true ifTrue: [1]; yourself",
    ] {
        assert!(
            matches!(
                eval(&mut r, text),
                Err(RunError::Parse(ParseError::Syntax { .. }))
            ),
            "{text}"
        );
    }
    // `to:by:do:` with a literal step is inlined, as there: its value is nil, and a limit
    // that is a variable is read at every test.
    r.install_blocks();
    assert_eq!(eval(&mut r, "1 to: 3 by: 1 do: [:i | ]"), Ok(r.nil()));
    assert_eq!(
        eval(
            &mut r,
            "| r n | r := 0. n := 1. 5 to: n by: -1 do: [:i | n := 4. r := r + i]. r"
        ),
        Ok(int(9))
    );
    assert_eq!(
        eval(
            &mut r,
            "| r | r := 0. 1 to: 10 by: 3 do: [:i | r := r + i]. r"
        ),
        Ok(int(22))
    );
    let long = vec!["1"; 600].join(". ");
    assert!(matches!(
        eval(&mut r, &format!("3 < 2 ifTrue: [{long}]")),
        Err(RunError::Parse(ParseError::TooLarge(_)))
    ));
}

/// As the image's V3 compiler makes them: equal string literals of one do-it are one object,
/// and a block with arguments and no statements answers its last argument (without
/// arguments, nil).
#[test]
fn equal_strings_are_one_literal_and_an_empty_block_answers_its_last_argument() {
    let mut r = Run::new();
    r.install_blocks();
    let (t, f) = (r.boolean(true), r.boolean(false));
    assert_eq!(eval(&mut r, "'hello' == 'hello'"), Ok(t));
    assert_eq!(eval(&mut r, "'hello' == 'hellO'"), Ok(f));
    assert_eq!(eval(&mut r, "[:x | ] value: 3"), Ok(int(3)));
    assert_eq!(eval(&mut r, "[:x :y | ] value: 3 value: 4"), Ok(int(4)));
    assert_eq!(eval(&mut r, "[:x | | t | ] value: 5"), Ok(int(5)));
    assert_eq!(eval(&mut r, "[] value"), Ok(r.nil()));
}

#[test]
fn released_caches_are_built_again_and_change_no_answer() {
    let mut r = Run::new();
    r.install_blocks();
    assert_eq!(eval(&mut r, "3 + 4"), Ok(int(7)));
    let doit = "| x | x := 1. [x < 100] whileTrue: [x := [:y | y * 2] value: x]. x";
    assert_eq!(eval(&mut r, doit), Ok(int(128)));
    assert!(r.interp.release_caches() > 0, "the runs decoded methods");
    assert_eq!(r.interp.release_caches(), 0, "nothing left to release");
    assert_eq!(eval(&mut r, doit), Ok(int(128)));
    assert!(r.interp.release_caches() > 0, "the run decoded them again");
}

/// A doit's frame is large only where its temporaries and deepest stack need more than a
/// small frame (more than Squeak 2.2's `SmallFrame`, 12), as the image's compiler sets the
/// header's bit: its context, and a V3 block's context made in it, have the real VM's 22
/// slots (6 fixed, 16 for temporaries and stack) otherwise, and 62 where they need them.
#[test]
fn a_doit_asks_for_a_large_frame_only_where_it_needs_one() {
    let mut r = Run::new();
    r.install_blocks();
    let slots = |r: &mut Run, text: &str| {
        let c = eval(r, text).unwrap();
        r.image.size_of(c).unwrap()
    };
    // `k` nils under `thisContext`: a stack of k + 1, and one temporary.
    let nested =
        |k: usize, inner: &str| format!("{}{inner}{}", "nil == (".repeat(k), ")".repeat(k));
    assert_eq!(slots(&mut r, "thisContext"), 22);
    assert_eq!(slots(&mut r, "| a b c d e f g h i j k | thisContext"), 22);
    assert_eq!(
        slots(&mut r, "| a b c d e f g h i j k l m | thisContext"),
        62
    );
    let deep = |k| format!("| c | {}. c", nested(k, "c := thisContext"));
    assert_eq!(slots(&mut r, &deep(10)), 22);
    assert_eq!(slots(&mut r, &deep(11)), 62);
    // A block's body counts: its context is as large as its home's. Its argument is a
    // temporary of the doit.
    assert_eq!(slots(&mut r, "[:x | x]"), 22);
    assert_eq!(slots(&mut r, &format!("[:x | {}]", nested(10, "x"))), 22);
    assert_eq!(slots(&mut r, &format!("[:x | {}]", nested(11, "x"))), 62);
    // What runs deep still answers as it should.
    let f = r.t.k.false_object;
    assert_eq!(eval(&mut r, &nested(20, "3")), Ok(f));
    assert_eq!(
        eval(&mut r, &format!("[:x | {}] value: 3", nested(20, "x"))),
        Ok(f)
    );
}
