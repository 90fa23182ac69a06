//! Saving an image as its delta over its base: the public methods, which hand the image to
//! the delta writer ([`crate::delta`] owns the format).

use std::io::Write;
use std::path::Path;

use super::Image;
use crate::delta::{self, DeltaError};

impl Image {
    /// The image's delta over its base, as bytes: see [`save_delta`](Self::save_delta).
    pub fn delta_bytes(&self) -> Result<Vec<u8>, DeltaError> {
        delta::write::encode_image(self)
    }

    /// Writes this image's delta over its base: its private objects, its copies and `become`s
    /// of base objects, and its root overrides, with nothing process-specific, so that
    /// [`BaseHeap::resume_delta`](crate::BaseHeap::resume_delta) over the same base, in any
    /// process, makes an image that behaves exactly as this one. Answers the bytes written.
    ///
    /// The delta is assembled in memory and written with one `write_all`: a writer that fails
    /// part-way leaves a prefix, which resuming refuses as truncated. To replace a file
    /// safely, use [`save_delta_to`](Self::save_delta_to).
    pub fn save_delta(&self, out: impl Write) -> Result<u64, DeltaError> {
        delta::write::save(self, out)
    }

    /// Saves this image's delta to `path` crash-safely (see [`atomic_write`](delta::atomic_write)):
    /// after a crash or a failed write, `path` holds either its old contents or the whole new
    /// delta.
    pub fn save_delta_to(&self, path: impl AsRef<Path>) -> Result<u64, DeltaError> {
        delta::write::save_to(self, path.as_ref())
    }
}
