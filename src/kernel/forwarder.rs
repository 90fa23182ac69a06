//! Conditional forwarders and their per-image slot tables.
//!
//! A forwarder is installed, once, by CAS on a base object's header word, and then lives as
//! long as the base heap. It maps image ids to that image's target: its copy, or whatever it
//! made the object `become`.
//!
//! # The slot table: chained levels that never move
//!
//! Entries are single `AtomicU64` words, `key << 42 | target`, where `key = image id + 1`.
//! They live in a chain of levels: two inline entries (most objects are written by one or two
//! images), then out-of-line levels of 8, 32, 128, ... entries (4x growth), each probed
//! linearly for at most [`PROBE`] (4) entries from a Fibonacci hash of the image id. A window
//! of 4 halves look-ups at 64-1024 entries against a window of 8, for the same memory on dense
//! ids (simulated: 2.67 entries of capacity per entry at 1024 either way; windows of 1-2 risk
//! 10-40x when ids are sparse).
//!
//! * **Insert** (lock-free): CAS the first free entry (empty or tombstone) in any level's probe
//!   window; if there is none, CAS a new level, pre-filled with the entry, onto the chain. A
//!   lost CAS moves on to the next candidate, so some image always makes progress.
//! * **Own-entry read** (wait-free, allocation-free): visit each level's window; stop at the
//!   first empty entry. Entries only go empty -> occupied -> tombstone -> occupied, and an image
//!   inserts its key into the first free entry it meets, so an empty entry proves the key is in
//!   no later position.
//! * **Growth never copies**, so no entry is ever in two places, no update can be lost to a
//!   concurrent copy, and no table is ever retired while another thread may read it. Levels
//!   are freed with the forwarder, when the base heap is dropped, and nothing else can be
//!   reading them then. This is the argued alternative to epoch reclamation: the read path
//!   needs no pin and no fence.
//! * **Teardown** stores a tombstone into the image's entries, then frees its id. The id is
//!   handed out again only through an Acquire on the id bitmap, so a later image with that id
//!   sees the tombstones (no ABA).
//! * **Memory** is O(entries): entries are reused after teardown, and each level is at most
//!   4x the entries that forced it into existence.
//!
//! Each entry has exactly one writer at a time: the image whose key it holds (or, while it is
//! free, the one image whose CAS claims it). Only the owner ever decodes its target, so a
//! target never has to be published to another thread and lookups can load entries Relaxed.

use super::header::FORWARDED;
use super::sync::{AtomicPtr, AtomicU64, GetMutPtr, Ordering, PublishedCell};
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
/// The longest linear probe inside one level.
#[cfg(not(loom))]
pub(crate) const PROBE: usize = 4;
#[cfg(loom)]
pub(crate) const PROBE: usize = 2;

const EMPTY: u64 = 0;
const TOMBSTONE: u64 = 1;
const KEY_SHIFT: u32 = 42;
#[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
const TARGET_MASK: u64 = (1 << KEY_SHIFT) - 1;

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

#[inline]
fn is_free(word: u64) -> bool {
    word >> KEY_SHIFT == 0
}

#[inline]
fn home(id: u32, len: usize) -> usize {
    // Fibonacci hashing spreads dense ids evenly over the level.
    (((id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 32) as usize & (len - 1)
}

struct Level {
    entries: Box<[AtomicU64]>,
    next: AtomicPtr<Level>,
}

impl Level {
    fn new(len: usize, id: u32, first: u64) -> Box<Level> {
        let at = home(id, len);
        let entries = (0..len)
            .map(|i| AtomicU64::new(if i == at { first } else { EMPTY }))
            .collect();
        Box::new(Level {
            entries,
            next: AtomicPtr::new(std::ptr::null_mut()),
        })
    }

    /// The probe window of `id`, in probe order.
    fn window(&self, id: u32) -> impl Iterator<Item = &AtomicU64> {
        let len = self.entries.len();
        let start = home(id, len);
        (0..PROBE.min(len)).map(move |j| &self.entries[(start + j) & (len - 1)])
    }
}

/// The table of per-image indirection slots. See the module docs.
pub(crate) struct SlotTable {
    inline: [AtomicU64; INLINE],
    next: AtomicPtr<Level>,
}

/// The outcome of probing one window.
enum Probe<'a> {
    Found(&'a AtomicU64),
    /// An empty entry: the key is in no later position.
    Absent,
    /// Window exhausted; look at the next level.
    Continue,
}

impl SlotTable {
    fn new(id: u32, target: Loc) -> SlotTable {
        let inline =
            std::array::from_fn(|i| AtomicU64::new(if i == 0 { entry(id, target) } else { EMPTY }));
        SlotTable {
            inline,
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn probe<'a>(window: impl Iterator<Item = &'a AtomicU64>, key: u64) -> Probe<'a> {
        for slot in window {
            // Relaxed: only the owner reads its own target, and it wrote it itself. A reused id
            // gets its happens-before edge from the id allocator's Acquire.
            let word = slot.load(Ordering::Relaxed);
            if word >> KEY_SHIFT == key {
                return Probe::Found(slot);
            }
            if word == EMPTY {
                return Probe::Absent;
            }
        }
        Probe::Continue
    }

    /// The entry of image `id`, if it has one.
    fn find(&self, id: u32) -> Option<&AtomicU64> {
        let key = key_of(id);
        match Self::probe(self.inline.iter(), key) {
            Probe::Found(slot) => return Some(slot),
            Probe::Absent => return None,
            Probe::Continue => {}
        }
        #[cfg(cowheap_mutant = "relaxed_level_link")]
        let link = Ordering::Relaxed;
        // Acquire: pairs with the Release CAS that published the level in `insert`, so its
        // entries' initial values (the inserter's pre-filled entry above all) are visible.
        #[cfg(not(cowheap_mutant = "relaxed_level_link"))]
        let link = Ordering::Acquire;
        let mut level = self.next.load(link);
        // SAFETY: levels are published with Release after full initialisation and are freed
        // only when the forwarder is dropped, which needs exclusive access to it.
        while let Some(l) = unsafe { level.as_ref() } {
            match Self::probe(l.window(id), key) {
                Probe::Found(slot) => return Some(slot),
                Probe::Absent => return None,
                Probe::Continue => level = l.next.load(link),
            }
        }
        None
    }

    /// The target image `id` installed, if any. Wait-free: at most `PROBE` loads per level.
    #[inline]
    #[cfg_attr(any(loom, not(feature = "internal-bench-api")), allow(dead_code))] // bench_api only
    pub(crate) fn lookup(&self, id: u32) -> Option<Loc> {
        // Relaxed: the entry is this image's own; it wrote the target itself.
        self.find(id)
            .map(|slot| Loc::decode(slot.load(Ordering::Relaxed) & TARGET_MASK))
    }

    /// Claims a free entry for an image that has none yet. Lock-free.
    fn insert(&self, id: u32, target: Loc) {
        let word = entry(id, target);
        if Self::claim(self.inline.iter(), word) {
            return;
        }
        let mut link = &self.next;
        let mut len = FIRST_LEVEL;
        #[cfg(cowheap_mutant = "relaxed_level_publish")]
        let publish = Ordering::Relaxed;
        // Release: a level's entries are initialised before any thread can reach it.
        #[cfg(not(cowheap_mutant = "relaxed_level_publish"))]
        let publish = Ordering::Release;
        loop {
            // Acquire: pairs with the Release CAS below, as in `find`.
            let mut level = link.load(Ordering::Acquire);
            if level.is_null() {
                let fresh = Box::into_raw(Level::new(len, id, word));
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
            if Self::claim(l.window(id), word) {
                return;
            }
            link = &l.next;
            len = len.saturating_mul(4);
        }
    }

    fn claim<'a>(window: impl Iterator<Item = &'a AtomicU64>, word: u64) -> bool {
        for slot in window {
            // Relaxed: a hint for the CAS below.
            let current = slot.load(Ordering::Relaxed);
            if !is_free(current) {
                continue;
            }
            #[cfg(cowheap_mutant = "insert_without_cas")]
            {
                super::sync::backoff();
                slot.store(word, Ordering::Relaxed);
                return true;
            }
            #[cfg(not(cowheap_mutant = "insert_without_cas"))]
            // Relaxed: the entry's only reader is the image that writes it; the CAS just makes
            // sure one claimant wins a free entry.
            if slot
                .compare_exchange(current, word, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
        false
    }

    /// Clears image `id`'s entry on teardown. The caller releases the id only afterwards.
    pub(super) fn clear(&self, id: u32) {
        if let Some(slot) = self.find(id) {
            // Relaxed: the id's Release on release publishes it to the id's next holder.
            slot.store(TOMBSTONE, Ordering::Relaxed);
        }
    }

    /// Occupied entries and allocated capacity, for statistics.
    pub(crate) fn census(&self) -> (usize, usize) {
        // Relaxed: a statistic; Acquire on links as in `find`.
        let mut used = self
            .inline
            .iter()
            .filter(|s| !is_free(s.load(Ordering::Relaxed)))
            .count();
        let mut capacity = INLINE;
        let mut level = self.next.load(Ordering::Acquire);
        // SAFETY: as in `find`.
        while let Some(l) = unsafe { level.as_ref() } {
            used += l
                .entries
                .iter()
                .filter(|s| !is_free(s.load(Ordering::Relaxed)))
                .count();
            capacity += l.entries.len();
            level = l.next.load(Ordering::Acquire);
        }
        (used, capacity)
    }
}

impl Drop for SlotTable {
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

/// A conditional forwarder: the original header of the base object, and its slot table.
pub(crate) struct Forwarder {
    original: PublishedCell<u64>,
    pub(crate) slots: SlotTable,
}

impl Forwarder {
    /// The original header word of the forwarded base object.
    #[inline]
    pub(crate) fn original(&self) -> u64 {
        self.original.get()
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
    /// `word` must be a header word with the forwarded bit set, loaded with Acquire from the
    /// header word of an object start of a base heap that outlives `'a`.
    #[inline]
    pub(super) unsafe fn from_word<'a>(word: u64) -> &'a Forwarder {
        let p = std::ptr::with_exposed_provenance::<Forwarder>((word & !FORWARDED) as usize);
        // SAFETY: per the contract, the word came from `into_word`, was published with Release
        // and is never freed while the base heap lives.
        unsafe { &*p }
    }

    /// Frees the forwarder a header word points to.
    ///
    /// # Safety
    /// As for `from_word`, and the caller has exclusive access to the word, which nothing will
    /// use again.
    pub(super) unsafe fn free(word: u64) {
        let p = std::ptr::with_exposed_provenance_mut::<Forwarder>((word & !FORWARDED) as usize);
        // SAFETY: per the contract, the pointer came from `into_word` and no other reference
        // to it exists.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// What `install` did.
pub(crate) enum Installed {
    /// This image's CAS published a new forwarder.
    Forwarder,
    /// Another image's forwarder was already there; this image added its entry to it.
    Entry,
}

/// Gives image `id` the entry `target` in the forwarder of the base object whose header word
/// is `header`, installing the forwarder first if the object has none. The image must not
/// already have an entry there.
pub(super) fn install(header: &AtomicU64, id: u32, target: Loc) -> Installed {
    #[cfg(cowheap_mutant = "relaxed_install_load")]
    let observe = Ordering::Relaxed;
    // Acquire: pairs with the Release CAS that published a forwarder, so joining it sees its
    // original header and its levels.
    #[cfg(not(cowheap_mutant = "relaxed_install_load"))]
    let observe = Ordering::Acquire;
    let mut word = header.load(observe);
    if word & FORWARDED == 0 {
        let tagged = Box::new(Forwarder {
            original: PublishedCell::new(word),
            slots: SlotTable::new(id, target),
        })
        .into_word();
        #[cfg(cowheap_mutant = "relaxed_publish")]
        let publish = Ordering::Relaxed;
        // Release: the forwarder is initialised before any reader can follow the word.
        #[cfg(not(cowheap_mutant = "relaxed_publish"))]
        let publish = Ordering::Release;
        #[cfg(cowheap_mutant = "relaxed_install_failure")]
        let lost = Ordering::Relaxed;
        // Acquire on failure: we go on to join the winner's forwarder, as after the load above.
        #[cfg(not(cowheap_mutant = "relaxed_install_failure"))]
        let lost = Ordering::Acquire;
        match header.compare_exchange(word, tagged, publish, lost) {
            Ok(_) => return Installed::Forwarder,
            Err(actual) => {
                #[cfg(cowheap_mutant = "blind_overwrite")]
                {
                    let _ = actual;
                    header.store(tagged, Ordering::Release);
                    return Installed::Forwarder;
                }
                #[cfg(not(cowheap_mutant = "blind_overwrite"))]
                {
                    // SAFETY: `tagged` came from `into_word` above and lost the race, so no
                    // other thread ever saw it.
                    unsafe { Forwarder::free(tagged) };
                    // A header word changes at most once, from header to forwarder.
                    debug_assert_ne!(actual & FORWARDED, 0);
                    word = actual;
                }
            }
        }
    }
    // SAFETY: `word` has the forwarded bit, was loaded with Acquire from an object start's
    // header word (the caller's contract), and the caller keeps the base heap alive.
    let forwarder = unsafe { Forwarder::from_word(word) };
    forwarder.slots.insert(id, target);
    Installed::Entry
}
