//! One OS thread per image: the model cowheap is built for.

#![forbid(unsafe_code)]

use std::thread::JoinHandle;

use crate::{BaseHeap, Error, Image, Result};

/// Starts image threads with chosen settings. Small stacks make thousands of images practical.
#[derive(Clone, Debug)]
pub struct ImageThread {
    heap: BaseHeap,
    stack_size: Option<usize>,
    name: Option<String>,
}

impl ImageThread {
    /// Image threads of `heap` with the default stack size and no name
    /// ([`BaseHeap::image_thread`]).
    pub(crate) fn new(heap: BaseHeap) -> ImageThread {
        ImageThread {
            heap,
            stack_size: None,
            name: None,
        }
    }

    /// The stack size of the thread, in bytes.
    #[must_use = "a setter answers the changed builder; spawn with it"]
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The name of the thread, as shown by debuggers and panics.
    #[must_use = "a setter answers the changed builder; spawn with it"]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Creates an image, then runs `f` with it on a new thread. The image is dropped, and its
    /// copies, private objects and entries freed, when `f` returns.
    pub fn spawn<F, R>(self, f: F) -> Result<JoinHandle<R>>
    where
        F: FnOnce(&mut Image) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_owned(move |mut image| f(&mut image))
    }

    /// Like [`spawn`](Self::spawn), but `f` owns the image: it may hand it back (to verify it
    /// after every thread has finished, say) or pass it on to another thread.
    pub fn spawn_owned<F, R>(self, f: F) -> Result<JoinHandle<R>>
    where
        F: FnOnce(Image) -> R + Send + 'static,
        R: Send + 'static,
    {
        let image = self.heap.new_image()?;
        let mut builder = std::thread::Builder::new();
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        builder
            .spawn(move || f(image))
            .map_err(|e| Error::Spawn(std::sync::Arc::new(e)))
    }
}
