//! Bulk element access: a range of bytes or 32-bit words in one call.
//!
//! Element by element, writing a String costs one call, one resolution and one bounds check
//! per byte, and a refusal half way (a bad index) leaves the first half written. Here the whole
//! range is checked against the object's format and length first, so a refused call copies
//! nothing and writes nothing; then the object is resolved once, copied at most once (the
//! first store into a base object, as for any store), and the range is stored.
//!
//! Ranges are `start` plus the slice's length, as `slice[start..start + len]`: an empty range
//! at the end (`start == len`) is valid, and an empty write copies nothing.

use super::{Image, Target};
use crate::object::{self, Header};
use crate::space::Space;
use crate::{Error, Result, Value};

impl Image {
    /// Fills `buf` with the bytes of a bytes object (or a method's bytecodes) from byte
    /// `start`: the bulk form of [`read_byte`](Self::read_byte), for reading a String into a
    /// buffer the caller reuses. [`bytes`](Self::bytes) answers them all as a new `Vec`.
    pub fn read_bytes(&self, obj: Value, start: usize, buf: &mut [u8]) -> Result<()> {
        let (t, lookups) = self.probe(obj)?;
        let (first, len) = object::byte_span(t.header(), || self.literals(t))?;
        check_range(start, buf.len(), len)?;
        self.count_lookups(lookups);
        object::bytes_out(first + start, buf, |w| self.body_word(t, w))
    }

    /// Stores `bytes` into a bytes object (or a method's bytecodes) from byte `start`, copying
    /// the object first if it is a base object this image has not written yet: one copy at
    /// most, however many bytes. A bad format or a range past the end is refused before
    /// anything is copied or written.
    pub fn write_bytes(&mut self, obj: Value, start: usize, bytes: &[u8]) -> Result<()> {
        self.store_range(
            obj,
            start,
            bytes.len(),
            |image, t| Ok(object::byte_span(t.header(), || image.literals(t))?.1),
            |space, at, header| space.set_bytes(at, header, start, bytes),
        )
    }

    /// All 32-bit words of a words object, as [`bytes`](Self::bytes) answers all bytes.
    pub fn words(&self, obj: Value) -> Result<Vec<u32>> {
        let (t, lookups) = self.probe(obj)?;
        let len = object::word_count(t.header())?;
        self.count_lookups(lookups);
        (0..len)
            .map(|i| Ok(object::half_of(self.body_word(t, i / 2)?, i)))
            .collect()
    }

    /// Fills `buf` with the 32-bit words of a words object from word `start`.
    pub fn read_words(&self, obj: Value, start: usize, buf: &mut [u32]) -> Result<()> {
        let (t, lookups) = self.probe(obj)?;
        check_range(start, buf.len(), object::word_count(t.header())?)?;
        self.count_lookups(lookups);
        for (i, w) in buf.iter_mut().enumerate() {
            let k = start + i;
            *w = object::half_of(self.body_word(t, k / 2)?, k);
        }
        Ok(())
    }

    /// Stores `words` into a words object from word `start`, copying it at most once, and
    /// refusing a bad format or range before anything is copied or written (see
    /// [`write_bytes`](Self::write_bytes)).
    pub fn write_words(&mut self, obj: Value, start: usize, words: &[u32]) -> Result<()> {
        self.store_range(
            obj,
            start,
            words.len(),
            |_, t| object::word_count(t.header()),
            |space, at, header| {
                (start..)
                    .zip(words)
                    .try_for_each(|(i, &w)| space.set_word(at, header, i, w))
            },
        )
    }

    /// Stores `n` elements from `start` into `obj`, whose element count `len` answers: checks
    /// the range, then copies the object if it is in the base (not for an empty range), and
    /// lets `store` write into the private object.
    fn store_range(
        &mut self,
        obj: Value,
        start: usize,
        n: usize,
        len: impl FnOnce(&Image, Target) -> Result<usize>,
        store: impl FnOnce(&mut Space, usize, Header) -> Result<()>,
    ) -> Result<()> {
        let (t, lookups) = self.probe(obj)?;
        check_range(start, n, len(self, t)?)?;
        if n == 0 {
            self.count_lookups(lookups);
            return Ok(());
        }
        let at = self.make_private(t)?;
        self.count_lookups(lookups);
        self.counters().writes.add(n as u64);
        store(&mut self.space, at, t.header())
    }
}

/// Refuses a range `start..start + n` that does not fit `len` elements, naming the first
/// element that does not exist.
pub(crate) fn check_range(start: usize, n: usize, len: usize) -> Result<()> {
    match start.checked_add(n) {
        Some(end) if end <= len => Ok(()),
        _ => Err(Error::IndexOutOfRange {
            index: start.max(len),
            len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_range;
    use crate::Error;

    #[test]
    fn ranges_are_checked_like_slices() {
        assert_eq!(check_range(0, 0, 0), Ok(()));
        assert_eq!(check_range(3, 0, 3), Ok(()));
        assert_eq!(check_range(1, 2, 3), Ok(()));
        let bad = |index, len| Err(Error::IndexOutOfRange { index, len });
        assert_eq!(check_range(4, 0, 3), bad(4, 3));
        assert_eq!(check_range(2, 2, 3), bad(3, 3));
        assert_eq!(check_range(usize::MAX, 2, 3), bad(usize::MAX, 3));
        assert_eq!(check_range(1, usize::MAX, 3), bad(3, 3));
    }
}
