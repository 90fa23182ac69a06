//! A forwarder's out-of-line entries: a chain of levels that grows when every entry is taken
//! and gives a level back when its last entry leaves (see `forwarder.rs` for the protocol's
//! place in a forwarder's life).
//!
//! An insert *reserves* an entry in the first level with room (a CAS on the level's `used`
//! count, which the reservation keeps below the level's size), then takes a free entry there,
//! or else links a new level, pre-filled with its entry, at the end of the chain. An image
//! leaving clears its entry and gives its reservation back.
//!
//! Memory follows the live entries, not the peak: the leaver whose release empties a level
//! CASes its count from 0 to *closed*, so no reservation can land there any more, and unlinks
//! it (Harris's list deletion): it first marks the level's `next` link, so that nothing is
//! linked after a closed level, then CASes the predecessor's link past it. Any thread that
//! meets a marked link unlinks what is marked before going on, so a stalled leaver delays no
//! one. The unlinked level is retired like a forwarder, and freed after a grace period. Every
//! level left holds a live entry, so capacity is at most `MAX_LEVEL` per live entry, whatever
//! order images come and go in, and walks stay short, since sizes grow to `MAX_LEVEL`.

use super::forwarder::Unlinked;
use super::sync::{backoff, AtomicPtr, AtomicU64, GetMutPtr, Ordering, PublishedCell};

/// Entries in the first out-of-line level; each further level is 4x larger, up to `MAX_LEVEL`.
#[cfg(not(loom))]
const FIRST_LEVEL: usize = 8;
#[cfg(loom)]
const FIRST_LEVEL: usize = 2;
/// The largest level. A level is unlinked once it empties, so every level left holds a live
/// entry: capping the size is what bounds capacity by `MAX_LEVEL` per live entry, whatever
/// order images come and go in.
#[cfg(not(loom))]
pub(crate) const MAX_LEVEL: usize = 128;
#[cfg(loom)]
pub(crate) const MAX_LEVEL: usize = 8;

/// A free entry.
pub(super) const EMPTY: u64 = 0;
/// The top bit of a level's `used`: the level emptied and takes no new entries.
const CLOSED: u64 = 1 << 63;
/// The low bit of a level's `next`: the level is closed, and nothing may be linked after it.
const MARK: usize = 1;

/// Takes `slot` for `word` if it is free.
#[inline]
pub(super) fn take_free(slot: &AtomicU64, word: u64) -> bool {
    // Relaxed: which claimant wins a free entry is all this decides; entries carry no data
    // for other threads (each image keeps its own answer).
    if slot.load(Ordering::Relaxed) != EMPTY {
        return false;
    }
    #[cfg(cowheap_mutant = "insert_without_cas")]
    {
        backoff();
        slot.store(word, Ordering::Relaxed);
        true
    }
    // Relaxed: as above.
    #[cfg(not(cowheap_mutant = "insert_without_cas"))]
    slot.compare_exchange(EMPTY, word, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

fn marked(link: *mut Level) -> bool {
    link.addr() & MARK != 0
}

fn unmarked(link: *mut Level) -> *mut Level {
    link.map_addr(|a| a & !MARK)
}

/// One out-of-line block of entries.
pub(crate) struct Level {
    /// The level's size, as its creator wrote it: a published cell, so that a thread reaching
    /// the level without a happens-before edge from its creation fails the models.
    len: PublishedCell<usize>,
    /// Entries reserved (taken or about to be), or `CLOSED` once the level emptied.
    used: AtomicU64,
    entries: Box<[AtomicU64]>,
    /// The next level, with `MARK` set once this level is closed.
    next: AtomicPtr<Level>,
    /// As in `Forwarder`: under loom a level is marked rather than freed.
    #[cfg(loom)]
    freed: loom::sync::atomic::AtomicBool,
}

impl Level {
    fn new(len: usize, first: u64) -> Box<Level> {
        let entries = (0..len)
            .map(|i| AtomicU64::new(if i == 0 { first } else { EMPTY }))
            .collect();
        Box::new(Level {
            len: PublishedCell::new(len),
            used: AtomicU64::new(1),
            entries,
            next: AtomicPtr::new(std::ptr::null_mut()),
            #[cfg(loom)]
            freed: loom::sync::atomic::AtomicBool::new(false),
        })
    }

    fn entries(&self) -> &[AtomicU64] {
        // Relaxed: a loom-only flag, set and read within one model execution's checks.
        #[cfg(loom)]
        assert!(
            !self.freed.load(Ordering::Relaxed),
            "a slot-table level was used after its reclamation"
        );
        &self.entries[..self.len.get()]
    }

    /// Reserves one of the level's entries, unless every one is reserved or the level closed.
    fn reserve(&self) -> bool {
        let len = self.entries().len() as u64;
        // Relaxed: a first guess; the CAS decides.
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            #[cfg(not(cowheap_mutant = "reserve_in_closed_level"))]
            if used & CLOSED != 0 {
                return false;
            }
            if used & !CLOSED >= len {
                return false;
            }
            // Acquire: reads from the AcqRel release of the last leaver (or from an RMW after
            // it), so the entry that leaver cleared is visible to `take`. Against `close`, the
            // modification order of this one word decides: a level that has a reservation
            // cannot close, and a closed level takes none.
            match self
                .used
                .compare_exchange(used, used + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => {
                    used = now;
                    backoff();
                }
            }
        }
    }

    /// Takes a free entry for `word`. The caller's reservation guarantees one: entries are
    /// taken only under a reservation and cleared before theirs is given back.
    fn take(&self, word: u64) {
        loop {
            if self.entries().iter().any(|slot| take_free(slot, word)) {
                return;
            }
            backoff();
        }
    }

    /// Gives back a reservation whose entry the caller cleared. Answers whether the level
    /// emptied and closed: the caller must then see it unlinked.
    fn release(&self) -> bool {
        // AcqRel: Release orders the entry's clearing before the freed reservation (see
        // `reserve`); Acquire, for the closing CAS, every earlier leaver's clearing.
        if self.used.fetch_sub(1, Ordering::AcqRel) != 1 {
            return false;
        }
        // Relaxed: as in `reserve`, only this word's modification order matters: a failure
        // means a claimant reserved after our decrement, and the level lives on.
        self.used
            .compare_exchange(0, CLOSED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Marks a closed level's link, so that no level is linked after it any more and a
    /// predecessor's unlinking CAS cannot lose one (Harris's list deletion).
    fn mark(&self) {
        #[cfg(cowheap_mutant = "unlink_unmarked")]
        return;
        // Relaxed: a first guess; the CAS decides.
        #[allow(unreachable_code)]
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            // Relaxed: the CAS is an RMW, so it extends the release sequence of the Release
            // CAS that linked `next`: a pruner that acquires the marked link still sees the
            // next level initialised.
            match self.next.compare_exchange(
                next,
                next.map_addr(|a| a | MARK),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => {
                    // An appender linked a level after ours first.
                    next = now;
                    backoff();
                }
            }
        }
    }

    /// Whether the level is closed and waits to be unlinked, given its `next` link.
    fn closing(&self, next: *mut Level) -> bool {
        #[cfg(cowheap_mutant = "unlink_unmarked")]
        {
            let _ = next;
            // Acquire: the mutant reads the close itself instead of the mark.
            return self.used.load(Ordering::Acquire) & CLOSED != 0;
        }
        #[allow(unreachable_code)]
        marked(next)
    }

    /// Frees an unlinked level.
    ///
    /// # Safety
    /// The level came from `Box::into_raw` and no thread can reach it any more.
    pub(super) unsafe fn free(level: *mut Level) {
        #[cfg(loom)]
        {
            // Relaxed: as in `entries`.
            // SAFETY: per the contract; under loom the memory is kept so that a late reader
            // trips the check in `entries` instead of reading freed memory.
            unsafe { &*level }.freed.store(true, Ordering::Relaxed);
        }
        #[cfg(not(loom))]
        // SAFETY: per the contract.
        drop(unsafe { Box::from_raw(level) });
    }
}

/// The chain of levels hanging from a forwarder.
pub(super) struct Chain {
    head: AtomicPtr<Level>,
}

impl Chain {
    pub(super) fn new() -> Chain {
        Chain {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Every level, in chain order, closed ones included.
    fn levels(&self) -> impl Iterator<Item = &Level> {
        #[cfg(cowheap_mutant = "relaxed_level_link")]
        let link = Ordering::Relaxed;
        // Acquire: pairs with the Release CAS that linked each level in `claim` or `prune`, so
        // its entries' initial values are visible.
        #[cfg(not(cowheap_mutant = "relaxed_level_link"))]
        let link = Ordering::Acquire;
        let mut level = self.head.load(link);
        std::iter::from_fn(move || {
            // SAFETY: levels are linked with Release after full initialisation, and freed only
            // after a grace period that the caller's section (or `&self` for the forwarder's
            // lifetime) holds back.
            let l = unsafe { unmarked(level).as_ref() }?;
            level = l.next.load(link);
            Some(l)
        })
    }

    /// Claims a free entry for `word`: one reserved in the first level with room, or the first
    /// of a new level linked at the end of the chain. Closed levels met on the way are unlinked
    /// into `garbage`.
    pub(super) fn claim(&self, word: u64, garbage: &mut Vec<Unlinked>) {
        #[cfg(cowheap_mutant = "relaxed_level_publish")]
        let publish = Ordering::Relaxed;
        // Release: a level's entries are initialised before any thread can reach it.
        #[cfg(not(cowheap_mutant = "relaxed_level_publish"))]
        let publish = Ordering::Release;
        let mut link = &self.head;
        let mut len = FIRST_LEVEL;
        loop {
            // Acquire: as in `levels`.
            let level = link.load(Ordering::Acquire);
            if marked(level) {
                // `link` is a closed level's: nothing may follow it until it is unlinked.
                self.prune(garbage);
                backoff();
                (link, len) = (&self.head, FIRST_LEVEL);
                continue;
            }
            if level.is_null() {
                let fresh = Box::into_raw(Level::new(len, word));
                // Relaxed on failure: the loop loads the link again.
                if link
                    .compare_exchange(std::ptr::null_mut(), fresh, publish, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                // SAFETY: `fresh` came from Box::into_raw above and was never published.
                drop(unsafe { Box::from_raw(fresh) });
                continue;
            }
            // SAFETY: as in `levels`; the caller's section keeps the level allocated.
            let l = unsafe { &*level };
            if l.reserve() {
                l.take(word);
                return;
            }
            // A closed level will be unlinked: a level linked after it takes its size.
            // Relaxed: only a size hint.
            let grow = if l.used.load(Ordering::Relaxed) & CLOSED == 0 {
                4
            } else {
                1
            };
            (link, len) = (&l.next, (l.entries().len() * grow).min(MAX_LEVEL));
        }
    }

    /// Unlinks every closed level from the chain into `garbage`. A closed level's link is
    /// marked and never changes again, so the unlinking CAS on its predecessor's link carries
    /// over exactly the levels that follow it.
    fn prune(&self, garbage: &mut Vec<Unlinked>) {
        'restart: loop {
            let mut link = &self.head;
            // Acquire: as in `levels`.
            let mut level = link.load(Ordering::Acquire);
            loop {
                // `level` is unmarked: `link` belongs to the forwarder or to a level we saw
                // open, and a CAS on a link that has been marked since fails.
                // SAFETY: as in `levels`; the caller's section keeps it allocated.
                let Some(l) = (unsafe { unmarked(level).as_ref() }) else {
                    return;
                };
                // Acquire: as in `levels`.
                let next = l.next.load(Ordering::Acquire);
                if !l.closing(next) {
                    (link, level) = (&l.next, next);
                    continue;
                }
                // AcqRel: Release passes the next level's publication on to walkers of `link`
                // (we acquired it through `l`'s link); a failure means the link moved or its
                // own level closed, so we walk again from the start.
                match link.compare_exchange(
                    level,
                    unmarked(next),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        garbage.push(Unlinked::Level(level));
                        level = unmarked(next);
                    }
                    Err(_) => {
                        backoff();
                        continue 'restart;
                    }
                }
            }
        }
    }

    /// Clears the entry `mine` picks, if the chain has it; if that empties its level, closes
    /// the level and unlinks it into `garbage`. Answers whether it found the entry.
    pub(super) fn leave(
        &self,
        mine: impl Fn(&&AtomicU64) -> bool,
        garbage: &mut Vec<Unlinked>,
    ) -> bool {
        let found = self
            .levels()
            .find_map(|l| l.entries().iter().find(&mine).map(|slot| (l, slot)));
        let Some((level, slot)) = found else {
            return false;
        };
        // Relaxed: the level's AcqRel release orders it for the next claimant.
        slot.store(EMPTY, Ordering::Relaxed);
        if level.release() {
            level.mark();
            self.prune(garbage);
        }
        true
    }

    /// Every entry, in chain order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &AtomicU64> {
        self.levels().flat_map(|l| l.entries().iter())
    }

    /// Entries of every level.
    pub(super) fn capacity(&self) -> usize {
        self.levels().map(|l| l.entries().len()).sum()
    }

    /// Bytes of every level.
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
    pub(super) fn footprint(&self) -> usize {
        self.levels()
            .map(|l| std::mem::size_of::<Level>() + 8 * l.entries().len())
            .sum()
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let mut level = *self.head.get_mut_ptr();
        while !unmarked(level).is_null() {
            // SAFETY: we have exclusive access; every level still linked was created by
            // Box::into_raw and is reachable from exactly one link (unlinked ones are freed by
            // whoever unlinked them).
            let mut boxed = unsafe { Box::from_raw(unmarked(level)) };
            level = *boxed.next.get_mut_ptr();
        }
    }
}
