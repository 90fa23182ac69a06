//! Bad arguments get typed errors and change nothing.

mod common;

use common::{fixture, fixture_with, int};
use cowheap::{BaseBuilder, Error, Format, Formats, HeapConfig, Kernel, Value};

#[test]
fn out_of_range_and_wrong_format_change_nothing() {
    let f = fixture(2);
    let mut img = f.heap.new_image().unwrap();
    let o = f.objects[0];
    assert_eq!(
        img.read(o, 4),
        Err(Error::IndexOutOfRange { index: 4, len: 4 })
    );
    assert_eq!(
        img.write(o, 4, int(1)),
        Err(Error::IndexOutOfRange { index: 4, len: 4 })
    );
    // The error names the formats the access takes, as a set a caller can test.
    assert_eq!(
        img.write(f.bytes, 0, int(1)),
        Err(Error::WrongFormat {
            expected: Formats::POINTERS | Format::Method,
            actual: Format::Bytes
        })
    );
    assert_eq!(
        img.write_byte(o, 0, 1),
        Err(Error::WrongFormat {
            expected: Formats::BYTES | Format::Method,
            actual: Format::Pointers
        })
    );
    assert_eq!(
        img.write_word(f.bytes, 0, 1),
        Err(Error::WrongFormat {
            expected: Formats::WORDS,
            actual: Format::Bytes
        })
    );
    assert_eq!(
        img.read(f.bytes, 0),
        Err(Error::WrongFormat {
            expected: Formats::SLOTS,
            actual: Format::Bytes
        })
    );
    assert!(matches!(
        img.write_byte(f.bytes, 11, 1),
        Err(Error::IndexOutOfRange { index: 11, len: 11 })
    ));
    assert!(matches!(
        img.write_word(f.words, 3, 1),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    ));
    assert!(matches!(
        img.read(f.method, 2),
        Err(Error::IndexOutOfRange { index: 2, len: 2 })
    ));
    assert!(matches!(
        img.read_byte(f.method, 5),
        Err(Error::IndexOutOfRange { index: 5, len: 5 })
    ));
    assert!(matches!(img.read(int(3), 0), Err(Error::NotAnObject(_))));
    assert!(matches!(
        img.allocate(int(3), Format::Pointers, 1),
        Err(Error::BadClass(_))
    ));
    assert!(matches!(
        img.root("no such root"),
        Err(Error::UnknownRoot(_))
    ));
    assert_eq!(img.stats().copies, 0, "refused writes copy nothing");
    assert_eq!(f.heap.census().forwarders, 0);
}

#[test]
fn foreign_dead_and_other_heap_references_are_refused() {
    let f = fixture(2);
    let g = fixture(2);
    let mut one = f.heap.new_image().unwrap();
    let mut two = f.heap.new_image().unwrap();
    let mine = one.allocate(f.kernel.array, Format::Pointers, 1).unwrap();
    assert_eq!(two.read(mine, 0), Err(Error::ForeignReference(mine)));
    assert_eq!(
        two.write(f.objects[0], 0, mine),
        Err(Error::ForeignReference(mine))
    );
    assert_eq!(
        two.become_forward(f.objects[0], mine),
        Err(Error::ForeignReference(mine))
    );
    assert_eq!(two.set_root("x", mine), Err(Error::ForeignReference(mine)));
    assert_eq!(
        two.identical(mine, mine),
        Err(Error::ForeignReference(mine))
    );

    // Another heap's base object.
    let theirs = g.objects[0];
    assert_eq!(one.read(theirs, 0), Err(Error::ForeignReference(theirs)));
    assert_eq!(
        one.write(f.objects[0], 0, theirs),
        Err(Error::ForeignReference(theirs))
    );

    // A reference outliving its image.
    drop(one);
    let mut three = f.heap.new_image().unwrap();
    let _ = three.allocate(f.kernel.array, Format::Pointers, 8).unwrap();
    assert_eq!(three.read(mine, 0), Err(Error::ForeignReference(mine)));
    assert_eq!(two.stats().copies, 0);
}

#[test]
fn image_limit_is_an_error_and_frees_up() {
    let f = fixture_with(1, HeapConfig::default().max_images(2));
    let a = f.heap.new_image().unwrap();
    let _b = f.heap.new_image().unwrap();
    assert_eq!(
        f.heap.new_image().err(),
        Some(Error::TooManyImages { limit: 2 })
    );
    drop(a);
    assert!(f.heap.new_image().is_ok());
}

#[test]
fn builder_refuses_bad_input() {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let unfinished = b.new_object(int(0), Format::Pointers, 1).unwrap();
    assert!(matches!(
        b.set_class(unfinished, int(1)),
        Err(Error::BadClass(_))
    ));
    assert!(matches!(
        b.set_field(unfinished, 1, k.nil),
        Err(Error::IndexOutOfRange { .. })
    ));
    let other = {
        let mut o = BaseBuilder::new();
        Kernel::install(&mut o).unwrap().nil
    };
    assert!(matches!(
        b.set_field(unfinished, 0, other),
        Err(Error::ForeignReference(_))
    ));
    assert!(matches!(
        b.set_bytes(k.nil, 0, b"x"),
        Err(Error::WrongFormat { .. })
    ));
    assert!(
        matches!(b.seal(), Err(Error::BadClass(_))),
        "an object without a class"
    );

    let b = BaseBuilder::new();
    let refused = b.seal_with(HeapConfig::default().max_images(0));
    assert!(
        matches!(&refused, Err(Error::BadConfig { field: cowheap::ConfigField::MaxImages, reason }) if reason.contains("not 0")),
        "{refused:?}"
    );
}

#[test]
fn huge_sizes_are_refused_not_allocated() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    assert_eq!(
        img.allocate(f.kernel.array, Format::Pointers, usize::MAX),
        Err(Error::TooLarge)
    );
    assert_eq!(
        img.allocate(f.kernel.array, Format::Pointers, 1 << 33),
        Err(Error::TooLarge)
    );
    // The pointers allocations' own path (`new_pointers_from`, a VM's `new:` and contexts),
    // at and past each bound: the body's longest length, and an index past any reference.
    for len in [
        usize::MAX,
        u32::MAX as usize + 1,
        u32::MAX as usize,
        1 << 33,
    ] {
        assert_eq!(
            img.new_pointers_from(f.kernel.array, len, &[]),
            Err(Error::TooLarge),
            "{len}"
        );
        assert_eq!(
            img.new_pointers_with_format(f.kernel.array, len, &[], 2),
            Err(Error::TooLarge),
            "{len}"
        );
    }
    assert_eq!(img.stats().allocations, 0);
    assert_eq!(Value::small_int(i64::MAX), None);
}
