//! Bench 3, writes: the first copy-on-write store into 2-, 8- and 64-slot objects, a store into
//! an object already copied, and a private allocation; next to the same operations in every
//! alternative, and next to the first write to a page after `fork()` (the kernel's page COW).
//!
//! `cargo bench --bench writes`

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cowheap::{BaseBuilder, BaseHeap, Format, Kernel, Value};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::alt::{DeepClone, GlobalImage, GlobalMap, Overlay, Persistent, Store};
use support::fork::ForkRegion;
use support::plain::PlainHeap;

/// Objects per base: every first store needs an object this image has not written yet.
fn pool() -> usize {
    support::pick(20_000, 2_000)
}

struct Base {
    heap: BaseHeap,
    kernel: Kernel,
    objs: Vec<Value>,
    at: Vec<usize>,
}

/// A base of `pool()` objects of `slots` SmallInteger slots each, padded so that consecutive
/// targets are at least 512 bytes apart (a persistent vector's chunk), which keeps every
/// design's first store a first store.
fn fresh_base(slots: usize) -> Base {
    let mut b = BaseBuilder::new();
    let kernel = Kernel::install(&mut b).unwrap();
    let ints: Vec<Value> = (0..slots as i64)
        .map(|i| Value::small_int(i).unwrap())
        .collect();
    let pad = 64usize.saturating_sub(slots + 2).max(1);
    let mut objs = Vec::with_capacity(pool());
    for _ in 0..pool() {
        objs.push(b.new_pointers(kernel.array, &ints).unwrap());
        b.new_object(kernel.word_array, Format::Words, pad * 2 - 2)
            .unwrap();
    }
    let heap = b.seal().unwrap();
    let at = objs
        .iter()
        .map(|&v| cowheap::bench_api::value_index(v))
        .collect();
    Base {
        heap,
        kernel,
        objs,
        at,
    }
}

/// Runs `iters` timed operations in batches of at most `pool()`, each batch on a state made
/// by `setup` (untimed, as is dropping it).
fn batched<S>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut run: impl FnMut(&mut S, usize),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(pool());
        let mut s = setup();
        let t = Instant::now();
        run(&mut s, n);
        total += t.elapsed();
        drop(s);
        left -= n;
    }
    total
}

fn first_cow(c: &mut Criterion) {
    let seven = Value::small_int(7).unwrap();
    let mut group = c.benchmark_group("writes_first_cow");
    for slots in [2usize, 8, 64] {
        // cowheap, the first image to write each object: copy, install the forwarder by CAS.
        group.bench_function(BenchmarkId::new("cowheap_install", slots), |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    || {
                        let base = fresh_base(slots);
                        let image = base.heap.new_image().unwrap();
                        (base, image)
                    },
                    |(base, image), n| {
                        for &o in &base.objs[..n] {
                            image.write(o, 0, seven).unwrap();
                        }
                    },
                )
            })
        });
        // cowheap, a later image: copy, add an entry to the existing forwarder.
        let base = fresh_base(slots);
        let mut resident = base.heap.new_image().unwrap();
        for &o in &base.objs {
            resident.write(o, 0, seven).unwrap();
        }
        group.bench_function(BenchmarkId::new("cowheap_entry", slots), |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    || base.heap.new_image().unwrap(),
                    |image, n| {
                        for &o in &base.objs[..n] {
                            image.write(o, 0, seven).unwrap();
                        }
                    },
                )
            })
        });
        drop(resident);

        let plain = Arc::new(PlainHeap::from_base(&base.heap));
        let v = seven.to_bits();
        group.bench_function(BenchmarkId::new("alt_overlay_map", slots), |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    || Overlay::new(plain.clone()),
                    |o, n| {
                        for &at in &base.at[..n] {
                            o.write_at(at, 0, v).unwrap();
                        }
                    },
                )
            })
        });
        let shared = GlobalMap::new((*plain).clone());
        let mut next_id = 0;
        group.bench_function(BenchmarkId::new("alt_global_lock", slots), |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    || {
                        next_id += 1;
                        GlobalImage::new(shared.clone(), next_id)
                    },
                    |g, n| {
                        for &at in &base.at[..n] {
                            g.write_at(at, 0, v).unwrap();
                        }
                    },
                )
            })
        });
        let pers = Persistent::from_plain(&plain);
        group.bench_function(BenchmarkId::new("alt_persistent_im", slots), |b| {
            b.iter_custom(|iters| {
                batched(
                    iters,
                    || pers.clone(),
                    |p, n| {
                        for &at in &base.at[..n] {
                            p.write_at(at, 0, v).unwrap();
                        }
                    },
                )
            })
        });
        // A deep clone pays for its copy up front; its store is a plain store.
        let mut deep = DeepClone((*plain).clone());
        group.bench_function(BenchmarkId::new("alt_deep_clone", slots), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % base.at.len();
                deep.write_at(black_box(base.at[i]), 0, v)
            })
        });
    }

    // The kernel's page copy-on-write: a child's first write to each page of the base.
    let g = support::generate(support::pick(60_000, 5_000));
    let region = ForkRegion::new(&PlainHeap::from_base(&g.heap).words);
    group.bench_function("alt_page_cow_fork", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            let mut page = 0;
            while left > 0 {
                let n = left.min(region.pages());
                let pages: Vec<usize> = (0..n).map(|i| (page + i * 7) % region.pages()).collect();
                page += 1;
                let ns: u64 = region.first_write_ns(&pages).iter().sum();
                total += Duration::from_nanos(ns);
                left -= n;
            }
            total
        })
    });
    group.finish();
}

fn later_stores(c: &mut Criterion) {
    let seven = Value::small_int(7).unwrap();
    let mut group = c.benchmark_group("writes_copied");
    let base = fresh_base(8);
    let mut image = base.heap.new_image().unwrap();
    for &o in &base.objs {
        image.write(o, 0, seven).unwrap();
    }
    let k = base.objs.len();
    let mut i = 0;
    group.bench_function("cowheap_via_base_ref", |b| {
        b.iter(|| {
            i += 1;
            if i == k {
                i = 0;
            }
            image.write(black_box(base.objs[i]), 1, seven)
        })
    });
    // References to the copies themselves, as a VM holds them after a fix-up.
    let holder = image
        .new_pointers(base.kernel.array, &base.objs[..1024.min(k)])
        .unwrap();
    let copies: Vec<Value> = (0..1024.min(k))
        .map(|j| image.read(holder, j).unwrap())
        .collect();
    group.bench_function("cowheap_via_copy_ref", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == copies.len() {
                i = 0;
            }
            image.write(black_box(copies[i]), 1, seven)
        })
    });

    let plain = Arc::new(PlainHeap::from_base(&base.heap));
    let v = seven.to_bits();
    let mut overlay = Overlay::new(plain.clone());
    let shared = GlobalMap::new((*plain).clone());
    let mut global = GlobalImage::new(shared, 0);
    let mut pers = Persistent::from_plain(&plain);
    let mut deep = DeepClone((*plain).clone());
    for &at in &base.at {
        overlay.write_at(at, 0, v).unwrap();
        global.write_at(at, 0, v).unwrap();
        pers.write_at(at, 0, v).unwrap();
    }
    fn rotate<S: Store>(s: &mut S, ats: &[usize], i: &mut usize, v: u64) -> Result<(), ()> {
        *i += 1;
        if *i == ats.len() {
            *i = 0;
        }
        s.write_at(black_box(ats[*i]), 1, v).map_err(drop)
    }
    let mut i = 0;
    group.bench_function("alt_overlay_map", |b| {
        b.iter(|| rotate(&mut overlay, &base.at, &mut i, v))
    });
    group.bench_function("alt_global_lock", |b| {
        b.iter(|| rotate(&mut global, &base.at, &mut i, v))
    });
    group.bench_function("alt_persistent_im", |b| {
        b.iter(|| rotate(&mut pers, &base.at, &mut i, v))
    });
    group.bench_function("alt_deep_clone", |b| {
        b.iter(|| rotate(&mut deep, &base.at, &mut i, v))
    });
    group.finish();

    let mut group = c.benchmark_group("writes_allocate");
    group.bench_function("cowheap", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                || base.heap.new_image().unwrap(),
                |image, n| {
                    for _ in 0..n {
                        black_box(
                            image
                                .allocate(base.kernel.array, Format::Pointers, 4)
                                .unwrap(),
                        );
                    }
                },
            )
        })
    });
    // What the alternatives do for a private object: append it to a private word vector.
    let (array_bits, nil_bits) = (base.kernel.array.to_bits(), base.kernel.nil.to_bits());
    let header = plain.words[base.at[0]] & !(u64::MAX << 32) | (4u64 << 32);
    group.bench_function("alt_vec_append", |b| {
        b.iter_custom(|iters| {
            batched(iters, Vec::<u64>::new, |space, n| {
                for _ in 0..n {
                    let at = space.len();
                    space.push(header);
                    space.push(array_bits);
                    space.resize(at + 6, nil_bits);
                    black_box(at);
                }
            })
        })
    });
    group.bench_function("alt_persistent_im", |b| {
        b.iter_custom(|iters| {
            batched(
                iters,
                || pers.clone(),
                |p, n| {
                    for _ in 0..n {
                        let at = p.0.len();
                        p.0.push_back(header);
                        p.0.push_back(array_bits);
                        for _ in 0..4 {
                            p.0.push_back(nil_bits);
                        }
                        black_box(at);
                    }
                },
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = first_cow, later_stores
}

criterion_main!(benches);
