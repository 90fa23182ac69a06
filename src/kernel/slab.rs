//! Forwarder slabs: where an image's first store gets its forwarder.
//!
//! A forwarder is allocated on the first-store path and freed by whichever thread reclaims it,
//! after a grace period, usually not the one that made it. A `Box` per forwarder cost about
//! 200 of the first store's 1,100 instructions: glibc's per-thread cache is empty on a thread
//! that makes forwarders but never frees them, so every `malloc` went to the shared arena.
//!
//! So each image carves its forwarders from slabs of its own by bumping a private cursor (no
//! atomic, no lock), and a slab counts its slots not yet given back: each freed forwarder gives
//! back one, and the image gives back the slots it never used when it moves to a new slab or
//! ends. Whoever gives back the last one frees the slab, on whatever thread. Slots are never
//! reused, so there is no free list to race on and no ABA. Slabs grow 4, 16, then 64 slots an
//! image, so an image that writes one object holds a few hundred bytes, and a slab outlives
//! its image only while a forwarder in it lives (other images still hold entries there).

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;

use super::forwarder::Forwarder;
use super::sync::{AtomicU64, Ordering};

const FIRST: usize = 4;
const LARGEST: usize = 64;

pub(crate) struct Slab {
    /// Slots not yet given back (freed forwarders, and at the end the ones never used), plus
    /// one for the image's cursor while it points here: the cursor reads and writes the slab,
    /// so all-forwarders-freed must not free it under the cursor.
    unreleased: AtomicU64,
    slots: Box<[UnsafeCell<MaybeUninit<Forwarder>>]>,
}

impl Slab {
    fn new(len: usize) -> *mut Slab {
        Box::into_raw(Box::new(Slab {
            unreleased: AtomicU64::new(len as u64 + 1),
            slots: (0..len)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        }))
    }

    /// Gives back `n` slots of `slab`, and frees it if they were the last.
    ///
    /// # Safety
    /// `slab` came from [`Slab::new`], the caller holds `n` of its unreleased slots (their
    /// forwarders dropped, or never written) and uses none of them afterwards.
    pub(super) unsafe fn release(slab: *mut Slab, n: u64) {
        if n == 0 {
            return;
        }
        // AcqRel: Release orders the caller's last use of its slots before the free; Acquire,
        // in the thread that frees, every other releaser's.
        // SAFETY: per the contract the slab is still allocated: the caller's slots count.
        let before = unsafe { &*slab }.unreleased.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n);
        #[cfg(not(loom))]
        if before == n {
            // SAFETY: every slot is given back, so nothing else refers to the slab.
            drop(unsafe { Box::from_raw(slab) });
        }
    }
}

/// An image's cursor into its current slab. Private to the image.
pub(crate) struct Slabs {
    slab: *mut Slab,
    next: usize,
}

// SAFETY: the cursor and the unused slots are touched only through `&mut Slabs`, by the image
// that owns it; other threads reach only the slab's atomic count and the forwarders handed
// out, which are shared by design.
unsafe impl Send for Slabs {}

impl Default for Slabs {
    fn default() -> Self {
        Slabs {
            slab: std::ptr::null_mut(),
            next: 0,
        }
    }
}

impl Slabs {
    /// Slots of the current slab; 0 before the first.
    fn len(&self) -> usize {
        // SAFETY: a non-null `slab` is this cursor's, which its hold keeps allocated.
        unsafe { self.slab.as_ref() }.map_or(0, |s| s.slots.len())
    }

    /// Places the forwarder `make` builds (told its slab) in a fresh slot.
    pub(super) fn alloc(&mut self, make: impl FnOnce(*mut Slab) -> Forwarder) -> *mut Forwarder {
        if self.next == self.len() {
            let len = (self.len() * 4).clamp(FIRST, LARGEST);
            self.give_back_unused();
            (self.slab, self.next) = (Slab::new(len), 0);
        }
        // SAFETY: the cursor's hold keeps the slab allocated; `next < len`, and slots from
        // `next` on are unused and unreleased, so no one else refers to this one.
        let slot = unsafe { &(*self.slab).slots[self.next] };
        self.next += 1;
        // SAFETY: as above; the slot is ours to write.
        unsafe { (*slot.get()).write(make(self.slab)) }
    }

    /// Takes back the slot `alloc` just answered, whose forwarder was never published.
    ///
    /// # Safety
    /// `forwarder` is the last `alloc` answer and no other thread ever saw it.
    pub(super) unsafe fn unalloc(&mut self, forwarder: *mut Forwarder) {
        debug_assert!(self.next > 0);
        // SAFETY: per the contract, it is initialised and unshared.
        unsafe { std::ptr::drop_in_place(forwarder) };
        self.next -= 1;
    }

    /// Gives back the slots never used, and the cursor's hold.
    fn give_back_unused(&mut self) {
        if !self.slab.is_null() {
            // SAFETY: the unused slots and the hold are this cursor's; it moves on or ends.
            unsafe { Slab::release(self.slab, (self.len() - self.next) as u64 + 1) };
        }
    }
}

impl Drop for Slabs {
    fn drop(&mut self) {
        self.give_back_unused();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A slab is freed by whoever gives back its last slot: here the cursor's end, then a
    /// forwarder's free. Run under valgrind, a leak or a double free shows.
    #[test]
    fn a_slab_goes_with_its_last_slot() {
        // Relaxed loads below: one thread.
        let mut slabs = Slabs::default();
        let a = slabs.alloc(Forwarder::for_tests);
        let b = slabs.alloc(Forwarder::for_tests);
        // SAFETY: `b` was the last answer and never shared.
        unsafe { slabs.unalloc(b) };
        let c = slabs.alloc(Forwarder::for_tests);
        assert_eq!(b, c, "an unpublished slot is reused");
        let slab = slabs.slab;
        // SAFETY: the slab lives: 2 forwarders, 2 unused slots and the hold are unreleased.
        assert_eq!(unsafe { &*slab }.unreleased.load(Ordering::Relaxed), 5);
        drop(slabs);
        // SAFETY: as above, less the 2 unused slots and the hold.
        assert_eq!(unsafe { &*slab }.unreleased.load(Ordering::Relaxed), 2);
        // SAFETY: each forwarder is freed once and was never published.
        unsafe {
            Forwarder::free_in_slab(a);
            Forwarder::free_in_slab(c);
        }
    }

    /// Every forwarder of the cursor's full slab is freed before the cursor moves on: the
    /// cursor's hold keeps the slab until then (valgrind saw the cursor read a freed slab
    /// without it).
    #[test]
    fn slabs_grow_to_64_slots_and_outlive_their_forwarders_under_the_cursor() {
        let mut slabs = Slabs::default();
        let mut made = Vec::new();
        let mut lens = Vec::new();
        for _ in 0..(4 + 16 + 64 + 64) {
            made.push(slabs.alloc(Forwarder::for_tests));
            lens.push(slabs.len());
        }
        lens.dedup();
        assert_eq!(lens, vec![4, 16, 64]);
        for f in made {
            // SAFETY: each is freed once and was never published.
            unsafe { Forwarder::free_in_slab(f) };
        }
        let last = slabs.slab;
        // Relaxed: one thread.
        // SAFETY: the hold keeps it.
        assert_eq!(unsafe { &*last }.unreleased.load(Ordering::Relaxed), 1);
        let f = slabs.alloc(Forwarder::for_tests);
        // SAFETY: freed once, never published.
        unsafe { Forwarder::free_in_slab(f) };
    }
}
