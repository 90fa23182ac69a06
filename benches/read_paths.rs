//! Bench 2, the read paths: ns per `Image::read` of one slot for each path of ARCHITECTURE.md's read path,
//! with 1, 8, 64, 1024 and 10,000 images holding entries in the same forwarder, next to the
//! same reads in the alternative designs; then the same paths with the reads spread over a
//! working set of 4,096 forwarded objects (so nothing stays in L1 by accident).
//!
//! `cargo bench --bench read_paths`

mod support;

use std::hint::black_box;
use std::sync::Arc;

use cowheap::{BaseBuilder, Image, Kernel, Value};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::alt::{DeepClone, GlobalImage, GlobalMap, Overlay, Persistent, Store};
use support::plain::PlainHeap;

const SLOTS: usize = 8;

struct Base {
    heap: cowheap::BaseHeap,
    kernel: Kernel,
    /// Never written by anyone.
    plain: Value,
    /// Written by every image of a run, the measuring ones included.
    hit: Value,
    /// Written by every image of a run except the one that measures misses.
    miss: Value,
}

fn base() -> Base {
    let mut b = BaseBuilder::new();
    let kernel = Kernel::install(&mut b).unwrap();
    let ints: Vec<Value> = (0..SLOTS as i64)
        .map(|i| Value::small_int(i).unwrap())
        .collect();
    let plain = b.new_pointers(kernel.array, &ints).unwrap();
    let hit = b.new_pointers(kernel.array, &ints).unwrap();
    let miss = b.new_pointers(kernel.array, &ints).unwrap();
    // Some padding objects, so the three do not share a cache line with the kernel's.
    for _ in 0..64 {
        b.new_pointers(kernel.array, &ints).unwrap();
    }
    let heap = b.seal().unwrap();
    Base {
        heap,
        kernel,
        plain,
        hit,
        miss,
    }
}

fn bench(c: &mut Criterion) {
    let counts: &[usize] = support::pick(&[1, 8, 64, 1024, 10_000], &[1, 1024]);
    let mut group = c.benchmark_group("read_paths");
    for &n in counts {
        let base = base();
        let one = Value::small_int(1).unwrap();
        // `n` images hold entries in `hit`'s forwarder and in `miss`'s; `prober` holds one
        // only in `hit`'s, and is the last image to insert there.
        let mut holders: Vec<Image> = (0..n - 1).map(|_| base.heap.new_image().unwrap()).collect();
        let mut prober = base.heap.new_image().unwrap();
        let mut extra = base.heap.new_image().unwrap();
        for img in holders.iter_mut() {
            img.write(base.hit, 1, one).unwrap();
            img.write(base.miss, 1, one).unwrap();
        }
        extra.write(base.miss, 1, one).unwrap();
        prober.write(base.hit, 1, one).unwrap();
        holders.push(prober);
        let last = holders.len() - 1;

        // A private object whose slot refers to `hit`: the first read fixes it up to point at
        // the image's copy; every later read is the "after fix-up" path.
        let fixed = holders[last]
            .new_pointers(base.kernel.array, &[base.hit, one])
            .unwrap();
        let first = holders[last].read(fixed, 0).unwrap();
        assert!(
            holders[last].stats().fixups == 1 && holders[last].identical(first, base.hit).unwrap()
        );
        let private = holders[last]
            .new_pointers(base.kernel.array, &[one, one])
            .unwrap();

        let img = &mut holders[last];
        group.bench_function(BenchmarkId::new("unforwarded", n), |b| {
            b.iter(|| img.read(black_box(base.plain), black_box(2)))
        });
        group.bench_function(BenchmarkId::new("forwarded_hit_last", n), |b| {
            b.iter(|| img.read(black_box(base.hit), black_box(2)))
        });
        group.bench_function(BenchmarkId::new("forwarded_miss", n), |b| {
            b.iter(|| img.read(black_box(base.miss), black_box(2)))
        });
        // Checked here: the prober has no entry in `miss`.
        assert_eq!(
            img.read(base.miss, 1).unwrap(),
            Value::small_int(1).unwrap()
        );
        group.bench_function(BenchmarkId::new("after_fixup", n), |b| {
            b.iter(|| img.read(black_box(fixed), black_box(0)))
        });
        group.bench_function(BenchmarkId::new("private", n), |b| {
            b.iter(|| img.read(black_box(private), black_box(0)))
        });
        // The hit averaged over every holder's position in the table.
        let mut i = 0;
        group.bench_function(BenchmarkId::new("forwarded_hit_avg", n), |b| {
            b.iter(|| {
                i += 1;
                if i == holders.len() {
                    i = 0;
                }
                holders[i].read(black_box(base.hit), black_box(2))
            })
        });

        // The global-lock map holds one copy of `hit` per image, like the forwarder.
        let plain = PlainHeap::from_base(&base.heap);
        let shared = GlobalMap::new(plain.clone());
        let hit_at = cowheap::bench_api::value_index(base.hit);
        let plain_at = cowheap::bench_api::value_index(base.plain);
        let mut globals: Vec<GlobalImage> = (0..n as u32)
            .map(|id| GlobalImage::new(shared.clone(), id))
            .collect();
        for g in globals.iter_mut() {
            g.write_at(hit_at, 1, one.to_bits()).unwrap();
        }
        let g = globals.last_mut().unwrap();
        group.bench_function(BenchmarkId::new("alt_global_lock_hit", n), |b| {
            b.iter(|| g.read_at(black_box(hit_at), black_box(2)))
        });
        group.bench_function(BenchmarkId::new("alt_global_lock_miss", n), |b| {
            b.iter(|| g.read_at(black_box(plain_at), black_box(2)))
        });

        if n == 1 {
            let mut overlay = Overlay::new(Arc::new(plain.clone()));
            overlay.write_at(hit_at, 1, one.to_bits()).unwrap();
            group.bench_function(BenchmarkId::new("alt_overlay_hit", n), |b| {
                b.iter(|| overlay.read_at(black_box(hit_at), black_box(2)))
            });
            group.bench_function(BenchmarkId::new("alt_overlay_miss", n), |b| {
                b.iter(|| overlay.read_at(black_box(plain_at), black_box(2)))
            });
            let mut deep = DeepClone(plain.clone());
            group.bench_function(BenchmarkId::new("alt_deep_clone", n), |b| {
                b.iter(|| deep.read_at(black_box(plain_at), black_box(2)))
            });
            let mut pers = Persistent::from_plain(&plain);
            pers.write_at(hit_at, 1, one.to_bits()).unwrap();
            group.bench_function(BenchmarkId::new("alt_persistent_im", n), |b| {
                b.iter(|| pers.read_at(black_box(plain_at), black_box(2)))
            });
        }
    }
    group.finish();
}

/// Objects in the spread working set.
const SPREAD: usize = 4096;

/// The same paths with each read on another of 4,096 objects, in a scrambled order: `n` images
/// hold entries in every object of the forwarded set.
fn spread(c: &mut Criterion) {
    let counts: &[usize] = support::pick(&[1, 64, 1024], &[1, 64]);
    let mut group = c.benchmark_group("read_paths_spread");
    for &n in counts {
        let mut b = BaseBuilder::new();
        let kernel = Kernel::install(&mut b).unwrap();
        let ints: Vec<Value> = (0..SLOTS as i64)
            .map(|i| Value::small_int(i).unwrap())
            .collect();
        let make = |b: &mut BaseBuilder| -> Vec<Value> {
            (0..SPREAD)
                .map(|_| b.new_pointers(kernel.array, &ints).unwrap())
                .collect()
        };
        let plain = make(&mut b);
        let forwarded = make(&mut b);
        let heap = b.seal().unwrap();
        let one = Value::small_int(1).unwrap();
        let mut holders: Vec<Image> = (0..n).map(|_| heap.new_image().unwrap()).collect();
        for img in holders.iter_mut() {
            for &o in &forwarded {
                img.write(o, 1, one).unwrap();
            }
        }
        let mut reader = heap.new_image().unwrap(); // no entries anywhere
                                                    // A scrambled visiting order (a full-period LCG over 4,096).
        let order: Vec<usize> = (0..SPREAD)
            .scan(1usize, |x, _| {
                *x = (*x * 1_664_525 + 1_013_904_223) % SPREAD;
                Some(*x)
            })
            .collect();
        let prober = holders.last_mut().unwrap();
        for (name, set) in [("unforwarded", &plain), ("forwarded_hit", &forwarded)] {
            let mut i = 0;
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    i = (i + 1) % SPREAD;
                    prober.read(black_box(set[order[i]]), black_box(2))
                })
            });
        }
        let mut i = 0;
        group.bench_function(BenchmarkId::new("forwarded_miss", n), |b| {
            b.iter(|| {
                i = (i + 1) % SPREAD;
                reader.read(black_box(forwarded[order[i]]), black_box(2))
            })
        });
        let mut i = 0;
        group.bench_function(BenchmarkId::new("unforwarded_no_entries", n), |b| {
            b.iter(|| {
                i = (i + 1) % SPREAD;
                reader.read(black_box(plain[order[i]]), black_box(2))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench, spread
}

criterion_main!(benches);
