//! Memory: bytes per empty image, and the memory amplification of scattered small writes
//! (bytes the design allocates or copies, over bytes actually written) for cowheap, each
//! alternative, and page copy-on-write after `fork()`. Heap bytes are counted by a counting
//! global allocator; page COW by the child's `Private_Dirty` in `/proc/PID/smaps`.
//! Not timed, so not criterion: it prints a table and writes
//! `target/cowheap-bench/memory.json`.
//!
//! `cargo bench --bench memory`

mod support;

use std::sync::Arc;

use cowheap::Value;
use support::alt::{DeepClone, GlobalImage, GlobalMap, Overlay, Persistent, Store};
use support::fork::ForkRegion;
use support::plain::PlainHeap;
use support::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes that `f` leaves allocated, with its result.
fn retained<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let before = Counting::live();
    let out = f();
    (out, Counting::live() - before)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let g = support::generate(support::pick(300_000, 20_000));
    let plain = PlainHeap::from_base(&g.heap);
    let n_images = support::pick(4096, 256);

    // Bytes per empty image.
    let mut images = Vec::with_capacity(n_images);
    let (_, bytes) = retained(|| {
        for _ in 0..n_images {
            images.push(g.heap.new_image().unwrap());
        }
    });
    let cow_image = bytes as f64 / n_images as f64 + std::mem::size_of::<cowheap::Image>() as f64;
    drop(images);
    let shared = Arc::new(plain.clone());
    let mut overlays = Vec::with_capacity(n_images);
    let (_, bytes) = retained(|| {
        for _ in 0..n_images {
            overlays.push(Overlay::new(shared.clone()));
        }
    });
    let overlay_image = bytes as f64 / n_images as f64 + std::mem::size_of::<Overlay>() as f64;
    drop(overlays);
    let pers = Persistent::from_plain(&plain);
    let mut clones = Vec::with_capacity(n_images);
    let (_, bytes) = retained(|| {
        for _ in 0..n_images {
            clones.push(pers.clone());
        }
    });
    let pers_image = bytes as f64 / n_images as f64 + std::mem::size_of::<Persistent>() as f64;
    drop(clones);
    let global_image = std::mem::size_of::<GlobalImage>() as f64;
    let deep_image = plain.words.len() as f64 * 8.0;
    println!(
        "bytes per empty image (base: {} objects, {} bytes):",
        g.heap.object_count(),
        g.heap.bytes()
    );
    println!("  cowheap          {cow_image:>12.0}");
    println!("  overlay map      {overlay_image:>12.0}");
    println!("  global lock      {global_image:>12.0}");
    println!("  persistent (im)  {pers_image:>12.0}");
    println!("  deep clone       {deep_image:>12.0}");

    // Scattered small writes: one 8-byte slot in each of `k` distinct random small objects.
    let k = support::pick(2000, 200);
    let mut smalls: Vec<support::Target> = support::targets(&g, usize::MAX)
        .into_iter()
        .filter(|t| t.slots <= 10)
        .collect();
    smalls.truncate(k);
    let written = (smalls.len() * 8) as f64;
    let seven = Value::small_int(7).unwrap();

    let mut image = g.heap.new_image().unwrap();
    let (_, cow_bytes) = retained(|| {
        for t in &smalls {
            image.write(t.value, 0, seven).unwrap();
        }
    });
    let cow_copied = image.stats().private_bytes as f64;
    let census = g.heap.census();
    drop(image);

    let mut overlay = Overlay::new(shared.clone());
    let (_, overlay_bytes) = retained(|| {
        for t in &smalls {
            overlay
                .write_at(t.index as usize, 0, seven.to_bits())
                .unwrap();
        }
    });
    drop(overlay);
    let gm = GlobalMap::new(plain.clone());
    let mut global = GlobalImage::new(gm.clone(), 0);
    let (_, global_bytes) = retained(|| {
        for t in &smalls {
            global
                .write_at(t.index as usize, 0, seven.to_bits())
                .unwrap();
        }
    });
    drop(global);
    let mut p = pers.clone();
    let (_, pers_bytes) = retained(|| {
        for t in &smalls {
            p.write_at(t.index as usize, 0, seven.to_bits()).unwrap();
        }
    });
    drop(p);
    let (deep, deep_bytes) = retained(|| {
        let mut d = DeepClone(plain.clone());
        for t in &smalls {
            d.write_at(t.index as usize, 0, seven.to_bits()).unwrap();
        }
        d
    });
    drop(deep);
    let region = ForkRegion::new(&plain.words);
    let offsets: Vec<usize> = smalls.iter().map(|t| t.index as usize + 2).collect();
    let pages = region.scattered_writes(&offsets);
    let mut distinct: Vec<usize> = offsets.iter().map(|w| w * 8 / 4096).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let page_bytes = (pages * 4096) as f64;

    let rows = [
        ("cowheap (allocated)", cow_bytes as f64),
        ("cowheap (object copies only)", cow_copied),
        ("overlay map", overlay_bytes as f64),
        ("global lock", global_bytes as f64),
        ("persistent (im)", pers_bytes as f64),
        ("deep clone", deep_bytes as f64),
        ("page COW after fork", page_bytes),
    ];
    println!(
        "scattered writes: {} x 8 bytes into distinct small objects ({} forwarders installed; \
         page COW: {pages} pages copied, {} distinct pages written):",
        smalls.len(),
        census.forwarders,
        distinct.len()
    );
    for (name, bytes) in rows {
        println!(
            "  {name:<30} {bytes:>12.0} bytes  amplification {:>8.1}x",
            bytes / written
        );
    }
    let amp = |b: f64| b / written;
    support::write_json(
        "memory",
        &serde_json::json!({
            "base_objects": g.heap.object_count(), "base_bytes": g.heap.bytes(),
            "images_measured": n_images,
            "bytes_per_empty_image": {
                "cowheap": cow_image, "overlay_map": overlay_image, "global_lock": global_image,
                "persistent_im": pers_image, "deep_clone": deep_image,
            },
            "scattered_writes": smalls.len(), "bytes_written": written,
            "page_cow_pages_copied": pages, "page_cow_distinct_pages": distinct.len(),
            "bytes": {
                "cowheap_allocated": cow_bytes, "cowheap_copies": cow_copied,
                "overlay_map": overlay_bytes, "global_lock": global_bytes,
                "persistent_im": pers_bytes, "deep_clone": deep_bytes, "page_cow": page_bytes,
            },
            "amplification": {
                "cowheap_allocated": amp(cow_bytes as f64), "cowheap_copies": amp(cow_copied),
                "overlay_map": amp(overlay_bytes as f64), "global_lock": amp(global_bytes as f64),
                "persistent_im": amp(pers_bytes as f64), "deep_clone": amp(deep_bytes as f64),
                "page_cow": amp(page_bytes),
            },
        }),
    );
}
