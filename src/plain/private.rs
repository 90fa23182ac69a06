//! The VM's fast paths into a plain heap: private fields and tokens, as the calls of the
//! same names on [`Image`](crate::Image). In a plain heap every object is the VM's own, so
//! these answer for any object whose header and bounds allow it.

use super::PlainHeap;
use crate::object::{Header, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::vm::{BytesToken, FieldsToken};
use crate::Value;

impl PlainHeap {
    /// Where field `index` of a pointers object that has not been made `become` another
    /// lives.
    #[inline(always)]
    fn field_word(&self, obj: Value, index: usize) -> Option<usize> {
        let at = self.start(obj)?;
        let word = *self.space.words.get(at)?;
        (word & FORWARDED_OR_NOT_POINTERS == 0 && index < Header(word).body_words())
            .then_some(at + HEADER_WORDS + index)
    }

    /// As [`Image::private_field`](crate::Image::private_field), for any object: in a plain
    /// heap every object is the VM's own.
    #[inline(always)]
    pub fn private_field(&self, obj: Value, index: usize) -> Option<Value> {
        let w = self.field_word(obj, index)?;
        self.space.words.get(w).map(|&bits| Value::from_bits(bits))
    }

    /// As [`Image::set_private_field`](crate::Image::set_private_field), for any object.
    #[inline(always)]
    pub fn set_private_field(&mut self, obj: Value, index: usize, v: Value) -> bool {
        if !self.ours(v) {
            return false;
        }
        let Some(w) = self.field_word(obj, index) else {
            return false;
        };
        match self.space.words.get_mut(w) {
            Some(field) => {
                *field = v.to_bits();
                true
            }
            None => false,
        }
    }

    /// As [`Image::refill_private`](crate::Image::refill_private), for any object.
    pub fn refill_private(&mut self, obj: Value, fields: &[Value]) -> bool {
        self.refill_private_from(obj, fields.len(), fields)
    }

    /// As [`Image::refill_private_from`](crate::Image::refill_private_from), for any object.
    pub fn refill_private_from(&mut self, obj: Value, len: usize, first: &[Value]) -> bool {
        let Some(at) = self.start(obj) else {
            return false;
        };
        first.iter().all(|&v| self.ours(v)) && self.space.refill(at, len, first, self.filler)
    }

    /// As [`Image::filler`](crate::Image::filler).
    pub fn filler(&self) -> Value {
        self.filler
    }

    /// As [`Image::fields_token`](crate::Image::fields_token), for any pointers object.
    #[inline]
    pub fn fields_token(&self, obj: Value) -> Option<FieldsToken> {
        self.space.fields_token(self.start(obj)?, self.layout_epoch)
    }

    /// As [`Image::read_token`](crate::Image::read_token).
    #[inline(always)]
    pub fn read_token(&self, token: &FieldsToken, index: usize) -> Option<Value> {
        let v = Value::from_bits(self.space.token_field(token, self.layout_epoch, index)?);
        self.settled(v).then_some(v)
    }

    /// As [`Image::write_token`](crate::Image::write_token) (a plain heap counts no stores).
    #[inline(always)]
    pub fn write_token(&mut self, token: &FieldsToken, index: usize, v: Value) -> bool {
        if !self.ours(v) {
            return false;
        }
        match self.space.token_field_mut(token, self.layout_epoch, index) {
            Some(field) => {
                *field = v.to_bits();
                true
            }
            None => false,
        }
    }

    /// As [`Image::private_words_of`](crate::Image::private_words_of), for any words object.
    #[inline]
    pub fn private_words_of(&self, obj: Value, out: &mut [u32]) -> Option<Value> {
        let class = self.space.words_of(self.start(obj)?, out)?;
        self.settled(class).then_some(class)
    }

    /// As [`Image::bytes_token`](crate::Image::bytes_token), for any bytes object.
    #[inline]
    pub fn bytes_token(&self, obj: Value) -> Option<BytesToken> {
        self.space.bytes_token(self.start(obj)?, self.layout_epoch)
    }

    /// As [`Image::read_byte_token`](crate::Image::read_byte_token).
    #[inline(always)]
    pub fn read_byte_token(&self, token: &BytesToken, index: usize) -> Option<u8> {
        self.space.token_byte(token, self.layout_epoch, index)
    }

    /// As [`Image::write_byte_token`](crate::Image::write_byte_token).
    #[inline(always)]
    pub fn write_byte_token(&mut self, token: &BytesToken, index: usize, byte: u8) -> bool {
        self.space
            .set_token_byte(token, self.layout_epoch, index, byte)
    }
}
