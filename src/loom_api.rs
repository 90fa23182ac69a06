//! Hidden hooks that let the loom models in `loom-tests/` drive crate-private kernel parts
//! directly, where the public API would bury a protocol under too many other atomics for loom
//! to explore. Built only with `--cfg loom`: no stability promise, no use outside the models.
#![cfg(loom)]
#![forbid(unsafe_code)]

use crate::kernel::ids::IdAllocator;
use crate::kernel::stats_block::{Counter, StatsBlock};

/// A heap's statistics blocks, shrunk for a model: an id allocator and one block per id, each
/// with two counters (the real blocks have nine, and every counter a monitor loads multiplies
/// the interleavings). Images come and go through the calls [`BaseHeap::new_image`] and an
/// image's drop make, in the same order.
///
/// [`BaseHeap::new_image`]: crate::BaseHeap::new_image
pub struct StatsBlocks {
    ids: IdAllocator,
    blocks: Box<[StatsBlock<[Counter; 2]>]>,
}

impl std::fmt::Debug for StatsBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsBlocks")
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl StatsBlocks {
    /// Blocks for ids `0..ids`, all vacant.
    pub fn new(ids: usize) -> StatsBlocks {
        StatsBlocks {
            ids: IdAllocator::new(ids),
            blocks: (0..ids).map(|_| StatsBlock::default()).collect(),
        }
    }

    /// As `new_image`: claims the lowest free id, then its block for `incarnation` (not 0).
    /// `None` if every id is taken.
    pub fn register(&self, incarnation: u32) -> Option<u32> {
        let id = self.ids.acquire()?;
        self.blocks[id as usize].claim(incarnation);
        Some(id)
    }

    /// As an image's drop: vacates the block of `id`, then frees the id.
    pub fn unregister(&self, id: u32) {
        self.blocks[id as usize].vacate();
        self.ids.release(id);
    }

    /// Adds `n` to counter `counter` (0 or 1) of `id`'s block, as its holder.
    pub fn add(&self, id: u32, counter: usize, n: u64) {
        self.blocks[id as usize].counters()[counter].add(n);
    }

    /// A monitor's read of `id`'s block: the holder's incarnation and counters, or `None`.
    pub fn read(&self, id: u32) -> Option<(u32, [u64; 2])> {
        self.blocks[id as usize].read()
    }
}
