//! Object layout, shared by the sealed base arena and every image's private space.
//!
//! An object is `[header][class][body...]`, in 64-bit words, and is named by the index of its
//! header word. A base object's words never change after sealing: when some image diverges
//! from it, the arena's forwarding word for the object (kept beside it) points to a
//! conditional forwarder. So an image reads an object other images wrote as it reads one
//! nobody wrote. A private object's header word is replaced by a tagged target when its image
//! makes it `become` another (Spur's scheme).
//!
//! Header word, when bit 0 is clear:
//!
//! | bits | field |
//! |---|---|
//! | 0 | forwarded flag (0) |
//! | 1..3 | [`Format`] |
//! | 3..6 | unused trailing bytes of the last body word |
//! | 6..28 | identity hash (22 bits) |
//! | 28..32 | the Smalltalk format code (V3 0-15) the object had in its image file, 0 otherwise |
//! | 32..64 | body length in words |
//!
//! A compiled method's first body word is its literal count; literals follow, then bytecodes.

#![forbid(unsafe_code)]

use crate::Error;

pub(crate) use crate::kernel::header::FORWARDED;
/// The header bits that must all be clear for the read fast path: not forwarded, and the
/// Pointers format (code 0).
pub(crate) const FORWARDED_OR_NOT_POINTERS: u64 = FORWARDED | 0b110;
/// Words before the body: header and class.
pub(crate) const HEADER_WORDS: usize = 2;
/// The largest identity hash.
pub const MAX_HASH: u32 = (1 << 22) - 1;
/// The largest body, in 64-bit words.
pub(crate) const MAX_BODY_WORDS: usize = u32::MAX as usize;

/// What an object's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Format {
    /// Slots holding [`Value`](crate::Value)s.
    Pointers,
    /// Unsigned 32-bit words.
    Words,
    /// Bytes.
    Bytes,
    /// A compiled method: literal values, then bytecodes.
    Method,
}

impl Format {
    const fn code(self) -> u64 {
        match self {
            Format::Pointers => 0,
            Format::Words => 1,
            Format::Bytes => 2,
            Format::Method => 3,
        }
    }

    fn from_code(code: u64) -> Format {
        match code & 3 {
            0 => Format::Pointers,
            1 => Format::Words,
            2 => Format::Bytes,
            _ => Format::Method,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Pointers => "pointers",
            Format::Words => "words",
            Format::Bytes => "bytes",
            Format::Method => "method",
        })
    }
}

/// A set of [`Format`]s: what an access accepts, in [`Error::WrongFormat`]. A set, not one
/// format, because several accesses take two (`read` takes a pointers object or a method's
/// literals; the byte accesses a bytes object or a method's bytecodes), and a caller deciding
/// what to do next needs to test membership, not parse a message.
///
/// ```
/// use cowheap::{Format, Formats};
/// let slots = Formats::POINTERS | Formats::METHOD;
/// assert!(slots.contains(Format::Method));
/// assert!(!slots.contains(Format::Bytes));
/// assert_eq!(slots.to_string(), "pointers or method");
/// assert_eq!(slots.iter().collect::<Vec<_>>(), [Format::Pointers, Format::Method]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Formats(u8);

impl Formats {
    /// No format.
    pub const EMPTY: Formats = Formats(0);
    /// [`Format::Pointers`] alone.
    pub const POINTERS: Formats = Formats::of(Format::Pointers);
    /// [`Format::Words`] alone.
    pub const WORDS: Formats = Formats::of(Format::Words);
    /// [`Format::Bytes`] alone.
    pub const BYTES: Formats = Formats::of(Format::Bytes);
    /// [`Format::Method`] alone.
    pub const METHOD: Formats = Formats::of(Format::Method);
    /// What field accesses take: a pointers object's fields, or a method's literals.
    pub const SLOTS: Formats = Formats::POINTERS.union(Formats::METHOD);
    /// What byte accesses take: a bytes object, or a method's bytecodes.
    pub const BYTE_ADDRESSABLE: Formats = Formats::BYTES.union(Formats::METHOD);

    /// The set holding `format` alone.
    pub const fn of(format: Format) -> Formats {
        Formats(1 << format.code())
    }

    /// Both sets' formats.
    pub const fn union(self, other: Formats) -> Formats {
        Formats(self.0 | other.0)
    }

    /// True if `format` is in the set.
    pub const fn contains(self, format: Format) -> bool {
        self.0 & (1 << format.code()) != 0
    }

    /// True if the set holds no format.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The formats in the set, in [`Format`]'s declaration order.
    pub fn iter(self) -> impl Iterator<Item = Format> {
        [
            Format::Pointers,
            Format::Words,
            Format::Bytes,
            Format::Method,
        ]
        .into_iter()
        .filter(move |&f| self.contains(f))
    }
}

impl From<Format> for Formats {
    fn from(format: Format) -> Formats {
        Formats::of(format)
    }
}

impl std::ops::BitOr for Formats {
    type Output = Formats;
    fn bitor(self, other: Formats) -> Formats {
        self.union(other)
    }
}

impl std::ops::BitOr<Format> for Formats {
    type Output = Formats;
    fn bitor(self, other: Format) -> Formats {
        self.union(Formats::of(other))
    }
}

impl std::fmt::Debug for Formats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// "pointers or method"; "no format" for the empty set.
impl std::fmt::Display for Formats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no format");
        }
        for (i, format) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{format}")?;
        }
        Ok(())
    }
}

/// A decoded header word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header(pub(crate) u64);

impl Header {
    pub(crate) fn new(format: Format, hash: u32, body_words: usize, pad_bytes: usize) -> Header {
        debug_assert!(body_words <= MAX_BODY_WORDS && pad_bytes < 8);
        Header(
            (format.code() << 1)
                | ((pad_bytes as u64) << 3)
                | (((hash & MAX_HASH) as u64) << 6)
                | ((body_words as u64) << 32),
        )
    }

    #[inline]
    pub(crate) fn format(self) -> Format {
        Format::from_code(self.0 >> 1)
    }

    #[inline]
    pub(crate) fn pad_bytes(self) -> usize {
        ((self.0 >> 3) & 7) as usize
    }

    #[inline]
    pub(crate) fn hash(self) -> u32 {
        ((self.0 >> 6) as u32) & MAX_HASH
    }

    /// This header with its identity hash replaced (masked to [`MAX_HASH`]).
    #[inline]
    pub(crate) fn with_hash(self, hash: u32) -> Header {
        Header((self.0 & !((MAX_HASH as u64) << 6)) | (((hash & MAX_HASH) as u64) << 6))
    }

    #[inline]
    pub(crate) fn body_words(self) -> usize {
        (self.0 >> 32) as usize
    }

    /// The Smalltalk format code (V3: 0-4 pointers, 6 words, 8-11 bytes, 12-15 methods) that
    /// an interpreter needs to tell fixed fields from indexable ones; cowheap's own
    /// [`Format`] folds them together. Copies keep it, because they copy the header.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))] // the loader and the interpreter, not built under loom
    pub(crate) fn smalltalk_format(self) -> u8 {
        ((self.0 >> SMALLTALK_FORMAT_SHIFT) & 0xF) as u8
    }

    /// This header with its Smalltalk format code replaced.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn with_smalltalk_format(self, code: u8) -> Header {
        Header(
            (self.0 & !(0xF << SMALLTALK_FORMAT_SHIFT))
                | (((code & 0xF) as u64) << SMALLTALK_FORMAT_SHIFT),
        )
    }
}

/// Where [`Header::smalltalk_format`] lives: bits the identity hash and length leave unused.
#[cfg_attr(loom, allow(dead_code))]
const SMALLTALK_FORMAT_SHIFT: u32 = 28;

/// Body words needed for `len` elements of `format` (for methods, `len` is the bytecode count
/// and `literals` the literal count), with the unused trailing bytes.
pub(crate) fn body_size(
    format: Format,
    len: usize,
    literals: usize,
) -> Result<(usize, usize), Error> {
    let bytes = match format {
        Format::Pointers => len.checked_mul(8),
        Format::Words => len.checked_mul(4),
        Format::Bytes => Some(len),
        Format::Method => literals
            .checked_add(1)
            .and_then(|w| w.checked_mul(8))
            .and_then(|b| b.checked_add(len)),
    }
    .ok_or(Error::TooLarge)?;
    let words = bytes.div_ceil(8);
    if words > MAX_BODY_WORDS {
        return Err(Error::TooLarge);
    }
    Ok((words, words * 8 - bytes))
}

/// Where an object lives, as seen by one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// In the sealed base arena, at this word index.
    Base(usize),
    /// In the image's private space, at this word index.
    Private(usize),
}

impl Loc {
    /// Packs into 42 bits: `index << 1 | private`. Used by entries and by private
    /// objects forwarded with `become_forward`.
    #[inline]
    pub(crate) fn encode(self) -> u64 {
        match self {
            Loc::Base(i) => (i as u64) << 1,
            Loc::Private(i) => ((i as u64) << 1) | 1,
        }
    }

    #[inline]
    pub(crate) fn decode(bits: u64) -> Loc {
        let index = (bits >> 1) as usize;
        if bits & 1 == 0 {
            Loc::Base(index)
        } else {
            Loc::Private(index)
        }
    }
}

/// Where element `index` of a pointer-holding object sits in its body, or why it cannot be read.
/// `literal_count` is only consulted for methods.
#[inline]
pub(crate) fn slot_offset(
    header: Header,
    index: usize,
    literal_count: impl FnOnce() -> usize,
) -> Result<usize, Error> {
    let (first, len) = match header.format() {
        Format::Pointers => (0, header.body_words()),
        Format::Method => (1, literal_count()),
        other => {
            return Err(Error::WrongFormat {
                expected: Formats::SLOTS,
                actual: other,
            })
        }
    };
    if index < len {
        Ok(first + index)
    } else {
        Err(Error::IndexOutOfRange { index, len })
    }
}

/// The byte range of a byte-addressable body: bytes objects, and a method's bytecodes.
pub(crate) fn byte_span(
    header: Header,
    literal_count: impl FnOnce() -> usize,
) -> Result<(usize, usize), Error> {
    let total = header.body_words() * 8 - header.pad_bytes();
    match header.format() {
        Format::Bytes => Ok((0, total)),
        Format::Method => {
            let start = (1 + literal_count()) * 8;
            Ok((start, total.saturating_sub(start)))
        }
        other => Err(Error::WrongFormat {
            expected: Formats::BYTE_ADDRESSABLE,
            actual: other,
        }),
    }
}

/// The number of 32-bit words of a words object.
pub(crate) fn word_count(header: Header) -> Result<usize, Error> {
    match header.format() {
        Format::Words => Ok((header.body_words() * 8 - header.pad_bytes()) / 4),
        other => Err(Error::WrongFormat {
            expected: Formats::WORDS,
            actual: other,
        }),
    }
}

/// The element count users see: fields, 32-bit words, bytes, or a method's bytecodes.
pub(crate) fn element_count(header: Header, literal_count: impl FnOnce() -> usize) -> usize {
    match header.format() {
        Format::Pointers => header.body_words(),
        Format::Words => word_count(header).unwrap_or(0),
        Format::Bytes | Format::Method => byte_span(header, literal_count).map_or(0, |s| s.1),
    }
}

/// Reads byte `i` of a body laid out as little-endian words.
#[inline]
pub(crate) fn byte_of(word: u64, i: usize) -> u8 {
    (word >> ((i % 8) * 8)) as u8
}

#[inline]
pub(crate) fn with_byte(word: u64, i: usize, b: u8) -> u64 {
    let shift = (i % 8) * 8;
    (word & !(0xff << shift)) | ((b as u64) << shift)
}

/// Copies bytes `first..first + out.len()` of a body (byte `k` in word `k / 8`, numbered as
/// [`byte_of`] numbers them) into `out` a word at a time, where byte by byte cost a shift
/// and a bounds check each: `word(i)` answers word `i`.
pub(crate) fn bytes_out<E>(
    first: usize,
    out: &mut [u8],
    mut word: impl FnMut(usize) -> Result<u64, E>,
) -> Result<(), E> {
    let (mut k, mut rest) = (first, out);
    while !rest.is_empty() {
        let n = rest.len().min(8 - k % 8);
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(n);
        let le = word(k / 8)?.to_le_bytes();
        // A whole word is one store (a copy of a length the compiler knows).
        match <&mut [u8; 8]>::try_from(&mut *part) {
            Ok(whole) => *whole = le,
            Err(_) => part.copy_from_slice(&le[k % 8..k % 8 + n]),
        }
        (rest, k) = (tail, k + n);
    }
    Ok(())
}

/// Stores `bytes` as bytes `first..` of the body words `body` ([`bytes_out`]'s numbering) a
/// word at a time; `None`, and nothing stored, if the body is too short.
pub(crate) fn bytes_in(body: &mut [u64], first: usize, bytes: &[u8]) -> Option<()> {
    let end = first.checked_add(bytes.len())?;
    let words = body.get_mut(first / 8..end.div_ceil(8))?;
    let (mut k, mut rest) = (first, bytes);
    for w in words {
        let n = rest.len().min(8 - k % 8);
        let (part, tail) = rest.split_at(n);
        *w = match <[u8; 8]>::try_from(part) {
            Ok(whole) => u64::from_le_bytes(whole),
            Err(_) => {
                let mut le = w.to_le_bytes();
                le[k % 8..k % 8 + n].copy_from_slice(part);
                u64::from_le_bytes(le)
            }
        };
        (rest, k) = (tail, k + n);
    }
    Some(())
}

#[inline]
pub(crate) fn half_of(word: u64, i: usize) -> u32 {
    (word >> ((i % 2) * 32)) as u32
}

#[inline]
pub(crate) fn with_half(word: u64, i: usize, w: u32) -> u64 {
    let shift = (i % 2) * 32;
    (word & !(0xffff_ffff << shift)) | ((w as u64) << shift)
}

/// Whether `words` (an object's fields) hold `thing`: `Some(true)` at the first field that
/// is it; `None` at a field before it whose value is not `settled` (a reference a read would
/// follow, which may name `thing`'s object); `Some(false)` past the last. The scan of
/// `Image::points_to_fast` and `PlainHeap::points_to_fast`.
pub(crate) fn holds(
    words: impl IntoIterator<Item = u64>,
    thing: crate::Value,
    settled: impl Fn(crate::Value) -> bool,
) -> Option<bool> {
    for bits in words {
        let v = crate::Value::from_bits(bits);
        if v == thing {
            return Some(true);
        }
        if !settled(v) {
            return None;
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_move_a_word_at_a_time_as_byte_by_byte() {
        let body: Vec<u64> = (0..4u64).map(|i| 0x0807_0605_0403_0201 * (i + 1)).collect();
        for first in 0..=32 {
            for len in 0..=32 - first {
                let mut out = vec![0u8; len];
                assert_eq!(bytes_out::<()>(first, &mut out, |w| Ok(body[w])), Ok(()));
                let each: Vec<u8> = (first..first + len)
                    .map(|k| byte_of(body[k / 8], k))
                    .collect();
                assert_eq!(out, each, "out {first}+{len}");

                let bytes: Vec<u8> = (0..len as u8).map(|b| b ^ 0xa5).collect();
                let mut words = body.clone();
                assert_eq!(bytes_in(&mut words, first, &bytes), Some(()));
                let mut each = body.clone();
                for (k, &b) in (first..).zip(&bytes) {
                    each[k / 8] = with_byte(each[k / 8], k, b);
                }
                assert_eq!(words, each, "in {first}+{len}");
            }
        }
        // Past the body: refused, nothing stored.
        let mut words = body.clone();
        assert_eq!(bytes_in(&mut words, 30, &[1, 2, 3]), None);
        assert_eq!(bytes_in(&mut words, usize::MAX, &[1]), None);
        assert_eq!(words, body);
    }

    #[test]
    fn header_fields_round_trip() {
        for format in [
            Format::Pointers,
            Format::Words,
            Format::Bytes,
            Format::Method,
        ] {
            let h = Header::new(format, MAX_HASH, 123_456, 5);
            assert_eq!(h.format(), format);
            assert_eq!(h.hash(), MAX_HASH);
            assert_eq!(h.body_words(), 123_456);
            assert_eq!(h.pad_bytes(), 5);
            assert_eq!(h.0 & FORWARDED, 0);
            for code in 0..16 {
                let f = h.with_smalltalk_format(code);
                assert_eq!(f.smalltalk_format(), code);
                assert_eq!(
                    (f.format(), f.hash(), f.body_words()),
                    (format, MAX_HASH, 123_456)
                );
                assert_eq!(f.pad_bytes(), 5);
            }
        }
    }

    #[test]
    fn body_sizes() {
        assert_eq!(body_size(Format::Bytes, 0, 0).unwrap(), (0, 0));
        assert_eq!(body_size(Format::Bytes, 9, 0).unwrap(), (2, 7));
        assert_eq!(body_size(Format::Words, 3, 0).unwrap(), (2, 4));
        assert_eq!(body_size(Format::Method, 3, 2).unwrap(), (4, 5));
        assert!(body_size(Format::Pointers, usize::MAX, 0).is_err());
    }

    #[test]
    fn format_sets() {
        let all = Formats::SLOTS | Formats::WORDS | Format::Bytes;
        assert_eq!(all.iter().count(), 4);
        assert!(Formats::EMPTY.is_empty());
        assert_eq!(Formats::EMPTY.to_string(), "no format");
        assert_eq!(Formats::WORDS.to_string(), "words");
        assert_eq!(Formats::BYTE_ADDRESSABLE.to_string(), "bytes or method");
        assert_eq!(format!("{:?}", Formats::SLOTS), "{Pointers, Method}");
        for f in all.iter() {
            assert_eq!(Formats::from(f).iter().collect::<Vec<_>>(), [f]);
            assert!(!Formats::EMPTY.contains(f));
        }
    }

    #[test]
    fn loc_round_trips() {
        for loc in [
            Loc::Base(0),
            Loc::Private(0),
            Loc::Base(1 << 36),
            Loc::Private(77),
        ] {
            assert_eq!(Loc::decode(loc.encode()), loc);
        }
    }
}
