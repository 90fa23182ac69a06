//! The image registry: which image ids of a heap are live.
//!
//! An image id names the image's entries in every forwarder, so an id may be handed out again
//! only after the previous holder's entries are all cleared. The id bitmap carries that
//! ordering: teardown clears entries, then releases the id with Release; allocation claims a
//! bit with Acquire. The lowest free id is preferred, which keeps ids dense and the slot
//! tables' Fibonacci hashing collision-free.

use crate::sync::{backoff, AtomicU64, Ordering};

pub(crate) struct IdAllocator {
    words: Box<[AtomicU64]>,
    limit: usize,
}

impl IdAllocator {
    pub(crate) fn new(limit: usize) -> IdAllocator {
        IdAllocator {
            words: (0..limit.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            limit,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Claims the lowest free id. Lock-free: a failed CAS means another image claimed or
    /// freed a bit in this word.
    pub(crate) fn acquire(&self) -> Option<u32> {
        #[cfg(cowheap_mutant = "relaxed_id_acquire")]
        let claim = Ordering::Relaxed;
        #[cfg(not(cowheap_mutant = "relaxed_id_acquire"))]
        let claim = Ordering::Acquire;
        for (w, word) in self.words.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            loop {
                let bit = (!bits).trailing_zeros() as usize;
                let id = w * 64 + bit;
                if bit == 64 || id >= self.limit {
                    break;
                }
                match word.compare_exchange_weak(bits, bits | (1 << bit), claim, Ordering::Relaxed)
                {
                    Ok(_) => return Some(id as u32),
                    Err(now) => {
                        bits = now;
                        backoff();
                    }
                }
            }
        }
        None
    }

    /// Frees an id. Everything its holder did before, clearing its entries above all,
    /// happens-before the next `acquire` that returns it.
    pub(crate) fn release(&self, id: u32) {
        let id = id as usize;
        self.words[id / 64].fetch_and(!(1 << (id % 64)), Ordering::Release);
    }

    /// How many ids are in use.
    pub(crate) fn live(&self) -> usize {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn hands_out_lowest_free_ids_up_to_the_limit() {
        let ids = IdAllocator::new(70);
        let got: Vec<u32> = (0..70).map(|_| ids.acquire().unwrap()).collect();
        assert_eq!(got, (0..70).collect::<Vec<_>>());
        assert_eq!(ids.acquire(), None);
        ids.release(65);
        ids.release(3);
        assert_eq!(ids.live(), 68);
        assert_eq!(ids.acquire(), Some(3));
        assert_eq!(ids.acquire(), Some(65));
        assert_eq!(ids.acquire(), None);
    }
}

/// The live images' statistics blocks, by image id, for monitors.
///
/// Blocks come in lazily allocated chunks of 64, shared through an `Arc` by the images whose ids
/// fall in the chunk, so an empty heap costs one pointer per 64 possible ids and a new image
/// allocates nothing. An image resets its block, then publishes its incarnation in it; a
/// monitor reads only blocks with a non-zero incarnation. These are plain `std` atomics: they
/// carry no correctness obligation, so they stay outside the loom-verified kernel, and under
/// loom every image gets a private block instead (a chunk's lazy initialisation could block,
/// which loom cannot model).
pub(crate) struct LiveImages {
    #[cfg(not(loom))]
    chunks: Box<[std::sync::OnceLock<Chunk>]>,
}

type Chunk = std::sync::Arc<[crossbeam::utils::CachePadded<LiveSlot>]>;
const CHUNK: usize = 64;

#[derive(Default)]
pub(crate) struct LiveSlot {
    incarnation: std::sync::atomic::AtomicU32,
    stats: crate::stats::LiveStats,
}

/// One image's statistics block.
pub(crate) struct StatsHandle {
    chunk: Chunk,
    index: usize,
}

impl std::ops::Deref for StatsHandle {
    type Target = crate::stats::LiveStats;
    #[inline]
    fn deref(&self) -> &crate::stats::LiveStats {
        &self.chunk[self.index].stats
    }
}

fn new_chunk(len: usize) -> Chunk {
    (0..len).map(|_| Default::default()).collect()
}

impl LiveImages {
    pub(crate) fn new(_limit: usize) -> LiveImages {
        LiveImages {
            #[cfg(not(loom))]
            chunks: (0.._limit.div_ceil(CHUNK))
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }

    /// Claims image `id`'s block for incarnation `incarnation`, zeroed.
    pub(crate) fn register(&self, id: u32, incarnation: u32) -> StatsHandle {
        #[cfg(not(loom))]
        let handle = StatsHandle {
            chunk: self.chunks[id as usize / CHUNK]
                .get_or_init(|| new_chunk(CHUNK))
                .clone(),
            index: id as usize % CHUNK,
        };
        #[cfg(loom)]
        let handle = StatsHandle {
            chunk: new_chunk(1),
            index: 0,
        };
        let slot = &handle.chunk[handle.index];
        slot.stats.reset();
        slot.incarnation
            .store(incarnation, std::sync::atomic::Ordering::Release);
        handle
    }

    /// Marks the block vacant.
    pub(crate) fn unregister(&self, handle: &StatsHandle) {
        handle.chunk[handle.index]
            .incarnation
            .store(0, std::sync::atomic::Ordering::Release);
    }

    /// Every live image's statistics, by id.
    pub(crate) fn snapshot(&self) -> Vec<crate::LiveImage> {
        let mut out = Vec::new();
        #[cfg(not(loom))]
        for (c, chunk) in self.chunks.iter().enumerate() {
            for (i, slot) in chunk.get().into_iter().flat_map(|c| c.iter()).enumerate() {
                let incarnation = slot.incarnation.load(std::sync::atomic::Ordering::Acquire);
                if incarnation != 0 {
                    out.push(crate::LiveImage {
                        id: (c * CHUNK + i) as u32,
                        incarnation,
                        stats: slot.stats.snapshot(),
                    });
                }
            }
        }
        out
    }
}
