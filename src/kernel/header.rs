//! A base object's forwarding word, and its one decode: nothing, or a forwarder.
//!
//! The arena keeps one forwarding word per base object, beside its (immutable) words: the only
//! words of a sealed base that change. While it is 0 no image has diverged from the object;
//! once one has, it is a pointer to the object's [`Forwarder`] tagged with bit 0. Private
//! spaces use the same bit in a private object's header word to mark a per-image `become`.
//!
//! Keeping the word beside the object, not in its header as Spur does, is what lets an image
//! read an object other images wrote exactly as it reads one nobody wrote: its header never
//! changes, so the read path tests nothing about other images (the image's own divergence is in
//! its resolutions, probed first).

use super::forwarder::Forwarder;

/// Bit 0 of a forwarding word (or of a private header word): the rest of the word points to
/// where the object went.
pub(crate) const FORWARDED: u64 = 1;

/// What a base object's forwarding word holds.
#[derive(Clone, Copy)]
pub(crate) enum Forwarding<'a> {
    /// Nobody has diverged from the object.
    Plain,
    /// Some image has: this is the object's conditional forwarder.
    Forwarded(&'a Forwarder),
}

impl<'a> Forwarding<'a> {
    /// Decodes a forwarding word.
    ///
    /// # Safety
    /// `word` was loaded with Acquire from the forwarding word of an object of a base heap
    /// that outlives `'a` (so a forwarder it points to does too).
    #[inline]
    pub(super) unsafe fn decode(word: u64) -> Forwarding<'a> {
        if word & FORWARDED == 0 {
            Forwarding::Plain
        } else {
            // SAFETY: the caller's contract is `from_word`'s.
            Forwarding::Forwarded(unsafe { Forwarder::from_word(word) })
        }
    }
}
