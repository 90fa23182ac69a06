//! Loading the shared Squeak and Spur images: load time in MB/s of file (`load_bytes`) and
//! in objects/s (`load_objects`), per image. The file is read once, outside the timing;
//! what is timed is header parsing, the object scan, parallel relocation and validation,
//! building and sealing the base heap, and dropping it.
//!
//! `images_mini`: once the mini image is loaded, what a new image over it costs (create and
//! drop) against the cheapest image of a design without sharing, a bare copy of the loaded
//! arena's words (the deep clone of `benches/images.rs` in the heap crate, over a real base).
//!
//! `cargo bench --bench load`

mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const IMAGES: [&str; 4] = [
    "mini-2.2-v3-le.image",
    "mini-2.2-v3-be.image",
    "bootstrapped-v3-6505.image",
    "headless-spur32.image",
];

/// The images with their bytes and object counts; none (and a skip line) when one is missing.
fn images() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut out = Vec::new();
    for name in IMAGES {
        let Some(path) = support::image("bench load", name) else {
            return Vec::new();
        };
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let objects = cowheap_squeak::loader::load_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .info
            .object_count;
        out.push((name, bytes, objects));
    }
    out
}

fn bench(c: &mut Criterion) {
    let images = images();
    if images.is_empty() {
        return;
    }
    let mut group = c.benchmark_group("load_bytes");
    for (name, bytes, _) in &images {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| black_box(cowheap_squeak::loader::load_bytes(black_box(bytes)).unwrap()))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("load_objects");
    for (name, bytes, objects) in &images {
        group.throughput(Throughput::Elements(*objects as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| black_box(cowheap_squeak::loader::load_bytes(black_box(bytes)).unwrap()))
        });
    }
    group.finish();
    mini(c);
}

/// Image creation over the loaded mini image, against a copy of its arena.
fn mini(c: &mut Criterion) {
    let Some(path) = support::image("bench load", "mini-2.2-v3-le.image") else {
        return;
    };
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let heap = cowheap_squeak::loader::load_bytes(&bytes).unwrap().heap;
    let words = cowheap::bench_api::arena_words(&heap);
    let mut group = c.benchmark_group("images_mini");
    group.bench_function("cowheap_create_drop", |b| {
        b.iter(|| drop(black_box(heap.new_image().unwrap())))
    });
    group.bench_function("alt_deep_clone", |b| {
        b.iter(|| drop(black_box(words.clone())))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: the HTML reports need fonts a CI box may lack, and the numbers are the point.
    config = config();
    targets = bench
}

/// `COWHEAP_BENCH_QUICK=1` is the smoke mode CI runs, as in the other benches.
fn config() -> Criterion {
    let c = Criterion::default().without_plots();
    if std::env::var_os("COWHEAP_BENCH_QUICK").is_some() {
        c.output_directory(&support::smoke_dir())
            .sample_size(10)
            .warm_up_time(std::time::Duration::from_millis(10))
            .measurement_time(std::time::Duration::from_millis(100))
    } else {
        c
    }
}
criterion_main!(benches);
