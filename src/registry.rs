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
/// Slots come in lazily allocated chunks of 64, so an empty heap costs a few pointers per
/// 64 possible ids. This lies outside the loom-verified kernel (arc-swap is invisible to
/// loom), so under loom it is an empty stand-in.
pub(crate) struct LiveImages {
    #[cfg(not(loom))]
    chunks: Box<[std::sync::OnceLock<Box<[LiveSlot]>>]>,
}

#[cfg(not(loom))]
type LiveSlot = arc_swap::ArcSwapOption<crossbeam::utils::CachePadded<crate::stats::LiveStats>>;

pub(crate) type SharedStats =
    std::sync::Arc<crossbeam::utils::CachePadded<crate::stats::LiveStats>>;

#[cfg(not(loom))]
impl LiveImages {
    pub(crate) fn new(limit: usize) -> LiveImages {
        LiveImages {
            chunks: (0..limit.div_ceil(64))
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }

    fn slot(&self, id: u32) -> &LiveSlot {
        let id = id as usize;
        let chunk =
            self.chunks[id / 64].get_or_init(|| (0..64).map(|_| LiveSlot::empty()).collect());
        &chunk[id % 64]
    }

    pub(crate) fn register(&self, id: u32, stats: &SharedStats) {
        self.slot(id).store(Some(stats.clone()));
    }

    pub(crate) fn unregister(&self, id: u32) {
        self.slot(id).store(None);
    }

    pub(crate) fn snapshot(&self) -> Vec<(u32, crate::ImageStats)> {
        let mut out = Vec::new();
        for (c, chunk) in self.chunks.iter().enumerate() {
            for (i, slot) in chunk.get().into_iter().flatten().enumerate() {
                if let Some(stats) = slot.load().as_ref() {
                    out.push(((c * 64 + i) as u32, stats.snapshot()));
                }
            }
        }
        out
    }
}

#[cfg(loom)]
impl LiveImages {
    pub(crate) fn new(_limit: usize) -> LiveImages {
        LiveImages {}
    }
    pub(crate) fn register(&self, _id: u32, _stats: &SharedStats) {}
    pub(crate) fn unregister(&self, _id: u32) {}
    pub(crate) fn snapshot(&self) -> Vec<(u32, crate::ImageStats)> {
        Vec::new()
    }
}
