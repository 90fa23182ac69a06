//! Deltas: save an image, resume it over a copy of its base, and both answer alike, now and
//! after further operations; the base hash; refusals; crash-safe saving.

mod delta_common;

use cowheap::DeltaInfo;
use delta_common::{built, op, round_trip, Driven, Op};
use proptest::prelude::*;

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

#[test]
fn the_base_hash_is_the_same_for_the_same_base_and_differs_between_bases() {
    assert_eq!(built().heap.content_hash(), built().heap.content_hash());
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
fn a_delta_in_parts_is_its_header_words_and_rest_and_an_allocation_only_extends_the_words() {
    use cowheap::delta::format::parts;
    let a = built();
    let mut d = Driven::new(&a, a.heap.new_image().unwrap());
    for op in [
        Op::Alloc(0, 3, 0),
        Op::Write(0, 0, delta_common::Src::Int(5)),
    ] {
        d.apply(&op);
    }
    let before = d.image.delta_bytes().unwrap();
    let p = parts(&before).unwrap();
    assert_eq!(
        p.words.len() as u64,
        DeltaInfo::of(&before).unwrap().private_bytes
    );
    assert_eq!(
        p.fixed[0].len() + p.fixed[1].len() + 16 + p.words.len() + p.rest.len() + 8,
        before.len()
    );
    // One more object, which nothing reaches: the same header parts and rest, the words
    // extended.
    let class = a.heap.object(a.classes[0]).unwrap();
    d.image
        .allocate(class, cowheap::Format::Pointers, 2)
        .unwrap();
    let after = d.image.delta_bytes().unwrap();
    let q = parts(&after).unwrap();
    assert_eq!((q.fixed, q.rest), (p.fixed, p.rest));
    assert!(q.words.len() > p.words.len() && q.words.starts_with(p.words));
    // Another version, or cut short: no parts.
    let mut other = before.clone();
    other[8] ^= 0xFF;
    assert!(parts(&other).is_none());
    assert!(parts(&before[..before.len() / 2]).is_none());
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
