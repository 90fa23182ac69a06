//! The `at:` cache is Squeak's atCache: what `at:`, `at:put:` and `size` learnt about a
//! receiver's shape (format, element count, fixed fields before the indexable ones), keyed by
//! the receiver's reference, so that the next `at:` on it does not resolve the object and read
//! its class's format again. It is dropped with the method cache, which is every event that
//! can change what it says: a `become:` (primitives 72 and 128 flush), a collection (which
//! moves objects and gives references a new incarnation), and a store into a class whose
//! format gave an entry its fixed fields (that class is watched). Nothing else changes an
//! object's shape in cowheap: objects never grow or shrink, a copy on write keeps its
//! original's shape, and a language format is set only on objects just allocated, whose
//! references no entry can hold. The cache spares the shape only: the element read or
//! written afterwards still goes through the heap's checked `read`/`write`.
//!
//! **The special sends' hits.** An entry also notes which of the special-selector sends
//! `at:`, `at:put:` and `size` (bytecodes 192-194) a real send resolved, for this receiver, to
//! primitive 60, 61 or 62 ([`resolved`](MethodCache::resolved): its class's method found
//! through the method cache, by an ordinary send, not `super`), and for one of this image's
//! own pointers or bytes objects a heap token ([`cowheap::vm::FieldsToken`]) for its elements.
//! The dispatch loop then answers such a send from the entry alone
//! ([`send_at`](MethodCache::send_at), [`send_at_put`](MethodCache::send_at_put),
//! [`send_size`](MethodCache::send_size)): no class, no lookup, no resolve. Why that is the
//! send's answer: the receiver's class, and so the method its send finds, changes only by a
//! `become:` (which flushes); the method a class finds changes only by a store into a watched
//! object (which flushes); the shape as above. The token covers the heap's side: a collection
//! or a `become` anywhere in the image gives it a new layout epoch, and a stale token answers
//! nothing, so the send takes the full path and fills the entry again.
//! Primitives 60 and 61 themselves (`digitAt:`, `basicAt:put:`, any send whose method is one
//! of them) read and write through the same token ([`elements_at`](MethodCache::elements_at)):
//! they need the elements alone, not which special sends the entry answers.

use crate::interp::heap::Heap;
use crate::interp::lookup::MethodCache;
use cowheap::vm::{BytesToken, FieldsToken, Shape};
use cowheap::Value;

/// Entries of the `at:` cache (a power of two).
const AT_CACHE_SIZE: usize = 64;
const _: () = assert!(AT_CACHE_SIZE == 1 << (64 - 58));

/// What the `at:` cache remembers of a receiver: its shape, and the fixed fields that come
/// before its indexable ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AtShape {
    pub(crate) shape: Shape,
    pub(crate) fixed: usize,
}

/// The special sends an `at:` entry answers ([`MethodCache::resolved`]).
pub(crate) const AT_SEND: u8 = 1;
pub(crate) const AT_PUT_SEND: u8 = 2;
pub(crate) const SIZE_SEND: u8 = 4;

/// Where an `at:` entry's elements are, for the special sends' hits.
#[derive(Clone, Copy, Debug)]
enum Elements {
    /// Not known: the object is not one of this image's own pointers or bytes objects.
    None,
    Fields(FieldsToken),
    Bytes(BytesToken),
}

/// One entry of the `at:` cache.
#[derive(Clone, Copy, Debug)]
pub(super) struct AtEntry {
    /// The receiver's bits.
    key: u64,
    /// The special sends resolved to their primitive for it: [`AT_SEND`] and so on.
    sends: u8,
    /// Indexable elements: the shape's length less `fixed`.
    size: usize,
    shape: AtShape,
    elements: Elements,
}

/// The 0-based element a 1-based Smalltalk index names, if it is in range.
#[inline(always)]
fn element(index: Value, size: usize) -> Option<usize> {
    // One unsigned comparison for both bounds: 0 and a negative index wrap to past any size.
    let i = (index.as_small_int()? as usize).wrapping_sub(1);
    (i < size).then_some(i)
}

impl MethodCache {
    /// Drops the entry of `obj`, which is about to be watched: what the cache holds is never
    /// watched (see `at_shape`).
    pub(super) fn forget_at(&mut self, obj: Value) {
        if let Some(entry) = self.at.get_mut(Self::at_slot(obj)) {
            if entry.is_some_and(|e| e.key == obj.to_bits()) {
                *entry = None;
            }
        }
    }

    #[inline(always)]
    fn at_slot(obj: Value) -> usize {
        // A multiplicative hash, not the low bits of the word index: a copy loop between
        // two Arrays whose sizes are multiples of the cache's size (an OrderedCollection
        // growing by doubling) would have them share a slot and miss at every element.
        (obj.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize & (AT_CACHE_SIZE - 1)
    }

    /// What the `at:` cache knows of `obj`, if anything. An object it knows is one this
    /// cache does not [watch](Self::watches) (by the same reference): `remember_at_shape`
    /// leaves out a watched object, and watching one drops its entry. So a store into it
    /// through this reference needs no `watches` test.
    #[inline(always)]
    pub(crate) fn at_shape(&self, obj: Value) -> Option<AtShape> {
        match self.at.get(Self::at_slot(obj)) {
            Some(&Some(e)) if e.key == obj.to_bits() => Some(e.shape),
            _ => None,
        }
    }

    /// The entry of `obj` if it answers the special send `send` ([`AT_SEND`] and so on).
    #[inline(always)]
    fn hit(&self, obj: Value, send: u8) -> Option<&AtEntry> {
        self.entry(obj).filter(|e| e.sends & send != 0)
    }

    /// The entry of `obj`, whichever special sends it answers.
    #[inline(always)]
    fn entry(&self, obj: Value) -> Option<&AtEntry> {
        match self.at.get(Self::at_slot(obj)) {
            Some(Some(e)) if e.key == obj.to_bits() => Some(e),
            _ => None,
        }
    }

    /// Element `index` (1-based) of the entry's object, through its token.
    #[inline(always)]
    fn element_of(e: &AtEntry, image: &Heap, index: Value) -> Option<Value> {
        let i = element(index, e.size)?;
        match e.elements {
            Elements::Fields(t) => image.read_token(&t, e.shape.fixed + i),
            Elements::Bytes(t) => image
                .read_byte_token(&t, i)
                .map(|b| Value::small_int_wrapping(b as i64)),
            Elements::None => None,
        }
    }

    /// Stores `v` as element `index` (1-based) of the entry's object, through its token.
    #[inline(always)]
    fn set_element_of(e: &AtEntry, image: &mut Heap, index: Value, v: Value) -> bool {
        let Some(i) = element(index, e.size) else {
            return false;
        };
        // The elements first, read where they are: `v` is looked at only for bytes, and the
        // token is not copied out before (measured: 1 benchmark's `at:put:`, ~75
        // instructions, with the copies spilled).
        match &e.elements {
            Elements::Fields(t) => image.write_token(t, e.shape.fixed + i, v),
            Elements::Bytes(t) => match v.as_small_int() {
                Some(b @ 0..=255) => image.write_byte_token(t, i, b as u8),
                _ => false,
            },
            Elements::None => false,
        }
    }

    /// What primitive 60 answers for `rcvr at: index`, where the entry of `rcvr` holds a
    /// token for its elements: [`send_at`](Self::send_at) without the look at the special
    /// sends the entry answers, for a caller that already is primitive 60 for `rcvr` (a
    /// `digitAt:` or `basicAt:` whose method is that primitive). `None`: the primitive's
    /// own path.
    #[inline(always)]
    pub(crate) fn elements_at(&self, image: &Heap, rcvr: Value, index: Value) -> Option<Value> {
        Self::element_of(self.entry(rcvr)?, image, index)
    }

    /// [`elements_at`](Self::elements_at) for primitive 61: true if stored. No store into a
    /// watched object (the cache holds none); the caller tells the context pool of `v`
    /// first.
    #[inline(always)]
    pub(crate) fn elements_at_put(
        &self,
        image: &mut Heap,
        rcvr: Value,
        index: Value,
        v: Value,
    ) -> bool {
        self.entry(rcvr)
            .is_some_and(|e| Self::set_element_of(e, image, index, v))
    }

    /// What the special send `rcvr at: index` answers, if the entry of `rcvr` says without
    /// the send (see the module docs); `None`: the full send.
    #[inline(always)]
    pub(crate) fn send_at(&self, image: &Heap, rcvr: Value, index: Value) -> Option<Value> {
        Self::element_of(self.hit(rcvr, AT_SEND)?, image, index)
    }

    /// The special send `rcvr at: index put: v`, if the entry of `rcvr` says it is primitive
    /// 61's store: true if stored. No store into a watched object: the cache holds none. The
    /// caller tells the context pool of `v` first (or lets the full send do it).
    #[inline(always)]
    pub(crate) fn send_at_put(
        &self,
        image: &mut Heap,
        rcvr: Value,
        index: Value,
        v: Value,
    ) -> bool {
        self.hit(rcvr, AT_PUT_SEND)
            .is_some_and(|e| Self::set_element_of(e, image, index, v))
    }

    /// Byte `index` (1-based) of `rcvr` through its entry's token, for primitive 63 (a
    /// String's `at:`): only an entry of a bytes object answers, whichever sends it answers.
    #[inline(always)]
    pub(crate) fn bytes_at(&self, image: &Heap, rcvr: Value, index: Value) -> Option<u8> {
        let e = self.entry(rcvr)?;
        match e.elements {
            Elements::Bytes(t) => image.read_byte_token(&t, element(index, e.size)?),
            _ => None,
        }
    }

    /// [`bytes_at`](Self::bytes_at) for primitive 64: true if stored.
    #[inline(always)]
    pub(crate) fn bytes_at_put(&self, image: &mut Heap, rcvr: Value, index: Value, b: u8) -> bool {
        let Some(e) = self.entry(rcvr) else {
            return false;
        };
        match (e.elements, element(index, e.size)) {
            (Elements::Bytes(t), Some(i)) => image.write_byte_token(&t, i, b),
            _ => false,
        }
    }

    /// What the special send `rcvr size` answers, if the entry of `rcvr` says.
    #[inline(always)]
    pub(crate) fn send_size(&self, rcvr: Value) -> Option<Value> {
        let e = self.hit(rcvr, SIZE_SEND)?;
        Some(Value::small_int_wrapping(e.size as i64))
    }

    /// Notes that the special send `send` to `rcvr`, an ordinary send through the method
    /// cache, found its primitive (60, 61, 62) and that primitive answered: from now on the
    /// entry of `rcvr`, if the cache has one, answers that send (and a token for its elements
    /// is taken on first use).
    pub(crate) fn resolved(&mut self, image: &Heap, rcvr: Value, send: u8) {
        let Some(Some(e)) = self.at.get_mut(Self::at_slot(rcvr)) else {
            return;
        };
        if e.key != rcvr.to_bits() {
            return;
        }
        if matches!(e.elements, Elements::None) {
            e.elements = match e.shape.shape.format {
                cowheap::Format::Pointers => image
                    .fields_token(rcvr)
                    .filter(|t| t.len() == e.shape.shape.len)
                    .map_or(Elements::None, Elements::Fields),
                cowheap::Format::Bytes => image
                    .bytes_token(rcvr)
                    .filter(|t| t.len() == e.shape.shape.len)
                    .map_or(Elements::None, Elements::Bytes),
                _ => Elements::None,
            };
        }
        if !matches!(e.elements, Elements::None) || send == SIZE_SEND {
            e.sends |= send;
        }
    }

    /// Remembers the shape of the object `obj`; `class`, if the fixed fields came from its
    /// format, is watched, so that a store into it drops the entry.
    pub(crate) fn remember_at_shape(&mut self, obj: Value, class: Option<Value>, shape: AtShape) {
        debug_assert!(obj.is_object());
        if let Some(c) = class {
            self.watch(c);
        }
        if self.watches(obj) {
            return;
        }
        if self.at.is_empty() {
            self.at = vec![None; AT_CACHE_SIZE];
        }
        self.at[Self::at_slot(obj)] = Some(AtEntry {
            key: obj.to_bits(),
            sends: 0,
            size: shape.shape.len.saturating_sub(shape.fixed),
            shape,
            elements: Elements::None,
        });
    }
}
