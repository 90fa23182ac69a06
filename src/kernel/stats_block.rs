//! Statistics blocks: one image's counters, readable live by monitors, guarded by a seqlock.
//!
//! A block belongs to an image id. Only the image holding the id writes the block's counters,
//! so a bump is a Relaxed load and store (two plain moves on x86), never a locked
//! read-modify-write. The block changes hands when an image registers (its counters zeroed,
//! its incarnation stored) and when it unregisters (the incarnation cleared, marking the block
//! vacant); a monitor may read the block at any moment, without stopping anyone.
//!
//! The seqlock keeps a monitor from pairing one holder's incarnation with another holder's
//! counters: the block's `version` is odd while it changes hands and moves on by two each
//! time. A reader loads the version, then the incarnation and counters, then the version
//! again, and accepts only if both loads agree on an even version. Counters change freely
//! while the version is even: they belong to the one image the block names, and each is exact
//! for it at some moment, so a snapshot need not be atomic across counters, only within one
//! holder.
//!
//! Two writers never change one block at once: the id allocator hands an id to one image at a
//! time, and its Release free and Acquire claim order each holder's last change before the
//! next holder's first (`ids.rs`; the loom models check both).
//!
//! Orderings (the pairs):
//! * the odd store, then a Release fence, then the changes; in the reader, the data loads, then
//!   an Acquire fence, then the re-check. A reader that sees any change made inside
//!   `change_hands` therefore sees the odd version (or a later one) on its re-check;
//! * the changes, then the closing even store with Release; in the reader, the first version
//!   load with Acquire. A reader that starts at the new even version sees every change.

#![forbid(unsafe_code)]

use crossbeam_utils::CachePadded;

use super::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// A counter with one writer: the image holding the block.
#[derive(Default, Debug)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1)
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // Relaxed load and store, no RMW: only the holder writes, so it reads its own last
        // store (or `claim`'s reset, ordered before it by the id handoff). A monitor's ordering
        // comes from the block's version, not from the counter.
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed)
    }

    /// Sets the counter; by its holder, or to zero in a [`Counters::reset`] (inside
    /// `change_hands`).
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        // Relaxed: the holder is the only writer; a reset inside `change_hands` is ordered for
        // monitors by its Release fence before and its Release store after.
        self.0.store(n, Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        // Relaxed: the holder reads its own stores; a monitor reads inside `StatsBlock::read`,
        // whose version loads and Acquire fence decide whether the value is kept.
        self.0.load(Ordering::Relaxed)
    }
}

/// What a statistics block protects: a set of [`Counter`]s that `claim` zeroes and `read`
/// copies out.
pub(crate) trait Counters: Default {
    /// A plain copy of the counters.
    type Snapshot;

    /// Zeroes every counter (with [`Counter::set`]).
    fn reset(&self);

    /// Reads every counter (with [`Counter::get`]).
    fn snapshot(&self) -> Self::Snapshot;
}

/// A plain array of counters: what the loom models use, since every counter a reader loads
/// multiplies the interleavings loom explores.
#[cfg(any(loom, test))]
impl<const N: usize> Counters for [Counter; N]
where
    [Counter; N]: Default,
{
    type Snapshot = [u64; N];

    fn reset(&self) {
        self.iter().for_each(|c| c.set(0))
    }

    fn snapshot(&self) -> [u64; N] {
        std::array::from_fn(|i| self[i].get())
    }
}

/// One image id's statistics block: the seqlock's version, the holder's incarnation (0 while
/// vacant) and the holder's counters, the counters cache-padded so that no image's bumps share
/// a line with another image's block.
#[derive(Default, Debug)]
pub(crate) struct StatsBlock<C> {
    /// Even while the block is stable, odd while it changes hands.
    version: AtomicU64,
    incarnation: AtomicU32,
    counters: CachePadded<C>,
}

/// How often a monitor tries a block that keeps changing under it before it gives up on it.
/// Under loom every try multiplies the interleavings, and two already cover a retry.
const TRIES: usize = if cfg!(loom) { 2 } else { 8 };

impl<C: Counters> StatsBlock<C> {
    /// The holder's counters, for it to bump.
    #[inline]
    pub(crate) fn counters(&self) -> &C {
        &self.counters
    }

    /// Makes the block the new holder's: counters zeroed, incarnation `incarnation` (not 0).
    /// Only the image that has just claimed the block's id may call it.
    pub(crate) fn claim(&self, incarnation: u32) {
        debug_assert_ne!(incarnation, 0, "incarnation 0 marks a vacant block");
        self.change_hands(|| {
            self.counters.reset();
            // Relaxed: ordered by `change_hands` (Release fence before, Release store after).
            self.incarnation.store(incarnation, Ordering::Relaxed);
        });
    }

    /// Gives the holder a new incarnation, keeping its counters (its collector moved it to
    /// one). Only the holder may call it.
    pub(crate) fn reincarnate(&self, incarnation: u32) {
        debug_assert_ne!(incarnation, 0, "incarnation 0 marks a vacant block");
        // Relaxed: ordered by `change_hands` (Release fence before, Release store after).
        self.change_hands(|| self.incarnation.store(incarnation, Ordering::Relaxed));
    }

    /// Marks the block vacant. Only its holder may call it, before it gives up the id.
    pub(crate) fn vacate(&self) {
        // Relaxed: ordered by `change_hands` (Release fence before, Release store after).
        self.change_hands(|| self.incarnation.store(0, Ordering::Relaxed));
    }

    /// Runs `change` as the block's one writer, inside an odd version.
    fn change_hands(&self, change: impl FnOnce()) {
        // Relaxed: only holders of the block's id store the version, and the id allocator's
        // Release free / Acquire claim already orders us after the previous holder's closing
        // even store.
        let v = self.version.load(Ordering::Relaxed);
        assert_eq!(v % 2, 0, "two images changed one statistics block at once");
        // Relaxed: the Release fence just below orders it before the changes, for readers.
        self.version.store(v + 1, Ordering::Relaxed);
        // Release fence: a reader whose loads see any change below sees the odd version (or a
        // later one) on its re-check (pairs with the Acquire fence in `read`).
        #[cfg(not(cowheap_mutant = "seqlock_no_release_fence"))]
        fence(Ordering::Release);
        change();
        #[cfg(cowheap_mutant = "seqlock_relaxed_close")]
        let close = Ordering::Relaxed;
        // Release: the changes happen-before the reads of a monitor whose first version load
        // (Acquire, in `read`) sees this even version.
        #[cfg(not(cowheap_mutant = "seqlock_relaxed_close"))]
        let close = Ordering::Release;
        self.version.store(v + 2, close);
    }

    /// The holder's incarnation and counters, consistent (one holder's), or `None` if the block
    /// is vacant or keeps changing hands under the reader (a monitor never waits for an image).
    pub(crate) fn read(&self) -> Option<(u32, C::Snapshot)> {
        for _ in 0..TRIES {
            // Acquire: pairs with the Release store closing `change_hands`, so a reader that
            // starts at an even version sees every change made before it.
            let before = self.version.load(Ordering::Acquire);
            if before % 2 == 1 {
                return None;
            }
            // Relaxed (incarnation and counters): kept only if the re-check below passes.
            let incarnation = self.incarnation.load(Ordering::Relaxed);
            let counters = self.counters.snapshot();
            // Acquire fence: if the loads above saw a change made in `change_hands`, its odd
            // version happens-before the re-check below (pairs with the Release fence there).
            #[cfg(not(cowheap_mutant = "seqlock_no_acquire_fence"))]
            fence(Ordering::Acquire);
            // Relaxed: ordered after the loads above by the Acquire fence.
            if self.version.load(Ordering::Relaxed) == before {
                return (incarnation != 0).then_some((incarnation, counters));
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_its_holder_and_nothing_while_vacant() {
        let block = StatsBlock::<[Counter; 2]>::default();
        assert_eq!(block.read(), None, "vacant from the start");
        block.claim(7);
        block.counters()[1].add(3);
        block.counters()[0].bump();
        assert_eq!(block.read(), Some((7, [1, 3])));
        block.vacate();
        assert_eq!(block.read(), None);
        block.claim(8);
        assert_eq!(
            block.read(),
            Some((8, [0, 0])),
            "a new holder starts at zero"
        );
    }
}
