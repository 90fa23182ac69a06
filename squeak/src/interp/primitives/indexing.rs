//! Indexing: `at:` (60), `at:put:` (61), `size` (62), String `at:`/`at:put:` with Characters
//! from the character table (63, 64), CompiledMethod `objectAt:`/`objectAt:put:` (68, 69:
//! the header and literals), and `replaceFrom:to:with:startingAt:` (105) between objects of
//! one kind.

use super::common::{answer, element, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{int, Exec};
use cowheap::Format;

/// Primitive 60, `at:`.
#[inline]
pub(crate) fn at(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(Prim::Fail);
    };
    let Some(i) = element(x.arg(c.ri, 0), ix.size()) else {
        return Ok(Prim::Fail);
    };
    answer(x.at(rcvr, &ix, i)?)
}

/// Primitive 61, `at:put:`.
#[inline]
pub(crate) fn at_put(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let Some(ix) = x.indexable(rcvr)? else {
        return Ok(Prim::Fail);
    };
    let Some(i) = element(x.arg(c.ri, 0), ix.size()) else {
        return Ok(Prim::Fail);
    };
    let v = x.arg(c.ri, 1);
    let stored = x.at_put(rcvr, &ix, i, v)?;
    answer(stored.then_some(v))
}

/// Primitive 62, `size`: the indexable elements (0 for a pointers object without any).
pub(crate) fn size(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    match x.indexable(rcvr)? {
        Some(ix) => answer(Some(int(ix.size() as i64))),
        None if rcvr.is_object() && x.image.format_of(rcvr)? == Format::Pointers => {
            answer(Some(int(0)))
        }
        None => Ok(Prim::Fail),
    }
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
    if ix.shape.format != Format::Bytes || !v.is_object() || x.class_of(v)? != x.sh.character {
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
    let values = (0..count)
        .map(|k| x.at(repl, &src, rs + k))
        .collect::<Result<Option<Vec<_>>, _>>()?;
    let Some(values) = values else {
        return Ok(Prim::Fail);
    };
    for (k, v) in values.into_iter().enumerate() {
        if !x.at_put(rcvr, &dst, start + k, v)? {
            return Ok(Prim::Fail);
        }
    }
    Ok(Prim::Answer(rcvr))
}
