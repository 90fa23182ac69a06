//! The sealed base arena: every base object's words, a bitmap of where objects start, each
//! object's forwarding word, and the reclamation state of the forwarders installed in it. The
//! bitmap is the guard that keeps a word that is not an object start from ever being taken for
//! one (see the kernel's module docs).
//!
//! An object's words never change after sealing, its header included: whether images have
//! diverged from it is recorded beside it, in its forwarding word (found by the object's
//! ordinal). So an image that has no entry of its own in an object reads it exactly as if
//! nobody had written it, with no test at all, and only the paths that install, remove or
//! count entries look at forwarding words.

use super::forwarder::{self, Installed, Unlinked};
use super::header::{Forwarding, FORWARDED};
use super::ids::IdAllocator;
use super::reclaim::{Limbo, Section, Sections};
use super::slab::Slabs;
use super::sync::{AtomicU64, Ordering};
use crate::object::Header;

pub(crate) struct Arena {
    /// Atomics only so that a copy can be taken with the shim's loads; they never change.
    words: Box<[AtomicU64]>,
    /// One bit per word: set where an object starts.
    starts: Box<[u64]>,
    /// Per word of `starts`: how many objects start before it, so that an object's ordinal
    /// (its index in `links`) costs one load and a popcount. 64 bits, so no base is too big
    /// for it (1/64 of the arena's size).
    ranks: Box<[u64]>,
    /// Every object's forwarding word, by ordinal: 0, or its conditional forwarder tagged with
    /// [`FORWARDED`] (8 bytes per base object). The only words of a sealed base that change.
    links: Box<[AtomicU64]>,
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
        let mut objects = 0u64;
        for &b in &bits {
            ranks.push(objects);
            objects += b.count_ones() as u64;
        }
        Arena {
            words: words.into_iter().map(AtomicU64::new).collect(),
            starts: bits.into_boxed_slice(),
            ranks: ranks.into_boxed_slice(),
            links: (0..objects).map(|_| AtomicU64::new(0)).collect(),
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

    /// Word `i`. Words never change after sealing, headers included.
    #[inline(always)]
    pub(crate) fn word(&self, i: usize) -> u64 {
        // Relaxed: the word was written before the arena was shared, and never again.
        self.words[i].load(Ordering::Relaxed)
    }

    /// The header of the object at `at`, which never changes. `None` if no object starts at
    /// `at`.
    #[inline(always)]
    pub(crate) fn object_header(&self, at: usize) -> Option<Header> {
        self.is_start(at).then(|| Header(self.word(at)))
    }

    /// The forwarding word of the object at `at`. `None` if no object starts at `at`.
    #[inline]
    fn link(&self, at: usize) -> Option<&AtomicU64> {
        let bits = *self.starts.get(at / 64)?;
        if bits >> (at % 64) & 1 == 0 {
            return None;
        }
        let below = bits & ((1u64 << (at % 64)) - 1);
        Some(&self.links[self.ranks[at / 64] as usize + below.count_ones() as usize])
    }

    /// `len` words from word `from`.
    #[inline]
    pub(crate) fn words(&self, from: usize, len: usize) -> &[AtomicU64] {
        &self.words[from..from + len]
    }

    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// The forwarding word of the object at `at`, decoded: none, or its forwarder, which
    /// stays allocated while `section` lasts. `None` if no object starts at `at`.
    #[inline]
    pub(crate) fn forwarding<'s>(
        &'s self,
        at: usize,
        section: &'s Section,
    ) -> Option<Forwarding<'s>> {
        let word = forwarder::observe(self.link(at)?, section);
        // SAFETY: the word is an object's forwarding word, observed inside `section`, which
        // outlives the answer.
        Some(unsafe { Forwarding::decode(word) })
    }

    /// Gives image `id` an entry in the forwarder of the object at `at`, installing
    /// the forwarder first if the object has none. The image must not have an entry there.
    /// `None` (and nothing done) if no object starts at `at`. What the install unlinks on its
    /// way goes to `garbage`, for [`retire`](Self::retire).
    pub(crate) fn install(
        &self,
        at: usize,
        id: u32,
        section: &Section,
        garbage: &mut Vec<Unlinked>,
        slabs: &mut Slabs,
    ) -> Option<Installed> {
        let link = self.link(at)?;
        Some(forwarder::install(link, id, section, garbage, slabs))
    }

    /// The first-store fast path: installs a new forwarder with image `id`'s entry if the
    /// object at `at` has none, needing no section. `None` if it did nothing: the object is
    /// forwarded (or no object starts at `at`), and [`install`](Self::install) must run.
    pub(crate) fn install_fresh(&self, at: usize, id: u32, slabs: &mut Slabs) -> Option<Installed> {
        forwarder::install_fresh(self.link(at)?, id, slabs)
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
        if let Some(link) = self.link(at) {
            forwarder::remove(link, id, section, garbage)
        }
    }

    /// Hands unlinked forwarders and levels to reclamation. Call outside any section of one's
    /// own.
    pub(crate) fn retire(&self, garbage: Vec<Unlinked>, ids: &IdAllocator) {
        if garbage.is_empty() {
            return; // the common case of a join: no shared counter touched
        }
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
}

impl Drop for Arena {
    fn drop(&mut self) {
        for link in self.links.iter() {
            // Acquire: as in `forwarding`; we are the last owner, so nothing races.
            let word = link.load(Ordering::Acquire);
            if word & FORWARDED != 0 {
                // SAFETY: `&mut self`: no image and no other thread can reach this forwarder
                // any more; each object's forwarding word holds its own forwarder, freed once.
                unsafe { Unlinked::Forwarder(word).free() };
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every start has its own forwarding word, found by rank across bitmap words and at their
    /// edges, and every other word has none, also past the end.
    #[test]
    fn forwarding_words_are_found_by_rank_at_every_start() {
        let starts: Vec<usize> = [0, 2, 61, 63, 64, 66, 127, 128, 191, 250, 255]
            .into_iter()
            .chain((256..1000).step_by(3))
            .collect();
        let arena = Arena::new(vec![0u64; 1002], starts.iter().copied(), 4);
        for at in 0..1100 {
            let expected = starts
                .iter()
                .position(|&s| s == at)
                .map(|n| std::ptr::from_ref(&arena.links[n]));
            assert_eq!(
                arena.link(at).map(std::ptr::from_ref),
                expected,
                "word {at}"
            );
        }
        assert_eq!(arena.links.len(), starts.len());
    }
}
