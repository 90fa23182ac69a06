//! What a base makes: images, new or resumed from a delta, and threads that run them. These
//! are the base's public entry points; the work is the image's ([`Image::new`]), the delta
//! reader's ([`delta::read`]) and the thread builder's.

use std::io::Read;

use super::BaseHeap;
use crate::delta::{self, DeltaError};
use crate::image::Image;
#[cfg(not(loom))]
use crate::thread::ImageThread;
use crate::Result;

impl BaseHeap {
    /// A new image over this base. It sees exactly the base until it writes.
    pub fn new_image(&self) -> Result<Image> {
        Image::new(self)
    }

    /// Resumes an image from a delta saved by [`Image::save_delta`] over this base: a new
    /// image (with its own id and incarnation) whose every read, identity hash, `identical`
    /// answer and later write is what the saved image's would have been.
    ///
    /// The whole delta is read and checked before anything is built: a delta saved over
    /// another base is refused with [`DeltaError::WrongBase`], and a truncated, damaged or
    /// inconsistent one with the error and byte offset of the first problem found. Refused,
    /// it leaves nothing behind.
    ///
    /// The stream is read no further than the header's counts allow (its private words, its
    /// entries, at most one per base object, and its root overrides, each bounded by the
    /// format's limits): memory grows with the bytes that arrive, never with what a header
    /// claims, and a stream longer than its header says is refused at the byte where it
    /// outgrows it, without reading the rest.
    pub fn resume_delta(&self, input: impl Read) -> std::result::Result<Image, DeltaError> {
        delta::read::resume(self, input)
    }

    /// [`resume_delta`](Self::resume_delta) from bytes in memory.
    pub fn resume_delta_bytes(&self, bytes: &[u8]) -> std::result::Result<Image, DeltaError> {
        delta::read::resume_bytes(self, bytes)
    }

    /// Runs `f` on a new OS thread with a fresh image of this heap.
    ///
    /// ```
    /// # use cowheap::{BaseBuilder, Kernel};
    /// let mut builder = BaseBuilder::new();
    /// let kernel = Kernel::install(&mut builder)?;
    /// let heap = builder.seal()?;
    /// let handle = heap.spawn_image(move |image| image.class_of(kernel.nil))?;
    /// assert_eq!(handle.join().unwrap()?, kernel.undefined_object);
    /// # Ok::<(), cowheap::Error>(())
    /// ```
    #[cfg(not(loom))]
    pub fn spawn_image<F, R>(&self, f: F) -> Result<std::thread::JoinHandle<R>>
    where
        F: FnOnce(&mut Image) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.image_thread().spawn(f)
    }

    /// A builder for image threads with a chosen stack size or name.
    #[cfg(not(loom))]
    pub fn image_thread(&self) -> ImageThread {
        ImageThread::new(self.clone())
    }
}
