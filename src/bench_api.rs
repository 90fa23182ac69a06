//! Thin, hidden wrappers that let `benches/` measure crate-private parts of the kernel through
//! the real code. Not part of the public API: no stability promise, no use outside benchmarks.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use crate::kernel::arena::Arena;
use crate::kernel::header::HeaderWord;
use crate::object::{Header, Loc, FORWARDED};
use crate::{BaseHeap, Format, Value};

/// A copy of a sealed base's arena words, laid out exactly as the heap lays them out:
/// `[header][class][body]` per object, references as [`Value`] bits. A forwarded header is
/// reported as the object's original header.
pub fn arena_words(heap: &BaseHeap) -> Vec<u64> {
    let arena = heap.arena();
    let mut words: Vec<u64> = (0..arena.len()).map(|i| arena.word(i)).collect();
    for at in arena.starts() {
        if let Some(h) = arena.header(at) {
            words[at] = h.original().0;
        }
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
    arena: Arena,
}

impl Default for SlotTableBench {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotTableBench {
    /// One unforwarded object: the first `insert` installs its forwarder by CAS.
    pub fn new() -> SlotTableBench {
        SlotTableBench {
            arena: Arena::new(vec![Header::new(Format::Pointers, 1, 1, 0).0, 0, 0], [0]),
        }
    }

    /// Gives image `id` the entry `target` (a private word index). The image must have none.
    #[inline]
    pub fn insert(&self, id: u32, target: u64) {
        self.arena.install(0, id, Loc::Private(target as usize));
    }

    /// Image `id`'s target, as the read path looks it up.
    #[inline]
    pub fn lookup(&self, id: u32) -> Option<u64> {
        match self.arena.header(0)? {
            HeaderWord::Plain(_) => None,
            HeaderWord::Forwarded(f) => f.slots.lookup(id).map(|loc| match loc {
                Loc::Private(i) | Loc::Base(i) => i as u64,
            }),
        }
    }

    /// Clears image `id`'s entry, as teardown does.
    pub fn clear(&self, id: u32) {
        self.arena.clear(0, id)
    }

    /// Occupied entries and allocated entry capacity.
    pub fn census(&self) -> (usize, usize) {
        match self.arena.header(0) {
            Some(HeaderWord::Forwarded(f)) => f.slots.census(),
            _ => (0, 0),
        }
    }
}
