//! Deltas: save an image, resume it over a copy of its base, and both answer alike, now and
//! after further operations; the base hash; refusals; crash-safe saving.

mod delta_common;

use std::sync::OnceLock;

use cowheap::loader;
use cowheap::{BaseHeap, DeltaError, DeltaInfo};
use delta_common::{built, op, sampled, Driven, Fixture, Op};
use proptest::prelude::*;

const MINI: &str = "../shared/images/mini-2.2-v3-le.image";

fn mini() -> BaseHeap {
    loader::load_file(MINI).expect("load the mini image").heap
}

/// Two copies of the mini image, loaded apart (as two processes would).
fn minis() -> &'static (Fixture, Fixture) {
    static CELL: OnceLock<(Fixture, Fixture)> = OnceLock::new();
    CELL.get_or_init(|| (sampled(mini()), sampled(mini())))
}

/// Runs `before` on an image over `a`, saves it, resumes over `b`, checks both observe alike,
/// then runs `after` on both and checks every answer and the final views.
fn round_trip(a: &Fixture, b: &Fixture, before: &[Op], after: &[Op]) -> Result<(), TestCaseError> {
    let mut original = Driven::new(a, a.heap.new_image().unwrap());
    for op in before {
        original.apply(op);
    }
    let bytes = original.image.delta_bytes().unwrap();
    let resumed = b.heap.resume_delta_bytes(&bytes).unwrap();
    let mut resumed = Driven::new(b, resumed);
    prop_assert_eq!(original.privates, resumed.privates);
    // A resumed image saves to the same delta: nothing process-specific is in it.
    prop_assert_eq!(&resumed.image.delta_bytes().unwrap(), &bytes);
    prop_assert_eq!(original.observe(), resumed.observe());
    for op in after {
        let x = original.apply(op);
        let y = resumed.apply(op);
        prop_assert_eq!(x, y, "{:?}", op);
    }
    prop_assert_eq!(original.observe(), resumed.observe());
    prop_assert_eq!(
        original.image.delta_bytes().unwrap(),
        resumed.image.delta_bytes().unwrap()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_resumed_image_answers_as_the_saved_one_over_a_fresh_copy_of_a_built_base(
        before in prop::collection::vec(op(), 0..80),
        after in prop::collection::vec(op(), 0..40),
    ) {
        let (a, b) = (built(), built());
        round_trip(&a, &b, &before, &after)?;
        prop_assert_eq!(a.heap.live_images() + b.heap.live_images(), 0);
    }

    #[test]
    fn a_resumed_image_answers_as_the_saved_one_over_the_same_base(
        before in prop::collection::vec(op(), 0..80),
        after in prop::collection::vec(op(), 0..40),
    ) {
        let a = built();
        round_trip(&a, &a, &before, &after)?;
        prop_assert_eq!(a.heap.census().entries, 0, "both images' entries went with them");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_resumed_image_answers_as_the_saved_one_over_the_mini_image(
        before in prop::collection::vec(op(), 0..60),
        after in prop::collection::vec(op(), 0..30),
    ) {
        let (a, b) = minis();
        round_trip(a, b, &before, &after)?;
    }
}

#[test]
fn the_base_hash_is_the_same_for_the_same_base_and_differs_between_bases() {
    let (a, b) = minis();
    assert_eq!(a.heap.content_hash(), b.heap.content_hash());
    assert_ne!(
        a.heap.objects().next(),
        b.heap.objects().next(),
        "two loads have two owners"
    );
    assert_eq!(built().heap.content_hash(), built().heap.content_hash());
    assert_ne!(built().heap.content_hash(), a.heap.content_hash());
    // One changed identity hash makes another base.
    let mut builder = cowheap::BaseBuilder::new();
    let k = cowheap::Kernel::install(&mut builder).unwrap();
    let h0 = {
        let mut b2 = cowheap::BaseBuilder::new();
        cowheap::Kernel::install(&mut b2).unwrap();
        b2.seal().unwrap().content_hash()
    };
    builder.set_hash(k.nil, 12345).unwrap();
    assert_ne!(builder.seal().unwrap().content_hash(), h0);
}

#[test]
fn a_delta_resumes_over_no_other_base() {
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

#[test]
fn inspect_describes_a_delta() {
    let a = built();
    let mut d = Driven::new(&a, a.heap.new_image().unwrap());
    for op in [
        Op::Alloc(0, 3, 0),
        Op::Write(0, 0, delta_common::Src::Int(5)),
        Op::Become(1, 2),
    ] {
        d.apply(&op);
    }
    let bytes = d.image.delta_bytes().unwrap();
    let info = DeltaInfo::of(&bytes).unwrap();
    assert_eq!(info.base_hash, a.heap.content_hash());
    assert_eq!(info.objects, 2, "the allocation and the copy");
    assert_eq!(info.entries, 2, "the copy and the become");
    assert_eq!(info.base_targets, 1);
    assert_eq!(info.root_overrides, 1);
    assert_eq!(info.file_bytes, bytes.len() as u64);
}

#[test]
fn a_failed_save_leaves_the_old_delta_in_place() {
    let dir = std::env::temp_dir().join(format!("cowheap-delta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("client.delta");
    let a = built();
    let mut d = Driven::new(&a, a.heap.new_image().unwrap());
    d.apply(&Op::Alloc(0, 3, 0));
    let old = d.image.save_delta_to(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), old);
    d.apply(&Op::Alloc(1, 30, 0));
    let new = d.image.delta_bytes().unwrap();
    // The write fails half-way, as a full disk would.
    let err = cowheap::delta::atomic_write(&path, |f| {
        use std::io::Write;
        f.write_all(&new[..new.len() / 2])?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
    let kept = std::fs::read(&path).unwrap();
    assert_eq!(kept.len() as u64, old);
    assert!(
        a.heap.resume_delta_bytes(&kept).is_ok(),
        "the old delta still resumes"
    );
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file is left behind");
    // A save that completes replaces it whole.
    d.image.save_delta_to(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sizes and times for the record (a noisy shared 2-core VM: indicative only): the mini image
/// after some writes, its delta against its 727 KB file and its private bytes.
#[test]
fn delta_size_and_time_over_the_mini_image() {
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
    let file = std::fs::metadata(MINI).unwrap().len();
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
    let (a, _) = minis();
    assert_eq!(
        a.heap.content_hash().to_string(),
        "dd6d2f5adcf9f51cc1f8c9ea53cd299a"
    );
}
