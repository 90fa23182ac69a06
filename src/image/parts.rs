//! An image in parts: what a delta writer reads of an image, and how a resumed image is put
//! together from what a delta reader checked. The delta format itself is
//! [`crate::delta`]'s; this is the image's side of it, so that no other module reads an
//! image's fields.

use super::Image;
use crate::base::BaseHeap;
use crate::object::{Loc, FORWARDED};
use crate::space::Space;
use crate::{Result, Value};

/// A saved image's state, checked by the delta reader, with live references: what
/// [`Image::restored`] builds an image from.
pub(crate) struct Restored<S> {
    /// The private space's words, its references made with the new image's owners.
    pub(crate) words: Vec<u64>,
    /// Where its objects start, ascending: each an object of `words`.
    pub(crate) starts: S,
    /// The identity-hash state new private objects draw from.
    pub(crate) next_hash: u32,
    /// `(base word index, target)`, ascending: each a base object start, and a target that is
    /// an object and leads to no forwarding cycle.
    pub(crate) entries: Vec<(usize, Loc)>,
    /// The root overrides.
    pub(crate) roots: Vec<(String, Value)>,
}

impl Image {
    /// This image's private objects (its copies and allocations), in the order of its space.
    /// A delta keeps that order, so the `n`th private object of a resumed image is the `n`th
    /// of the saved one: how a host maps what it recorded about an image onto its resumed
    /// copy (the stress harness maps its shadow models this way).
    pub fn private_objects(&self) -> Vec<Value> {
        (0..self.space.len())
            .filter(|&i| self.space.is_start(i))
            .map(|i| Value::object(self.incarnation, i as u64))
            .collect()
    }

    /// The private space's words as they are, headers, forwarded objects and all.
    pub(crate) fn private_words(&self) -> &[u64] {
        &self.space.words
    }

    /// True if private word `i` starts an object.
    #[inline]
    pub(crate) fn is_private_start(&self, i: usize) -> bool {
        self.space.is_start(i)
    }

    /// The identity-hash state the next private object draws from.
    pub(crate) fn hash_state(&self) -> u32 {
        self.space.hash_state()
    }

    /// The owner of this image's references into its base.
    pub(crate) fn base_owner(&self) -> u32 {
        self.base_owner
    }

    /// This image's entries, in no particular order: each base object it copied or made
    /// `become` something, and its target.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, Loc)> + '_ {
        self.resolutions.iter()
    }

    /// A new image over `heap` with a saved image's state: `parts` is given the new image's
    /// base owner and incarnation, and answers the state with its references made with them.
    /// Everything in it must have been checked against `heap` (see [`Restored`]); the heap can
    /// still refuse the image itself (no free image id, for instance).
    pub(crate) fn restored<S>(
        heap: &BaseHeap,
        parts: impl FnOnce(u32, u32) -> Restored<S>,
    ) -> Result<Image>
    where
        S: Iterator<Item = usize> + Clone,
    {
        let mut image = Image::new(heap)?;
        let Restored {
            words,
            starts,
            next_hash,
            entries,
            roots,
        } = parts(image.base_owner, image.incarnation);
        // The read path trusts private references from fields only while no private object
        // was made to `become` another; a resumed image keeps that knowledge.
        image.private_becomes = starts.clone().any(|at| words[at] & FORWARDED != 0);
        image.space = Space::restored(words, starts, next_hash);
        image.layout_epoch = crate::vm::new_epoch();
        for (at, loc) in entries {
            // Checked: `at` is an object start, so the kernel cannot refuse it; if it did,
            // dropping the image takes down the entries made so far.
            image.enter(at, loc)?;
        }
        image.root_overrides = roots;
        image
            .counters()
            .private_bytes
            .set((image.space.len() * 8) as u64);
        Ok(image)
    }
}
