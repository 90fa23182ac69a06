//! Per-image statistics, readable live from other threads.
//!
//! Each image counts into its own cache-padded block of atomics. Only the image writes its
//! block, so a bump is a Relaxed load and store (two plain moves on x86), never a locked
//! read-modify-write, and no counter shares a cache line with another image's. A monitor reads
//! the blocks of all live images through [`BaseHeap::image_stats`](crate::BaseHeap::image_stats)
//! without stopping anyone. None of this is on the unforwarded read path.
//!
//! These are plain `std` atomics even under loom: they carry no correctness obligations.

use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one image has done to the heap so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ImageStats {
    /// Base objects this image copied on its first write to them.
    pub copies: u64,
    /// Forwarders this image installed (it won the CAS on a base header).
    pub forwarders_installed: u64,
    /// Entries this image added to forwarders other images had installed.
    pub entries_added: u64,
    /// Forwarder look-ups: base objects found forwarded on a read or write.
    pub lookups: u64,
    /// Private slots rewritten to point straight at this image's target (lazy become).
    pub fixups: u64,
    /// `become_forward` calls that redirected something.
    pub becomes: u64,
    /// Private objects allocated (copies not included).
    pub allocations: u64,
    /// Stores: slots, bytes and words written.
    pub writes: u64,
    /// Bytes of this image's private space: its copies and allocations.
    pub private_bytes: u64,
}

impl AddAssign for ImageStats {
    fn add_assign(&mut self, o: ImageStats) {
        self.copies += o.copies;
        self.forwarders_installed += o.forwarders_installed;
        self.entries_added += o.entries_added;
        self.lookups += o.lookups;
        self.fixups += o.fixups;
        self.becomes += o.becomes;
        self.allocations += o.allocations;
        self.writes += o.writes;
        self.private_bytes += o.private_bytes;
    }
}

/// One live image's statistics, from [`BaseHeap::image_stats`](crate::BaseHeap::image_stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LiveImage {
    /// The image's id; ids are reused after teardown.
    pub id: u32,
    /// The image's incarnation, unique among the images of a process (until 2^28 of them have
    /// lived), so a monitor can tell a reused id from the image that held it before.
    pub incarnation: u32,
    /// What the image has done so far.
    pub stats: ImageStats,
}

/// A counter with one writer.
#[derive(Default, Debug)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1)
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One image's live counters.
#[derive(Default, Debug)]
pub(crate) struct LiveStats {
    pub(crate) copies: Counter,
    pub(crate) forwarders_installed: Counter,
    pub(crate) entries_added: Counter,
    pub(crate) lookups: Counter,
    pub(crate) fixups: Counter,
    pub(crate) becomes: Counter,
    pub(crate) allocations: Counter,
    pub(crate) writes: Counter,
    pub(crate) private_bytes: Counter,
}

impl LiveStats {
    pub(crate) fn reset(&self) {
        for counter in [
            &self.copies,
            &self.forwarders_installed,
            &self.entries_added,
            &self.lookups,
            &self.fixups,
            &self.becomes,
            &self.allocations,
            &self.writes,
            &self.private_bytes,
        ] {
            counter.set(0);
        }
    }

    pub(crate) fn snapshot(&self) -> ImageStats {
        ImageStats {
            copies: self.copies.get(),
            forwarders_installed: self.forwarders_installed.get(),
            entries_added: self.entries_added.get(),
            lookups: self.lookups.get(),
            fixups: self.fixups.get(),
            becomes: self.becomes.get(),
            allocations: self.allocations.get(),
            writes: self.writes.get(),
            private_bytes: self.private_bytes.get(),
        }
    }
}
