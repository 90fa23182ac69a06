//! The sealed base arena: every base object's words as atomics, a bitmap of where objects
//! start, and the reclamation state of the forwarders installed in it. The bitmap is the guard
//! that keeps a word that is not a header from ever being decoded as one (see the kernel's
//! module docs).

use super::forwarder::{self, Installed, Unlinked};
use super::header::{HeaderWord, FORWARDED};
use super::ids::IdAllocator;
use super::reclaim::{Limbo, Section, Sections};
use super::slab::Slabs;
use super::sync::{AtomicU64, Ordering};
use crate::object::{Header, Loc};

pub(crate) struct Arena {
    words: Box<[AtomicU64]>,
    /// One bit per word: set where an object starts.
    starts: Box<[u64]>,
    /// Per word of `starts`: how many objects start before it, so that an object's ordinal
    /// (its index in `sealed`) costs one load and a popcount. 64 bits, so no base is too big
    /// for it (1/64 of the arena's size).
    ranks: Box<[u64]>,
    /// Every object's sealed header, by ordinal. An image with no entry in a forwarded object
    /// reads it from here: it never changes, so it needs no section and no forwarder, and the
    /// image needs no per-object cache of its misses (8 bytes per base object, once per heap).
    sealed: Box<[u64]>,
    sections: Sections,
    limbo: Limbo,
    /// Forwarders taken down, and freed, since sealing: statistics, so plain `std` atomics.
    taken_down: std::sync::atomic::AtomicU64,
    freed: std::sync::atomic::AtomicU64,
}

impl Arena {
    /// An arena of `words`, with objects starting at `starts`, for at most `images` live
    /// images. Each start must hold a header (bit 0 clear).
    pub(crate) fn new(
        words: Vec<u64>,
        starts: impl IntoIterator<Item = usize>,
        images: usize,
    ) -> Arena {
        let mut bits = vec![0u64; words.len().div_ceil(64)];
        for at in starts {
            debug_assert_eq!(words[at] & FORWARDED, 0);
            bits[at / 64] |= 1 << (at % 64);
        }
        let mut ranks = Vec::with_capacity(bits.len());
        let mut sealed = Vec::new();
        for (w, &b) in bits.iter().enumerate() {
            ranks.push(sealed.len() as u64);
            let mut b = b;
            while b != 0 {
                sealed.push(words[w * 64 + b.trailing_zeros() as usize]);
                b &= b - 1;
            }
        }
        Arena {
            words: words.into_iter().map(AtomicU64::new).collect(),
            starts: bits.into_boxed_slice(),
            ranks: ranks.into_boxed_slice(),
            sealed: sealed.into_boxed_slice(),
            sections: Sections::new(images),
            limbo: Limbo::new(),
            taken_down: Default::default(),
            freed: Default::default(),
        }
    }

    /// Image `id` enters a section: forwarders it reads stay allocated until it ends.
    pub(crate) fn enter(&self, id: u32) -> Section<'_> {
        self.sections.enter(id)
    }

    /// A thread without an image enters a section.
    pub(crate) fn enter_outsider(&self) -> Section<'_> {
        self.sections.enter_outsider()
    }

    /// True if an object starts at word `at`.
    #[inline(always)]
    pub(crate) fn is_start(&self, at: usize) -> bool {
        self.starts
            .get(at / 64)
            .is_some_and(|bits| bits >> (at % 64) & 1 != 0)
    }

    /// Word `i`, Relaxed: body and class words never change after sealing. For a header word
    /// this is only good for testing bits (the fast path's "unforwarded pointers?" test): a
    /// forwarded bit sends the caller to [`header`](Self::header), which loads with Acquire.
    #[inline(always)]
    pub(crate) fn word(&self, i: usize) -> u64 {
        // Relaxed: see above; no pointer read this way is ever dereferenced.
        self.words[i].load(Ordering::Relaxed)
    }

    /// `len` words from word `from`.
    #[inline]
    pub(crate) fn words(&self, from: usize, len: usize) -> &[AtomicU64] {
        &self.words[from..from + len]
    }

    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// The header word of the object at `at`, decoded: its header, or its forwarder, which
    /// stays allocated while `section` lasts. `None` if no object starts at `at`.
    #[inline]
    pub(crate) fn header<'s>(&'s self, at: usize, section: &'s Section) -> Option<HeaderWord<'s>> {
        if !self.is_start(at) {
            return None;
        }
        let word = forwarder::observe(&self.words[at], section);
        // SAFETY: an object starts at `at` (checked above), and the word was observed inside
        // `section`, which outlives the answer.
        Some(unsafe { HeaderWord::decode(word) })
    }

    /// The header the object at `at` was sealed with, whether or not it is forwarded now.
    /// `None` if no object starts at `at`.
    #[inline(always)]
    pub(crate) fn sealed_header(&self, at: usize) -> Option<Header> {
        let bits = *self.starts.get(at / 64)?;
        if bits >> (at % 64) & 1 == 0 {
            return None;
        }
        let below = bits & ((1u64 << (at % 64)) - 1);
        let ordinal = self.ranks[at / 64] as usize + below.count_ones() as usize;
        Some(Header(self.sealed[ordinal]))
    }

    /// Gives image `id` the entry `target` in the forwarder of the object at `at`, installing
    /// the forwarder first if the object has none. The image must not have an entry there.
    /// `None` (and nothing done) if no object starts at `at`. What the install unlinks on its
    /// way goes to `garbage`, for [`retire`](Self::retire).
    pub(crate) fn install(
        &self,
        at: usize,
        id: u32,
        target: Loc,
        section: &Section,
        garbage: &mut Vec<Unlinked>,
        slabs: &mut Slabs,
    ) -> Option<Installed> {
        self.is_start(at)
            .then(|| forwarder::install(&self.words[at], id, target, section, garbage, slabs))
    }

    /// The first-store fast path: installs a new forwarder with image `id`'s entry if the
    /// object at `at` has none, needing no section. `None` if it did nothing: the object is
    /// forwarded (or no object starts at `at`), and [`install`](Self::install) must run.
    pub(crate) fn install_fresh(
        &self,
        at: usize,
        id: u32,
        target: Loc,
        slabs: &mut Slabs,
    ) -> Option<Installed> {
        if !self.is_start(at) {
            return None;
        }
        forwarder::install_fresh(&self.words[at], id, target, slabs)
    }

    /// Removes image `id`'s entry from the forwarder of the object at `at`. What that unlinks
    /// (an emptied level; the forwarder, if that was its last entry) goes to `garbage`, for
    /// [`retire`](Self::retire).
    pub(crate) fn remove(
        &self,
        at: usize,
        id: u32,
        section: &Section,
        garbage: &mut Vec<Unlinked>,
    ) {
        if self.is_start(at) {
            forwarder::remove(&self.words[at], id, section, garbage)
        }
    }

    /// Hands unlinked forwarders and levels to reclamation. Call outside any section of one's
    /// own.
    pub(crate) fn retire(&self, garbage: Vec<Unlinked>, ids: &IdAllocator) {
        let forwarders = garbage.iter().filter(|g| g.is_forwarder()).count();
        // Relaxed: a statistic.
        self.taken_down
            .fetch_add(forwarders as u64, std::sync::atomic::Ordering::Relaxed);
        self.limbo.retire(garbage, &self.sections, ids)
    }

    /// Frees the retired forwarders whose grace period has passed; answers how many.
    pub(crate) fn collect(&self) -> usize {
        let n = self.limbo.collect(&self.sections);
        if n > 0 {
            // Relaxed: a statistic.
            self.freed
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        n
    }

    /// Forwarders taken down and freed since sealing.
    pub(crate) fn reclamation(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        // Relaxed: statistics; `freed` is read first so that it never exceeds `taken_down`.
        let freed = self.freed.load(Relaxed);
        (self.taken_down.load(Relaxed).max(freed), freed)
    }

    /// Every object start, in arena order.
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))]
    pub(crate) fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits >> b & 1 != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for at in 0..self.words.len() {
            if !self.is_start(at) {
                continue;
            }
            // Acquire: as in `header`; we are the last owner, so nothing races.
            let word = self.words[at].load(Ordering::Acquire);
            if word & FORWARDED != 0 {
                // SAFETY: `&mut self`: no image and no other thread can reach this forwarder
                // any more; each start's header word holds its own forwarder, freed once here.
                unsafe { Unlinked::Forwarder(word).free() };
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every start answers its own sealed header, across bitmap words and at their edges, and
    /// every other word answers none, also past the end.
    #[test]
    fn sealed_headers_are_found_by_rank_at_every_start() {
        let starts: Vec<usize> = [0, 2, 61, 63, 64, 66, 127, 128, 191, 250, 255]
            .into_iter()
            .chain((256..1000).step_by(3))
            .collect();
        let mut words = vec![0u64; 1002];
        for (n, &at) in starts.iter().enumerate() {
            words[at] = (n as u64 + 1) << 8;
        }
        let arena = Arena::new(words, starts.iter().copied(), 4);
        for at in 0..1100 {
            let expected = starts
                .iter()
                .position(|&s| s == at)
                .map(|n| Header((n as u64 + 1) << 8));
            assert_eq!(arena.sealed_header(at), expected, "word {at}");
        }
    }
}
