//! Thin, hidden wrappers that let `benches/` measure crate-private parts of the kernel through
//! the real code. Not part of the public API: no stability promise, no use outside benchmarks.
#![cfg(not(loom))]

use crate::forwarder::{self, Forwarder};
use crate::object::{Header, Loc, FORWARDED};
use crate::sync::{AtomicU64, Ordering};
use crate::{BaseHeap, Format, Value};

/// A copy of a sealed base's arena words, laid out exactly as the heap lays them out:
/// `[header][class][body]` per object, references as [`Value`] bits. A forwarded header is
/// reported as the object's original header.
pub fn arena_words(heap: &BaseHeap) -> Vec<u64> {
    let mut words: Vec<u64> = heap
        .inner
        .words
        .iter()
        .map(|w| w.load(Ordering::Relaxed))
        .collect();
    for &start in heap.inner.starts.iter() {
        words[start as usize] = heap.original_header(start as usize).0;
    }
    words
}

/// The arena word index of a reference (its header word), for benchmarks that address a plain
/// copy of the arena.
pub fn value_index(v: Value) -> usize {
    v.index()
}

/// The header-word bit that marks a forwarded object.
pub const FORWARDED_BIT: u64 = FORWARDED;

/// A stand-alone conditional forwarder, driven through the kernel's own `install`, `lookup`
/// and `clear`: the slot table exactly as the write and read paths use it.
pub struct SlotTableBench {
    header: AtomicU64,
}

impl Default for SlotTableBench {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotTableBench {
    /// An unforwarded header word: the first `insert` installs the forwarder by CAS.
    pub fn new() -> SlotTableBench {
        SlotTableBench {
            header: AtomicU64::new(Header::new(Format::Pointers, 1, 1, 0).0),
        }
    }

    /// Gives image `id` the entry `target` (a private word index). The image must have none.
    #[inline]
    pub fn insert(&self, id: u32, target: u64) {
        forwarder::install(&self.header, id, Loc::Private(target as usize));
    }

    /// Image `id`'s target, as the read path looks it up.
    #[inline]
    pub fn lookup(&self, id: u32) -> Option<u64> {
        let word = self.header.load(Ordering::Acquire);
        if word & FORWARDED == 0 {
            return None;
        }
        // SAFETY: the forwarded bit is set, the word was loaded with Acquire, and the
        // forwarder lives until `self` is dropped, which needs `&mut self`.
        let fwd = unsafe { Forwarder::from_word(word) };
        fwd.slots.lookup(id).map(|loc| match loc {
            Loc::Private(i) | Loc::Base(i) => i as u64,
        })
    }

    /// Clears image `id`'s entry, as teardown does.
    pub fn clear(&self, id: u32) {
        let word = self.header.load(Ordering::Acquire);
        if word & FORWARDED != 0 {
            // SAFETY: as in `lookup`.
            forwarder::clear(unsafe { Forwarder::from_word(word) }, id);
        }
    }

    /// Occupied entries and allocated entry capacity.
    pub fn census(&self) -> (usize, usize) {
        let word = self.header.load(Ordering::Acquire);
        if word & FORWARDED == 0 {
            return (0, 0);
        }
        // SAFETY: as in `lookup`.
        unsafe { Forwarder::from_word(word) }.slots.census()
    }
}

impl Drop for SlotTableBench {
    fn drop(&mut self) {
        let word = self.header.load(Ordering::Acquire);
        if word & FORWARDED != 0 {
            // SAFETY: we have exclusive access (`&mut self`); the forwarder was installed by
            // `install` on this header word and is freed exactly once, here.
            unsafe { Forwarder::free(word) };
        }
    }
}
