//! Thin, hidden wrappers that let `benches/` measure crate-private parts of the kernel through
//! the real code. Not part of the public API: no stability promise, no use outside benchmarks.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use crate::kernel::arena::Arena;
use crate::kernel::header::Forwarding;
use crate::kernel::ids::IdAllocator;
use crate::kernel::slab::Slabs;
use crate::object::{Header, FORWARDED};
use crate::{BaseHeap, Format, Value};

/// A copy of a sealed base's arena words, laid out exactly as the heap lays them out:
/// `[header][class][body]` per object, references as [`Value`] bits.
pub fn arena_words(heap: &BaseHeap) -> Vec<u64> {
    let arena = heap.arena();
    (0..arena.len()).map(|i| arena.word(i)).collect()
}

/// The arena word index of a reference (its header word), for benchmarks that address a plain
/// copy of the arena.
pub fn value_index(v: Value) -> usize {
    v.index()
}

/// The header-word bit that marks a forwarded object.
pub const FORWARDED_BIT: u64 = FORWARDED;

/// A stand-alone conditional forwarder, driven through the kernel's own `install`, `remove`
/// and published entries: the table exactly as the write path and teardown use it. (The read
/// path answers from each image's own resolutions and never looks entries up.)
pub struct EntriesBench {
    arena: Arena,
    ids: IdAllocator,
}

impl std::fmt::Debug for EntriesBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntriesBench")
            .field("live_ids", &self.ids.live())
            .finish_non_exhaustive()
    }
}

/// Ids a [`EntriesBench`] accepts.
const BENCH_IDS: usize = 1 << 16;

impl Default for EntriesBench {
    fn default() -> Self {
        Self::new()
    }
}

impl EntriesBench {
    /// One unforwarded object: the first `insert` installs its forwarder by CAS.
    pub fn new() -> EntriesBench {
        let header = Header::new(Format::Pointers, 1, 1, 0).0;
        EntriesBench {
            arena: Arena::new(vec![header, 0, 0], [0], BENCH_IDS),
            ids: IdAllocator::new(BENCH_IDS),
        }
    }

    /// Gives image `id` (below 65,536) an entry. The image must have none.
    #[inline]
    pub fn insert(&self, id: u32) {
        let mut garbage = Vec::new();
        let section = self.arena.enter(id);
        self.arena
            .install(0, id, &section, &mut garbage, &mut Slabs::default());
        drop(section);
        self.arena.retire(garbage, &self.ids);
    }

    /// Whether image `id` holds an entry: a scan of the entries.
    #[inline]
    pub fn holds(&self, id: u32) -> bool {
        let section = self.arena.enter_outsider();
        match self.arena.forwarding(0, &section) {
            Some(Forwarding::Forwarded(f)) => f.holds(id),
            _ => false,
        }
    }

    /// Removes image `id`'s entry, as teardown does, taking the forwarder down (and freeing it)
    /// with its last entry.
    pub fn clear(&self, id: u32) {
        let mut garbage = Vec::new();
        let section = self.arena.enter(id);
        self.arena.remove(0, id, &section, &mut garbage);
        drop(section);
        self.arena.retire(garbage, &self.ids);
        self.arena.collect();
    }

    /// Occupied entries and allocated entry capacity.
    pub fn census(&self) -> (usize, usize) {
        let section = self.arena.enter_outsider();
        match self.arena.forwarding(0, &section) {
            Some(Forwarding::Forwarded(f)) => f.census(),
            _ => (0, 0),
        }
    }

    /// Bytes the forwarder and its levels occupy (allocator overhead not counted).
    pub fn bytes(&self) -> usize {
        let section = self.arena.enter_outsider();
        match self.arena.forwarding(0, &section) {
            Some(Forwarding::Forwarded(f)) => f.footprint(),
            _ => 0,
        }
    }
}
