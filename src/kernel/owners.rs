//! Owner ids: the space a reference names in its owner field (see `value.rs`). Each live base
//! heap and each live image has its own, so a reference can never pass the ownership check of
//! a space it was not minted in while its own space lives.
//!
//! * **Base owners** are handed out once per process and never again: a dropped heap's
//!   references may still be held by host code, and nothing can tell when the last one goes.
//!   The counter saturates instead of wrapping, and a builder that finds it exhausted refuses
//!   every allocation with [`Error::HeapsExhausted`](crate::Error::HeapsExhausted). 2^28 heaps
//!   per process.
//! * **Incarnations** are reused, because a cloud host creates an image per client and would use
//!   up 2^28 in days. A lock-free bitmap marks the live ones, and a number is handed out only
//!   when its bit is clear, so no two live images ever share one however they are created. To
//!   keep ended images' references detectable for as long as possible, numbers are handed out in
//!   sweeping order: a thread claims the next free bits of one 64-bit word (so creating images
//!   rarely touches a shared cache line), then takes the next word from a global cursor; each
//!   sweep of the cursor over the words starts one bit further into them. A number comes back
//!   only after the cursor has offered all 2^28 numbers, however images are spread over threads
//!   (one per fresh thread, which takes a fresh word for one number, included).
//!   The bitmap is paged lazily: 32 KiB a page, 32 MiB once the whole space has been swept.
//!
//! Both use `std` atomics, not the loom shim: their only obligation is uniqueness, which comes
//! from the total modification order of a single word under read-modify-write operations, in
//! every memory model. No data passes from a number's old holder to its new one.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::value::BASE_OWNER_FLAG;

/// A source of base owner ids that never hands one out twice.
pub(crate) struct BaseOwners {
    next: AtomicU32,
}

/// The process's base owners.
pub(crate) static BASE_OWNERS: BaseOwners = BaseOwners::starting_at(0);

impl BaseOwners {
    /// A source whose first id is `first` (tests start near the limit).
    pub(crate) const fn starting_at(first: u32) -> BaseOwners {
        BaseOwners {
            next: AtomicU32::new(first),
        }
    }

    /// A fresh owner id, or `None` once 2^28 have been handed out. Saturates: the counter
    /// never wraps, however often it is asked.
    pub(crate) fn next(&self) -> Option<u32> {
        // Relaxed: uniqueness comes from the RMW's modification order; no data is published.
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < BASE_OWNER_FLAG).then_some(n + 1)
            })
            .ok()
            .map(|n| BASE_OWNER_FLAG | n)
    }
}

/// Words of 64 incarnation bits per lazily allocated page.
const PAGE_WORDS: usize = 4096;

/// A bitmap of the live incarnations of a space of `64 * words` numbers. Number 0 is never
/// handed out: it marks a vacant statistics block.
pub(crate) struct Incarnations {
    pages: Box<[AtomicPtr<AtomicU64>]>,
    words: usize,
    /// The next word a thread without one takes. A u64 never wraps in practice (2^64 takes).
    cursor: AtomicU64,
}

/// A thread's claim on one bitmap word: numbers are taken upward from `bit`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim {
    word: usize,
    bit: u32,
}

impl Claim {
    /// A claim that takes a fresh word first.
    pub(crate) const EMPTY: Claim = Claim { word: 0, bit: 64 };
}

impl Incarnations {
    /// A space of `words * 64` numbers (tests use a small one to reach the wrap).
    pub(crate) fn new(words: usize) -> Incarnations {
        assert!(words > 0 && words * 64 <= BASE_OWNER_FLAG as usize);
        Incarnations {
            pages: (0..words.div_ceil(PAGE_WORDS))
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            words,
            cursor: AtomicU64::new(0),
        }
    }

    fn word(&self, w: usize) -> &AtomicU64 {
        let page = &self.pages[w / PAGE_WORDS];
        // Acquire: pairs with the Release CAS below, so the page's zeroed words are visible.
        let mut p = page.load(Ordering::Acquire);
        if p.is_null() {
            let fresh: Box<[AtomicU64]> = (0..PAGE_WORDS).map(|_| AtomicU64::new(0)).collect();
            let fresh = Box::into_raw(fresh).cast::<AtomicU64>();
            // Release: publishes the zeroed page; Acquire on failure: reads the winner's.
            p = match page.compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` of a PAGE_WORDS slice just above
                    // and lost the race, so no other thread ever saw it.
                    drop(unsafe {
                        Box::from_raw(std::ptr::slice_from_raw_parts_mut(fresh, PAGE_WORDS))
                    });
                    winner
                }
            };
        }
        // SAFETY: `p` is a published page of PAGE_WORDS words, freed only when `self` drops.
        unsafe { &*p.add(w % PAGE_WORDS) }
    }

    /// A number no live holder has, or `None` if every number is live.
    pub(crate) fn acquire(&self, claim: &mut Claim) -> Option<u32> {
        let mut fresh_words = 0;
        loop {
            if claim.bit >= 64 {
                if fresh_words >= self.words {
                    // Every word was offered from its sweep's starting bit and had nothing
                    // free from there: look at every bit before saying the space is full.
                    return self.scan(claim);
                }
                fresh_words += 1;
                // Relaxed: the cursor only spreads threads over the space.
                let c = self.cursor.fetch_add(1, Ordering::Relaxed);
                let w = (c % self.words as u64) as usize;
                // Each sweep over the words starts one bit further in, so that numbers come
                // back only after all of them were handed out, even where every image is
                // made on a fresh thread (which takes a fresh word for its one number).
                let start = (c / self.words as u64 % 64) as u32;
                if w == 0 && start == 0 {
                    continue; // number 0 is never handed out
                }
                *claim = Claim {
                    word: w,
                    bit: start,
                };
            }
            if let Some(n) = self.take_from(claim) {
                return Some(n);
            }
        }
    }

    /// The first free number at or above `claim`'s bit in its word; marks the word used up
    /// if there is none.
    fn take_from(&self, claim: &mut Claim) -> Option<u32> {
        let word = self.word(claim.word);
        // Relaxed: a hint for the CAS, which decides.
        let mut bits = word.load(Ordering::Relaxed);
        loop {
            let free = !bits & (u64::MAX << claim.bit);
            if free == 0 {
                claim.bit = 64;
                return None;
            }
            let bit = free.trailing_zeros();
            // Relaxed: uniqueness needs only the word's modification order.
            match word.compare_exchange_weak(
                bits,
                bits | 1 << bit,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    claim.bit = bit + 1;
                    return Some((claim.word * 64) as u32 + bit);
                }
                Err(now) => bits = now,
            }
        }
    }

    /// Every word from bit 0 (bit 1 of word 0): the last look before `None`.
    fn scan(&self, claim: &mut Claim) -> Option<u32> {
        (0..self.words).find_map(|w| {
            *claim = Claim {
                word: w,
                bit: (w == 0) as u32,
            };
            self.take_from(claim)
        })
    }

    /// Frees a number for reuse once the cursor comes round again.
    pub(crate) fn release(&self, n: u32) {
        let n = n as usize;
        // Relaxed: as in `acquire`.
        self.word(n / 64)
            .fetch_and(!(1 << (n % 64)), Ordering::Relaxed);
    }
}

impl Drop for Incarnations {
    fn drop(&mut self) {
        for page in self.pages.iter_mut() {
            let p = *page.get_mut();
            if !p.is_null() {
                // SAFETY: every non-null page came from `Box::into_raw` of a PAGE_WORDS slice in
                // `word`, and `&mut self` means no one else holds it.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, PAGE_WORDS)) });
            }
        }
    }
}

/// The process's incarnations: every number a 29-bit owner field gives images.
fn process_incarnations() -> &'static Incarnations {
    static ALL: std::sync::OnceLock<Incarnations> = std::sync::OnceLock::new();
    ALL.get_or_init(|| Incarnations::new(BASE_OWNER_FLAG as usize / 64))
}

thread_local! {
    static CLAIM: Cell<Claim> = const { Cell::new(Claim::EMPTY) };
}

/// An incarnation for a new image, unique among the live images of the process.
pub(crate) fn acquire_incarnation() -> Option<u32> {
    CLAIM.with(|cell| {
        let mut claim = cell.get();
        let n = process_incarnations().acquire(&mut claim);
        cell.set(claim);
        n
    })
}

/// Gives an ended image's incarnation back.
pub(crate) fn release_incarnation(n: u32) {
    process_incarnations().release(n)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn base_owners_saturate_instead_of_wrapping() {
        let owners = BaseOwners::starting_at(BASE_OWNER_FLAG - 2);
        let a = owners.next().unwrap();
        let b = owners.next().unwrap();
        assert_ne!(a, b);
        assert_eq!(b, BASE_OWNER_FLAG | (BASE_OWNER_FLAG - 1));
        for _ in 0..1000 {
            assert_eq!(owners.next(), None);
        }
    }

    #[test]
    fn incarnations_sweep_before_reusing_and_skip_the_living() {
        let space = Incarnations::new(4);
        let mut claim = Claim::EMPTY;
        let mut first: Vec<u32> = (0..255)
            .map(|_| space.acquire(&mut claim).unwrap())
            .collect();
        first.sort_unstable();
        assert_eq!(first, (1..256).collect::<Vec<_>>(), "0 is never handed out");
        assert_eq!(space.acquire(&mut claim), None, "all 255 are live");
        // Free every other one: the next sweep hands out exactly those, none twice.
        for n in first.iter().copied().filter(|n| n % 2 == 0) {
            space.release(n);
        }
        let mut again: Vec<u32> = (0..127)
            .map(|_| space.acquire(&mut claim).unwrap())
            .collect();
        again.sort();
        assert_eq!(again, (1..128).map(|k| 2 * k).collect::<Vec<_>>());
        assert_eq!(space.acquire(&mut claim), None);
    }

    /// One image per fresh thread (a fresh claim each time), each ended before the next: every
    /// number is handed out once before any comes back. Starting each claim at bit 0 of its
    /// word handed out 1, 64, 128, 192, then 1 again.
    #[test]
    fn fresh_threads_walk_every_number_before_reuse() {
        let space = Incarnations::new(4);
        let seen: Vec<u32> = (0..255)
            .map(|_| {
                let n = space.acquire(&mut Claim::EMPTY.clone()).unwrap();
                space.release(n);
                n
            })
            .collect();
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..256).collect::<Vec<_>>(), "in order {seen:?}");
    }

    /// The process-wide space, as a host making one image per fresh thread uses it: the
    /// sweep's rotation is what keeps numbers from coming back after 2^22 images.
    #[test]
    fn the_process_space_is_swept_a_bit_further_each_pass() {
        let space = Incarnations::new(BASE_OWNER_FLAG as usize / 64);
        let words = BASE_OWNER_FLAG as u64 / 64;
        space.cursor.store(words - 1, Ordering::Relaxed);
        let last_of_first_sweep = space.acquire(&mut Claim::EMPTY.clone()).unwrap();
        let first_of_second_sweep = space.acquire(&mut Claim::EMPTY.clone()).unwrap();
        assert_eq!(last_of_first_sweep, BASE_OWNER_FLAG - 64);
        assert_eq!(
            first_of_second_sweep, 1,
            "the second sweep starts at bit 1 of word 0"
        );
        space.cursor.store(words * 2 + 5, Ordering::Relaxed);
        assert_eq!(
            space.acquire(&mut Claim::EMPTY.clone()).unwrap(),
            5 * 64 + 2
        );
    }
}
