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
