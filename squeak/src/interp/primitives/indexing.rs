//! Indexing: `at:` (60), `at:put:` (61), `size` (62), String `at:`/`at:put:` with Characters
//! from the character table (63, 64), CompiledMethod `objectAt:`/`objectAt:put:` (68, 69:
//! the header and literals), and `replaceFrom:to:with:startingAt:` (105) between objects of
//! one kind.

use super::common::{answer, element, Call, Indexable, Prim};
use crate::interp::limits::RunError;
use crate::interp::lookup::AtShape;
use crate::interp::state::{int, Exec};
use cowheap::{Format, Value};

/// Primitive 60, `at:`.
#[inline]
pub(crate) fn at(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, index) = (x.stack[c.ri], x.arg(c.ri, 0));
    answer(at_value(x, rcvr, index)?)
}

/// What `rcvr at: index` answers (`None`: the primitive fails): all of primitive 60 but
/// the operand stack, which it never touches, so that the dispatch loop runs it with the
/// stack in its own hands. The commonest case, an object whose `at:` entry holds a token for
/// its elements, is all this function does, so that it saves few registers: with the rest
/// inlined it cost about 20 instructions of prologue and epilogue around the 20 of the read
/// (`1000 factorial`, whose `digitAt:` sends run this 3.3 M times). Everything else is
/// [`at_entry`].
#[inline(never)]
pub(crate) fn at_value(
    x: &mut Exec<'_>,
    rcvr: Value,
    index: Value,
) -> Result<Option<Value>, RunError> {
    match x.cache.elements_at(x.image, rcvr, index) {
        Some(v) => Ok(Some(v)),
        None => at_entry(x, rcvr, index),
    }
}

/// [`at_value`] where the entry had no token or no entry: the cache's shape (taking the
/// token for the next element), else [`at_general`].
#[inline(never)]
fn at_entry(x: &mut Exec<'_>, rcvr: Value, index: Value) -> Result<Option<Value>, RunError> {
    if let Some((AtShape { shape, fixed }, i)) = shaped_element(x, rcvr, index) {
        let v = match shape.format {
            Format::Pointers => x.image.read_fast(rcvr, fixed + i),
            Format::Bytes => x.image.read_byte_fast(rcvr, i).map(|b| int(b as i64)),
            _ => None,
        };
        if v.is_some() {
            // The entry's token, for the next element (answering no special send).
            x.cache.resolved(x.image, rcvr, 0);
            return Ok(v);
        }
    }
    at_general(x, rcvr, index)
}

/// The `at:` cache's shape of `rcvr` and the 0-based element `index` names in it, past the
/// fixed fields; `None` with no entry or an index out of range.
fn shaped_element(x: &Exec<'_>, rcvr: Value, index: Value) -> Option<(AtShape, usize)> {
    let shape = x.cache.at_shape(rcvr)?;
    let i = element(index, shape.shape.len.saturating_sub(shape.fixed))?;
    Some((shape, i))
}

/// [`at_value`], every case.
#[inline(never)]
fn at_general(x: &mut Exec<'_>, rcvr: Value, index: Value) -> Result<Option<Value>, RunError> {
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(None);
    };
    let Some(i) = element(index, ix.size()) else {
        return Ok(None);
    };
    x.at(rcvr, &ix, i)
}

/// Primitive 61, `at:put:`.
#[inline]
pub(crate) fn at_put(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, index, v) = (x.stack[c.ri], x.arg(c.ri, 0), x.arg(c.ri, 1));
    let stored = at_put_value(x, rcvr, index, v)?;
    answer(stored.then_some(v))
}

/// `rcvr at: index put: v`: true if stored, false if the primitive fails (having stored
/// nothing). All of primitive 61 but the operand stack, like [`at_value`], and split as it
/// is: the entry's token and a value the context pool need not hear of here, everything
/// else in [`at_put_entry`].
#[inline(never)]
pub(crate) fn at_put_value(
    x: &mut Exec<'_>,
    rcvr: Value,
    index: Value,
    v: Value,
) -> Result<bool, RunError> {
    if x.pool.ignores(v) && x.cache.elements_at_put(x.image, rcvr, index, v) {
        return Ok(true);
    }
    at_put_entry(x, rcvr, index, v)
}

/// [`at_put_value`] past its inlined case: as [`at_entry`].
#[inline(never)]
fn at_put_entry(x: &mut Exec<'_>, rcvr: Value, index: Value, v: Value) -> Result<bool, RunError> {
    if let Some(AtShape { shape, fixed }) = x.cache.at_shape(rcvr) {
        if let Some(i) = element(index, shape.len.saturating_sub(fixed)) {
            let stored = match (shape.format, v.as_small_int()) {
                // `Exec::store_plain` but its test of the method cache's watched objects:
                // the `at:` cache never holds one of those (`MethodCache::at_shape`).
                (Format::Pointers, _) => {
                    x.pool.ignores(v) && x.image.set_private_field(rcvr, fixed + i, v)
                }
                (Format::Bytes, Some(b @ 0..=255)) => x.image.write_byte_fast(rcvr, i, b as u8),
                _ => false,
            };
            if stored {
                x.cache.resolved(x.image, rcvr, 0);
                return Ok(true);
            }
        }
    }
    at_put_general(x, rcvr, index, v)
}

/// [`at_put_value`], every case.
#[inline(never)]
fn at_put_general(x: &mut Exec<'_>, rcvr: Value, index: Value, v: Value) -> Result<bool, RunError> {
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(false);
    };
    let Some(i) = element(index, ix.size()) else {
        return Ok(false);
    };
    x.at_put(rcvr, &ix, i, v)
}

/// Primitive 62, `size`: the indexable elements (0 for a pointers object without any).
pub(crate) fn size(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    answer(size_value(x, rcvr)?)
}

/// What `rcvr size` answers (`None`: the primitive fails): all of primitive 62 but the
/// operand stack, like [`at_value`]. An object the `at:` cache knows answers from there.
#[inline(never)]
pub(crate) fn size_value(x: &mut Exec<'_>, rcvr: Value) -> Result<Option<Value>, RunError> {
    if let Some(AtShape { shape, fixed }) = x.cache.at_shape(rcvr) {
        return Ok(Some(int(shape.len.saturating_sub(fixed) as i64)));
    }
    size_general(x, rcvr)
}

/// [`size_value`], every case.
#[inline(never)]
fn size_general(x: &mut Exec<'_>, rcvr: Value) -> Result<Option<Value>, RunError> {
    Ok(match x.indexable(rcvr)? {
        Some(ix) => Some(int(ix.size() as i64)),
        None if rcvr.is_object() && x.image.format_of(rcvr)? == Format::Pointers => Some(int(0)),
        None => None,
    })
}

/// Primitive 63, String `at:`: the Character of the byte.
pub(crate) fn string_at(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, index) = (x.stack[c.ri], x.arg(c.ri, 0));
    answer(string_at_full(x, rcvr, index)?)
}

/// What `rcvr at: index` answers by primitive 63 (`None`: it fails): all of it but the
/// operand stack.
pub(crate) fn string_at_full(
    x: &mut Exec<'_>,
    rcvr: Value,
    index: Value,
) -> Result<Option<Value>, RunError> {
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(None);
    };
    let Some(i) = element(index, ix.size()) else {
        return Ok(None);
    };
    if ix.shape.format != Format::Bytes {
        return Ok(None);
    }
    let b = x.image.read_byte(rcvr, i)?;
    let ch = x.image.read(x.sh.character_table, b as usize)?;
    // The entry's token, for the dispatch loop's `string_at_value`.
    x.cache.resolved(x.image, rcvr, 0);
    Ok(Some(ch))
}

/// Primitive 63 for the dispatch loop, through the `at:` cache's token for the String's
/// bytes and the character table's fast read: `None` where either does not answer (no
/// entry or token yet, another kind of object, an index out of range), and the primitive
/// then runs in full, which fails or answers and takes the token. Out of line, as
/// [`at_value`].
#[inline(never)]
pub(crate) fn string_at_value(x: &mut Exec<'_>, rcvr: Value, index: Value) -> Option<Value> {
    let b = match x.cache.bytes_at(x.image, rcvr, index) {
        Some(b) => b,
        None => string_byte_entry(x, rcvr, index)?,
    };
    x.image.read_fast(x.sh.character_table, b as usize)
}

/// [`string_at_value`]'s byte where the entry holds no token: a base String (a literal of a
/// base method, `'aeiouAEIOU'` of `isVowel`), which gets none, since this image may not
/// write it. The entry's shape and the heap's fast read of a byte, as [`at_entry`]'s: its
/// own checks (owner, start, header, bounds; no copy or `become` of a base object) say
/// where it does not answer, and the primitive then runs in full.
fn string_byte_entry(x: &Exec<'_>, rcvr: Value, index: Value) -> Option<u8> {
    match shaped_element(x, rcvr, index)? {
        (AtShape { shape, .. }, i) if shape.format == Format::Bytes => {
            x.image.read_byte_fast(rcvr, i)
        }
        _ => None,
    }
}

/// Primitive 64 for the dispatch loop, as [`string_at_value`]: true if `v`, a Character
/// whose value fits a byte, was stored through the token. Bytes take no value the context
/// pool or a watched object could care about, as `at_put`'s own store of a byte.
#[inline(never)]
pub(crate) fn string_at_put_value(x: &mut Exec<'_>, rcvr: Value, index: Value, v: Value) -> bool {
    if x.image.class_fast(v) != Some(x.sh.character) {
        return false;
    }
    match x.image.read_fast(v, 0).and_then(|c| c.as_small_int()) {
        Some(b @ 0..=255) => x.cache.bytes_at_put(x.image, rcvr, index, b as u8),
        _ => false,
    }
}

/// Primitive 64, String `at:put:` of a Character.
pub(crate) fn string_at_put(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, index, v) = (x.stack[c.ri], x.arg(c.ri, 0), x.arg(c.ri, 1));
    let stored = string_at_put_full(x, rcvr, index, v)?;
    answer(stored.then_some(v))
}

/// `rcvr at: index put: v` by primitive 64: true if stored, false if it fails (having
/// stored nothing). All of it but the operand stack.
pub(crate) fn string_at_put_full(
    x: &mut Exec<'_>,
    rcvr: Value,
    index: Value,
    v: Value,
) -> Result<bool, RunError> {
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(false);
    };
    let Some(i) = element(index, ix.size()) else {
        return Ok(false);
    };
    if ix.shape.format != Format::Bytes || !v.is_object() || !x.class_is(v, x.sh.character)? {
        return Ok(false);
    }
    let code = x.image.read(v, 0)?;
    let stored = x.at_put(rcvr, &ix, i, code)?;
    if stored {
        x.cache.resolved(x.image, rcvr, 0);
    }
    Ok(stored)
}

/// Primitives 68 and 69, `objectAt:` and `objectAt:put:` on a CompiledMethod: 1 is the
/// header, then the literals, which is the heap's own numbering shifted by one.
pub(crate) fn object_at(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    if !rcvr.is_object() || x.image.format_of(rcvr)? != Format::Method {
        return Ok(Prim::Fail);
    }
    let n = x.image.literal_count(rcvr)?;
    let Some(i) = element(x.arg(c.ri, 0), n) else {
        return Ok(Prim::Fail);
    };
    if c.p == 68 {
        answer(Some(x.image.read(rcvr, i)?))
    } else {
        let v = x.arg(c.ri, 1);
        if i == 0 && v.as_small_int().is_none() {
            return Ok(Prim::Fail);
        }
        x.store(rcvr, i, v)?;
        answer(Some(v))
    }
}

/// Primitive 105: `replaceFrom: start to: stop with: replacement startingAt: repStart`.
pub(crate) fn replace(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let ri = c.ri;
    let rcvr = x.stack[ri];
    let repl = x.arg(ri, 2);
    let (Some(start), Some(stop), Some(rs)) = (
        x.arg(ri, 0).as_small_int(),
        x.arg(ri, 1).as_small_int(),
        x.arg(ri, 3).as_small_int(),
    ) else {
        return Ok(Prim::Fail);
    };
    let (Some(dst), Some(src)) = (x.indexable(rcvr)?, x.indexable(repl)?) else {
        return Ok(Prim::Fail);
    };
    if dst.shape.format != src.shape.format {
        return Ok(Prim::Fail);
    }
    let count = stop - start + 1;
    if start < 1
        || count < 0
        || stop > dst.size() as i64
        || rs < 1
        || rs - 1 + count > src.size() as i64
    {
        return Ok(Prim::Fail);
    }
    let (start, rs, count) = (start as usize - 1, rs as usize - 1, count as usize);
    // In chunks, each charged against the run's budgets before it is copied, so that a copy of
    // any size stops at the bytecode or time limit. First to last, as the real VM's loop:
    // where an object is copied onto itself with the destination after the source, what
    // the copy has written is what it reads on (`(1 2 3 4) replaceFrom: 2 to: 4 with: self
    // startingAt: 1` gives `(1 1 1 1)`). Pointers go field by field, so that falls out;
    // bytes and words, each chunk read whole before it is written, go in chunks no longer
    // than the distance between the two ranges, each of which then reads what the one before
    // wrote.
    let step = if start > rs && dst.shape.format != Format::Pointers && x.identical(rcvr, repl)? {
        (start - rs).min(REPLACE_CHUNK)
    } else {
        REPLACE_CHUNK
    };
    let mut copied = Copied::default();
    for from in (0..count).step_by(step) {
        let n = step.min(count - from);
        x.charge(n as u64)?;
        if !copied.copy(x, (rcvr, &dst, start + from), (repl, &src, rs + from), n)? {
            return Ok(Prim::Fail);
        }
    }
    Ok(Prim::Answer(rcvr))
}

/// Elements primitive 105 copies between two looks at the run's budgets.
const REPLACE_CHUNK: usize = 1 << 16;

/// Primitive 105's copy of one chunk, both objects of one format. Bytes and words in one read
/// and one write of the heap (the chunk read whole before it is written, through a buffer on
/// the stack where it is small: a String's `,` of a few characters made a heap allocation
/// for it): what `at` and `at_put` do element by element (a byte is a byte either way; a word
/// read as a SmallInteger or LargePositiveInteger and written back is the same word),
/// without a value made for each element, which cost a String's `,` about 210 instructions
/// a byte. Pointers field by field, first to last, through tokens where the
/// objects have them. A method's bytes (`first_byte`, the cache's `before_store`) element by
/// element.
#[derive(Default)]
struct Copied {
    bytes: Vec<u8>,
    words: Vec<u32>,
    values: Vec<Value>,
}

/// The most bytes (and a quarter as many words) a chunk copies through a buffer on the stack.
const STACK_BUFFER: usize = 256;

/// `n` elements to copy through: `small` (on the caller's stack) where they fit, else `heap`.
fn scratch<'a, T: Copy + Default>(
    small: &'a mut [T],
    heap: &'a mut Vec<T>,
    n: usize,
) -> &'a mut [T] {
    if n <= small.len() {
        &mut small[..n]
    } else {
        heap.resize(n, T::default());
        &mut heap[..]
    }
}

impl Copied {
    /// Copies `n` elements of `src` from its element `from` (0-based, in range) onto `dst`
    /// from `at`: false if an element does not fit (the primitive fails).
    fn copy(
        &mut self,
        x: &mut Exec<'_>,
        (dst, dst_ix, at): (Value, &Indexable, usize),
        (src, src_ix, from): (Value, &Indexable, usize),
        n: usize,
    ) -> Result<bool, RunError> {
        match dst_ix.shape.format {
            Format::Bytes => {
                let mut small = [0u8; STACK_BUFFER];
                let buffer = scratch(&mut small, &mut self.bytes, n);
                x.image.read_bytes(src, from, buffer)?;
                x.image.write_bytes(dst, at, buffer)?;
            }
            Format::Words => {
                let mut small = [0u32; STACK_BUFFER / 4];
                let buffer = scratch(&mut small, &mut self.words, n);
                x.image.read_words(src, from, buffer)?;
                x.image.write_words(dst, at, buffer)?;
            }
            Format::Pointers => {
                let (at, from) = (dst_ix.fixed + at, src_ix.fixed + from);
                self.copy_pointers(x, (dst, at), (src, from), n)?;
            }
            Format::Method => {
                self.values.clear();
                for k in from..from + n {
                    let Some(v) = x.at(src, src_ix, k)? else {
                        return Ok(false);
                    };
                    self.values.push(v);
                }
                for (k, &v) in (at..).zip(&self.values) {
                    if !x.at_put(dst, dst_ix, k, v)? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// [`copy`](Self::copy) of pointers, fields `from..` onto fields `at..`, one at a time,
    /// first to last (onto an overlapping range of the same object, each read sees what the
    /// copy wrote before it, as the real VM's): `read` and `store` at each, each through a
    /// token where its object has one (one of this image's own, and for the store one the
    /// cache does not watch), with `store`'s own checks (the value's owner, the context pool)
    /// either way. A store that copies or moves an object makes a token stale, and a stale
    /// token answers nothing: the general read or store then. Out of line, so that its loop
    /// keeps its registers (inlined into `replace`: about 8 instructions more a field).
    #[inline(never)]
    fn copy_pointers(
        &mut self,
        x: &mut Exec<'_>,
        (dst, at): (Value, usize),
        (src, from): (Value, usize),
        n: usize,
    ) -> Result<(), RunError> {
        let st = x.image.fields_token(src);
        let dt = x.image.fields_token(dst).filter(|_| !x.cache.watches(dst));
        for k in 0..n {
            let v = match st.and_then(|t| x.image.read_token(&t, from + k)) {
                Some(v) => v,
                None => x.image.read(src, from + k)?,
            };
            if !(x.pool.ignores(v) && dt.is_some_and(|t| x.image.write_token(&t, at + k, v))) {
                x.store(dst, at + k, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
