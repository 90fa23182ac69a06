//! LargeInteger primitives 21-33 answer what the image's own LargeInteger code answers: each
//! selector of LargePositiveInteger (and so LargeNegativeInteger, its subclass) against the
//! same selector run by `Integer`'s method, which is where the primitive's fallback goes
//! (`^super + anInteger`), for receivers on both sides of 64 bits and of both signs, and
//! arguments that are SmallIntegers, LargeIntegers, a Float and a Fraction.

mod images_common;
mod interp_common;

use interp_common::{assert_alike, print, session};

const SELECTORS: [(&str, &str); 16] = [
    ("+", "plus"),
    ("-", "minus"),
    ("<", "less"),
    (">", "greater"),
    ("<=", "atMost"),
    (">=", "atLeast"),
    ("=", "equal"),
    ("~=", "unequal"),
    ("*", "times"),
    ("/", "divided"),
    ("\\\\", "modulo"),
    ("//", "floorDivided"),
    ("quo:", "quo"),
    ("bitAnd:", "bitAnd"),
    ("bitOr:", "bitOr"),
    ("bitXor:", "bitXor"),
];

#[test]
fn primitives_answer_as_the_fallbacks_they_replace() {
    if interp_common::skip() {
        return;
    }
    let (mut image, mut interp) = session(0);
    // `fbplus: x` runs `Integer>>+`: the fallback alone.
    for (selector, name) in SELECTORS.into_iter().chain([("bitShift:", "bitShift")]) {
        let source = format!("fb{name}: x ^super {selector} x");
        let define =
            format!("LargePositiveInteger compile: '{source}' classified: 'test' notifying: nil");
        interp.evaluate(&mut image, &define).unwrap();
    }
    // Each with its value where it is an integer within 127 bits, for the expected answer
    // computed here, independently of the image.
    const P62: i128 = 1 << 62;
    const P64M1: i128 = (1 << 64) - 1;
    let receivers: [(&str, Option<i128>); 9] = [
        ("1073741824", Some(1 << 30)),
        ("-1073741825", Some(-(1 << 30) - 1)),
        ("4294967296", Some(1 << 32)),
        ("-4294967297", Some(-(1 << 32) - 1)),
        ("(2 raisedTo: 62)", Some(P62)),
        ("(2 raisedTo: 64) - 1", Some(P64M1)),
        ("((2 raisedTo: 64) - 1) negated", Some(-P64M1)),
        ("(2 raisedTo: 64)", Some(1 << 64)),
        ("(2 raisedTo: 100) negated", Some(-(1 << 100))),
    ];
    let arguments: [(&str, Option<i128>); 14] = [
        ("0", Some(0)),
        ("7", Some(7)),
        ("-7", Some(-7)),
        ("1073741823", Some((1 << 30) - 1)),
        ("-1073741824", Some(-(1 << 30))),
        ("1073741824", Some(1 << 30)),
        ("(2 raisedTo: 40)", Some(1 << 40)),
        ("(2 raisedTo: 40) negated", Some(-(1 << 40))),
        ("(2 raisedTo: 63)", Some(1 << 63)),
        ("(2 raisedTo: 64) - 1", Some(P64M1)),
        ("((2 raisedTo: 64) - 1) negated", Some(-P64M1)),
        ("(2 raisedTo: 70)", Some(1 << 70)),
        ("3.5", None),
        ("(1/3)", None),
    ];
    let mut answer = |expr: &str| print(&mut interp, &mut image, expr);
    let mut primitive_ran = 0;
    let mut computed = 0;
    for (a, x) in receivers {
        for (b, y) in arguments {
            for (selector, name) in SELECTORS {
                let native = answer(&format!("({a}) {selector} ({b})"));
                let fallback = answer(&format!("({a}) fb{name}: ({b})"));
                // Division by zero: both stop, with the image's message.
                assert_alike(&native, &fallback, &format!("({a}) {selector} ({b})"));
                primitive_ran += native.is_ok() as usize;
                if let (Some(x), Some(y), Ok(n)) = (x, y, &native) {
                    if let Some(want) = expected(x, selector, y) {
                        assert_eq!(*n, want, "({a}) {selector} ({b})");
                        computed += 1;
                    }
                }
            }
        }
    }
    assert!(computed > 800, "{computed}");
    // Shifts, by amounts whose answers stay printable.
    for (a, x) in receivers {
        for n in [-200, -70, -33, -3, 0, 3, 31, 40, 63, 70, 200] {
            let native = answer(&format!("({a}) bitShift: {n}"));
            let fallback = answer(&format!("({a}) fbbitShift: {n}"));
            assert_alike(&native, &fallback, &format!("({a}) bitShift: {n}"));
            if let (Some(x @ 0..), Ok(got)) = (x, &native) {
                let want = if n >= 0 {
                    x.checked_shl(n as u32).filter(|r| r >> n == x)
                } else {
                    Some(x >> (-n).min(127))
                };
                if let Some(want) = want {
                    assert_eq!(*got, want.to_string(), "({a}) bitShift: {n}");
                }
            }
        }
    }
    assert!(primitive_ran > 1000, "{primitive_ran}");
    // The primitives ran (the fallbacks run hundreds of bytecodes an addition), also in
    // this image, which wrote LargePositiveInteger's methods above and so reads its own copy
    // of the class.
    interp
        .evaluate(
            &mut image,
            "(1 to: 3000) inject: 1073741823 into: [:s :k | s + k]",
        )
        .unwrap();
    let bytecodes = interp.stats().bytecodes;
    assert!(
        bytecodes < 200_000,
        "{bytecodes} bytecodes: the fallback ran"
    );
    // A result past SmallInteger is a LargeInteger of as few bytes as it needs.
    for (expr, want) in [
        ("(1073741823 + 1) class", "LargePositiveInteger"),
        ("((2 raisedTo: 40) + 0) digitLength", "6"),
        (
            "((2 raisedTo: 40) - (2 raisedTo: 41)) class",
            "LargeNegativeInteger",
        ),
        ("((2 raisedTo: 40) - (2 raisedTo: 41)) digitLength", "6"),
        (
            "((2 raisedTo: 40) - (2 raisedTo: 40) + 5) class",
            "SmallInteger",
        ),
        ("((2 raisedTo: 63) * (2 raisedTo: 63)) digitLength", "16"),
        (
            "(1 to: 300000) inject: 0 into: [:s :k | s + k]",
            "45000150000",
        ),
    ] {
        assert_eq!(
            print(&mut interp, &mut image, expr).unwrap(),
            want,
            "{expr}"
        );
    }
}

/// `x selector y` as Smalltalk answers it, where the answer is an integer or a Boolean (not
/// a Fraction, and not a division by zero) and the product fits 127 bits.
fn expected(x: i128, selector: &str, y: i128) -> Option<String> {
    let floor_div = |x: i128, y: i128| x.div_euclid(y) - i128::from(y < 0 && x.rem_euclid(y) != 0);
    let n = match selector {
        "+" => x + y,
        "-" => x - y,
        "*" => x.checked_mul(y)?,
        "/" if y != 0 && x % y == 0 => x / y,
        "//" if y != 0 => floor_div(x, y),
        "\\\\" if y != 0 => x - y * floor_div(x, y),
        "quo:" if y != 0 => x / y,
        // Squeak 2.2's bits of a negative LargeInteger are not two's complement.
        "bitAnd:" if x >= 0 && y >= 0 => x & y,
        "bitOr:" if x >= 0 && y >= 0 => x | y,
        "bitXor:" if x >= 0 && y >= 0 => x ^ y,
        "<" => return Some((x < y).to_string()),
        ">" => return Some((x > y).to_string()),
        "<=" => return Some((x <= y).to_string()),
        ">=" => return Some((x >= y).to_string()),
        "=" => return Some((x == y).to_string()),
        "~=" => return Some((x != y).to_string()),
        _ => return None,
    };
    Some(n.to_string())
}
