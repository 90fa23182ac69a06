//! The sealed base arena: every base object's words as atomics, and a bitmap of where objects
//! start. The bitmap is the guard that keeps a word that is not a header from ever being
//! decoded as one (see the kernel's module docs).

use super::forwarder::{self, Installed};
use super::header::{HeaderWord, FORWARDED};
use super::sync::{AtomicU64, Ordering};
use crate::object::Loc;

pub(crate) struct Arena {
    words: Box<[AtomicU64]>,
    /// One bit per word: set where an object starts.
    starts: Box<[u64]>,
}

impl Arena {
    /// An arena of `words`, with objects starting at `starts`. Each start must hold a header
    /// (bit 0 clear).
    pub(crate) fn new(words: Vec<u64>, starts: impl IntoIterator<Item = usize>) -> Arena {
        let mut bits = vec![0u64; words.len().div_ceil(64)];
        for at in starts {
            debug_assert_eq!(words[at] & FORWARDED, 0);
            bits[at / 64] |= 1 << (at % 64);
        }
        Arena {
            words: words.into_iter().map(AtomicU64::new).collect(),
            starts: bits.into_boxed_slice(),
        }
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

    /// The header word of the object at `at`, decoded: its header, or its forwarder. `None` if
    /// no object starts at `at`.
    #[inline]
    pub(crate) fn header(&self, at: usize) -> Option<HeaderWord<'_>> {
        if !self.is_start(at) {
            return None;
        }
        #[cfg(cowheap_mutant = "relaxed_resolve_load")]
        let observe = Ordering::Relaxed;
        // Acquire: pairs with the Release CAS in `forwarder::install`, so a forwarder we follow
        // is fully initialised.
        #[cfg(not(cowheap_mutant = "relaxed_resolve_load"))]
        let observe = Ordering::Acquire;
        let word = self.words[at].load(observe);
        // SAFETY: an object starts at `at` (checked above), the word was loaded with Acquire,
        // and forwarders live as long as the arena, which `&self` keeps alive.
        Some(unsafe { HeaderWord::decode(word) })
    }

    /// Gives image `id` the entry `target` in the forwarder of the object at `at`, installing
    /// the forwarder first if the object has none. The image must not have an entry there.
    /// `None` (and nothing done) if no object starts at `at`.
    pub(crate) fn install(&self, at: usize, id: u32, target: Loc) -> Option<Installed> {
        self.is_start(at)
            .then(|| forwarder::install(&self.words[at], id, target))
    }

    /// Clears image `id`'s entry in the forwarder of the object at `at`, if it has one.
    pub(crate) fn clear(&self, at: usize, id: u32) {
        if let Some(HeaderWord::Forwarded(f)) = self.header(at) {
            f.slots.clear(id);
        }
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
                unsafe { forwarder::Forwarder::free(word) };
            }
        }
    }
}
