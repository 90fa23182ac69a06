//! The plain heap keeps an image's rules (the interpreter's tests run over it too, with
//! cowheap-squeak's `plain-heap` feature); these check the rules of its own making: base
//! objects at their base references, collection of new objects only, stale and foreign
//! references, become, weak fields.

use super::PlainHeap;
use crate::{BaseBuilder, Error, Format, Kernel, Value, WeakRule};

fn base() -> (crate::BaseHeap, Kernel, Value) {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let holder = k.new_array(&mut b, &[k.true_object, k.nil]).unwrap();
    b.add_root("holder", holder).unwrap();
    (b.seal().unwrap(), k, holder)
}

#[test]
fn base_objects_keep_their_base_references_and_the_base_is_untouched() {
    let (heap, k, holder) = base();
    let before = heap.checksum();
    let mut plain = PlainHeap::new(&heap).unwrap();
    assert_eq!(plain.root("holder").unwrap(), holder);
    assert_eq!(plain.read(holder, 0).unwrap(), k.true_object);
    assert_eq!(plain.class_of(holder).unwrap(), k.array);
    plain.write(holder, 0, k.false_object).unwrap();
    assert_eq!(plain.read(holder, 0).unwrap(), k.false_object);
    assert_eq!(heap.original_field(holder, 0).unwrap(), k.true_object);
    assert_eq!(heap.checksum(), before);
    // A second plain heap is a second copy.
    let mut other = PlainHeap::new(&heap).unwrap();
    assert_eq!(other.read(holder, 0).unwrap(), k.true_object);
}

#[test]
fn what_a_written_base_object_holds_survives_a_collection_and_moves() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let garbage = plain.new_pointers(k.array, &[k.nil]).unwrap();
    let kept = plain.new_pointers(k.array, &[k.true_object]).unwrap();
    plain.write(holder, 1, kept).unwrap();
    let done = plain.collect_with(&mut |_| {}).unwrap();
    assert_eq!(done.live_objects, 1);
    assert!(done.freed_bytes() > 0);
    let moved = plain.read(holder, 1).unwrap();
    assert_ne!(
        moved, kept,
        "the collection moved it under a new incarnation"
    );
    assert_eq!(plain.read(moved, 0).unwrap(), k.true_object);
    // References kept past the collection are refused, never taken for another object.
    assert_eq!(plain.read(kept, 0), Err(Error::StaleReference));
    assert_eq!(plain.read(garbage, 0), Err(Error::StaleReference));
    // The base objects stayed where they were.
    assert_eq!(plain.read(holder, 0).unwrap(), k.true_object);
}

#[test]
fn references_of_another_heap_or_into_an_object_are_refused() {
    let (heap, k, holder) = base();
    let mut a = PlainHeap::new(&heap).unwrap();
    let mut b = PlainHeap::new(&heap).unwrap();
    // Both heaps' first new objects sit at the same index: only the owner tells them apart.
    let mine = a.new_pointers(k.array, &[k.true_object]).unwrap();
    let theirs = b.new_pointers(k.array, &[k.nil]).unwrap();
    assert_eq!(mine.index(), theirs.index());
    assert_eq!(a.read(theirs, 0), Err(Error::ForeignReference(theirs)));
    assert_eq!(a.read_fast(theirs, 0), None);
    assert_eq!(
        a.write(holder, 0, theirs),
        Err(Error::ForeignReference(theirs))
    );
    let ours = a.new_bytes(k.byte_array, &[0; 24]).unwrap();
    let inside = Value::object(a.incarnation(), ours.index() as u64 + 2);
    assert_eq!(a.read(inside, 0), Err(Error::StaleReference));
    assert_eq!(a.identical(inside, ours), Err(Error::StaleReference));
    assert_eq!(a.read_fast(inside, 0), None);
    assert!(!a.set_private_field(inside, 0, k.nil));
}

#[test]
fn become_redirects_every_reference_and_survives_a_collection() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let from = plain.new_pointers(k.array, &[k.nil]).unwrap();
    let to = plain.new_pointers(k.array, &[k.true_object]).unwrap();
    let hash = plain.identity_hash(to).unwrap();
    plain.write(holder, 1, from).unwrap();
    plain.become_forward(from, to).unwrap();
    assert!(plain.identical(from, to).unwrap());
    assert_eq!(
        plain.read(holder, 1).unwrap(),
        to,
        "read follows and fixes up"
    );
    assert_eq!(plain.identity_hash(from).unwrap(), hash);
    assert_eq!(plain.read_fast(from, 0), None);
    // A base object too: its readers now see the target.
    plain.become_forward(holder, to).unwrap();
    assert_eq!(plain.root("holder").unwrap(), to);
    let mut roots = [from];
    plain
        .collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))
        .unwrap();
    assert_eq!(plain.read(roots[0], 0).unwrap(), k.true_object);
    assert!(plain.identical(holder, roots[0]).unwrap());
}

/// As the image's: a format code set through a reference made to `become` another object
/// reaches that object, never the forwarding word; onto a base object it is refused.
#[test]
fn set_language_format_through_a_become_reaches_the_target() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let a = plain.allocate(k.array, Format::Pointers, 2).unwrap();
    let b = plain.allocate(k.array, Format::Pointers, 3).unwrap();
    let keeper = plain.new_pointers(k.array, &[a]).unwrap();
    plain.become_forward(a, b).unwrap();
    plain.set_language_format(a, 15).unwrap();
    assert_eq!(plain.shape(b).unwrap().language_format, 15);
    let mut roots = [keeper];
    plain
        .collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))
        .unwrap();
    let target = plain.read(roots[0], 0).unwrap();
    assert_eq!(plain.shape(target).unwrap().language_format, 15);
    let c = plain.allocate(k.array, Format::Pointers, 1).unwrap();
    plain.become_forward(c, holder).unwrap();
    assert_eq!(
        plain.set_language_format(c, 3),
        Err(Error::ForeignReference(c))
    );
}

#[test]
fn weak_fields_of_dead_new_objects_become_nil() {
    let (heap, k, _) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    plain.set_weak_rule(Some(WeakRule {
        language_format: 4,
        class_field: 0,
        fixed_fields: |n| usize::try_from(n).ok(),
    }));
    let class = plain
        .new_pointers(k.class, &[Value::small_int(1).unwrap()])
        .unwrap();
    let strong = plain.new_pointers(k.array, &[]).unwrap();
    let dies = plain.new_pointers(k.array, &[]).unwrap();
    let lives = plain.new_pointers(k.array, &[]).unwrap();
    let weak = plain.allocate(class, Format::Pointers, 3).unwrap();
    plain.set_language_format(weak, 4).unwrap();
    for (i, v) in [strong, dies, lives].into_iter().enumerate() {
        plain.write(weak, i, v).unwrap();
    }
    let mut roots = [weak, lives];
    let done = plain
        .collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))
        .unwrap();
    assert_eq!(done.weak_cleared, 1);
    let weak = roots[0];
    assert!(plain.read(weak, 0).unwrap().is_object());
    assert_eq!(plain.read(weak, 1).unwrap(), k.nil);
    assert_eq!(plain.read(weak, 2).unwrap(), roots[1]);
}

/// As an image's: a token made before a collection (which slides new objects over the dead)
/// or a `become` stores nothing, and one stores only values this heap may hold.
#[test]
fn tokens_go_stale_at_a_collection_and_a_become() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let mut other = PlainHeap::new(&heap).unwrap();
    let seven = Value::small_int(7).unwrap();
    plain.new_pointers(k.array, &[k.nil, k.nil]).unwrap(); // garbage
    let a = plain.new_pointers(k.array, &[k.nil]).unwrap();
    let b = plain.new_pointers(k.array, &[k.nil; 6]).unwrap();
    let t = plain.fields_token(a).unwrap();
    let foreign = other.new_pointers(k.array, &[k.nil]).unwrap();
    assert!(!plain.write_token(&t, 0, foreign));
    assert!(!other.write_token(&t, 0, seven));
    let mut roots = [a, b];
    plain
        .collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))
        .unwrap();
    let [a, b] = roots;
    assert!(!plain.write_token(&t, 0, seven));
    for i in 0..6 {
        assert_eq!(plain.read(b, i).unwrap(), k.nil);
    }
    let t = plain.fields_token(a).unwrap();
    assert!(plain.write_token(&t, 0, seven));
    assert_eq!(plain.read(a, 0).unwrap(), seven);
    // Every object is the VM's own in a plain heap, base copies included.
    let h = plain.fields_token(holder).unwrap();
    plain.become_forward(a, b).unwrap();
    assert!(!plain.write_token(&t, 0, k.true_object));
    assert!(!plain.write_token(&h, 0, seven));
    assert_eq!(plain.read(a, 0).unwrap(), k.nil);
}

/// As an image's: once the process has used up its layout epochs, no token is made.
#[test]
fn no_token_is_made_once_the_epochs_are_used_up() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let a = plain.new_pointers(k.array, &[k.nil]).unwrap();
    assert!(plain.fields_token(a).is_some());
    plain.layout_epoch = u64::MAX;
    assert_eq!(plain.fields_token(a), None);
    assert_eq!(plain.fields_token(holder), None);
}

#[test]
fn points_to_fast_answers_as_the_field_reads_would() {
    let (heap, k, holder) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    assert_eq!(plain.points_to_fast(holder, k.true_object), Some(true));
    assert_eq!(plain.points_to_fast(holder, k.array), Some(false));
    let own = plain.new_pointers(k.array, &[k.nil, holder]).unwrap();
    assert_eq!(plain.points_to_fast(own, holder), Some(true));
    assert_eq!(plain.points_to_fast(own, own), Some(false));
    let other = PlainHeap::new(&heap).unwrap();
    assert_eq!(other.points_to_fast(own, holder), None);
}

/// As the image's: the first fields, the rest the filler, the code in the shape, one
/// allocation counted; more first fields than the object has are refused.
#[test]
fn new_pointers_with_format_is_new_pointers_from_then_its_format_code() {
    let (heap, k, _) = base();
    let mut plain = PlainHeap::new(&heap).unwrap();
    let seven = Value::small_int(7).unwrap();
    let allocations = plain.stats().allocations;
    let one = plain
        .new_pointers_with_format(k.array, 5, &[seven, k.true_object], 3)
        .unwrap();
    assert_eq!(plain.stats().allocations, allocations + 1);
    let two = plain
        .new_pointers_from(k.array, 5, &[seven, k.true_object])
        .unwrap();
    plain.set_language_format(two, 3).unwrap();
    for v in [one, two] {
        let fields: Vec<Value> = (0..5).map(|i| plain.read(v, i).unwrap()).collect();
        assert_eq!(fields, [seven, k.true_object, k.nil, k.nil, k.nil]);
        let shape = plain.shape(v).unwrap();
        assert_eq!((shape.language_format, shape.len), (3, 5));
    }
    assert_eq!(
        plain.new_pointers_with_format(k.array, 1, &[seven, seven], 3),
        Err(Error::IndexOutOfRange { index: 1, len: 1 })
    );
}
