//! Image ids: which ids of a heap are live.
//!
//! An image id names the image's entries in every forwarder, so an id may be handed out again
//! only after the previous holder's entries are all cleared. The id bitmap carries that
//! ordering: teardown clears entries, then releases the id with Release; allocation claims a
//! bit with Acquire. The lowest free id is preferred, which keeps ids dense and the slot
//! tables' Fibonacci hashing collision-free.

use super::sync::{backoff, AtomicU64, Ordering};

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
        // Acquire: pairs with the Release in `release`, so the previous holder's tombstones
        // happen-before anything the new holder does with the id.
        let claim = Ordering::Acquire;
        for (w, word) in self.words.iter().enumerate() {
            // Relaxed: only a hint for the CAS below, which carries the ordering.
            let mut bits = word.load(Ordering::Relaxed);
            loop {
                let bit = (!bits).trailing_zeros() as usize;
                let id = w * 64 + bit;
                if bit == 64 || id >= self.limit {
                    break;
                }
                // Relaxed on failure: the value is only a new hint.
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
        #[cfg(cowheap_mutant = "relaxed_id_release")]
        let release = Ordering::Relaxed;
        // Release: publishes the holder's tombstones to the next `acquire` of this id.
        #[cfg(not(cowheap_mutant = "relaxed_id_release"))]
        let release = Ordering::Release;
        self.words[id / 64].fetch_and(!(1 << (id % 64)), release);
    }

    /// Calls `f` with every id in use, reading each bitmap word with an RMW: a reclaimer's
    /// snapshot (see `reclaim.rs`) must be ordered with every claim of an id.
    pub(crate) fn for_each_live(&self, f: &mut impl FnMut(usize)) {
        for (w, word) in self.words.iter().enumerate() {
            // AcqRel RMW: an id claimed after this read synchronizes with it, so its holder
            // sees whatever the reclaimer did before (the cleared forwarding word).
            #[cfg(cowheap_mutant = "plain_snapshot")]
            let mut bits = word.load(Ordering::Acquire);
            #[cfg(not(cowheap_mutant = "plain_snapshot"))]
            let mut bits = word.fetch_or(0, Ordering::AcqRel);
            while bits != 0 {
                f(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
    }

    /// How many ids are in use.
    pub(crate) fn live(&self) -> usize {
        self.words
            .iter()
            // Relaxed: a statistic, exact only when nobody is creating or dropping images.
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
