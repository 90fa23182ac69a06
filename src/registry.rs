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
/// Blocks come in lazily allocated chunks of 64, so an empty heap costs one pointer per 64
/// possible ids, and creating an image allocates nothing and touches no shared counter: it
/// zeroes its block, then publishes its incarnation there. A monitor reads only blocks with a
/// non-zero incarnation. These are plain `std` atomics: they carry no correctness obligation,
/// so they stay outside the loom-verified kernel. Under loom every chunk is allocated up front,
/// because a contended lazy initialisation blocks, which loom cannot model.
pub(crate) struct LiveImages {
    chunks: Box<[std::sync::OnceLock<Box<[LiveSlot]>>]>,
}

const CHUNK: usize = 64;

#[derive(Default)]
struct LiveSlot {
    incarnation: std::sync::atomic::AtomicU32,
    stats: crossbeam_utils::CachePadded<crate::stats::LiveStats>,
}

fn new_chunk() -> Box<[LiveSlot]> {
    (0..CHUNK).map(|_| LiveSlot::default()).collect()
}

impl LiveImages {
    pub(crate) fn new(limit: usize) -> LiveImages {
        LiveImages {
            chunks: (0..limit.div_ceil(CHUNK))
                .map(|_| {
                    if cfg!(loom) {
                        std::sync::OnceLock::from(new_chunk())
                    } else {
                        std::sync::OnceLock::new()
                    }
                })
                .collect(),
        }
    }

    #[inline]
    fn slot(&self, id: u32) -> &LiveSlot {
        let id = id as usize;
        &self.chunks[id / CHUNK].get_or_init(new_chunk)[id % CHUNK]
    }

    /// Image `id`'s counters.
    #[inline]
    pub(crate) fn counters(&self, id: u32) -> &crate::stats::LiveStats {
        &self.slot(id).stats
    }

    /// Claims image `id`'s block for incarnation `incarnation`, zeroed.
    pub(crate) fn register(&self, id: u32, incarnation: u32) {
        let slot = self.slot(id);
        slot.stats.reset();
        slot.incarnation
            .store(incarnation, std::sync::atomic::Ordering::Release);
    }

    /// Marks image `id`'s block vacant.
    pub(crate) fn unregister(&self, id: u32) {
        self.slot(id)
            .incarnation
            .store(0, std::sync::atomic::Ordering::Release);
    }

    /// Every live image's statistics, by id.
    pub(crate) fn snapshot(&self) -> Vec<crate::LiveImage> {
        let mut out = Vec::new();
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
