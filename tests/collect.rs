//! Each image's own collector: what it keeps (each kind of root), what it frees, what it does
//! to references a host kept, weak fields, identity hashes, deltas, other images, and a
//! property test of random graphs, references and collections against a shadow model.

mod common;

use std::collections::HashMap;

use common::{fixture, int};
use cowheap::{Error, Format, Value, WeakRule, RETIRED};
use proptest::prelude::*;

/// Squeak's rule: format code 4 is weak past the class's fixed fields, which field 2 of the
/// class says (here simply the SmallInteger itself).
const WEAK: WeakRule = WeakRule {
    language_format: 4,
    class_field: 2,
    fixed_fields: |n| usize::try_from(n).ok(),
};

#[test]
fn garbage_is_freed_and_roots_are_updated_with_their_fields_and_hashes() {
    let f = fixture(4);
    let mut image = f.heap.new_image().unwrap();
    let keep = image
        .new_pointers(f.kernel.array, &[int(1), int(2)])
        .unwrap();
    let inner = image.new_bytes(f.kernel.byte_array, b"inner").unwrap();
    image.write(keep, 1, inner).unwrap();
    let hash = image.identity_hash(keep).unwrap();
    let inner_hash = image.identity_hash(inner).unwrap();
    for i in 0..10_000 {
        image.new_pointers(f.kernel.array, &[int(i)]).unwrap();
    }
    let before = image.stats().private_bytes;
    let mut roots = [keep];
    let c = image.collect(&mut roots).unwrap();
    let keep2 = roots[0];
    assert_ne!(keep2, keep, "a moved object gets a new reference");
    assert_eq!(c.before_bytes, before);
    assert_eq!(c.live_objects, 2);
    assert!(c.live_bytes < 200, "{c:?}");
    assert_eq!(image.stats().private_bytes, c.live_bytes);
    assert_eq!(image.stats().collections, 1);
    assert_eq!(image.stats().collected_bytes, c.freed_bytes());
    assert_eq!(image.read(keep2, 0).unwrap(), int(1));
    let inner2 = image.read(keep2, 1).unwrap();
    assert_eq!(image.bytes(inner2).unwrap(), b"inner");
    assert_eq!(image.identity_hash(keep2).unwrap(), hash);
    assert_eq!(image.identity_hash(inner2).unwrap(), inner_hash);
    assert_eq!(image.private_objects().len(), 2);
}

#[test]
fn a_reference_a_host_kept_without_passing_it_is_stale_never_another_object() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    let dead = image.new_pointers(f.kernel.array, &[int(7)]).unwrap();
    let kept = image.new_pointers(f.kernel.array, &[int(8)]).unwrap();
    let mut roots = [kept];
    image.collect(&mut roots).unwrap();
    // `kept`'s old reference and `dead` both now name the index where the survivor sits.
    assert_eq!(image.read(kept, 0), Err(Error::StaleReference));
    assert_eq!(image.read(dead, 0), Err(Error::StaleReference));
    assert_eq!(image.read(roots[0], 0).unwrap(), int(8));
    // New objects reuse the freed words, and still no old reference reaches them.
    let fresh = image.new_pointers(f.kernel.array, &[int(9)]).unwrap();
    assert_eq!(image.read(dead, 0), Err(Error::StaleReference));
    assert!(image.write(kept, 0, int(1)).is_err());
    // Held incarnations run out: an older reference is foreign, still never an object.
    for _ in 0..RETIRED {
        image.new_pointers(f.kernel.array, &[]).unwrap();
        let mut roots = [roots[0], fresh];
        image.collect(&mut roots).unwrap();
    }
    assert!(matches!(
        image.read(dead, 0),
        Err(Error::ForeignReference(_))
    ));
}

#[test]
fn each_kind_of_root_keeps_its_objects() {
    let f = fixture(4);
    let base = f.objects[0];
    let mut image = f.heap.new_image().unwrap();
    // Resolutions: a copy of a base object, and a private object stored into it.
    let through_copy = image.new_bytes(f.kernel.byte_array, b"copy").unwrap();
    image.write(base, 2, through_copy).unwrap();
    // A base object made to `become` a private one.
    let becomer = image.new_pointers(f.kernel.array, &[int(5)]).unwrap();
    image.become_forward(f.objects[1], becomer).unwrap();
    // A root override.
    let rooted = image.new_words(f.kernel.word_array, &[3, 4]).unwrap();
    image.set_root("mine", rooted).unwrap();
    // Garbage.
    for _ in 0..100 {
        image.new_pointers(f.kernel.array, &[int(0); 8]).unwrap();
    }
    let c = image.collect(&mut []).unwrap();
    assert_eq!(
        c.live_objects, 4,
        "the copy, its field, the becomer, the rooted words"
    );
    let field = image.read(base, 2).unwrap();
    assert_eq!(image.bytes(field).unwrap(), b"copy");
    assert_eq!(image.read(f.objects[1], 0).unwrap(), int(5));
    let through_base = image.read(f.objects[0], 0).unwrap();
    assert!(image.identical(through_base, f.objects[1]).unwrap());
    assert_eq!(image.words(image.root("mine").unwrap()).unwrap(), [3, 4]);
    // The other images still see the base, and the base never changed.
    let other = f.heap.new_image().unwrap();
    assert_eq!(other.bytes(f.bytes).unwrap(), b"hello, base");
    let mut other = other;
    assert_eq!(other.read(base, 2).unwrap(), f.kernel.nil);
    assert_eq!(f.heap.original_field(base, 2).unwrap(), f.kernel.nil);
}

#[test]
fn private_becomes_are_resolved_and_their_forwarders_dropped() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    let a = image.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let b = image.new_pointers(f.kernel.array, &[int(2)]).unwrap();
    let holder = image.new_pointers(f.kernel.array, &[a, a]).unwrap();
    image.become_forward(a, b).unwrap();
    let mut roots = [holder];
    let c = image.collect(&mut roots).unwrap();
    assert_eq!(c.live_objects, 2, "holder and b; a was only a forwarder");
    let holder = roots[0];
    let x = image.read(holder, 0).unwrap();
    assert_eq!(image.read(x, 0).unwrap(), int(2));
    // A private object made to become a base object: references now name the base object.
    let c2 = image.new_pointers(f.kernel.array, &[int(3)]).unwrap();
    image.write(holder, 1, c2).unwrap();
    image.become_forward(c2, f.objects[1]).unwrap();
    let mut roots = [holder];
    image.collect(&mut roots).unwrap();
    let y = image.read(roots[0], 1).unwrap();
    assert_eq!(y, f.objects[1]);
}

#[test]
fn weak_fields_lose_dead_private_objects_only() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    image.set_weak_rule(Some(WEAK));
    // A class whose field 2 says: one strong field.
    let class = image
        .new_pointers(f.kernel.class, &[f.kernel.nil, f.kernel.nil, int(1)])
        .unwrap();
    let strong = image.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let live = image.new_pointers(f.kernel.array, &[int(2)]).unwrap();
    let dies = image.new_pointers(f.kernel.array, &[int(3)]).unwrap();
    let weak = image
        .new_pointers(class, &[strong, live, dies, f.objects[0], int(4)])
        .unwrap();
    image.set_language_format(weak, 4).unwrap();
    let mut roots = [weak, live];
    let c = image.collect(&mut roots).unwrap();
    assert_eq!(c.weak_cleared, 1);
    let weak = roots[0];
    let s = image.read(weak, 0).unwrap();
    assert_eq!(image.read(s, 0).unwrap(), int(1), "fixed fields are strong");
    let l = image.read(weak, 1).unwrap();
    assert!(image.identical(l, roots[1]).unwrap());
    assert_eq!(
        image.read(weak, 2).unwrap(),
        f.kernel.nil,
        "its object died"
    );
    assert_eq!(
        image.read(weak, 3).unwrap(),
        f.objects[0],
        "base objects never die"
    );
    assert_eq!(image.read(weak, 4).unwrap(), int(4));
    // Without the rule, the same object holds everything.
    let mut plain = f.heap.new_image().unwrap();
    let dies = plain.new_pointers(f.kernel.array, &[int(3)]).unwrap();
    let w = plain.new_pointers(f.kernel.array, &[dies]).unwrap();
    plain.set_language_format(w, 4).unwrap();
    let mut roots = [w];
    plain.collect(&mut roots).unwrap();
    let kept = plain.read(roots[0], 0).unwrap();
    assert_eq!(plain.read(kept, 0).unwrap(), int(3));
}

#[test]
fn a_collection_with_nothing_to_free_changes_no_reference() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    let a = image.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let incarnation = image.incarnation();
    let mut roots = [a];
    let c = image.collect(&mut roots).unwrap();
    assert_eq!(c.freed_bytes(), 0);
    assert_eq!(roots[0], a);
    assert_eq!(image.incarnation(), incarnation);
    assert_eq!(image.read(a, 0).unwrap(), int(1));
}

#[test]
fn monitors_see_the_new_incarnation_and_the_collections() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    image.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    image.collect(&mut []).unwrap();
    let seen = f.heap.image_stats();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].incarnation, image.incarnation());
    assert_eq!(seen[0].stats.collections, 1);
}

#[test]
fn wants_collection_follows_what_the_last_collection_kept() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    assert!(!image.wants_collection());
    let mut keep = Vec::new();
    while !image.wants_collection() {
        keep.push(
            image
                .allocate(f.kernel.array, Format::Pointers, 1000)
                .unwrap(),
        );
    }
    assert!(image.stats().private_bytes >= 1 << 20);
    image.collect(&mut keep).unwrap();
    let live = image.stats().private_bytes;
    assert!(!image.wants_collection());
    while !image.wants_collection() {
        image
            .allocate(f.kernel.array, Format::Pointers, 1000)
            .unwrap();
    }
    assert!(image.stats().private_bytes >= 2 * live);
}

#[test]
fn a_delta_saved_after_a_collection_is_smaller_and_round_trips() {
    let f = fixture(4);
    let mut image = f.heap.new_image().unwrap();
    let keep = image
        .new_pointers(f.kernel.array, &[int(1), int(2)])
        .unwrap();
    image.write(f.objects[0], 1, keep).unwrap();
    for i in 0..1000 {
        image.new_pointers(f.kernel.array, &[int(i)]).unwrap();
    }
    let before = image.delta_bytes().unwrap();
    image.collect(&mut []).unwrap();
    let after = image.delta_bytes().unwrap();
    assert!(
        after.len() * 10 < before.len(),
        "{} vs {}",
        after.len(),
        before.len()
    );
    let mut resumed = f.heap.resume_delta_bytes(&after).unwrap();
    let k = resumed.read(f.objects[0], 1).unwrap();
    assert_eq!(resumed.read(k, 1).unwrap(), int(2));
    // And a resumed image collects too.
    for _ in 0..10 {
        resumed.new_pointers(f.kernel.array, &[]).unwrap();
    }
    let c = resumed.collect(&mut []).unwrap();
    assert_eq!(c.live_objects, 2, "the copy of objects[0] and keep");
    let k = resumed.read(f.objects[0], 1).unwrap();
    assert_eq!(resumed.read(k, 0).unwrap(), int(1));
}

#[test]
fn teardown_after_collections_leaves_no_entry() {
    let f = fixture(8);
    let mut image = f.heap.new_image().unwrap();
    for (i, &o) in f.objects.iter().enumerate() {
        image.write(o, 1, int(i as i64 + 100)).unwrap();
        image.new_pointers(f.kernel.array, &[int(0)]).unwrap();
        image.collect(&mut []).unwrap();
    }
    assert_eq!(f.heap.census().entries, 8);
    for (i, &o) in f.objects.iter().enumerate() {
        assert_eq!(image.read(o, 1).unwrap(), int(i as i64 + 100));
    }
    drop(image);
    assert_eq!(f.heap.census().entries, 0);
    f.heap.reclaim();
    assert_eq!(f.heap.census().forwarders, 0);
}

/// A collection in one image changes nothing another image sees, while both run.
#[test]
fn collections_in_one_image_leave_other_images_alone() {
    let f = fixture(16);
    let checksum = f.heap.checksum();
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let f = &f;
            s.spawn(move || {
                let mut image = f.heap.new_image().unwrap();
                let mut kept = vec![image.new_pointers(f.kernel.array, &[int(t)]).unwrap()];
                for round in 0..200i64 {
                    let o = f.objects[(round as usize + t as usize) % 16];
                    image.write(o, 2, int(t * 1000 + round)).unwrap();
                    for _ in 0..50 {
                        image.new_pointers(f.kernel.array, &[int(round)]).unwrap();
                    }
                    if t % 2 == 0 {
                        image.collect(&mut kept).unwrap();
                    }
                    assert_eq!(image.read(o, 2).unwrap(), int(t * 1000 + round));
                    assert_eq!(image.read(kept[0], 0).unwrap(), int(t));
                }
            });
        }
    });
    assert_eq!(f.heap.checksum(), checksum);
}

#[derive(Clone, Debug)]
enum Op {
    /// Allocate an array of `n` fields, kept as handle k.
    Alloc(u8),
    /// Store handle `b` (or a SmallInteger) into field `i` of handle `a`.
    Store(usize, usize, Option<usize>),
    /// Forget handle `k` (it becomes garbage unless reachable).
    Drop(usize),
    /// Store handle `a` into field 3 of base object `o`.
    IntoBase(usize, usize),
    Collect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..5).prop_map(Op::Alloc),
        4 => (any::<usize>(), any::<usize>(), prop::option::of(any::<usize>()))
            .prop_map(|(a, i, b)| Op::Store(a, i, b)),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, o)| Op::IntoBase(a, o)),
        1 => Just(Op::Collect),
    ]
}

/// The shadow: each object's fields as (handle or integer), by a stable id.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    Int(i64),
    Obj(usize),
    Nil,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random graphs, random references held as roots (and others dropped), random
    /// collections: every object reachable from what the host kept reads as the shadow says,
    /// and every reference the host dropped before a collection is refused, never misread.
    #[test]
    fn the_graph_a_host_keeps_survives_any_collections(ops in prop::collection::vec(op(), 1..120)) {
        let f = fixture(4);
        let mut image = f.heap.new_image().unwrap();
        // Shadow: object id -> fields; handles: the host's live references, by object id.
        let mut shadow: HashMap<usize, Vec<Field>> = HashMap::new();
        let mut handles: Vec<(usize, Value)> = Vec::new();
        let mut dropped: Vec<Value> = Vec::new();
        let mut ids = 0usize;
        for op in ops {
            match op {
                Op::Alloc(n) => {
                    let v = image.allocate(f.kernel.array, Format::Pointers, n as usize).unwrap();
                    shadow.insert(ids, vec![Field::Nil; n as usize]);
                    handles.push((ids, v));
                    ids += 1;
                }
                Op::Store(a, i, b) if !handles.is_empty() => {
                    let (id, v) = handles[a % handles.len()];
                    let len = shadow[&id].len();
                    let i = i % len;
                    let (field, value) = match b {
                        Some(b) => {
                            let (bid, bv) = handles[b % handles.len()];
                            (Field::Obj(bid), bv)
                        }
                        None => (Field::Int(i as i64), int(i as i64)),
                    };
                    image.write(v, i, value).unwrap();
                    shadow.get_mut(&id).unwrap()[i] = field;
                }
                Op::Drop(k) if !handles.is_empty() => {
                    let (_, v) = handles.remove(k % handles.len());
                    dropped.push(v);
                }
                Op::IntoBase(a, o) if !handles.is_empty() => {
                    let (_, v) = handles[a % handles.len()];
                    image.write(f.objects[o % 4], 3, v).unwrap();
                }
                Op::Collect => {
                    let mut roots: Vec<Value> = handles.iter().map(|&(_, v)| v).collect();
                    let c = image.collect(&mut roots).unwrap();
                    for (h, v) in handles.iter_mut().zip(roots) {
                        h.1 = v;
                    }
                    // A collection that freed something moved the image to a new
                    // incarnation: what the host dropped since the last one is refused.
                    if c.freed_bytes() > 0 {
                        for &d in &dropped {
                            prop_assert_eq!(image.read(d, 0), Err(Error::StaleReference));
                        }
                    }
                    dropped.clear();
                }
                _ => {}
            }
        }
        // Everything reachable from the handles reads as the shadow says.
        let mut seen: HashMap<usize, Value> = HashMap::new();
        let mut stack: Vec<(usize, Value)> = handles.clone();
        while let Some((id, v)) = stack.pop() {
            if seen.insert(id, v).is_some() {
                continue;
            }
            for (i, field) in shadow[&id].iter().enumerate() {
                let got = image.read(v, i).unwrap();
                match *field {
                    Field::Int(n) => prop_assert_eq!(got, int(n)),
                    Field::Nil => prop_assert_eq!(got, f.kernel.nil),
                    Field::Obj(b) => {
                        if let Some(&known) = seen.get(&b) {
                            prop_assert!(image.identical(got, known).unwrap());
                        }
                        stack.push((b, got));
                    }
                }
            }
        }
    }
}

/// A root handed over only on the updating call was never marked: it stays stale rather
/// than being pointed at the object that slid into its place.
#[test]
fn a_root_handed_over_only_to_be_updated_is_left_stale() {
    let f = fixture(2);
    let mut image = f.heap.new_image().unwrap();
    let dead = image.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let kept = image.new_pointers(f.kernel.array, &[int(2)]).unwrap();
    let other = image.new_pointers(f.kernel.array, &[int(3)]).unwrap();
    let mut calls = 0;
    let mut roots = [kept, other, dead];
    image
        .collect_with(&mut |each| {
            calls += 1;
            let n = if calls == 1 { 2 } else { 3 };
            roots[..n].iter_mut().for_each(&mut *each);
        })
        .unwrap();
    assert_eq!(image.read(roots[0], 0).unwrap(), int(2));
    assert_eq!(image.read(roots[2], 0), Err(Error::StaleReference));
}
