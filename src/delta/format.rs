//! The delta file's layout, and the checks that need no base.
//!
//! All integers are little-endian.
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `COWDELTA` |
//! | 4 | format version (1) |
//! | 4 | flags (0) |
//! | 16 | the base's content hash |
//! | 8 | the base's arena length in words (a second, cheap identity check) |
//! | 4 | the image's identity-hash generator state (so later allocations hash as they would have) |
//! | 4 | reserved (0) |
//! | 8 | W: private words |
//! | 8 | F: forwarded private objects (their extents follow the words) |
//! | 8 | R: entries (this image's targets for base objects) |
//! | 8 | O: root overrides |
//! | 8 W | the private space, word for word, references re-encoded (below) |
//! | 8 F | the extent in words of each private object forwarded by `become_forward`, in space order |
//! | varints | per entry, by ascending base index: the base word index's distance from the previous entry's (from 0 for the first), then the target as a location (`index << 1 \| private`); both LEB128 |
//! | per root | name length (4), UTF-8 name, value (8) |
//! | 8 | XXH3-64 of every byte before it |
//!
//! The private space is saved word for word, so a private reference's word index is already
//! position-independent; only its owner field is process-specific. References are written with
//! owner 0 for the base and 1 for the image's own space, and get the resumed image's owners
//! back when read. Immediates are written as they are. An unforwarded object's extent is in its
//! header; a forwarded one's header is its target, so its extent is listed apart, and its dead
//! class and body are written as zeros.
//!
//! The counts bound the file: W is at most 2^32 - 1 (a space's limit), F at most W / 2 (every
//! object spans a header), R at most the base's object count (one entry per base object), O at
//! most [`MAX_ROOT_OVERRIDES`], and a root name at most [`MAX_ROOT_NAME_BYTES`]. So the header
//! alone says how long the file can be, and a reader stops there: a header that claims more
//! than these allow, or a stream that runs past its header's bound, is refused with the offset
//! of the count or of the byte where the stream outgrew it, and nothing is allocated for a
//! claim before its bytes arrive.

#![forbid(unsafe_code)]

use super::DeltaError;
use crate::object::{HEADER_WORDS, MAX_HASH};
use crate::value::INDEX_MASK;
use crate::BaseHash;
use crate::Value;

pub(crate) const MAGIC: [u8; 8] = *b"COWDELTA";
/// The delta format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const HEADER_BYTES: usize = 80;
pub(crate) const TRAILER_BYTES: usize = 8;
/// The file owner of base references.
pub(crate) const FILE_BASE: u32 = 0;
/// The file owner of the image's own references.
pub(crate) const FILE_PRIVATE: u32 = 1;

pub(crate) const VERSION_AT: usize = 8;
pub(crate) const FLAGS_AT: usize = 12;
pub(crate) const HASH_AT: usize = 16;
pub(crate) const BASE_WORDS_AT: usize = 32;
pub(crate) const NEXT_HASH_AT: usize = 40;
pub(crate) const RESERVED_AT: usize = 44;
pub(crate) const COUNTS_AT: usize = 48;

/// The trailer: XXH3-64 of every byte before it. Public so that tests and tools can build
/// deltas whose damage lies behind a valid checksum.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// A delta cut where a host compares two of them (`cowheap serve` answers an evaluation that
/// only allocated without saving it again): what an evaluation that only appends objects to
/// the private space leaves as it was, and the private words, which it extends.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The header less the identity-hash generator, the reserved word and W: the format, the
    /// base, and the counts of forwarded objects, entries and root overrides.
    pub fixed: [&'a [u8]; 2],
    /// The W private words.
    pub words: &'a [u8],
    /// What follows the words, less the trailer: extents, entries, root overrides.
    pub rest: &'a [u8],
}

/// `delta` in [`Parts`]; `None` for another format version, or bytes too short for what
/// their header says. Checks nothing else: the caller compares parts of deltas it wrote.
pub fn parts(delta: &[u8]) -> Option<Parts<'_>> {
    if delta.get(VERSION_AT..VERSION_AT + 4)? != FORMAT_VERSION.to_le_bytes() {
        return None;
    }
    let w = u64::from_le_bytes(delta.get(COUNTS_AT..COUNTS_AT + 8)?.try_into().ok()?);
    let end = HEADER_BYTES.checked_add(usize::try_from(w).ok()?.checked_mul(8)?)?;
    Some(Parts {
        fixed: [
            delta.get(..NEXT_HASH_AT)?,
            delta.get(COUNTS_AT + 8..HEADER_BYTES)?,
        ],
        words: delta.get(HEADER_BYTES..end)?,
        rest: delta.get(end..delta.len().checked_sub(TRAILER_BYTES)?)?,
    })
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn corrupt(offset: usize, reason: &'static str) -> DeltaError {
    DeltaError::Corrupt {
        offset: offset as u64,
        reason,
    }
}

fn truncated(offset: usize, what: &'static str) -> DeltaError {
    DeltaError::Truncated {
        offset: offset as u64,
        what,
    }
}

/// A reference in the file: which space, and the word index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileRef {
    Base(usize),
    Private(usize),
}

/// Checks a value word's encoding: an immediate the API could have made, or a reference with
/// one of the two file owners.
pub(crate) fn decode_value(bits: u64) -> Result<Option<FileRef>, &'static str> {
    let v = Value::from_bits(bits);
    if v.as_small_int().is_some() {
        return Ok(None);
    }
    if bits & 0b111 == 0b010 {
        return match u32::try_from(bits >> 3).ok().and_then(char::from_u32) {
            Some(_) => Ok(None),
            None => Err("a Character that is no Unicode scalar"),
        };
    }
    if !v.is_object() {
        return Err("a value with an unknown tag");
    }
    match v.owner() {
        FILE_BASE => Ok(Some(FileRef::Base(v.index()))),
        FILE_PRIVATE => Ok(Some(FileRef::Private(v.index()))),
        _ => Err("a reference with an unknown owner"),
    }
}

/// A delta read into memory, its sections located and its counts checked against its length
/// and its checksum, but nothing in it trusted yet.
pub(crate) struct Parsed<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) base_hash: BaseHash,
    pub(crate) base_words: u64,
    pub(crate) next_hash: u32,
    pub(crate) words_at: usize,
    pub(crate) word_count: usize,
    pub(crate) extents_at: usize,
    pub(crate) extent_count: usize,
    pub(crate) entry_count: usize,
    /// Per entry: its offset, base word index and encoded target, decoded while framing.
    pub(crate) entries: Vec<(usize, u64, u64)>,
    /// Name, value bits, and the value's offset.
    pub(crate) roots: Vec<(String, u64, usize)>,
}

impl Parsed<'_> {
    pub(crate) fn word(&self, i: usize) -> u64 {
        le64(self.bytes, self.words_at + 8 * i)
    }

    /// The private words, all of them (`parse` checked they are in the file).
    pub(crate) fn words(&self) -> Vec<u64> {
        let end = self.words_at + 8 * self.word_count;
        let mut words = Vec::with_capacity(self.word_count);
        words.extend(self.bytes[self.words_at..end].chunks_exact(8).map(|c| {
            let mut b = [0; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        }));
        words
    }

    pub(crate) fn word_at(&self, i: usize) -> usize {
        self.words_at + 8 * i
    }

    pub(crate) fn extent(&self, i: usize) -> u64 {
        le64(self.bytes, self.extents_at + 8 * i)
    }

    /// Entry `i`: its offset, base word index and encoded target.
    pub(crate) fn entry(&self, i: usize) -> (usize, u64, u64) {
        self.entries[i]
    }
}

/// Reads a count and the size of its section, refusing any that cannot fit what is left.
fn section(
    bytes: &[u8],
    count_at: usize,
    at: usize,
    each: u64,
    limit: u64,
    what: &'static str,
) -> Result<(usize, usize), DeltaError> {
    let count = le64(bytes, count_at);
    if count > limit {
        return Err(corrupt(count_at, what));
    }
    let size = count
        .checked_mul(each)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| corrupt(count_at, what))?;
    let end = at
        .checked_add(size)
        .ok_or_else(|| corrupt(count_at, what))?;
    if end > bytes.len() {
        return Err(truncated(at, what));
    }
    // `count <= limit <= 2^32`, so it fits a usize on every platform this crate builds for.
    let count = usize::try_from(count).map_err(|_| corrupt(count_at, what))?;
    Ok((count, end))
}

/// The longest root name a delta holds, in bytes. Smalltalk globals are short; the limit is
/// what lets a reader bound a delta's length by its header alone (see the module's
/// documentation), and saving an image with a longer root name is refused rather than writing
/// a delta no reader would take.
pub const MAX_ROOT_NAME_BYTES: usize = 4096;
/// The most root overrides a delta holds, for the same reason as [`MAX_ROOT_NAME_BYTES`].
pub const MAX_ROOT_OVERRIDES: u64 = 1 << 20;
/// An entry is two LEB128 varints, each at most 10 bytes (the longest the reader accepts).
const MAX_ENTRY_BYTES: u64 = 20;
/// A root: its name length, its name and its value.
const MAX_ROOT_BYTES: u64 = 4 + MAX_ROOT_NAME_BYTES as u64 + 8;

/// The base a delta is read for, where it is known: its content hash and its object count.
#[derive(Clone, Copy)]
pub(crate) struct ForBase {
    pub(crate) hash: BaseHash,
    pub(crate) objects: u64,
}

/// Checks the fixed header (`header` holds at least [`HEADER_BYTES`]): magic, version, flags,
/// the hash generator state, the base's hash where the base is known, and every count against
/// what a space, the base and the format allow (an image has at most one entry per base
/// object). Answers the longest file these counts allow, so that a reader can stop reading
/// there: a header's claim never makes it allocate, and a stream longer than its header says
/// is refused at the byte where it outgrows it. A delta over another base is refused here,
/// from its header, before the rest is read.
pub(crate) fn max_len(header: &[u8], base: Option<ForBase>) -> Result<u64, DeltaError> {
    if header[..MAGIC.len()] != MAGIC {
        return Err(DeltaError::BadMagic);
    }
    let version = le32(header, VERSION_AT);
    if version != FORMAT_VERSION {
        return Err(DeltaError::UnsupportedVersion {
            offset: VERSION_AT as u64,
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if le32(header, FLAGS_AT) != 0 {
        return Err(corrupt(FLAGS_AT, "unknown flags"));
    }
    if le32(header, RESERVED_AT) != 0 {
        return Err(corrupt(RESERVED_AT, "a reserved field is not zero"));
    }
    if le32(header, NEXT_HASH_AT) > MAX_HASH {
        return Err(corrupt(
            NEXT_HASH_AT,
            "the hash generator state is out of range",
        ));
    }
    let mut found = [0; 16];
    found.copy_from_slice(&header[HASH_AT..HASH_AT + 16]);
    if let Some(base) = base {
        if BaseHash(found) != base.hash {
            return Err(DeltaError::WrongBase {
                offset: HASH_AT as u64,
                expected: base.hash,
                found: BaseHash(found),
            });
        }
    }
    let words = le64(header, COUNTS_AT);
    let extents = le64(header, COUNTS_AT + 8);
    let entries = le64(header, COUNTS_AT + 16);
    let roots = le64(header, COUNTS_AT + 24);
    // A space holds at most 2^32 - 1 words (every index must fit a reference).
    if words > INDEX_MASK {
        return Err(corrupt(
            COUNTS_AT,
            "more private words than a space can hold",
        ));
    }
    // Every forwarded object spans at least a header.
    if extents > words / HEADER_WORDS as u64 {
        return Err(corrupt(
            COUNTS_AT + 8,
            "more forwarded objects than the private words can hold",
        ));
    }
    if let Some(base) = base {
        if entries > base.objects {
            return Err(corrupt(
                COUNTS_AT + 16,
                "more entries than the base has objects",
            ));
        }
    }
    if entries > u64::from(u32::MAX) {
        return Err(corrupt(COUNTS_AT + 16, "more entries than a base can have"));
    }
    if roots > MAX_ROOT_OVERRIDES {
        return Err(corrupt(
            COUNTS_AT + 24,
            "more root overrides than a delta may hold",
        ));
    }
    // Each term is below 2^40, so the sum cannot overflow.
    Ok(HEADER_BYTES as u64
        + 8 * words
        + 8 * extents
        + MAX_ENTRY_BYTES * entries
        + MAX_ROOT_BYTES * roots
        + TRAILER_BYTES as u64)
}

/// Reads a delta from a stream, never more than its header allows (see [`max_len`]): memory
/// grows with the bytes that arrive, never with what a header claims, and a stream that goes
/// on past its header's bound is refused there instead of being read to its end.
pub(crate) fn read_bounded(
    mut input: impl std::io::Read,
    base: Option<ForBase>,
) -> Result<Vec<u8>, DeltaError> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(HEADER_BYTES);
    (&mut input)
        .take(HEADER_BYTES as u64)
        .read_to_end(&mut bytes)?;
    if bytes.len() < HEADER_BYTES {
        // Too short for a header: `parse` says why, at the right offset.
        return Ok(bytes);
    }
    let max = max_len(&bytes, base)?;
    // `Take` has no size hint for `read_to_end` to trust: the vector grows as bytes arrive.
    input
        .take(max + 1 - HEADER_BYTES as u64)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(DeltaError::Corrupt {
            offset: max,
            reason: "the delta runs past the longest its header allows",
        });
    }
    Ok(bytes)
}

/// Locates every section and checks the framing: magic, version, flags, counts, lengths and
/// the checksum. Allocates nothing in proportion to a count before the bytes for it are known
/// to be there. `base` is the base where it is known, as for [`max_len`], so that bytes in
/// memory and a stream get the same answer.
pub(crate) fn parse(bytes: &[u8], base: Option<ForBase>) -> Result<Parsed<'_>, DeltaError> {
    if bytes.len() < MAGIC.len() {
        return Err(truncated(0, "the magic number"));
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(DeltaError::BadMagic);
    }
    if bytes.len() < HEADER_BYTES {
        return Err(truncated(bytes.len().min(VERSION_AT), "the header"));
    }
    let max = max_len(bytes, base)?;
    if bytes.len() as u64 > max {
        return Err(DeltaError::Corrupt {
            offset: max,
            reason: "the delta runs past the longest its header allows",
        });
    }
    let mut hash = [0; 16];
    hash.copy_from_slice(&bytes[HASH_AT..HASH_AT + 16]);
    let next_hash = le32(bytes, NEXT_HASH_AT);
    // A space holds at most 2^32 - 1 words (every index must fit a reference).
    let (word_count, extents_at) = section(
        bytes,
        COUNTS_AT,
        HEADER_BYTES,
        8,
        INDEX_MASK,
        "the private words",
    )?;
    let (extent_count, entries_at) = section(
        bytes,
        COUNTS_AT + 8,
        extents_at,
        8,
        (word_count / HEADER_WORDS) as u64,
        "the forwarded objects' extents",
    )?;
    // Each entry takes at least two bytes: refuse a count the rest cannot hold before
    // allocating for it.
    let (entry_count, _) = section(
        bytes,
        COUNTS_AT + 16,
        entries_at,
        2,
        u64::from(u32::MAX),
        "the entries",
    )?;
    let mut entries = Vec::with_capacity(entry_count);
    let mut at = entries_at;
    let mut base = 0u64;
    for _ in 0..entry_count {
        let off = at;
        let (gap, next) = varint(bytes, at)?;
        let (target, next) = varint(bytes, next)?;
        base = base
            .checked_add(gap)
            .ok_or_else(|| corrupt(off, "an entry's base index overflows"))?;
        entries.push((off, base, target));
        at = next;
    }
    let roots_at = at;
    let root_count = le64(bytes, COUNTS_AT + 24);
    let mut roots = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut at = roots_at;
    for _ in 0..root_count {
        // Each root takes at least 12 bytes, so a huge count runs out of bytes here, after at
        // most `len / 12` turns, and allocates only what the bytes hold.
        if bytes.len() - at < 4 {
            return Err(truncated(at, "a root's name length"));
        }
        let len = le32(bytes, at) as usize;
        if len > MAX_ROOT_NAME_BYTES {
            return Err(corrupt(at, "a root's name is longer than a delta may hold"));
        }
        let name_at = at + 4;
        let value_at = name_at
            .checked_add(len)
            .ok_or_else(|| corrupt(at, "a root's name length"))?;
        if value_at.checked_add(8).is_none_or(|end| end > bytes.len()) {
            return Err(truncated(name_at, "a root"));
        }
        let name = std::str::from_utf8(&bytes[name_at..value_at])
            .map_err(|_| corrupt(name_at, "a root's name is not UTF-8"))?;
        // A set, not a scan of the roots so far: a million roots must not take 10^12 steps.
        if !names.insert(name) {
            return Err(corrupt(name_at, "a root is overridden twice"));
        }
        roots.push((name.to_owned(), le64(bytes, value_at), value_at));
        at = value_at + 8;
    }
    let checksum_at = at;
    match (bytes.len() - checksum_at).cmp(&TRAILER_BYTES) {
        std::cmp::Ordering::Less => return Err(truncated(checksum_at, "the checksum")),
        std::cmp::Ordering::Greater => {
            return Err(corrupt(
                checksum_at + TRAILER_BYTES,
                "bytes after the checksum",
            ))
        }
        std::cmp::Ordering::Equal => {}
    }
    if checksum(&bytes[..checksum_at]) != le64(bytes, checksum_at) {
        return Err(DeltaError::Checksum {
            offset: checksum_at as u64,
        });
    }
    Ok(Parsed {
        bytes,
        base_hash: BaseHash(hash),
        base_words: le64(bytes, BASE_WORDS_AT),
        next_hash,
        words_at: HEADER_BYTES,
        word_count,
        extents_at,
        extent_count,
        entry_count,
        entries,
        roots,
    })
}

/// Reads a LEB128 varint at `at`: its value and the offset after it. The writer uses the
/// shortest encoding, so a longer one (trailing zero groups) is damage, as is one past 64 bits.
pub(crate) fn varint(bytes: &[u8], at: usize) -> Result<(u64, usize), DeltaError> {
    let mut rest = bytes.get(at..).unwrap_or_default();
    let len = rest.len();
    let value = leb128::read::unsigned(&mut rest).map_err(|e| match e {
        leb128::read::Error::IoError(_) => truncated(at, "an entry"),
        leb128::read::Error::Overflow => corrupt(at, "a varint overflows 64 bits"),
    })?;
    let used = len - rest.len();
    let shortest = (64 - value.leading_zeros() as usize).div_ceil(7).max(1);
    if used != shortest {
        return Err(corrupt(at, "a varint with a redundant byte"));
    }
    Ok((value, at + used))
}

/// Appends `v` as a LEB128 varint.
pub(crate) fn put_varint(v: u64, out: &mut Vec<u8>) {
    leb128::write::unsigned(out, v).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_in_their_shortest_form() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = vec![0xAA];
            put_varint(v, &mut out);
            let shortest = (64 - v.leading_zeros() as usize).div_ceil(7).max(1);
            assert_eq!(out.len(), 1 + shortest, "{v}");
            assert_eq!(varint(&out, 1).unwrap(), (v, out.len()));
        }
    }

    #[test]
    fn damaged_varints_are_refused_at_their_start() {
        let refused = |bytes: &[u8]| varint(bytes, 1).unwrap_err().offset();
        // A redundant trailing zero group: 0 as two bytes, 1 as three.
        assert_eq!(refused(&[0, 0x80, 0x00]), Some(1));
        assert_eq!(refused(&[0, 0x81, 0x80, 0x00]), Some(1));
        // Past 64 bits: a tenth byte above 1.
        let mut long = vec![0];
        long.extend([0xFF; 9]);
        long.push(0x02);
        assert_eq!(refused(&long), Some(1));
        // Cut short.
        assert!(matches!(
            varint(&[0, 0x80], 1),
            Err(DeltaError::Truncated { offset: 1, .. })
        ));
        assert!(matches!(
            varint(&[0], 1),
            Err(DeltaError::Truncated { offset: 1, .. })
        ));
    }
}
