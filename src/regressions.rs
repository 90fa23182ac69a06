//! One regression test per hole found by review, named after it (as arc-swap keeps one test
//! per bug). Those that need a counter near its limit start it there through a crate-private
//! hook instead of iterating 2^28 or 2^32 times.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use crate::kernel::owners::{BaseOwners, Claim, Incarnations};
use crate::stats::LiveImages;
use crate::value::BASE_OWNER_FLAG;
use crate::{BaseBuilder, BaseHeap, Error, Format, HeapConfig, Image, ImageStats, Kernel, Value};

fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

/// A base whose byte data is full of words with bit 0 set: taken for a header word, any of
/// them would be a forwarder pointer.
fn booby_trapped_base() -> (BaseHeap, Kernel, Value, Value) {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let trap: Vec<u8> = (0..64u64)
        .flat_map(|i| (0xdead_beef_0000_0001u64 | i << 8).to_le_bytes())
        .collect();
    let bytes = b.new_bytes(k.byte_array, &trap).unwrap();
    let holder = b.new_pointers(k.array, &[bytes, int(7)]).unwrap();
    (b.seal().unwrap(), k, bytes, holder)
}

/// Hole 1: base owner ids repeated after 2^32 builders, and an exhausted builder minted
/// references with a truncated owner that another heap accepted.
#[test]
fn hole_1_base_owner_ids_never_repeat_and_exhaustion_is_refused() {
    let owners = BaseOwners::starting_at(BASE_OWNER_FLAG - 2);
    let mut last = BaseBuilder::with_owners(&owners);
    let mut second_last = BaseBuilder::with_owners(&owners);
    let a = last.new_object(int(0), Format::Pointers, 1).unwrap();
    let b = second_last.new_object(int(0), Format::Pointers, 1).unwrap();
    assert_ne!(a.owner(), b.owner(), "the last two owners are distinct");
    assert_eq!(last.field(b, 0), Err(Error::ForeignReference(b)));
    // Past the limit, however often it is asked, no builder gets an owner...
    for _ in 0..10_000 {
        let mut exhausted = BaseBuilder::with_owners(&owners);
        assert_eq!(
            exhausted.new_object(int(0), Format::Pointers, 1),
            Err(Error::HeapsExhausted),
            "an exhausted builder mints no references"
        );
    }
    // ...and sealing one is refused too.
    let exhausted = BaseBuilder::with_owners(&owners);
    assert_eq!(exhausted.seal().unwrap_err(), Error::HeapsExhausted);
}

/// Hole 1, second guard: a base reference that passes a heap's owner check but names a word
/// inside an object is refused everywhere before anything reads that word as a header. Tried
/// with every word of the arena as the forged index, including byte data that looks like
/// forwarder pointers (the old code followed them: a segfault).
#[test]
fn hole_1_forged_base_references_never_reach_a_non_start_word() {
    let (heap, k, bytes, holder) = booby_trapped_base();
    let mut image = heap.new_image().unwrap();
    image.write(holder, 1, int(8)).unwrap(); // a forwarder in the heap, too
    let starts: std::collections::HashSet<usize> = heap.objects().map(|v| v.index()).collect();
    let arena_words = heap.arena().len();
    for i in 0..arena_words + 8 {
        let forged = Value::object(heap.base_owner(), i as u64);
        if starts.contains(&i) {
            continue;
        }
        macro_rules! stale {
            ($e:expr) => {
                assert_eq!(
                    $e.err(),
                    Some(Error::StaleReference),
                    "{} at word {i}",
                    stringify!($e)
                )
            };
        }
        stale!(image.read(forged, 0));
        stale!(image.write(forged, 0, k.nil));
        stale!(image.write(holder, 0, forged));
        stale!(image.write_byte(forged, 0, 1));
        stale!(image.identity_hash(forged));
        stale!(image.class_of(forged));
        stale!(image.size_of(forged));
        stale!(image.become_forward(forged, holder));
        stale!(image.become_forward(holder, forged));
        stale!(heap.original_field(forged, 0));
        stale!(heap.original_hash(forged));
        stale!(heap.original_format(forged));
        stale!(heap.original_bytes(forged));
    }
    // Nothing was disturbed.
    assert_eq!(image.read(holder, 0).unwrap(), bytes);
    assert_eq!(image.read(holder, 1).unwrap(), int(8));
    assert_eq!(heap.original_field(holder, 1).unwrap(), int(7));
    // A reference of another heap is foreign, whatever it names.
    let (other, ..) = booby_trapped_base();
    for v in other.objects() {
        assert_eq!(image.read(v, 0), Err(Error::ForeignReference(v)));
        assert_eq!(heap.original_field(v, 0), Err(Error::ForeignReference(v)));
    }
}

/// Hole 2: threads reserved blocks of 64 incarnations and the block counter wrapped while
/// older images lived, so two live images could share an incarnation. Now a number is handed
/// out only while its bit is clear: churn many threads over a tiny space of 256 numbers, with
/// half of them held live throughout, and check that no number is ever held twice.
#[test]
fn hole_2_live_images_never_share_an_incarnation() {
    let space = Arc::new(Incarnations::new(4));
    let held: Arc<Vec<AtomicBool>> = Arc::new((0..256).map(|_| AtomicBool::new(false)).collect());
    let mut claim = Claim::EMPTY;
    let long_lived: Vec<u32> = (0..128)
        .map(|_| space.acquire(&mut claim).unwrap())
        .collect();
    for &n in &long_lived {
        assert!(!held[n as usize].swap(true, Ordering::Relaxed));
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (space, held) = (space.clone(), held.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    // A fresh claim per round, as a fresh thread would have.
                    let mut claim = Claim::EMPTY;
                    let mine: Vec<u32> =
                        (0..20).filter_map(|_| space.acquire(&mut claim)).collect();
                    for &n in &mine {
                        assert!(
                            !held[n as usize].swap(true, Ordering::Relaxed),
                            "incarnation {n} handed out while live"
                        );
                    }
                    for &n in &mine {
                        held[n as usize].store(false, Ordering::Relaxed);
                        space.release(n);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for &n in &long_lived {
        assert!(
            held[n as usize].load(Ordering::Relaxed),
            "the long-lived keep theirs"
        );
    }
}

/// Hole 2, through the public API: images made one per fresh thread, all alive together, have
/// distinct incarnations, and an ended image's reference is refused by a later image.
#[test]
fn hole_2_images_on_fresh_threads_have_distinct_incarnations() {
    let (heap, k, ..) = booby_trapped_base();
    let barrier = Arc::new(Barrier::new(200));
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let (heap, barrier) = (heap.clone(), barrier.clone());
            std::thread::spawn(move || {
                let image = heap.new_image().unwrap();
                barrier.wait(); // everyone is live at once
                let n = image.incarnation();
                barrier.wait();
                n
            })
        })
        .collect();
    let mut all: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200);

    let mut ended = heap.new_image().unwrap();
    let kept = ended.allocate(k.array, Format::Pointers, 1).unwrap();
    drop(ended);
    let mut later = heap.new_image().unwrap();
    assert_eq!(later.read(kept, 0), Err(Error::ForeignReference(kept)));
}

/// Hole 2, after a wrap: the guide's promise for a reference whose ended image's incarnation a
/// live image now has. Where it names none of that image's object starts it is stale; where it
/// names one, it is that image's own object, and nothing else is reachable through it.
#[test]
fn hole_2_references_across_a_wrap_are_stale_or_the_holders_own() {
    let (heap, k, ..) = booby_trapped_base();
    let mut image: Image = heap.new_image().unwrap();
    let own = image.new_bytes(k.byte_array, &[1u8; 40]).unwrap();
    for i in 0..own.index() + 12 {
        // What an ended image with the same incarnation could have handed out.
        let from_the_past = Value::object(image.incarnation(), i as u64);
        let read = image.read(from_the_past, 0);
        if i == own.index() {
            assert_eq!(image.read_byte(from_the_past, 0), Ok(1));
        } else {
            assert_eq!(read, Err(Error::StaleReference), "word {i}");
        }
    }
}

/// Hole 3: a monitor's snapshot could pair an ended image's incarnation with the counters of
/// the image that took its id next. Churn images through a heap with one id, the even
/// incarnations only allocating and the odd ones only writing (one thread claims incarnations
/// in sequence, so they alternate), while monitors, more threads than cores, check that every
/// snapshot pairs an incarnation with counters of its own kind. A monitor preempted between
/// its load of the incarnation and of the counters wakes up after many hand-overs of the id:
/// without the seqlock's re-check that is a torn pair. Racy by nature: with the re-check
/// removed, this test and the next together failed 7 of 10 runs on a loaded 2-core VM.
#[test]
fn hole_3_stats_snapshots_never_tear() {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let cell = b.new_pointers(k.array, &[int(0)]).unwrap();
    let heap = b.seal_with(HeapConfig::default().max_images(1)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU32::new(0));
    let monitors: Vec<_> = (0..3)
        .map(|_| {
            let (heap, done, seen) = (heap.clone(), done.clone(), seen.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    for live in heap.image_stats() {
                        let s = live.stats;
                        let torn = if live.incarnation % 2 == 0 {
                            s.writes != 0 || s.copies != 0
                        } else {
                            s.allocations != 0
                        };
                        assert!(
                            !torn,
                            "torn snapshot: incarnation {} with {s:?}",
                            live.incarnation
                        );
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1000) {
        let mut image = heap.new_image().unwrap();
        for i in 0..16 {
            if image.incarnation().is_multiple_of(2) {
                image.allocate(k.array, Format::Pointers, 0).unwrap();
            } else {
                image.write(cell, 0, int(i)).unwrap();
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    for m in monitors {
        m.join().unwrap();
    }
    assert!(
        seen.load(Ordering::Relaxed) > 0,
        "the monitors saw live images"
    );
}

/// Hole 3, at the statistics blocks themselves: the id changes hands as fast as a thread can
/// register and unregister, so a monitor's few loads of one block race many hand-overs even
/// without being preempted (the test above needs a preemption). Even incarnations only count
/// allocations and odd ones only writes; every snapshot must pair an incarnation with counters
/// of its own kind. With the version check removed it failed 7 of 8 runs on a loaded 2-core VM.
#[test]
fn hole_3_statistics_blocks_never_tear_under_fast_churn() {
    let live = Arc::new(LiveImages::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (live, done) = (live.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = 0u64;
            while !done.load(Ordering::Relaxed) {
                for image in live.snapshot() {
                    let s = image.stats;
                    let torn = if image.incarnation % 2 == 0 {
                        s.writes != 0
                    } else {
                        s.allocations != 0
                    };
                    assert!(
                        !torn,
                        "torn snapshot: incarnation {} with {s:?}",
                        image.incarnation
                    );
                    seen += 1;
                }
            }
            seen
        })
    };
    let started = std::time::Instant::now();
    let mut incarnation = 0u32;
    while started.elapsed() < std::time::Duration::from_millis(1500) {
        for _ in 0..1000 {
            incarnation = incarnation % (BASE_OWNER_FLAG - 1) + 1;
            live.register(0, incarnation);
            let counters = live.counters(0);
            for _ in 0..4 {
                if incarnation.is_multiple_of(2) {
                    counters.allocations.bump();
                } else {
                    counters.writes.bump();
                }
            }
            live.unregister(0);
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(monitor.join().unwrap() > 0, "the monitor saw live images");
}

/// Hole 4: a refused write to an object another image had forwarded counted a look-up. A
/// refused operation changes nothing, statistics included.
#[test]
fn hole_4_refused_operations_change_no_statistics() {
    let (heap, k, bytes, holder) = booby_trapped_base();
    let mut writer = heap.new_image().unwrap();
    writer.write(holder, 1, int(1)).unwrap();
    writer.write_byte(bytes, 0, 1).unwrap();
    let mut other = heap.new_image().unwrap();
    let (foreign, ..) = booby_trapped_base();
    let foreign = foreign.object(0).unwrap();
    assert!(other.write(holder, 99, int(0)).is_err());
    assert!(other.write(holder, 0, foreign).is_err());
    assert!(other.write_byte(holder, 0, 1).is_err());
    assert!(other.write_byte(bytes, 10_000, 1).is_err());
    assert!(other.write_word(bytes, 0, 1).is_err());
    assert!(other.read(holder, 99).is_err());
    assert!(other.read(bytes, 0).is_err());
    assert!(other.read_byte(bytes, 10_000).is_err());
    assert!(other.read_word(bytes, 0).is_err());
    assert!(other.become_forward(holder, foreign).is_err());
    assert_eq!(other.stats(), ImageStats::default());
    // The successful ones still count. The object was not this image's before the write, so
    // reaching it was no look-up; reaching its copy on the general path is one.
    other.write(holder, 1, int(5)).unwrap();
    let done = other.stats();
    assert_eq!((done.lookups, done.copies, done.writes), (0, 1, 1));
    assert_eq!(other.class_of(holder).unwrap(), k.array);
    assert_eq!(other.stats().lookups, 1);
}
