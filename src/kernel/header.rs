//! The header word of a base object, and its one decode: a header, or a forwarder.
//!
//! A base object's header word is the only word of the sealed arena that ever changes. While
//! bit 0 is clear it is the object's [`Header`]; once some image diverges from the object it is
//! a tagged pointer to a [`Forwarder`], which keeps the original header (so does the arena, by
//! ordinal, for readers that hold no section). Spur marks forwarded objects the same way, so
//! the read barrier is a test of a word the read loads anyway.

use super::forwarder::Forwarder;

/// Bit 0 of a header word: the rest of the word is a forwarder pointer, not a header.
pub(crate) const FORWARDED: u64 = 1;

/// What a base object's header word holds.
#[derive(Clone, Copy)]
pub(crate) enum HeaderWord<'a> {
    /// Nobody has diverged from the object: the word is its header, the sealed one
    /// (`Arena::sealed_header` answers it without a section).
    Plain,
    /// Some image has: this is the object's conditional forwarder.
    Forwarded(&'a Forwarder),
}

impl<'a> HeaderWord<'a> {
    /// Decodes a header word.
    ///
    /// # Safety
    /// `word` was loaded with Acquire from the header word of an object start of a base heap
    /// that outlives `'a` (so a forwarder it points to does too).
    #[inline]
    pub(super) unsafe fn decode(word: u64) -> HeaderWord<'a> {
        if word & FORWARDED == 0 {
            HeaderWord::Plain
        } else {
            // SAFETY: the caller's contract is `from_word`'s.
            HeaderWord::Forwarded(unsafe { Forwarder::from_word(word) })
        }
    }
}
