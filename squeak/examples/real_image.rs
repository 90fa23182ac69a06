//! Many images, each on its own thread, over one real Smalltalk image: the mini Squeak 2.2
//! image from `$COWHEAP_IMAGES`, else `../shared/images/` beside the repository, loaded once
//! as the shared base.
//!
//! Each image finds the Symbols of the system through the special-objects array, reads a few
//! of them, then writes into a sample of the objects it can reach, which copies just those
//! objects for it alone. The summary shows how little each image costs next to the base.
//!
//! `cargo run --release --example real_image [IMAGES]`

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cowheap::{Format, Image, Value};
use cowheap_squeak::loader::{self, class_name, string_value};

/// Objects reachable from `root`, as `image` sees them, up to `limit`.
fn reachable(image: &mut Image, root: Value, limit: usize) -> cowheap::Result<Vec<Value>> {
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(v) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        if !v.is_object() || !seen.insert(v) {
            continue;
        }
        out.push(v);
        stack.push(image.class_of(v)?);
        let fields = match image.format_of(v)? {
            Format::Pointers => image.size_of(v)?,
            Format::Method => image.literal_count(v)?,
            _ => 0,
        };
        for i in 0..fields {
            stack.push(image.read(v, i)?);
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let images: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(32);
    // The images folder: `COWHEAP_IMAGES`, else `../shared/images` beside the repository.
    let dir = match std::env::var_os("COWHEAP_IMAGES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/images"),
    };
    let path = dir.join("mini-2.2-v3-le.image");
    let started = Instant::now();
    let loaded = loader::load_file(&path).map_err(|e| {
        format!(
            "{e} (the shared images are expected in {}: set COWHEAP_IMAGES to their folder, or \
             run `cargo xtask fetch-images` to see where to get them)",
            dir.display()
        )
    })?;
    let load_time = started.elapsed();
    let heap = loaded.heap;
    println!(
        "loaded {} ({} objects, format {}) in {:.1} ms; base heap {} KiB",
        path.file_name().unwrap_or_default().to_string_lossy(),
        loaded.info.object_count,
        loaded.info.format,
        load_time.as_secs_f64() * 1e3,
        heap.bytes() / 1024
    );

    let started = Instant::now();
    let results: Vec<(usize, usize, u64, String)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..images)
            .map(|t| {
                let heap = &heap;
                s.spawn(move || -> cowheap::Result<(usize, usize, u64, String)> {
                    let mut image = heap.new_image()?;
                    let root = image.root("specialObjects")?;
                    let objects = reachable(&mut image, root, usize::MAX)?;
                    // Read: the t-th Symbol this image reached.
                    let symbols: Vec<Value> = objects
                        .iter()
                        .copied()
                        .filter(|&o| {
                            heap.original_class(o)
                                .ok()
                                .and_then(|c| class_name(heap, c))
                                .as_deref()
                                == Some("Symbol")
                        })
                        .collect();
                    let symbol = symbols[(t * 31) % symbols.len()];
                    let text = string_value(heap, symbol).unwrap_or_default();
                    // Write: slot 0 of every 97th pointers object, offset by the image number.
                    let mut writes = 0;
                    for &o in objects.iter().skip(t).step_by(97) {
                        if image.format_of(o)? == Format::Pointers && image.size_of(o)? > 0 {
                            image.write(o, 0, Value::small_int(t as i64).unwrap_or(o))?;
                            writes += 1;
                        }
                    }
                    let private = image.stats().private_bytes;
                    Ok((objects.len(), writes, private, text))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("image thread panicked"))
            .collect::<cowheap::Result<_>>()
    })?;
    let elapsed = started.elapsed();

    for (t, (reached, writes, private, symbol)) in results.iter().enumerate().take(4) {
        println!(
            "image {t:>3}: reached {reached} objects, wrote {writes}, private {private} bytes, \
             read #{symbol}"
        );
    }
    if results.len() > 4 {
        println!("... and {} more images", results.len() - 4);
    }
    let writes: usize = results.iter().map(|r| r.1).sum();
    let private: u64 = results.iter().map(|r| r.2).sum();
    let census = heap.census();
    println!(
        "{images} images in {:.1} ms: {writes} writes; {} KiB of private copies in all \
         ({:.2}% of one base each); {} base objects forwarded",
        elapsed.as_secs_f64() * 1e3,
        private / 1024,
        100.0 * private as f64 / images.max(1) as f64 / heap.bytes() as f64,
        census.forwarders
    );
    Ok(())
}
