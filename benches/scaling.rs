//! Bench 5, scaling: aggregate ops/s of a 95/5 read/write mix for 1, 2, 4, ... 1024 images,
//! each on its own OS thread, over the default generated base. The same op streams (one per
//! image, from fixed seeds) run on cowheap and on each alternative. The total op count is
//! fixed (strong scaling), so more images means fewer ops per image.
//!
//! A second group, `hot_set`, is the mix a cloud host sees: 1% of the images write a hot set of
//! 64 objects, and then every image only reads it. Readers with no entry there should cost what
//! reading a base nobody wrote costs (`cowheap_pristine`).
//!
//! `cargo bench --bench scaling`

mod support;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cowheap::{BaseHeap, Value};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::alt::{DeepClone, GlobalImage, GlobalMap, Overlay, Persistent, Store};
use support::plain::PlainHeap;
use support::{op_stream, Op, Target};

const WRITE_PCT: u64 = 5;

/// Runs one image per thread: `make(i)` builds image `i`'s state on its thread (untimed),
/// then every thread replays its op stream between two barriers; answers the wall time
/// between the barriers.
fn run_threads<S, M, R>(
    threads: usize,
    ops: usize,
    targets: &[Target],
    make: M,
    replay: R,
) -> Duration
where
    M: Fn(usize) -> S + Sync,
    R: Fn(&mut S, &[Op], &[Target]) -> u64 + Sync,
{
    run_mix(threads, ops, targets, WRITE_PCT, make, replay)
}

/// `run_threads` with another write percentage.
fn run_mix<S, M, R>(
    threads: usize,
    ops: usize,
    targets: &[Target],
    write_pct: u64,
    make: M,
    replay: R,
) -> Duration
where
    M: Fn(usize) -> S + Sync,
    R: Fn(&mut S, &[Op], &[Target]) -> u64 + Sync,
{
    run_images(threads, ops, targets, write_pct, false, make, replay).0
}

/// Reads only, like `run_mix`, but answers the CPU time that the threads from `first` on spent
/// replaying, summed: what the images that did not write cost, whatever the others did and
/// however the 2 cores were shared.
fn readers_cpu<S, M, R>(
    threads: usize,
    first: usize,
    ops: usize,
    targets: &[Target],
    make: M,
    replay: R,
) -> Duration
where
    M: Fn(usize) -> S + Sync,
    R: Fn(&mut S, &[Op], &[Target]) -> u64 + Sync,
{
    run_images(threads, ops, targets, 0, true, make, replay).1[first..]
        .iter()
        .sum()
}

/// The one runner: one image per thread; `make(i)` builds image `i`'s state on its thread
/// (untimed), then every thread replays its op stream between two barriers. Answers the wall
/// time between the barriers and, if `cpu` (two system calls per thread, so only when asked),
/// each thread's CPU time replaying.
fn run_images<S, M, R>(
    threads: usize,
    ops: usize,
    targets: &[Target],
    write_pct: u64,
    cpu: bool,
    make: M,
    replay: R,
) -> (Duration, Vec<Duration>)
where
    M: Fn(usize) -> S + Sync,
    R: Fn(&mut S, &[Op], &[Target]) -> u64 + Sync,
{
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let clock = || {
        if cpu {
            support::thread_cpu()
        } else {
            Duration::ZERO
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (start, done, make, replay) = (&start, &done, &make, &replay);
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, move || {
                        let stream: Vec<Op> = op_stream(i, ops, targets, write_pct).collect();
                        let mut state = make(i);
                        start.wait();
                        let before = clock();
                        black_box(replay(&mut state, &stream, targets));
                        let spent = clock() - before;
                        done.wait();
                        drop(state);
                        spent
                    })
                    .unwrap()
            })
            .collect();
        start.wait();
        let t = Instant::now();
        done.wait();
        let wall = t.elapsed();
        (
            wall,
            handles.into_iter().map(|h| h.join().unwrap()).collect(),
        )
    })
}

fn replay_cowheap(image: &mut cowheap::Image, ops: &[Op], targets: &[Target]) -> u64 {
    let mut acc = 0u64;
    for &op in ops {
        match op {
            Op::Read { obj, slot } => {
                acc ^= image
                    .read(targets[obj as usize].value, slot as usize)
                    .unwrap()
                    .to_bits()
            }
            Op::Write { obj, slot, value } => image
                .write(
                    targets[obj as usize].value,
                    slot as usize,
                    Value::small_int(value).unwrap(),
                )
                .unwrap(),
        }
    }
    acc
}

fn replay_store<S: Store>(s: &mut S, ops: &[Op], targets: &[Target]) -> u64 {
    let mut acc = 0u64;
    for &op in ops {
        match op {
            Op::Read { obj, slot } => {
                acc ^= s
                    .read_at(targets[obj as usize].index as usize, slot as usize)
                    .unwrap()
            }
            Op::Write { obj, slot, value } => s
                .write_at(
                    targets[obj as usize].index as usize,
                    slot as usize,
                    Value::small_int(value).unwrap().to_bits(),
                )
                .unwrap(),
        }
    }
    acc
}

fn bench(c: &mut Criterion) {
    let g = support::generate(support::pick(60_000, 10_000));
    let heap: BaseHeap = g.heap.clone();
    let targets = support::targets(&g, 4096);
    let plain = Arc::new(PlainHeap::from_base(&heap));
    let pers = Persistent::from_plain(&plain);
    let total: usize = support::pick(1 << 19, 1 << 14);
    let counts: Vec<usize> = if support::quick() {
        vec![1, 16, 1024]
    } else {
        (0..=10).map(|k| 1 << k).collect()
    };
    let mut group = c.benchmark_group("scaling");
    group.sample_size(10);
    for &threads in &counts {
        let ops = (total / threads).max(1);
        group.throughput(Throughput::Elements((ops * threads) as u64));
        let t = &targets;
        group.bench_function(BenchmarkId::new("cowheap", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run_threads(
                            threads,
                            ops,
                            t,
                            |_| heap.new_image().unwrap(),
                            replay_cowheap,
                        )
                    })
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("alt_overlay_map", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run_threads(
                            threads,
                            ops,
                            t,
                            |_| Overlay::new(plain.clone()),
                            replay_store,
                        )
                    })
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("alt_global_lock", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let shared = GlobalMap::new((*plain).clone());
                        run_threads(
                            threads,
                            ops,
                            t,
                            |i| GlobalImage::new(shared.clone(), i as u32),
                            replay_store,
                        )
                    })
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new("alt_persistent_im", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_threads(threads, ops, t, |_| pers.clone(), replay_store))
                    .sum()
            })
        });
        // Deep clones cost a full base copy per image before the run starts (untimed here);
        // memory bounds them to 64 images.
        if threads <= 64 {
            group.bench_function(BenchmarkId::new("alt_deep_clone", threads), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            run_threads(
                                threads,
                                ops,
                                t,
                                |_| DeepClone((*plain).clone()),
                                replay_store,
                            )
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

/// An image of the `hot_set` mix: a writer writes every hot object first (untimed).
fn hot_image(heap: &BaseHeap, hot: &[Target], writer: bool) -> cowheap::Image {
    let mut image = heap.new_image().unwrap();
    if writer {
        let one = Value::small_int(1).unwrap();
        for target in hot {
            image.write(target.value, 0, one).unwrap();
        }
    }
    image
}

/// Hot objects in the `hot_set` mix.
const HOT: usize = 64;

fn hot_set(c: &mut Criterion) {
    let g = support::generate(support::pick(60_000, 10_000));
    let heap: BaseHeap = g.heap.clone();
    let targets = support::targets(&g, HOT);
    let plain = Arc::new(PlainHeap::from_base(&heap));
    let one = Value::small_int(1).unwrap();
    let total: usize = support::pick(1 << 19, 1 << 14);
    let counts: &[usize] = support::pick(&[1, 16, 256], &[16]);
    let mut group = c.benchmark_group("hot_set");
    group.sample_size(10);

    for &threads in counts {
        let writers = threads.div_ceil(100);
        let ops = (total / threads).max(1);
        group.throughput(Throughput::Elements((ops * threads) as u64));
        let t = &targets;
        // Images below `writers` write every hot object first (untimed); then all only read.
        let heap = &heap;
        for (name, pristine) in [("cowheap", false), ("cowheap_pristine", true)] {
            let make = move |i: usize| hot_image(heap, t, !pristine && i < writers);
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| run_mix(threads, ops, t, 0, make, replay_cowheap))
                        .sum()
                })
            });
        }
        group.bench_function(BenchmarkId::new("alt_overlay_map", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        run_mix(
                            threads,
                            ops,
                            t,
                            0,
                            |i| {
                                let mut o = Overlay::new(plain.clone());
                                if i < writers {
                                    for target in t {
                                        o.write_at(target.index as usize, 0, one.to_bits())
                                            .unwrap();
                                    }
                                }
                                o
                            },
                            replay_store,
                        )
                    })
                    .sum()
            })
        });
    }
    group.finish();
    let mut readers = c.benchmark_group("hot_set_readers");
    readers.sample_size(10);
    for &threads in counts {
        let writers = threads.div_ceil(100);
        let ops = (total / threads).max(1);
        let (t, heap) = (&targets, &heap);
        // The images that did not write, alone: their summed CPU time per op.
        for (name, pristine) in [
            ("cowheap_readers", false),
            ("cowheap_pristine_readers", true),
        ] {
            let make = move |i: usize| hot_image(heap, t, !pristine && i < writers);
            readers.throughput(Throughput::Elements((ops * (threads - writers)) as u64));
            readers.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| readers_cpu(threads, writers, ops, t, make, replay_cowheap))
                        .sum()
                })
            });
        }
    }
    readers.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench, hot_set
}

criterion_main!(benches);
