//! Tokens: one of this image's own objects checked once, then its elements read and written by
//! index, for a VM's `at:` cache. What a token proves, and why the layout epoch is all that a
//! use of it must look at again, is at [`FieldsToken`].

use super::Image;
use crate::vm::{BytesToken, FieldsToken};
use crate::Value;

impl Image {
    /// A token for `obj` if it is one of this image's own pointers objects, not made `become`
    /// another: the checks of [`set_private_field`](Image::set_private_field) on the object
    /// (owner, object start, header), made once.
    #[inline]
    pub fn fields_token(&self, obj: Value) -> Option<FieldsToken> {
        if !obj.has_tag(self.own_tag) || !self.space.is_start(obj.index()) {
            return None;
        }
        self.space.fields_token(obj.index(), self.layout_epoch)
    }

    /// Field `index` of the token's object: `None` (the caller takes [`read`](Image::read))
    /// if the token is stale or of another image, the index out of range, or the value one
    /// that `read` would follow (as [`read_fast`](Image::read_fast) answers `None` for it).
    #[inline(always)]
    pub fn read_token(&self, token: &FieldsToken, index: usize) -> Option<Value> {
        let v = Value::from_bits(self.space.token_field(token, self.layout_epoch, index)?);
        self.settled(v).then_some(v)
    }

    /// Stores `v` into field `index` of the token's object and counts the write; `false` (and
    /// nothing stored) if the token is stale or of another image, the index out of range, or
    /// `v` a value this image could not hold (the rule of
    /// [`set_private_field`](Image::set_private_field): the caller then goes through
    /// [`write`](Image::write), which says why).
    #[inline(always)]
    pub fn write_token(&mut self, token: &FieldsToken, index: usize, v: Value) -> bool {
        if !self.ours(v) {
            return false;
        }
        match self.space.token_field_mut(token, self.layout_epoch, index) {
            Some(field) => {
                *field = v.to_bits();
                self.counters().writes.bump();
                true
            }
            None => false,
        }
    }

    /// A token for `obj` if it is one of this image's own bytes objects (not a method), not
    /// made `become` another.
    #[inline]
    pub fn bytes_token(&self, obj: Value) -> Option<BytesToken> {
        if !obj.has_tag(self.own_tag) || !self.space.is_start(obj.index()) {
            return None;
        }
        self.space.bytes_token(obj.index(), self.layout_epoch)
    }

    /// Byte `index` of the token's object; `None` if the token is stale or of another image,
    /// or the index out of range.
    #[inline(always)]
    pub fn read_byte_token(&self, token: &BytesToken, index: usize) -> Option<u8> {
        self.space.token_byte(token, self.layout_epoch, index)
    }

    /// Stores byte `index` of the token's object and counts the write; `false` (and nothing
    /// stored) if the token is stale or of another image, or the index out of range.
    #[inline(always)]
    pub fn write_byte_token(&mut self, token: &BytesToken, index: usize, byte: u8) -> bool {
        let stored = self
            .space
            .set_token_byte(token, self.layout_epoch, index, byte);
        if stored {
            self.counters().writes.bump();
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    use crate::{BaseBuilder, BaseHeap, Format, Kernel, Value};

    fn int(i: i64) -> Value {
        Value::small_int(i).unwrap()
    }

    fn heap() -> (BaseHeap, Kernel, Value) {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b).unwrap();
        let base = b.new_object(k.array, Format::Pointers, 3).unwrap();
        (b.seal().unwrap(), k, base)
    }

    /// A token reads and writes what `read` and `write` see, counts its writes, and is made
    /// only for this image's own unforwarded objects of its kind, whole.
    #[test]
    fn a_token_reads_and_writes_the_fields_that_read_sees() {
        let (heap, k, base) = heap();
        let mut image = heap.new_image().unwrap();
        let a = image.allocate(k.array, Format::Pointers, 3).unwrap();
        image.write(a, 1, int(5)).unwrap();
        let t = image.fields_token(a).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(image.read_token(&t, 1), Some(int(5)));
        let writes = image.stats().writes;
        assert!(image.write_token(&t, 2, base));
        assert_eq!(image.stats().writes, writes + 1);
        assert_eq!(image.read(a, 2).unwrap(), base);
        assert_eq!(image.read_token(&t, 3), None);
        assert!(!image.write_token(&t, 3, int(1)));
        let s = image.new_bytes(k.byte_array, b"abcdefghij").unwrap();
        let bt = image.bytes_token(s).unwrap();
        assert_eq!(bt.len(), 10);
        assert_eq!(image.read_byte_token(&bt, 9), Some(b'j'));
        assert!(image.write_byte_token(&bt, 8, b'I'));
        assert_eq!(image.bytes(s).unwrap(), b"abcdefghIj");
        assert_eq!(image.read_byte_token(&bt, 10), None);
        assert!(!image.write_byte_token(&bt, 10, 0));
        // Not of its kind, not its own, not an object start.
        assert_eq!(image.fields_token(s), None);
        assert_eq!(image.bytes_token(a), None);
        assert_eq!(image.fields_token(base), None);
        assert_eq!(image.fields_token(int(3)), None);
        let inside = Value::object(image.incarnation, a.index() as u64 + 1);
        assert_eq!(image.fields_token(inside), None);
    }

    /// Once the process has used up its layout epochs, every heap shares the last one: a token
    /// made then could pass for another image's, so none is made and reads take `read`.
    #[test]
    fn no_token_is_made_once_the_epochs_are_used_up() {
        let (heap, k, _) = heap();
        let mut image = heap.new_image().unwrap();
        let a = image.allocate(k.array, Format::Pointers, 2).unwrap();
        let s = image.new_bytes(k.byte_array, b"abc").unwrap();
        image.layout_epoch = u64::MAX;
        assert_eq!(image.fields_token(a), None);
        assert_eq!(image.bytes_token(s), None);
        image.write(a, 1, int(5)).unwrap();
        assert_eq!(image.read(a, 1).unwrap(), int(5));
    }

    /// A collection slides objects down over the dead: a token made before it must not store
    /// where its object was, which is now inside the next live object.
    #[test]
    fn a_collection_makes_every_token_stale() {
        let (heap, k, _) = heap();
        let mut image = heap.new_image().unwrap();
        image.allocate(k.array, Format::Pointers, 4).unwrap(); // garbage
        let a = image.allocate(k.array, Format::Pointers, 2).unwrap();
        let b = image.allocate(k.array, Format::Pointers, 8).unwrap();
        let t = image.fields_token(a).unwrap();
        let bt = {
            let s = image.new_bytes(k.byte_array, b"abc").unwrap();
            image.write(b, 0, s).unwrap();
            image.bytes_token(s).unwrap()
        };
        let mut roots = [a, b];
        image.collect(&mut roots).unwrap();
        let [a, b] = roots;
        assert!(!image.write_token(&t, 1, int(7)));
        assert_eq!(image.read_token(&t, 1), None);
        assert!(!image.write_byte_token(&bt, 0, b'z'));
        assert_eq!(image.read_byte_token(&bt, 0), None);
        for i in 0..8 {
            assert_ne!(image.read(b, i).unwrap(), int(7), "field {i}");
        }
        assert_ne!(image.read(a, 1).unwrap(), int(7));
        let s = image.read(b, 0).unwrap();
        assert_eq!(image.bytes(s).unwrap(), b"abc");
        // A new token holds.
        let t = image.fields_token(a).unwrap();
        assert!(image.write_token(&t, 1, int(7)));
        assert_eq!(image.read(a, 1).unwrap(), int(7));
    }

    /// After `a become: b`, every reference to `a` leads to `b`: a token made for `a` before
    /// must not store into `a`'s old body, which no read sees any more.
    #[test]
    fn a_become_makes_every_token_stale() {
        let (heap, k, _) = heap();
        let mut image = heap.new_image().unwrap();
        let a = image.allocate(k.array, Format::Pointers, 2).unwrap();
        let b = image.allocate(k.array, Format::Pointers, 2).unwrap();
        let t = image.fields_token(a).unwrap();
        image.become_forward(a, b).unwrap();
        assert!(!image.write_token(&t, 0, int(7)));
        assert_eq!(image.read(a, 0).unwrap(), k.nil);
        assert_eq!(image.fields_token(a), None);
    }

    /// A token stores only what `set_private_field` stores: no reference of another image.
    /// And a token of one image means nothing to another, even where both made theirs alike.
    #[test]
    fn a_token_refuses_another_images_values_and_is_no_other_images() {
        let (heap, k, _) = heap();
        let mut image = heap.new_image().unwrap();
        let mut other = heap.new_image().unwrap();
        let a = image.allocate(k.array, Format::Pointers, 2).unwrap();
        let theirs = other.allocate(k.array, Format::Pointers, 2).unwrap();
        assert_eq!(a.index(), theirs.index());
        let t = image.fields_token(a).unwrap();
        assert!(!image.set_private_field(a, 0, theirs));
        assert!(!image.write_token(&t, 0, theirs));
        assert_eq!(image.read(a, 0).unwrap(), k.nil);
        assert!(!other.write_token(&t, 0, int(1)));
        assert_eq!(other.read_token(&t, 0), None);
        assert_eq!(other.read(theirs, 0).unwrap(), k.nil);
    }
}
