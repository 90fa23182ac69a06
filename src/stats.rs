//! Per-image statistics, readable live from other threads.
//!
//! Each image counts into its own cache-padded statistics block (the kernel's
//! [`stats_block`](crate::kernel::stats_block)). Only the image writes its block, so a bump is
//! a Relaxed load and store (two plain moves on x86), never a locked read-modify-write, and no
//! counter shares a cache line with another image's. A monitor reads the blocks of all live
//! images through [`BaseHeap::image_stats`](crate::BaseHeap::image_stats) without stopping
//! anyone; the block's seqlock keeps it from pairing one image's incarnation with the next
//! holder's counters. None of this is on the unforwarded read path.

#![forbid(unsafe_code)]

use std::ops::AddAssign;
use std::sync::Arc;

use crate::kernel::stats_block::{Counter, Counters, StatsBlock};

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
    /// Private fields rewritten to point straight at this image's target (lazy become).
    pub fixups: u64,
    /// `become_forward` calls that redirected something.
    pub becomes: u64,
    /// Private objects allocated (copies not included).
    pub allocations: u64,
    /// Stores: fields, bytes and words written.
    pub writes: u64,
    /// Bytes of this image's private space: its copies and allocations.
    pub private_bytes: u64,
    /// Collections of its private space.
    pub collections: u64,
    /// Bytes its collections gave back.
    pub collected_bytes: u64,
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
        self.collections += o.collections;
        self.collected_bytes += o.collected_bytes;
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
    pub(crate) collections: Counter,
    pub(crate) collected_bytes: Counter,
}

impl Counters for LiveStats {
    type Snapshot = ImageStats;

    fn reset(&self) {
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
            &self.collections,
            &self.collected_bytes,
        ] {
            counter.set(0);
        }
    }

    fn snapshot(&self) -> ImageStats {
        LiveStats::snapshot(self)
    }
}

impl LiveStats {
    /// A copy of the counters (for the image itself; monitors read through the block).
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
            collections: self.collections.get(),
            collected_bytes: self.collected_bytes.get(),
        }
    }
}

/// The live images' statistics blocks, by image id, for monitors.
///
/// Blocks come in lazily allocated chunks of 64, so an empty heap costs one pointer per 64
/// possible ids, and creating an image allocates nothing and touches no shared counter. Each
/// block is a [`StatsBlock`]: a seqlock whose holder changes only when an image registers or
/// unregisters, so a monitor never pairs one image's incarnation with the next holder's
/// counters. Under loom every chunk is allocated up front, because a contended lazy
/// initialisation blocks, which loom cannot model, and chunks hold 4 blocks (loom's default
/// image limit), because every block is a dozen loom atomics.
///
/// A chunk is shared (an `Arc`) with the images whose blocks it holds: each keeps a
/// [`StatsHandle`] to its own block, so that a bump on its hot paths (every store counts) is a
/// pointer and an offset away, with no look-up through the heap.
pub(crate) struct LiveImages {
    chunks: Box<[std::sync::OnceLock<Arc<Chunk>>]>,
}

const CHUNK: usize = if cfg!(loom) { 4 } else { 64 };

type LiveSlot = StatsBlock<LiveStats>;

type Chunk = [LiveSlot; CHUNK];

fn new_chunk() -> Arc<Chunk> {
    Arc::new(std::array::from_fn(|_| LiveSlot::default()))
}

/// One image's own statistics block, held by the image: its chunk, kept alive by the handle,
/// and its place in it.
pub(crate) struct StatsHandle {
    chunk: Arc<Chunk>,
    /// Below [`CHUNK`] (the id's remainder), so that indexing needs no bounds check.
    slot: usize,
}

impl StatsHandle {
    /// The image's counters, for it to bump.
    #[inline(always)]
    pub(crate) fn counters(&self) -> &LiveStats {
        self.chunk[self.slot % CHUNK].counters()
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
    fn chunk(&self, id: u32) -> &Arc<Chunk> {
        self.chunks[id as usize / CHUNK].get_or_init(new_chunk)
    }

    #[inline]
    fn block(&self, id: u32) -> &LiveSlot {
        &self.chunk(id)[id as usize % CHUNK]
    }

    /// Image `id`'s counters.
    #[cfg(test)]
    pub(crate) fn counters(&self, id: u32) -> &LiveStats {
        self.block(id).counters()
    }

    /// Image `id`'s block, for the image holding the id to keep.
    pub(crate) fn handle(&self, id: u32) -> StatsHandle {
        StatsHandle {
            chunk: self.chunk(id).clone(),
            slot: id as usize % CHUNK,
        }
    }

    /// Claims image `id`'s block for incarnation `incarnation`, zeroed.
    pub(crate) fn register(&self, id: u32, incarnation: u32) {
        self.block(id).claim(incarnation);
    }

    /// Gives image `id`'s block the image's new incarnation, keeping its counters.
    pub(crate) fn reincarnate(&self, id: u32, incarnation: u32) {
        self.block(id).reincarnate(incarnation);
    }

    /// Marks image `id`'s block vacant.
    pub(crate) fn unregister(&self, id: u32) {
        self.block(id).vacate();
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
