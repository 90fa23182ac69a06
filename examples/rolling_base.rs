//! Rolling out a new base under load: image threads start image after image while the host
//! publishes a new base generation. Every image checks that all it reads comes from one
//! generation (each base tags each of its objects with its generation number), and the host
//! shows the old generation's memory returned once its last image has ended.
//!
//! `cargo run --release --example rolling_base`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cowheap::generations::Generations;
use cowheap::{BaseBuilder, BaseHeap, Format, Kernel, Value};

const OBJECTS: usize = 20_000;
const THREADS: usize = 4;

/// A base whose every array holds its generation number in slot 0, named by root `generation`.
fn base(generation: i64) -> BaseHeap {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    b.set_filler(k.nil).unwrap();
    let tag = Value::small_int(generation).unwrap();
    let mut objects = Vec::with_capacity(OBJECTS);
    for _ in 0..OBJECTS {
        let o = b.new_object(k.array, Format::Pointers, 4).unwrap();
        b.set_field(o, 0, tag).unwrap();
        objects.push(o);
    }
    let all = b.new_pointers(k.array, &objects).unwrap();
    b.add_root("all", all).unwrap();
    b.add_root("generation", tag).unwrap();
    b.seal().unwrap()
}

fn main() {
    let host = Arc::new(Generations::new(base(0)));
    let gen0 = host.watch();
    let gen0_bytes = host.current().heap.bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let mixed = Arc::new(AtomicU64::new(0));
    let per_gen = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (host, stop, mixed, per_gen) =
                (host.clone(), stop.clone(), mixed.clone(), per_gen.clone());
            std::thread::spawn(move || {
                let mut n = t as u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut image = host.new_image().unwrap();
                    let g = image.root("generation").unwrap().as_small_int().unwrap();
                    let all = image.root("all").unwrap();
                    for i in 0..2_000 {
                        n = n
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let k = (n >> 33) as usize % OBJECTS;
                        let o = image.read(all, k).unwrap();
                        if image.read(o, 0).unwrap().as_small_int() != Some(g) {
                            mixed.fetch_add(1, Ordering::Relaxed);
                        }
                        if i % 10 == 0 {
                            image.write(o, 1, Value::small_int(i).unwrap()).unwrap();
                        }
                    }
                    per_gen[g as usize].fetch_add(1, Ordering::Relaxed);
                    // The image ends here, and with it its hold on its generation.
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let published = Instant::now();
    let number = host.publish(base(1));
    println!(
        "published generation {number} while {THREADS} threads ran images; generation 0 ({} KiB) \
         stays alive for its running images",
        gen0_bytes / 1024
    );
    // The old generation goes when its last image ends: soon, since images are short here.
    while !gen0.is_freed() {
        assert!(
            published.elapsed() < Duration::from_secs(30),
            "generation 0 was never freed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let freed_after = published.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let (g0, g1) = (
        per_gen[0].load(Ordering::Relaxed),
        per_gen[1].load(Ordering::Relaxed),
    );
    println!(
        "generation 0 freed {:.1} ms after the new one was published (its last image ended)",
        freed_after.as_secs_f64() * 1e3
    );
    println!(
        "images run: {g0} on generation 0, {g1} on generation 1; reads from a mixed generation: {}",
        mixed.load(Ordering::Relaxed)
    );
    assert_eq!(
        mixed.load(Ordering::Relaxed),
        0,
        "an image saw two generations"
    );
    assert!(g0 > 0 && g1 > 0, "images ran on both generations");
    assert!(gen0.is_freed());
    assert_eq!(host.current().number, 1);
}
