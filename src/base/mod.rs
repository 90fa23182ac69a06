//! The sealed base heap that every image of a heap shares.
//!
//! Sealing turns the builder's words into one arena. None of them changes after that: what
//! images diverge from hangs from each object's forwarding word, beside it in the arena. Words
//! are read with Relaxed loads, which compile to plain loads.

#![forbid(unsafe_code)]

mod builder;
mod hash;
mod images;
mod kernel;

pub use builder::BaseBuilder;
pub use hash::BaseHash;
pub use kernel::Kernel;

use crate::kernel::arena::Arena;
use crate::kernel::header::Forwarding;
use crate::kernel::ids::IdAllocator;
use crate::kernel::sync::{Arc, AtomicU64};
use crate::object::{Header, HEADER_WORDS};
use crate::stats::LiveImages;
use crate::{Error, Result, Value};

/// Limits fixed when a base is sealed: `HeapConfig::default().max_images(1000)`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HeapConfig {
    /// How many images may be live at once. Each live image holds one id.
    pub max_images: usize,
}

impl HeapConfig {
    /// Sets how many images may be live at once (1 to 2^22 - 2; 65,536 by default).
    ///
    /// It answers the changed configuration rather than changing it in place, so dropping the
    /// answer is a mistake the compiler reports:
    ///
    /// ```compile_fail
    /// #![deny(unused_must_use)]
    /// let config = cowheap::HeapConfig::default();
    /// config.max_images(8); // the configuration with 8 is dropped here
    /// ```
    #[must_use = "a setter answers the changed configuration; seal with it"]
    pub fn max_images(mut self, max_images: usize) -> Self {
        self.max_images = max_images;
        self
    }
}

impl Default for HeapConfig {
    fn default() -> Self {
        HeapConfig {
            #[cfg(not(loom))]
            max_images: 1 << 16,
            #[cfg(loom)]
            max_images: 4,
        }
    }
}

pub(crate) struct HeapInner {
    pub(crate) arena: Arena,
    /// The base owner: the owner of every reference into this base (see [`Value`]).
    pub(crate) base_owner: u32,
    /// Object starts in arena order, for [`BaseHeap::object`].
    pub(crate) starts: Box<[u32]>,
    pub(crate) roots: Vec<(String, Value)>,
    pub(crate) filler: Value,
    /// Computed once at sealing: the identity deltas name this base by.
    pub(crate) content_hash: BaseHash,
    pub(crate) ids: IdAllocator,
    pub(crate) live: LiveImages,
}

/// A sealed, immutable base heap. Cheap to clone (an `Arc`), `Send + Sync`, and the source of
/// images: [`BaseHeap::new_image`].
#[derive(Clone)]
pub struct BaseHeap {
    pub(crate) inner: Arc<HeapInner>,
}

/// A hold on a base that does not keep it alive: whether the base has been freed (no image
/// runs on it and nobody holds it), for a generation watch.
#[cfg(not(loom))]
#[derive(Clone)]
pub(crate) struct WeakBase(std::sync::Weak<HeapInner>);

#[cfg(not(loom))]
impl WeakBase {
    /// True once the base has been freed.
    pub(crate) fn is_freed(&self) -> bool {
        self.0.strong_count() == 0
    }
}

#[cfg(not(loom))]
impl std::fmt::Debug for WeakBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// Forwarders and entries across a base heap, from [`BaseHeap::census`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Census {
    /// Base objects with a forwarder.
    pub forwarders: usize,
    /// Occupied entries.
    pub entries: usize,
    /// Allocated entries, occupied or not.
    pub entry_capacity: usize,
}

/// The images with an entry on one base object, from [`BaseHeap::census_of`]: which images
/// have diverged from it (copied it, or made it `become` something), beside the whole-heap
/// [`Census`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ObjectCensus {
    /// The ids of the images holding an entry, ascending; empty if the object has no
    /// forwarder. Match them with [`Image::id`](crate::Image::id) or
    /// [`LiveImage::id`](crate::LiveImage::id).
    pub images: Vec<u32>,
    /// Allocated entries of its forwarder, occupied or not; 0 without one.
    pub entry_capacity: usize,
}

impl ObjectCensus {
    /// Entries a forwarder holds inline.
    pub const INLINE_ENTRIES: usize = crate::kernel::forwarder::INLINE;
    /// The largest out-of-line level of a forwarder's entries. Every level a forwarder keeps
    /// holds a live entry, so `entry_capacity` is at most `INLINE_ENTRIES +
    /// LARGEST_LEVEL * images.len()` whenever no image is installing or ending.
    pub const LARGEST_LEVEL: usize = crate::kernel::levels::MAX_LEVEL;

    /// Whether `entry_capacity` is within the bound that follows the live entries (see
    /// [`LARGEST_LEVEL`](Self::LARGEST_LEVEL)); an object with no forwarder has no capacity.
    pub fn capacity_follows_entries(&self) -> bool {
        if self.images.is_empty() {
            self.entry_capacity == 0
        } else {
            self.entry_capacity <= Self::INLINE_ENTRIES + Self::LARGEST_LEVEL * self.images.len()
        }
    }
}

/// Forwarders given back since the base was sealed, from [`BaseHeap::reclamation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Reclamation {
    /// Forwarders taken down when their last entry went: their objects read as never written.
    pub taken_down: u64,
    /// Of those, forwarders whose memory has been freed (the rest wait for their grace period,
    /// and go at the next image creation or end, or [`BaseHeap::reclaim`]).
    pub freed: u64,
}

impl BaseHeap {
    #[inline(always)]
    pub(crate) fn arena(&self) -> &Arena {
        &self.inner.arena
    }

    /// Loads body word `i` of the object at `index`; the caller has checked the bounds
    /// against the header.
    #[inline]
    pub(crate) fn body_word(&self, index: usize, i: usize) -> u64 {
        self.inner.arena.word(index + HEADER_WORDS + i)
    }

    /// The body words of the object at `index`, `len` of them.
    #[inline]
    pub(crate) fn body(&self, index: usize, len: usize) -> &[AtomicU64] {
        self.inner.arena.words(index + HEADER_WORDS, len)
    }

    #[inline]
    pub(crate) fn class_word(&self, index: usize) -> Value {
        Value::from_bits(self.inner.arena.word(index + 1))
    }

    /// A hold on this base that does not keep it alive.
    #[cfg(not(loom))]
    pub(crate) fn downgrade(&self) -> WeakBase {
        WeakBase(Arc::downgrade(&self.inner))
    }

    #[inline]
    pub(crate) fn base_owner(&self) -> u32 {
        self.inner.base_owner
    }

    /// The header the object was sealed with (base words never change).
    pub(crate) fn original_header(&self, index: usize) -> Result<Header> {
        self.inner
            .arena
            .object_header(index)
            .ok_or(Error::StaleReference)
    }

    /// The arena index of a base reference, checked against this heap: its owner, and that
    /// it names an object start.
    pub(crate) fn locate(&self, v: Value) -> Result<usize> {
        if !v.is_object() {
            Err(Error::NotAnObject(v))
        } else if v.owner() != self.inner.base_owner {
            Err(Error::ForeignReference(v))
        } else if !self.inner.arena.is_start(v.index()) {
            Err(Error::StaleReference)
        } else {
            Ok(v.index())
        }
    }

    pub(crate) fn reference(&self, index: usize) -> Value {
        Value::object(self.inner.base_owner, index as u64)
    }

    /// The most images of this heap that may be live at once, as sealed (see [`HeapConfig`]).
    pub fn max_images(&self) -> usize {
        self.inner.ids.limit()
    }

    /// A live snapshot of every live image's statistics, by image id. Reads each image's
    /// counters without stopping it; each figure is exact for that image at some moment during
    /// the call.
    pub fn image_stats(&self) -> Vec<crate::LiveImage> {
        self.inner.live.snapshot()
    }

    /// How many images of this heap are live now.
    pub fn live_images(&self) -> usize {
        self.inner.ids.live()
    }

    /// The number of base objects.
    pub fn object_count(&self) -> usize {
        self.inner.starts.len()
    }

    /// The `n`th base object, in arena order.
    pub fn object(&self, n: usize) -> Option<Value> {
        self.inner
            .starts
            .get(n)
            .map(|&i| self.reference(i as usize))
    }

    /// The position of base object `obj` in arena order, the inverse of
    /// [`object`](Self::object): for tables indexed by object (a verifier's marks, a
    /// census). Refuses what [`original_class`](Self::original_class) refuses.
    pub fn ordinal(&self, obj: Value) -> Result<usize> {
        let at = self.locate(obj)?;
        self.inner
            .starts
            .binary_search(&(at as u32))
            .map_err(|_| Error::StaleReference)
    }

    /// Every base object, in arena order.
    pub fn objects(&self) -> impl ExactSizeIterator<Item = Value> + '_ {
        self.inner
            .starts
            .iter()
            .map(|&i| self.reference(i as usize))
    }

    /// Bytes of the sealed arena.
    pub fn bytes(&self) -> usize {
        self.inner.arena.len() * 8
    }

    /// The named roots, in the order they were added.
    pub fn roots(&self) -> &[(String, Value)] {
        &self.inner.roots
    }

    /// The root called `name`, as sealed.
    pub fn root(&self, name: &str) -> Result<Value> {
        self.inner
            .roots
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| Error::UnknownRoot(name.to_owned()))
    }

    /// The value new pointer fields start with (nil, for a Smalltalk base).
    pub fn filler(&self) -> Value {
        self.inner.filler
    }

    /// Slot `index` of a base object as sealed, seen by no image.
    pub fn original_field(&self, obj: Value, index: usize) -> Result<Value> {
        let at = self.locate(obj)?;
        let header = self.original_header(at)?;
        let slot = crate::object::slot_offset(header, index, || self.body_word(at, 0) as usize)?;
        Ok(Value::from_bits(self.body_word(at, slot)))
    }

    /// The class of a base object as sealed.
    pub fn original_class(&self, obj: Value) -> Result<Value> {
        Ok(self.class_word(self.locate(obj)?))
    }

    /// The format of a base object.
    pub fn original_format(&self, obj: Value) -> Result<crate::Format> {
        Ok(self.original_header(self.locate(obj)?)?.format())
    }

    /// The element count of a base object: fields, 32-bit words, bytes, or a method's bytecodes.
    pub fn original_size(&self, obj: Value) -> Result<usize> {
        let at = self.locate(obj)?;
        let header = self.original_header(at)?;
        Ok(crate::object::element_count(header, || {
            self.body_word(at, 0) as usize
        }))
    }

    /// The bytes of a bytes object (or a method's bytecodes) as sealed.
    pub fn original_bytes(&self, obj: Value) -> Result<Vec<u8>> {
        let at = self.locate(obj)?;
        let header = self.original_header(at)?;
        let (start, len) = crate::object::byte_span(header, || self.body_word(at, 0) as usize)?;
        Ok((start..start + len)
            .map(|i| crate::object::byte_of(self.body_word(at, i / 8), i))
            .collect())
    }

    /// The 32-bit words of a words object as sealed.
    pub fn original_words(&self, obj: Value) -> Result<Vec<u32>> {
        let at = self.locate(obj)?;
        let len = crate::object::word_count(self.original_header(at)?)?;
        Ok((0..len)
            .map(|i| crate::object::half_of(self.body_word(at, i / 2), i))
            .collect())
    }

    /// The literal count of a base method as sealed; 0 for other formats, as
    /// [`Image::literal_count`](crate::Image::literal_count) answers.
    pub fn original_literal_count(&self, obj: Value) -> Result<usize> {
        let at = self.locate(obj)?;
        Ok(match self.original_header(at)?.format() {
            crate::Format::Method => self.body_word(at, 0) as usize,
            _ => 0,
        })
    }

    /// True if `v` names an object of this base; false if it names an image's private object.
    ///
    /// This is what the reference names, seen by no image: a base object an image has copied
    /// is still a base object here (ask that image with
    /// [`Image::is_private`](crate::Image::is_private) what it sees). The base cannot tell
    /// which image, or which heap's image, a private reference belongs to, so it answers false
    /// for all of them; only the image it belongs to accepts it. Another base heap's
    /// reference is refused with [`Error::ForeignReference`], a reference with this base's
    /// owner that names no object start with [`Error::StaleReference`], an immediate with
    /// [`Error::NotAnObject`].
    pub fn is_base(&self, v: Value) -> Result<bool> {
        if v.is_object() && v.owner() & crate::value::BASE_OWNER_FLAG == 0 {
            return Ok(false);
        }
        self.locate(v).map(|_| true)
    }

    /// The identity hash of a base object.
    pub fn original_hash(&self, obj: Value) -> Result<u32> {
        Ok(self.original_header(self.locate(obj)?)?.hash())
    }

    /// A hash of every object's original header, class and body. Equal before and after any
    /// amount of image activity: the base is immutable.
    pub fn checksum(&self) -> u64 {
        // XXH3 of each object's words (the header mixed with its position, so that two
        // objects cannot swap unnoticed), in a buffer each thread reuses.
        let object = |buf: &mut Vec<u8>, &start: &u32| {
            let at = start as usize;
            let header = self.original_header(at).unwrap_or(Header(0));
            buf.clear();
            buf.extend_from_slice(&(header.0 ^ at as u64).to_le_bytes());
            buf.extend_from_slice(&self.class_word(at).to_bits().to_le_bytes());
            for i in 0..header.body_words() {
                buf.extend_from_slice(&self.body_word(at, i).to_le_bytes());
            }
            xxhash_rust::xxh3::xxh3_64(buf)
        };
        // A sum of per-object hashes: the same whatever order, or threads, they come in.
        #[cfg(feature = "rayon")]
        return {
            use rayon::prelude::*;
            self.inner
                .starts
                .par_iter()
                .map_init(Vec::new, object)
                .reduce(|| 0, u64::wrapping_add)
        };
        #[cfg(not(feature = "rayon"))]
        {
            let mut buf = Vec::new();
            self.inner
                .starts
                .iter()
                .map(|start| object(&mut buf, start))
                .fold(0, u64::wrapping_add)
        }
    }

    /// The base's content hash, computed once when it was sealed or loaded: the same for the
    /// same objects in every process, so a delta saved over this base names it by this, and
    /// resumes over no other (see [`BaseHeap::resume_delta`]).
    pub fn content_hash(&self) -> BaseHash {
        self.inner.content_hash
    }

    /// Counts forwarders and entries. Walks the whole base.
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        let arena = &self.inner.arena;
        let section = arena.enter_outsider();
        for &start in self.inner.starts.iter() {
            if let Some(Forwarding::Forwarded(f)) = arena.forwarding(start as usize, &section) {
                let (used, capacity) = f.census();
                census.forwarders += 1;
                census.entries += used;
                census.entry_capacity += capacity;
            }
        }
        census
    }

    /// Which images hold an entry on base object `obj` now: the per-object view of
    /// [`census`](Self::census), without walking the base. Each image's entry is its own
    /// doing, so the answer is exact for the images not copying or ending during the call.
    pub fn census_of(&self, obj: Value) -> Result<ObjectCensus> {
        let at = self.locate(obj)?;
        let arena = &self.inner.arena;
        let section = arena.enter_outsider();
        let mut census = ObjectCensus::default();
        if let Some(Forwarding::Forwarded(f)) = arena.forwarding(at, &section) {
            census.images = f.holders().collect();
            census.entry_capacity = f.census().1;
        }
        drop(section);
        census.images.sort_unstable();
        Ok(census)
    }

    /// Frees the memory of forwarders taken down since the last call whose grace period has
    /// passed, and answers how many. Images do this themselves when they are created or end;
    /// a host that wants memory back sooner, after a burst of teardowns, calls it.
    pub fn reclaim(&self) -> usize {
        self.inner.arena.collect()
    }

    /// How many forwarders have been taken down and freed since sealing.
    pub fn reclamation(&self) -> Reclamation {
        let (taken_down, freed) = self.inner.arena.reclamation();
        Reclamation { taken_down, freed }
    }
}

impl std::fmt::Debug for BaseHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseHeap")
            .field("objects", &self.object_count())
            .field("bytes", &self.bytes())
            .field("live_images", &self.live_images())
            .finish()
    }
}
