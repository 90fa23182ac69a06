//! The public API's contract with hosts: auto traits checked at compile time, and every entry
//! point that takes a reference refusing one it does not own with
//! [`Error::ForeignReference`], changing nothing.
//!
//! The misuse that must not compile is shown as `compile_fail` doctests in docs/GUIDE.md
//! (section "What does not compile").

use std::fmt::Debug;
use std::hash::Hash;

use cowheap::{
    BaseBuilder, BaseHeap, Census, Error, Format, Formats, HeapConfig, Image, ImageStats,
    ImageThread, Kernel, LiveImage, ObjectCensus, Reclamation, Result, Value,
};

// ---------------------------------------------------------------------------------------------
// Compile-time checks. These items are never run: they only have to type-check.

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}
fn copy<T: Copy>() {}
fn clone<T: Clone>() {}
fn debug<T: Debug>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}
fn key<T: Eq + Hash + Copy + Debug>() {}

/// What hosts rely on, checked when this test crate compiles.
#[allow(dead_code)]
fn positive_auto_traits() {
    // An image may move to another thread between steps; one thread at a time drives it.
    send::<Image>();
    debug::<Image>();
    // The base heap is a cheap handle for every thread: clone it or share it.
    send_sync_static::<BaseHeap>();
    clone::<BaseHeap>();
    debug::<BaseHeap>();
    // Values are plain words; passing them around is fine (using them in the wrong image is
    // a run-time error, see below).
    send_sync_static::<Value>();
    copy::<Value>();
    key::<Value>();
    key::<Format>();
    key::<Formats>();
    // Every public type answers `Debug`, so that a host can log what it holds.
    debug::<BaseBuilder>();
    debug::<HeapConfig>();
    debug::<Kernel>();
    debug::<ImageThread>();
    debug::<Census>();
    debug::<Reclamation>();
    debug::<LiveImage>();
    debug::<Error>();
    debug::<ObjectCensus>();
    send_sync_static::<ObjectCensus>();
    clone::<ObjectCensus>();
    // Errors cross threads and fit `Box<dyn Error + Send + Sync>` and anyhow-style handling.
    error::<Error>();
    clone::<Error>();
    // Building may happen on another thread; builders and configs move.
    send::<BaseBuilder>();
    send_sync_static::<HeapConfig>();
    send_sync_static::<Kernel>();
    copy::<Kernel>();
    send::<ImageThread>();
    // Statistics are plain data for monitors.
    send_sync_static::<ImageStats>();
    copy::<ImageStats>();
    send_sync_static::<Census>();
    copy::<Census>();
    // `Result` is the crate's alias.
    let _: fn() -> Result<()> = || Ok(());
    let _: fn() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> =
        || Err(Error::TooLarge.into());
}

/// `Image` must be neither `Sync` nor `Clone`. A type that implemented either would make one
/// of these traits' two blanket impls ambiguous with the other, and this file would not
/// compile (the `static_assertions::assert_not_impl_any!` trick).
#[allow(dead_code)]
fn negative_auto_traits() {
    trait AmbiguousIfSync<A> {
        fn check() {}
    }
    impl<T> AmbiguousIfSync<()> for T {}
    impl<T: Sync> AmbiguousIfSync<u8> for T {}
    <Image as AmbiguousIfSync<_>>::check();

    trait AmbiguousIfClone<A> {
        fn check() {}
    }
    impl<T> AmbiguousIfClone<()> for T {}
    impl<T: Clone> AmbiguousIfClone<u8> for T {}
    <Image as AmbiguousIfClone<_>>::check();
}

#[test]
fn auto_traits_hold() {
    // The checks above are compile-time; this test exists so they show up in test output.
    positive_auto_traits();
    negative_auto_traits();
    let _ = sync::<BaseHeap>;
}

// ---------------------------------------------------------------------------------------------
// Run-time checks: references that do not belong to an image are refused everywhere.

fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

struct Base {
    heap: BaseHeap,
    kernel: Kernel,
    /// A pointers object with 2 slots.
    pair: Value,
    bytes: Value,
    words: Value,
    method: Value,
}

fn base() -> Base {
    let mut b = BaseBuilder::new();
    let kernel = Kernel::install(&mut b).unwrap();
    let pair = b.new_pointers(kernel.array, &[int(1), int(2)]).unwrap();
    let bytes = b.new_bytes(kernel.byte_array, b"abc").unwrap();
    let words = b.new_words(kernel.word_array, &[7, 8]).unwrap();
    let method = b.new_method(kernel.compiled_method, 1, 2).unwrap();
    b.add_root("pair", pair).unwrap();
    Base {
        heap: b.seal().unwrap(),
        kernel,
        pair,
        bytes,
        words,
        method,
    }
}

/// Calls every `Image` operation that takes a reference with `bad` in each reference position
/// (and good arguments elsewhere), and checks that each answers `ForeignReference(bad)` and
/// leaves no trace.
fn assert_refused_everywhere(image: &mut Image, base: &Base, bad: Value) {
    let k = &base.kernel;
    let before = image.stats();
    let census = base.heap.census();
    let refused = Err::<(), _>(Error::ForeignReference(bad));
    let check = |what: &str, got: Result<()>| assert_eq!(got, refused, "{what}");

    // Reads and queries.
    check("read", image.read(bad, 0).map(drop));
    check("read_byte", image.read_byte(bad, 0).map(drop));
    check("read_word", image.read_word(bad, 0).map(drop));
    check("bytes", image.bytes(bad).map(drop));
    check("words", image.words(bad).map(drop));
    check("read_bytes", image.read_bytes(bad, 0, &mut [0; 1]));
    check("read_words", image.read_words(bad, 0, &mut [0; 1]));
    check("is_private", image.is_private(bad).map(drop));
    check("class_of", image.class_of(bad).map(drop));
    check("format_of", image.format_of(bad).map(drop));
    check("size_of", image.size_of(bad).map(drop));
    check("literal_count", image.literal_count(bad).map(drop));
    check("identity_hash", image.identity_hash(bad).map(drop));
    check(
        "identical(bad, _)",
        image.identical(bad, base.pair).map(drop),
    );
    check(
        "identical(_, bad)",
        image.identical(base.pair, bad).map(drop),
    );
    // Stores: as the target and as the value stored.
    check("write target", image.write(bad, 0, int(1)));
    check("write value", image.write(base.pair, 0, bad));
    check("write_byte", image.write_byte(bad, 0, 1));
    check("write_word", image.write_word(bad, 0, 1));
    check("write_bytes", image.write_bytes(bad, 0, b"xy"));
    check("write_words", image.write_words(bad, 0, &[1, 2]));
    check("become_forward from", image.become_forward(bad, base.pair));
    check("become_forward to", image.become_forward(base.pair, bad));
    check("set_root", image.set_root("pair", bad));
    // Allocation: as the class and as contents.
    check(
        "allocate class",
        image.allocate(bad, Format::Pointers, 1).map(drop),
    );
    check("new_pointers class", image.new_pointers(bad, &[]).map(drop));
    check(
        "new_pointers slot",
        image.new_pointers(k.array, &[int(0), bad]).map(drop),
    );
    check("new_bytes class", image.new_bytes(bad, b"x").map(drop));
    check("new_words class", image.new_words(bad, &[1]).map(drop));
    check(
        "new_method class",
        image.new_method(bad, &[], &[1]).map(drop),
    );
    check(
        "new_method literal",
        image.new_method(k.compiled_method, &[bad], &[1]).map(drop),
    );

    // Nothing happened: no copy, no allocation, no forwarder, no entry, no root change.
    assert_eq!(image.stats(), before, "a refused operation left a trace");
    assert_eq!(
        base.heap.census(),
        census,
        "a refused operation touched the base"
    );
    assert_eq!(image.read(base.pair, 0), Ok(int(1)));
    assert_eq!(image.root("pair"), Ok(base.pair));
}

#[test]
fn another_images_reference_is_refused() {
    let base = base();
    let mut alice = base.heap.new_image().unwrap();
    let mut bob = base.heap.new_image().unwrap();
    let alices = alice.new_pointers(base.kernel.array, &[int(5)]).unwrap();
    assert_refused_everywhere(&mut bob, &base, alices);
    // Alice's own reference still works for her.
    assert_eq!(alice.read(alices, 0), Ok(int(5)));
}

#[test]
fn another_images_copy_is_refused() {
    // A copy of a base object is private too: the reference Alice reads back after a write
    // may name her copy, and Bob must not be able to use it.
    let base = base();
    let mut alice = base.heap.new_image().unwrap();
    let mut bob = base.heap.new_image().unwrap();
    let holder = alice.new_pointers(base.kernel.array, &[base.pair]).unwrap();
    alice.write(base.pair, 0, int(9)).unwrap();
    let alices_copy = alice.read(holder, 0).unwrap();
    assert!(alice.identical(alices_copy, base.pair).unwrap());
    if alices_copy != base.pair {
        assert_refused_everywhere(&mut bob, &base, alices_copy);
    }
    assert_eq!(bob.read(base.pair, 0), Ok(int(1)));
}

#[test]
fn a_dead_images_reference_is_refused_even_by_its_ids_next_holder() {
    let base = base();
    let mut first = base.heap.new_image().unwrap();
    let id = first.id();
    let dead = first.new_pointers(base.kernel.array, &[int(1)]).unwrap();
    drop(first);
    let mut next = base.heap.new_image().unwrap();
    // Give the new image as many private objects as the dead one had, so an index check
    // alone could not tell them apart.
    next.new_pointers(base.kernel.array, &[int(1)]).unwrap();
    let _ = id == next.id(); // the id may be reused; the reference still must not be
    assert_refused_everywhere(&mut next, &base, dead);
}

#[test]
fn another_heaps_reference_is_refused() {
    let base = base();
    let other = self::base();
    let mut image = base.heap.new_image().unwrap();
    // Another heap's base object, even one at the very same index.
    assert_refused_everywhere(&mut image, &base, other.pair);
    // And an object private to an image of the other heap.
    let mut stranger = other.heap.new_image().unwrap();
    let theirs = stranger.new_bytes(other.kernel.string, b"hi").unwrap();
    assert_refused_everywhere(&mut image, &base, theirs);
}

#[test]
fn the_base_heap_refuses_what_is_not_its_own() {
    let base = base();
    let other = self::base();
    let mut image = base.heap.new_image().unwrap();
    let private = image.new_pointers(base.kernel.array, &[int(1)]).unwrap();
    for bad in [private, other.pair] {
        let refused = Err(Error::ForeignReference(bad));
        assert_eq!(base.heap.original_field(bad, 0), refused);
        assert_eq!(base.heap.original_class(bad), refused);
        let refused = Err(Error::ForeignReference(bad));
        assert_eq!(base.heap.original_format(bad).map(drop), refused);
        assert_eq!(base.heap.original_size(bad).map(drop), refused);
        assert_eq!(base.heap.original_bytes(bad).map(drop), refused);
        assert_eq!(base.heap.original_words(bad).map(drop), refused);
        assert_eq!(base.heap.original_hash(bad).map(drop), refused);
        assert_eq!(base.heap.original_literal_count(bad).map(drop), refused);
        assert_eq!(base.heap.census_of(bad).map(drop), refused);
    }
    // Asked whether it is a base object, the base answers no for an image's reference (it
    // cannot tell whose), and refuses another heap's.
    assert_eq!(base.heap.is_base(private), Ok(false));
    assert_eq!(
        base.heap.is_base(other.pair),
        Err(Error::ForeignReference(other.pair))
    );
    // A builder refuses another heap's references too.
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder).unwrap();
    let fresh = builder
        .new_object(kernel.array, Format::Pointers, 1)
        .unwrap();
    assert_eq!(
        builder.set_field(fresh, 0, other.pair),
        Err(Error::ForeignReference(other.pair))
    );
    assert_eq!(
        builder.add_root("x", other.pair),
        Err(Error::ForeignReference(other.pair))
    );
}

#[test]
fn immediates_are_not_references_anywhere() {
    // The other side of the coin: immediates are values in every image, never foreign.
    let base = base();
    let mut a = base.heap.new_image().unwrap();
    let mut b = base.heap.new_image().unwrap();
    for v in [int(-3), Value::character('λ')] {
        a.write(base.pair, 1, v).unwrap();
        b.write(base.pair, 1, v).unwrap();
        assert_eq!(a.read(base.pair, 1), b.read(base.pair, 1));
        assert_eq!(a.read(v, 0), Err(Error::NotAnObject(v)));
    }
    let _ = (base.bytes, base.words, base.method);
}

#[test]
fn a_reference_sent_to_another_images_thread_is_refused_there() {
    // Values are Send, so a host can pass one to another image's thread by mistake. The
    // receiving image refuses it at run time.
    let base = base();
    let mut alice = base.heap.new_image().unwrap();
    let alices = alice.new_pointers(base.kernel.array, &[int(1)]).unwrap();
    let pair = base.pair;
    let bob = base
        .heap
        .spawn_image(move |bob| {
            bob.read(alices, 0).map(|_| ()).or_else(|e| match e {
                Error::ForeignReference(v) if v == alices => bob.read(pair, 0).map(|_| ()),
                other => Err(other),
            })
        })
        .unwrap();
    assert_eq!(bob.join().unwrap(), Ok(()));
}

#[test]
fn an_image_moves_between_threads_with_its_objects() {
    // Image: Send. Its private objects and copies go with it.
    let base = base();
    let mut image = base.heap.new_image().unwrap();
    let mine = image.new_bytes(base.kernel.string, b"mine").unwrap();
    image.write(base.pair, 0, mine).unwrap();
    let image = std::thread::spawn(move || {
        let mut image = image;
        assert_eq!(
            image.read(base.pair, 0).and_then(|s| image.bytes(s)),
            Ok(b"mine".to_vec())
        );
        image.write(base.pair, 1, int(42)).unwrap();
        image
    })
    .join()
    .unwrap();
    let mut image = image;
    assert_eq!(image.read(base.pair, 1), Ok(int(42)));
    assert_eq!(image.stats().copies, 1);
}

#[test]
fn errors_explain_themselves() {
    let errors = [
        Error::NotAnObject(int(1)),
        Error::ForeignReference(int(1)),
        Error::StaleReference,
        Error::IndexOutOfRange { index: 3, len: 2 },
        Error::WrongFormat {
            expected: Formats::POINTERS,
            actual: Format::Bytes,
        },
        Error::SmallIntegerRange(1 << 62),
        Error::BadClass(int(1)),
        Error::TooLarge,
        Error::TooManyImages { limit: 4 },
        Error::HeapsExhausted,
        Error::IncarnationsExhausted,
        Error::BadConfig {
            field: cowheap::ConfigField::MaxImages,
            reason: "must be between 1 and 4194302, not 0".into(),
        },
        Error::UnknownRoot("x".into()),
        Error::Spawn(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "no threads",
        ))),
    ];
    for (i, e) in errors.iter().enumerate() {
        // `PartialEq` is by hand (an io::Error has none): every variant equals its clone and
        // no other variant.
        assert_eq!(e, &e.clone());
        for (j, other) in errors.iter().enumerate() {
            assert_eq!(i == j, e == other, "{e:?} vs {other:?}");
        }
    }
    for e in errors {
        let message = e.to_string();
        assert!(message.len() > 12, "{e:?}: {message:?}");
        assert!(
            !message.ends_with('.'),
            "messages are fragments, no full stop: {message:?}"
        );
        // Errors box into the standard trait objects hosts use.
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
        assert_eq!(boxed.to_string(), message);
    }
}

#[test]
fn errors_keep_their_source_and_name_their_field() {
    use std::error::Error as _;
    let refused = std::io::Error::new(std::io::ErrorKind::OutOfMemory, "no stack");
    let e = Error::Spawn(std::sync::Arc::new(refused));
    let Error::Spawn(io) = &e else { unreachable!() };
    assert_eq!(io.kind(), std::io::ErrorKind::OutOfMemory);
    // The chain reaches it too: a reporter walking `source()` prints the OS's reason.
    let source = e.source().expect("Spawn keeps the io::Error as its source");
    assert_eq!(source.to_string(), "no stack");
    assert!(source
        .downcast_ref::<std::sync::Arc<std::io::Error>>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::OutOfMemory));
    assert!(e.to_string().contains("no stack"), "{e}");

    let mut b = BaseBuilder::new();
    Kernel::install(&mut b).unwrap();
    match b.seal_with(HeapConfig::default().max_images(usize::MAX)) {
        Err(e @ Error::BadConfig { field, .. }) => {
            assert_eq!(field, cowheap::ConfigField::MaxImages);
            assert_eq!(field.name(), "max_images");
            assert!(e.to_string().contains("`max_images`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_many_images_is_an_error_not_a_panic() {
    let mut b = BaseBuilder::new();
    Kernel::install(&mut b).unwrap();
    let heap = b.seal_with(HeapConfig::default().max_images(2)).unwrap();
    let _a = heap.new_image().unwrap();
    let b = heap.new_image().unwrap();
    assert_eq!(
        heap.new_image().err(),
        Some(Error::TooManyImages { limit: 2 })
    );
    assert!(matches!(
        heap.spawn_image(|_| ()),
        Err(Error::TooManyImages { limit: 2 })
    ));
    drop(b);
    heap.spawn_image(|_| ()).unwrap().join().unwrap();
}

/// Every operation answers `Result<Value>` or the like, so the error type's size is on every
/// fast path: it stays at four words.
#[test]
fn results_stay_four_words() {
    assert_eq!(std::mem::size_of::<cowheap::Result<Value>>(), 32);
    assert_eq!(std::mem::size_of::<Error>(), 32);
}

/// `new_pointers_from` answers what `new_pointers` does with the rest of the fields nil,
/// refuses a first field it does not own as `new_pointers` does, and refuses more first
/// fields than the object has.
#[test]
fn new_pointers_from_leaves_the_rest_nil() {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let heap = b.seal().unwrap();
    let mut image = heap.new_image().unwrap();
    let mut other_image = heap.new_image().unwrap();
    let seven = Value::small_int(7).unwrap();
    let other = image.allocate(k.array, Format::Pointers, 0).unwrap();
    let from = image
        .new_pointers_from(k.array, 4, &[seven, other])
        .unwrap();
    let whole = image
        .new_pointers(k.array, &[seven, other, k.nil, k.nil])
        .unwrap();
    for obj in [from, whole] {
        assert_eq!(image.size_of(obj).unwrap(), 4);
        let fields: Vec<Value> = (0..4).map(|i| image.read(obj, i).unwrap()).collect();
        assert_eq!(fields, [seven, other, k.nil, k.nil]);
    }
    let foreign = other_image.allocate(k.array, Format::Pointers, 0).unwrap();
    assert!(matches!(
        image.new_pointers_from(k.array, 4, &[foreign]),
        Err(Error::ForeignReference(_))
    ));
    assert!(matches!(
        image.new_pointers(k.array, &[foreign]),
        Err(Error::ForeignReference(_))
    ));
    assert_eq!(
        image.new_pointers_from(k.array, 1, &[seven, seven]),
        Err(Error::IndexOutOfRange { index: 1, len: 1 })
    );
}

/// `refill_private_from` writes the first fields and the filler into the rest, as
/// `refill_private` with the whole; both refuse another length and a base object.
#[test]
fn refill_private_from_fills_the_rest() {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let base = b.new_object(k.array, Format::Pointers, 3).unwrap();
    let heap = b.seal().unwrap();
    let mut image = heap.new_image().unwrap();
    assert_eq!(image.filler(), k.nil);
    let seven = Value::small_int(7).unwrap();
    let obj = image.new_pointers(k.array, &[seven, seven, seven]).unwrap();
    assert!(image.refill_private_from(obj, 3, &[seven]));
    let fields: Vec<Value> = (0..3).map(|i| image.read(obj, i).unwrap()).collect();
    assert_eq!(fields, [seven, k.nil, k.nil]);
    assert!(!image.refill_private_from(obj, 4, &[seven]));
    assert!(!image.refill_private_from(obj, 1, &[seven, seven]));
    assert!(!image.refill_private_from(base, 3, &[seven]));
    assert!(!image.refill_private(base, &[seven, seven, seven]));
}
