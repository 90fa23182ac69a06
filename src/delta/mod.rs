//! Saving an image as its delta over its base, and resuming it over the same base.
//!
//! A cloud host keeps each client's image across restarts and moves it between machines. With
//! a shared base, a client's state is only what it changed: its private space (copies and
//! allocations), its entries (which base objects it copied or made `become` something) and its
//! root overrides. That is what a delta holds, and nothing process-specific: no owner ids, no
//! incarnation, no image id. See [`format`](mod@format) for the layout.
//!
//! A delta names its base by the base's [content hash](crate::BaseHeap::content_hash) and
//! resumes over no other; resuming checks the whole file before it builds anything, so bad
//! input is a [`DeltaError`] with its byte offset, never a panic and never a half-built image.
//!
//! This module depends on the image and the base, not the other way round: it reads an image
//! and rebuilds one only through the image's own crate API (its private words, entries and
//! root overrides; [`Image`](crate::Image)'s constructor from checked parts), and a base
//! through the base's. The public entry points, [`Image::save_delta`](crate::Image::save_delta)
//! and [`BaseHeap::resume_delta`](crate::BaseHeap::resume_delta) and their siblings, are
//! defined with their types and hand over to this module's `write` and `read`.

#![forbid(unsafe_code)]

pub mod format;
pub(crate) mod read;
pub(crate) mod walk;
pub(crate) mod write;

/// Where it always was; the base's content hash is defined with the base.
pub use crate::base::BaseHash;
pub use format::FORMAT_VERSION;
pub use read::DeltaInfo;
pub use write::atomic_write;

/// Why a delta could not be saved, read or resumed. Every variant about the file's contents
/// carries the byte offset where the problem is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// Reading or writing failed.
    #[error("delta I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the delta magic number.
    #[error("not a cowheap delta: no `COWDELTA` magic number at byte 0")]
    BadMagic,
    /// The file was written by a format version this build does not read.
    #[error("delta format version {found} at byte {offset} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Where the version is.
        offset: u64,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file ends before `what` is complete.
    #[error("the delta is truncated: {what} at byte {offset} is incomplete")]
    Truncated {
        /// Where the incomplete part starts.
        offset: u64,
        /// What it is.
        what: &'static str,
    },
    /// The checksum does not match the contents: the file was damaged after it was written.
    #[error("the delta's checksum at byte {offset} does not match its contents")]
    Checksum {
        /// Where the checksum is.
        offset: u64,
    },
    /// The contents are inconsistent: something no image could have saved.
    #[error("corrupt delta at byte {offset}: {reason}")]
    Corrupt {
        /// Where the inconsistency was found.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The delta was saved over another base (another generation, or another image file).
    #[error("the delta was saved over base {found} (hash at byte {offset}), not over this base {expected}; a delta resumes only over the base it was saved over")]
    WrongBase {
        /// Where the hash is.
        offset: u64,
        /// This base's content hash.
        expected: BaseHash,
        /// The hash in the file.
        found: BaseHash,
    },
    /// The image holds more than a delta may: a root name or a number of root overrides past
    /// the format's limits ([`format::MAX_ROOT_NAME_BYTES`], [`format::MAX_ROOT_OVERRIDES`]),
    /// which exist so that a reader can bound a delta's length by its header.
    #[error("cannot save this image as a delta: {what} exceeds the format's limit of {limit}")]
    Unsavable {
        /// What is too large.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The heap refused the resumed image (no free image id, for instance).
    #[error(transparent)]
    Heap(#[from] crate::Error),
}

impl DeltaError {
    /// The byte offset of the problem, for errors about the file's contents.
    pub fn offset(&self) -> Option<u64> {
        match *self {
            DeltaError::BadMagic => Some(0),
            DeltaError::UnsupportedVersion { offset, .. }
            | DeltaError::Truncated { offset, .. }
            | DeltaError::Checksum { offset }
            | DeltaError::Corrupt { offset, .. }
            | DeltaError::WrongBase { offset, .. } => Some(offset),
            DeltaError::Io(_) | DeltaError::Unsavable { .. } | DeltaError::Heap(_) => None,
        }
    }
}
