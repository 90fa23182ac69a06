//! Comparisons: SmallInteger `< > <= >= = ~=` (primitives 3-8) and identity `==` (110).
//!
//! The SmallInteger functions are the only implementation: the table runs them for the
//! primitives, and the dispatch loop's fast paths for bytecodes 178-183 call them inlined.
//! Bytecode 198 (`==`) and primitive 110 share [`Exec::identical`].

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::special::Shared;
use crate::interp::state::Exec;
use cowheap::Value;

/// Primitive 3, `<`.
#[inline(always)]
pub(crate) fn less(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a < b))
}

/// Primitive 4, `>`.
#[inline(always)]
pub(crate) fn greater(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a > b))
}

/// Primitive 5, `<=`.
#[inline(always)]
pub(crate) fn less_or_equal(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a <= b))
}

/// Primitive 6, `>=`.
#[inline(always)]
pub(crate) fn greater_or_equal(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a >= b))
}

/// Primitive 7, `=`.
#[inline(always)]
pub(crate) fn equal(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a == b))
}

/// Primitive 8, `~=`.
#[inline(always)]
pub(crate) fn not_equal(sh: &Shared, a: i64, b: i64) -> Option<Value> {
    Some(sh.boolean(a != b))
}

/// Primitive 110, `==`: the same object as this image sees it.
pub(crate) fn identical(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let same = x.identical(x.stack[c.ri], x.arg(c.ri, 0))?;
    Ok(Prim::Answer(x.boolean(same)))
}

/// Primitive 110 for the dispatch loop's send (Object's `=`, which `=` of a Character or a
/// Symbol finds): the Boolean where the two references tell alone, as bytecode 198's
/// ([`Image::identical_fast`](cowheap::Image::identical_fast)); `None` sends the rest to the
/// full path.
#[inline]
pub(crate) fn identical_value(x: &Exec<'_>, rcvr: Value, arg: Value) -> Option<Value> {
    Some(x.sh.boolean(x.image.identical_fast(rcvr, arg)?))
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::RunError;
    use crate::interp::tests::{int, Out, Run};

    #[test]
    fn small_integer_comparisons_answer_booleans() {
        let mut r = Run::new();
        let expect = |p: u16, a: i64, b: i64| match p {
            3 => a < b,
            4 => a > b,
            5 => a <= b,
            6 => a >= b,
            7 => a == b,
            _ => a != b,
        };
        for p in 3..=8 {
            for (a, b) in [(1, 2), (2, 1), (2, 2), (-(1 << 30), (1 << 30) - 1)] {
                let want = r.boolean(expect(p, a, b));
                assert_eq!(
                    r.answer(p, int(a), &[int(b)]),
                    want,
                    "primitive {p}: {a}, {b}"
                );
            }
            let nil = r.nil();
            r.fails(p, int(1), &[nil]);
            r.fails(p, nil, &[int(1)]);
        }
    }

    #[test]
    fn the_bytecode_fast_paths_answer_what_the_primitives_answer() {
        let mut r = Run::new();
        let nil = r.nil();
        for (bytecode, p) in (178..=183).zip(3..=8) {
            for (a, b) in [(1, 2), (2, 1), (2, 2), (-5, 5)] {
                let fast = r.run(nil, &[int(a), int(b)], 0, &[32, 33, bytecode, 124]);
                assert_eq!(
                    fast,
                    Ok(r.answer(p, int(a), &[int(b)])),
                    "bytecode {bytecode}"
                );
            }
        }
        // With a non-integer the fast path sends (and the tiny base has no such method).
        let s = r.string("x");
        assert!(matches!(
            r.run(nil, &[int(1), s], 0, &[32, 33, 178, 124]),
            Err(RunError::DoesNotUnderstand { .. })
        ));
    }

    #[test]
    fn identity_is_primitive_110_and_bytecode_198() {
        let mut r = Run::new();
        let a = r.array(&[int(1)]);
        let b = r.array(&[int(1)]);
        let (t, f) = (r.boolean(true), r.boolean(false));
        assert_eq!(r.prim(110, a, &[a]), Ok(Out::Answer(t)));
        assert_eq!(r.prim(110, a, &[b]), Ok(Out::Answer(f)));
        assert_eq!(r.prim(110, int(3), &[int(3)]), Ok(Out::Answer(t)));
        assert_eq!(r.prim(110, int(3), &[int(4)]), Ok(Out::Answer(f)));
        // A base object and this image's copy of it are one object.
        let pair = r.t.pair;
        r.image.write(pair, 4, int(9)).unwrap();
        let copy = r.image.canonical(pair).unwrap();
        assert_eq!(r.prim(110, pair, &[copy]), Ok(Out::Answer(t)));
        // Bytecode 198 answers the same, and counts as a send.
        assert_eq!(r.run(a, &[b], 0, &[112, 112, 198, 124]), Ok(t));
        assert_eq!(r.run(a, &[b], 0, &[112, 32, 198, 124]), Ok(f));
        assert_eq!(r.interp.stats().sends, 1);
    }
}
