//! The little- and big-endian mini images are two saves of the same Squeak 2.2 system, so
//! both byte orders must decode alike.

mod images_common;
mod loader_common;

use std::collections::HashSet;

use cowheap_squeak::loader::{class_name, float_value, string_value, Loaded};
use loader_common::load;

fn instances_as_text(loaded: &Loaded, class: &str) -> HashSet<String> {
    let heap = &loaded.heap;
    heap.objects()
        .filter(|&o| class_name(heap, heap.original_class(o).unwrap()).as_deref() == Some(class))
        .map(|o| string_value(heap, o).unwrap())
        .collect()
}

#[test]
fn every_symbol_of_the_little_endian_image_is_a_symbol_of_the_big_endian_one() {
    if loader_common::skip(&["mini-2.2-v3-le.image", "mini-2.2-v3-be.image"]) {
        return;
    }
    let le = load("mini-2.2-v3-le.image");
    let be = load("mini-2.2-v3-be.image");
    let le_symbols = instances_as_text(&le, "Symbol");
    let be_symbols = instances_as_text(&be, "Symbol");
    assert!(le_symbols.len() > 4000, "{} symbols", le_symbols.len());
    let missing: Vec<_> = le_symbols.difference(&be_symbols).collect();
    assert!(
        missing.is_empty(),
        "not in the big-endian image: {missing:?}"
    );
    // The big-endian one has a few more.
    assert!(be_symbols.len() >= le_symbols.len());
}

#[test]
fn both_byte_orders_name_the_same_classes_and_hold_the_same_float_constants() {
    if loader_common::skip(&["mini-2.2-v3-le.image", "mini-2.2-v3-be.image"]) {
        return;
    }
    let le = load("mini-2.2-v3-le.image");
    let be = load("mini-2.2-v3-be.image");
    let classes = |l: &Loaded| -> HashSet<String> {
        let heap = &l.heap;
        heap.objects()
            .filter_map(|o| class_name(heap, heap.original_class(o).unwrap()))
            .collect()
    };
    let (lc, bc) = (classes(&le), classes(&be));
    let common = lc.intersection(&bc).count();
    assert!(
        common * 10 >= lc.len() * 9,
        "{common} of {} classes in common",
        lc.len()
    );
    // Float's class pool is identical in both: the same constants, bit for bit.
    let pool = |l: &Loaded| -> Vec<u64> {
        let heap = &l.heap;
        let float = l.info.float_class.unwrap();
        let mut v: Vec<u64> = heap
            .objects()
            .filter(|&o| heap.original_class(o).unwrap() == float)
            .filter_map(|o| float_value(heap, o))
            .map(f64::to_bits)
            .filter(|b| {
                [
                    std::f64::consts::PI.to_bits(),
                    std::f64::consts::E.to_bits(),
                ]
                .contains(b)
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(pool(&le), pool(&be));
    assert_eq!(pool(&le).len(), 2);
    // Strings decode alike: the same String instances exist (the big-endian save drops a few).
    let ls = instances_as_text(&le, "String");
    let bs = instances_as_text(&be, "String");
    let shared = ls.intersection(&bs).count();
    assert!(
        shared * 2 >= bs.len(),
        "{shared} of {} Strings in common",
        bs.len()
    );
}
