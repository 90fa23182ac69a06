//! Reclaiming retired forwarders: sections and grace periods.
//!
//! # The choice
//!
//! The read fast path never dereferences a forwarder: it answers forwarded objects from the
//! image's own targets or the object's unchanging words. Only slow paths do (an image's first
//! store into a forwarded object, its teardown, a census). So reclamation may cost those
//! paths something, and must cost the fast path nothing. Of the designs the issue weighed:
//!
//! * crossbeam-epoch pins on every dereference; it is invisible to loom (the kernel's models
//!   could not check the protocol) and keeps a global epoch every thread must advance.
//! * Classic QSBR marks quiescent states between operations, so either every operation pays a
//!   store to announce one, or an idle image holds reclamation back.
//! * liburcu's membarrier flavour makes readers free but needs a system call per grace period
//!   and has no loom model.
//!
//! cowheap uses **sections on the slow paths only**, with QSBR's deferred, lock-free freeing:
//!
//! * A thread that may dereference a forwarder first enters a *section*: it increments its own
//!   counter to an odd value with a read-modify-write (one counter per image id, plus a few for
//!   threads without an image, such as a census), and back to even on leaving. An image is
//!   outside any section between operations, so an idle image never holds reclamation back.
//! * A forwarder is retired by clearing its object's forwarding word with a CAS; afterwards the
//!   retiring thread reads, with read-modify-writes, the live-id bitmap and the counter of every
//!   live image and outsider slot, and records the odd ones. The forwarder is freed, by
//!   whichever thread next collects, once every recorded counter has moved on.
//!
//! Why nobody can hold a freed forwarder: take a reader, and the retiring thread's RMW on the
//! reader's counter. Both are RMWs on one word, so one comes first in its modification order.
//! If the reader's entry does, the retiring thread reads an odd value (or a later one) and waits
//! for it. If the retiring thread's RMW does, the reader's entry reads from it and so
//! synchronizes with it: the clearing CAS happens-before everything in the reader's section,
//! which therefore reads the cleared forwarding word (or a newer one) and never meets the
//! forwarder.
//! The same argument on the id bitmap covers an image that claimed its id after the snapshot.
//! A level unlinked from a live forwarder's chain is retired the same way, the unlinking CAS
//! taking the place of the clearing one.
//! Slow-path readers load forwarding words with a plain Acquire load; the read path loads none.
//! Every step is an RMW or an Acquire/Release pair, so it needs no SeqCst fence (which loom
//! would not model): the models check it, with a mutant for each step.

use super::forwarder::Unlinked;
use super::ids::IdAllocator;
use super::sync::{backoff, AtomicPtr, AtomicU64, Ordering};

/// Section slots for threads without an image (censuses, a host's queries of the base).
#[cfg(not(loom))]
const OUTSIDERS: usize = 8;
#[cfg(loom)]
const OUTSIDERS: usize = 1;

/// Every thread's section counter: one per image id, then the outsiders'.
pub(crate) struct Sections {
    counters: Box<[AtomicU64]>,
    images: usize,
}

/// A thread inside a section: forwarders it reads stay allocated until it ends.
pub(crate) struct Section<'a> {
    counter: &'a AtomicU64,
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        // Release: everything the thread did with forwarders happens-before a reclaimer's
        // Acquire load that sees the counter move on.
        self.counter.fetch_add(1, Ordering::Release);
    }
}

impl Sections {
    pub(crate) fn new(images: usize) -> Sections {
        Sections {
            counters: (0..images + OUTSIDERS).map(|_| AtomicU64::new(0)).collect(),
            images,
        }
    }

    /// Image `id` enters a section. Only the image holding the id uses its counter.
    pub(crate) fn enter(&self, id: u32) -> Section<'_> {
        let counter = &self.counters[id as usize];
        #[cfg(cowheap_mutant = "relaxed_section_enter")]
        let enter = Ordering::Relaxed;
        // AcqRel: an RMW whose Acquire reads from a reclaimer's earlier RMW on this counter, so
        // the section sees every forwarding word that reclaimer cleared (see the module docs).
        #[cfg(not(cowheap_mutant = "relaxed_section_enter"))]
        let enter = Ordering::AcqRel;
        let before = counter.fetch_add(1, enter);
        debug_assert_eq!(before % 2, 0, "sections do not nest");
        Section { counter }
    }

    /// A thread without an image enters a section, in the first free outsider slot.
    pub(crate) fn enter_outsider(&self) -> Section<'_> {
        loop {
            for counter in &self.counters[self.images..] {
                // Relaxed: a hint; the CAS decides and carries the ordering.
                let now = counter.load(Ordering::Relaxed);
                // AcqRel: as in `enter`.
                if now % 2 == 0
                    && counter
                        .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    return Section { counter };
                }
            }
            backoff();
        }
    }

    /// The sections open now that may hold a forwarder retired just before: `(slot, counter)`.
    fn snapshot(&self, ids: &IdAllocator) -> Vec<(usize, u64)> {
        let mut open = Vec::new();
        #[cfg(cowheap_mutant = "no_grace_period")]
        {
            let _ = ids;
            return open;
        }
        let mut look = |slot: usize| {
            // An AcqRel RMW, never a plain load, which could read a stale even value: see the
            // module docs.
            #[cfg(cowheap_mutant = "plain_snapshot")]
            let now = self.counters[slot].load(Ordering::Acquire);
            #[cfg(not(cowheap_mutant = "plain_snapshot"))]
            let now = self.counters[slot].fetch_or(0, Ordering::AcqRel);
            if now % 2 == 1 {
                open.push((slot, now));
            }
        };
        ids.for_each_live(&mut look);
        (self.images..self.counters.len()).for_each(look);
        open
    }

    fn passed(&self, open: &[(usize, u64)]) -> bool {
        // Acquire: pairs with the Release that ends each section.
        open.iter()
            .all(|&(slot, then)| self.counters[slot].load(Ordering::Acquire) != then)
    }
}

/// Unlinked forwarders and levels waiting for their grace period.
struct Retired {
    garbage: Vec<Unlinked>,
    open: Vec<(usize, u64)>,
    next: *mut Retired,
}

/// A lock-free stack of retired batches. Collection takes the whole stack at once, so nodes
/// are never popped one by one and the stack has no ABA problem.
pub(crate) struct Limbo {
    head: AtomicPtr<Retired>,
}

impl Limbo {
    pub(crate) fn new() -> Limbo {
        Limbo {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn push(&self, node: Box<Retired>) {
        let node = Box::into_raw(node);
        // Relaxed: a first guess; the CAS carries the ordering.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the CAS publishes it.
            unsafe { (*node).next = head };
            // Release: the node's contents are visible to the collector that takes it.
            match self
                .head
                .compare_exchange(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => {
                    head = now;
                    backoff();
                }
            }
        }
    }

    /// Retires `garbage` (forwarders whose forwarding words were cleared, levels unlinked from
    /// their chains) until the sections open now have ended.
    pub(crate) fn retire(&self, garbage: Vec<Unlinked>, sections: &Sections, ids: &IdAllocator) {
        debug_assert!(!garbage.is_empty(), "Arena::retire filters the empty case");
        let open = sections.snapshot(ids);
        self.push(Box::new(Retired {
            garbage,
            open,
            next: std::ptr::null_mut(),
        }));
    }

    /// Frees everything retired whose grace period has passed; answers how many forwarders.
    pub(crate) fn collect(&self, sections: &Sections) -> usize {
        // Relaxed: a cheap look first, so that the common empty case writes nothing.
        if self.head.load(Ordering::Relaxed).is_null() {
            return 0;
        }
        // Acquire: pairs with the Release CAS in `push`.
        let mut node = self.head.swap(std::ptr::null_mut(), Ordering::Acquire);
        let mut freed = 0;
        while !node.is_null() {
            // SAFETY: the swap took the whole stack; every node came from Box::into_raw.
            let batch = unsafe { Box::from_raw(node) };
            node = batch.next;
            if sections.passed(&batch.open) {
                freed += batch.garbage.iter().filter(|g| g.is_forwarder()).count();
                for unlinked in batch.garbage {
                    // SAFETY: no forwarding word or link reaches it any more, and every section
                    // that could have reached it before it was unlinked has ended.
                    unsafe { unlinked.free() };
                }
            } else {
                self.push(batch);
            }
        }
        freed
    }
}

impl Drop for Limbo {
    fn drop(&mut self) {
        // Acquire: as in `collect`, although with `&mut self` nothing races.
        let mut node = self.head.swap(std::ptr::null_mut(), Ordering::Acquire);
        while !node.is_null() {
            // SAFETY: exclusive access; every node came from Box::into_raw.
            let batch = unsafe { Box::from_raw(node) };
            node = batch.next;
            for unlinked in batch.garbage {
                // SAFETY: retired and unreachable; with `&mut self` no thread is in a section
                // of this heap.
                unsafe { unlinked.free() };
            }
        }
    }
}
