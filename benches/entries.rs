//! The forwarder's slot table (ARCHITECTURE.md, "Hot paths"): cowheap's chained-level table, driven
//! through the kernel's own `install`/`lookup`/`clear` (via `cowheap::bench_api`), against
//! two alternatives the design weighed, through the same operations at 1, 8, 64 and 1024
//! entries:
//!
//! * an immutable sorted array replaced by CAS (RCU), old arrays retired through
//!   crossbeam-epoch; a reader pins the epoch for each look-up;
//! * a dense array indexed by image id (O(max images) memory per forwarder: here sized for
//!   the ids in use, 8 bytes each).
//!
//! `cargo bench --bench entries`

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use cowheap::bench_api::EntriesBench;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use crossbeam::epoch::{self, Atomic, Owned};

/// The operations every table offers, as the read and write paths use them.
trait Table {
    fn make(max_ids: usize) -> Self;
    fn insert(&self, id: u32, target: u64);
    /// Whether `id` holds an entry. The alternatives store a target and load it; cowheap's
    /// entries carry none (an image's target lives in its own resolutions, which its
    /// collector may move), so its look-up is the scan for the key alone.
    fn lookup(&self, id: u32) -> bool;
}

impl Table for EntriesBench {
    fn make(_max_ids: usize) -> Self {
        EntriesBench::new()
    }
    #[inline]
    fn insert(&self, id: u32, _target: u64) {
        EntriesBench::insert(self, id)
    }
    #[inline]
    fn lookup(&self, id: u32) -> bool {
        EntriesBench::holds(self, id)
    }
}

/// RCU: a sorted `(id, target)` array, replaced as a whole by CAS on every insert.
struct RcuSorted {
    array: Atomic<Vec<(u32, u64)>>,
}

impl Table for RcuSorted {
    fn make(_max_ids: usize) -> Self {
        RcuSorted {
            array: Atomic::null(),
        }
    }

    fn insert(&self, id: u32, target: u64) {
        let guard = epoch::pin();
        loop {
            let current = self.array.load(Ordering::Acquire, &guard);
            // SAFETY: arrays are published with Release and retired only through the epoch,
            // and we hold a guard.
            let mut next = unsafe { current.as_ref() }.cloned().unwrap_or_default();
            let at = next.partition_point(|&(k, _)| k < id);
            next.insert(at, (id, target));
            match self.array.compare_exchange(
                current,
                Owned::new(next),
                Ordering::AcqRel,
                Ordering::Acquire,
                &guard,
            ) {
                Ok(_) => {
                    if !current.is_null() {
                        // SAFETY: `current` is unlinked by our CAS; readers that still see it
                        // are pinned, and the epoch frees it only after they unpin.
                        unsafe { guard.defer_destroy(current) };
                    }
                    return;
                }
                Err(_) => std::hint::spin_loop(),
            }
        }
    }

    #[inline]
    fn lookup(&self, id: u32) -> bool {
        let guard = epoch::pin();
        let current = self.array.load(Ordering::Acquire, &guard);
        // SAFETY: as in `insert`: published with Release, retired through the epoch, pinned.
        let Some(array) = (unsafe { current.as_ref() }) else {
            return false;
        };
        array
            .binary_search_by_key(&id, |&(k, _)| k)
            .ok()
            .map(|i| black_box(array[i].1))
            .is_some()
    }
}

impl Drop for RcuSorted {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can reach the array any more.
        unsafe {
            let guard = epoch::unprotected();
            let current = self.array.load(Ordering::Relaxed, guard);
            if !current.is_null() {
                drop(current.into_owned());
            }
        }
    }
}

/// A dense array indexed by image id; 0 is empty, else `target + 1`.
struct Dense {
    entries: Box<[AtomicU64]>,
}

impl Table for Dense {
    fn make(max_ids: usize) -> Self {
        Dense {
            entries: (0..max_ids).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    #[inline]
    fn insert(&self, id: u32, target: u64) {
        // Each entry has one writer, its image: a store publishes it.
        self.entries[id as usize].store(target + 1, Ordering::Release);
    }
    #[inline]
    fn lookup(&self, id: u32) -> bool {
        black_box(self.entries[id as usize].load(Ordering::Acquire)) != 0
    }
}

fn filled<T: Table>(n: usize) -> T {
    let t = T::make(2 * n);
    for id in 0..n as u32 {
        t.insert(id, id as u64 * 16 + 2);
    }
    t
}

fn ops<T: Table>(c: &mut Criterion, name: &str) {
    for n in [1usize, 8, 64, 1024] {
        let table: T = filled(n);
        for id in 0..n as u32 {
            assert!(table.lookup(id));
            assert!(!table.lookup(id + n as u32));
        }
        let mut group = c.benchmark_group(format!("entries_{n}"));
        let mut i = 0u32;
        group.bench_function(BenchmarkId::new("lookup_own", name), |b| {
            b.iter(|| {
                i += 1;
                if i == n as u32 {
                    i = 0;
                }
                table.lookup(black_box(i))
            })
        });
        let mut i = 0u32;
        group.bench_function(BenchmarkId::new("lookup_miss", name), |b| {
            b.iter(|| {
                i += 1;
                if i == n as u32 {
                    i = 0;
                }
                table.lookup(black_box(i + n as u32))
            })
        });
        // Building the table from empty: every insert, per insert.
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("insert_all", name), |b| {
            b.iter_batched(
                || T::make(2 * n),
                |t| {
                    for id in 0..n as u32 {
                        t.insert(black_box(id), id as u64 * 16 + 2);
                    }
                    t
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn bench(c: &mut Criterion) {
    ops::<EntriesBench>(c, "cowheap_levels");
    ops::<RcuSorted>(c, "rcu_sorted_epoch");
    ops::<Dense>(c, "dense_by_id");
    // Memory per forwarder, for the report.
    let mut mem = Vec::new();
    for n in [1usize, 8, 64, 1024] {
        let t: EntriesBench = filled(n);
        let (used, capacity) = t.census();
        mem.push(serde_json::json!({
            "entries": n, "cowheap_used": used, "cowheap_capacity_entries": capacity,
            "cowheap_bytes": t.bytes(),
            "rcu_bytes": 8 + 24 + 16 * n,
            "dense_bytes_for_65536_ids": 65536 * 8,
        }));
    }
    support::write_json("entries_memory", &serde_json::Value::Array(mem));
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench
}

criterion_main!(benches);
