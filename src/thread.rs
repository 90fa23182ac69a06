//! One OS thread per image: the model cowheap is built for.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use crate::{BaseHeap, Error, Image, Result};

/// Memory maps each image thread takes: its stack and guard page, and the signal stack and
/// guard page the Rust runtime gives every thread (measured: 4).
pub const MAPS_PER_THREAD: usize = 4;

/// Maps kept free for everything else a process maps as it runs (heap spaces, the allocator).
pub const MAPS_SLACK: usize = 1024;

/// Names a limit to assume instead of `/proc/sys/vm/max_map_count` (for tests and for
/// systems where the file lies).
pub const MAX_MAP_COUNT_VAR: &str = "COWHEAP_MAX_MAP_COUNT";

/// Image threads started by [`ImageThread`] and not yet finished, in this process.
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

/// How many image threads this process may run at once: what Linux's cap on a process's
/// memory maps (`vm.max_map_count`, 65,530 by default) leaves, after the maps in use when
/// the first image thread started and [`MAPS_SLACK`]. When the maps run out, the Rust
/// runtime aborts the whole process in the new thread ("failed to set up alternative stack
/// guard page") instead of failing the spawn, so a spawn past this is refused first. `None`
/// (no cap) where the limit cannot be read.
fn thread_budget() -> Option<usize> {
    static BUDGET: OnceLock<Option<usize>> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let limit: usize = match std::env::var(MAX_MAP_COUNT_VAR) {
            Ok(v) => v.trim().parse().ok()?,
            Err(_) => std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .ok()?
                .trim()
                .parse()
                .ok()?,
        };
        let in_use = std::fs::read_to_string("/proc/self/maps")
            .map(|t| t.lines().count())
            .unwrap_or(0);
        Some(budget(limit, in_use))
    })
}

/// Image threads that fit in `limit` maps with `in_use` taken.
fn budget(limit: usize, in_use: usize) -> usize {
    limit.saturating_sub(in_use.saturating_add(MAPS_SLACK)) / MAPS_PER_THREAD
}

/// A place among the live image threads, given back when the thread's work ends (or
/// unwinds), or at once if the spawn fails.
struct Place(&'static AtomicUsize);

impl Place {
    /// A place in `live` if fewer than `budget` are taken.
    fn take(live: &'static AtomicUsize, budget: Option<usize>) -> Option<Place> {
        // Relaxed: a count; the places order no other memory.
        live.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            if budget.is_none_or(|b| n < b) {
                n.checked_add(1)
            } else {
                None
            }
        })
        .ok()
        .map(|_| Place(live))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // Relaxed: as in `take`.
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn refused(message: String) -> Error {
    Error::Spawn(Arc::new(std::io::Error::other(message)))
}

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
        let mut builder = std::thread::Builder::new();
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        if let Some(name) = self.name {
            // `Builder::spawn` panics on one.
            if name.contains('\0') {
                return Err(Error::Spawn(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a thread name may not contain a NUL byte",
                ))));
            }
            builder = builder.name(name);
        }
        let budget = thread_budget();
        let place = Place::take(&LIVE_THREADS, budget).ok_or_else(|| {
            refused(format!(
                "{} image threads are running, as many as this process's memory maps allow \
                 ({MAPS_PER_THREAD} per thread under vm.max_map_count); raise it or run fewer",
                budget.unwrap_or(0)
            ))
        })?;
        let image = self.heap.new_image()?;
        builder
            .spawn(move || {
                let _place = place;
                f(image)
            })
            .map_err(|e| Error::Spawn(Arc::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_what_the_maps_leave_after_the_slack() {
        assert_eq!(budget(65_530, 100), (65_530 - 100 - MAPS_SLACK) / 4);
        assert_eq!(budget(1_000, 100), 0);
        assert_eq!(budget(usize::MAX, usize::MAX), 0);
        assert_eq!(budget(usize::MAX, 0), (usize::MAX - MAPS_SLACK) / 4);
    }

    #[test]
    fn places_run_out_at_the_budget_and_come_back_when_dropped() {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        let places: Vec<Place> = (0..3)
            .map(|_| Place::take(&LIVE, Some(3)).unwrap())
            .collect();
        assert!(Place::take(&LIVE, Some(3)).is_none());
        drop(places);
        assert_eq!(LIVE.load(Ordering::Relaxed), 0);
        assert!(Place::take(&LIVE, Some(3)).is_some());
        LIVE.store(usize::MAX, Ordering::Relaxed);
        assert!(Place::take(&LIVE, Some(usize::MAX)).is_none());
        assert!(Place::take(&LIVE, None).is_none(), "the count never wraps");
    }
}
