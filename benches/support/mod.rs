//! Shared workload code and the alternatives cowheap is measured against.
//!
//! Nothing here is part of the library: the alternatives are the designs a user would
//! otherwise pick, written as plainly and as fast as they reasonably can be, over the very same
//! arena words (`[header][class][body]`, references as cowheap `Value` bits) that the cowheap
//! base holds, so that every design reads and writes the same objects.
#![allow(dead_code)] // each bench binary uses a different part

pub mod alt;
pub mod fork;
pub mod plain;

use std::time::Duration;

use cowheap::{Format, Value};
use cowheap_stress::{generate_base, GenConfig, Generated};
use criterion::Criterion;

/// True when `COWHEAP_BENCH_QUICK` is set (to anything but `0`): the smoke mode that runs
/// every bench in well under a minute, with tiny sizes and few samples.
pub fn quick() -> bool {
    std::env::var("COWHEAP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Picks the full-run or the quick-mode value.
pub fn pick<T>(full: T, quick_value: T) -> T {
    if quick() {
        quick_value
    } else {
        full
    }
}

/// The criterion configuration of every bench: modest sample counts so that the whole suite
/// runs in minutes, and a smoke configuration in quick mode.
pub fn criterion() -> Criterion {
    let c = Criterion::default().configure_from_args();
    if quick() {
        // Apart from full results, so that `cargo xtask plot` never publishes smoke data.
        c.output_directory(&target_dir().join("criterion-smoke"))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(10))
            .measurement_time(Duration::from_millis(40))
            .nresamples(1000)
            .without_plots()
    } else {
        c.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1200))
            .without_plots()
    }
}

/// The seed every bench derives its workload from.
pub const SEED: u64 = 0x5eed_c0de;

/// The default generated base with about `objects` objects.
pub fn generate(objects: usize) -> Generated {
    generate_base(&GenConfig {
        seed: SEED,
        objects,
        ..GenConfig::default()
    })
    .expect("generate the default base")
}

/// The one generator of the harness, benches and tests: every design under test replays the
/// same stream.
pub use cowheap_stress::rng::Rng;

/// A pointer object the workloads may read and write: its reference, its arena word index
/// (how the alternatives name it), and its slot count.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub value: Value,
    pub index: u32,
    pub slots: u32,
}

/// The pointer objects of a generated base with at least one slot, in a fixed shuffled order.
pub fn targets(g: &Generated, max: usize) -> Vec<Target> {
    let mut all: Vec<Target> = g
        .pointer_objects()
        .into_iter()
        .filter_map(|value| {
            let slots = g.heap.original_size(value).ok()?;
            (slots > 0 && g.heap.original_format(value).ok()? == Format::Pointers).then(|| Target {
                value,
                index: cowheap::bench_api::value_index(value) as u32,
                slots: slots as u32,
            })
        })
        .collect();
    Rng::new(SEED ^ 0x7a7).shuffle(&mut all);
    all.truncate(max);
    all
}

/// One operation of a workload stream.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Read slot `slot` of `targets[obj]`.
    Read { obj: u32, slot: u32 },
    /// Store SmallInteger `value` into slot `slot` of `targets[obj]`.
    Write { obj: u32, slot: u32, value: i64 },
}

/// The deterministic op stream of image `image`: `len` ops over `targets`, `write_pct`
/// percent of them stores. Every design under test replays exactly this stream.
pub fn op_stream(
    image: usize,
    len: usize,
    targets: &[Target],
    write_pct: u64,
) -> impl Iterator<Item = Op> + '_ {
    let mut rng = Rng::derive(SEED, image as u64 + 1);
    (0..len).map(move |_| {
        let obj = rng.below(targets.len());
        let slot = rng.below(targets[obj].slots as usize) as u32;
        if rng.below(100) < write_pct as usize {
            Op::Write {
                obj: obj as u32,
                slot,
                value: (rng.next_u64() >> 8) as i64,
            }
        } else {
            Op::Read {
                obj: obj as u32,
                slot,
            }
        }
    })
}

/// The target folder: `CARGO_TARGET_DIR`, else `target` (benches run in the workspace root).
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .unwrap_or_else(|| "target".into())
        .into()
}

/// Where machine-readable bench results that criterion does not record (memory figures)
/// go: `target/cowheap-bench/NAME.json`, or `target/cowheap-bench/smoke/NAME.json` in the smoke
/// mode (which `cargo xtask plot` never reads).
pub fn write_json(name: &str, value: &serde_json::Value) {
    let mut dir = target_dir().join("cowheap-bench");
    if quick() {
        dir.push("smoke");
    }
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}.json"));
    if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()) {
        eprintln!("could not write {}: {e}", path.display());
    } else {
        println!("wrote {}", path.display());
    }
}

/// A global allocator that counts live heap bytes, for the memory benches.
pub struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

impl Counting {
    /// Heap bytes currently allocated by the whole process.
    pub fn live() -> isize {
        LIVE.load(std::sync::atomic::Ordering::SeqCst)
    }
}

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged,
// so `System`'s guarantees carry over; the counter has no effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded verbatim; the caller upholds `alloc`'s contract.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded verbatim; `ptr` came from this allocator with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: forwarded verbatim; the caller upholds `alloc_zeroed`'s contract.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(
            new as isize - layout.size() as isize,
            std::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: forwarded verbatim; the caller upholds `realloc`'s contract.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

/// The CPU time of the calling thread.
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
