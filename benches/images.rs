//! Bench 4, images: creating and dropping an image over bases of 10^4, 10^5 and 10^6
//! objects (the goal: O(1) in the base size), next to what a new "image" costs in each
//! alternative.
//! Memory per empty image is measured by `benches/memory.rs`.
//!
//! `cargo bench --bench images`

mod support;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::alt::{GlobalImage, GlobalMap, Overlay, Persistent};
use support::fork::ForkRegion;
use support::plain::PlainHeap;

fn bench(c: &mut Criterion) {
    let sizes: &[usize] = if support::quick() {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    let mut group = c.benchmark_group("images_create_drop");
    for &objects in sizes {
        let g = support::generate(objects);
        let heap = g.heap.clone();
        group.bench_function(BenchmarkId::new("cowheap", objects), |b| {
            b.iter(|| drop(black_box(heap.new_image().unwrap())))
        });
        let plain = PlainHeap::from_base(&heap);
        group.bench_function(BenchmarkId::new("alt_deep_clone", objects), |b| {
            b.iter(|| drop(black_box(plain.words.clone())))
        });
        let shared = Arc::new(plain.clone());
        group.bench_function(BenchmarkId::new("alt_overlay_map", objects), |b| {
            b.iter(|| drop(black_box(Overlay::new(shared.clone()))))
        });
        let global = GlobalMap::new(plain.clone());
        group.bench_function(BenchmarkId::new("alt_global_lock", objects), |b| {
            let mut id = 0;
            b.iter(|| {
                id += 1;
                drop(black_box(GlobalImage::new(global.clone(), id)))
            })
        });
        let pers = Persistent::from_plain(&plain);
        group.bench_function(BenchmarkId::new("alt_persistent_im", objects), |b| {
            b.iter(|| drop(black_box(pers.clone())))
        });
        let region = ForkRegion::new(&plain.words);
        group.bench_function(BenchmarkId::new("alt_page_cow_fork", objects), |b| {
            b.iter(|| region.fork_and_reap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

criterion_main!(benches);
