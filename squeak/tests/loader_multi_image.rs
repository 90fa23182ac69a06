//! A real multi-image run: 64 images, each on its own thread, share the loaded mini Squeak
//! image. None loads anything itself. Each walks the object graph from the special-objects
//! array, copies-on-write a sample of what it reached, and then every image checks that it
//! sees its own writes and none of the others'.

mod images_common;
mod loader_common;

use std::collections::{HashMap, HashSet};

use cowheap::{Format, Image, Value};
use loader_common::load;

const IMAGES: usize = 64;
/// Objects each image writes.
const SAMPLE: usize = 200;

/// Everything reachable from `root` as `image` sees it: slots, literals and classes.
fn walk(image: &mut Image, root: Value) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(v) = stack.pop() {
        if !v.is_object() || !seen.insert(v) {
            continue;
        }
        out.push(v);
        stack.push(image.class_of(v).unwrap());
        let fields = match image.format_of(v).unwrap() {
            Format::Pointers => image.size_of(v).unwrap(),
            Format::Method => image.literal_count(v).unwrap(),
            Format::Words | Format::Bytes => 0,
        };
        for i in 0..fields {
            stack.push(image.read(v, i).unwrap());
        }
    }
    out
}

/// What one image did in the first phase.
struct Phase1 {
    image: Image,
    root: Value,
    reached: usize,
    /// The last value this image stored in slot 0 of each object it wrote.
    last: HashMap<Value, Value>,
}

#[test]
fn sixty_four_images_share_the_mini_image_and_stay_isolated() {
    if loader_common::skip(&["mini-2.2-v3-le.image"]) {
        return;
    }
    let loaded = load("mini-2.2-v3-le.image");
    let heap = loaded.heap;
    let checksum = heap.checksum();

    // Phase 1: each image, on its own thread, walks the graph and COWs a sample.
    let phase1: Vec<Phase1> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..IMAGES)
            .map(|t| {
                let heap = &heap;
                s.spawn(move || {
                    let mut image = heap.new_image().unwrap();
                    let root = image.root("specialObjects").unwrap();
                    let objects = walk(&mut image, root);
                    // Pointer objects with at least one slot, picked by stride so that images
                    // overlap on some objects and not on others.
                    let candidates: Vec<Value> = objects
                        .iter()
                        .copied()
                        .filter(|&o| {
                            image.format_of(o).unwrap() == Format::Pointers
                                && image.size_of(o).unwrap() > 0
                        })
                        .collect();
                    let mut last = HashMap::new();
                    for k in 0..SAMPLE {
                        let obj = candidates[(t * 7919 + k * 104_729) % candidates.len()];
                        let value = Value::small_int((t * 1_000_000 + k) as i64).unwrap();
                        image.write(obj, 0, value).unwrap();
                        last.insert(obj, value);
                    }
                    // Read your writes.
                    for (&obj, &value) in &last {
                        assert_eq!(image.read(obj, 0).unwrap(), value);
                    }
                    // A private object pointing at a copied base object sees the copy.
                    let (&some, &value) = last.iter().next().unwrap();
                    let array = image.class_of(root).unwrap();
                    let holder = image.new_pointers(array, &[some]).unwrap();
                    let via = image.read(holder, 0).unwrap();
                    assert!(image.identical(via, some).unwrap());
                    assert_eq!(image.read(via, 0).unwrap(), value);
                    assert_eq!(image.stats().copies as usize, last.len());
                    Phase1 {
                        image,
                        root,
                        reached: objects.len(),
                        last,
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let reached: Vec<usize> = phase1.iter().map(|p| p.reached).collect();
    assert!(
        reached.iter().all(|&n| n == reached[0] && n > 15_000),
        "{reached:?}"
    );
    let written: Vec<(usize, Value)> = phase1
        .iter()
        .enumerate()
        .flat_map(|(t, p)| p.last.keys().map(move |&o| (t, o)))
        .collect();
    let distinct: HashSet<Value> = written.iter().map(|w| w.1).collect();
    assert!(
        distinct.len() > SAMPLE,
        "the images must not all write the same objects"
    );
    let census = heap.census();
    assert_eq!(census.forwarders, distinct.len());
    assert_eq!(census.entries, written.len());

    // Phase 2: each image, again on its own thread, checks isolation: every object another
    // image wrote and this one did not still holds its base contents here, and its own
    // writes are intact.
    std::thread::scope(|s| {
        for (t, mut p) in phase1.into_iter().enumerate() {
            let (heap, written) = (&heap, &written);
            s.spawn(move || {
                let image = &mut p.image;
                let mut others = 0;
                for &(u, obj) in written {
                    if u == t || p.last.contains_key(&obj) {
                        continue;
                    }
                    let original = heap.original_field(obj, 0).unwrap();
                    let seen = image.read(obj, 0).unwrap();
                    assert!(
                        image.identical(seen, original).unwrap(),
                        "image {t} sees image {u}'s write to {obj:?}"
                    );
                    others += 1;
                }
                assert!(others > 0);
                for (&obj, &value) in &p.last {
                    assert_eq!(image.read(obj, 0).unwrap(), value);
                }
                // The graph is still walkable (writes replaced some references by integers).
                assert!(walk(image, p.root).len() > p.reached / 2);
            });
        }
    });

    // The images are gone, and with their last entries every forwarder was taken down: the
    // base reads as never written, and the memory is returned.
    assert!(!distinct.is_empty());
    assert_eq!(heap.census(), cowheap::Census::default());
    heap.reclaim();
    assert_eq!(heap.checksum(), checksum, "the base never changes");
    // A fresh image sees the base.
    let mut fresh = heap.new_image().unwrap();
    for &obj in distinct.iter().take(100) {
        let original = heap.original_field(obj, 0).unwrap();
        let seen = fresh.read(obj, 0).unwrap();
        assert!(fresh.identical(seen, original).unwrap());
    }
}
