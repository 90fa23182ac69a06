//! Indexing: `at:` (60), `at:put:` (61), `size` (62), String `at:`/`at:put:` with Characters
//! from the character table (63, 64), CompiledMethod `objectAt:`/`objectAt:put:` (68, 69:
//! the header and literals), and `replaceFrom:to:with:startingAt:` (105) between objects of
//! one kind.

use super::common::{answer, element, Call, Prim};
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
    if let Some(AtShape { shape, fixed }) = x.cache.at_shape(rcvr) {
        if let Some(i) = element(index, shape.len.saturating_sub(fixed)) {
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
    }
    at_general(x, rcvr, index)
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
    let rcvr = x.stack[c.ri];
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(Prim::Fail);
    };
    let Some(i) = element(x.arg(c.ri, 0), ix.size()) else {
        return Ok(Prim::Fail);
    };
    if ix.shape.format != Format::Bytes {
        return Ok(Prim::Fail);
    }
    let b = x.image.read_byte(rcvr, i)?;
    let ch = x.image.read(x.sh.character_table, b as usize)?;
    answer(Some(ch))
}

/// Primitive 64, String `at:put:` of a Character.
pub(crate) fn string_at_put(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(Prim::Fail);
    };
    let Some(i) = element(x.arg(c.ri, 0), ix.size()) else {
        return Ok(Prim::Fail);
    };
    let v = x.arg(c.ri, 1);
    if ix.shape.format != Format::Bytes || !v.is_object() || !x.class_is(v, x.sh.character)? {
        return Ok(Prim::Fail);
    }
    let code = x.image.read(v, 0)?;
    let stored = x.at_put(rcvr, &ix, i, code)?;
    answer(stored.then_some(v))
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
    // any size stops at the bytecode or time limit. Each chunk is read whole before it is
    // written, and the chunks go backwards when the ranges overlap with the destination
    // after the source, so that an object copied onto itself reads as before the copy.
    let backwards = start > rs && x.identical(rcvr, repl)?;
    let mut values = Vec::with_capacity(count.min(REPLACE_CHUNK));
    for c in 0..count.div_ceil(REPLACE_CHUNK) {
        let chunk = if backwards {
            count.div_ceil(REPLACE_CHUNK) - 1 - c
        } else {
            c
        };
        let from = chunk * REPLACE_CHUNK;
        let to = count.min(from + REPLACE_CHUNK);
        x.charge((to - from) as u64)?;
        values.clear();
        for k in from..to {
            let Some(v) = x.at(repl, &src, rs + k)? else {
                return Ok(Prim::Fail);
            };
            values.push(v);
        }
        for (k, &v) in (from..to).zip(&values) {
            if !x.at_put(rcvr, &dst, start + k, v)? {
                return Ok(Prim::Fail);
            }
        }
    }
    Ok(Prim::Answer(rcvr))
}

/// Elements primitive 105 copies between two looks at the run's budgets.
const REPLACE_CHUNK: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use crate::interp::special::CLASS_FORMAT;
    use crate::interp::tests::{int, Out, Run};

    #[test]
    fn at_at_put_and_size_on_arrays() {
        let mut r = Run::new();
        let a = r.array(&[int(10), int(20), int(30)]);
        assert_eq!(r.answer(62, a, &[]), int(3));
        assert_eq!(r.answer(60, a, &[int(1)]), int(10));
        assert_eq!(r.answer(60, a, &[int(3)]), int(30));
        assert_eq!(r.answer(61, a, &[int(2), int(99)]), int(99));
        assert_eq!(r.image.read(a, 1).unwrap(), int(99));
        let nil = r.nil();
        for bad in [int(0), int(4), int(-1), nil] {
            r.fails(60, a, &[bad]);
            r.fails(61, a, &[bad, int(1)]);
        }
        // Not indexable at all.
        r.fails(60, int(3), &[int(1)]);
        r.fails(62, int(3), &[]);
    }

    #[test]
    fn fixed_fields_come_before_the_indexable_ones() {
        let mut r = Run::new();
        // A Row: one fixed field, then indexable pointers.
        let row_class = r.t.row;
        let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
        assert_eq!(r.answer(62, row, &[]), int(2));
        assert_eq!(r.answer(60, row, &[int(1)]), int(2));
        r.answer(61, row, &[int(2), int(7)]);
        assert_eq!(r.image.read(row, 2).unwrap(), int(7));
        r.fails(60, row, &[int(3)]);
        // A Pair has fixed fields only: no at:, and size 0.
        let pair_class = r.t.pair;
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        r.fails(60, pair, &[int(1)]);
        assert_eq!(r.answer(62, pair, &[]), int(0));
    }

    #[test]
    fn the_at_cache_forgets_a_shape_that_a_class_store_or_a_become_changes() {
        let mut r = Run::new();
        let row_class = r.t.row;
        let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
        assert_eq!(r.answer(60, row, &[int(1)]), int(2));
        // One fixed field fewer: the store into the class drops what at: remembered.
        let format = r.image.read(row_class, CLASS_FORMAT).unwrap();
        let fewer = int(format.as_small_int().unwrap() - 2);
        r.answer(74, row_class, &[int(CLASS_FORMAT as i64 + 1), fewer]);
        assert_eq!(r.answer(62, row, &[]), int(3));
        assert_eq!(r.answer(60, row, &[int(1)]), int(1));
        r.answer(74, row_class, &[int(CLASS_FORMAT as i64 + 1), format]);
        assert_eq!(r.answer(60, row, &[int(1)]), int(2));
        // A become: the Array's references now reach a longer one.
        let short = r.array(&[int(7)]);
        let long = r.array(&[int(8), int(9)]);
        assert_eq!(r.answer(62, short, &[]), int(1));
        r.fails(60, short, &[int(2)]);
        let from = r.array(&[short]);
        let to = r.array(&[long]);
        r.answer(72, from, &[to]);
        assert_eq!(r.answer(62, short, &[]), int(2));
        assert_eq!(r.answer(60, short, &[int(2)]), int(9));
    }

    /// The `at:` fast path stores without asking whether the method cache watches the
    /// receiver, because the `at:` cache never holds a watched object: a lookup that watches
    /// one drops its entry, and one already watched is never remembered. Either way, an
    /// `at:put:` into a method array that a lookup read drops the cached lookup.
    #[test]
    fn the_at_cache_never_holds_what_the_method_cache_watches() {
        for at_first in [true, false] {
            let mut r = Run::new();
            let pair = r.t.pair;
            r.define(pair, "foo", &[], 0, 0, 0, &[118, 124]);
            let receiver = r.instance(pair, &[int(1), int(2)], 1);
            let dict = r.image.read(pair, 1).unwrap();
            let methods = r.image.read(dict, 1).unwrap();
            let foo = r.sym("foo");
            let n = r.image.size_of(dict).unwrap();
            let i = (2..n)
                .find(|&k| r.image.read(dict, k).unwrap() == foo)
                .unwrap()
                - 2;
            let index = int(i as i64 + 1);
            if at_first {
                // Remembered first, then watched by the lookup.
                r.answer(60, methods, &[index]);
                assert_eq!(r.send(receiver, "foo", &[]), Ok(int(1)));
            } else {
                // Watched first: never remembered.
                assert_eq!(r.send(receiver, "foo", &[]), Ok(int(1)));
                r.answer(60, methods, &[index]);
            }
            let two = r.method(&[], 0, 0, 0, &[119, 124]);
            r.answer(61, methods, &[index, two]);
            assert_eq!(r.send(receiver, "foo", &[]), Ok(int(2)), "{at_first}");
        }
    }

    /// `self at: 1` (bytecode 192), `self at: 1 put: 2` (193) and `self size` (194), each
    /// answering its value.
    const AT_1: [u8; 4] = [112, 118, 192, 124];
    const AT_1_PUT_2: [u8; 5] = [112, 118, 119, 193, 124];
    const SIZE: [u8; 3] = [112, 194, 124];

    /// The special sends answer from the `at:` cache only what a send of that very selector
    /// resolved to its primitive for the receiver: a class whose `at:` is Smalltalk code
    /// runs that code, however often its `at:put:` took the primitive.
    #[test]
    fn a_special_send_is_answered_from_the_cache_only_where_it_resolved_to_its_primitive() {
        let mut r = Run::new();
        let bar = r.sym("bar");
        let (array, row) = (r.t.k.array, r.t.row);
        r.define(array, "at:", &[bar], 1, 1, 60, &[32, 124]);
        r.define(array, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
        r.define(array, "size", &[bar], 0, 0, 62, &[32, 124]);
        r.define(row, "at:", &[int(42)], 1, 1, 0, &[32, 124]);
        r.define(row, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
        r.define(row, "size", &[int(43)], 0, 0, 0, &[32, 124]);
        let a = r.array(&[int(10), int(20)]);
        let rw = r.instance(row, &[int(1), int(2), int(3)], 3);
        for round in 0..3 {
            assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10 - 8 * round.min(1))));
            assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
            assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(2)), "round {round}");
            assert_eq!(r.run(a, &[], 0, &SIZE), Ok(int(2)));
            assert_eq!(r.run(rw, &[], 0, &AT_1_PUT_2), Ok(int(2)));
            assert_eq!(r.image.read(rw, 1).unwrap(), int(2));
            assert_eq!(r.run(rw, &[], 0, &AT_1), Ok(int(42)), "round {round}");
            assert_eq!(r.run(rw, &[], 0, &SIZE), Ok(int(43)), "round {round}");
        }
        assert_eq!(r.image.read(a, 0).unwrap(), int(2));
        // Out of range, or a value the object cannot hold: the full send, whose primitive
        // fails.
        let at_3 = [112, 32, 192, 124];
        assert_eq!(r.run(a, &[int(3)], 0, &at_3), Ok(bar));
        assert_eq!(r.run(a, &[int(0)], 0, &at_3), Ok(bar));
        let s = r.string("abc");
        r.define(r.t.k.string, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
        r.define(r.t.k.string, "at:", &[bar], 1, 1, 60, &[32, 124]);
        let put_300 = [112, 118, 32, 193, 124];
        for _ in 0..3 {
            assert_eq!(r.run(s, &[], 0, &AT_1_PUT_2), Ok(int(2)));
            assert_eq!(r.run(s, &[], 0, &AT_1), Ok(int(2)));
            assert_eq!(r.run(s, &[int(300)], 0, &put_300), Ok(bar));
        }
        assert_eq!(r.image.bytes(s).unwrap(), b"\x02bc");
    }

    /// Array given `at:` and `at:put:` (primitives 60 and 61, failing to `bar`), and an
    /// Array `(10 20)`.
    fn array_with_at_and_at_put(r: &mut Run) -> cowheap::Value {
        let bar = r.sym("bar");
        let array = r.t.k.array;
        r.define(array, "at:", &[bar], 1, 1, 60, &[32, 124]);
        r.define(array, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
        r.array(&[int(10), int(20)])
    }

    /// An `at:put:` the cache answers and the pop after it run in one arm: the same answers,
    /// stores, bytecodes and sends as one at a time (the full send first, the cache after).
    #[test]
    fn an_at_put_and_the_pop_after_it_run_as_the_two_bytecodes() {
        let mut r = Run::new();
        let a = array_with_at_and_at_put(&mut r);
        // self at: 1 put: 2. self at: 2 put: 1. ^self at: 1
        let code = [
            112, 118, 119, 193, 135, 112, 119, 118, 193, 135, 112, 118, 192, 124,
        ];
        for round in 0..3 {
            assert_eq!(r.run(a, &[], 0, &code), Ok(int(2)), "round {round}");
            assert_eq!(r.interp.stats().bytecodes, 14, "round {round}");
            assert_eq!(r.interp.stats().sends, 3, "round {round}");
            assert_eq!(r.image.read(a, 0).unwrap(), int(2));
            assert_eq!(r.image.read(a, 1).unwrap(), int(1));
            r.image.write(a, 0, int(10)).unwrap();
        }
    }

    /// What made the special sends' answers true can stop being true: the method the class
    /// finds (a store into its method array), and the object (a `become:`). Either drops
    /// what the cache said.
    #[test]
    fn a_special_sends_answer_goes_with_a_new_method_or_a_become() {
        let mut r = Run::new();
        let a = array_with_at_and_at_put(&mut r);
        let (bar, array) = (r.sym("bar"), r.t.k.array);
        for _ in 0..3 {
            assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10)));
        }
        let dict = r.image.read(array, 1).unwrap();
        let methods = r.image.read(dict, 1).unwrap();
        let at = r.sym("at:");
        let n = r.image.size_of(dict).unwrap();
        let i = (2..n)
            .find(|&k| r.image.read(dict, k).unwrap() == at)
            .unwrap()
            - 2;
        let answer_7 = r.method(&[int(7)], 1, 1, 0, &[32, 124]);
        let old = r.image.read(methods, i).unwrap();
        r.answer(61, methods, &[int(i as i64 + 1), answer_7]);
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(7)));
        r.answer(61, methods, &[int(i as i64 + 1), old]);
        for round in 0..3 {
            assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10 - 8 * round.min(1))));
            assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
        }
        // a become: b, one way: `a` now leads to b, which the sends see and store into.
        let b = r.array(&[int(30)]);
        let from = r.array(&[a]);
        let to = r.array(&[b]);
        r.answer(72, from, &[to]);
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(30)));
        let at_2 = [112, 119, 192, 124];
        assert_eq!(r.run(a, &[], 0, &at_2), Ok(bar));
        assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
        assert_eq!(r.image.read(b, 0).unwrap(), int(2));
    }

    #[test]
    fn bytes_and_words_hold_only_what_fits() {
        let mut r = Run::new();
        let s = r.string("abc");
        assert_eq!(r.answer(62, s, &[]), int(3));
        assert_eq!(r.answer(60, s, &[int(2)]), int(98));
        assert_eq!(r.answer(61, s, &[int(1), int(65)]), int(65));
        r.fails(61, s, &[int(1), int(256)]);
        r.fails(61, s, &[int(1), int(-1)]);
        assert_eq!(r.image.bytes(s).unwrap(), b"Abc");
        let words_class = r.t.k.word_array;
        let w = r.image.new_words(words_class, &[5, u32::MAX]).unwrap();
        r.image.set_language_format(w, 6).unwrap();
        assert_eq!(r.answer(60, w, &[int(1)]), int(5));
        // A word past the 31 bits is a LargePositiveInteger, as the real VM answers it (a
        // Float's low word, say), and one of at most 4 bytes stores back.
        let big = r.answer(60, w, &[int(2)]);
        assert_eq!(r.image.class_of(big).unwrap(), r.t.large_positive);
        assert_eq!(r.image.bytes(big).unwrap(), [255; 4]);
        assert_eq!(r.answer(61, w, &[int(2), int(7)]), int(7));
        r.fails(61, w, &[int(2), int(-7)]);
        assert_eq!(r.image.read_word(w, 1).unwrap(), 7);
        assert_eq!(r.answer(61, w, &[int(2), big]), big);
        assert_eq!(r.image.read_word(w, 1).unwrap(), u32::MAX);
        let five = r
            .image
            .new_bytes(r.t.large_positive, &[1, 0, 0, 0, 1])
            .unwrap();
        r.fails(61, w, &[int(2), five]);
    }

    #[test]
    fn strings_answer_and_take_characters() {
        let mut r = Run::new();
        let s = r.string("abc");
        let b = r.character(b'b');
        let z = r.character(b'z');
        assert_eq!(r.answer(63, s, &[int(2)]), b);
        assert_eq!(r.answer(64, s, &[int(3), z]), z);
        assert_eq!(r.image.bytes(s).unwrap(), b"abz");
        r.fails(64, s, &[int(1), int(65)]);
        r.fails(63, s, &[int(4)]);
        let a = r.array(&[int(1)]);
        r.fails(63, a, &[int(1)]);
        r.fails(64, a, &[int(1), z]);
    }

    #[test]
    fn a_compiled_method_is_bytes_after_its_header_and_literals() {
        let mut r = Run::new();
        let m = r.method(&[int(42)], 0, 0, 0, &[32, 124]);
        // Header and one literal: 8 bytes, then the two bytecodes.
        assert_eq!(r.answer(62, m, &[]), int(10));
        assert_eq!(r.answer(60, m, &[int(9)]), int(32));
        assert_eq!(r.answer(60, m, &[int(10)]), int(124));
        // The header's bytes as a little-endian real VM reads them (`endPC` of a method
        // without bytecodes looks there), and a SmallInteger literal's; writing them fails.
        let header = r.image.read(m, 0).unwrap().as_small_int().unwrap();
        let oop = ((header << 1) | 1) as u32;
        for i in 0..4 {
            let byte = int(((oop >> (8 * i)) & 0xFF) as i64);
            assert_eq!(r.answer(60, m, &[int(i + 1)]), byte, "header byte {i}");
        }
        assert_eq!(r.answer(60, m, &[int(5)]), int(85));
        assert_eq!(r.answer(60, m, &[int(6)]), int(0));
        r.fails(61, m, &[int(1), int(0)]);
        let reference = r.method(&[r.t.pair], 0, 0, 0, &[32, 124]);
        r.fails(60, reference, &[int(5)]);
        r.answer(61, m, &[int(9), int(33)]);
        assert_eq!(r.image.bytes(m).unwrap(), [33, 124]);
        // objectAt: 1 is the header, 2 the first literal.
        let header = r.image.read(m, 0).unwrap();
        assert_eq!(r.answer(68, m, &[int(1)]), header);
        assert_eq!(r.answer(68, m, &[int(2)]), int(42));
        r.fails(68, m, &[int(3)]);
        assert_eq!(r.answer(69, m, &[int(2), int(43)]), int(43));
        assert_eq!(r.image.read(m, 1).unwrap(), int(43));
        let nil = r.nil();
        r.fails(69, m, &[int(1), nil]);
        let a = r.array(&[int(1)]);
        r.fails(68, a, &[int(1)]);
    }

    #[test]
    fn replace_copies_between_objects_of_one_kind() {
        let mut r = Run::new();
        let dst = r.array(&[int(0); 5]);
        let src = r.array(&[int(1), int(2), int(3), int(4)]);
        assert_eq!(
            r.prim(105, dst, &[int(2), int(4), src, int(2)]),
            Ok(Out::Answer(dst))
        );
        let got: Vec<_> = (0..5).map(|i| r.image.read(dst, i).unwrap()).collect();
        assert_eq!(got, [int(0), int(2), int(3), int(4), int(0)]);
        let s = r.string("hello");
        let t = r.string("JEL");
        r.answer(105, s, &[int(1), int(3), t, int(1)]);
        assert_eq!(r.image.bytes(s).unwrap(), b"JELlo");
        // Out of range, or of different kinds: fail.
        r.fails(105, dst, &[int(4), int(6), src, int(1)]);
        r.fails(105, dst, &[int(1), int(4), src, int(2)]);
        r.fails(105, s, &[int(1), int(2), src, int(1)]);
    }
}
