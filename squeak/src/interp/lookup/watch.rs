//! The objects the method cache watches: every object a lookup or a method decoding read.
//! A store into one drops the cache (`before_store`); a filter of bits in front of the set
//! answers "not watched" for nearly every other object without a look into it, and
//! [`Unwatched`] remembers the last references the dispatch loop's stores found not watched.

use crate::interp::lookup::{MethodCache, FILTER_BITS};
use cowheap::Value;

/// The last two references the method cache was seen not to watch (see
/// `MethodCache::unwatched_ctx`; two, as the tokens before them, for a loop that stores into
/// two contexts or two receivers in turn), or none: a SmallInteger, never a token's key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unwatched([Value; 2]);

impl Default for Unwatched {
    fn default() -> Unwatched {
        Unwatched([Value::small_int_wrapping(0); 2])
    }
}

impl Unwatched {
    #[inline(always)]
    pub(crate) fn holds(&self, v: Value) -> bool {
        self.0[0] == v || self.0[1] == v
    }

    /// Remembers `v`, which the cache does not watch now, displacing the older one.
    pub(crate) fn note(&mut self, v: Value) {
        if self.0[0] != v {
            self.0 = [v, self.0[0]];
        }
    }
}

impl MethodCache {
    pub(super) fn watch(&mut self, obj: Value) {
        self.forget_at(obj);
        self.forget_unwatched();
        if self.filter.is_empty() {
            self.filter = vec![0; FILTER_BITS / 64];
        }
        let bit = Self::filter_bit(obj);
        self.filter[bit / 64] |= 1 << (bit % 64);
        if self.watched.insert(obj) && !obj.is_base_reference() {
            self.watched_private.push(obj);
        }
    }

    #[inline(always)]
    pub(super) fn filter_bit(obj: Value) -> usize {
        (obj.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize & (FILTER_BITS - 1)
    }

    /// Forgets what was seen not watched: the watched set grows, or references change.
    pub(super) fn forget_unwatched(&mut self) {
        self.forget_block_tokens();
        self.unwatched_ctx = Unwatched::default();
        self.unwatched_receiver = Unwatched::default();
    }

    /// True if a store into `obj` (by this very reference) would drop the cache.
    #[inline(always)]
    pub(crate) fn watches(&self, obj: Value) -> bool {
        self.may_watch(obj) && self.watched.contains(&obj)
    }

    /// False if `obj` is certainly not watched (its filter bit is clear): [`watches`]
    /// without the look into the set, for a caller that takes another path where it is
    /// true and so needs no registers for the set's probe.
    ///
    /// [`watches`]: Self::watches
    #[inline(always)]
    pub(crate) fn may_watch(&self, obj: Value) -> bool {
        let bit = Self::filter_bit(obj);
        self.filter
            .get(bit / 64)
            .is_some_and(|&word| word >> (bit % 64) & 1 != 0)
    }

    /// Called before this image stores into `obj` (already canonical): drops everything
    /// cached if the store can change what a lookup or a decoded method says.
    #[inline]
    pub(crate) fn before_store(&mut self, obj: Value) {
        if self.watches(obj) {
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept global answers only for its association and the view it was read under; a heap
    /// that keeps nothing sealed (`None`) gets nothing.
    #[test]
    fn a_kept_global_answers_for_its_association_under_its_view() {
        let mut c = MethodCache::default();
        let (a, v) = (Value::small_int_wrapping(70), Value::small_int_wrapping(7));
        assert_eq!(c.sealed_global(a, Some(0)), None);
        c.remember_sealed_global(a, v, 3);
        assert_eq!(c.sealed_global(a, Some(3)), Some(v));
        assert_eq!(c.sealed_global(a, Some(4)), None);
        assert_eq!(c.sealed_global(a, None), None);
        let other = (0..)
            .map(Value::small_int_wrapping)
            .find(|&b| b != a && MethodCache::sealed_slot(b) == MethodCache::sealed_slot(a))
            .unwrap();
        assert_eq!(c.sealed_global(other, Some(3)), None, "another in its slot");
        c.remember_sealed_global(other, v, 4);
        assert_eq!(
            c.sealed_global(a, Some(4)),
            None,
            "a new view drops the old"
        );
        assert_eq!(c.sealed_global(other, Some(4)), Some(v));
    }

    /// What the dispatch loop remembers as not watched goes whenever an object becomes
    /// watched: a store skipping the look at the filter would otherwise miss a flush.
    #[test]
    fn watching_forgets_what_was_seen_not_watched() {
        let mut c = MethodCache::default();
        let v = Value::small_int_wrapping(7);
        let w = Value::small_int_wrapping(8);
        c.unwatched_ctx.note(v);
        c.unwatched_ctx.note(w);
        c.unwatched_receiver.note(w);
        c.unwatched_receiver.note(v);
        assert!(c.unwatched_ctx.holds(v) && c.unwatched_ctx.holds(w));
        assert!(c.unwatched_receiver.holds(v) && c.unwatched_receiver.holds(w));
        c.watch(v);
        assert!(c.watches(v));
        assert!(!c.unwatched_ctx.holds(v) && !c.unwatched_ctx.holds(w));
        assert!(!c.unwatched_receiver.holds(v) && !c.unwatched_receiver.holds(w));
        assert!(c.block_token.is_none() && c.block_token_before.is_none());
    }
}
