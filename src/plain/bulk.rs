//! Bulk element access, as [`Image`](crate::Image)'s: a range of bytes or 32-bit words in
//! one call, the range checked whole before anything is read into the buffer or written.

use super::PlainHeap;
use crate::image::check_range;
use crate::object::{self, HEADER_WORDS};
use crate::{Result, Value};

impl PlainHeap {
    /// As [`Image::read_bytes`](crate::Image::read_bytes).
    pub fn read_bytes(&self, obj: Value, start: usize, buf: &mut [u8]) -> Result<()> {
        let (at, header) = self.probe(obj)?;
        let (first, len) = object::byte_span(header, || self.space.literals(at))?;
        check_range(start, buf.len(), len)?;
        object::bytes_out(first + start, buf, |w| {
            self.space.word(at + HEADER_WORDS + w)
        })
    }

    /// As [`Image::write_bytes`](crate::Image::write_bytes).
    pub fn write_bytes(&mut self, obj: Value, start: usize, bytes: &[u8]) -> Result<()> {
        let (at, header) = self.probe(obj)?;
        self.space.set_bytes(at, header, start, bytes)
    }

    /// As [`Image::read_words`](crate::Image::read_words).
    pub fn read_words(&self, obj: Value, start: usize, buf: &mut [u32]) -> Result<()> {
        let (at, header) = self.probe(obj)?;
        check_range(start, buf.len(), object::word_count(header)?)?;
        for (i, w) in buf.iter_mut().enumerate() {
            let k = start + i;
            *w = object::half_of(self.space.word(at + HEADER_WORDS + k / 2)?, k);
        }
        Ok(())
    }

    /// As [`Image::write_words`](crate::Image::write_words).
    pub fn write_words(&mut self, obj: Value, start: usize, words: &[u32]) -> Result<()> {
        let (at, header) = self.probe(obj)?;
        check_range(start, words.len(), object::word_count(header)?)?;
        (start..)
            .zip(words)
            .try_for_each(|(i, &w)| self.space.set_word(at, header, i, w))
    }
}
