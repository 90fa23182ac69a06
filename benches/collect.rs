//! Collecting one image's private space: the pause of a collection by its live data and its
//! garbage, next to copying the same words once (`alt_copy_words`: the least any moving
//! collector of that space could do, a `memcpy` of everything it started with).
//!
//! * `collect_young/{live}`: `live` small objects kept, then 1 MiB of small garbage, as a
//!   VM's allocation-pressure collection meets it (what a nursery collection would do);
//! * `collect_full/{MiB}`: that many MiB of live objects interleaved with as much garbage:
//!   the whole space marked, rewritten and slid.
//!
//! `cargo bench --bench collect`

mod support;

use std::hint::black_box;

use cowheap::{Format, Image, Kernel, Value};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

/// An image holding `live` arrays of 4 fields (each pointing at the previous one), with
/// `garbage` arrays of 4 fields allocated after (or, if `interleave`, between) them.
fn image(
    kernel: &Kernel,
    heap: &cowheap::BaseHeap,
    live: usize,
    garbage: usize,
    interleave: bool,
) -> (Image, Vec<Value>) {
    let mut image = heap.new_image().unwrap();
    let mut kept = Vec::with_capacity(live);
    let mut prev = kernel.nil;
    let per = if interleave && live > 0 {
        garbage / live
    } else {
        0
    };
    for i in 0..live {
        let o = image.allocate(kernel.array, Format::Pointers, 4).unwrap();
        image.write(o, 0, prev).unwrap();
        image
            .write(o, 1, Value::small_int(i as i64).unwrap())
            .unwrap();
        prev = o;
        kept.push(o);
        for _ in 0..per {
            image.allocate(kernel.array, Format::Pointers, 4).unwrap();
        }
    }
    for _ in 0..garbage.saturating_sub(per * live) {
        image.allocate(kernel.array, Format::Pointers, 4).unwrap();
    }
    // Only the last object is a root: the rest hang from it, so marking follows a chain.
    let roots = kept.last().copied().into_iter().collect();
    (image, roots)
}

/// Arrays of 4 fields per MiB: 48 bytes each.
const PER_MIB: usize = (1 << 20) / 48;

fn collect(c: &mut Criterion) {
    let (heap, kernel) = Kernel::minimal_base().unwrap();
    let mut group = c.benchmark_group("collect_young");
    for live in support::pick(vec![100, 10_000, 100_000], vec![100, 1000]) {
        group.bench_function(BenchmarkId::new("cowheap", live), |b| {
            b.iter_batched(
                || image(&kernel, &heap, live, PER_MIB, false),
                |(mut image, mut roots)| {
                    let c = image.collect(&mut roots).unwrap();
                    black_box(c);
                    image
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("collect_full");
    for mib in support::pick(vec![1usize, 10], vec![1]) {
        group.throughput(Throughput::Bytes(((2 * mib) << 20) as u64));
        group.bench_function(BenchmarkId::new("cowheap", mib), |b| {
            b.iter_batched(
                || image(&kernel, &heap, mib * PER_MIB, mib * PER_MIB, true),
                |(mut image, mut roots)| {
                    let c = image.collect(&mut roots).unwrap();
                    black_box(c);
                    image
                },
                BatchSize::PerIteration,
            )
        });
        let words: Vec<u64> = vec![7; 2 * mib * PER_MIB * 6];
        group.bench_function(BenchmarkId::new("alt_copy_words", mib), |b| {
            b.iter(|| black_box(words.clone()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = collect
}
criterion_main!(benches);
