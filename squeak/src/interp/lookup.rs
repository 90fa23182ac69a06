//! Method lookup through the class hierarchy and MethodDictionaries, and the per-image method
//! cache in front of it; beside it, the `at:` cache.
//!
//! The cache is direct-mapped on (class, selector), as in SqueakJS and the Blue Book. Every
//! object a lookup or a method decoding read (classes, method dictionaries, their method
//! arrays, the methods) is *watched*: when this image stores into a watched object, the whole
//! cache and every decoded method are dropped, which is what primitives 116 and 119 do on a
//! real VM, done here by the store itself. Other images' writes cannot matter: they are not
//! visible to this image.
//!
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

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use super::heap::Heap;
use super::limits::RunError;
use super::method::{Hook, Method};
use super::special::{
    Shared, CLASS_METHOD_DICT, CLASS_SUPERCLASS, METHOD_DICT_ARRAY, METHOD_DICT_SELECTORS,
};
use cowheap::vm::{BytesToken, FieldsToken, Shape};
use cowheap::Value;

const CACHE_SIZE: usize = 1024;

/// Bits of the watched objects' filter (a power of two).
const FILTER_BITS: usize = 1 << 14;

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
struct AtEntry {
    /// The receiver's bits.
    key: u64,
    /// The special sends resolved to their primitive for it: [`AT_SEND`] and so on.
    sends: u8,
    /// Indexable elements: the shape's length less `fixed`.
    size: usize,
    shape: AtShape,
    elements: Elements,
}

/// A hasher for `Value` bits: one multiply, because the keys are already well spread.
#[derive(Default)]
pub(crate) struct BitsHasher(u64);

impl Hasher for BitsHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type BitsBuild = BuildHasherDefault<BitsHasher>;

/// The 0-based element a 1-based Smalltalk index names, if it is in range.
#[inline(always)]
fn element(index: Value, size: usize) -> Option<usize> {
    let i = index.as_small_int()?;
    (1..=size as i64).contains(&i).then(|| i as usize - 1)
}

#[derive(Clone)]
struct Entry {
    class: Value,
    selector: Value,
    method: Rc<Method>,
}

/// One image's method cache, decoded methods and watched objects.
#[derive(Default)]
pub(crate) struct MethodCache {
    entries: Vec<Option<Entry>>,
    methods: HashMap<u64, Rc<Method>, BitsBuild>,
    /// The method [`decoded`](Self::decoded) answered last (a block loop asks for its home's
    /// method every time round), dropped with `methods`.
    last_decoded: Option<(u64, Rc<Method>)>,
    /// The BlockContext the dispatch loop entered last, with a heap token for its fields (a
    /// loop sends `value:` to one block again and again, an Interval's `do:`): checked once,
    /// then the layout epoch and the bound at each use, as the loop's context token. Dropped
    /// where an entry through it did not answer (`blocks::enter`), and with the cache. Here
    /// and not in `Exec`, whose fields the dispatch loop reads at offsets that a new one
    /// there moved (`32 benchFib` 6% slower in CPU time, with the very same instructions).
    pub(crate) block_token: Option<(Value, FieldsToken)>,
    watched: HashSet<Value, BitsBuild>,
    /// A Bloom filter over `watched` (one bit per object, [`FILTER_BITS`] of them; empty
    /// while nothing is watched): a store into an object whose bit is clear, nearly every
    /// store, needs no look into the set.
    filter: Vec<u64>,
    /// The `at:` cache, direct-mapped; empty until first used.
    at: Vec<Option<AtEntry>>,
    /// How many times a store dropped the cache (for tests and reports).
    pub(crate) flushes: u64,
}

impl MethodCache {
    #[inline(always)]
    fn slot(class: Value, selector: Value) -> usize {
        let h = (class.to_bits() ^ selector.to_bits().rotate_left(17))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 54) as usize & (CACHE_SIZE - 1)
    }

    /// The method `class` runs for `selector`, or `None` if no class up the chain has one.
    #[inline(always)]
    pub(crate) fn lookup(
        &mut self,
        image: &mut Heap,
        shared: &Shared,
        class: Value,
        selector: Value,
    ) -> Result<Option<Rc<Method>>, RunError> {
        let slot = Self::slot(class, selector);
        if let Some(Some(e)) = self.entries.get(slot) {
            if e.class == class && e.selector == selector {
                return Ok(Some(e.method.clone()));
            }
        }
        self.miss(image, shared, class, selector, slot)
    }

    /// The cached method `class` runs for `selector`, if the cache holds it: the probe of
    /// [`lookup`](Self::lookup) alone, without the miss.
    #[inline(always)]
    pub(crate) fn probe(&self, class: Value, selector: Value) -> Option<&Rc<Method>> {
        match self.entries.get(Self::slot(class, selector)) {
            Some(Some(e)) if e.class == class && e.selector == selector => Some(&e.method),
            _ => None,
        }
    }

    /// A cache miss: look up the chain and fill the slot.
    #[inline(never)]
    fn miss(
        &mut self,
        image: &mut Heap,
        shared: &Shared,
        class: Value,
        selector: Value,
        slot: usize,
    ) -> Result<Option<Rc<Method>>, RunError> {
        let Some(method) = self.lookup_slow(image, shared, class, selector)? else {
            return Ok(None);
        };
        if self.entries.is_empty() {
            self.entries = vec![None; CACHE_SIZE];
        }
        self.entries[slot] = Some(Entry {
            class,
            selector,
            method: method.clone(),
        });
        Ok(Some(method))
    }

    fn lookup_slow(
        &mut self,
        image: &mut Heap,
        shared: &Shared,
        class: Value,
        selector: Value,
    ) -> Result<Option<Rc<Method>>, RunError> {
        // Empty slots of a method dictionary hold nil: nil is never a selector.
        if selector == shared.nil {
            return Ok(None);
        }
        let mut cls = class;
        // A superclass chain longer than this is a cycle in a malformed image.
        for _ in 0..10_000 {
            if cls == shared.nil || !cls.is_object() {
                return Ok(None);
            }
            self.watch(cls);
            let dict = image.read(cls, CLASS_METHOD_DICT)?;
            if dict.is_object() && dict != shared.nil {
                self.watch(dict);
                let n = image.size_of(dict)?;
                for i in METHOD_DICT_SELECTORS..n {
                    if image.read(dict, i)? == selector {
                        let array = image.read(dict, METHOD_DICT_ARRAY)?;
                        self.watch(array);
                        let m = image.read(array, i - METHOD_DICT_SELECTORS)?;
                        return self.method(image, shared, m).map(Some);
                    }
                }
            }
            cls = image.read(cls, CLASS_SUPERCLASS)?;
        }
        Err(RunError::Malformed(
            "the superclass chain does not end in nil".into(),
        ))
    }

    /// How many methods are decoded (for [`Interpreter::release_caches`](super::Interpreter::release_caches)).
    pub(crate) fn decoded_count(&self) -> usize {
        self.methods.len()
    }

    /// A token for the block `b` (see `block_token`), made again only for another block or
    /// after an entry through the last one failed.
    #[inline(always)]
    pub(crate) fn block_token(&mut self, image: &Heap, b: Value) -> Option<FieldsToken> {
        match self.block_token {
            Some((k, t)) if k == b => Some(t),
            _ => {
                let t = image.fields_token(b)?;
                self.block_token = Some((b, t));
                Some(t)
            }
        }
    }

    /// The decoded form of the CompiledMethod `oop`, if it is decoded already and `oop` is
    /// its canonical reference (what a read answers): [`method`](Self::method) without the
    /// canonical look-up, `None` where that is needed.
    #[inline(always)]
    pub(crate) fn decoded(&mut self, oop: Value) -> Option<Rc<Method>> {
        if let Some((bits, m)) = &self.last_decoded {
            if *bits == oop.to_bits() {
                return Some(m.clone());
            }
        }
        let m = self.methods.get(&oop.to_bits())?.clone();
        self.last_decoded = Some((oop.to_bits(), m.clone()));
        Some(m)
    }

    /// The decoded form of a CompiledMethod, decoding it on first use.
    pub(crate) fn method(
        &mut self,
        image: &mut Heap,
        shared: &Shared,
        oop: Value,
    ) -> Result<Rc<Method>, RunError> {
        let oop = image.canonical(oop)?;
        if let Some(m) = self.methods.get(&oop.to_bits()) {
            return Ok(m.clone());
        }
        let mut m = Method::decode(image, oop)?;
        m.hook = shared
            .stop_methods
            .iter()
            .find(|(s, _)| *s == oop)
            .map(|&(_, arg)| Hook::Stop(arg))
            .or_else(|| (shared.transcript_entry == Some(oop)).then_some(Hook::TranscriptEntry))
            .or_else(|| {
                shared
                    .default_dnu
                    .contains(&oop)
                    .then_some(Hook::NotUnderstood)
            });
        let m = Rc::new(m);
        self.watch(oop);
        self.methods.insert(oop.to_bits(), m.clone());
        Ok(m)
    }

    fn watch(&mut self, obj: Value) {
        // What the `at:` cache holds is never watched (see `at_shape`).
        if let Some(entry) = self.at.get_mut(Self::at_slot(obj)) {
            if entry.is_some_and(|e| e.key == obj.to_bits()) {
                *entry = None;
            }
        }
        if self.filter.is_empty() {
            self.filter = vec![0; FILTER_BITS / 64];
        }
        let bit = Self::filter_bit(obj);
        self.filter[bit / 64] |= 1 << (bit % 64);
        self.watched.insert(obj);
    }

    #[inline(always)]
    fn filter_bit(obj: Value) -> usize {
        (obj.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize & (FILTER_BITS - 1)
    }

    /// True if a store into `obj` (by this very reference) would drop the cache.
    #[inline(always)]
    pub(crate) fn watches(&self, obj: Value) -> bool {
        self.may_watch(obj) && self.watched.contains(&obj)
    }

    /// False if `obj` is certainly not watched (its filter bit is clear): [`watches`]
    /// without the look into the set, for a caller that takes another path where it is
    /// true and so needs no registers for the set's probe.
    ///
    /// [`watches`]: Self::watches
    #[inline(always)]
    pub(crate) fn may_watch(&self, obj: Value) -> bool {
        let bit = Self::filter_bit(obj);
        self.filter
            .get(bit / 64)
            .is_some_and(|&word| word >> (bit % 64) & 1 != 0)
    }

    /// Called before this image stores into `obj` (already canonical): drops everything
    /// cached if the store can change what a lookup or a decoded method says.
    #[inline]
    pub(crate) fn before_store(&mut self, obj: Value) {
        if self.watches(obj) {
            self.flush();
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
        match (e.elements, v.as_small_int()) {
            (Elements::Fields(t), _) => image.write_token(&t, e.shape.fixed + i, v),
            (Elements::Bytes(t), Some(b @ 0..=255)) => image.write_byte_token(&t, i, b as u8),
            _ => false,
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

    /// What a collection of this image leaves true, kept; the rest dropped. A collection
    /// moves this image's private objects and renumbers them, so every private reference
    /// here goes stale, and a private object watched under its old reference would no longer
    /// drop the cache when stored into. What base objects alone decided stays true: base
    /// references survive the collection ([`Value::is_base_reference`]), and nothing about
    /// the objects changed. So:
    /// - if a lookup or the `at:` cache watched a private object (a class, method dictionary
    ///   or method array this image made or copied), everything goes, as before;
    /// - a decoded method goes if its own reference or one of its literals is private (a
    ///   literal read after this image copied it, a global's association say), and so do the
    ///   entries that answer it, and the entries keyed by a private class or selector;
    /// - the `at:` cache and the block token go (their keys may be private, and the layout
    ///   epoch changed anyway); the watched set keeps its base references.
    ///
    /// A host that drops everything after each of its collections pays, at 1,000 sessions
    /// taking turns, about 12,000 instructions per lookup made again.
    pub(crate) fn after_collection(&mut self) {
        let private_watched = self.watched.iter().filter(|v| !v.is_base_reference());
        for v in private_watched {
            if !self.methods.contains_key(&v.to_bits()) {
                self.clear();
                return;
            }
        }
        let lasts = |m: &Method| {
            m.oop.is_base_reference()
                && m.literals
                    .iter()
                    .all(|l| !l.is_object() || l.is_base_reference())
        };
        self.methods.retain(|_, m| lasts(m));
        for slot in self.entries.iter_mut() {
            if slot.as_ref().is_some_and(|e| {
                !(e.class.is_base_reference() && e.selector.is_base_reference() && lasts(&e.method))
            }) {
                *slot = None;
            }
        }
        self.watched.retain(|v| v.is_base_reference());
        self.filter.iter_mut().for_each(|w| *w = 0);
        for &v in &self.watched {
            let bit = Self::filter_bit(v);
            self.filter[bit / 64] |= 1 << (bit % 64);
        }
        self.at.clear();
        self.last_decoded = None;
        self.block_token = None;
    }

    /// Drops every cached lookup and decoded method, and the `at:` cache: a store into a
    /// watched object did something a lookup or a decoding read.
    pub(crate) fn flush(&mut self) {
        self.clear();
        self.flushes += 1;
    }

    fn clear(&mut self) {
        self.at.clear();
        self.entries.clear();
        self.methods.clear();
        self.watched.clear();
        self.filter.clear();
        self.last_decoded = None;
        self.block_token = None;
    }
}
