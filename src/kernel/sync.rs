//! The one place the kernel gets its concurrency primitives from.
//!
//! Under `cfg(loom)` everything here is loom's model-checked stand-in, so the loom models in
//! `loom-tests/` drive the real forwarder, slot table, id allocator and statistics blocks. The
//! process-wide owner and incarnation allocators deliberately use plain `std` atomics: they
//! rely only on the total modification order of one word, which needs no model.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

pub(crate) use std::sync::atomic::Ordering;

/// Called by every retry loop so that loom can schedule the thread we are waiting on.
#[inline]
pub(crate) fn backoff() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// A cell written once before it is published and read-only afterwards.
///
/// Under loom it is loom's `UnsafeCell`, which reports a causality violation when a reader
/// reaches the value without a happens-before edge from its initialisation. That is how the
/// models catch a forwarder published with a too-weak ordering.
#[derive(Debug)]
pub(crate) struct PublishedCell<T: Copy> {
    #[cfg(loom)]
    inner: loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))]
    inner: T,
}

impl<T: Copy> PublishedCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(loom)]
        {
            PublishedCell {
                inner: loom::cell::UnsafeCell::new(value),
            }
        }
        #[cfg(not(loom))]
        {
            PublishedCell { inner: value }
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> T {
        #[cfg(loom)]
        {
            // SAFETY: the value is never mutated after construction; loom checks that this
            // read happens after the construction.
            self.inner.with(|p| unsafe { *p })
        }
        #[cfg(not(loom))]
        {
            self.inner
        }
    }
}

// loom's UnsafeCell is !Sync; the value is immutable after publication, so sharing is sound.
#[cfg(loom)]
// SAFETY: see above: the cell is only read after its Release/Acquire publication.
unsafe impl<T: Copy + Send> Sync for PublishedCell<T> {}

/// Exclusive access to an `AtomicPtr`'s value, for both std and loom (loom's `AtomicPtr` has
/// no `get_mut`).
pub(crate) trait GetMutPtr<T> {
    fn get_mut_ptr(&mut self) -> &mut *mut T;
}

impl<T> GetMutPtr<T> for AtomicPtr<T> {
    #[cfg(not(loom))]
    fn get_mut_ptr(&mut self) -> &mut *mut T {
        self.get_mut()
    }
    #[cfg(loom)]
    fn get_mut_ptr(&mut self) -> &mut *mut T {
        let p = self.with_mut(|p| p as *mut *mut T);
        // SAFETY: `p` points into `self`, which we borrow mutably for the returned lifetime.
        unsafe { &mut *p }
    }
}
