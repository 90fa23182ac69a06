//! This image's own targets for base objects: its copies, and what it made them `become`.
//!
//! The proposal's observation makes this the whole truth for the image: its view of a base
//! object changes only through its own actions. So "my target for `o` is `t`" stays true until
//! this image itself changes it, and where it has no target, it sees the object as sealed (its
//! words never change), whatever other images install or take down meanwhile. Reads of forwarded objects therefore never
//! walk the shared entries: one probe here answers, and the shared forwarder stays the
//! published truth for everyone else (census, teardown, the models).
//!
//! Shape, chosen by measurement (BENCHMARKS.md §9): an open-addressed table keyed by the base
//! object's word index, probed linearly from `(index / 2) mod capacity` (objects are at least
//! two words apart, so neighbours land in neighbouring buckets; no hashing), at most half
//! full. It holds only this image's own entries, so it is the complete list of them that
//! teardown walks, and its size follows what the image wrote, not what it read. A bitmap of
//! 16 bits per bucket, indexed by the same `index / 2`, answers most misses with one load (at
//! most 1 in 32 bits is set), so that the check every read makes of the value it read
//! ("did I write the object this names?") rarely probes at all.
//! Private to the image: plain words, no atomics.

use crate::object::Loc;

pub(crate) struct Resolutions {
    /// `(key, encoded target)`, key = base word index + 1; 0 is empty. Capacity is 0 until
    /// the first entry, then a power of two, at most half full: a probe needs no emptiness
    /// test, as it runs only where the filter has a bit, which an empty filter never has.
    buckets: Box<[(u64, u64)]>,
    /// Bit `(index / 2) mod (16 * capacity)` is set for every key: clear means no entry.
    filter: Box<[u64]>,
    own: usize,
    /// Changed by every change of a target ([`insert`](Self::insert),
    /// [`retarget`](Self::retarget)): while it reads the same, so does every base object
    /// this image has not written, and whatever a reader kept of one ([`Image::sealed_view`]).
    ///
    /// [`Image::sealed_view`]: crate::Image::sealed_view
    version: u64,
}

/// Filter bits per bucket.
const FILTER_BITS: usize = 16;

/// The first capacity: 1 KiB (and a 128-byte filter) per image that writes a base object, so
/// that an image's first 32 entries need no rehash on the first store's path.
const INITIAL: usize = 64;

impl Default for Resolutions {
    /// Empty, with nothing allocated: most images never write a base object, and a new
    /// image's two allocations (and their frees) were half the cost of making and dropping
    /// it.
    fn default() -> Self {
        Resolutions {
            buckets: Box::new([]),
            filter: Box::new([]),
            own: 0,
            version: 0,
        }
    }
}

impl Resolutions {
    /// This image's target for the base object at `at`, if it has one.
    #[inline(always)]
    pub(crate) fn get(&self, at: usize) -> Option<Loc> {
        if !self.may_hold(at) {
            return None;
        }
        let (i, found) = self.bucket_of(at);
        found.then(|| Loc::decode(self.buckets[i].1))
    }

    /// False if `at` certainly has no entry.
    #[inline(always)]
    fn may_hold(&self, at: usize) -> bool {
        // Without a filter the mask is all ones and the word is past the end: no. The
        // bounds check is the one the indexing made, so an empty filter costs nothing.
        let bit = (at >> 1) & (self.filter.len() * 64).wrapping_sub(1);
        self.filter
            .get(bit / 64)
            .is_some_and(|word| word >> (bit % 64) & 1 != 0)
    }

    fn mark(&mut self, at: usize) {
        let bit = (at >> 1) & (self.filter.len() * 64 - 1);
        self.filter[bit / 64] |= 1 << (bit % 64);
    }

    /// Where `at` is, or the empty bucket where it would go.
    #[inline(always)]
    fn bucket_of(&self, at: usize) -> (usize, bool) {
        let key = at as u64 + 1;
        let mask = self.buckets.len() - 1;
        let mut i = (at >> 1) & mask;
        loop {
            match self.buckets[i].0 {
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

    /// See the field.
    #[inline(always)]
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Records this image's target for `at`, where it had none.
    pub(crate) fn insert(&mut self, at: usize, loc: Loc) {
        // Wrapping: 2^64 changes are out of reach, and a wrap only needs to differ from the
        // number a reader kept, which it does unless exactly 2^64 changes come between.
        self.version = self.version.wrapping_add(1);
        if (self.own + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        let (i, found) = self.bucket_of(at);
        debug_assert!(!found, "an image enters a forwarder once");
        self.buckets[i] = (at as u64 + 1, loc.encode());
        self.mark(at);
        self.own += 1;
    }

    /// Gives existing entries new targets (after the image's collector moved them).
    pub(crate) fn retarget(&mut self, targets: impl IntoIterator<Item = (usize, Loc)>) {
        self.version = self.version.wrapping_add(1);
        if self.buckets.is_empty() {
            return;
        }
        for (at, loc) in targets {
            let (i, found) = self.bucket_of(at);
            debug_assert!(found, "only entries the image holds are retargeted");
            if found {
                self.buckets[i].1 = loc.encode();
            }
        }
    }

    /// Every base object where this image has its own entry.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Loc)> + '_ {
        self.buckets
            .iter()
            .filter(|&&(k, _)| k != 0)
            .map(|&(k, v)| (k as usize - 1, Loc::decode(v)))
    }

    fn grow(&mut self) {
        let capacity = (self.buckets.len() * 2).max(INITIAL);
        let old = std::mem::replace(&mut self.buckets, vec![(0, 0); capacity].into_boxed_slice());
        self.filter = vec![0; capacity * FILTER_BITS / 64].into_boxed_slice();
        let mask = capacity - 1;
        for (k, v) in old.iter().copied().filter(|&(k, _)| k != 0) {
            let at = k as usize - 1;
            let mut i = (at >> 1) & mask;
            while self.buckets[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.buckets[i] = (k, v);
            self.mark(at);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_image_that_never_wrote_holds_nothing_and_answers_no_everywhere() {
        let mut r = Resolutions::default();
        assert!(r.buckets.is_empty() && r.filter.is_empty());
        for at in [0, 1, 2, 4096, usize::MAX / 2, usize::MAX - 1, usize::MAX] {
            assert_eq!(r.get(at), None, "{at}");
        }
        r.retarget([(8, Loc::Private(3))]);
        assert_eq!(r.iter().count(), 0);
        assert!(!r.has_own());
        r.insert(usize::MAX - 1, Loc::Private(5));
        assert_eq!(r.get(usize::MAX - 1), Some(Loc::Private(5)));
        assert_eq!(r.buckets.len(), INITIAL);
    }

    /// The version changes at every change of a target, also across its wrap.
    #[test]
    fn the_version_changes_at_every_change_even_where_it_wraps() {
        let mut r = Resolutions {
            version: u64::MAX - 1,
            ..Resolutions::default()
        };
        r.insert(8, Loc::Private(3));
        assert_eq!(r.version(), u64::MAX);
        r.retarget([(8, Loc::Private(5))]);
        assert_eq!(r.version(), 0);
        r.insert(16, Loc::Private(7));
        assert_eq!(r.version(), 1);
        assert_eq!(r.get(8), Some(Loc::Private(5)));
    }

    #[test]
    fn answers_every_entry_and_nothing_else_across_growth() {
        let mut r = Resolutions::default();
        assert_eq!(r.get(10), None);
        // Neighbouring objects and objects that share a home bucket alike.
        let ats: Vec<usize> = (0..3000)
            .map(|i| if i % 3 == 0 { i * 4096 } else { i * 2 })
            .collect();
        for (n, &at) in ats.iter().enumerate() {
            r.insert(at, Loc::Private(n + 1));
            assert_eq!(r.own, n + 1);
        }
        for (n, &at) in ats.iter().enumerate() {
            assert_eq!(r.get(at), Some(Loc::Private(n + 1)));
            assert_eq!(r.get(at + 1), None);
        }
        let mut listed: Vec<_> = r.iter().collect();
        listed.sort_by_key(|&(at, _)| at);
        let mut expected: Vec<_> = ats
            .iter()
            .enumerate()
            .map(|(n, &at)| (at, Loc::Private(n + 1)))
            .collect();
        expected.sort_by_key(|&(at, _)| at);
        assert_eq!(listed, expected);
        assert!(r.buckets.len() <= 4 * ats.len().next_power_of_two());
    }
}
