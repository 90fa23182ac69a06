//! Tagged 64-bit values, after Spur's 64-bit tagging.
//!
//! | low 3 bits | meaning |
//! |---|---|
//! | `000` | object reference: owner (a base owner or an incarnation) in bits 35..64, word index in bits 3..35 |
//! | `001` | SmallInteger, 61-bit signed, in bits 3..64 |
//! | `010` | Character, a Unicode scalar in bits 3..35 |
//!
//! A reference names its **owner**, the one word for the space it lives in, which is one of:
//!
//! * a *base owner*: the id of the sealed base heap it lives in (owner ids at or above 2^28),
//!   never reused in the process;
//! * an *incarnation*: the id of the one image that allocated it
//!   ([`Image::incarnation`](crate::Image::incarnation)), unique among the live images of the
//!   process.
//!
//! That is how cowheap keeps references from crossing images at run time: every operation
//! checks the owner against the image's own two spaces (its base owner and its incarnation) and
//! answers [`Error::ForeignReference`](crate::Error::ForeignReference) otherwise. References
//! cannot be forged from bits in safe code.

#![forbid(unsafe_code)]

use std::fmt;

const TAG_MASK: u64 = 0b111;
const TAG_REF: u64 = 0b000;
const TAG_INT: u64 = 0b001;
const TAG_CHAR: u64 = 0b010;

pub(crate) const INDEX_BITS: u32 = 32;
pub(crate) const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
pub(crate) const OWNER_SHIFT: u32 = 35;
/// Owners at or above this are base owners; below it, image incarnations.
pub(crate) const BASE_OWNER_FLAG: u32 = 1 << 28;

/// One Smalltalk value: an immediate or a reference to an object.
///
/// `==` compares bits. Two references to the same object as seen by an image can differ in bits
/// (a base object and that image's copy of it are one object), so compare object identity
/// with [`Image::identical`](crate::Image::identical).
///
/// `Debug` shows a reference with its owner (see the module docs): `@base3:120` is word 120 of
/// the base whose base owner is number 3, `@incarnation7:16` word 16 of the private space of
/// the image whose [incarnation](crate::Image::incarnation) is 7 (not its id, which is only
/// unique within its heap).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Value(u64);

impl Value {
    /// The smallest SmallInteger.
    pub const SMALL_INT_MIN: i64 = -(1 << 60);
    /// The largest SmallInteger.
    pub const SMALL_INT_MAX: i64 = (1 << 60) - 1;

    /// A SmallInteger, or `None` outside the 61-bit range.
    pub const fn small_int(i: i64) -> Option<Value> {
        if i < Self::SMALL_INT_MIN || i > Self::SMALL_INT_MAX {
            None
        } else {
            Some(Value(((i as u64) << 3) | TAG_INT))
        }
    }

    /// A SmallInteger of `i`'s low 61 bits, with no range check: for a VM whose integers are
    /// narrower (31 bits for a 32-bit Smalltalk image), which has already checked its own
    /// range, on its arithmetic fast path. Out of range it answers another SmallInteger,
    /// never a reference.
    #[inline(always)]
    pub const fn small_int_wrapping(i: i64) -> Value {
        Value(((i as u64) << 3) | TAG_INT)
    }

    /// A Character.
    pub const fn character(c: char) -> Value {
        Value(((c as u64) << 3) | TAG_CHAR)
    }

    /// The integer, if this is a SmallInteger.
    pub const fn as_small_int(self) -> Option<i64> {
        if self.0 & TAG_MASK == TAG_INT {
            Some((self.0 as i64) >> 3)
        } else {
            None
        }
    }

    /// The character, if this is a Character.
    pub fn as_char(self) -> Option<char> {
        if self.0 & TAG_MASK == TAG_CHAR {
            char::from_u32((self.0 >> 3) as u32)
        } else {
            None
        }
    }

    /// True for object references, false for immediates.
    pub const fn is_object(self) -> bool {
        self.0 & TAG_MASK == TAG_REF
    }

    /// True for a reference with a base heap as its owner. Such a reference names the same
    /// object through every collection of every image over that base: a collection moves and
    /// renumbers only an image's private objects (under a new incarnation), and a base object
    /// an image copied is still reached through its base reference. So a VM's table keyed by
    /// base references alone may outlive its image's collections.
    pub const fn is_base_reference(self) -> bool {
        self.is_object() && (self.0 >> OWNER_SHIFT) as u32 & BASE_OWNER_FLAG != 0
    }

    /// The raw bits, for hashing and diagnostics. There is no inverse: references cannot be
    /// forged.
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_bits(bits: u64) -> Value {
        Value(bits)
    }

    pub(crate) const fn object(owner: u32, index: u64) -> Value {
        Value(((owner as u64) << OWNER_SHIFT) | (index << 3))
    }

    /// True if this is a reference owned by the owner whose tag is `tag`: one mask and one
    /// compare, the owner's shift done once, when the tag was made.
    #[inline(always)]
    pub(crate) const fn has_tag(self, tag: OwnerTag) -> bool {
        self.0 & !(INDEX_MASK << 3) == tag.0
    }

    /// The owner of a reference, a base owner or an incarnation (meaningless for immediates).
    #[inline]
    pub(crate) const fn owner(self) -> u32 {
        (self.0 >> OWNER_SHIFT) as u32
    }

    /// The word index of a reference inside its owner's space.
    #[inline]
    pub(crate) const fn index(self) -> usize {
        ((self.0 >> 3) & INDEX_MASK) as usize
    }
}

/// An owner as the bits every reference it owns has outside its index and tag: what a heap
/// keeps for its own owners, so that checking a reference's owner is one mask and one compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OwnerTag(u64);

impl OwnerTag {
    pub(crate) const fn of(owner: u32) -> OwnerTag {
        OwnerTag((owner as u64) << OWNER_SHIFT)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.as_small_int() {
            write!(f, "{i}")
        } else if let Some(c) = self.as_char() {
            write!(f, "${c}")
        } else if self.is_object() {
            let owner = self.owner();
            if owner & BASE_OWNER_FLAG != 0 {
                write!(f, "@base{}:{}", owner & !BASE_OWNER_FLAG, self.index())
            } else {
                write!(f, "@incarnation{}:{}", owner, self.index())
            }
        } else {
            write!(f, "<bits {:#x}>", self.0)
        }
    }
}

impl TryFrom<i64> for Value {
    type Error = crate::Error;

    fn try_from(i: i64) -> Result<Value, crate::Error> {
        Value::small_int(i).ok_or(crate::Error::SmallIntegerRange(i))
    }
}

impl From<char> for Value {
    fn from(c: char) -> Value {
        Value::character(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ints_round_trip_at_the_edges() {
        for i in [
            0,
            1,
            -1,
            Value::SMALL_INT_MAX,
            Value::SMALL_INT_MIN,
            12345678901,
        ] {
            let v = Value::small_int(i).unwrap();
            assert_eq!(v.as_small_int(), Some(i));
            assert!(!v.is_object());
            assert_eq!(v.as_char(), None);
        }
        assert!(Value::small_int(Value::SMALL_INT_MAX + 1).is_none());
        assert!(Value::small_int(Value::SMALL_INT_MIN - 1).is_none());
    }

    #[test]
    fn characters_round_trip() {
        for c in ['a', '\0', '€', '\u{10FFFF}'] {
            let v = Value::character(c);
            assert_eq!(v.as_char(), Some(c));
            assert_eq!(v.as_small_int(), None);
        }
    }

    #[test]
    fn references_keep_owner_and_index() {
        let v = Value::object(BASE_OWNER_FLAG | 7, INDEX_MASK);
        assert!(v.is_object());
        assert_eq!(v.owner(), BASE_OWNER_FLAG | 7);
        assert_eq!(v.index() as u64, INDEX_MASK);
    }
}
