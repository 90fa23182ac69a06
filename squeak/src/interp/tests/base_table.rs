//! The base table (`lookup::base_table`): what one image found through base objects alone is
//! taken by the others, but never by an image that wrote one of those objects; and the
//! method dictionary read as the real VM reads it.

use super::{int, Run};
use crate::interp::heap::new_heap;
use crate::interp::lookup::base_table::BaseTable;
use crate::interp::lookup::selector_field;
use crate::interp::{Interpreter, Limits, Vm};
use cowheap::Value;

/// A second image of the tiny base, with its interpreter (sharing the base's table).
fn other(r: &Run) -> (crate::interp::heap::Heap, Interpreter) {
    image_of(r, &r.t.vm)
}

/// An image of the tiny base with an interpreter of `vm`.
fn image_of(r: &Run, vm: &Vm) -> (crate::interp::heap::Heap, Interpreter) {
    (
        new_heap(&r.t.heap).unwrap(),
        vm.interpreter(Limits::default()),
    )
}

/// A `Vm` of the tiny base whose table only this test uses: the shared one's maps may be
/// held for a moment by other tests' images, whose offers a test would then miss.
fn own_vm(r: &Run) -> Vm {
    Vm::new(&r.t.heap).unwrap()
}

/// An image of `vm` that sent `globalPair` (found through base objects alone, so offered to
/// the table), with its interpreter.
fn one_that_sent_global_pair(r: &Run, vm: &Vm) -> (crate::interp::heap::Heap, Interpreter) {
    let (mut first, mut its) = image_of(r, vm);
    let answer = its.send(&mut first, int(3), "globalPair", &[]).unwrap();
    assert_eq!(answer, r.t.pair);
    (first, its)
}

#[test]
fn an_image_takes_what_another_found_through_base_objects() {
    let r = Run::new();
    let vm = own_vm(&r);
    one_that_sent_global_pair(&r, &vm);
    let (mut image, mut interp) = image_of(&r, &vm);
    assert_eq!(interp.lookups_shared(), 0);
    let answer = interp.send(&mut image, int(3), "globalPair", &[]).unwrap();
    assert_eq!(answer, r.t.pair);
    assert!(
        interp.lookups_shared() >= 1,
        "the lookup and decoding came from the table"
    );
}

#[test]
fn an_image_that_wrote_a_method_dictionary_on_the_way_looks_up_alone() {
    let mut r = Run::new();
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
    // Another image gives SmallInteger a `yourself` answering 2: its copy of SmallInteger's
    // method dictionary, which the table's lookup of `yourself` passed through.
    let mut b = Run::new();
    let small_integer = b.t.k.small_integer;
    b.define(small_integer, "yourself", &[], 0, 0, 0, &[119, 124]);
    assert_eq!(b.send(int(3), "yourself", &[]).unwrap(), int(2));
    assert_eq!(b.interp.lookups_shared(), 0);
    // The first image still finds the base's.
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
}

#[test]
fn an_image_that_wrote_a_literal_decodes_the_method_alone() {
    let mut r = Run::new();
    let assoc = r.send(int(3), "pairBinding", &[]).unwrap();
    assert!(assoc.is_base_reference());
    // Another image writes the association (it copies it), and then runs the method: its
    // literal is this image's copy, identical to what a read of it answers.
    let (mut image, mut interp) = other(&r);
    image.write(assoc, 1, int(5)).unwrap();
    let copy = image.canonical(assoc).unwrap();
    assert_ne!(copy, assoc);
    let answer = interp.send(&mut image, int(3), "pairBinding", &[]).unwrap();
    assert_eq!(answer, copy);
    assert_eq!(
        interp.send(&mut image, int(3), "globalPair", &[]).unwrap(),
        int(5)
    );
}

#[test]
fn the_table_stops_growing_at_its_most() {
    let r = Run::new();
    let vm = own_vm(&r);
    let table = BaseTable::with_most(2);
    let mut methods = Vec::new();
    for name in ["yourself", "globalPair", "pairBinding"] {
        let (mut image, mut interp) = image_of(&r, &vm);
        interp.send(&mut image, int(3), name, &[]).unwrap();
        let found = vm.table.lookup(r.t.k.small_integer, r.sym(name));
        let found = found.expect("the lookup was offered");
        let m = vm.table.method(found.method).expect("the decoding too");
        table.offer_method(&m);
        table.offer_lookup(int(0), r.sym(name), &found.through);
        methods.push(m);
    }
    assert_eq!(table.len(), (2, 2));
    // The first two kept, the third not; offered again, still the most.
    let kept: Vec<bool> = methods
        .iter()
        .map(|m| table.method(m.oop).is_some())
        .collect();
    assert_eq!(kept, [true, true, false]);
    table.offer_method(&methods[2]);
    assert_eq!(table.len(), (2, 2));
}

/// No image waits for the table: while another holds a map, a lookup is not found there and
/// an offer is not kept, and the send is answered all the same.
#[test]
fn a_map_another_image_holds_is_passed_over() {
    let r = Run::new();
    let vm = own_vm(&r);
    let (mut image, mut interp) = image_of(&r, &vm);
    assert_eq!(
        interp.send(&mut image, int(3), "yourself", &[]).unwrap(),
        int(3)
    );
    let sel = r.sym("yourself");
    assert!(vm.table.lookup(r.t.k.small_integer, sel).is_some());
    let held = vm.table.hold_lookups();
    assert!(vm.table.lookup(r.t.k.small_integer, sel).is_none());
    let (mut image, mut interp) = image_of(&r, &vm);
    assert_eq!(
        interp.send(&mut image, int(3), "yourself", &[]).unwrap(),
        int(3)
    );
    drop(held);
}

#[test]
fn a_method_dictionary_is_read_where_the_real_vm_reads_it() {
    let mut r = Run::new();
    let nil = r.nil();
    let [a, other] = ["foo", "bar"].map(|n| r.sym(n));
    let object_dict = r.image.read(r.t.k.object, 1).unwrap();
    let dict_class = r.image.class_of(object_dict).unwrap();
    let start = r.image.identity_hash(a).unwrap() as usize & 3;
    let dict = |r: &mut Run, slots: [Value; 4]| {
        let mut fields = vec![int(0), nil];
        // Slot `i` of the four is the one `start + i` (mod 4) from the selector's start.
        fields.extend((0..4).map(|i| slots[(i + 4 - start) % 4]));
        r.image.new_pointers(dict_class, &fields).unwrap()
    };
    // Past other selectors, wrapping from the last slot to the first.
    let d = dict(&mut r, [other, other, other, a]);
    let found = selector_field(&mut r.image, nil, d, a).unwrap();
    assert_eq!(found, Some(2 + (start + 3) % 4));
    // A nil on the way ends the look, as on the real VM: the selector beyond is not found.
    let d = dict(&mut r, [other, nil, a, other]);
    assert_eq!(selector_field(&mut r.image, nil, d, a).unwrap(), None);
    // A full dictionary without it: every slot once.
    let d = dict(&mut r, [other; 4]);
    assert_eq!(selector_field(&mut r.image, nil, d, a).unwrap(), None);
}

/// An image that made a selector another object (`globalPair` forwarded to `yourself`, a
/// one-way `become:` of the Symbol) sends the object it names now: the table's lookup of the
/// selector, found by another image through base objects it has not written, is not taken.
#[test]
fn an_image_that_made_the_selector_another_object_looks_up_alone() {
    let r = Run::new();
    let vm = own_vm(&r);
    let (mut first, mut its) = one_that_sent_global_pair(&r, &vm);
    let (mut image, mut interp) = image_of(&r, &vm);
    image
        .become_forward(r.sym("globalPair"), r.sym("yourself"))
        .unwrap();
    let answer = interp.send(&mut image, int(3), "globalPair", &[]).unwrap();
    assert_eq!(answer, int(3));
    // The first image still sends the base's.
    let answer = its.send(&mut first, int(3), "globalPair", &[]).unwrap();
    assert_eq!(answer, r.t.pair);
}
