//! Conditional forwarders: the published truth of which images have diverged from a base object,
//! and the protocol that installs them and takes them down.
//!
//! A forwarder is installed by CAS on a base object's forwarding word (kept beside the object
//! by the arena; the object's own words never change). It keeps a count of live entries and the
//! entries themselves. Each image also keeps
//! its own answer in its private resolutions (`image/resolutions.rs`), so the read path never
//! walks a forwarder's entries: they are for teardown, censuses and the models.
//!
//! # Entries: a bag of single words
//!
//! An entry is one `AtomicU64`, `key << 42`, `key = image id + 1`, or 0 when free. It says
//! *which* image diverged, not where that image's target is: the target lives in the image's
//! own resolutions, private to its thread, which every read consults, so the image's collector
//! may move its targets without touching shared memory, and nothing ever reads a target from
//! a forwarder (a census learns which images hold entries, never what they point at). Two
//! live inline (most objects are written by one or two images), then in a chain of levels
//! (`levels.rs`) that grows 8, 32, then 128 entries at a time and gives a level back once its
//! last entry leaves, so capacity follows the live entries. No hashing, so no id pattern can
//! force a level. Entries never move, so none is ever in two places and no update is lost.
//!
//! # Taking a forwarder down
//!
//! `state` counts live entries, and its top bit says *retired*. An image joins a forwarder by
//! incrementing the count (never from retired); teardown decrements it. The image whose
//! decrement leaves 0 CASes 0 -> retired, restores the forwarding word to what it held before
//! (0) by CAS, and hands the forwarder to [`reclaim`](super::reclaim), which frees it once no
//! thread can still hold it. An image that meets a retired forwarder while installing helps: it
//! restores the word itself (so a stalled reclaimer delays no one) and retries on it. So an
//! insert lands in a live forwarder, or retries; never in a retired one, because a forwarder
//! with a reserved entry cannot retire.
//!
//! Every forwarding-word access that may dereference the forwarder happens inside a
//! [`Section`](super::reclaim::Section): that is what lets the reclaimer see every thread that
//! could hold the pointer (see `reclaim.rs`).

use super::header::FORWARDED;
use super::levels::{take_free, Chain, Level, EMPTY};
use super::reclaim::Section;
use super::slab::{Slab, Slabs};
use super::sync::{backoff, AtomicU64, Ordering};

/// Entries held inline in the forwarder.
#[cfg(not(loom))]
pub(crate) const INLINE: usize = 2;
#[cfg(loom)]
pub(crate) const INLINE: usize = 1;
const KEY_SHIFT: u32 = 42;
/// The top bit of `state`: the forwarder is retired and takes no new entries.
const RETIRED: u64 = 1 << 63;
/// The largest number of image ids an entry can name.
pub(crate) const MAX_KEYS: usize = (1 << (64 - KEY_SHIFT)) - 2;

#[inline]
fn key_of(id: u32) -> u64 {
    id as u64 + 1
}

#[inline]
fn entry(id: u32) -> u64 {
    key_of(id) << KEY_SHIFT
}

/// Memory unlinked from a base object: a taken-down forwarder or a closed level. It is freed
/// once no section can still reach it (see `reclaim.rs`).
pub(crate) enum Unlinked {
    /// A retired forwarder's tagged word.
    Forwarder(u64),
    /// A closed level, unlinked from a live forwarder's chain.
    Level(*mut Level),
}

impl Unlinked {
    pub(crate) fn is_forwarder(&self) -> bool {
        matches!(self, Unlinked::Forwarder(_))
    }

    /// # Safety
    /// No thread can reach it any more: it is past its grace period, or the caller has
    /// exclusive access to the arena.
    pub(super) unsafe fn free(self) {
        match self {
            // SAFETY: per the contract; a retired forwarder's word came from `word_of`.
            Unlinked::Forwarder(word) => unsafe { Forwarder::free(word) },
            // SAFETY: per the contract; levels come from `Box::into_raw` in `claim`.
            Unlinked::Level(level) => unsafe { Level::free(level) },
        }
    }
}

/// A conditional forwarder. See the module docs.
pub(crate) struct Forwarder {
    state: AtomicU64,
    inline: [AtomicU64; INLINE],
    chain: Chain,
    /// The slab it was carved from, which its free gives its slot back to (under loom
    /// forwarders are marked, never freed).
    #[cfg_attr(loom, allow(dead_code))]
    slab: *mut Slab,
    /// Under loom a forwarder is marked rather than freed, so that a model reaching one after
    /// its reclamation fails an assertion instead of reading freed memory.
    #[cfg(loom)]
    freed: loom::sync::atomic::AtomicBool,
}

impl Forwarder {
    fn new(id: u32, slab: *mut Slab) -> Forwarder {
        Forwarder {
            state: AtomicU64::new(1),
            inline: std::array::from_fn(|i| AtomicU64::new(if i == 0 { entry(id) } else { EMPTY })),
            chain: Chain::new(),
            slab,
            #[cfg(loom)]
            freed: loom::sync::atomic::AtomicBool::new(false),
        }
    }

    #[cfg(all(test, not(loom)))]
    pub(super) fn for_tests(slab: *mut Slab) -> Forwarder {
        Forwarder::new(0, slab)
    }

    #[inline(always)]
    fn check_alive(&self) {
        // Relaxed: as in `levels::Level::entries`.
        #[cfg(loom)]
        assert!(
            !self.freed.load(Ordering::Relaxed),
            "a forwarder was used after its reclamation"
        );
    }

    /// The forwarding word that points to a new forwarder.
    fn word_of(p: *mut Forwarder) -> u64 {
        debug_assert_eq!(p.addr() as u64 & FORWARDED, 0);
        p.expose_provenance() as u64 | FORWARDED
    }

    /// Reconstitutes the forwarder a forwarding word points to.
    ///
    /// # Safety
    /// `word` has the forwarded bit set and was read from an object's forwarding word, inside
    /// a section (or with exclusive access to the arena) that outlives
    /// `'a`: reclamation frees no forwarder such a reader may hold.
    #[inline]
    pub(super) unsafe fn from_word<'a>(word: u64) -> &'a Forwarder {
        let p = std::ptr::with_exposed_provenance::<Forwarder>((word & !FORWARDED) as usize);
        // SAFETY: per the contract, the word came from `word_of`, was published with
        // Release, and is not freed before the caller's section ends.
        let f = unsafe { &*p };
        f.check_alive();
        f
    }

    /// Frees the forwarder a forwarding word points to, and the levels still linked to it.
    ///
    /// # Safety
    /// The word came from `word_of`, and no thread can reach the forwarder any more: it is
    /// retired, unlinked and past its grace period, or the caller has exclusive access to the
    /// arena.
    unsafe fn free(word: u64) {
        let p = std::ptr::with_exposed_provenance_mut::<Forwarder>((word & !FORWARDED) as usize);
        #[cfg(loom)]
        {
            // Relaxed: as in `levels::Level::entries`.
            // SAFETY: as above; under loom the memory is kept so that a late reader trips
            // `check_alive` instead of reading freed memory.
            unsafe { &*p }.freed.store(true, Ordering::Relaxed);
        }
        #[cfg(not(loom))]
        // SAFETY: as above.
        unsafe {
            Forwarder::free_in_slab(p)
        };
    }

    /// Drops a forwarder and gives its slot back to its slab.
    ///
    /// # Safety
    /// `p` came from `Slabs::alloc`, is freed once, and no thread can reach it any more.
    #[cfg_attr(loom, allow(dead_code))]
    pub(super) unsafe fn free_in_slab(p: *mut Forwarder) {
        // SAFETY: per the contract.
        let slab = unsafe { (*p).slab };
        // SAFETY: per the contract; dropping frees the levels still linked.
        unsafe { std::ptr::drop_in_place(p) };
        // SAFETY: the slot was this forwarder's, and is not used again.
        unsafe { Slab::release(slab, 1) };
    }

    /// Every entry, inline first, in chain order.
    fn entries(&self) -> impl Iterator<Item = &AtomicU64> {
        self.inline.iter().chain(self.chain.entries())
    }

    /// Claims a free entry for `word`, inline or in the chain. The caller has reserved it in
    /// `state`. Closed levels met on the way are unlinked into `garbage`.
    fn claim(&self, word: u64, garbage: &mut Vec<Unlinked>) {
        if !self.inline.iter().any(|slot| take_free(slot, word)) {
            self.chain.claim(word, garbage);
        }
    }

    /// Clears image `id`'s entry; if that empties its level, the level is unlinked into
    /// `garbage`.
    fn leave(&self, id: u32, garbage: &mut Vec<Unlinked>) {
        let key = key_of(id);
        // Relaxed: an image's own entry was written by itself (or by a CAS it won), so it
        // reads its own key; no other thread's data is involved.
        let mine = |slot: &&AtomicU64| slot.load(Ordering::Relaxed) >> KEY_SHIFT == key;
        match self.inline.iter().find(mine) {
            // Relaxed: the count's AcqRel decrement that follows orders it for the reclaimer.
            Some(slot) => slot.store(EMPTY, Ordering::Relaxed),
            None => {
                self.chain.leave(mine, garbage);
            }
        }
    }

    /// True if image `id` has an entry: the published truth, for the bench API.
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
    pub(crate) fn holds(&self, id: u32) -> bool {
        let key = key_of(id);
        self.entries().any(|slot| {
            // Relaxed: as in `leave`.
            slot.load(Ordering::Relaxed) >> KEY_SHIFT == key
        })
    }

    /// The ids of the images with an entry, for a census of one object: which image holds an
    /// entry is all an entry says, and all a host may learn from outside the image.
    pub(crate) fn holders(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries().filter_map(|slot| {
            // Relaxed: a statistic, as in `census`; exact when no image is installing or ending.
            let word = slot.load(Ordering::Relaxed);
            (word != EMPTY).then(|| ((word >> KEY_SHIFT) - 1) as u32)
        })
    }

    /// Bytes of the forwarder and its levels, for the bench API.
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<Forwarder>() + self.chain.footprint()
    }

    /// Occupied entries and allocated capacity, for statistics.
    pub(crate) fn census(&self) -> (usize, usize) {
        // Relaxed: a statistic; exact when no image is installing or ending.
        let used = self
            .entries()
            .filter(|s| s.load(Ordering::Relaxed) != EMPTY)
            .count();
        let capacity = INLINE + self.chain.capacity();
        (used, capacity)
    }
}

/// What `install` did.
pub(crate) enum Installed {
    /// This image's CAS published a new forwarder.
    Forwarder,
    /// Another image's forwarder was already there; this image added its entry to it.
    Entry,
}

/// Loads a forwarding word for a reader that may dereference it, inside a section: the section
/// (not this load) is what keeps a forwarder it finds from being freed (see `reclaim.rs`).
#[inline]
pub(super) fn observe(link: &AtomicU64, _section: &Section) -> u64 {
    #[cfg(cowheap_mutant = "relaxed_observe")]
    let observe = Ordering::Relaxed;
    // Acquire: pairs with the Release CAS that published a forwarder, so its fields and
    // entries are visible, and with the restoring CAS.
    #[cfg(not(cowheap_mutant = "relaxed_observe"))]
    let observe = Ordering::Acquire;
    link.load(observe)
}

/// The first-store fast path: installs a new forwarder holding image `id`'s entry if the
/// object has none, without a section (nothing is dereferenced: an empty word is replaced by
/// CAS). `None` if the object is forwarded, or the CAS lost: then [`install`] must run, in a
/// section. A new forwarder comes from the image's `slabs`.
pub(super) fn install_fresh(link: &AtomicU64, id: u32, slabs: &mut Slabs) -> Option<Installed> {
    // Relaxed: only the bits are tested; the CAS in `publish` decides, and a forwarded word
    // sends the caller to `install`, which loads again inside a section.
    let word = link.load(Ordering::Relaxed);
    if word & FORWARDED != 0 {
        return None;
    }
    publish(link, word, id, slabs)
}

/// Replaces the unforwarded `word` by a new forwarder holding image `id`'s entry. `None` if the
/// CAS lost (the word changed meanwhile).
fn publish(link: &AtomicU64, word: u64, id: u32, slabs: &mut Slabs) -> Option<Installed> {
    let p = slabs.alloc(|slab| Forwarder::new(id, slab));
    let tagged = Forwarder::word_of(p);
    #[cfg(cowheap_mutant = "relaxed_publish")]
    let publish = Ordering::Relaxed;
    // Release: the forwarder is initialised before any reader can follow the word.
    #[cfg(not(cowheap_mutant = "relaxed_publish"))]
    let publish = Ordering::Release;
    // Relaxed on failure: the value is discarded; the caller observes the word again.
    match link.compare_exchange(word, tagged, publish, Ordering::Relaxed) {
        Ok(_) => Some(Installed::Forwarder),
        #[cfg(cowheap_mutant = "blind_overwrite")]
        Err(_) => {
            link.store(tagged, Ordering::Release);
            Some(Installed::Forwarder)
        }
        #[cfg(not(cowheap_mutant = "blind_overwrite"))]
        Err(_) => {
            // SAFETY: `p` is the slab's last answer and lost the race, so no other thread
            // ever saw it.
            unsafe { slabs.unalloc(p) };
            None
        }
    }
}

/// Gives image `id` an entry in the forwarder of the base object whose forwarding
/// word is `link`, installing the forwarder first if the object has none (or only a retired one).
/// The image must not already have an entry there. Closed levels it unlinks on the way go to
/// `garbage`.
pub(super) fn install(
    link: &AtomicU64,
    id: u32,
    section: &Section,
    garbage: &mut Vec<Unlinked>,
    slabs: &mut Slabs,
) -> Installed {
    'retry: loop {
        let word = observe(link, section);
        if word & FORWARDED == 0 {
            match publish(link, word, id, slabs) {
                Some(installed) => return installed,
                None => continue 'retry,
            }
        }
        // SAFETY: `word` has the forwarded bit, was observed inside `section` from an object's
        // forwarding word (the caller's contract), and `section` outlives this call.
        let forwarder = unsafe { Forwarder::from_word(word) };
        // Acquire: pairs with the AcqRel updates of other joiners and leavers.
        let mut state = forwarder.state.load(Ordering::Acquire);
        loop {
            if state & RETIRED != 0 {
                // Help the reclaimer: restore the word, then start again on it.
                // Failure means the reclaimer (or another helper) already did.
                // Release: as in `remove`.
                let _ = link.compare_exchange(word, EMPTY, Ordering::Release, Ordering::Relaxed);
                backoff();
                continue 'retry;
            }
            // AcqRel: a reservation is ordered with the take-down's CAS on the same word, so a
            // forwarder with a reservation cannot retire. Acquire on failure, as the load
            // above: the value read decides whether the forwarder retired.
            match forwarder.state.compare_exchange(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => {
                    state = now;
                    backoff();
                }
            }
        }
        forwarder.claim(entry(id), garbage);
        return Installed::Entry;
    }
}

/// Removes image `id`'s entry from the forwarder on `link`, and takes the forwarder down if
/// that was its last entry. What that unlinks (an emptied level, the retired forwarder) goes
/// to `garbage`, for reclamation.
pub(super) fn remove(link: &AtomicU64, id: u32, section: &Section, garbage: &mut Vec<Unlinked>) {
    let word = observe(link, section);
    // The image's own entry keeps the forwarder live and installed.
    debug_assert_ne!(word & FORWARDED, 0);
    if word & FORWARDED == 0 {
        return;
    }
    // SAFETY: as in `install`.
    let forwarder = unsafe { Forwarder::from_word(word) };
    forwarder.leave(id, garbage);
    // AcqRel: the entry's clearing happens-before the take-down, and a last leaver acquires
    // every earlier leaver's clearing.
    let before = forwarder.state.fetch_sub(1, Ordering::AcqRel);
    debug_assert!(before & !RETIRED >= 1 && before & RETIRED == 0);
    if before != 1 {
        return;
    }
    #[cfg(cowheap_mutant = "retire_without_flag")]
    let retired = true;
    // AcqRel: ordered with every joiner's reservation CAS on this word; a failure means an
    // image joined after our decrement, and the forwarder lives on.
    #[cfg(not(cowheap_mutant = "retire_without_flag"))]
    let retired = forwarder
        .state
        .compare_exchange(0, RETIRED, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok();
    if !retired {
        return;
    }
    // Release: publishes the restored link. Failure means a helper restored it already.
    let _ = link.compare_exchange(word, EMPTY, Ordering::Release, Ordering::Relaxed);
    garbage.push(Unlinked::Forwarder(word));
}
