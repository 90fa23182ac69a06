//! A forwarder's slot table holds memory in proportion to its live entries, not to its peak:
//! a level is unlinked and freed once its last entry leaves, whatever order images end in.

mod common;

use common::{fixture_with, int};
use cowheap::{HeapConfig, Image, ObjectCensus};

const INLINE: usize = ObjectCensus::INLINE_ENTRIES;
const MAX_LEVEL: usize = ObjectCensus::LARGEST_LEVEL;

const WRITERS: usize = 10_000;
const SURVIVORS: usize = 10;

/// `WRITERS` images that each wrote object 0 once, in creation order.
fn writers(f: &common::Fixture) -> Vec<Image> {
    (0..WRITERS)
        .map(|i| {
            let mut img = f.heap.new_image().unwrap();
            img.write(f.objects[0], 1, int(i as i64)).unwrap();
            img
        })
        .collect()
}

/// Ends every image but the ones `keep` names, then checks that the slot table shrank to the
/// survivors' levels, that each survivor still reads its own value, and that the census names
/// exactly them.
fn end_all_but(
    f: &common::Fixture,
    images: Vec<Image>,
    keep: impl Fn(usize) -> bool,
) -> Vec<Image> {
    let before = f.heap.census_of(f.objects[0]).unwrap();
    assert_eq!(before.images.len(), WRITERS);
    assert!(before.entry_capacity >= WRITERS);
    let mut survivors = Vec::new();
    for (i, img) in images.into_iter().enumerate() {
        if keep(i) {
            survivors.push((i, img));
        }
    }
    let census = f.heap.census_of(f.objects[0]).unwrap();
    let mut ids: Vec<u32> = survivors.iter().map(|(_, img)| img.id()).collect();
    ids.sort_unstable();
    assert_eq!(
        census.images, ids,
        "the survivors hold exactly the entries left"
    );
    assert!(census.capacity_follows_entries(), "{census:?}");
    assert!(
        census.entry_capacity <= INLINE + MAX_LEVEL * survivors.len(),
        "{} entries of capacity for {} live entries (was {})",
        census.entry_capacity,
        survivors.len(),
        before.entry_capacity
    );
    for (i, img) in &mut survivors {
        assert_eq!(img.read(f.objects[0], 1).unwrap(), int(*i as i64));
    }
    survivors.into_iter().map(|(_, img)| img).collect()
}

fn heap() -> common::Fixture {
    fixture_with(2, HeapConfig::default().max_images(2 * WRITERS))
}

#[test]
fn capacity_shrinks_when_the_first_writers_end() {
    let f = heap();
    let images = writers(&f);
    let survivors = end_all_but(&f, images, |i| i >= WRITERS - SURVIVORS);
    // The last ten sit in at most two adjacent levels.
    let census = f.heap.census_of(f.objects[0]).unwrap();
    assert!(
        census.entry_capacity <= INLINE + 2 * MAX_LEVEL,
        "{census:?}"
    );
    drop(survivors);
}

#[test]
fn capacity_shrinks_when_the_last_writers_end() {
    let f = heap();
    let images = writers(&f);
    let _survivors = end_all_but(&f, images, |i| i < SURVIVORS);
    let census = f.heap.census_of(f.objects[0]).unwrap();
    assert!(census.entry_capacity <= INLINE + 8, "{census:?}");
}

#[test]
fn capacity_shrinks_when_scattered_writers_survive() {
    let f = heap();
    let images = writers(&f);
    // Survivors spread over the whole chain, one per thousand.
    let mut survivors = end_all_but(&f, images, |i| i % (WRITERS / SURVIVORS) == 7);
    // Newcomers fill the holes before any new level is linked.
    for n in 0..100 {
        let mut img = f.heap.new_image().unwrap();
        img.write(f.objects[0], 1, int(-n)).unwrap();
        survivors.push(img);
    }
    let census = f.heap.census_of(f.objects[0]).unwrap();
    assert_eq!(census.images.len(), SURVIVORS + 100);
    assert!(
        census.entry_capacity <= INLINE + MAX_LEVEL * SURVIVORS + 8 + 32 + MAX_LEVEL,
        "{census:?}"
    );
    drop(survivors);
    f.heap.reclaim();
    assert_eq!(f.heap.census(), cowheap::Census::default());
}

/// Images on several threads come and go on one hot object while a few stay: the table never
/// loses a survivor's entry, and ends no larger than its live entries need.
#[test]
fn capacity_follows_churn_on_threads() {
    let f = heap();
    let z = f.objects[0];
    let mut stayers: Vec<Image> = (0..4)
        .map(|i| {
            let mut img = f.heap.new_image().unwrap();
            img.write(z, 1, int(-1 - i)).unwrap();
            img
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let heap = &f.heap;
            s.spawn(move || {
                let mut alive: Vec<Image> = Vec::new();
                for n in 0..2_000 {
                    let mut img = heap.new_image().unwrap();
                    img.write(z, 1, int(t * 10_000 + n)).unwrap();
                    alive.push(img);
                    if alive.len() > 50 {
                        // End them out of order: every other one, from the front.
                        let mut k = 0;
                        alive.retain(|_| {
                            k += 1;
                            k % 2 == 0
                        });
                    }
                }
            });
        }
    });
    for (i, img) in stayers.iter_mut().enumerate() {
        assert_eq!(img.read(z, 1).unwrap(), int(-1 - i as i64));
    }
    let census = f.heap.census_of(z).unwrap();
    assert_eq!(census.images.len(), stayers.len());
    assert!(
        census.entry_capacity <= INLINE + MAX_LEVEL * stayers.len(),
        "{census:?}"
    );
}
