//! The kernel: everything loom checks, and all of cowheap's unsafe code.
//!
//! * [`sync`]: the `std`/loom shim every kernel atomic comes from.
//! * [`header`]: a base object's forwarding word and its one decode: nothing, or a forwarder.
//! * [`forwarder`]: conditional forwarders: their inline entries, and how they are installed
//!   and taken down.
//! * [`levels`]: a forwarder's out-of-line entries, a chain of levels that shrinks as entries
//!   leave.
//! * [`arena`]: the sealed base arena and its object-start bitmap.
//! * [`ids`]: per-heap image ids, handed out again only after their entries are cleared.
//! * [`owners`]: process-wide owner ids: base owners (never reused) and image incarnations
//!   (reused, never while live).
//! * [`reclaim`]: sections and grace periods, so that a taken-down forwarder is freed only once
//!   no thread can hold it.
//! * [`slab`]: per-image slabs that forwarders are carved from, freed by their last slot.
//! * [`stats_block`]: an image id's statistics block: single-writer counters and the holder's
//!   incarnation, under a seqlock so that a monitor never pairs one holder's incarnation with
//!   another's counters.
//!
//! # Why no safe call sequence can decode a word that is not a header
//!
//! A word becomes a `&Forwarder` in [`header::Forwarding::decode`], called by
//! [`arena::Arena::forwarding`], and in `forwarder::install` and `forwarder::remove`, called by
//! [`arena::Arena::install`] and [`arena::Arena::remove`]; each of those three arena methods
//! first checks the arena's object-start bitmap. A base
//! reference that passes a heap's owner check but names the middle of an object (as a forged or
//! stale reference could) therefore gets `None`, never a decode: callers turn that into
//! [`Error::StaleReference`](crate::Error::StaleReference). The read paths never load a
//! forwarding word, and check the same bitmap before they trust a header's length for a bounds
//! check (base headers never change after sealing). Private spaces keep
//! their own bitmap (`space.rs`), and private header words never hold pointers.
//!
//! Three more lines of defence keep references honest in the first place:
//! 1. owner ids never repeat among live spaces ([`owners`]): base owners are never reused and
//!    incarnations are reused only once free, so a reference passes the owner check only of the
//!    space that minted it, or, for an ended image's reference after the incarnation space has
//!    been swept, of a later image with the same incarnation, where the bitmap decides;
//! 2. every reference stored into a base or a private object is checked on the way in (owner
//!    and object start), so a reference read back out of an object names an object start; and
//! 3. every index is bounds-checked: no arena or space access is unchecked.

#![allow(unsafe_code)]

pub(crate) mod arena;
pub(crate) mod forwarder;
pub(crate) mod header;
pub(crate) mod ids;
pub(crate) mod levels;
pub(crate) mod owners;
pub(crate) mod reclaim;
pub(crate) mod slab;
pub(crate) mod stats_block;
pub(crate) mod sync;
