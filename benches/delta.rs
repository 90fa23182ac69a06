//! Bench 10, deltas: saving an image as its delta and resuming it, against copying its private
//! bytes (issue 14's anchor: save + resume within 2x that copy). The image writes a slot of
//! 5% of the default base's objects and allocates a few objects, about what an image of the
//! default stress run holds at its end.
//!
//! `cargo bench --bench delta`

mod support;

use std::hint::black_box;

use cowheap::Value;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let g = support::generate(support::pick(60_000, 10_000));
    let heap = g.heap.clone();
    let targets = support::targets(&g, support::pick(3_000, 500));
    let mut image = heap.new_image().unwrap();
    let mut holders = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        image
            .write(t.value, 0, Value::small_int(i as i64).unwrap())
            .unwrap();
        if i % 10 == 0 {
            holders.push(
                image
                    .new_pointers(g.kernel.array, &[t.value, Value::small_int(1).unwrap()])
                    .unwrap(),
            );
        }
    }
    let private_bytes = image.stats().private_bytes;
    let delta = image.delta_bytes().unwrap();
    println!(
        "delta: {} bytes for {} private bytes ({:.3}x), {} copies",
        delta.len(),
        private_bytes,
        delta.len() as f64 / private_bytes as f64,
        image.stats().copies
    );
    let words: Vec<u64> = vec![0x5555; private_bytes as usize / 8];

    let mut group = c.benchmark_group("delta");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(private_bytes));
    group.bench_function("copy_private_bytes", |b| {
        b.iter(|| black_box(black_box(&words).clone()))
    });
    group.bench_function("save", |b| b.iter(|| image.delta_bytes().unwrap()));
    group.bench_function("resume", |b| {
        b.iter_with_large_drop(|| heap.resume_delta_bytes(black_box(&delta)).unwrap())
    });
    group.bench_function("save_and_resume", |b| {
        b.iter_with_large_drop(|| {
            let bytes = image.delta_bytes().unwrap();
            heap.resume_delta_bytes(&bytes).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

criterion_main!(benches);
