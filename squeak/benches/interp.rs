//! The interpreter (issue 12): bytecodes/s and sends/s of `benchFib` in one image, and the
//! aggregate of 2 images on 2 threads against 1. `benchFib` allocates nothing and writes
//! nothing, so this measures dispatch, sends and returns alone.
//!
//! Criterion's throughput is in bytecodes (the `_bytecodes` groups) or sends (the `_sends`
//! group): a run's counts are fixed, so they are taken once, outside the timing.
//!
//! First, the price of sharing (issue 20, [`bars`]): five expressions over cowheap's shared
//! heap, over a plain private heap (this same bench built with `plain-heap`, run as a child),
//! and on the real Squeak VM where `tools/realvm/run.sh` can fetch it, in one table.
//!
//! `cargo bench --bench interp` (`COWHEAP_BENCH_QUICK=1` for the smoke mode: 20 benchFib, no
//! bars); `cargo bench -p cowheap-squeak --profile bench-lto --bench interp` for the
//! interpreter as the `cowheap` command is built (fat LTO), the figures to hold against the
//! real VM.

mod bars;
mod support;

use std::hint::black_box;

use cowheap_squeak::interp::{new_heap, Limits, Vm};
use cowheap_squeak::loader;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let Some(path) = support::image("bench interp", "mini-2.2-v3-le.image") else {
        return;
    };
    let loaded = loader::load_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let heap = &loaded.heap;
    let vm = Vm::new(heap).unwrap();
    if bars::run(heap, &vm, &path) == bars::Then::Stop {
        return;
    }
    let n = support::pick(27, 20);
    let expr = format!("{n} benchFib");

    // The fixed counts of one run, and what an image holds after it.
    let mut image = new_heap(heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    interp.evaluate(&mut image, &expr).unwrap();
    let counts = interp.stats();
    eprintln!(
        "{expr}: {} bytecodes, {} sends; private bytes after the run: {}",
        counts.bytecodes,
        counts.sends,
        image.stats().private_bytes
    );

    scaling_in_cpu_time(heap, &vm, &expr, counts.bytecodes);

    let mut group = c.benchmark_group("interp_bytecodes");
    group.throughput(Throughput::Elements(counts.bytecodes));
    group.bench_function(BenchmarkId::new("bench_fib", n), |b| {
        b.iter(|| black_box(interp.evaluate(&mut image, black_box(&expr)).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("interp_sends");
    group.throughput(Throughput::Elements(counts.sends));
    group.bench_function(BenchmarkId::new("bench_fib", n), |b| {
        b.iter(|| black_box(interp.evaluate(&mut image, black_box(&expr)).unwrap()))
    });
    group.finish();

    // 1 image on 1 thread against 2 images on 2 threads, the same work per image. Each
    // thread makes its interpreter (they are not `Send`), so its method cache starts cold,
    // in both cases alike.
    let mut group = c.benchmark_group("interp_threads_bytecodes");
    for threads in [1usize, 2] {
        let mut images: Vec<_> = (0..threads).map(|_| new_heap(heap).unwrap()).collect();
        group.throughput(Throughput::Elements(counts.bytecodes * threads as u64));
        group.bench_function(BenchmarkId::new("bench_fib", threads), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for image in images.iter_mut() {
                        let (expr, vm) = (&expr, &vm);
                        s.spawn(move || {
                            let mut interp = vm.interpreter(Limits::default());
                            black_box(interp.evaluate(image, expr).unwrap())
                        });
                    }
                })
            })
        });
    }
    group.finish();
}

/// On a shared, loaded machine the wall-clock ratio of 2 threads to 1 says more about the
/// neighbours than about cowheap. This prints it next to what each thread did per second of
/// its own CPU time: if that stays put from 1 thread to 2, the images do not slow each other
/// down, and on 2 idle cores the aggregate is twice one image's.
fn scaling_in_cpu_time(heap: &cowheap::BaseHeap, vm: &Vm, expr: &str, bytecodes: u64) {
    for threads in [1usize, 2] {
        let wall = std::time::Instant::now();
        let cpu: Vec<std::time::Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut image = new_heap(heap).unwrap();
                        let mut interp = vm.interpreter(Limits::default());
                        interp.evaluate(&mut image, expr).unwrap();
                        let before = support::thread_cpu();
                        for _ in 0..5 {
                            interp.evaluate(&mut image, expr).unwrap();
                        }
                        support::thread_cpu() - before
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = wall.elapsed().as_secs_f64();
        let per_cpu: Vec<String> = cpu
            .iter()
            .map(|c| format!("{:.1}", 5.0 * bytecodes as f64 / c.as_secs_f64() / 1e6))
            .collect();
        eprintln!(
            "{threads} thread(s): aggregate {:.1} M bytecodes/s of wall time (includes warm-up); \
             per thread {} M bytecodes per CPU-second",
            6.0 * threads as f64 * bytecodes as f64 / wall / 1e6,
            per_cpu.join(", ")
        );
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}
criterion_main!(benches);
