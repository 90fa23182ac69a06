//! The structural walk over a delta's private words: every object's header and extent
//! checked, in space order, before any reference in them is read (references may point
//! forward, so they are checked afterwards, against the starts this walk found).

#![forbid(unsafe_code)]

use super::format::{corrupt, Parsed};
use super::DeltaError;
use crate::object::{Format, Header, Loc, FORWARDED, HEADER_WORDS};
use crate::value::INDEX_MASK;

/// A private object as the structural walk found it.
#[derive(Clone, Copy)]
pub(crate) struct FileObject {
    pub(crate) at: usize,
    pub(crate) extent: usize,
    /// Its header, where it is not forwarded.
    pub(crate) header: Option<Header>,
}

impl FileObject {
    /// The word range holding values: its class, then its pointer fields or literals.
    pub(crate) fn value_words(&self, parsed: &Parsed<'_>) -> impl Iterator<Item = usize> {
        let at = self.at;
        let (first, n) = match self.header {
            None => (at, 0),
            Some(h) => match h.format() {
                Format::Pointers => (at + 1, 1 + h.body_words()),
                Format::Method => (at + 1, 2 + parsed.word(at + HEADER_WORDS) as usize),
                Format::Words | Format::Bytes => (at + 1, 1),
            },
        };
        // A method's literal count (at + 2) is not a value.
        let skip = self
            .header
            .is_some_and(|h| h.format() == Format::Method)
            .then_some(at + HEADER_WORDS);
        (first..first + n).filter(move |&i| Some(i) != skip)
    }
}

/// Checks an unforwarded header against the object sizes the allocator can make: a format's
/// padding, and a method's literal count inside its body. Everything later reads trusts these.
fn check_header(parsed: &Parsed<'_>, at: usize, h: Header) -> Result<(), DeltaError> {
    let off = parsed.word_at(at);
    let body = h.body_words();
    let pad = h.pad_bytes();
    let pad_ok = match h.format() {
        Format::Pointers => pad == 0,
        Format::Words => pad == 0 || pad == 4,
        Format::Bytes | Format::Method => true,
    };
    if !pad_ok || (body == 0 && pad != 0) {
        return Err(corrupt(off, "an object's padding does not fit its format"));
    }
    if at
        .checked_add(HEADER_WORDS + body)
        .is_none_or(|end| end > parsed.word_count)
    {
        return Err(corrupt(off, "an object runs past the private words"));
    }
    if h.format() == Format::Method {
        if body == 0 {
            return Err(corrupt(off, "a method without its literal count"));
        }
        let literals = parsed.word(at + HEADER_WORDS);
        if literals >= body as u64 || (1 + literals) * 8 > (body * 8 - pad) as u64 {
            return Err(corrupt(
                parsed.word_at(at + HEADER_WORDS),
                "a method's literal count does not fit its body",
            ));
        }
    }
    Ok(())
}

/// Decodes a forwarded private header's target.
pub(crate) fn forward_target(word: u64) -> Option<Loc> {
    let enc = word >> 1;
    ((enc >> 1) <= INDEX_MASK).then(|| Loc::decode(enc))
}

/// Walks the private words object by object, checking every header and extent, and answers the
/// objects and a bitmap of their starts. References are checked afterwards (they may point
/// forward).
pub(crate) fn walk(parsed: &Parsed<'_>) -> Result<(Vec<FileObject>, Vec<u64>), DeltaError> {
    let mut objects = Vec::new();
    let mut starts = vec![0u64; parsed.word_count.div_ceil(64)];
    let mut pos = 0;
    let mut forwarded = 0;
    while pos < parsed.word_count {
        let word = parsed.word(pos);
        let off = parsed.word_at(pos);
        let (extent, header) = if word & FORWARDED != 0 {
            if forwarded == parsed.extent_count {
                return Err(corrupt(off, "a forwarded object without an extent"));
            }
            let extent_at = parsed.extents_at + 8 * forwarded;
            let extent = parsed.extent(forwarded);
            forwarded += 1;
            if extent < HEADER_WORDS as u64 || extent > (parsed.word_count - pos) as u64 {
                return Err(corrupt(extent_at, "a forwarded object's extent"));
            }
            if forward_target(word).is_none() {
                return Err(corrupt(off, "a forwarded object's target"));
            }
            let extent = extent as usize;
            if (pos + 1..pos + extent).any(|i| parsed.word(i) != 0) {
                return Err(corrupt(off, "a forwarded object's dead words are not zero"));
            }
            (extent, None)
        } else {
            let h = Header(word);
            check_header(parsed, pos, h)?;
            (HEADER_WORDS + h.body_words(), Some(h))
        };
        starts[pos / 64] |= 1 << (pos % 64);
        objects.push(FileObject {
            at: pos,
            extent,
            header,
        });
        pos += extent;
    }
    if forwarded != parsed.extent_count {
        return Err(corrupt(
            parsed.extents_at + 8 * forwarded,
            "more extents than forwarded objects",
        ));
    }
    Ok((objects, starts))
}

pub(crate) fn is_start(starts: &[u64], at: usize) -> bool {
    starts
        .get(at / 64)
        .is_some_and(|bits| bits >> (at % 64) & 1 != 0)
}
