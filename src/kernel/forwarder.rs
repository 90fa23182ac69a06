//! Conditional forwarders: the published truth of which images have diverged from a base object
//! and where each one's target is, and the protocol that installs them and takes them down.
//!
//! A forwarder is installed by CAS on a base object's header word. It keeps the object's
//! original header, a count of live entries, and the entries themselves. Each image also keeps
//! its own answer in its private resolutions (`image/resolutions.rs`), so the read path never
//! walks a forwarder's entries: they are for teardown, censuses and the models.
//!
//! # Entries: a bag of single words
//!
//! An entry is one `AtomicU64`, `key << 42 | target`, `key = image id + 1`, or 0 when free. Two
//! live inline (most objects are written by one or two images), then in a chain of levels of 8,
//! 32, 128, ... (4x). An insert claims the first free entry by CAS, in chain order, and CASes a
//! new level, pre-filled with its entry, onto the chain when every entry is taken. Lock-free:
//! a lost CAS means another image claimed that entry. No hashing, so no id pattern can force
//! a level: a level is added only when all before it are full, so capacity is at most about 4x the
//! peak of live entries, and all of it goes when the forwarder is taken down. Levels never move,
//! so no entry is ever in two places and no update is lost to a copy.
//!
//! # Taking a forwarder down
//!
//! `state` counts live entries, and its top bit says *retired*. An image joins a forwarder by
//! incrementing the count (never from retired); teardown decrements it. The image whose
//! decrement leaves 0 CASes 0 -> retired, restores the header word to the original header by
//! CAS, and hands the forwarder to [`reclaim`](super::reclaim), which frees it once no thread can
//! still hold it. An image that meets a retired forwarder while installing helps: it restores the
//! header itself (so a stalled reclaimer delays no one) and retries on the plain header. So an
//! insert lands in a live forwarder, or retries; never in a retired one, because a forwarder
//! with a reserved entry cannot retire.
//!
//! Every header-word access that may dereference the forwarder happens inside a
//! [`Section`](super::reclaim::Section): that is what lets the reclaimer see every thread that
//! could hold the pointer (see `reclaim.rs`).

use super::header::FORWARDED;
use super::reclaim::Section;
use super::sync::{backoff, AtomicPtr, AtomicU64, GetMutPtr, Ordering, PublishedCell};
use crate::object::Loc;

/// Entries held inline in the forwarder.
#[cfg(not(loom))]
const INLINE: usize = 2;
#[cfg(loom)]
const INLINE: usize = 1;
/// Entries in the first out-of-line level; each further level is 4x larger.
#[cfg(not(loom))]
const FIRST_LEVEL: usize = 8;
#[cfg(loom)]
const FIRST_LEVEL: usize = 2;

const EMPTY: u64 = 0;
const KEY_SHIFT: u32 = 42;
#[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
const TARGET_MASK: u64 = (1 << KEY_SHIFT) - 1;
/// The top bit of `state`: the forwarder is retired and takes no new entries.
const RETIRED: u64 = 1 << 63;

/// The largest number of image ids an entry can name.
pub(crate) const MAX_KEYS: usize = (1 << (64 - KEY_SHIFT)) - 2;

#[inline]
fn key_of(id: u32) -> u64 {
    id as u64 + 1
}

#[inline]
fn entry(id: u32, target: Loc) -> u64 {
    (key_of(id) << KEY_SHIFT) | target.encode()
}

struct Level {
    /// The level's size, as its creator wrote it: a published cell, so that a thread reaching
    /// the level without a happens-before edge from its creation fails the models.
    len: PublishedCell<usize>,
    entries: Box<[AtomicU64]>,
    next: AtomicPtr<Level>,
}

impl Level {
    fn new(len: usize, first: u64) -> Box<Level> {
        let entries = (0..len)
            .map(|i| AtomicU64::new(if i == 0 { first } else { EMPTY }))
            .collect();
        Box::new(Level {
            len: PublishedCell::new(len),
            entries,
            next: AtomicPtr::new(std::ptr::null_mut()),
        })
    }

    fn entries(&self) -> &[AtomicU64] {
        &self.entries[..self.len.get()]
    }
}

/// A conditional forwarder. See the module docs.
pub(crate) struct Forwarder {
    original: PublishedCell<u64>,
    state: AtomicU64,
    inline: [AtomicU64; INLINE],
    next: AtomicPtr<Level>,
    /// Under loom a forwarder is marked rather than freed, so that a model reaching one after
    /// its reclamation fails an assertion instead of reading freed memory.
    #[cfg(loom)]
    freed: loom::sync::atomic::AtomicBool,
}

impl Forwarder {
    fn new(original: u64, id: u32, target: Loc) -> Box<Forwarder> {
        Box::new(Forwarder {
            original: PublishedCell::new(original),
            state: AtomicU64::new(1),
            inline: std::array::from_fn(|i| {
                AtomicU64::new(if i == 0 { entry(id, target) } else { EMPTY })
            }),
            next: AtomicPtr::new(std::ptr::null_mut()),
            #[cfg(loom)]
            freed: loom::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The original header word of the forwarded base object.
    #[inline]
    pub(crate) fn original(&self) -> u64 {
        self.check_alive();
        self.original.get()
    }

    #[inline(always)]
    fn check_alive(&self) {
        #[cfg(loom)]
        assert!(
            !self.freed.load(Ordering::Relaxed),
            "a forwarder was used after its reclamation"
        );
    }

    /// The header word that points to a new forwarder.
    fn into_word(self: Box<Forwarder>) -> u64 {
        let p = Box::into_raw(self);
        debug_assert_eq!(p.addr() as u64 & FORWARDED, 0);
        p.expose_provenance() as u64 | FORWARDED
    }

    /// Reconstitutes the forwarder a header word points to.
    ///
    /// # Safety
    /// `word` is a header word with the forwarded bit set, read from the header word of an
    /// object start, inside a section (or with exclusive access to the arena) that outlives
    /// `'a`: reclamation frees no forwarder such a reader may hold.
    #[inline]
    pub(super) unsafe fn from_word<'a>(word: u64) -> &'a Forwarder {
        let p = std::ptr::with_exposed_provenance::<Forwarder>((word & !FORWARDED) as usize);
        // SAFETY: per the contract, the word came from `into_word`, was published with
        // Release, and is not freed before the caller's section ends.
        let f = unsafe { &*p };
        f.check_alive();
        f
    }

    /// Frees the forwarder a header word points to, and its levels.
    ///
    /// # Safety
    /// The word came from `into_word`, and no thread can reach the forwarder any more: it was
    /// never published, or it is retired, unlinked and past its grace period, or the caller has
    /// exclusive access to the arena.
    pub(super) unsafe fn free(word: u64) {
        let p = std::ptr::with_exposed_provenance_mut::<Forwarder>((word & !FORWARDED) as usize);
        #[cfg(loom)]
        {
            // SAFETY: as above; under loom the memory is kept so that a late reader trips
            // `check_alive` instead of reading freed memory.
            unsafe { &*p }.freed.store(true, Ordering::Relaxed);
        }
        #[cfg(not(loom))]
        // SAFETY: as above: the pointer came from `Box::into_raw` and nothing else holds it.
        drop(unsafe { Box::from_raw(p) });
    }

    /// Every level, in chain order.
    fn levels(&self) -> impl Iterator<Item = &Level> {
        #[cfg(cowheap_mutant = "relaxed_level_link")]
        let link = Ordering::Relaxed;
        // Acquire: pairs with the Release CAS that published each level in `claim`, so its
        // entries' initial values are visible.
        #[cfg(not(cowheap_mutant = "relaxed_level_link"))]
        let link = Ordering::Acquire;
        let mut level = self.next.load(link);
        std::iter::from_fn(move || {
            // SAFETY: levels are published with Release after full initialisation and freed
            // only with the forwarder, which outlives `&self`.
            let l = unsafe { level.as_ref() }?;
            level = l.next.load(link);
            Some(l)
        })
    }

    /// Every entry, inline first, in chain order.
    fn entries(&self) -> impl Iterator<Item = &AtomicU64> {
        self.inline
            .iter()
            .chain(self.levels().flat_map(|l| l.entries().iter()))
    }

    /// Claims a free entry for `word`, growing the chain if every entry is taken. The caller
    /// has reserved it in `state`.
    fn claim(&self, word: u64) {
        #[cfg(cowheap_mutant = "relaxed_level_publish")]
        let publish = Ordering::Relaxed;
        // Release: a level's entries are initialised before any thread can reach it.
        #[cfg(not(cowheap_mutant = "relaxed_level_publish"))]
        let publish = Ordering::Release;
        let mut link = &self.next;
        let mut len = FIRST_LEVEL;
        let mut window: &[AtomicU64] = &self.inline;
        loop {
            for slot in window {
                // Relaxed: the entries carry no data for other threads (each image keeps its
                // own answer); the CAS only decides which claimant gets a free entry.
                if slot.load(Ordering::Relaxed) != EMPTY {
                    continue;
                }
                #[cfg(cowheap_mutant = "insert_without_cas")]
                {
                    backoff();
                    slot.store(word, Ordering::Relaxed);
                    return;
                }
                #[cfg(not(cowheap_mutant = "insert_without_cas"))]
                if slot
                    .compare_exchange(EMPTY, word, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
            // Acquire: pairs with the Release CAS below, as in `levels`.
            let mut level = link.load(Ordering::Acquire);
            if level.is_null() {
                let fresh = Box::into_raw(Level::new(len, word));
                // Acquire on failure: we go on to read the winner's level.
                match link.compare_exchange(std::ptr::null_mut(), fresh, publish, Ordering::Acquire)
                {
                    Ok(_) => return,
                    Err(winner) => {
                        // SAFETY: `fresh` came from Box::into_raw above and was never published.
                        drop(unsafe { Box::from_raw(fresh) });
                        level = winner;
                    }
                }
            }
            // SAFETY: non-null levels are fully initialised before their Release publication
            // and live as long as the forwarder.
            let l = unsafe { &*level };
            window = l.entries();
            link = &l.next;
            len = len.saturating_mul(4);
        }
    }

    /// Clears image `id`'s entry.
    fn clear(&self, id: u32) {
        let key = key_of(id);
        // Relaxed: an image's own entry was written by itself (or by a CAS it won), so it
        // reads its own key; no other thread's data is involved.
        if let Some(slot) = self
            .entries()
            .find(|slot| slot.load(Ordering::Relaxed) >> KEY_SHIFT == key)
        {
            // Relaxed: the count's AcqRel decrement that follows orders it for the reclaimer.
            slot.store(EMPTY, Ordering::Relaxed);
        }
    }

    /// Image `id`'s target, if it has an entry: the published truth, for the bench API.
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
    pub(crate) fn lookup(&self, id: u32) -> Option<Loc> {
        let key = key_of(id);
        self.entries().find_map(|slot| {
            // Relaxed: as in `clear`.
            let word = slot.load(Ordering::Relaxed);
            (word >> KEY_SHIFT == key).then(|| Loc::decode(word & TARGET_MASK))
        })
    }

    /// The ids of the images with an entry, for a census of one object. Only ids are read,
    /// never targets: which image holds an entry is all a host may learn from outside it.
    pub(crate) fn holders(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries().filter_map(|slot| {
            // Relaxed: a statistic, as in `census`; exact when no image is installing or ending.
            let word = slot.load(Ordering::Relaxed);
            (word != EMPTY).then(|| ((word >> KEY_SHIFT) - 1) as u32)
        })
    }

    /// Occupied entries and allocated capacity, for statistics.
    pub(crate) fn census(&self) -> (usize, usize) {
        // Relaxed: a statistic; exact when no image is installing or ending.
        let used = self
            .entries()
            .filter(|s| s.load(Ordering::Relaxed) != EMPTY)
            .count();
        let capacity = INLINE + self.levels().map(|l| l.entries().len()).sum::<usize>();
        (used, capacity)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let mut level = *self.next.get_mut_ptr();
        while !level.is_null() {
            // SAFETY: we have exclusive access; every level was created by Box::into_raw and
            // is reachable from exactly one link.
            let mut boxed = unsafe { Box::from_raw(level) };
            level = *boxed.next.get_mut_ptr();
        }
    }
}

/// What `install` did.
pub(crate) enum Installed {
    /// This image's CAS published a new forwarder.
    Forwarder,
    /// Another image's forwarder was already there; this image added its entry to it.
    Entry,
}

/// Loads a header word for a reader that may dereference it, inside a section: the section
/// (not this load) is what keeps a forwarder it finds from being freed (see `reclaim.rs`).
#[inline]
pub(super) fn observe(header: &AtomicU64, _section: &Section) -> u64 {
    #[cfg(cowheap_mutant = "relaxed_observe")]
    let observe = Ordering::Relaxed;
    // Acquire: pairs with the Release CAS that published a forwarder, so its original header
    // and entries are visible, and with the restoring CAS, so a restored header is too.
    #[cfg(not(cowheap_mutant = "relaxed_observe"))]
    let observe = Ordering::Acquire;
    header.load(observe)
}

/// The first-store fast path: installs a new forwarder holding image `id`'s entry if the
/// object has none, without a section (nothing is dereferenced: a plain header is replaced by
/// CAS). `None` if the object is forwarded, or the CAS lost: then [`install`] must run, in a
/// section.
pub(super) fn install_fresh(header: &AtomicU64, id: u32, target: Loc) -> Option<Installed> {
    // Relaxed: only the bits are tested; the CAS in `publish` decides, and a forwarded word
    // sends the caller to `install`, which loads again inside a section.
    let word = header.load(Ordering::Relaxed);
    if word & FORWARDED != 0 {
        return None;
    }
    publish(header, word, id, target)
}

/// Replaces the plain header `word` by a new forwarder holding image `id`'s entry. `None` if
/// the CAS lost (the header changed meanwhile).
fn publish(header: &AtomicU64, word: u64, id: u32, target: Loc) -> Option<Installed> {
    let tagged = Forwarder::new(word, id, target).into_word();
    #[cfg(cowheap_mutant = "relaxed_publish")]
    let publish = Ordering::Relaxed;
    // Release: the forwarder is initialised before any reader can follow the word.
    #[cfg(not(cowheap_mutant = "relaxed_publish"))]
    let publish = Ordering::Release;
    // Relaxed on failure: the value is discarded; the caller observes the word again.
    match header.compare_exchange(word, tagged, publish, Ordering::Relaxed) {
        Ok(_) => Some(Installed::Forwarder),
        #[cfg(cowheap_mutant = "blind_overwrite")]
        Err(_) => {
            header.store(tagged, Ordering::Release);
            Some(Installed::Forwarder)
        }
        #[cfg(not(cowheap_mutant = "blind_overwrite"))]
        Err(_) => {
            // SAFETY: `tagged` came from `into_word` above and lost the race, so no other
            // thread ever saw it.
            unsafe { Forwarder::free(tagged) };
            None
        }
    }
}

/// Gives image `id` the entry `target` in the forwarder of the base object whose header word
/// is `header`, installing the forwarder first if the object has none (or only a retired one).
/// The image must not already have an entry there.
pub(super) fn install(header: &AtomicU64, id: u32, target: Loc, section: &Section) -> Installed {
    'retry: loop {
        let word = observe(header, section);
        if word & FORWARDED == 0 {
            match publish(header, word, id, target) {
                Some(installed) => return installed,
                None => continue 'retry,
            }
        }
        // SAFETY: `word` has the forwarded bit, was observed inside `section` from an object
        // start's header word (the caller's contract), and `section` outlives this call.
        let forwarder = unsafe { Forwarder::from_word(word) };
        // Acquire: pairs with the AcqRel updates of other joiners and leavers.
        let mut state = forwarder.state.load(Ordering::Acquire);
        loop {
            if state & RETIRED != 0 {
                // Help the reclaimer: restore the original header, then start again on it.
                // Failure means the reclaimer (or another helper) already did.
                // Release: as in `remove`.
                let _ = header.compare_exchange(
                    word,
                    forwarder.original(),
                    Ordering::Release,
                    Ordering::Relaxed,
                );
                backoff();
                continue 'retry;
            }
            // AcqRel: a reservation is ordered with the take-down's CAS on the same word, so a
            // forwarder with a reservation cannot retire.
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
        forwarder.claim(entry(id, target));
        return Installed::Entry;
    }
}

/// Removes image `id`'s entry from the forwarder on `header`, and takes the forwarder down if
/// that was its last entry: answers the retired forwarder's word, for reclamation.
pub(super) fn remove(header: &AtomicU64, id: u32, section: &Section) -> Option<u64> {
    let word = observe(header, section);
    // The image's own entry keeps the forwarder live and installed.
    debug_assert_ne!(word & FORWARDED, 0);
    if word & FORWARDED == 0 {
        return None;
    }
    // SAFETY: as in `install`.
    let forwarder = unsafe { Forwarder::from_word(word) };
    forwarder.clear(id);
    // AcqRel: the entry's clearing happens-before the take-down, and a last leaver acquires
    // every earlier leaver's clearing.
    let before = forwarder.state.fetch_sub(1, Ordering::AcqRel);
    debug_assert!(before & !RETIRED >= 1 && before & RETIRED == 0);
    if before != 1 {
        return None;
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
        return None;
    }
    // Release: publishes the restored header. Failure means a helper restored it already.
    let _ = header.compare_exchange(
        word,
        forwarder.original(),
        Ordering::Release,
        Ordering::Relaxed,
    );
    Some(word)
}
