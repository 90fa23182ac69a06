//! What a collection leaves of the method cache ([`Interpreter::collect`] and the collections
//! inside a run): the lookups and decoded methods of base objects stay; whatever a private
//! object decided is made again, so that a store into that object, under the reference the
//! collection gave it, still changes what a send finds.
//!
//! [`Interpreter::collect`]: crate::interp::Interpreter::collect

use super::{int, Run};
use cowheap::Value;

/// Collects through the interpreter, with garbage before everything the test made, so that
/// the collection moves this image's objects under a new incarnation.
fn collect(r: &mut Run, garbage: usize) {
    let incarnation = r.image.incarnation();
    for _ in 0..garbage {
        r.array(&[int(0)]);
    }
    r.interp.collect(&mut r.image, &mut []).unwrap();
    assert_ne!(
        r.image.incarnation(),
        incarnation,
        "the collection moved objects"
    );
}

/// The base's Object>>globalPair and the association it reads.
fn global_pair(r: &mut Run) -> (Value, Value) {
    let (methods, i) = r.method_slot(r.t.k.object, "globalPair");
    let m = r.image.read(methods, i).unwrap();
    (m, r.image.read(m, 1).unwrap())
}

#[test]
fn lookups_of_base_methods_outlive_a_collection() {
    let mut r = Run::new();
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), r.t.pair);
    collect(&mut r, 1);
    assert_eq!(
        r.interp.release_caches(),
        2,
        "yourself and globalPair stay decoded"
    );
}

#[test]
fn a_method_with_a_private_literal_is_decoded_again_after_a_collection() {
    let mut r = Run::new();
    let (_, assoc) = global_pair(&mut r);
    r.array(&[int(0)]);
    r.image.write(assoc, 1, int(5)).unwrap();
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), int(5));
    collect(&mut r, 0);
    // Kept, its literal would be the association's reference from before the collection,
    // which the image now refuses.
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), int(5));
}

#[test]
fn a_lookup_through_a_private_method_dictionary_is_made_again_after_a_collection() {
    let mut r = Run::new();
    let small_integer = r.t.k.small_integer;
    r.array(&[int(0)]);
    // SmallInteger's method dictionary becomes this image's own.
    r.define(small_integer, "foo", &[], 0, 0, 0, &[120]);
    // The lookup of `yourself` passes through it on its way to Object's.
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
    collect(&mut r, 0);

    // The image's own code now gives SmallInteger a `yourself` answering 2, storing into the
    // dictionary and its method array under their new references.
    let dict = r.image.read(small_integer, 1).unwrap();
    let methods = r.image.read(dict, 1).unwrap();
    // The slot the lookup reaches: the first nil from the selector's hash.
    let sel = r.sym("yourself");
    let free = r.probe_slot(dict, sel);
    // Extended pop-and-store into a receiver variable (130, then the field's index).
    let two = r.method(&[], 0, 0, 0, &[119, 124]);
    r.run(methods, &[two], 0, &[0x20, 130, free as u8, 120])
        .unwrap();
    r.run(dict, &[sel], 0, &[0x20, 130, free as u8 + 2, 120])
        .unwrap();
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(2));
}

#[test]
fn a_collection_inside_a_run_keeps_the_base_lookups_too() {
    let mut r = Run::new();
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
    r.array(&[int(0)]);
    // Primitive 130 (garbage collect) collects at its safe point, inside the run.
    r.answer(130, r.nil(), &[]);
    assert!(r.image.stats().collections >= 1);
    assert_eq!(r.interp.release_caches(), 1, "yourself stays decoded");
}

/// Each run's method is private, watched while decoded, and dropped at the next collection;
/// the bits it left in the watched objects' filter are cleared once there are enough of them.
/// Through all that, a store into a watched base object still drops the cache.
#[test]
fn stores_into_watched_base_objects_drop_the_cache_after_many_collections() {
    let mut r = Run::new();
    assert_eq!(r.send(int(3), "yourself", &[]).unwrap(), int(3));
    let nil = r.nil();
    for _ in 0..1100 {
        r.run(nil, &[], 0, &[120]).unwrap();
        collect(&mut r, 0);
    }
    let flushes = r.interp.cache_flushes();
    // Object's method dictionary, watched by the lookup of `yourself`: its tally, stored.
    let dict = r.image.read(r.t.k.object, 1).unwrap();
    let tally = r.image.read(dict, 0).unwrap();
    r.run(dict, &[tally], 0, &[0x20, 0x60, 120]).unwrap();
    assert_eq!(r.interp.cache_flushes(), flushes + 1);
}

/// The dispatch loop's store into a receiver's field skips the look at the watched set
/// where the cache saw that receiver not watched already (`MethodCache::unwatched_receiver`).
/// A class whose field a method stores into, then watched by a lookup through it in the same
/// run, must still drop the cache at the next store.
#[test]
fn a_store_into_a_receiver_watched_since_the_last_store_drops_the_cache() {
    let mut r = Run::new();
    // A private copy of Array (its superclass, method dictionary and format), and an
    // instance of it.
    let array = r.t.k.array;
    let meta = r.image.class_of(array).unwrap();
    let n = r.image.size_of(array).unwrap();
    let fields: Vec<Value> = (0..n).map(|i| r.image.read(array, i).unwrap()).collect();
    let class = r.instance(meta, &fields, 1);
    let x = r.instance(class, &[], 2);
    let flushes = r.interp.cache_flushes();
    // self's format stored back into it (push receiver variable 2, pop and store it), twice,
    // around `x yourself` (push literal 1, send literal 0, pop), whose lookup passes through
    // the class and so watches it; then return self.
    let code = [0x02, 0x62, 0x21, 0xD0, 0x87, 0x02, 0x62, 0x78];
    let sel = r.sym("yourself");
    assert_eq!(r.run(class, &[sel, x], 0, &code).unwrap(), class);
    assert_eq!(
        r.interp.cache_flushes(),
        flushes + 1,
        "the second store dropped the cache, the first did not"
    );
}

/// A global's value kept from its base association (`MethodCache::sealed_global`) goes when
/// this image writes the association: the write copies it, which changes the heap's
/// `sealed_view`. Kept past it, the second send would answer the base's pair.
#[test]
fn a_global_kept_from_the_base_is_read_again_once_its_association_is_written() {
    let mut r = Run::new();
    let (_, assoc) = global_pair(&mut r);
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), r.t.pair);
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), r.t.pair);
    let view = r.image.sealed_view();
    r.image.write(assoc, 1, int(5)).unwrap();
    // A plain heap keeps nothing sealed (`None` both times); cowheap's copy changes the view.
    assert_eq!(view.is_some(), cfg!(not(feature = "plain-heap")));
    assert!(
        view.is_none() || r.image.sealed_view() != view,
        "the copy changed the view"
    );
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), int(5));
    r.image.write(assoc, 1, int(6)).unwrap();
    assert_eq!(r.send(int(3), "globalPair", &[]).unwrap(), int(6));
}
