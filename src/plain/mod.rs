//! A plain heap: one image's private copy of a base, with no sharing, for measuring what the
//! sharing costs a VM.
//!
//! [`PlainHeap`] answers the calls of [`Image`](crate::Image) that a language VM makes, with
//! the same names, signatures and rules (identity, `become`, the collector, weak fields, typed
//! errors), over the simplest heap that keeps them: every object in one `Vec` of words,
//! a reference is the index of its object's header. The base's objects are copied once, at the
//! indices they have in the base, so a VM's tables of base references (special objects,
//! selectors) name the same objects here. Then there is nothing else: no copy-on-write, no
//! conditional forwarders, no per-image resolutions, no shared counters. What stays is what
//! any safe VM needs: a reference is checked (its owner, see below, and the object-start
//! bitmap) before its header is trusted, and every index against the object's length.
//!
//! **Two owners, one space.** The copied base objects keep the base's owner in their
//! references and never move: they are this heap's old space, which its collector traces
//! but never compacts, as the base is for an image. New objects carry this heap's
//! incarnation, which a collection that moves them changes, so that a reference the caller
//! kept past a collection is refused as stale, never taken for another object: the rule
//! images keep. A reference names the owner its index implies, so the check is one compare.
//! Two plain heaps of one base accept each other's references to copied base objects (they
//! name the same object of equal copies); nothing else crosses.
//!
//! **Become** forwards an object's header to its target, as Spur (and an image's private
//! space) does; reads follow it and fix up the field they read it from. A collection drops
//! forwarded new objects; a forwarded base object stays forwarded in place.

#![forbid(unsafe_code)]

mod allocate;
mod bulk;
mod collect;
mod private;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use crate::image::{WeakRule, MIN_THRESHOLD};
use crate::kernel::owners::{acquire_incarnation, release_incarnation};
use crate::object::{self, Format, Header, FORWARDED, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::space::Space;
use crate::value::OwnerTag;
use crate::vm::Shape;
use crate::{BaseHeap, Error, ImageStats, Result, Value};

/// One VM's private heap: a copy of a base's objects and everything it allocates, in one
/// space (see the [module docs](self)). Answers [`Image`](crate::Image)'s VM calls.
pub struct PlainHeap {
    space: Space,
    /// Words of the copied base: objects below this index never move.
    loaded: usize,
    /// Where the copied base objects start.
    loaded_starts: Box<[u32]>,
    base_owner: u32,
    incarnation: u32,
    /// `base_owner` and `incarnation` as reference bits, for the owner checks.
    base_tag: OwnerTag,
    own_tag: OwnerTag,
    filler: Value,
    roots: Vec<(String, Value)>,
    /// True once some object has been made to `become` another: until then a reference read
    /// from a field needs no look at the header it names.
    becomes: bool,
    weak: Option<WeakRule>,
    threshold: usize,
    ceiling: usize,
    longest: Duration,
    peak: usize,
    retired: VecDeque<u32>,
    stats: ImageStats,
    /// As an image's: a new one at every collection and `become`, what tokens check.
    layout_epoch: u64,
}

impl std::fmt::Debug for PlainHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainHeap")
            .field("loaded_words", &self.loaded)
            .field("words", &self.space.len())
            .field("incarnation", &self.incarnation)
            .finish()
    }
}

impl Drop for PlainHeap {
    fn drop(&mut self) {
        release_incarnation(self.incarnation);
        for n in self.retired.drain(..) {
            release_incarnation(n);
        }
    }
}

impl PlainHeap {
    /// A private copy of every object of `base`, at the indices it has there.
    pub fn new(base: &BaseHeap) -> Result<PlainHeap> {
        let incarnation = acquire_incarnation().ok_or(Error::IncarnationsExhausted)?;
        let arena = base.arena();
        let len = arena.len();
        let mut words = Vec::new();
        words
            .try_reserve(len.max(1))
            .map_err(|_| Error::OutOfMemory { bytes: len * 8 })?;
        words.extend(
            arena
                .words(0, len)
                .iter()
                .map(|w| w.load(crate::kernel::sync::Ordering::Relaxed)),
        );
        let starts = base.inner.starts.clone();
        let space = Space::restored(words, starts.iter().map(|&s| s as usize), incarnation);
        Ok(PlainHeap {
            space,
            loaded: len,
            loaded_starts: starts,
            base_owner: base.base_owner(),
            incarnation,
            base_tag: OwnerTag::of(base.base_owner()),
            own_tag: OwnerTag::of(incarnation),
            filler: base.filler(),
            roots: base.roots().to_vec(),
            becomes: false,
            weak: None,
            threshold: MIN_THRESHOLD,
            ceiling: usize::MAX,
            longest: Duration::ZERO,
            peak: 0,
            retired: VecDeque::new(),
            stats: ImageStats::default(),
            layout_epoch: crate::vm::new_epoch(),
        })
    }

    /// The owner of the reference to the object at `at`.
    #[inline(always)]
    fn owner_at(&self, at: usize) -> u32 {
        if at < self.loaded {
            self.base_owner
        } else {
            self.incarnation
        }
    }

    #[inline(always)]
    fn value_of(&self, at: usize) -> Value {
        Value::object(self.owner_at(at), at as u64)
    }

    /// The object `v` names, if it is a reference of this heap to an object start.
    #[inline(always)]
    fn start(&self, v: Value) -> Option<usize> {
        let at = v.index();
        (self.owned(v) && self.space.is_start(at)).then_some(at)
    }

    /// Whether `v` carries the owner its index implies: the base's below the copied base's
    /// end, this heap's own above.
    #[inline(always)]
    fn owned(&self, v: Value) -> bool {
        v.has_tag(if v.index() < self.loaded {
            self.base_tag
        } else {
            self.own_tag
        })
    }

    /// The object after `after` (the first with `None`) in this heap's order, skipping
    /// objects a `become` forwarded: [`Image::next_object`](crate::Image::next_object)'s
    /// walk, which here is the space's order (the loaded base first).
    pub fn next_object(&self, after: Option<Value>) -> Result<Option<Value>> {
        let mut at = match after {
            Some(v) => self.locate(v)? + 1,
            None => 0,
        };
        while let Some(start) = self.space.next_start(at) {
            if self.space.word(start)? & FORWARDED == 0 {
                return Ok(Some(self.value_of(start)));
            }
            at = start + 1;
        }
        Ok(None)
    }

    /// Where a reference points, or why it is refused (the errors an image answers).
    fn locate(&self, v: Value) -> Result<usize> {
        if !v.is_object() {
            return Err(Error::NotAnObject(v));
        }
        if let Some(at) = self.start(v) {
            return Ok(at);
        }
        let owner = v.owner();
        if owner == self.base_owner || owner == self.incarnation || self.retired.contains(&owner) {
            Err(Error::StaleReference)
        } else {
            Err(Error::ForeignReference(v))
        }
    }

    /// Follows forwarded headers from the object start `at` to the object there now.
    #[inline]
    fn resolve(&self, mut at: usize) -> Result<(usize, Header)> {
        loop {
            let word = self.space.word(at)?;
            if word & FORWARDED == 0 {
                return Ok((at, Header(word)));
            }
            at = (word >> 1) as usize;
        }
    }

    fn probe(&self, v: Value) -> Result<(usize, Header)> {
        self.resolve(self.locate(v)?)
    }

    /// True if `value` reads as itself: anything, until some object was made to `become`
    /// another (stores check every reference, so one read from a field names an object).
    #[inline(always)]
    fn settled(&self, value: Value) -> bool {
        !value.is_object()
            || !self.becomes
            || self
                .space
                .words
                .get(value.index())
                .is_some_and(|&word| word & FORWARDED == 0)
    }

    fn check_storable(&self, v: Value) -> Result<()> {
        if v.is_object() {
            self.locate(v)?;
        }
        Ok(())
    }

    /// True for a value this heap could hold without looking further: an immediate or a
    /// reference with one of its two owners (the fast paths' check; stores check fully).
    #[inline(always)]
    fn ours(&self, v: Value) -> bool {
        !v.is_object() || v.has_tag(self.base_tag) || v.has_tag(self.own_tag)
    }

    /// As [`Image::incarnation`](crate::Image::incarnation): the owner of this heap's new
    /// objects' references, changed by a collection that moves them.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// What this heap has done: allocations, becomes, collections, and the bytes of its new
    /// objects (a plain heap copies nothing on write and counts no reads or stores).
    pub fn stats(&self) -> ImageStats {
        ImageStats {
            private_bytes: self.private_bytes() as u64,
            ..self.stats
        }
    }

    /// As [`Image::read`](crate::Image::read).
    #[inline(always)]
    pub fn read(&mut self, obj: Value, index: usize) -> Result<Value> {
        if let Some(at) = self.start(obj) {
            if let Some(&word) = self.space.words.get(at) {
                if word & FORWARDED_OR_NOT_POINTERS == 0 {
                    let len = Header(word).body_words();
                    if index >= len {
                        return Err(Error::IndexOutOfRange { index, len });
                    }
                    if let Some(&bits) = self.space.words.get(at + HEADER_WORDS + index) {
                        let value = Value::from_bits(bits);
                        if self.settled(value) {
                            return Ok(value);
                        }
                    }
                }
            }
        }
        self.read_general(obj, index)
    }

    #[inline(never)]
    fn read_general(&mut self, obj: Value, index: usize) -> Result<Value> {
        let (at, header) = self.probe(obj)?;
        let slot = self.space.slot_at(at, header, index)?;
        let value = Value::from_bits(self.space.word(slot)?);
        let followed = self.canonical(value)?;
        if followed != value {
            *self.space.word_mut(slot)? = followed.to_bits();
            self.stats.fixups += 1;
        }
        Ok(followed)
    }

    /// As [`Image::read_fast`](crate::Image::read_fast).
    #[inline(always)]
    pub fn read_fast(&self, obj: Value, index: usize) -> Option<Value> {
        let at = self.start(obj)?;
        let word = *self.space.words.get(at)?;
        if word & FORWARDED_OR_NOT_POINTERS != 0 || index >= Header(word).body_words() {
            return None;
        }
        let value = Value::from_bits(*self.space.words.get(at + HEADER_WORDS + index)?);
        self.settled(value).then_some(value)
    }

    /// As [`Image::read_sealed`](crate::Image::read_sealed): always `None`, since every
    /// object of a plain heap is its own to change.
    #[inline(always)]
    pub fn read_sealed(&self, _obj: Value, _index: usize) -> Option<(Value, u64)> {
        None
    }

    /// As [`Image::sealed_view`](crate::Image::sealed_view): `None`, nothing here is sealed.
    #[inline(always)]
    pub fn sealed_view(&self) -> Option<u64> {
        None
    }

    /// As [`Image::read_fast_fields`](crate::Image::read_fast_fields).
    #[inline(always)]
    pub fn read_fast_fields<const N: usize>(&self, obj: Value, first: usize) -> Option<[Value; N]> {
        let at = self.start(obj)?;
        let word = *self.space.words.get(at)?;
        if word & FORWARDED_OR_NOT_POINTERS != 0 || first + N > Header(word).body_words() {
            return None;
        }
        let body = at + HEADER_WORDS + first;
        let mut out = [Value::from_bits(0); N];
        for (v, &bits) in out.iter_mut().zip(self.space.words.get(body..body + N)?) {
            *v = Value::from_bits(bits);
            if !self.settled(*v) {
                return None;
            }
        }
        Some(out)
    }

    /// As [`Image::points_to_fast`](crate::Image::points_to_fast).
    pub fn points_to_fast(&self, obj: Value, thing: Value) -> Option<bool> {
        let words = self.space.pointers_body(self.start(obj)?)?;
        crate::object::holds(words.iter().copied(), thing, |v| self.settled(v))
    }

    /// As [`Image::class_fast`](crate::Image::class_fast).
    #[inline(always)]
    pub fn class_fast(&self, obj: Value) -> Option<Value> {
        let at = self.start(obj)?;
        let word = *self.space.words.get(at)?;
        if word & FORWARDED != 0 {
            return None;
        }
        let class = Value::from_bits(*self.space.words.get(at + 1)?);
        self.settled(class).then_some(class)
    }

    /// As [`Image::class_of`](crate::Image::class_of).
    #[inline]
    pub fn class_of(&self, obj: Value) -> Result<Value> {
        match self.class_fast(obj) {
            Some(class) => Ok(class),
            None => self.class_of_general(obj),
        }
    }

    #[inline(never)]
    fn class_of_general(&self, obj: Value) -> Result<Value> {
        let (at, _) = self.probe(obj)?;
        self.canonical(Value::from_bits(self.space.word(at + 1)?))
    }

    /// As [`Image::canonical`](crate::Image::canonical): the reference of the object `v`
    /// names after following `become`.
    pub fn canonical(&self, v: Value) -> Result<Value> {
        if !v.is_object() {
            return Ok(v);
        }
        Ok(self.value_of(self.probe(v)?.0))
    }

    /// As [`Image::identical`](crate::Image::identical).
    pub fn identical(&self, a: Value, b: Value) -> Result<bool> {
        Ok(self.canonical(a)? == self.canonical(b)?)
    }

    /// As [`Image::identical_fast`](crate::Image::identical_fast).
    #[inline(always)]
    pub fn identical_fast(&self, a: Value, b: Value) -> Option<bool> {
        if a == b {
            return Some(true);
        }
        let plain = |v: Value| !v.is_object() || (self.owned(v) && self.settled(v));
        (plain(a) && plain(b)).then_some(false)
    }

    /// As [`Image::identity_hash`](crate::Image::identity_hash).
    pub fn identity_hash(&self, v: Value) -> Result<u32> {
        if !v.is_object() {
            return Ok((v.to_bits() >> 3) as u32 & object::MAX_HASH);
        }
        Ok(self.probe(v)?.1.hash())
    }

    /// As [`Image::check_value`](crate::Image::check_value).
    pub fn check_value(&self, v: Value) -> Result<()> {
        if v.is_object() {
            self.probe(v)?;
        }
        Ok(())
    }

    /// As [`Image::format_of`](crate::Image::format_of).
    pub fn format_of(&self, obj: Value) -> Result<Format> {
        Ok(self.probe(obj)?.1.format())
    }

    /// As [`Image::size_of`](crate::Image::size_of).
    pub fn size_of(&self, obj: Value) -> Result<usize> {
        let (at, header) = self.probe(obj)?;
        Ok(object::element_count(header, || self.space.literals(at)))
    }

    /// As [`Image::literal_count`](crate::Image::literal_count).
    pub fn literal_count(&self, obj: Value) -> Result<usize> {
        let (at, header) = self.probe(obj)?;
        Ok(if header.format() == Format::Method {
            self.space.literals(at)
        } else {
            0
        })
    }

    /// As [`Image::shape`](crate::Image::shape).
    pub fn shape(&self, obj: Value) -> Result<Shape> {
        let (at, header) = self.probe(obj)?;
        let format = header.format();
        let len = match format {
            Format::Pointers => header.body_words(),
            Format::Words => object::word_count(header)?,
            Format::Bytes => header.body_words() * 8 - header.pad_bytes(),
            Format::Method => object::element_count(header, || self.space.literals(at)),
        };
        Ok(Shape {
            format,
            language_format: header.smalltalk_format(),
            len,
        })
    }

    /// As [`Image::read_byte`](crate::Image::read_byte).
    #[inline]
    pub fn read_byte(&self, obj: Value, index: usize) -> Result<u8> {
        match self.read_byte_fast(obj, index) {
            Some(b) => Ok(b),
            None => self.read_byte_general(obj, index),
        }
    }

    /// Where byte `index` of a bytes object (not a method, not forwarded) lives: its word.
    #[inline(always)]
    fn byte_word(&self, obj: Value, index: usize) -> Option<usize> {
        let at = self.start(obj)?;
        let header = Header(*self.space.words.get(at)?);
        (header.0 & FORWARDED == 0
            && header.format() == Format::Bytes
            && index < header.body_words() * 8 - header.pad_bytes())
        .then_some(at + HEADER_WORDS + index / 8)
    }

    /// As [`Image::read_byte_fast`](crate::Image::read_byte_fast).
    #[inline(always)]
    pub fn read_byte_fast(&self, obj: Value, index: usize) -> Option<u8> {
        let w = self.byte_word(obj, index)?;
        Some(object::byte_of(*self.space.words.get(w)?, index))
    }

    #[inline(never)]
    fn read_byte_general(&self, obj: Value, index: usize) -> Result<u8> {
        let (at, header) = self.probe(obj)?;
        let (first, len) = object::byte_span(header, || self.space.literals(at))?;
        if index >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        let k = first + index;
        Ok(object::byte_of(
            self.space.word(at + HEADER_WORDS + k / 8)?,
            k,
        ))
    }

    /// As [`Image::bytes`](crate::Image::bytes).
    pub fn bytes(&self, obj: Value) -> Result<Vec<u8>> {
        let (at, header) = self.probe(obj)?;
        let (first, len) = object::byte_span(header, || self.space.literals(at))?;
        let mut bytes = vec![0; len];
        object::bytes_out(first, &mut bytes, |w| {
            self.space.word(at + HEADER_WORDS + w)
        })?;
        Ok(bytes)
    }

    /// As [`Image::read_word`](crate::Image::read_word).
    pub fn read_word(&self, obj: Value, index: usize) -> Result<u32> {
        let (at, header) = self.probe(obj)?;
        let len = object::word_count(header)?;
        if index >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        Ok(object::half_of(
            self.space.word(at + HEADER_WORDS + index / 2)?,
            index,
        ))
    }

    /// As [`Image::words`](crate::Image::words).
    pub fn words(&self, obj: Value) -> Result<Vec<u32>> {
        let (at, header) = self.probe(obj)?;
        let len = object::word_count(header)?;
        (0..len)
            .map(|i| {
                Ok(object::half_of(
                    self.space.word(at + HEADER_WORDS + i / 2)?,
                    i,
                ))
            })
            .collect()
    }

    /// As [`Image::write`](crate::Image::write).
    pub fn write(&mut self, obj: Value, index: usize, value: Value) -> Result<()> {
        self.check_storable(value)?;
        if let Some(at) = self.start(obj) {
            if let Some(&word) = self.space.words.get(at) {
                if word & FORWARDED_OR_NOT_POINTERS == 0 && index < Header(word).body_words() {
                    if let Some(slot) = self.space.words.get_mut(at + HEADER_WORDS + index) {
                        *slot = value.to_bits();
                        return Ok(());
                    }
                }
            }
        }
        let (at, header) = self.probe(obj)?;
        let slot = self.space.slot_at(at, header, index)?;
        *self.space.word_mut(slot)? = value.to_bits();
        Ok(())
    }

    /// As [`Image::write_byte`](crate::Image::write_byte).
    #[inline]
    pub fn write_byte(&mut self, obj: Value, index: usize, byte: u8) -> Result<()> {
        if self.write_byte_fast(obj, index, byte) {
            return Ok(());
        }
        let (at, header) = self.probe(obj)?;
        self.space.set_bytes(at, header, index, &[byte])
    }

    /// As [`Image::write_byte_fast`](crate::Image::write_byte_fast), for any object.
    #[inline(always)]
    pub fn write_byte_fast(&mut self, obj: Value, index: usize, byte: u8) -> bool {
        let Some(w) = self.byte_word(obj, index) else {
            return false;
        };
        match self.space.words.get_mut(w) {
            Some(word) => {
                *word = object::with_byte(*word, index, byte);
                true
            }
            None => false,
        }
    }

    /// As [`Image::write_word`](crate::Image::write_word).
    pub fn write_word(&mut self, obj: Value, index: usize, word: u32) -> Result<()> {
        let (at, header) = self.probe(obj)?;
        self.space.set_word(at, header, index, word)
    }

    /// As [`Image::root`](crate::Image::root).
    pub fn root(&self, name: &str) -> Result<Value> {
        let v = self
            .roots
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| Error::UnknownRoot(name.to_owned()))?;
        self.canonical(v)
    }

    /// As [`Image::set_root`](crate::Image::set_root).
    pub fn set_root(&mut self, name: &str, value: Value) -> Result<()> {
        self.check_storable(value)?;
        match self.roots.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.roots.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// Bytes of the objects this heap allocated (what an image's private space holds, less
    /// the copies a plain heap never makes): what a VM charges against a memory limit.
    pub fn private_bytes(&self) -> usize {
        (self.space.len() - self.loaded) * 8
    }
}
