//! SmallInteger arithmetic (primitives 1, 2, 9-17): `+ - * / \\ // quo: bitAnd: bitOr:
//! bitXor: bitShift:` in the image's 31 bits. Each fails (`None`) where the result would
//! leave them, so that the image's LargeInteger code takes over.
//!
//! These functions are the only implementation: the table runs them for the primitives, and
//! the dispatch loop's fast paths for the special-selector bytecodes (176 `+`, 177 `-`, 184
//! `*`, 185 `/`, 186 `\\`, 188 `bitShift:`, 189 `//`, 190 `bitAnd:`, 191 `bitOr:`) call them
//! inlined.

use crate::interp::special::Shared;
use crate::interp::state::{int, int_in_range};
use cowheap::Value;

/// Primitive 1, `+`.
#[inline(always)]
pub(crate) fn add(_: &Shared, a: i64, b: i64) -> Option<Value> {
    int_in_range(a + b)
}

/// Primitive 2, `-`.
#[inline(always)]
pub(crate) fn subtract(_: &Shared, a: i64, b: i64) -> Option<Value> {
    int_in_range(a - b)
}

/// Primitive 9, `*`.
#[inline(always)]
pub(crate) fn multiply(_: &Shared, a: i64, b: i64) -> Option<Value> {
    int_in_range(a * b)
}

/// Primitive 10, `/`: fails unless the division is exact (the image makes a Fraction).
#[inline(always)]
pub(crate) fn divide(_: &Shared, a: i64, b: i64) -> Option<Value> {
    (b != 0 && a % b == 0)
        .then(|| int_in_range(a / b))
        .flatten()
}

/// Primitive 11, `\\`: the remainder of flooring division (its sign is the divisor's).
#[inline(always)]
pub(crate) fn modulo(_: &Shared, a: i64, b: i64) -> Option<Value> {
    if b == 0 {
        return None;
    }
    let r = a % b;
    Some(int(if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }))
}

/// Primitive 12, `//`: division rounded toward negative infinity.
#[inline(always)]
pub(crate) fn floor_divide(_: &Shared, a: i64, b: i64) -> Option<Value> {
    if b == 0 {
        return None;
    }
    let q = a / b;
    int_in_range(if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

/// Primitive 13, `quo:`: division truncated toward zero.
#[inline(always)]
pub(crate) fn quo(_: &Shared, a: i64, b: i64) -> Option<Value> {
    (b != 0).then(|| int_in_range(a / b)).flatten()
}

/// Primitive 14, `bitAnd:`.
#[inline(always)]
pub(crate) fn bit_and(_: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(int(a & b))
}

/// Primitive 15, `bitOr:`.
#[inline(always)]
pub(crate) fn bit_or(_: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(int(a | b))
}

/// Primitive 16, `bitXor:`.
#[inline(always)]
pub(crate) fn bit_xor(_: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(int(a ^ b))
}

/// Primitive 17, `bitShift:`: fails where the result would leave the 31 bits.
#[inline(always)]
pub(crate) fn bit_shift(_: &Shared, a: i64, b: i64) -> Option<Value> {
    if b >= 0 {
        if a == 0 {
            return Some(int(0));
        }
        if b > 31 {
            return None;
        }
        int_in_range(a << b)
    } else {
        Some(int(a >> (-b).min(63)))
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::RunError;
    use crate::interp::tests::{int, Out, Run};

    const MAX: i64 = (1 << 30) - 1;
    const MIN: i64 = -(1 << 30);

    #[test]
    fn each_primitive_answers_in_31_bits_and_fails_outside_them() {
        let mut r = Run::new();
        #[rustfmt::skip]
        let cases: &[(u16, i64, i64, Option<i64>)] = &[
            (1, 3, 4, Some(7)), (1, -5, 2, Some(-3)), (1, MAX, 1, None), (1, MIN, -1, None),
            (2, 3, 4, Some(-1)), (2, MIN, 1, None), (2, MAX, -1, None),
            (9, 6, 7, Some(42)), (9, -(1 << 15), 1 << 15, Some(MIN)), (9, 1 << 15, 1 << 15, None),
            (10, 12, 4, Some(3)), (10, -12, 4, Some(-3)), (10, 7, 2, None), (10, 7, 0, None),
            (10, MIN, -1, None),
            (11, 7, 2, Some(1)), (11, -7, 2, Some(1)), (11, 7, -2, Some(-1)), (11, -6, 3, Some(0)),
            (11, 7, 0, None),
            (12, 7, 2, Some(3)), (12, -7, 2, Some(-4)), (12, 7, -2, Some(-4)),
            (12, -6, 3, Some(-2)),
            (12, 7, 0, None), (12, MIN, -1, None),
            (13, 7, 2, Some(3)), (13, -7, 2, Some(-3)), (13, 7, 0, None), (13, MIN, -1, None),
            (14, 12, 10, Some(8)), (14, -1, 5, Some(5)),
            (15, 12, 10, Some(14)),
            (16, 12, 10, Some(6)), (16, -1, 5, Some(-6)),
            (17, 1, 4, Some(16)), (17, 1, 29, Some(1 << 29)), (17, 1, 30, None), (17, 3, 40, None),
            (17, 0, 100, Some(0)), (17, -16, -2, Some(-4)), (17, 5, -100, Some(0)),
            (17, -1, -100, Some(-1)), (17, -1, 30, Some(MIN)),
        ];
        for &(p, a, b, want) in cases {
            assert_eq!(
                r.prim(p, int(a), &[int(b)]),
                Ok(want.map_or(Out::Fail, |v| Out::Answer(int(v)))),
                "primitive {p} on {a} and {b}"
            );
        }
    }

    #[test]
    fn anything_but_two_small_integers_fails() {
        let mut r = Run::new();
        let (nil, s) = (r.nil(), r.string("7"));
        for p in [1, 2, 9, 10, 11, 12, 13, 14, 15, 16, 17] {
            r.fails(p, int(3), &[nil]);
            r.fails(p, int(3), &[s]);
            r.fails(p, s, &[int(3)]);
        }
    }

    #[test]
    fn the_bytecode_fast_paths_answer_what_the_primitives_answer() {
        let mut r = Run::new();
        let nil = r.nil();
        // Special-selector bytecodes and their primitives.
        let pairs = [
            (176, 1),
            (177, 2),
            (184, 9),
            (185, 10),
            (186, 11),
            (188, 17),
            (189, 12),
            (190, 14),
            (191, 15),
        ];
        let probes = [
            (7, 2),
            (-7, 2),
            (7, -2),
            (12, 4),
            (5, 0),
            (MAX, 1),
            (1, 31),
            (-8, -1),
        ];
        for (bytecode, p) in pairs {
            for (a, b) in probes {
                let fast = r.run(nil, &[int(a), int(b)], 0, &[32, 33, bytecode, 124]);
                match r.prim(p, int(a), &[int(b)]).unwrap() {
                    Out::Answer(v) => assert_eq!(fast, Ok(v), "bytecode {bytecode} on {a}, {b}"),
                    // The tiny base has no SmallInteger methods: where the fast path gives up,
                    // the send finds nothing.
                    Out::Fail => assert!(
                        matches!(fast, Err(RunError::DoesNotUnderstand { .. })),
                        "bytecode {bytecode} on {a}, {b}: {fast:?}"
                    ),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
