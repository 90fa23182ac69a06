//! Deltas over a real image file (the mini image): save and resume over a second load of the
//! same file, the pinned base hash of the file, refusal over another base, sizes.

#[path = "../../tests/delta_common/mod.rs"]
mod delta_common;
mod images_common;

use std::sync::OnceLock;

use cowheap::{BaseHeap, DeltaError};
use cowheap_squeak::loader;
use delta_common::{built, op, round_trip, sampled, Driven, Fixture, Op};
use proptest::prelude::*;

const MINI: &str = "mini-2.2-v3-le.image";

/// True when the test must return now: the mini image is not in the images folder (see
/// `images_common`).
fn skip() -> bool {
    images_common::skip(&[MINI])
}

/// A fresh load of the mini image (the test checked it is there with [`skip`]).
fn mini() -> BaseHeap {
    loader::load_file(images_common::dir().join(MINI))
        .expect("load the mini image")
        .heap
}

/// Two copies of the mini image, loaded apart (as two processes would).
fn minis() -> &'static (Fixture, Fixture) {
    static CELL: OnceLock<(Fixture, Fixture)> = OnceLock::new();
    CELL.get_or_init(|| (sampled(mini()), sampled(mini())))
}

#[test]
fn a_resumed_image_answers_as_the_saved_one_over_the_mini_image() {
    if skip() {
        return;
    }
    let (a, b) = minis();
    proptest!(ProptestConfig { cases: 24, ..ProptestConfig::default() }, |(
        before in prop::collection::vec(op(), 0..60),
        after in prop::collection::vec(op(), 0..30),
    )| {
        round_trip(a, b, &before, &after)?;
    });
}
#[test]
fn two_loads_of_one_file_have_one_base_hash_and_another_base_has_another() {
    if skip() {
        return;
    }
    let (a, b) = minis();
    assert_eq!(a.heap.content_hash(), b.heap.content_hash());
    assert_ne!(
        a.heap.objects().next(),
        b.heap.objects().next(),
        "two loads have two owners"
    );
    assert_ne!(built().heap.content_hash(), a.heap.content_hash());
}

#[test]
fn a_delta_resumes_over_no_other_base() {
    if skip() {
        return;
    }
    let a = built();
    let (mini, _) = minis();
    let mut image = Driven::new(&a, a.heap.new_image().unwrap());
    image.apply(&Op::Alloc(0, 3, 0));
    let bytes = image.image.delta_bytes().unwrap();
    let live = mini.heap.live_images();
    match mini.heap.resume_delta_bytes(&bytes) {
        Err(DeltaError::WrongBase {
            offset,
            expected,
            found,
        }) => {
            assert_eq!(offset, 16);
            assert_eq!(expected, mini.heap.content_hash());
            assert_eq!(found, a.heap.content_hash());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mini.heap.live_images(), live, "nothing was built");
}

/// Sizes and times for the record (a noisy shared 2-core VM: indicative only): the mini image
/// after some writes, its delta against its 727 KB file and its private bytes.
#[test]
fn delta_size_and_time_over_the_mini_image() {
    if skip() {
        return;
    }
    let (a, b) = minis();
    let mut d = Driven::new(a, a.heap.new_image().unwrap());
    for i in 0..400usize {
        d.apply(&Op::Write(i, 1, delta_common::Src::Obj(i * 7)));
        if i % 20 == 0 {
            d.apply(&Op::Alloc((i % 4) as u8, 8, i));
        }
    }
    let t = std::time::Instant::now();
    let bytes = d.image.delta_bytes().unwrap();
    let save = t.elapsed();
    let t = std::time::Instant::now();
    let resumed = b.heap.resume_delta_bytes(&bytes).unwrap();
    let resume = t.elapsed();
    let private = d.image.stats().private_bytes;
    let file = std::fs::metadata(images_common::dir().join(MINI))
        .unwrap()
        .len();
    eprintln!(
        "mini image: delta {} bytes for {} private bytes ({:.3}x); image file {} bytes ({:.1}%); \
         save {:?}, resume {:?}",
        bytes.len(),
        private,
        bytes.len() as f64 / private as f64,
        file,
        100.0 * bytes.len() as f64 / file as f64,
        save,
        resume
    );
    // 5% plus the fixed framing and the driver's own root overrides (p0, p1, ...).
    assert!(bytes.len() as u64 <= private + private / 20 + 512);
    drop(resumed);
}

/// The mini image's hash, pinned: it depends on nothing but the file's contents, so every
/// process on every machine computes this value, and a delta saved anywhere resumes anywhere.
/// A change here orphans every delta saved over this image: it is a format change.
#[test]
fn the_base_hash_of_an_image_file_is_the_same_in_every_process() {
    if skip() {
        return;
    }
    let (a, _) = minis();
    assert_eq!(
        a.heap.content_hash().to_string(),
        "dd6d2f5adcf9f51cc1f8c9ea53cd299a"
    );
}

#[test]
fn damaged_deltas_over_the_mini_image_are_refused_or_resume_whole() {
    if skip() {
        return;
    }
    let fx = sampled(mini());
    let deltas: Vec<_> = (1..=2)
        .map(|s| delta_common::corrupt::busy_delta(&fx, s))
        .collect();
    let (n, accepted) = delta_common::corrupt::fuzz(&fx, &deltas, 30_000, 0xfeed_f00d);
    eprintln!("{n} mutations of mini-image deltas: {accepted} resumed as valid images");
}
