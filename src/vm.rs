//! The surface for a language VM: what an interpreter needs beyond reading and writing
//! fields, as another language's VM would need it too. `cowheap-squeak`, the Squeak VM in
//! this workspace, uses nothing else: it has no access to the heap's internals.
//!
//! | need | call |
//! |---|---|
//! | an object's format, language format code and element count in one resolve | [`Image::shape`](crate::Image::shape) |
//! | allocation with the language's own format code | [`Image::allocate`](crate::Image::allocate), then [`Image::set_language_format`](crate::Image::set_language_format) ([`Image::new_pointers_from`](crate::Image::new_pointers_from): the first fields given, the rest [`Image::filler`](crate::Image::filler)); in a base, [`BaseBuilder::set_language_format`](crate::BaseBuilder::set_language_format) |
//! | fields of the VM's own objects (its activation records) without the general path | [`Image::private_field`](crate::Image::private_field), [`Image::set_private_field`](crate::Image::set_private_field), [`Image::refill_private`](crate::Image::refill_private), [`Image::refill_private_from`](crate::Image::refill_private_from) |
//! | a twin for a two-way `become:` | [`Image::clone_object`](crate::Image::clone_object), then [`Image::become_forward`](crate::Image::become_forward) |
//! | a dispatch loop's reads without a call: a field, a class, where the heap's fast path answers them (`None` sends the caller to `read`, `class_of`) | [`Image::read_fast`](crate::Image::read_fast), [`Image::class_fast`](crate::Image::class_fast) |
//! | whether an object holds a value (a `pointsTo:`), in one pass over its words where the fast path answers (`None`: read the fields one by one) | [`Image::points_to_fast`](crate::Image::points_to_fast) |
//! | refusing a value from another image or heap before keeping it | [`Image::check_value`](crate::Image::check_value) |
//! | charging memory | [`Image::private_bytes`](crate::Image::private_bytes) |
//! | an `at:` cache: one of the VM's own objects checked once, its elements then read and written by index until the image's layout changes | [`Image::fields_token`](crate::Image::fields_token), [`Image::read_token`](crate::Image::read_token), [`Image::write_token`](crate::Image::write_token); bytes: [`Image::bytes_token`](crate::Image::bytes_token), [`Image::read_byte_token`](crate::Image::read_byte_token), [`Image::write_byte_token`](crate::Image::write_byte_token) |
//!
//! # The fix-up rule on the fast path
//!
//! [`Image::read`](crate::Image::read) follows a reference to a base object that this image has
//! since copied (or made `become` another) and rewrites the field it read it from, so the next
//! read is direct (lazy become). [`Image::private_field`](crate::Image::private_field) does
//! neither: it answers the field as stored. The answer is still the same object for this
//! image ([`Image::identical`](crate::Image::identical) agrees, and every other call follows
//! it), so a VM that compares with `identical` and hands references back to the heap loses
//! nothing; one that compares raw bits must read through `read`.
//!
//! # What a fast path still checks
//!
//! Every fast path checks the owner and the object start of the reference it is given and
//! bounds-checks the index; a reference it cannot serve answers `None` or `false`, and the
//! caller takes the general path, which answers a typed [`Error`](crate::Error). Nothing is
//! skipped, only done once.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Format;

/// An object's shape as one image sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// cowheap's format.
    pub format: Format,
    /// The language's own 4-bit format code, as a loader or the VM recorded it (a Squeak V3
    /// image: 0-4 pointers, 6 words, 8-11 bytes, 12-15 methods); 0 if nobody did.
    pub language_format: u8,
    /// Fields, 32-bit words or bytes; a method's bytecodes.
    pub len: usize,
}

/// One of an image's own pointers objects, checked once (owner, object start, not forwarded,
/// pointers): where its fields lie and how many there are, valid while the image's *layout
/// epoch* is the one it was made in. Only the heap makes one
/// ([`Image::fields_token`](crate::Image::fields_token)); a VM keeps it in its `at:` cache.
///
/// Why the epoch is enough: between two changes of the epoch, an object start of an image's
/// private space stays one and its header keeps its forwarded bit, format and length. The
/// space only grows (allocation appends; the words are reached by index, so a moved buffer
/// does not matter), and the only writes to a header are a collection (which slides and
/// frees objects), `become_forward` (which forwards one), a resumed image's new space, each
/// of which takes a new epoch, and [`Image::set_language_format`](crate::Image::set_language_format),
/// which changes the language's code alone, neither the format nor the length. Epochs are
/// drawn from one counter for the whole process, so a token of one image (or of a heap
/// since dropped) never matches another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldsToken {
    /// The word index of field 0.
    pub(crate) first: usize,
    pub(crate) len: usize,
    pub(crate) epoch: u64,
}

impl FieldsToken {
    /// The object's fields (fixed and indexable together).
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an object without fields.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// [`FieldsToken`] for one of an image's own bytes objects (not a method): where its bytes lie
/// and how many there are. A different type, so that no token of a bytes object ever reads its
/// words as references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BytesToken {
    /// The word index of the body's first word.
    pub(crate) first: usize,
    pub(crate) len: usize,
    pub(crate) epoch: u64,
}

impl BytesToken {
    /// The object's bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an object without bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The layout epoch under which no token is made: the counter's last value, which every heap
/// gets once the process has used up the others (2^64 - 2 layout changes), so that it is
/// shared, never unique, and a token made under it could match another heap's.
const NO_TOKENS: u64 = u64::MAX;

/// A layout epoch never handed out before in this process (see [`FieldsToken`]), or
/// [`NO_TOKENS`] once there are none left.
///
/// Each thread draws a batch of [`EPOCH_BATCH`] from the process's counter and hands them out
/// one by one: every new image and every collection takes an epoch, and a shared
/// read-modify-write for each was a tenth of making and dropping an image. Epochs stay unique
/// (batches never overlap); they no longer grow in time order across threads, which nothing
/// compares.
pub(crate) fn new_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        /// The rest of this thread's batch: the next epoch and the end of the batch.
        static BATCH: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    BATCH.with(|batch| hand_out(batch, &NEXT))
}

/// The next epoch of `batch`, refilled from `counter` when it runs out.
fn hand_out(batch: &std::cell::Cell<(u64, u64)>, counter: &AtomicU64) -> u64 {
    let (next, end) = match batch.get() {
        (next, end) if next < end => (next, end),
        _ => take_batch(counter),
    };
    // An empty batch is the exhausted counter's `(NO_TOKENS, NO_TOKENS)`, kept as it is.
    batch.set((next + u64::from(next < end), end));
    next
}

/// Epochs a thread draws from the process's counter at once.
const EPOCH_BATCH: u64 = 1 << 16;

/// The next batch `(first, end)` from `counter`: at most [`EPOCH_BATCH`] epochs below
/// [`NO_TOKENS`], or `(NO_TOKENS, NO_TOKENS)` once none is left, which hands out
/// [`NO_TOKENS`] for good.
fn take_batch(counter: &AtomicU64) -> (u64, u64) {
    // Relaxed: uniqueness comes from the read-modify-write being atomic; the value orders no
    // other memory (a heap compares it only with tokens its own thread made).
    match counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        (n < NO_TOKENS).then(|| n + EPOCH_BATCH.min(NO_TOKENS - n))
    }) {
        Ok(n) => (n, n + EPOCH_BATCH.min(NO_TOKENS - n)),
        Err(_) => (NO_TOKENS, NO_TOKENS),
    }
}

/// The epoch a token made now carries: `None` under [`NO_TOKENS`] (the VM then takes the
/// checked paths for the rest of the heap's life).
#[inline(always)]
pub(crate) fn token_epoch(layout_epoch: u64) -> Option<u64> {
    (layout_epoch != NO_TOKENS).then_some(layout_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counter never wraps to an epoch handed out before: near its limit it gives a
    /// short last batch, then the epoch that makes no token, for good.
    #[test]
    fn epochs_stop_at_their_limit_and_then_make_no_tokens() {
        let counter = AtomicU64::new(NO_TOKENS - 2);
        assert_eq!(take_batch(&counter), (NO_TOKENS - 2, NO_TOKENS));
        assert_eq!(take_batch(&counter), (NO_TOKENS, NO_TOKENS));
        assert_eq!(take_batch(&counter), (NO_TOKENS, NO_TOKENS));
        let counter = AtomicU64::new(NO_TOKENS - EPOCH_BATCH - 1);
        assert_eq!(
            take_batch(&counter),
            (NO_TOKENS - EPOCH_BATCH - 1, NO_TOKENS - 1)
        );
        assert_eq!(take_batch(&counter), (NO_TOKENS - 1, NO_TOKENS));
        assert_eq!(token_epoch(NO_TOKENS - 1), Some(NO_TOKENS - 1));
        assert_eq!(token_epoch(NO_TOKENS), None);
    }

    /// A thread's batch hands each epoch out once, refills from the counter, and near the
    /// counter's limit ends in the epoch that makes no token.
    #[test]
    fn a_batch_hands_out_each_epoch_once_and_ends_at_the_limit() {
        let batch = std::cell::Cell::new((0, 0));
        let counter = AtomicU64::new(5);
        let first: Vec<u64> = (0..EPOCH_BATCH + 2)
            .map(|_| hand_out(&batch, &counter))
            .collect();
        let expected: Vec<u64> = (5..5 + EPOCH_BATCH + 2).collect();
        assert_eq!(first, expected);
        let counter = AtomicU64::new(NO_TOKENS - 2);
        let batch = std::cell::Cell::new((0, 0));
        let last: Vec<u64> = (0..4).map(|_| hand_out(&batch, &counter)).collect();
        assert_eq!(last, [NO_TOKENS - 2, NO_TOKENS - 1, NO_TOKENS, NO_TOKENS]);
    }

    /// Threads drawing at once never share an epoch.
    #[test]
    fn epochs_are_unique_across_threads() {
        let drawn: Vec<Vec<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| new_epoch()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = drawn.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
    }
}
