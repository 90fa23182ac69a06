//! The one place the kernel gets its concurrency primitives from.
//!
//! Under `cfg(loom)` everything here is loom's model-checked stand-in, so the loom models in
//! `loom-tests/` drive the real forwarder, slot table and id allocator. Statistics counters and
//! the host-facing registry deliberately use plain `std` atomics: they carry no correctness
//! obligations and would only blow up loom's state space.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64};
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
