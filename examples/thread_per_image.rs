//! N images, each on its own OS thread, over one shared base.
//!
//! The base holds a linked list of `Node`s. Every image rewrites its own share of the nodes
//! and the first few nodes, which all images race to copy (copy-on-write), waits until every other image has done the same, then walks the whole
//! list and checks that it sees its own writes and the base everywhere else: no image can
//! observe another image's writes. One node per image is also redirected with
//! `become_forward`, and the walk must arrive at the replacement through the base's `next`
//! pointers. At the end the base is unchanged and every image's slots are gone.
//!
//! Run with `cargo run --release --example thread_per_image`.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use cowheap::{BaseBuilder, BaseHeap, Image, ImageStats, Kernel, Value};

const IMAGES: usize = 16;
const NODES: usize = 20_000;
/// The first `HOT` nodes are written by every image, so images race to copy the same objects.
const HOT: usize = 64;
/// Passes over the list after the barrier, to keep all threads reading concurrently.
const WALKS: usize = 5;

fn int(i: i64) -> Value {
    Value::small_int(i).expect("small enough for a SmallInteger")
}

/// A base with a class `Node` (value, next) and a list of `NODES` nodes rooted at `list`.
fn build_base() -> cowheap::Result<(BaseHeap, Kernel, Value)> {
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder)?;
    let node_class = kernel.define_class(&mut builder, "Node", kernel.object)?;
    // Build back to front so each node can point at the next one.
    let mut next = kernel.nil;
    for i in (0..NODES).rev() {
        next = builder.new_pointers(node_class, &[int(i as i64), next])?;
    }
    builder.add_root("list", next)?;
    Ok((builder.seal()?, kernel, node_class))
}

/// The value image `tag` stores into node `i`, if that node is its share: the hot nodes,
/// which every image writes, and every `IMAGES`th node after them.
fn written_by(tag: usize, i: usize) -> Option<i64> {
    (i < HOT || i % IMAGES == tag).then(|| (tag as i64 + 1) * 1_000_000 + i as i64)
}

/// One image's whole life: write, wait for everyone, verify isolation.
fn run_image(
    image: &mut Image,
    tag: usize,
    node_class: Value,
    barrier: &Barrier,
) -> cowheap::Result<ImageStats> {
    // 1. Write my share of the nodes. Each first write copies that node for me alone.
    let mut node = image.root("list")?;
    let mut i = 0;
    let mut replaced = None;
    while node != image.heap().filler() {
        if let Some(v) = written_by(tag, i) {
            image.write(node, 0, int(v))?;
        }
        // Node `tag` is also replaced wholesale by a private node, via become.
        if i == tag {
            let next = image.read(node, 1)?;
            let replacement = image.new_pointers(node_class, &[int(-(tag as i64) - 1), next])?;
            image.become_forward(node, replacement)?;
            replaced = Some(replacement);
        }
        node = image.read(node, 1)?;
        i += 1;
    }
    assert_eq!(i, NODES);

    // 2. Wait until every image has written its share (and so installed forwarders all over
    //    the list), then check that I see exactly the base plus my own writes.
    barrier.wait();
    for _ in 0..WALKS {
        let mut node = image.root("list")?;
        let mut i = 0;
        while node != image.heap().filler() {
            let expected = if i == tag {
                // The walk reached the node through a base `next` pointer and was sent on to
                // my replacement: identity follows become.
                assert!(image.identical(node, replaced.expect("replaced"))?);
                -(tag as i64) - 1
            } else {
                written_by(tag, i).unwrap_or(i as i64)
            };
            let seen = image.read(node, 0)?.as_small_int();
            assert_eq!(
                seen,
                Some(expected),
                "image {tag} node {i}: isolation violated"
            );
            node = image.read(node, 1)?;
            i += 1;
        }
        assert_eq!(i, NODES);
    }
    Ok(image.stats())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (heap, _kernel, node_class) = build_base()?;
    let checksum = heap.checksum();
    println!(
        "base: {} objects, {} KiB; starting {IMAGES} image threads",
        heap.object_count(),
        heap.bytes() / 1024
    );

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(IMAGES));
    let mut threads = Vec::new();
    for tag in 0..IMAGES {
        let barrier = Arc::clone(&barrier);
        // `image_thread` creates the image, moves it onto a new thread, and drops it (freeing
        // its copies and slots) when the closure returns. Small stacks are plenty.
        let handle = heap
            .image_thread()
            .name(format!("image-{tag}"))
            .stack_size(256 * 1024)
            .spawn(move |image| run_image(image, tag, node_class, &barrier))?;
        threads.push(handle);
    }

    let mut total = ImageStats::default();
    for (tag, handle) in threads.into_iter().enumerate() {
        let stats = handle.join().expect("image thread panicked")?;
        // Economy: each node of my share was copied exactly once, on my first write to it.
        // (The node I replaced is in my share, so its copy is the one that became forwarded.)
        let share = (0..NODES).filter(|&i| written_by(tag, i).is_some()).count() as u64;
        assert_eq!(stats.copies, share, "image {tag} copied more than it wrote");
        assert_eq!(stats.becomes, 1);
        total += stats;
    }
    let elapsed = started.elapsed();

    // Teardown: every image is gone, its slots are cleared, and the base never changed.
    assert_eq!(heap.live_images(), 0);
    let census = heap.census();
    assert_eq!(census.entries, 0, "dropped images left slot-table entries");
    assert_eq!(heap.checksum(), checksum, "the base heap changed");

    println!(
        "{IMAGES} images x {NODES} nodes: {} copies, {} forwarders installed, {} entries added, \
         {} lookups, {} fix-ups in {:.2?}",
        total.copies,
        total.forwarders_installed,
        total.entries_added,
        total.lookups,
        total.fixups,
        elapsed
    );
    println!(
        "after teardown: {} forwarders, {} live entries, base checksum unchanged",
        census.forwarders, census.entries
    );
    println!("ok: every image saw exactly the base plus its own writes");
    Ok(())
}
