//! The byte-string primitives Squeak 2.2 numbers (the ancestors of MiscPrimitivePlugin's):
//! the collated compare behind every String `=` (235), a translation in place through a
//! table behind `asLowercase` (243), and the search for a byte behind
//! `indexOf:` (245). The real VM runs them as C loops over the bytes; without them each ran
//! its fallback's Smalltalk loop, about ten bytecodes and several sends a character. Each
//! fails, so that the fallback speaks, wherever the real VM's C would read or write past an
//! object (it checks nothing but that the strings are bytes), and before it changes anything.

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{int, Exec};
use cowheap::{Format, Value};

/// Primitive 235, `compare: string1 with: string2 collated: order`, which String's `compare:`
/// (and so every String `=`, `<` and `>` of Squeak 2.2) sends, as the real VM runs it
/// (`primStringcomparewithcollated`): 1, 2 or 3 as `string1` sorts before, with or after
/// `string2`, each byte compared through `order`, a table of a byte for each byte value, and a
/// shorter string first where one is the other's start. The receiver is not looked at. Fails,
/// so that the fallback's loop speaks, unless all three are bytes objects (a CompiledMethod is
/// not) and `order` has an entry for every byte it is asked for (the real VM's C would read
/// past it). Without it every String `=` ran that loop, about 15 sends a character.
pub(crate) fn compare_collated(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (a, b, order) = (x.arg(c.ri, 0), x.arg(c.ri, 1), x.arg(c.ri, 2));
    let (Some(la), Some(lb), Some(lo)) =
        (byte_count(x, a)?, byte_count(x, b)?, byte_count(x, order)?)
    else {
        return Ok(Prim::Fail);
    };
    x.charge(la.min(lb) as u64)?;
    for i in 0..la.min(lb) {
        let (p, q) = (byte(x, a, i)? as usize, byte(x, b, i)? as usize);
        if p >= lo || q >= lo {
            return Ok(Prim::Fail);
        }
        let (p, q) = (byte(x, order, p)?, byte(x, order, q)?);
        if p != q {
            return Ok(Prim::Answer(int(if p < q { 1 } else { 3 })));
        }
    }
    Ok(Prim::Answer(int(match la.cmp(&lb) {
        std::cmp::Ordering::Less => 1,
        std::cmp::Ordering::Equal => 2,
        std::cmp::Ordering::Greater => 3,
    })))
}

/// How many bytes `v` holds if it is a bytes object (not a method), else `None`.
fn byte_count(x: &mut Exec<'_>, v: Value) -> Result<Option<usize>, RunError> {
    Ok(x.indexable(v)?
        .filter(|ix| ix.shape.format == Format::Bytes)
        .map(|ix| ix.size()))
}

/// Byte `i` of the bytes object `v`, in range.
fn byte(x: &Exec<'_>, v: Value, i: usize) -> Result<u8, RunError> {
    Ok(x.image.read_byte(v, i)?)
}

/// Primitive 243, `String translate: aString from: start to: stop table: table`: each byte of
/// `aString` from `start` to `stop` replaced, in place, by the byte of `table` it indexes
/// (`asLowercase` runs it over a copy). Answers the receiver, as the method's fallback does.
/// Fails unless `aString` and `table` are bytes objects, `start..=stop` lies within `aString`
/// (or is empty) and `table` has an entry for every byte in it (for every byte value where
/// it is the string itself). Byte by byte, as the real VM's loop: each read sees the writes
/// before it.
pub(crate) fn translate(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (s, table) = (x.arg(c.ri, 0), x.arg(c.ri, 3));
    let (Some(start), Some(stop)) = (x.arg(c.ri, 1).as_small_int(), x.arg(c.ri, 2).as_small_int())
    else {
        return Ok(Prim::Fail);
    };
    let (Some(len), Some(lt)) = (byte_count(x, s)?, byte_count(x, table)?) else {
        return Ok(Prim::Fail);
    };
    if start > stop {
        return Ok(Prim::Answer(x.stack[c.ri]));
    }
    if start < 1 || stop as u64 > len as u64 {
        return Ok(Prim::Fail);
    }
    let range = start as usize - 1..stop as usize;
    x.charge(range.len() as u64)?;
    // Every byte checked first, so that a failure changes nothing. A table that is the string
    // itself changes under the loop (the real VM's reads see its writes, as here), so it must
    // map every byte value.
    for i in range.clone() {
        if byte(x, s, i)? as usize >= lt {
            return Ok(Prim::Fail);
        }
    }
    if lt < 256 && x.identical(s, table)? {
        return Ok(Prim::Fail);
    }
    for i in range {
        let b = byte(x, table, byte(x, s, i)? as usize)?;
        x.image.write_byte(s, i, b)?;
    }
    Ok(Prim::Answer(x.stack[c.ri]))
}

/// Primitive 245, `String indexOfAscii: anInteger inString: aString startingAt: start`: the
/// first index from `start` on whose byte is `anInteger`, or 0 (`indexOf:` of a Character).
/// Fails unless `aString` is a bytes object and `start` at least 1.
pub(crate) fn index_of_ascii(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (Some(wanted), s, Some(start)) = (
        x.arg(c.ri, 0).as_small_int(),
        x.arg(c.ri, 1),
        x.arg(c.ri, 2).as_small_int(),
    ) else {
        return Ok(Prim::Fail);
    };
    let Some(len) = byte_count(x, s)? else {
        return Ok(Prim::Fail);
    };
    if start < 1 {
        return Ok(Prim::Fail);
    }
    let first = (start as usize - 1).min(len);
    x.charge((len - first) as u64)?;
    for i in first..len {
        if byte(x, s, i)? as i64 == wanted {
            return Ok(Prim::Answer(int(i as i64 + 1)));
        }
    }
    Ok(Prim::Answer(int(0)))
}
