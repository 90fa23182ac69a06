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
