//! The few crate-internal views of the heap the interpreter needs beyond `Image`'s public API:
//! an object's Smalltalk format code and element count in one resolve, and setting the format
//! code of an object this image just allocated.

use crate::image::Target;
use crate::object::{self, Format, Header, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::{Error, Image, Result, Value};

/// An object's shape, as the indexing primitives need it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    /// cowheap's format.
    pub(crate) format: Format,
    /// The V3 format code: 0-4 pointers, 6 words, 8-11 bytes, 12-15 methods.
    pub(crate) code: u8,
    /// Slots, 32-bit words or bytes (methods: 0, the primitives refuse them).
    pub(crate) len: usize,
}

impl Image {
    /// The shape of `obj` as this image sees it.
    pub(crate) fn shape(&mut self, obj: Value) -> Result<Shape> {
        let loc = self.locate(obj)?;
        let header = match self.resolve(loc)?.0 {
            Target::Base { header, .. } | Target::Private { header, .. } => header,
        };
        let format = header.format();
        let (code, len) = match format {
            Format::Pointers => (header.smalltalk_format().min(4), header.body_words()),
            Format::Words => (6, object::word_count(header)?),
            Format::Bytes => (
                8 | (header.smalltalk_format() & 3),
                header.body_words() * 8 - header.pad_bytes(),
            ),
            Format::Method => (12, 0),
        };
        Ok(Shape { format, code, len })
    }

    /// Records the V3 format code of an object this image allocated, so that it indexes like
    /// one the loader made.
    pub(crate) fn set_smalltalk_format(&mut self, obj: Value, code: u8) -> Result<()> {
        if !obj.is_ref_of(self.incarnation) || !self.space.is_start(obj.index()) {
            return Err(Error::ForeignReference(obj));
        }
        let word = self.space.word_mut(obj.index())?;
        *word = Header(*word).with_smalltalk_format(code).0;
        Ok(())
    }

    /// Refuses a value from another image or heap before it reaches the interpreter's stack.
    pub(crate) fn check_value(&mut self, v: Value) -> Result<()> {
        if v.is_object() {
            let loc = self.locate(v)?;
            self.resolve(loc)?;
        }
        Ok(())
    }

    /// A private copy of `obj` as this image sees it, with its header (identity hash and
    /// format) and class: what a two-way `become:` leaves behind each reference.
    pub(crate) fn clone_object(&mut self, obj: Value) -> Result<Value> {
        let loc = self.locate(obj)?;
        let (header, class, body): (Header, Value, Vec<u64>) = match self.resolve(loc)?.0 {
            Target::Base { at, header } => (
                header,
                self.heap.class_word(at),
                (0..header.body_words())
                    .map(|i| self.heap.body_word(at, i))
                    .collect(),
            ),
            Target::Private { at, header } => (
                header,
                Value::from_bits(self.space.word(at + 1)?),
                (0..header.body_words())
                    .map(|i| self.space.word(at + 2 + i))
                    .collect::<Result<_>>()?,
            ),
        };
        let filler = self.heap.filler();
        let at = self
            .space
            .allocate(class, Format::Pointers, body.len(), 0, filler)?;
        *self.space.word_mut(at)? = header.0;
        for (i, w) in body.into_iter().enumerate() {
            *self.space.word_mut(at + 2 + i)? = w;
        }
        self.counters().allocations.bump();
        self.counters()
            .private_bytes
            .set((self.space.len() * 8) as u64);
        Ok(Value::object(self.incarnation, at as u64))
    }

    /// Where slot `index` of `obj` lives if `obj` is one of this image's own pointers objects,
    /// not forwarded: the interpreter's contexts, above all. `None` sends the caller down
    /// `read`/`write`.
    #[inline(always)]
    fn private_slot_word(&self, obj: Value, index: usize) -> Option<usize> {
        if !obj.is_ref_of(self.incarnation) || !self.space.is_start(obj.index()) {
            return None;
        }
        let at = obj.index();
        let word = *self.space.words.get(at)?;
        (word & FORWARDED_OR_NOT_POINTERS == 0 && index < Header(word).body_words())
            .then_some(at + HEADER_WORDS + index)
    }

    /// Slot `index` of one of this image's own pointers objects, as stored: unlike
    /// [`read`](Image::read) it does not follow a reference to an object this image has
    /// since copied (the interpreter compares with `identical`, so it need not).
    #[inline(always)]
    pub(crate) fn private_slot(&self, obj: Value, index: usize) -> Option<Value> {
        let w = self.private_slot_word(obj, index)?;
        self.space.words.get(w).map(|&bits| Value::from_bits(bits))
    }

    /// Stores into one of this image's own pointers objects; `false` (and nothing stored)
    /// for anything else, or for a value this image could not hold.
    #[inline(always)]
    pub(crate) fn set_private_slot(&mut self, obj: Value, index: usize, v: Value) -> bool {
        if v.is_object() && !v.is_ref_of(self.base_owner) && !v.is_ref_of(self.incarnation) {
            return false;
        }
        let Some(w) = self.private_slot_word(obj, index) else {
            return false;
        };
        match self.space.words.get_mut(w) {
            Some(slot) => {
                *slot = v.to_bits();
                self.counters().writes.bump();
                true
            }
            None => false,
        }
    }

    /// Overwrites every slot of one of this image's own pointers objects with `slots` (the
    /// interpreter reusing a dead context); `false` (and nothing written) if `obj` is not
    /// such an object of exactly that size, or a value is one this image could not hold.
    pub(crate) fn refill_private(&mut self, obj: Value, slots: &[Value]) -> bool {
        if slots.iter().any(|v| {
            v.is_object() && !v.is_ref_of(self.base_owner) && !v.is_ref_of(self.incarnation)
        }) {
            return false;
        }
        let Some(first) = self.private_slot_word(obj, 0) else {
            return false;
        };
        if Header(self.space.words[obj.index()]).body_words() != slots.len() {
            return false;
        }
        for (w, v) in self.space.words[first..first + slots.len()]
            .iter_mut()
            .zip(slots)
        {
            *w = v.to_bits();
        }
        self.counters().writes.bump();
        true
    }

    /// Bytes this image's private space holds now.
    pub(crate) fn private_len_bytes(&self) -> usize {
        self.space.len() * 8
    }
}
