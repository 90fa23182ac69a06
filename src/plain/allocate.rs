//! Making objects in a plain heap, copying them, and `become`: each as the call of the same
//! name on [`Image`](crate::Image), over the one `Vec` of words.

use super::PlainHeap;
use crate::object::{Format, Header, FORWARDED, HEADER_WORDS};
use crate::{Error, Result, Value};

impl PlainHeap {
    /// As [`Image::allocate`](crate::Image::allocate).
    pub fn allocate(&mut self, class: Value, format: Format, len: usize) -> Result<Value> {
        self.allocate_with(class, format, len, 0)
    }

    fn allocate_with(
        &mut self,
        class: Value,
        format: Format,
        len: usize,
        literals: usize,
    ) -> Result<Value> {
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let at = self
            .space
            .allocate(class, format, len, literals, self.filler)?;
        self.stats.allocations += 1;
        Ok(self.value_of(at))
    }

    /// As [`Image::new_pointers`](crate::Image::new_pointers).
    pub fn new_pointers(&mut self, class: Value, slots: &[Value]) -> Result<Value> {
        self.new_pointers_from(class, slots.len(), slots)
    }

    /// As [`Image::new_pointers_from`](crate::Image::new_pointers_from).
    pub fn new_pointers_from(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
    ) -> Result<Value> {
        self.new_pointers_with_format(class, len, first, 0)
    }

    /// As [`Image::new_pointers_with_format`](crate::Image::new_pointers_with_format).
    pub fn new_pointers_with_format(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
        language_format: u8,
    ) -> Result<Value> {
        crate::space::check_first(first, len, self.filler, |v| self.check_storable(v))?;
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let at = self
            .space
            .allocate_pointers(class, len, first, self.filler, language_format)?;
        self.stats.allocations += 1;
        Ok(self.value_of(at))
    }

    /// As [`Image::new_bytes`](crate::Image::new_bytes).
    pub fn new_bytes(&mut self, class: Value, bytes: &[u8]) -> Result<Value> {
        let obj = self.allocate_with(class, Format::Bytes, bytes.len(), 0)?;
        self.space.fill_new(obj.index(), &[], bytes)?;
        Ok(obj)
    }

    /// As [`Image::new_words`](crate::Image::new_words).
    pub fn new_words(&mut self, class: Value, words: &[u32]) -> Result<Value> {
        self.new_words_with_format(class, words, 0)
    }

    /// As [`Image::new_words_with_format`](crate::Image::new_words_with_format).
    pub fn new_words_with_format(
        &mut self,
        class: Value,
        words: &[u32],
        language_format: u8,
    ) -> Result<Value> {
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let at = self.space.allocate_words(class, words, language_format)?;
        self.stats.allocations += 1;
        Ok(self.value_of(at))
    }

    /// As [`Image::new_method`](crate::Image::new_method).
    pub fn new_method(
        &mut self,
        class: Value,
        literals: &[Value],
        bytecodes: &[u8],
    ) -> Result<Value> {
        literals.iter().try_for_each(|&v| self.check_storable(v))?;
        let obj = self.allocate_with(class, Format::Method, bytecodes.len(), literals.len())?;
        self.space.fill_new(obj.index(), literals, bytecodes)?;
        Ok(obj)
    }

    /// As [`Image::set_language_format`](crate::Image::set_language_format): only for objects
    /// this heap allocated (a copied base object's code is the base's).
    pub fn set_language_format(&mut self, obj: Value, code: u8) -> Result<()> {
        // As the image's: one of this heap's own, through a `become` to the object the
        // reference names now, if that is this heap's own too.
        let target = match self.start(obj) {
            Some(at) if at >= self.loaded => Some(self.probe(obj)?.0),
            _ => None,
        };
        match target {
            Some(at) if at >= self.loaded => {
                let word = self.space.word_mut(at)?;
                *word = Header(*word).with_smalltalk_format(code).0;
                Ok(())
            }
            _ => Err(Error::ForeignReference(obj)),
        }
    }

    /// As [`Image::clone_object`](crate::Image::clone_object).
    pub fn clone_object(&mut self, obj: Value, hash: u32) -> Result<Value> {
        let (from, header) = self.probe(obj)?;
        let class = Value::from_bits(self.space.word(from + 1)?);
        let len = header.body_words();
        let at = self
            .space
            .allocate(class, Format::Pointers, len, 0, self.filler)?;
        *self.space.word_mut(at)? = header.with_hash(hash).0;
        self.space.words.copy_within(
            from + HEADER_WORDS..from + HEADER_WORDS + len,
            at + HEADER_WORDS,
        );
        self.stats.allocations += 1;
        Ok(self.value_of(at))
    }

    /// As [`Image::become_forward`](crate::Image::become_forward): every reference to
    /// `from` now leads to `to`.
    pub fn become_forward(&mut self, from: Value, to: Value) -> Result<()> {
        let first = self.locate(from)?;
        let (source, _) = self.resolve(first)?;
        let (target, _) = self.probe(to)?;
        if source == target {
            return Ok(());
        }
        self.layout_epoch = crate::vm::new_epoch();
        let forward = ((target as u64) << 1) | FORWARDED;
        // The whole chain from `from` points straight at the target, so that becoming the
        // same reference again and again never grows a chain for every later read to walk.
        let mut at = first;
        loop {
            let word = self.space.word(at)?;
            *self.space.word_mut(at)? = forward;
            if at == source || word & FORWARDED == 0 {
                break;
            }
            at = (word >> 1) as usize;
        }
        self.becomes = true;
        self.stats.becomes += 1;
        Ok(())
    }
}
