//! Streams: `next` (65), `nextPut:` (66) and `atEnd` (67) of a PositionableStream, whose
//! first fields are its collection, position, read limit and (a WriteStream's) write limit.
//!
//! Squeak 2.2's methods that carry them (`ReadStream>>next`, `ReadWriteStream>>next`,
//! `WriteStream>>nextPut:`, `PositionableStream>>atEnd`) say in their fallbacks what they do,
//! and each primitive here does exactly that, or fails before changing anything so that the
//! fallback runs instead (at the end of the stream it always fails: the fallbacks of later
//! images handle the end in their own ways):
//!
//! - `next`: `position >= readLimit ifTrue: [^ nil]. ^ collection at: (position _ position + 1)`
//! - `nextPut: anObject`: `position = writeLimit ifTrue: [^ self pastEndPut: anObject].
//!   position _ position + 1. ^ collection at: position put: anObject`
//! - `atEnd`: `^ position >= readLimit`
//!
//! The collection's `at:` or `at:put:` is the method its class finds for it, run here only
//! where that method is one of the indexing primitives (60, 63; 61, 64), whose code is then
//! the same function the send would run; any other, and any operand that is not a
//! SmallInteger where the fallback compares or adds, fails. The real VM's versions are
//! narrower (they answer only for a collection in its `at:` cache), so where both answer they
//! answer alike. Without them every character a WriteStream took (and so every
//! `printString`) ran the fallback's five bytecodes and a send of `at:put:`.

use super::common::{Call, Prim};
use super::indexing;
use crate::interp::limits::RunError;
use crate::interp::state::{int_in_range, Exec};
use cowheap::Value;

const COLLECTION: usize = 0;
const POSITION: usize = 1;
const READ_LIMIT: usize = 2;
const WRITE_LIMIT: usize = 3;

/// The special selectors' `at:` and `at:put:` (bytecodes 192 and 193).
const AT: usize = 192 - 176;
const AT_PUT: usize = 193 - 176;

impl Exec<'_> {
    /// The position and the limit in field `limit` of `stream`, where both are SmallIntegers
    /// read without following anything; `None` fails the primitive.
    fn position_and_limit(&self, stream: Value, limit: usize) -> Option<(i64, i64)> {
        let position = self.image.read_fast(stream, POSITION)?.as_small_int()?;
        Some((
            position,
            self.image.read_fast(stream, limit)?.as_small_int()?,
        ))
    }

    /// `stream`'s collection and its position advanced by one, where it is short of the
    /// limit in field `limit` (at or past it, the fallback speaks); `None` fails.
    fn advance(&self, stream: Value, limit: usize) -> Option<(Value, Value)> {
        let (position, limit) = self.position_and_limit(stream, limit)?;
        if position >= limit {
            return None;
        }
        Some((
            self.image.read_fast(stream, COLLECTION)?,
            int_in_range(position + 1)?,
        ))
    }

    /// The primitive of the method `collection` runs for the special selector `which`.
    fn indexing_primitive(
        &mut self,
        collection: Value,
        which: usize,
    ) -> Result<Option<u16>, RunError> {
        let class = self.class_of(collection)?;
        let selector = self.sh.special_selectors[which].0;
        Ok(self
            .cache
            .lookup(self.image, self.sh, class, selector)?
            .map(|m| m.primitive))
    }
}

/// Primitive 65, `next`. At the end the fallback answers (nil in Squeak 2.2; later images'
/// `pastEnd` may signal instead).
pub(crate) fn next(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    Ok(match next_value(x, x.stack[c.ri])? {
        Some(v) => Prim::Answer(v),
        None => Prim::Fail,
    })
}

/// Primitive 65 on values, not the stack (for the dispatch loop's send as well): the
/// element answered, or `None` where the primitive fails.
pub(crate) fn next_value(x: &mut Exec<'_>, stream: Value) -> Result<Option<Value>, RunError> {
    let Some((collection, p)) = x.advance(stream, READ_LIMIT) else {
        return Ok(None);
    };
    let v = match x.indexing_primitive(collection, AT)? {
        Some(60) => indexing::at_value(x, collection, p)?,
        Some(63) => match indexing::string_at_value(x, collection, p) {
            Some(v) => Some(v),
            None => indexing::string_at_full(x, collection, p)?,
        },
        _ => None,
    };
    if v.is_some() {
        x.store(stream, POSITION, p)?;
    }
    Ok(v)
}

/// Primitive 66, `nextPut:`. `pastEndPut:` is the fallback's; so is a position past the
/// limit, which 2.2's `=` lets through to `at:put:` and later images' `>=` do not.
pub(crate) fn next_put(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    Ok(match next_put_value(x, x.stack[c.ri], x.arg(c.ri, 0))? {
        Some(v) => Prim::Answer(v),
        None => Prim::Fail,
    })
}

/// Primitive 66 on values, as [`next_value`]: `v`, stored, or `None` where the primitive
/// fails (nothing changed).
pub(crate) fn next_put_value(
    x: &mut Exec<'_>,
    stream: Value,
    v: Value,
) -> Result<Option<Value>, RunError> {
    let Some((collection, p)) = x.advance(stream, WRITE_LIMIT) else {
        return Ok(None);
    };
    let stored = match x.indexing_primitive(collection, AT_PUT)? {
        Some(61) => indexing::at_put_value(x, collection, p, v)?,
        Some(64) => {
            indexing::string_at_put_value(x, collection, p, v)
                || indexing::string_at_put_full(x, collection, p, v)?
        }
        _ => false,
    };
    if !stored {
        return Ok(None);
    }
    x.store(stream, POSITION, p)?;
    Ok(Some(v))
}

/// Primitive 67, `atEnd`.
pub(crate) fn at_end(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    Ok(match x.position_and_limit(x.stack[c.ri], READ_LIMIT) {
        Some((p, limit)) => Prim::Answer(x.boolean(p >= limit)),
        None => Prim::Fail,
    })
}
