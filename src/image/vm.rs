//! The surface a language VM builds on: an object's shape in one resolve, the language's own
//! format code, a field fast path for the VM's own objects, a clone for `become:`, and the
//! check a VM runs on every value it is handed. See [`crate::vm`] for the rules.

use super::{Image, Target};
use crate::object::{self, Format, Header, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::vm::Shape;
use crate::{Error, Result, Value};

impl Image {
    /// The shape of `obj` as this image sees it (after following its own entries and
    /// becomes), in one resolve: what an `at:`/`size` primitive needs before it indexes.
    pub fn shape(&self, obj: Value) -> Result<Shape> {
        let target = self.probe(obj)?.0;
        let header = target.header();
        let format = header.format();
        let len = match format {
            Format::Pointers => header.body_words(),
            Format::Words => object::word_count(header)?,
            Format::Bytes => header.body_words() * 8 - header.pad_bytes(),
            Format::Method => object::element_count(header, || self.literals(target)),
        };
        Ok(Shape {
            format,
            language_format: header.smalltalk_format(),
            len,
        })
    }

    /// Records the language's own 4-bit format code of an object this image allocated (a
    /// Squeak VM: fixed fields or indexable, weak, and so on), so that it indexes like one a
    /// loader made with [`BaseBuilder::set_language_format`](crate::BaseBuilder::set_language_format).
    /// Only this image's own objects: a base object's code is sealed with the base.
    pub fn set_language_format(&mut self, obj: Value, code: u8) -> Result<()> {
        if !obj.has_tag(self.own_tag) || !self.space.is_start(obj.index()) {
            return Err(Error::ForeignReference(obj));
        }
        // An object made to `become` another names that one now, and its own header word is
        // the forwarding word, whose bits are the target's index: the code goes to the
        // target, if it is this image's own.
        let mut at = obj.index();
        if self.space.word(at)? & object::FORWARDED != 0 {
            let Target::Private { at: target, .. } = self.probe(obj)?.0 else {
                return Err(Error::ForeignReference(obj));
            };
            at = target;
        }
        let word = self.space.word_mut(at)?;
        *word = Header(*word).with_smalltalk_format(code).0;
        Ok(())
    }

    /// [`new_words`](Self::new_words) and
    /// [`set_language_format`](Self::set_language_format) in one step: a VM's Float, made
    /// by every arithmetic operation on one.
    pub fn new_words_with_format(
        &mut self,
        class: Value,
        words: &[u32],
        language_format: u8,
    ) -> Result<Value> {
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let at = self.space.allocate_words(class, words, language_format)?;
        Ok(self.allocated(at))
    }

    /// [`new_pointers_from`](Self::new_pointers_from) and
    /// [`set_language_format`](Self::set_language_format) in one step: a VM's context, made
    /// by activations and blocks.
    pub fn new_pointers_with_format(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
        language_format: u8,
    ) -> Result<Value> {
        crate::space::check_first(first, len, self.heap.filler(), |v| self.check_storable(v))?;
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let filler = self.heap.filler();
        let at = self
            .space
            .allocate_pointers(class, len, first, filler, language_format)?;
        Ok(self.allocated(at))
    }

    /// Checks a value a VM is handed (by a host, a primitive's argument) before it keeps it:
    /// an immediate, or a reference to a live object that this image can reach.
    pub fn check_value(&self, v: Value) -> Result<()> {
        if v.is_object() {
            self.probe(v)?;
        }
        Ok(())
    }

    /// A private copy of `obj` as this image sees it, header (formats) and class included,
    /// whose identity hash is `hash` (masked to 22 bits): what a two-way `become:` leaves
    /// behind each reference. A V3 VM's `become:` swaps the contents and leaves each
    /// reference its identity hash (so that identity-hashed collections and method
    /// dictionaries still find what they hold), so a VM passes the hash of the reference the
    /// copy will be reached by.
    pub fn clone_object(&mut self, obj: Value, hash: u32) -> Result<Value> {
        let (header, class, body): (Header, Value, Vec<u64>) = match self.probe(obj)?.0 {
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
        *self.space.word_mut(at)? = header.with_hash(hash).0;
        for (i, w) in body.into_iter().enumerate() {
            *self.space.word_mut(at + 2 + i)? = w;
        }
        self.counters().allocations.bump();
        self.counters()
            .private_bytes
            .set((self.space.len() * 8) as u64);
        Ok(Value::object(self.incarnation, at as u64))
    }

    /// Where field `index` of `obj` lives if `obj` is one of this image's own pointers
    /// objects and has not been made `become` another.
    #[inline(always)]
    fn private_field_word(&self, obj: Value, index: usize) -> Option<usize> {
        if !obj.has_tag(self.own_tag) || !self.space.is_start(obj.index()) {
            return None;
        }
        let at = obj.index();
        let word = *self.space.words.get(at)?;
        // Lazily: for an index past the bound the sum could overflow.
        (word & FORWARDED_OR_NOT_POINTERS == 0 && index < Header(word).body_words())
            .then(|| at + HEADER_WORDS + index)
    }

    /// Field `index` of one of this image's own pointers objects, as stored; `None` for any
    /// other object or index, which the caller sends down [`read`](Image::read).
    ///
    /// The fix-up rule: unlike `read`, this does not follow a stored reference to a base
    /// object this image has since copied or made `become` another, nor rewrite the field. A
    /// VM that compares what it reads with [`identical`](Image::identical), or hands it back
    /// to `read`/`write` (which follow it), never notices; one that compares raw bits must
    /// use `read`.
    #[inline(always)]
    pub fn private_field(&self, obj: Value, index: usize) -> Option<Value> {
        let w = self.private_field_word(obj, index)?;
        self.space.words.get(w).map(|&bits| Value::from_bits(bits))
    }

    /// The class of one of this image's own words objects of exactly `out.len()` 32-bit
    /// words, not made `become` another, with `out` filled from it; `None` for any other
    /// object (or a class word that `read` would follow), which the caller reads through
    /// [`read_words`](Image::read_words). The checks of `read_words` for a VM's own objects,
    /// made without the general resolve: a VM reads its Floats so, two words on every
    /// arithmetic primitive.
    #[inline]
    pub fn private_words_of(&self, obj: Value, out: &mut [u32]) -> Option<Value> {
        if !obj.has_tag(self.own_tag) || !self.space.is_start(obj.index()) {
            return None;
        }
        let class = self.space.words_of(obj.index(), out)?;
        self.settled(class).then_some(class)
    }

    /// Stores into one of this image's own pointers objects; `false` (and nothing stored)
    /// for any other object or index, or for a value this image could not hold (the caller
    /// then goes through [`write`](Image::write), which says why).
    #[inline(always)]
    pub fn set_private_field(&mut self, obj: Value, index: usize, v: Value) -> bool {
        if !self.ours(v) {
            return false;
        }
        let Some(w) = self.private_field_word(obj, index) else {
            return false;
        };
        match self.space.words.get_mut(w) {
            Some(field) => {
                *field = v.to_bits();
                self.counters().writes.bump();
                true
            }
            None => false,
        }
    }

    /// Overwrites every field of one of this image's own pointers objects with `fields` (a VM
    /// reusing a dead activation record); `false` (and nothing written) if `obj` is not such
    /// an object of exactly that size, or a value is one this image could not hold.
    pub fn refill_private(&mut self, obj: Value, fields: &[Value]) -> bool {
        self.refill_private_from(obj, fields.len(), fields)
    }

    /// [`refill_private`](Self::refill_private) of `len` fields, the first ones `first` and
    /// the rest the filler: a dead context's, nearly all nil, need no slice of the whole.
    pub fn refill_private_from(&mut self, obj: Value, len: usize, first: &[Value]) -> bool {
        if !obj.has_tag(self.own_tag)
            || !self.space.is_start(obj.index())
            || !first.iter().all(|&v| self.ours(v))
            || !self
                .space
                .refill(obj.index(), len, first, self.heap.filler())
        {
            return false;
        }
        self.counters().writes.bump();
        true
    }

    /// True for a value this image could hold without looking further: an immediate, or a
    /// reference owned by the base or by this image (the fast paths' check; `write` checks
    /// fully, and says why not). As the plain heap's.
    #[inline(always)]
    pub(crate) fn ours(&self, v: Value) -> bool {
        !v.is_object() || v.has_tag(self.base_tag) || v.has_tag(self.own_tag)
    }

    /// What the fields of a new object hold (the base's filler: nil, usually).
    pub fn filler(&self) -> Value {
        self.heap.filler()
    }

    /// Bytes this image's private space holds now (its copies and allocations): what a VM
    /// charges against an image's memory limit.
    pub fn private_bytes(&self) -> usize {
        self.space.len() * 8
    }
}
