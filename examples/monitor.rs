//! A monitoring thread reads live statistics of every image while the images run.
//!
//! Eight long-lived images run workloads with different write rates over a shared base, and a
//! visitor thread keeps opening short-lived images and closing them again. Meanwhile a monitor
//! thread calls [`BaseHeap::image_stats`](cowheap::BaseHeap::image_stats) every 100 ms: a
//! snapshot of each live image's counters (copies, private bytes, forwarder look-ups, ...),
//! read without stopping or slowing anyone. Each image keeps its own counters in a
//! cache-padded block only it writes, so the monitor costs the images nothing.
//!
//! The host also counts each image's operations itself, in cache-padded atomics of its own:
//! cowheap does not count plain reads and writes, to keep them cheap.
//!
//! The monitor checks that every long-lived image is in every snapshot, that counters only grow
//! while an image lives, that the images made progress between snapshots, and that nothing is
//! left once the images end.
//!
//! Run with `cargo run --release --example monitor`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam::utils::CachePadded;

use cowheap::{BaseBuilder, BaseHeap, Format, Image, ImageStats, Kernel, Value};

const IMAGES: usize = 8;
const OBJECTS: usize = 20_000;
const SLOTS: usize = 4;
const RUN_FOR: Duration = Duration::from_millis(1500);
const PERIOD: Duration = Duration::from_millis(100);

fn int(i: i64) -> Value {
    Value::small_int(i).expect("small enough for a SmallInteger")
}

/// A base of `OBJECTS` small Arrays, all reachable from the root `world`.
fn build_base() -> cowheap::Result<(BaseHeap, Kernel, Value)> {
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder)?;
    let objects = (0..OBJECTS)
        .map(|i| kernel.new_array(&mut builder, &[int(i as i64); SLOTS]))
        .collect::<cowheap::Result<Vec<_>>>()?;
    let world = kernel.new_array(&mut builder, &objects)?;
    builder.add_root("world", world)?;
    Ok((builder.seal()?, kernel, world))
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

/// A workload: random reads, writes at a rate set by `writes_per_1024`, and allocations.
/// Runs `batch` operations per call; counts them in `ops`.
fn work(
    image: &mut Image,
    world: Value,
    kernel: &Kernel,
    rng: &mut Xorshift,
    writes_per_1024: usize,
    batch: usize,
    ops: &AtomicU64,
) -> cowheap::Result<()> {
    for _ in 0..batch {
        let obj = image.read(world, rng.next() % OBJECTS)?;
        let slot = rng.next() % SLOTS;
        let r = rng.next() % 1024;
        if r < writes_per_1024 {
            let v = image.read(obj, slot)?.as_small_int().unwrap_or(0);
            image.write(obj, slot, int(v + 1))?;
        } else if r == 1023 {
            let fresh = image.allocate(kernel.array, Format::Pointers, SLOTS)?;
            image.write(fresh, 0, obj)?;
        } else {
            image.read(obj, slot)?;
        }
    }
    ops.fetch_add(batch as u64, Ordering::Relaxed);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (heap, kernel, world) = build_base()?;
    let stop = Arc::new(AtomicBool::new(false));
    let watching = Arc::new(AtomicBool::new(true));
    // Host-side operation counters, one cache line each: one per long-lived image, one for
    // the visitor.
    let ops: Arc<Vec<CachePadded<AtomicU64>>> = Arc::new(
        (0..=IMAGES)
            .map(|_| CachePadded::new(AtomicU64::new(0)))
            .collect(),
    );
    let started = Barrier::new(IMAGES + 1);
    let started = Arc::new(started);

    let (id_tx, id_rx) = crossbeam::channel::unbounded();
    let mut runners = Vec::new();
    for tag in 0..IMAGES {
        let (stop, ops, started) = (stop.clone(), ops.clone(), started.clone());
        let id_tx = id_tx.clone();
        runners.push(heap.image_thread().name(format!("image-{tag}")).spawn(
            move |image| -> cowheap::Result<(u32, u32, ImageStats, u64)> {
                id_tx.send(image.incarnation()).expect("main is listening");
                started.wait();
                let mut rng = Xorshift(0x2545_F491_4F6C_DD1D ^ (tag as u64 + 1));
                // Image `tag` writes in 2^tag of every 1024 operations.
                let rate = 1 << tag;
                let counter = &ops[tag];
                while !stop.load(Ordering::Relaxed) {
                    work(image, world, &kernel, &mut rng, rate, 1024, counter)?;
                }
                Ok((
                    image.incarnation(),
                    image.id(),
                    image.stats(),
                    counter.load(Ordering::Relaxed),
                ))
            },
        )?);
    }
    // A visitor: short-lived images that come and go while the monitor watches.
    let visitor = {
        let (heap, stop, ops) = (heap.clone(), stop.clone(), ops.clone());
        thread::spawn(move || -> cowheap::Result<usize> {
            let mut visits = 0;
            let mut rng = Xorshift(7);
            while !stop.load(Ordering::Relaxed) {
                let mut image = heap.new_image()?;
                work(
                    &mut image,
                    world,
                    &kernel,
                    &mut rng,
                    512,
                    2048,
                    &ops[IMAGES],
                )?;
                visits += 1;
            } // each visit's image is dropped here, with its copies and slots
            Ok(visits)
        })
    };
    started.wait();
    let long_lived: HashSet<u32> = id_rx.try_iter().collect();
    assert_eq!(long_lived.len(), IMAGES);

    // The monitor. It owns only a clone of the heap handle.
    let monitor = {
        let heap = heap.clone();
        let ops = ops.clone();
        let watching = watching.clone();
        thread::spawn(move || {
            let begin = Instant::now();
            let mut last: HashMap<u32, ImageStats> = HashMap::new();
            let mut snapshots = 0;
            let mut progressed = 0;
            let mut last_lookups = 0;
            while watching.load(Ordering::Relaxed) {
                thread::sleep(PERIOD);
                let snapshot = heap.image_stats();
                snapshots += 1;
                let mut total = ImageStats::default();
                for live in &snapshot {
                    total += live.stats;
                }
                // Images are told apart by incarnation, since the visitor's ids are reused (and a
                // reused id starts from zero). A long-lived image's counters never go down.
                let running = snapshot
                    .iter()
                    .filter(|live| long_lived.contains(&live.incarnation));
                for live in running.clone() {
                    let stats = live.stats;
                    if let Some(before) = last.insert(live.incarnation, stats) {
                        assert!(stats.copies >= before.copies && stats.lookups >= before.lookups);
                        assert!(stats.private_bytes >= before.private_bytes);
                    }
                }
                assert_eq!(
                    running.clone().count(),
                    IMAGES,
                    "a running image was missing from a snapshot"
                );
                // Progress, judged by the long-lived images only (a visitor's counters restart).
                let lookups: u64 = running.clone().map(|live| live.stats.lookups).sum();
                if lookups > last_lookups {
                    progressed += 1;
                }
                last_lookups = lookups;
                let host_ops: u64 = ops.iter().map(|o| o.load(Ordering::Relaxed)).sum();
                println!(
                    "t={:>5}ms live={:>2} copies={:>6} private={:>6} KiB lookups={:>9} host ops={:>9}",
                    begin.elapsed().as_millis(),
                    snapshot.len(),
                    total.copies,
                    total.private_bytes / 1024,
                    total.lookups,
                    host_ops
                );
            }
            (snapshots, progressed, last)
        })
    };

    thread::sleep(RUN_FOR);
    // Stop the monitor first, so that every snapshot it takes is of running images.
    watching.store(false, Ordering::Relaxed);
    let (snapshots, progressed, last_seen) = monitor.join().expect("monitor panicked");
    stop.store(true, Ordering::Relaxed);
    let visits = visitor.join().expect("visitor panicked")?;

    println!("\n image  copies  private KiB     lookups   host ops   (final, from each image)");
    for runner in runners {
        let (incarnation, id, stats, ops) = runner.join().expect("image thread panicked")?;
        // The last snapshot the monitor took is a lower bound of the image's final figures.
        let seen = last_seen[&incarnation];
        assert!(stats.copies >= seen.copies && stats.lookups >= seen.lookups);
        println!(
            "{id:>6} {:>7} {:>12} {:>11} {:>10}",
            stats.copies,
            stats.private_bytes / 1024,
            stats.lookups,
            ops
        );
    }

    assert!(
        snapshots >= 5,
        "the monitor took only {snapshots} snapshots"
    );
    assert!(
        progressed >= snapshots - 1,
        "images stalled while being monitored"
    );
    assert!(
        heap.image_stats().is_empty(),
        "a dropped image is still listed"
    );
    assert_eq!(heap.live_images(), 0);
    assert_eq!(heap.census().entries, 0);
    println!(
        "\nok: {snapshots} live snapshots, progress in {progressed}; {visits} short-lived images \
         came and went; nothing left after teardown"
    );
    Ok(())
}
