//! Loom models of the real cowheap kernel: the forwarder CAS, the slot table, teardown and id
//! reuse, per-image become and lazy fix-up, driven through the public API, and the statistics
//! blocks' seqlock.
//!
//! Run: `loom-tests/run.sh` (or `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release
//! --target-dir loom-target`). Every model states its preemption bound; set
//! `LOOM_MAX_PREEMPTIONS` to override all of them (deeper bounds take much longer).
//!
//! Under `cfg(loom)` the kernel shrinks: 1 inline slot-table entry, first level of 2 entries,
//! one outsider section slot, at most 4 images per heap. So three images already force a level to grow.
//! Where the public API would bury a protocol under too many other atomics, a model drives the
//! kernel part through the hidden, loom-only `cowheap::loom_api`.
#![cfg(loom)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use cowheap::Image;
use loom::thread;

/// Model 1: two images race to make their first store into z while a third reads it.
/// Each writer ends with its own copy holding its own value, the reader sees the original,
/// the base is unchanged, and there is exactly one forwarder.
#[test]
fn cow_race_with_reader() {
    model("cow_race_with_reader", Some(5), || {
        let b = base(4);
        let (z, y) = (b.z, b.y);
        let writers: Vec<_> = (1..=2)
            .map(|n| {
                spawn(b.heap.new_image().unwrap(), move |img| {
                    img.write(z, 0, int(n)).unwrap();
                    assert_eq!(
                        img.read(z, 0).unwrap(),
                        int(n),
                        "writer {n} reads its own value"
                    );
                    assert_eq!(img.stats().copies, 1);
                })
            })
            .collect();
        let reader = spawn(b.heap.new_image().unwrap(), move |img| {
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(0),
                "the reader sees the original"
            );
            assert_eq!(img.read(z, 1).unwrap(), y);
            assert_eq!(img.stats().copies, 0);
        });
        let images: Vec<Image> = writers.into_iter().map(|h| h.join().unwrap().0).collect();
        drop(reader.join().unwrap());
        let census = b.heap.census();
        assert_eq!((census.forwarders, census.entries), (1, 2));
        assert_eq!(b.heap.original_field(z, 0).unwrap(), int(0));
        drop(images);
        assert_eq!(b.heap.census().entries, 0);
    });
}

/// Model 2: three images insert their slots into one forwarder while its table grows
/// (1 inline entry, then a level of 2). No insert is lost.
#[test]
fn three_inserts_while_growing() {
    model("three_inserts_while_growing", Some(4), || {
        let b = base(4);
        let _images = racing_writers(&b, 3);
        let census = b.heap.census();
        assert_eq!((census.forwarders, census.entries), (1, 3));
    });
}

/// Model 2c: a second out-of-line level. Three images fill the inline entry and the first
/// level (2 entries) before the race; then two more race to CAS-link the second level (8
/// entries, so the claim walks past level 1: one creates it, the other reserves in it or loses
/// the link CAS and walks to it) and take entries in it, while an image whose entry sits in
/// the first level reads the object. The final census walks both links. Needs 6 images in one
/// heap, above loom's default of 4 (`base(8)` seals with `HeapConfig::max_images(8)`).
#[test]
fn inserts_grow_a_second_level() {
    model("inserts_grow_a_second_level", Some(4), || {
        let b = base(8);
        let z = b.z;
        let mut settled: Vec<Image> = (1..=3)
            .map(|n| {
                let mut img = b.heap.new_image().unwrap();
                img.write(z, 0, int(n)).unwrap();
                img
            })
            .collect();
        let last = settled.pop().unwrap();
        let reader = spawn(last, move |img| {
            assert_eq!(img.read(z, 0).unwrap(), int(3), "the first level's entry");
        });
        let growers: Vec<_> = (4..=5)
            .map(|n| {
                spawn(b.heap.new_image().unwrap(), move |img| {
                    img.write(z, 0, int(n)).unwrap();
                    assert_eq!(img.read(z, 0).unwrap(), int(n));
                })
            })
            .collect();
        let mut images: Vec<Image> = growers.into_iter().map(|h| h.join().unwrap().0).collect();
        images.push(reader.join().unwrap().0);
        for (n, img) in settled.iter_mut().enumerate() {
            assert_eq!(img.read(z, 0).unwrap(), int(n as i64 + 1));
        }
        let census = b.heap.census();
        assert_eq!((census.forwarders, census.entries), (1, 5));
        assert_eq!(census.entry_capacity, 1 + 2 + 8, "exactly one second level");
    });
}

/// Model 2d: a census (a monitor's walk of every forwarder and level) runs while three images
/// insert into one forwarder and grow its first level. It counts what it can reach, and never
/// reaches a level before the level's initialisation.
#[test]
fn census_races_growth() {
    model("census_races_growth", Some(2), || {
        let b = base(4);
        let heap = b.heap.clone();
        let monitor = thread::spawn(move || {
            let census = heap.census();
            assert!(census.forwarders <= 1 && census.entries <= 3);
        });
        let _images = racing_writers(&b, 3);
        monitor.join().unwrap();
        assert_eq!(b.heap.census().entries, 3);
    });
}

/// Model 2b: two images race to claim the same free entry (the one an ended image left in the
/// inline slot, while a survivor keeps the forwarder up). Exactly one wins it; the other goes
/// on to the next. No insert is lost.
#[test]
fn inserts_race_for_a_freed_entry() {
    model("inserts_race_for_a_freed_entry", None, || {
        let b = base(4);
        let mut gone = b.heap.new_image().unwrap();
        gone.write(b.z, 0, int(9)).unwrap();
        let mut survivor = b.heap.new_image().unwrap();
        survivor.write(b.z, 0, int(8)).unwrap();
        drop(gone);
        let _images = racing_writers(&b, 2);
        assert_eq!(b.heap.census().entries, 3);
        assert_eq!(survivor.read(b.z, 0).unwrap(), int(8));
    });
}

/// Reclamation 1: the last image with an entry in z ends (taking the forwarder down) while
/// another image makes its first store into z and a third reads z for the first time. The
/// writer's entry lands in a live forwarder or a new one, never a retired one (a lost entry
/// would show as the writer reading the base), and the reader never touches a freed forwarder.
#[test]
fn reclaim_races_insert() {
    model("reclaim_races_insert", Some(2), || {
        let b = base(4);
        let z = b.z;
        let mut gone = b.heap.new_image().unwrap();
        gone.write(z, 0, int(1)).unwrap();
        let teardown = thread::spawn(move || drop(gone));
        let writer = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(2)).unwrap();
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(2),
                "the writer's entry was lost"
            );
        });
        let reader = spawn(b.heap.new_image().unwrap(), move |img| {
            assert_eq!(img.read(z, 0).unwrap(), int(0));
        });
        teardown.join().unwrap();
        let (mut writer, ()) = writer.join().unwrap();
        drop(reader.join().unwrap());
        assert_eq!(writer.read(z, 0).unwrap(), int(2));
        let census = b.heap.census();
        assert_eq!((census.forwarders, census.entries), (1, 1));
        drop(writer);
        b.heap.reclaim();
        assert_eq!(b.heap.census(), cowheap::Census::default());
    });
}

/// Reclamation 2: while the forwarder's last image ends and frees what it can, a census walks
/// the forwarder inside a section (the read path never dereferences a forwarder; a census, a
/// join and a teardown do), and an image reads the object as sealed. The census must never
/// see the forwarder freed (under loom a freed forwarder is marked, and any use of it fails).
#[test]
fn reclaim_races_reader() {
    model("reclaim_races_reader", Some(3), || {
        let b = base(4);
        let (z, y) = (b.z, b.y);
        let mut gone = b.heap.new_image().unwrap();
        gone.write(z, 0, int(1)).unwrap();
        let teardown = thread::spawn(move || drop(gone));
        let heap = b.heap.clone();
        let census = thread::spawn(move || heap.census());
        let reader = spawn(b.heap.new_image().unwrap(), move |img| {
            assert_eq!(img.read(z, 0).unwrap(), int(0));
            assert_eq!(img.read(z, 1).unwrap(), y);
            assert_eq!(img.identity_hash(z).unwrap(), b_hash(img, z));
        });
        teardown.join().unwrap();
        // Not a snapshot: the census may catch the forwarder between its last entry's removal
        // and its take-down.
        let seen = census.join().unwrap();
        assert!(
            seen.forwarders <= 1 && seen.entries <= seen.forwarders,
            "{seen:?}"
        );
        drop(reader.join().unwrap());
        b.heap.reclaim();
        assert_eq!(b.heap.census(), cowheap::Census::default());
    });
}

/// Reclamation 3: a forwarder is taken down and another image installs a new one on the same
/// object, while a reader that may have met the old one reads twice. The reader always sees
/// the original, and the new writer its own value.
#[test]
fn reinstall_after_reclaim_with_stale_reader() {
    model("reinstall_after_reclaim_with_stale_reader", Some(3), || {
        let b = base(4);
        let z = b.z;
        let mut gone = b.heap.new_image().unwrap();
        gone.write(z, 0, int(1)).unwrap();
        let next = b.heap.new_image().unwrap();
        let churn = thread::spawn(move || {
            drop(gone);
            let mut next = next;
            next.write(z, 0, int(2)).unwrap();
            assert_eq!(next.read(z, 0).unwrap(), int(2));
            next
        });
        let reader = spawn(b.heap.new_image().unwrap(), move |img| {
            assert_eq!(img.read(z, 0).unwrap(), int(0));
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(0),
                "a cached answer stays right"
            );
        });
        let mut next = churn.join().unwrap();
        drop(reader.join().unwrap());
        assert_eq!(next.read(z, 0).unwrap(), int(2));
        assert_eq!(b.heap.census().entries, 1);
    });
}

/// Reclamation 4: an image with no entry reads the object as sealed while another image joins
/// the forwarder and the first entry's image ends. The answer stays right throughout, and the
/// joiner keeps the forwarder up.
#[test]
fn sealed_answer_races_install() {
    model("sealed_answer_races_install", Some(2), || {
        let b = base(4);
        let z = b.z;
        let mut first = b.heap.new_image().unwrap();
        first.write(z, 0, int(1)).unwrap();
        let reader = spawn(b.heap.new_image().unwrap(), move |img| {
            assert_eq!(img.read(z, 0).unwrap(), int(0));
            assert_eq!(img.read(z, 0).unwrap(), int(0));
        });
        let joiner = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(2)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(2));
        });
        let teardown = thread::spawn(move || drop(first));
        teardown.join().unwrap();
        drop(reader.join().unwrap());
        let (mut joiner, ()) = joiner.join().unwrap();
        assert_eq!(joiner.read(z, 0).unwrap(), int(2));
        let census = b.heap.census();
        assert_eq!((census.forwarders, census.entries), (1, 1));
    });
}

/// Reclamation 5: an image's end takes down the forwarder it alone held, and a newcomer that
/// gets its id (and so its section counter) starts on another thread while a third image
/// writes the object. The newcomer sees the base and then its own store.
#[test]
fn id_reuse_after_reclaim() {
    model("id_reuse_after_reclaim", Some(2), || {
        let b = base(2);
        let z = b.z;
        let mut old = b.heap.new_image().unwrap();
        let old_id = old.id();
        old.write(z, 0, int(1)).unwrap();
        let third = b.heap.new_image().unwrap();
        let teardown = thread::spawn(move || drop(old));
        let heap = b.heap.clone();
        let newcomer = thread::spawn(move || {
            let mut img = wait_for_image(&heap);
            assert_eq!(img.id(), old_id);
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(0),
                "the newcomer sees the base"
            );
            img.write(z, 0, int(4)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(4));
            img
        });
        let writer = spawn(third, move |img| {
            img.write(z, 0, int(3)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(3));
        });
        teardown.join().unwrap();
        let newcomer = newcomer.join().unwrap();
        let (writer, ()) = writer.join().unwrap();
        assert_eq!(b.heap.census().entries, 2);
        assert!(
            b.heap
                .image_stats()
                .iter()
                .any(|live| live.incarnation == newcomer.incarnation()),
            "the old image's end unregistered the newcomer's statistics"
        );
        drop((newcomer, writer));
        b.heap.reclaim();
        assert_eq!(b.heap.census(), cowheap::Census::default());
    });
}

/// Model 3: an image is torn down while another inserts into (and grows) a forwarder both
/// touched. No use-after-free (loom tracks the heap's Arc and the forwarder's cells) and the
/// survivor's entry is intact.
#[test]
fn teardown_races_insert() {
    model("teardown_races_insert", Some(5), || {
        let b = base(4);
        let z = b.z;
        let mut gone = b.heap.new_image().unwrap();
        let mut survivor = b.heap.new_image().unwrap();
        gone.write(z, 0, int(1)).unwrap();
        survivor.write(z, 0, int(2)).unwrap();
        let teardown = thread::spawn(move || drop(gone));
        let inserter = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(3)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(3));
        });
        let survivor = spawn(survivor, move |img| {
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(2),
                "the survivor's entry is intact"
            );
        });
        teardown.join().unwrap();
        let (mut inserter, ()) = inserter.join().unwrap();
        let (mut survivor, ()) = survivor.join().unwrap();
        assert_eq!(inserter.read(z, 0).unwrap(), int(3));
        assert_eq!(survivor.read(z, 0).unwrap(), int(2));
        assert_eq!(b.heap.census().entries, 2);
    });
}

/// Shrinking 1: the only image in the forwarder's one level ends, so its leave closes the
/// level and unlinks it, while another image's first store looks for room: it reserves in the
/// level before the close (which then fails), or finds it closed and links a level after it
/// (carried over by the unlinking CAS) or after the unlink. No entry is lost and exactly one
/// level is left.
#[test]
fn level_close_races_insert() {
    model("level_close_races_insert", Some(5), || {
        let b = base(4);
        let z = b.z;
        let (mut inline, leaver) = (wrote_z(&b, 1), wrote_z(&b, 2));
        assert_eq!(b.heap.census().entry_capacity, 1 + 2);
        let teardown = thread::spawn(move || drop(leaver));
        let writer = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(3)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(3));
        });
        teardown.join().unwrap();
        let (writer, ()) = writer.join().unwrap();
        let census = b.heap.census_of(z).unwrap();
        let mut ids = vec![inline.id(), writer.id()];
        ids.sort_unstable();
        assert_eq!(census.images, ids, "the writer's entry was lost");
        assert_eq!(census.entry_capacity, 1 + 2, "exactly one level is left");
        assert_eq!(inline.read(z, 0).unwrap(), int(1));
    });
}

/// Shrinking 2: a census walks the chain while the image holding the only entry of its level
/// ends, unlinks the level and frees what it can. The census never reaches a freed level
/// (under loom a freed level is marked, and any use of it fails).
#[test]
fn level_unlink_races_census() {
    model("level_unlink_races_census", Some(5), || {
        let b = base(4);
        let z = b.z;
        let (inline, leaver) = (wrote_z(&b, 1), wrote_z(&b, 2));
        let heap = b.heap.clone();
        let census = thread::spawn(move || heap.census_of(z).unwrap());
        let teardown = thread::spawn(move || drop(leaver));
        teardown.join().unwrap();
        let seen = census.join().unwrap();
        assert!(seen.images.contains(&inline.id()), "{seen:?}");
        b.heap.reclaim();
        let census = b.heap.census_of(z).unwrap();
        assert_eq!(census.images, vec![inline.id()]);
        assert_eq!(census.entry_capacity, 1, "the level is gone");
    });
}

/// Model 4: ABA. An image is torn down, and a new image that may reuse its id starts on
/// another thread while a third image writes. The new image sees base values only.
#[test]
fn id_reuse_after_teardown() {
    model("id_reuse_after_teardown", Some(2), || {
        // Two ids: the newcomer can only start once the old image has released its id.
        let b = base(2);
        let (z, y) = (b.z, b.y);
        let mut old = b.heap.new_image().unwrap();
        let old_id = old.id();
        old.write(z, 0, int(1)).unwrap();
        old.become_forward(y, z).unwrap();
        let third = b.heap.new_image().unwrap();
        let teardown = thread::spawn(move || drop(old));
        let heap = b.heap.clone();
        let newcomer = thread::spawn(move || {
            let mut img = wait_for_image(&heap);
            assert_eq!(img.id(), old_id);
            assert_eq!(
                img.read(z, 0).unwrap(),
                int(0),
                "the newcomer sees the base"
            );
            assert_eq!(
                img.read(y, 0).unwrap(),
                int(10),
                "and not the old image's become"
            );
            assert!(!img.identical(y, z).unwrap());
        });
        let writer = spawn(third, move |img| {
            img.write(z, 0, int(3)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(3));
        });
        teardown.join().unwrap();
        newcomer.join().unwrap();
        drop(writer.join().unwrap());
    });
}

/// Model 5: one image's `become_forward(z, y)` races another image's copy-on-write of z.
#[test]
fn become_races_cow() {
    model("become_races_cow", None, || {
        let b = base(4);
        let (z, y) = (b.z, b.y);
        let becomer = spawn(b.heap.new_image().unwrap(), move |img| {
            img.become_forward(z, y).unwrap();
            assert!(img.identical(z, y).unwrap());
            assert_eq!(img.read(z, 0).unwrap(), int(10), "z now reads as y");
        });
        let writer = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(5)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(5));
            assert!(!img.identical(z, y).unwrap());
        });
        let (mut becomer, ()) = becomer.join().unwrap();
        let (mut writer, ()) = writer.join().unwrap();
        assert_eq!(
            becomer.read(y, 1).unwrap(),
            y,
            "y.1 = z, which is y for this image"
        );
        assert_eq!(writer.read(z, 0).unwrap(), int(5));
        assert_eq!(b.heap.census().forwarders, 1);
    });
}

/// Model 6: an image reads a private referrer of z while another image installs z's
/// forwarder, then copies z itself. Each read answers the original or the image's own copy,
/// never the other image's.
#[test]
fn fixup_races_install() {
    model("fixup_races_install", None, || {
        let b = base(4);
        let z = b.z;
        let mut reader = b.heap.new_image().unwrap();
        let class = b.heap.original_class(z).unwrap();
        let referrer = reader.new_pointers(class, &[z]).unwrap();
        let reader = spawn(reader, move |img| {
            let first = img.read(referrer, 0).unwrap();
            assert_eq!(first, z, "no entry of our own yet: the original");
            assert_eq!(img.read(first, 0).unwrap(), int(0));
            img.write(z, 0, int(1)).unwrap();
            let second = img.read(referrer, 0).unwrap();
            assert_ne!(second, z, "fixed up to our own copy");
            assert_eq!(img.read(second, 0).unwrap(), int(1));
            assert_eq!(img.stats().fixups, 1);
        });
        let installer = spawn(b.heap.new_image().unwrap(), move |img| {
            img.write(z, 0, int(2)).unwrap();
            assert_eq!(img.read(z, 0).unwrap(), int(2));
        });
        drop(reader.join().unwrap());
        drop(installer.join().unwrap());
        assert_eq!(b.heap.original_field(z, 0).unwrap(), int(0));
    });
}

/// Statistics: a monitor reads a statistics block (`kernel/stats_block.rs`, a seqlock) while it
/// changes hands. The image holding id 0 (incarnation 1, its counter 0 at 1) ends on one
/// thread; a newcomer on another waits for the id, takes it as incarnation 2 and bumps its
/// counter 1; the monitor reads the block once. Driven through `cowheap::loom_api::StatsBlocks`
/// (the real blocks and id allocator, with two counters a block instead of nine: each counter
/// the monitor loads multiplies the interleavings). Every snapshot the monitor accepts is one
/// holder's: (1, [1, 0]), (2, [0, 0]) or (2, [0, 1]); never the new incarnation with the old
/// holder's counters, nor the old incarnation with counters the newcomer reset or bumped.
#[test]
fn stats_read_races_handover() {
    use cowheap::loom_api::StatsBlocks;
    use loom::sync::Arc;
    /// What the monitor got, over all interleavings: nothing, the old holder, the newcomer.
    static SEEN: [AtomicUsize; 3] = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    model("stats_read_races_handover", Some(3), || {
        let blocks = Arc::new(StatsBlocks::new(1));
        let old = blocks.register(1).unwrap();
        blocks.add(old, 0, 1);
        let teardown = {
            let blocks = blocks.clone();
            thread::spawn(move || blocks.unregister(old))
        };
        let newcomer = {
            let blocks = blocks.clone();
            thread::spawn(move || {
                let id = loop {
                    match blocks.register(2) {
                        Some(id) => break id,
                        None => thread::yield_now(),
                    }
                };
                assert_eq!(id, old);
                blocks.add(id, 1, 1);
            })
        };
        let seen = blocks.read(old);
        match seen {
            None => SEEN[0].fetch_add(1, Ordering::Relaxed),
            Some((1, [1, 0])) => SEEN[1].fetch_add(1, Ordering::Relaxed),
            Some((2, [0, 0 | 1])) => SEEN[2].fetch_add(1, Ordering::Relaxed),
            Some(torn) => panic!("torn statistics snapshot: {torn:?}"),
        };
        teardown.join().unwrap();
        newcomer.join().unwrap();
        assert_eq!(blocks.read(old), Some((2, [0, 1])));
    });
    // Not vacuous: the monitor met all three (a bound below 2 never lets it meet the newcomer).
    let seen = SEEN.each_ref().map(|n| n.load(Ordering::Relaxed));
    let shallow = std::env::var("LOOM_MAX_PREEMPTIONS")
        .is_ok_and(|bound| bound.parse::<usize>().is_ok_and(|bound| bound < 2));
    assert!(
        shallow || seen.iter().all(|&n| n > 0),
        "the monitor met a vacant or changing block, the old holder and the newcomer: {seen:?}"
    );
}
