//! The heap the interpreter runs over, named once: every file says `Heap`, never the heap
//! type itself, so that the same interpreter code compiles, monomorphic, over cowheap's
//! shared [`Image`](cowheap::Image) (the default) or, with the `plain-heap` feature, over a
//! plain private heap with no sharing (`cowheap::plain::PlainHeap`), which measures what the
//! sharing costs (BENCHMARKS.md, "The price of sharing").

/// The heap one interpreter runs in: a copy-on-write [`Image`](cowheap::Image) over a shared
/// base.
#[cfg(not(feature = "plain-heap"))]
pub type Heap = cowheap::Image;

/// The heap one interpreter runs in: a plain private copy of the base
/// (`cowheap::plain::PlainHeap`), built with the `plain-heap` feature.
#[cfg(feature = "plain-heap")]
pub type Heap = cowheap::plain::PlainHeap;

/// A new [`Heap`] over `base`: an image that sees exactly the base until it writes.
#[cfg(not(feature = "plain-heap"))]
pub fn new_heap(base: &cowheap::BaseHeap) -> Result<Heap, cowheap::Error> {
    base.new_image()
}

/// A new [`Heap`] over `base`: a private copy of every base object.
#[cfg(feature = "plain-heap")]
pub fn new_heap(base: &cowheap::BaseHeap) -> Result<Heap, cowheap::Error> {
    cowheap::plain::PlainHeap::new(base)
}
