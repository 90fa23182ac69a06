//! Each shared image loads, and what the images README and the images themselves say holds.

mod images_common;
mod loader_common;

use std::collections::HashSet;

use cowheap::{BaseHeap, Format, Value};
use cowheap_squeak::loader::{self, class_name, special, string_value, ByteOrder, Loaded};
use loader_common::*;

/// Every object reachable from the special-objects array, through slots, literals and classes.
fn reachable(heap: &BaseHeap, from: Value) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    let mut out = Vec::new();
    while let Some(v) = stack.pop() {
        if !v.is_object() || !seen.insert(v) {
            continue;
        }
        out.push(v);
        stack.push(heap.original_class(v).unwrap());
        let format = heap.original_format(v).unwrap();
        let fields = match format {
            Format::Pointers => heap.original_size(v).unwrap(),
            Format::Method => (0..)
                .take_while(|&i| heap.original_field(v, i).is_ok())
                .count(),
            _ => 0,
        };
        for i in 0..fields {
            stack.push(heap.original_field(v, i).unwrap());
        }
    }
    out
}

fn floats(loaded: &Loaded) -> Vec<f64> {
    let heap = &loaded.heap;
    let float = loaded.info.float_class.expect("a Float class");
    heap.objects()
        .filter(|&o| heap.original_class(o).unwrap() == float)
        .map(|o| loader::float_value(heap, o).expect("a Float is two words"))
        .collect()
}

#[test]
fn object_counts_and_formats_match_the_images_readme() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let info = &loaded.info;
        assert_eq!(info.object_count, image.objects, "{}", image.file);
        assert_eq!(loaded.heap.object_count(), image.objects, "{}", image.file);
        assert_eq!(info.format, image.format, "{}", image.file);
        assert_eq!(info.family, image.family, "{}", image.file);
        let order = if image.big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        assert_eq!(info.byte_order, order, "{}", image.file);
        assert_eq!(info.file_bytes, bytes(image.file).len());
        assert_eq!(
            loaded.heap.root("specialObjects").unwrap(),
            info.special_objects
        );
    }
}

#[test]
fn nil_true_and_false_have_their_classes() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let heap = &loaded.heap;
        let info = &loaded.info;
        for (value, class) in [
            (info.nil, "UndefinedObject"),
            (info.true_object, "True"),
            (info.false_object, "False"),
        ] {
            let name = class_name(heap, heap.original_class(value).unwrap());
            assert_eq!(
                name,
                Some(format!("{}{class}", image.prefix)),
                "{}",
                image.file
            );
        }
        assert_eq!(heap.filler(), info.nil);
        for (i, class) in [
            (special::SMALL_INTEGER, "SmallInteger"),
            (special::ARRAY, "Array"),
            (special::STRING, "String"),
            (special::FLOAT, "Float"),
        ] {
            let v = heap.original_field(info.special_objects, i).unwrap();
            assert_eq!(
                class_name(heap, v),
                Some(format!("{}{class}", image.prefix)),
                "{}",
                image.file
            );
        }
    }
}

#[test]
fn every_class_reached_is_named_by_a_string_or_symbol() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let heap = &loaded.heap;
        let name_slot = loaded.info.class_name_slot.expect("class layout found");
        let this_slot = loaded.info.this_class_slot.expect("metaclass layout found");
        let objects = reachable(heap, loaded.info.special_objects);
        assert!(objects.len() > image.objects / 2, "{}", image.file);
        let classes: HashSet<Value> = objects
            .iter()
            .map(|&o| heap.original_class(o).unwrap())
            .collect();
        let name_class_ok = |name: Value| {
            let class = class_name(heap, heap.original_class(name).unwrap()).unwrap();
            class.ends_with("String") || class.ends_with("Symbol")
        };
        for &class in &classes {
            let name = class_name(heap, class)
                .unwrap_or_else(|| panic!("{}: class {class:?} has no name", image.file));
            assert!(!name.is_empty());
            let owner = if name.ends_with(" class") {
                heap.original_field(class, this_slot).unwrap()
            } else {
                class
            };
            let name_object = heap.original_field(owner, name_slot).unwrap();
            assert!(
                name_class_ok(name_object),
                "{}: {name} is named by a {:?}",
                image.file,
                class_name(heap, heap.original_class(name_object).unwrap())
            );
        }
        assert!(
            classes.len() > 60,
            "{}: {} classes",
            image.file,
            classes.len()
        );
    }
}

#[test]
fn every_reference_resolves() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let check = loader::verify_references(&loaded.heap)
            .unwrap_or_else(|e| panic!("{}: {e}", image.file));
        assert_eq!(check.objects, image.objects);
        // Nearly every object hangs off the roots; the rest are garbage the saving VM had
        // not collected, Spur's hidden objects and its forwarders.
        assert!(
            check.reachable <= image.objects && check.reachable * 10 >= image.objects * 9,
            "{}: only {} of {} reachable",
            image.file,
            check.reachable,
            image.objects
        );
        assert_eq!(
            check.references,
            loaded.info.fields.references + image.objects as u64 + loaded.info.forwarders as u64
        );
    }
}

#[test]
fn small_integers_decode_to_known_values() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let heap = &loaded.heap;
        let info = &loaded.info;
        match image.family {
            cowheap_squeak::loader::ImageFamily::V3 => {
                // The Character table holds the 256 Characters, each holding its value.
                let table = heap
                    .original_field(info.special_objects, special::CHARACTER_TABLE)
                    .unwrap();
                assert_eq!(heap.original_size(table).unwrap(), 256);
                for i in 0..256 {
                    let c = heap.original_field(table, i).unwrap();
                    let value = heap.original_field(c, 0).unwrap();
                    assert_eq!(value.as_small_int(), Some(i as i64), "{}", image.file);
                }
            }
            cowheap_squeak::loader::ImageFamily::Spur => {
                // Spur class formats are instSpec << 16 | instSize: Array is indexable
                // pointers (2), Float indexable 32-bit words (10); and a class's identity
                // hash is its class index (Array 51, Float 34).
                let format_slot = 2;
                for (i, format, index) in [
                    (special::ARRAY, 2 << 16, 51),
                    (special::FLOAT, 10 << 16, 34),
                ] {
                    let class = heap.original_field(info.special_objects, i).unwrap();
                    let f = heap.original_field(class, format_slot).unwrap();
                    assert_eq!(f.as_small_int(), Some(format));
                    assert_eq!(heap.original_hash(class).unwrap(), index);
                }
                // Characters are immediate here.
                assert!(info.fields.characters > 0);
                let chars: Vec<char> = heap
                    .objects()
                    .flat_map(|o| {
                        (0..)
                            .map_while(move |i| heap.original_field(o, i).ok())
                            .filter_map(|v| v.as_char())
                    })
                    .collect();
                assert_eq!(chars.len() as u64, info.fields.characters);
            }
        }
        assert!(info.fields.small_integers > 0);
    }
}

#[test]
fn floats_decode_to_known_values() {
    if loader_common::skip_all() {
        return;
    }
    use std::f64::consts::{E, PI};
    // Squeak 2.2's Sqrt2 is one ulp below Rust's SQRT_2.
    let sqrt2 = f64::from_bits(0x3FF6_A09E_667F_3BCC);
    for image in IMAGES {
        let loaded = load(image.file);
        let values = floats(&loaded);
        assert!(!values.is_empty());
        let expected: &[f64] = match image.file {
            // Float's class pool: Pi, E, Sqrt2, ...
            "mini-2.2-v3-le.image" | "mini-2.2-v3-be.image" => &[PI, E, sqrt2, 2.0 * PI],
            // 6505 stores Floats low word first: SmallInteger maxVal asFloat, 10.0, 1.0.
            "bootstrapped-v3-6505.image" => &[1073741823.0, 10.0, 1.0],
            _ => &[PI, E, 2.0, 180.0, 10.0, 1e-12],
        };
        for x in expected {
            assert!(
                values.contains(x),
                "{}: no Float {x} in {values:?}",
                image.file
            );
        }
        // With the wrong word order, small integral Floats (a zero low word) would decode to
        // denormals; with the right one, none is smaller than Squeak's Epsilon.
        for x in values {
            assert!(
                x == 0.0 || !x.is_finite() || (x.is_normal() && x.abs() >= 1e-12),
                "{}: odd Float {x:e}",
                image.file
            );
        }
        assert_eq!(loaded.info.floats_reordered, image.format != 6502);
    }
}

#[test]
fn methods_keep_their_header_as_literal_zero() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let heap = &loaded.heap;
        let mut methods = 0;
        for o in heap.objects() {
            if heap.original_format(o).unwrap() != Format::Method {
                continue;
            }
            methods += 1;
            let header = heap.original_field(o, 0).unwrap().as_small_int().unwrap();
            let literals = match image.family {
                cowheap_squeak::loader::ImageFamily::V3 => (header >> 9) & 0xFF,
                cowheap_squeak::loader::ImageFamily::Spur => header & 0x7FFF,
            } as usize;
            assert!(heap.original_field(o, literals).is_ok());
            assert!(heap.original_field(o, literals + 1).is_err());
            assert!(!heap.original_bytes(o).unwrap().is_empty());
        }
        assert!(methods > 500, "{}: {methods} methods", image.file);
    }
}

#[test]
fn symbols_read_as_text() {
    if loader_common::skip_all() {
        return;
    }
    for image in IMAGES {
        let loaded = load(image.file);
        let heap = &loaded.heap;
        let symbol = format!("{}Symbol", image.prefix);
        let names: HashSet<String> = heap
            .objects()
            .filter(|&o| {
                class_name(heap, heap.original_class(o).unwrap()).as_deref() == Some(&symbol)
            })
            .map(|o| string_value(heap, o).unwrap())
            .collect();
        for s in ["printOn:", "at:put:", "class", "new"] {
            assert!(names.contains(s), "{}: no Symbol #{s}", image.file);
        }
    }
}

/// Without the images a test skips with one line that names the file and how to say where the
/// images are; the folder is `$COWHEAP_IMAGES`, else `shared/images` beside the workspace when
/// it exists, else the cache folder that `cargo xtask fetch-images` fills.
#[test]
fn a_missing_image_is_named_with_where_images_are_expected() {
    let missing = std::path::Path::new("/nonexistent/shared/images/x.image");
    assert_eq!(
        images_common::missing_message("a_test", missing),
        "a_test: /nonexistent/shared/images/x.image not found (run `cargo xtask fetch-images`, or set COWHEAP_IMAGES)"
    );
    let dir = images_common::dir();
    match std::env::var_os("COWHEAP_IMAGES") {
        Some(set) if !set.is_empty() => assert_eq!(dir, std::path::PathBuf::from(set)),
        _ => {
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap();
            let shared = workspace.parent().unwrap().join("shared/images");
            if shared.is_dir() {
                assert_eq!(dir, shared);
            } else if let Some(cache) = images_common::cache_dir() {
                assert_eq!(dir, cache);
                assert!(dir.ends_with("cowheap/images"), "{}", dir.display());
            }
        }
    }
}
