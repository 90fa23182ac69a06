//! Bench 1, the read barrier: a pointer chase of millions of reads over the generated base,
//! through a cowheap image over an unforwarded base, next to a plain immutable heap of the
//! same layout and next to every alternative design. Then the same after the image has
//! written 1% of the pointer objects.
//!
//! `cargo bench --bench read_barrier`

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use support::alt::{DeepClone, GlobalImage, GlobalMap, Overlay, Persistent, StoreWalk};
use support::plain::{chase, ImageWalk, PlainHeap};

struct Setup {
    g: cowheap_stress::Generated,
    plain: PlainHeap,
    starts: Vec<cowheap::Value>,
    start_bits: Vec<u64>,
    written: Vec<support::Target>,
    steps: usize,
}

fn setup() -> Setup {
    let g = support::generate(support::pick(300_000, 20_000));
    let plain = PlainHeap::from_base(&g.heap);
    let all = support::targets(&g, usize::MAX);
    let starts: Vec<cowheap::Value> = all.iter().take(4096).map(|t| t.value).collect();
    let start_bits = starts.iter().map(|v| v.to_bits()).collect();
    let written = all[..all.len() / 100].to_vec();
    Setup {
        g,
        plain,
        starts,
        start_bits,
        written,
        steps: support::pick(2_000_000, 100_000),
    }
}

/// Stores into slot 0 of each written target the value it already holds: every design copies
/// the object, and every walk still makes the same choices.
fn write_cowheap(image: &mut cowheap::Image, written: &[support::Target]) {
    for t in written {
        let v = image.read(t.value, 0).unwrap();
        image.write(t.value, 0, v).unwrap();
    }
}

fn write_store<S: support::alt::Store>(s: &mut S, plain: &PlainHeap, written: &[support::Target]) {
    for t in written {
        let at = t.index as usize;
        let v = plain.read(plain_ref(at), 0).unwrap();
        s.write_at(at, 0, v).unwrap();
    }
}

fn plain_ref(at: usize) -> u64 {
    (at as u64) << 3
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let seed = support::SEED;
    let mut group = c.benchmark_group("read_barrier");
    group.throughput(Throughput::Elements(s.steps as u64));

    for written in [false, true] {
        let label = if written { "written_1pct" } else { "unwritten" };
        let w: &[support::Target] = if written { &s.written } else { &[] };

        let mut plain = s.plain.clone();
        let expect = chase(&mut plain, &s.start_bits, s.steps, seed);
        group.bench_function(BenchmarkId::new("plain", label), |b| {
            b.iter(|| black_box(chase(&mut plain, &s.start_bits, s.steps, seed)))
        });

        let mut image = s.g.heap.new_image().unwrap();
        write_cowheap(&mut image, w);
        assert_eq!(
            chase(&mut ImageWalk(&mut image), &s.starts, s.steps, seed),
            expect
        );
        group.bench_function(BenchmarkId::new("cowheap", label), |b| {
            b.iter(|| black_box(chase(&mut ImageWalk(&mut image), &s.starts, s.steps, seed)))
        });
        drop(image);

        let mut deep = DeepClone(s.plain.clone());
        write_store(&mut deep, &s.plain, w);
        assert_eq!(
            chase(&mut StoreWalk(&mut deep), &s.start_bits, s.steps, seed),
            expect
        );
        group.bench_function(BenchmarkId::new("deep_clone", label), |b| {
            b.iter(|| {
                black_box(chase(
                    &mut StoreWalk(&mut deep),
                    &s.start_bits,
                    s.steps,
                    seed,
                ))
            })
        });
        drop(deep);

        let mut overlay = Overlay::new(Arc::new(s.plain.clone()));
        write_store(&mut overlay, &s.plain, w);
        assert_eq!(
            chase(&mut StoreWalk(&mut overlay), &s.start_bits, s.steps, seed),
            expect
        );
        group.bench_function(BenchmarkId::new("overlay_map", label), |b| {
            b.iter(|| {
                black_box(chase(
                    &mut StoreWalk(&mut overlay),
                    &s.start_bits,
                    s.steps,
                    seed,
                ))
            })
        });
        drop(overlay);

        let mut global = GlobalImage::new(GlobalMap::new(s.plain.clone()), 0);
        write_store(&mut global, &s.plain, w);
        assert_eq!(
            chase(&mut StoreWalk(&mut global), &s.start_bits, s.steps, seed),
            expect
        );
        group.bench_function(BenchmarkId::new("global_lock", label), |b| {
            b.iter(|| {
                black_box(chase(
                    &mut StoreWalk(&mut global),
                    &s.start_bits,
                    s.steps,
                    seed,
                ))
            })
        });
        drop(global);

        let mut persistent = Persistent::from_plain(&s.plain);
        write_store(&mut persistent, &s.plain, w);
        assert_eq!(
            chase(
                &mut StoreWalk(&mut persistent),
                &s.start_bits,
                s.steps,
                seed
            ),
            expect
        );
        group.bench_function(BenchmarkId::new("persistent_im", label), |b| {
            b.iter(|| {
                black_box(chase(
                    &mut StoreWalk(&mut persistent),
                    &s.start_bits,
                    s.steps,
                    seed,
                ))
            })
        });
    }
    group.finish();
    paired(&s);
}

/// The headline ratio, measured robustly on a noisy machine: plain and cowheap walks
/// alternate, and the median of the per-round ratios is reported.
fn paired(s: &Setup) {
    let rounds = support::pick(31, 5);
    let seed = support::SEED;
    let mut plain = s.plain.clone();
    let mut image = s.g.heap.new_image().unwrap();
    let mut ratios = Vec::new();
    let mut plain_ns = Vec::new();
    let mut cow_ns = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(chase(&mut plain, &s.start_bits, s.steps, seed));
        let p = t.elapsed().as_secs_f64();
        let t = Instant::now();
        black_box(chase(&mut ImageWalk(&mut image), &s.starts, s.steps, seed));
        let c = t.elapsed().as_secs_f64();
        ratios.push(c / p);
        plain_ns.push(p * 1e9 / s.steps as f64);
        cow_ns.push(c * 1e9 / s.steps as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = median(&mut ratios);
    let p = median(&mut plain_ns);
    let c = median(&mut cow_ns);
    println!(
        "read_barrier paired: {rounds} rounds of {} steps; median ns/read plain {p:.2}, \
         cowheap {c:.2}; median ratio {ratio:.3} (goal <= 1.10)",
        s.steps
    );
    support::write_json(
        "read_barrier_paired",
        &serde_json::json!({
            "rounds": rounds, "steps": s.steps, "base_objects": s.g.heap.object_count(),
            "base_bytes": s.g.heap.bytes(),
            "plain_ns_per_read": p, "cowheap_ns_per_read": c, "median_ratio": ratio,
            "min_ratio": ratios[0], "max_ratio": ratios[ratios.len() - 1],
        }),
    );
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
