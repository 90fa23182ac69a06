//! What this image has resolved about forwarded base objects: its own targets, and the
//! original headers of forwarded objects where it has none.
//!
//! The proposal's observation makes this cache exact: an image's view of a base object changes
//! only through that image's own actions. So "my target for `o` is `t`" stays true until this
//! image itself changes it, and so does "I have no entry for `o`, whose sealed header is `h`",
//! whatever other images install or take down meanwhile. Reads of forwarded objects therefore
//! never walk the shared slot table: one probe here answers hits and misses alike, and the
//! shared forwarder stays the published truth for everyone else (census, teardown, the models).
//!
//! Shape, chosen by measurement (BENCHMARKS.md §2): an open-addressed table keyed by the base
//! object's word index, probed linearly from `(index / 2) mod capacity` (objects are at least
//! two words apart, so neighbours land in neighbouring buckets; no hashing). Own entries are
//! permanent: the table is the image's complete list of them, which teardown walks. Negative
//! entries are a cache, dropped all at once when there are more than [`MAX_NEGATIVE`], so an
//! image's table stays O(its own entries + 16,384) however many forwarded objects it reads
//! (at most 1 MiB per image).
//! Private to the image: plain words, no atomics.

use crate::object::{Header, Loc};

/// Negative entries kept before they are all dropped.
const MAX_NEGATIVE: usize = 16_384;

/// One image's answer for a forwarded base object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// This image's own target: its copy, or what it made the object `become`.
    Own(Loc),
    /// No entry for this image: it reads the base object, whose sealed header this is.
    Original(Header),
}

impl Resolution {
    #[inline(always)]
    fn encode(self) -> u64 {
        match self {
            // Headers have bit 0 clear; own targets set it.
            Resolution::Own(loc) => (loc.encode() << 1) | 1,
            Resolution::Original(h) => h.0,
        }
    }

    #[inline(always)]
    fn decode(bits: u64) -> Resolution {
        if bits & 1 == 1 {
            Resolution::Own(Loc::decode(bits >> 1))
        } else {
            Resolution::Original(Header(bits))
        }
    }
}

pub(crate) struct Resolutions {
    /// `(key, encoded resolution)`, key = base word index + 1; 0 is empty. Capacity is a power
    /// of two, never 0 (so a probe needs no emptiness test), at most half full.
    slots: Box<[(u64, u64)]>,
    own: usize,
    negative: usize,
}

/// The first capacity: 256 bytes per image.
const INITIAL: usize = 16;

impl Default for Resolutions {
    fn default() -> Self {
        Resolutions {
            slots: vec![(0, 0); INITIAL].into_boxed_slice(),
            own: 0,
            negative: 0,
        }
    }
}

impl Resolutions {
    #[inline(always)]
    fn home(&self, at: usize) -> usize {
        (at >> 1) & (self.slots.len() - 1)
    }

    /// This image's answer for the forwarded base object at `at`, if it has resolved it.
    #[inline(always)]
    pub(crate) fn get(&self, at: usize) -> Option<Resolution> {
        let (i, found) = self.slot_of(at);
        found.then(|| Resolution::decode(self.slots[i].1))
    }

    /// Where `at` is, or the empty slot where it would go.
    #[inline(always)]
    fn slot_of(&self, at: usize) -> (usize, bool) {
        let key = at as u64 + 1;
        let mask = self.slots.len() - 1;
        let mut i = self.home(at);
        loop {
            match self.slots[i].0 {
                k if k == key => return (i, true),
                0 => return (i, false),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// True once this image holds an entry of its own anywhere.
    #[inline(always)]
    pub(crate) fn has_own(&self) -> bool {
        self.own != 0
    }

    /// Records this image's own target for `at`, replacing a negative answer.
    pub(crate) fn set_own(&mut self, at: usize, loc: Loc) {
        if let Some(Resolution::Original(_)) = self.put(at, Resolution::Own(loc)) {
            self.negative -= 1;
        }
        self.own += 1;
    }

    /// Records that this image has no entry for `at`, whose sealed header is `header`.
    pub(crate) fn set_original(&mut self, at: usize, header: Header) {
        if self.negative >= MAX_NEGATIVE {
            self.rebuild(self.slots.len(), false);
        }
        let previous = self.put(at, Resolution::Original(header));
        debug_assert!(previous.is_none());
        self.negative += 1;
    }

    /// Every base object where this image has its own entry.
    pub(crate) fn own_entries(&self) -> impl Iterator<Item = (usize, Loc)> + '_ {
        self.slots
            .iter()
            .filter_map(|&(k, v)| match Resolution::decode(v) {
                Resolution::Own(loc) if k != 0 => Some((k as usize - 1, loc)),
                _ => None,
            })
    }

    /// Inserts or replaces; answers what was there.
    fn put(&mut self, at: usize, r: Resolution) -> Option<Resolution> {
        if (self.own + self.negative + 1) * 2 > self.slots.len() {
            self.rebuild(self.slots.len() * 2, true);
        }
        let (i, found) = self.slot_of(at);
        let previous = found.then(|| Resolution::decode(self.slots[i].1));
        self.slots[i] = (at as u64 + 1, r.encode());
        previous
    }

    /// Re-inserts into `capacity` slots, dropping the negative answers unless `keep_negative`.
    fn rebuild(&mut self, capacity: usize, keep_negative: bool) {
        let capacity = capacity.max(((self.own + 1) * 2).next_power_of_two());
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); capacity].into_boxed_slice());
        let (own, negative) = (self.own, self.negative);
        self.own = 0;
        self.negative = 0;
        for (k, v) in old.iter().copied().filter(|&(k, _)| k != 0) {
            let r = Resolution::decode(v);
            if keep_negative || matches!(r, Resolution::Own(_)) {
                self.put(k as usize - 1, r);
                match r {
                    Resolution::Own(_) => self.own += 1,
                    Resolution::Original(_) => self.negative += 1,
                }
            }
        }
        debug_assert_eq!(self.own, own);
        debug_assert!(self.negative <= negative);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::Format;

    #[test]
    fn answers_own_and_negative_and_keeps_own_entries_when_negatives_overflow() {
        let mut r = Resolutions::default();
        assert_eq!(r.get(10), None);
        let h = Header::new(Format::Pointers, 5, 3, 0);
        for at in (0..2 * MAX_NEGATIVE + 10).map(|i| i * 4) {
            if at % 12 == 0 {
                r.set_own(at, Loc::Private(at + 1));
            } else {
                r.set_original(at, h);
            }
        }
        let own: Vec<_> = r.own_entries().collect();
        assert_eq!(own.len(), r.own);
        for (at, loc) in own {
            assert_eq!(loc, Loc::Private(at + 1));
            assert_eq!(r.get(at), Some(Resolution::Own(Loc::Private(at + 1))));
        }
        assert!(r.negative <= MAX_NEGATIVE);
        // A negative answer is replaced by an own one.
        let at = 4 * (2 * MAX_NEGATIVE + 9);
        assert_eq!(r.get(at), Some(Resolution::Original(h)));
        r.set_own(at, Loc::Base(8));
        assert_eq!(r.get(at), Some(Resolution::Own(Loc::Base(8))));
    }
}
