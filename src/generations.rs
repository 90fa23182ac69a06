//! Base generations: how a host rolls out a new base (a security fix, a new release) without
//! stopping the clients that run on the old one.
//!
//! The current base is an [`arc_swap::ArcSwap`]: new images start on whatever generation is
//! current when they start, and publishing a new one is one atomic pointer swap. Readers of the
//! current generation never wait for a publisher (arc-swap's loads are lock-free, and wait-free
//! all but once in `usize::MAX / 4` loads); running images never touch it at all: each holds
//! its own [`BaseHeap`] (an `Arc`) and keeps its generation until it ends, so a publish can
//! neither block nor disturb one. A generation's memory goes when the host
//! no longer holds it and its last image ends: the `Arc` count is the whole mechanism. This
//! sits outside the loom-checked kernel on purpose: arc-swap is invisible to loom, and nothing
//! here is on an image's read or write path.
//!
//! A delta saved over generation g resumes only over g (its base hash says so): migrating a
//! client's delta to a new generation is out of scope.

#![forbid(unsafe_code)]

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::base::WeakBase;
use crate::{BaseHeap, DeltaError, Image, Result};

/// One published base, and its number in publication order (0 for the first).
#[derive(Debug)]
pub struct Generation {
    /// Publication order: 0, 1, 2, ...
    pub number: u64,
    /// The base.
    pub heap: BaseHeap,
}

/// A host's current base generation.
#[derive(Debug)]
pub struct Generations {
    current: ArcSwap<Generation>,
}

/// Watches whether a generation's base is still alive (held by the host or by an image),
/// without keeping it alive: for a host that reports when an old generation's memory is
/// returned.
#[derive(Clone, Debug)]
pub struct GenerationWatch {
    number: u64,
    heap: WeakBase,
}

impl GenerationWatch {
    /// The generation watched.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// True once the base has been freed: no image runs on it and nobody holds it.
    pub fn is_freed(&self) -> bool {
        self.heap.is_freed()
    }
}

impl Generations {
    /// Starts with `heap` as generation 0.
    pub fn new(heap: BaseHeap) -> Generations {
        Generations {
            current: ArcSwap::from_pointee(Generation { number: 0, heap }),
        }
    }

    /// The current generation. Never waits for a publisher; the answer stays valid (and its base alive) as
    /// long as it is held, whatever is published meanwhile.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// A new image on the current generation. It keeps that base until it ends.
    pub fn new_image(&self) -> Result<Image> {
        self.current.load().heap.new_image()
    }

    /// Resumes a delta over the current generation: refused with [`DeltaError::WrongBase`]
    /// if it was saved over another one.
    pub fn resume_delta(&self, input: impl std::io::Read) -> Result<Image, DeltaError> {
        self.current.load().heap.resume_delta(input)
    }

    /// Publishes `heap` as the next generation and answers its number. New images start on
    /// it from now on; running images are not disturbed, and the previous generation is freed
    /// when its last image ends (unless someone still holds it).
    pub fn publish(&self, heap: BaseHeap) -> u64 {
        // Only publishers race here (readers never retry), and a lost race just renumbers.
        let mut published = 0;
        self.current.rcu(|old| {
            published = old.number + 1;
            Generation {
                number: published,
                heap: heap.clone(),
            }
        });
        published
    }

    /// A watch on the current generation's base.
    pub fn watch(&self) -> GenerationWatch {
        let g = self.current.load();
        GenerationWatch {
            number: g.number,
            heap: g.heap.downgrade(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BaseBuilder, Kernel};

    fn base(extra: usize) -> BaseHeap {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b).unwrap();
        for _ in 0..extra {
            b.new_object(k.array, crate::Format::Pointers, 1).unwrap();
        }
        b.seal().unwrap()
    }

    #[test]
    fn images_keep_their_generation_and_the_old_one_goes_with_its_last_image() {
        let host = Generations::new(base(0));
        let old = host.new_image().unwrap();
        let watch = host.watch();
        let mut delta = Vec::new();
        old.save_delta(&mut delta).unwrap();
        assert_eq!(host.publish(base(3)), 1);
        let new = host.new_image().unwrap();
        assert_ne!(old.heap().content_hash(), new.heap().content_hash());
        assert_eq!(old.heap().object_count() + 3, new.heap().object_count());
        assert!(matches!(
            host.resume_delta(&delta[..]),
            Err(DeltaError::WrongBase { .. })
        ));
        assert!(!watch.is_freed(), "an image still runs on generation 0");
        drop(old);
        assert!(watch.is_freed(), "its last image ended");
        assert_eq!(host.current().number, 1);
        drop(new);
    }
}
