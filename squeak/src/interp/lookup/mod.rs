//! Method lookup through the class hierarchy and MethodDictionaries, and the per-image method
//! cache in front of it; beside it, the `at:` cache.
//!
//! The cache is direct-mapped on (class, selector), as in SqueakJS and the Blue Book. Every
//! object a lookup or a method decoding read (classes, method dictionaries, their method
//! arrays, the methods) is *watched*: when this image stores into a watched object, the whole
//! cache and every decoded method are dropped, which is what primitives 116 and 119 do on a
//! real VM, done here by the store itself. Other images' writes cannot matter: they are not
//! visible to this image.

mod at;
pub(crate) mod base_table;
mod watch;

use at::AtEntry;
pub(crate) use at::{AtShape, AT_PUT_SEND, AT_SEND, SIZE_SEND};
use base_table::{BaseTable, Found};
pub(crate) use watch::Unwatched;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use super::heap::Heap;
use super::limits::RunError;
use super::method::{Hook, Method};
use super::special::{
    Shared, CLASS_METHOD_DICT, CLASS_SUPERCLASS, METHOD_DICT_ARRAY, METHOD_DICT_SELECTORS,
};
use cowheap::vm::FieldsToken;
use cowheap::Value;

const CACHE_SIZE: usize = 1024;

/// Bits of the watched objects' filter (a power of two).
const FILTER_BITS: usize = 1 << 14;

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

#[derive(Clone)]
struct Entry {
    class: Value,
    selector: Value,
    method: Rc<Method>,
}

impl Entry {
    /// True if a collection leaves the entry true: its keys and method are the base's.
    fn lasts(&self) -> bool {
        self.class.is_base_reference() && self.selector.is_base_reference() && self.method.lasts()
    }
}

/// One image's method cache, decoded methods and watched objects.
#[derive(Default)]
pub(crate) struct MethodCache {
    entries: Vec<Option<Entry>>,
    methods: HashMap<u64, Rc<Method>, BitsBuild>,
    /// The methods [`decoded`](Self::decoded) answered last and the one before (a block
    /// loop asks for its home's method every time round; an `inject:into:` runs two blocks
    /// of two methods in turn), dropped with `methods`.
    last_decoded: [Option<(u64, Rc<Method>)>; 2],
    /// The BlockContext the dispatch loop entered last, with a heap token for its fields (a
    /// loop sends `value:` to one block again and again, an Interval's `do:`): checked once,
    /// then the layout epoch and the bound at each use, as the loop's context token. Dropped
    /// where an entry through it did not answer (`blocks::enter`), whenever an object becomes
    /// watched (so a kept one says its block is not), and with the cache. Here
    /// and not in `Exec`, whose fields the dispatch loop reads at offsets that a new one
    /// there moved (`32 benchFib` 6% slower in CPU time, with the very same instructions).
    block_token: Option<(Value, FieldsToken)>,
    watched: HashSet<Value, BitsBuild>,
    /// A Bloom filter over `watched` (one bit per object, [`FILTER_BITS`] of them; empty
    /// while nothing is watched): a store into an object whose bit is clear, nearly every
    /// store, needs no look into the set.
    filter: Vec<u64>,
    /// The `at:` cache, direct-mapped; empty until first used.
    at: Vec<Option<AtEntry>>,
    /// How many times a store dropped the cache (for tests and reports).
    pub(crate) flushes: u64,
    // Last: the dispatch loop reads the fields above, and a field before them moves their
    // offsets, which moves its time (`30 benchFib` 9% more CPU, the very same instructions).
    /// What a collection drops (see [`after_collection`](Self::after_collection)), noted as
    /// it is cached: the private objects watched, the decoded methods that are not the
    /// base's alone (by reference), and whether any entry is not; and how many of the
    /// filter's bits belong to objects no longer watched.
    watched_private: Vec<Value>,
    methods_private: Vec<u64>,
    entries_private: bool,
    filter_stale: usize,
    /// Lookups and decodings taken from the base table (for tests and reports).
    pub(crate) taken: u64,
    /// The base's table, shared with every image of the base (`None`: none is shared).
    base_table: Option<Arc<BaseTable>>,
    /// The last context and the last receiver the dispatch loop stored into through its
    /// token that the cache was seen not to watch: a store into either needs no look at the
    /// filter (`ctx_store`, `receiver_store`). Dropped whenever an object becomes watched
    /// (the only way a reference here can come to need a flush), and with the cache.
    pub(crate) unwatched_ctx: Unwatched,
    pub(crate) unwatched_receiver: Unwatched,
    /// The block `block_token` held before (a loop entering two blocks in turn would make a
    /// token at every entry with one slot): looked at only where that one missed.
    block_token_before: Option<(Value, FieldsToken)>,
    /// Globals' values, each read from a base association this image had not written
    /// (`Heap::read_sealed`), direct-mapped by the association, all read under the heap's
    /// `sealed_view` kept beside them: a base object's words never change, and this image's
    /// view of one changes only with that number, so an entry holds until it moves, whatever
    /// else the image stores. Empty until a global is read.
    sealed: Vec<Option<(Value, Value)>>,
    sealed_view: u64,
}

/// Entries of the globals' cache (a power of two).
const SEALED_SIZE: usize = 16;

impl MethodCache {
    /// An empty cache over the base table `table`. Over a plain heap (the `plain-heap`
    /// feature) none is shared: its images own every object outright, and nothing tells which
    /// of the base's an image has written, which taking an entry must know.
    pub(crate) fn with_table(table: Arc<BaseTable>) -> MethodCache {
        MethodCache {
            base_table: cfg!(not(feature = "plain-heap")).then_some(table),
            ..MethodCache::default()
        }
    }

    /// An empty cache over the same base table (a new incarnation, or caches released).
    pub(crate) fn emptied(&self) -> MethodCache {
        MethodCache {
            base_table: self.base_table.clone(),
            ..MethodCache::default()
        }
    }

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
        let entry = Entry {
            class,
            selector,
            method: method.clone(),
        };
        self.entries_private |= !entry.lasts();
        self.entries[slot] = Some(entry);
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
        let shareable = class.is_base_reference() && selector.is_base_reference();
        if shareable {
            let found = self
                .base_table
                .as_ref()
                .and_then(|t| t.lookup(class, selector));
            if let Some(found) = found {
                if let Some(m) = self.take(image, selector, &found)? {
                    return Ok(Some(m));
                }
            }
        }
        // What the lookup reads through, for the base table.
        let mut through = Vec::new();
        let mut cls = class;
        // A superclass chain longer than this is a cycle in a malformed image.
        for _ in 0..10_000 {
            if cls == shared.nil || !cls.is_object() {
                return Ok(None);
            }
            self.watch(cls);
            through.push(cls);
            let dict = image.read(cls, CLASS_METHOD_DICT)?;
            if dict.is_object() && dict != shared.nil {
                self.watch(dict);
                through.push(dict);
                if let Some(i) = selector_field(image, shared.nil, dict, selector)? {
                    let array = image.read(dict, METHOD_DICT_ARRAY)?;
                    self.watch(array);
                    through.push(array);
                    let m = image.read(array, i - METHOD_DICT_SELECTORS)?;
                    let method = self.method(image, shared, m)?;
                    through.push(method.oop);
                    if let Some(table) = &self.base_table {
                        if shareable
                            && method.lasts()
                            && through.iter().all(|v| v.is_base_reference())
                        {
                            table.offer_lookup(class, selector, &through);
                        }
                    }
                    return Ok(Some(method));
                }
            }
            cls = image.read(cls, CLASS_SUPERCLASS)?;
        }
        Err(RunError::Malformed(
            "the superclass chain does not end in nil".into(),
        ))
    }

    /// The base table's lookup `found` of `selector`, if this image has written none of the
    /// objects it was found through (nor the method's literals, if the method is not decoded
    /// here yet) and has not made the selector another object (a `become:` of two Symbols,
    /// after which its own lookup compares the keys with what the selector names now); they
    /// are watched, as this image's own lookup would have watched them.
    fn take(
        &mut self,
        image: &mut Heap,
        selector: Value,
        found: &Found,
    ) -> Result<Option<Rc<Method>>, RunError> {
        if !base_table::untouched(image, &found.through)?
            || !base_table::untouched(image, &[selector])?
        {
            return Ok(None);
        }
        let m = match self.methods.get(&found.method.to_bits()) {
            Some(m) => m.clone(),
            None => match self.adopt(image, found.method)? {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        for &v in found.through.iter() {
            self.watch(v);
        }
        self.taken += 1;
        Ok(Some(m))
    }

    /// The base table's decoding of the base method `oop`, made this image's own, if the
    /// image has written none of its literals (the method itself the caller checked, and
    /// watches).
    fn adopt(&mut self, image: &Heap, oop: Value) -> Result<Option<Rc<Method>>, RunError> {
        let Some(t) = self.base_table.as_ref().and_then(|t| t.method(oop)) else {
            return Ok(None);
        };
        if !base_table::untouched(image, &t.literals)? {
            return Ok(None);
        }
        let m = Rc::new(Method::clone(&t));
        self.methods.insert(oop.to_bits(), m.clone());
        self.taken += 1;
        Ok(Some(m))
    }

    /// How many methods are decoded (for [`Interpreter::release_caches`](super::Interpreter::release_caches)).
    pub(crate) fn decoded_count(&self) -> usize {
        self.methods.len()
    }

    /// A token for the block `b` (see `block_token`), made again only for another block or
    /// after an entry through the last one failed; `None` if the cache watches `b` (a store
    /// into it must drop the cache). The token is dropped whenever an object becomes
    /// watched, so one kept says the block is not watched, without a look at the filter.
    #[inline(always)]
    pub(crate) fn block_token(&mut self, image: &Heap, b: Value) -> Option<FieldsToken> {
        match self.block_token {
            Some((k, t)) if k == b => Some(t),
            _ => self.block_token_in_full(image, b),
        }
    }

    /// [`block_token`](Self::block_token) where the last block's missed: the one before's,
    /// else a new token, which becomes the last's, the one it displaces the one before's.
    #[inline(always)]
    fn block_token_in_full(&mut self, image: &Heap, b: Value) -> Option<FieldsToken> {
        if let Some((k, t)) = self.block_token_before {
            if k == b {
                return Some(t);
            }
        }
        if self.watches(b) {
            return None;
        }
        let t = image.fields_token(b)?;
        self.block_token_before = self.block_token.replace((b, t));
        Some(t)
    }

    /// The value of the global whose association is `assoc`, if the cache read it under
    /// `view`, the heap's [`sealed_view`](cowheap::Image::sealed_view) now (`None`: a heap that
    /// keeps nothing sealed, where nothing is cached).
    #[inline(always)]
    pub(crate) fn sealed_global(&self, assoc: Value, view: Option<u64>) -> Option<Value> {
        if view? != self.sealed_view {
            return None;
        }
        match self.sealed.get(Self::sealed_slot(assoc)) {
            Some(&Some((k, v))) if k == assoc => Some(v),
            _ => None,
        }
    }

    /// Keeps `v`, read from the association `assoc` under `view`
    /// ([`read_sealed`](cowheap::Image::read_sealed)); what was kept under another view goes.
    pub(crate) fn remember_sealed_global(&mut self, assoc: Value, v: Value, view: u64) {
        if self.sealed.is_empty() || view != self.sealed_view {
            self.sealed = vec![None; SEALED_SIZE];
            self.sealed_view = view;
        }
        self.sealed[Self::sealed_slot(assoc)] = Some((assoc, v));
    }

    #[inline(always)]
    fn sealed_slot(assoc: Value) -> usize {
        (assoc.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize & (SEALED_SIZE - 1)
    }

    /// The token kept for the block `b` by its entry, if either memo holds it: the block a
    /// loop entered is the one that returns. None is made here.
    #[inline(always)]
    pub(crate) fn kept_block_token(&self, b: Value) -> Option<FieldsToken> {
        match (self.block_token, self.block_token_before) {
            (Some((k, t)), _) if k == b => Some(t),
            (_, Some((k, t))) if k == b => Some(t),
            _ => None,
        }
    }

    /// Drops both block tokens: an entry through one of them failed (a stale token would
    /// send every later entry of its block to the general path), or the cache changed.
    pub(crate) fn forget_block_tokens(&mut self) {
        self.block_token = None;
        self.block_token_before = None;
    }

    /// The decoded form of the CompiledMethod `oop`, if it is decoded already and `oop` is
    /// its canonical reference (what a read answers): [`method`](Self::method) without the
    /// canonical look-up, `None` where that is needed.
    #[inline(always)]
    pub(crate) fn decoded(&mut self, oop: Value) -> Option<Rc<Method>> {
        let bits = oop.to_bits();
        // Both looked at here, neither moved: a loop of two blocks of two methods asks for
        // each in turn.
        for (k, m) in self.last_decoded.iter().flatten() {
            if *k == bits {
                return Some(m.clone());
            }
        }
        self.decoded_in_full(bits)
    }

    /// [`decoded`](Self::decoded) where neither memo held the method: the table's, which
    /// displaces the last to before.
    #[inline(never)]
    fn decoded_in_full(&mut self, bits: u64) -> Option<Rc<Method>> {
        let m = self.methods.get(&bits)?.clone();
        self.last_decoded[1] = self.last_decoded[0].replace((bits, m.clone()));
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
        if oop.is_base_reference() {
            if let Some(m) = self.adopt(image, oop)? {
                self.watch(oop);
                return Ok(m);
            }
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
        if !m.lasts() {
            self.methods_private.push(oop.to_bits());
        } else if let Some(table) = &self.base_table {
            table.offer_method(&m);
        }
        let m = Rc::new(m);
        self.watch(oop);
        self.methods.insert(oop.to_bits(), m.clone());
        Ok(m)
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
        if self
            .watched_private
            .iter()
            .any(|v| !self.methods.contains_key(&v.to_bits()))
        {
            self.clear();
            return;
        }
        for k in self.methods_private.drain(..) {
            self.methods.remove(&k);
        }
        if std::mem::take(&mut self.entries_private) {
            for slot in self.entries.iter_mut() {
                if slot.as_ref().is_some_and(|e| !e.lasts()) {
                    *slot = None;
                }
            }
        }
        for v in self.watched_private.drain(..) {
            self.watched.remove(&v);
            self.filter_stale += 1;
        }
        // Bits of objects no longer watched stay set: they cost a look into the set on a
        // store, until there are enough of them to build the filter again.
        if self.filter_stale > FILTER_BITS / 16 {
            self.filter_stale = 0;
            self.filter.iter_mut().for_each(|w| *w = 0);
            for &v in &self.watched {
                let bit = Self::filter_bit(v);
                self.filter[bit / 64] |= 1 << (bit % 64);
            }
        }
        self.at.iter_mut().for_each(|e| *e = None);
        self.last_decoded = [None, None];
        self.forget_unwatched();
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
        self.watched_private.clear();
        self.methods_private.clear();
        self.entries_private = false;
        self.filter_stale = 0;
        self.last_decoded = [None, None];
        self.forget_unwatched();
    }
}

/// The field of the method dictionary `dict` that holds `selector`, looked for as the real VM
/// looks (`lookupMethodInDictionary:`): from the selector's identity hash (a SmallInteger's
/// value) masked by the selector count less one, forward, wrapping once, up to the first nil.
/// The image's own MethodDictionary code puts each selector on that path, so a miss reads a
/// few fields instead of the whole dictionary (Object's has hundreds, and a new image's first
/// lookups miss all the way up the chain); a selector off its path is not found, as on the
/// real VM.
pub(crate) fn selector_field(
    image: &mut Heap,
    nil: Value,
    dict: Value,
    selector: Value,
) -> Result<Option<usize>, RunError> {
    let n = image.size_of(dict)?;
    if n <= METHOD_DICT_SELECTORS {
        return Ok(None);
    }
    let mask = n - METHOD_DICT_SELECTORS - 1;
    // The keys are read as reads answer them, canonical: so is the selector compared, which
    // a method's decoded literals hold as they read before a `become:` of a Symbol.
    let selector = image.canonical(selector)?;
    let hash = match selector.as_small_int() {
        // Only the masked low bits count: the wrap of a negative value's cast keeps them.
        Some(i) => i as usize,
        None => image.identity_hash(selector)? as usize,
    };
    let mut i = (hash & mask) + METHOD_DICT_SELECTORS;
    let mut wrapped = false;
    loop {
        let s = image.read(dict, i)?;
        if s == selector {
            return Ok(Some(i));
        }
        if s == nil {
            return Ok(None);
        }
        i += 1;
        if i == n {
            if wrapped {
                return Ok(None);
            }
            wrapped = true;
            i = METHOD_DICT_SELECTORS;
        }
    }
}
