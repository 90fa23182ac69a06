//! What the models share: the tiny base, the model runner with its preemption bound, and the
//! setup steps several models take before their race.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cowheap::{BaseBuilder, BaseHeap, Format, HeapConfig, Image, Value};
use loom::thread;

pub(crate) fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

/// A tiny base: a class, `z` and `y` with two slots each. z = [0, y], y = [10, z].
pub(crate) struct Base {
    pub(crate) heap: BaseHeap,
    pub(crate) z: Value,
    pub(crate) y: Value,
}

pub(crate) fn base(max_images: usize) -> Base {
    let mut b = BaseBuilder::new();
    let class = b.new_object(int(0), Format::Pointers, 0).unwrap();
    b.set_class(class, class).unwrap();
    let z = b.new_object(class, Format::Pointers, 2).unwrap();
    let y = b.new_object(class, Format::Pointers, 2).unwrap();
    b.set_field(z, 0, int(0)).unwrap();
    b.set_field(z, 1, y).unwrap();
    b.set_field(y, 0, int(10)).unwrap();
    b.set_field(y, 1, z).unwrap();
    let heap = b
        .seal_with(HeapConfig::default().max_images(max_images))
        .unwrap();
    Base { heap, z, y }
}

/// Runs `f` under loom with at most `bound` preemptions (`None`: exhaustive) unless
/// LOOM_MAX_PREEMPTIONS overrides it, and reports how many interleavings were explored.
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(name: &str, bound: Option<usize>, f: F) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = bound;
    }
    let bound = builder.preemption_bound;
    let start = Instant::now();
    let before = RUNS.load(Ordering::Relaxed);
    builder.check(move || {
        RUNS.fetch_add(1, Ordering::Relaxed);
        f();
    });
    println!(
        "model {name}: preemption bound {bound:?}, {} interleavings, {:.1?}",
        RUNS.load(Ordering::Relaxed) - before,
        start.elapsed()
    );
}

/// A new image of `heap`, waiting (yielding to loom) until an id is free.
pub(crate) fn wait_for_image(heap: &BaseHeap) -> Image {
    loop {
        match heap.new_image() {
            Ok(img) => return img,
            Err(_) => thread::yield_now(),
        }
    }
}

pub(crate) fn spawn<R: Send + 'static>(
    image: Image,
    f: impl FnOnce(&mut Image) -> R + Send + 'static,
) -> thread::JoinHandle<(Image, R)> {
    thread::spawn(move || {
        let mut image = image;
        let r = f(&mut image);
        (image, r)
    })
}

/// Images 1..=n store n into z on their own threads at once; once all are done, each must
/// still read its own value (no insert lost). Answers the images, still alive.
pub(crate) fn racing_writers(b: &Base, n: i64) -> Vec<Image> {
    let z = b.z;
    let handles: Vec<_> = (1..=n)
        .map(|n| {
            spawn(b.heap.new_image().unwrap(), move |img| {
                img.write(z, 0, int(n)).unwrap();
            })
        })
        .collect();
    let mut images: Vec<Image> = handles.into_iter().map(|h| h.join().unwrap().0).collect();
    for (n, img) in images.iter_mut().enumerate() {
        assert_eq!(
            img.read(z, 0).unwrap(),
            int(n as i64 + 1),
            "image {n} lost its entry"
        );
    }
    images
}

pub(crate) fn b_hash(img: &Image, z: Value) -> u32 {
    img.heap().original_hash(z).unwrap()
}

/// A new image that has stored `n` into z (before any race: a setup step).
pub(crate) fn wrote_z(b: &Base, n: i64) -> Image {
    let mut img = b.heap.new_image().unwrap();
    img.write(b.z, 0, int(n)).unwrap();
    img
}
