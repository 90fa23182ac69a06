//! Per-image statistics, readable live from other threads.
//!
//! Each image counts into its own cache-padded block of atomics. Only the image writes its
//! block, so a bump is a Relaxed load and store (two plain moves on x86), never a locked
//! read-modify-write, and no counter shares a cache line with another image's. A monitor reads
//! the blocks of all live images through [`BaseHeap::image_stats`](crate::BaseHeap::image_stats)
//! without stopping anyone. None of this is on the unforwarded read path.
//!
//! These are plain `std` atomics even under loom: they carry no correctness obligations.

#![forbid(unsafe_code)]

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
    /// Base objects met on the general read or write paths that this image had diverged
    /// from (copied, or made `become` something), each followed through its own entry (the
    /// fast paths, which read and store through the image's own copies, answer without
    /// counting). What other images wrote costs this image nothing, and is not counted.
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
    /// The image's incarnation, unique among the live images of the process, so a monitor can
    /// tell a reused id from the image that held it before (see
    /// [`Image::incarnation`](crate::Image::incarnation)).
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

/// The live images' statistics blocks, by image id, for monitors.
///
/// Blocks come in lazily allocated chunks of 64, so an empty heap costs one pointer per 64
/// possible ids, and creating an image allocates nothing and touches no shared counter. Each
/// block is a seqlock: its `version` is odd while the block changes hands (an image registers
/// or unregisters), so a monitor never pairs one image's incarnation with the next holder's
/// counters. Counters change freely while the version is even: they belong to the one image
/// the block names, and each is exact for it at some moment. Under loom every chunk is
/// allocated up front, because a contended lazy initialisation blocks, which loom cannot model.
pub(crate) struct LiveImages {
    chunks: Box<[std::sync::OnceLock<Box<[LiveSlot]>>]>,
}

const CHUNK: usize = 64;

#[derive(Default)]
struct LiveSlot {
    /// The shim's atomic, so that the loom models check the id handoff that makes the block's
    /// writer unique (see `change_hands`).
    version: crate::kernel::sync::AtomicU64,
    incarnation: std::sync::atomic::AtomicU32,
    stats: crossbeam_utils::CachePadded<LiveStats>,
}

fn new_chunk() -> Box<[LiveSlot]> {
    (0..CHUNK).map(|_| LiveSlot::default()).collect()
}

impl LiveSlot {
    /// Runs `change` as the block's one writer (the image holding the id), inside an odd
    /// version.
    fn change_hands(&self, change: impl FnOnce()) {
        // Relaxed: the id allocator's Acquire already orders us after the previous holder,
        // whose last store left the version even.
        let v = self.version.load(Ordering::Relaxed);
        assert_eq!(v % 2, 0, "two images changed one statistics block at once");
        self.version.store(v + 1, Ordering::Relaxed);
        // Release fence: the odd version is visible before any of the changes below, to a
        // monitor that sees a change (pairs with the Acquire fence in `read`).
        std::sync::atomic::fence(Ordering::Release);
        change();
        // Release: the changes happen-before a monitor's Acquire load of the even version.
        self.version.store(v + 2, Ordering::Release);
    }

    /// A consistent (incarnation, counters) pair, or `None` if the block is vacant or changing
    /// hands right now (a monitor never waits for an image).
    fn read(&self) -> Option<(u32, ImageStats)> {
        for _ in 0..8 {
            // Acquire: pairs with the Release store ending `change_hands`.
            let before = self.version.load(Ordering::Acquire);
            if before % 2 == 1 {
                return None;
            }
            let incarnation = self.incarnation.load(Ordering::Relaxed);
            let stats = self.stats.snapshot();
            // Acquire fence: the loads above happen before the re-check below, so a change of
            // hands that they observed shows as a new version.
            std::sync::atomic::fence(Ordering::Acquire);
            if self.version.load(Ordering::Relaxed) == before {
                return (incarnation != 0).then_some((incarnation, stats));
            }
        }
        None
    }
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
    pub(crate) fn counters(&self, id: u32) -> &LiveStats {
        &self.slot(id).stats
    }

    /// Claims image `id`'s block for incarnation `incarnation`, zeroed.
    pub(crate) fn register(&self, id: u32, incarnation: u32) {
        let slot = self.slot(id);
        slot.change_hands(|| {
            slot.stats.reset();
            slot.incarnation.store(incarnation, Ordering::Relaxed);
        });
    }

    /// Marks image `id`'s block vacant.
    pub(crate) fn unregister(&self, id: u32) {
        let slot = self.slot(id);
        slot.change_hands(|| slot.incarnation.store(0, Ordering::Relaxed));
    }

    /// Every live image's statistics, by id.
    pub(crate) fn snapshot(&self) -> Vec<LiveImage> {
        let mut out = Vec::new();
        for (c, chunk) in self.chunks.iter().enumerate() {
            for (i, slot) in chunk.get().into_iter().flat_map(|c| c.iter()).enumerate() {
                if let Some((incarnation, stats)) = slot.read() {
                    out.push(LiveImage {
                        id: (c * CHUNK + i) as u32,
                        incarnation,
                        stats,
                    });
                }
            }
        }
        out
    }
}
