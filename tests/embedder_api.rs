//! The embedder-facing queries and bulk accesses: base or private, bulk bytes and words, the
//! per-object census, `original_literal_count`, and the empty base.

mod common;

use common::{fixture, int};
use cowheap::{BaseBuilder, Error, Format, Formats, Kernel, ObjectCensus, Value};

#[test]
fn write_bytes_copies_once_and_every_image_keeps_its_view() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let other = f.heap.new_image().unwrap();
    img.write_bytes(f.bytes, 7, b"BASE").unwrap();
    assert_eq!(img.bytes(f.bytes).unwrap(), b"hello, BASE");
    let stats = img.stats();
    assert_eq!((stats.copies, stats.writes), (1, 4), "one copy, four bytes");
    img.write_bytes(f.bytes, 0, b"J").unwrap();
    assert_eq!(img.stats().copies, 1, "copied once only");
    let mut buf = [0u8; 5];
    img.read_bytes(f.bytes, 6, &mut buf).unwrap();
    assert_eq!(&buf, b" BASE");
    // The other image and the base never see it.
    other.read_bytes(f.bytes, 6, &mut buf).unwrap();
    assert_eq!(&buf, b" base");
    assert_eq!(f.heap.original_bytes(f.bytes).unwrap(), b"hello, base");
}

#[test]
fn write_bytes_reaches_a_methods_bytecodes_not_its_literals() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    img.write_bytes(f.method, 3, &[40, 50]).unwrap();
    assert_eq!(img.bytes(f.method).unwrap(), [1, 2, 3, 40, 50]);
    assert_eq!(
        img.read(f.method, 1),
        Ok(int(42)),
        "the literals are untouched"
    );
    let mut buf = [0u8; 2];
    img.read_bytes(f.method, 0, &mut buf).unwrap();
    assert_eq!(buf, [1, 2]);
}

#[test]
fn a_refused_bulk_write_copies_nothing_and_writes_nothing() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let before = img.stats();
    // Past the end by one: the first byte that does not exist is named.
    assert_eq!(
        img.write_bytes(f.bytes, 9, b"xyz"),
        Err(Error::IndexOutOfRange { index: 11, len: 11 })
    );
    assert_eq!(
        img.write_bytes(f.bytes, usize::MAX, b"x"),
        Err(Error::IndexOutOfRange {
            index: usize::MAX,
            len: 11
        })
    );
    assert_eq!(
        img.write_words(f.words, 2, &[1, 2]),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    );
    assert_eq!(
        img.write_bytes(f.words, 0, b"x"),
        Err(Error::WrongFormat {
            expected: Formats::BYTE_ADDRESSABLE,
            actual: Format::Words
        })
    );
    assert_eq!(
        img.write_words(f.bytes, 0, &[1]),
        Err(Error::WrongFormat {
            expected: Formats::WORDS,
            actual: Format::Bytes
        })
    );
    assert_eq!(
        img.read_words(f.objects[0], 0, &mut [0; 1]),
        Err(Error::WrongFormat {
            expected: Formats::WORDS,
            actual: Format::Pointers
        })
    );
    assert_eq!(
        img.read_bytes(f.bytes, 10, &mut [0; 2]),
        Err(Error::IndexOutOfRange { index: 11, len: 11 })
    );
    assert_eq!(img.stats(), before, "a refused call leaves no trace");
    assert_eq!(f.heap.census_of(f.bytes).unwrap(), ObjectCensus::default());
    assert!(!img.is_private(f.bytes).unwrap(), "nothing was copied");

    // A private object is refused whole too: no prefix of the range is written.
    let mine = img.new_bytes(f.kernel.byte_array, b"abc").unwrap();
    assert!(img.write_bytes(mine, 1, b"XYZ").is_err());
    assert_eq!(img.bytes(mine).unwrap(), b"abc");
    let words = img.new_words(f.kernel.word_array, &[1, 2]).unwrap();
    assert!(img.write_words(words, 1, &[8, 9]).is_err());
    assert_eq!(img.words(words).unwrap(), [1, 2]);
}

#[test]
fn empty_ranges_are_valid_up_to_the_end_and_copy_nothing() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    img.write_bytes(f.bytes, 11, b"").unwrap();
    img.write_words(f.words, 0, &[]).unwrap();
    img.read_bytes(f.bytes, 11, &mut []).unwrap();
    assert_eq!(
        img.write_bytes(f.bytes, 12, b""),
        Err(Error::IndexOutOfRange { index: 12, len: 11 })
    );
    assert_eq!(img.stats().copies, 0, "an empty write is no write");
    assert_eq!(img.stats().writes, 0);
}

#[test]
fn write_words_and_read_words() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    assert_eq!(img.words(f.words).unwrap(), [1, 2, 0xdead_beef]);
    img.write_words(f.words, 1, &[20, 30]).unwrap();
    assert_eq!(img.words(f.words).unwrap(), [1, 20, 30]);
    let stats = img.stats();
    assert_eq!((stats.copies, stats.writes), (1, 2));
    let mut buf = [0u32; 2];
    img.read_words(f.words, 0, &mut buf).unwrap();
    assert_eq!(buf, [1, 20]);
    assert_eq!(f.heap.original_words(f.words).unwrap(), [1, 2, 0xdead_beef]);
    // Odd starts and lengths straddle the two halves of a body word.
    let mine = img.new_words(f.kernel.word_array, &[0; 5]).unwrap();
    img.write_words(mine, 1, &[7, 8, 9]).unwrap();
    assert_eq!(img.words(mine).unwrap(), [0, 7, 8, 9, 0]);
    let mut three = [0u32; 3];
    img.read_words(mine, 2, &mut three).unwrap();
    assert_eq!(three, [8, 9, 0]);
}

/// A base reference names its object through the image's collections; a private one is
/// renumbered by the first collection that moves it.
#[test]
fn base_references_outlive_collections_and_private_ones_do_not() {
    let f = fixture(2);
    let a = f.objects[0];
    let mut img = f.heap.new_image().unwrap();
    img.write(a, 2, int(5)).unwrap();
    img.new_pointers(f.kernel.array, &[int(0)]).unwrap();
    let mine = img.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let copy = img.canonical(a).unwrap();
    assert!(a.is_base_reference());
    assert!(
        !copy.is_base_reference(),
        "the copy's own reference is private"
    );
    assert!(!mine.is_base_reference());
    assert!(!int(3).is_base_reference());
    assert!(f.kernel.nil.is_base_reference());

    let mut roots = [mine];
    img.collect(&mut roots).unwrap();
    assert_eq!(
        img.read(a, 2),
        Ok(int(5)),
        "the base reference still reaches the copy"
    );
    assert_eq!(img.read(roots[0], 0), Ok(int(1)));
    assert_ne!(
        roots[0], mine,
        "the collection renumbered the private object"
    );
    assert!(img.read(mine, 0).is_err(), "and refuses its old reference");
}

#[test]
fn base_or_private_as_the_image_sees_it_and_as_the_base_does() {
    let f = fixture(2);
    let (a, b) = (f.objects[0], f.objects[1]);
    let mut img = f.heap.new_image().unwrap();
    assert_eq!(img.is_private(a), Ok(false), "shared until written");
    assert_eq!(f.heap.is_base(a), Ok(true));

    img.write(a, 2, int(5)).unwrap();
    assert_eq!(img.is_private(a), Ok(true), "the write copied it");
    assert_eq!(
        f.heap.is_base(a),
        Ok(true),
        "the reference still names a base object"
    );
    let holder = img.new_pointers(f.kernel.array, &[a]).unwrap();
    let copy = img.read(holder, 0).unwrap();
    assert_eq!(img.is_private(copy), Ok(true));

    let mine = img.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    assert_eq!(img.is_private(mine), Ok(true));
    assert_eq!(f.heap.is_base(mine), Ok(false));
    // A private object that became a base object is the base object now, in this image.
    img.become_forward(mine, b).unwrap();
    assert_eq!(img.is_private(mine), Ok(false));

    // Another image still shares `a`.
    let other = f.heap.new_image().unwrap();
    assert_eq!(other.is_private(a), Ok(false));
    assert_eq!(
        other.is_private(mine),
        Err(Error::ForeignReference(mine)),
        "another image's object"
    );

    // What is no reference, or another heap's, is an error, not an answer.
    assert_eq!(img.is_private(int(1)), Err(Error::NotAnObject(int(1))));
    assert_eq!(f.heap.is_base(int(1)), Err(Error::NotAnObject(int(1))));
    let stranger = fixture(1);
    let theirs = stranger.objects[0];
    assert_eq!(f.heap.is_base(theirs), Err(Error::ForeignReference(theirs)));
    assert_eq!(img.is_private(theirs), Err(Error::ForeignReference(theirs)));
}

#[test]
fn census_of_names_the_images_holding_entries_on_one_object() {
    let f = fixture(2);
    let (o, untouched) = (f.objects[0], f.objects[1]);
    assert_eq!(f.heap.census_of(o).unwrap(), ObjectCensus::default());
    let mut a = f.heap.new_image().unwrap();
    let mut b = f.heap.new_image().unwrap();
    let mut reader = f.heap.new_image().unwrap();
    a.write(o, 2, int(1)).unwrap();
    // A per-image become makes an entry too.
    let target = b.new_pointers(f.kernel.array, &[]).unwrap();
    b.become_forward(o, target).unwrap();
    reader.read(o, 2).unwrap();
    let mut both = vec![a.id(), b.id()];
    both.sort_unstable();
    let census = f.heap.census_of(o).unwrap();
    assert_eq!(census.images, both, "readers hold no entry");
    assert!(census.entry_capacity >= 2);
    assert_eq!(
        f.heap.census_of(untouched).unwrap().images,
        Vec::<u32>::new()
    );
    // It agrees with the whole-heap census.
    assert_eq!(f.heap.census().entries, 2);

    drop(a);
    assert_eq!(f.heap.census_of(o).unwrap().images, [b.id()]);
    drop(b);
    assert_eq!(f.heap.census_of(o).unwrap(), ObjectCensus::default());

    assert_eq!(f.heap.census_of(int(3)), Err(Error::NotAnObject(int(3))));
    let mine = reader.new_pointers(f.kernel.array, &[]).unwrap();
    assert_eq!(f.heap.census_of(mine), Err(Error::ForeignReference(mine)));
}

#[test]
fn original_literal_count_matches_the_images_answer() {
    let f = fixture(1);
    assert_eq!(f.heap.original_literal_count(f.method), Ok(2));
    assert_eq!(f.heap.original_literal_count(f.objects[0]), Ok(0));
    assert_eq!(f.heap.original_literal_count(f.bytes), Ok(0));
    let mut img = f.heap.new_image().unwrap();
    img.write(f.method, 0, int(7)).unwrap();
    assert_eq!(img.literal_count(f.method), Ok(2));
    assert_eq!(f.heap.original_literal_count(f.method), Ok(2));
    assert_eq!(
        f.heap.original_literal_count(int(1)),
        Err(Error::NotAnObject(int(1)))
    );
}

#[test]
fn an_empty_base_refuses_allocation_and_a_minimal_one_allows_it() {
    let empty = BaseBuilder::new().seal().unwrap();
    assert_eq!(empty.object_count(), 0, "empty means empty");
    let mut img = empty.new_image().unwrap();
    // It has no class to give: the only values at hand are immediates.
    let filler = empty.filler();
    assert_eq!(
        img.allocate(filler, Format::Pointers, 1),
        Err(Error::BadClass(filler))
    );
    assert_eq!(img.new_bytes(filler, b"x"), Err(Error::BadClass(filler)));
    assert_eq!(img.stats().allocations, 0);

    let (heap, kernel) = Kernel::minimal_base().unwrap();
    let mut img = heap.new_image().unwrap();
    let s = img.new_bytes(kernel.string, b"abc").unwrap();
    assert_eq!(img.class_of(s), Ok(kernel.string));
    let a = img.allocate(kernel.array, Format::Pointers, 2).unwrap();
    assert_eq!(img.read(a, 1), Ok(kernel.nil));
    assert_eq!(heap.root("nil"), Ok(kernel.nil));
}

/// Queries borrow the image shared: several can be held at once and nested, as a host walking
/// an object graph expects.
#[test]
fn queries_take_shared_borrows() {
    let f = fixture(4);
    let holder = f.objects[0];
    let mut image = f.heap.new_image().unwrap();
    let first = image.read(holder, 0).unwrap();
    image.write(first, 1, int(7)).unwrap();
    let (a, b) = (&image, &image);
    assert!(a.identical(first, b.canonical(first).unwrap()).unwrap());
    assert_eq!(
        a.class_of(first).unwrap(),
        b.class_of(b.canonical(first).unwrap()).unwrap()
    );
    assert_eq!(a.size_of(holder).unwrap(), b.size_of(holder).unwrap());
}

/// `private_words_of` reads what `words` reads, for this image's own words objects of the
/// length asked (odd lengths too), answering the class; anything else (a base object, another
/// length, a pointers object, an immediate) is `None`, for the general path.
#[test]
fn private_words_of_answers_only_for_own_words_objects_of_that_length() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    for words in [&[][..], &[7], &[1, 0xdead_beef], &[1, 2, 3, 4, 5]] {
        let mine = img.new_words(f.kernel.word_array, words).unwrap();
        assert_eq!(img.words(mine).unwrap(), words);
        let mut out = vec![0; words.len()];
        assert_eq!(
            img.private_words_of(mine, &mut out),
            Some(f.kernel.word_array)
        );
        assert_eq!(out, words);
        let mut longer = vec![0; words.len() + 1];
        assert_eq!(img.private_words_of(mine, &mut longer), None);
    }
    let mut two = [0; 2];
    assert_eq!(
        img.private_words_of(f.words, &mut [0; 3]),
        None,
        "a base object"
    );
    assert_eq!(img.private_words_of(int(3), &mut two), None);
    let array = img
        .new_pointers(f.kernel.array, &[f.kernel.nil; 2])
        .unwrap();
    assert_eq!(
        img.private_words_of(array, &mut two),
        None,
        "a pointers object"
    );
}

/// `new_words_with_format` makes what `new_words` then `set_language_format` make (words,
/// class, the code in the shape, one allocation counted), for any length; an immediate
/// class is refused with nothing allocated, and another heap's class as `new_words` refuses it.
#[test]
fn new_words_with_format_is_new_words_then_its_format_code() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    for words in [&[][..], &[7], &[1, 0xdead_beef], &[1, 2, 3, 4, 5]] {
        let allocations = img.stats().allocations;
        let one = img
            .new_words_with_format(f.kernel.word_array, words, 6)
            .unwrap();
        assert_eq!(img.stats().allocations, allocations + 1);
        let two = img.new_words(f.kernel.word_array, words).unwrap();
        img.set_language_format(two, 6).unwrap();
        for v in [one, two] {
            assert_eq!(img.words(v).unwrap(), words);
            assert_eq!(img.class_of(v), Ok(f.kernel.word_array));
            let shape = img.shape(v).unwrap();
            assert_eq!(
                (shape.format, shape.language_format, shape.len),
                (Format::Words, 6, words.len())
            );
        }
        assert_ne!(
            img.identity_hash(one).unwrap(),
            img.identity_hash(two).unwrap()
        );
    }
    let allocations = img.stats().allocations;
    assert_eq!(
        img.new_words_with_format(int(3), &[1], 6),
        Err(Error::BadClass(int(3)))
    );
    let other = fixture(1);
    let mut elsewhere = other.heap.new_image().unwrap();
    let foreign = elsewhere.new_words(other.kernel.word_array, &[1]).unwrap();
    assert_eq!(
        img.new_words_with_format(foreign, &[1], 6),
        img.new_words(foreign, &[1])
    );
    assert!(img.new_words(foreign, &[1]).is_err());
    assert_eq!(img.stats().allocations, allocations);
}

/// `new_pointers_with_format` makes what `new_pointers_from` then `set_language_format` make
/// (the first fields, the rest nil, the class, the code in the shape, one allocation
/// counted), for any length; a class or first field it may not hold, and more first fields
/// than the object has, are refused as `new_pointers_from` refuses them, with nothing
/// allocated.
#[test]
fn new_pointers_with_format_is_new_pointers_from_then_its_format_code() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let k = &f.kernel;
    let held = img.allocate(k.array, Format::Pointers, 1).unwrap();
    for (len, first) in [
        (0, &[][..]),
        (1, &[int(7)][..]),
        (3, &[int(7), held][..]),
        (22, &[held, int(-1), k.true_object][..]),
    ] {
        let allocations = img.stats().allocations;
        let one = img
            .new_pointers_with_format(k.array, len, first, 3)
            .unwrap();
        assert_eq!(img.stats().allocations, allocations + 1);
        let two = img.new_pointers_from(k.array, len, first).unwrap();
        img.set_language_format(two, 3).unwrap();
        for v in [one, two] {
            let fields: Vec<Value> = (0..len).map(|i| img.read(v, i).unwrap()).collect();
            let mut expected = first.to_vec();
            expected.resize(len, k.nil);
            assert_eq!(fields, expected);
            assert_eq!(img.class_of(v), Ok(k.array));
            let shape = img.shape(v).unwrap();
            assert_eq!(
                (shape.format, shape.language_format, shape.len),
                (Format::Pointers, 3, len)
            );
        }
        assert_ne!(
            img.identity_hash(one).unwrap(),
            img.identity_hash(two).unwrap()
        );
    }
    let allocations = img.stats().allocations;
    assert_eq!(
        img.new_pointers_with_format(int(3), 2, &[], 3),
        Err(Error::BadClass(int(3)))
    );
    let other = fixture(1);
    let mut elsewhere = other.heap.new_image().unwrap();
    let foreign = elsewhere
        .allocate(other.kernel.array, Format::Pointers, 1)
        .unwrap();
    for (class, first) in [(foreign, &[][..]), (k.array, &[foreign][..])] {
        let refused = img.new_pointers_with_format(class, 2, first, 3);
        assert!(refused.is_err());
        assert_eq!(refused, img.new_pointers_from(class, 2, first));
    }
    assert_eq!(
        img.new_pointers_with_format(k.array, 1, &[int(1), int(2)], 3),
        Err(Error::IndexOutOfRange { index: 1, len: 1 })
    );
    assert_eq!(img.stats().allocations, allocations);
}

/// A format code set through a reference that `become` made another object's goes to that
/// object (the reference names it now), never into the forwarding word: the holder still
/// reads it, a collection and a delta keep it. Onto a base object it is refused.
#[test]
fn set_language_format_through_a_become_reaches_the_target() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let a = img.allocate(f.kernel.array, Format::Pointers, 2).unwrap();
    let b = img.allocate(f.kernel.array, Format::Pointers, 3).unwrap();
    let holder = img.new_pointers(f.kernel.array, &[a]).unwrap();
    img.become_forward(a, b).unwrap();
    img.set_language_format(a, 15).unwrap();
    assert_eq!(img.shape(b).unwrap().language_format, 15);
    assert_eq!(img.shape(a).unwrap().len, 3);
    let mut roots = [holder];
    img.collect(&mut roots).unwrap();
    let target = img.read(roots[0], 0).unwrap();
    assert_eq!(img.shape(target).unwrap().language_format, 15);
    let delta = img.delta_bytes().unwrap();
    f.heap.resume_delta_bytes(&delta).unwrap();
    let c = img.allocate(f.kernel.array, Format::Pointers, 1).unwrap();
    img.become_forward(c, f.objects[0]).unwrap();
    assert_eq!(
        img.set_language_format(c, 3),
        Err(Error::ForeignReference(c))
    );
}

/// The fast reads refuse an index whose sum with the object's place would wrap, in every
/// build, rather than reading a header or class word as a field.
#[test]
fn fast_field_reads_refuse_indices_near_the_top_of_the_range() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let obj = img
        .new_pointers(f.kernel.array, &[int(1), int(2), int(3)])
        .unwrap();
    for first in [usize::MAX, usize::MAX - 1, usize::MAX - 2, usize::MAX / 2] {
        assert_eq!(img.read_fast_fields::<3>(obj, first), None, "{first}");
        assert_eq!(
            img.read_fast_fields::<1>(f.objects[0], first),
            None,
            "{first}"
        );
        assert_eq!(img.private_field(obj, first), None, "{first}");
        assert!(!img.set_private_field(obj, first, int(9)), "{first}");
    }
    assert_eq!(
        img.read_fast_fields::<3>(obj, 0),
        Some([int(1), int(2), int(3)])
    );
}

/// `points_to_fast` answers what reading every field and comparing would, or nothing: for
/// the image's own objects and the base's, for a base object it copied (the copy's fields),
/// and never `false` where a field holds a reference that names the value under another
/// reference (a base object the image copied: reads answer the copy).
#[test]
fn points_to_fast_answers_as_the_field_reads_would_or_not_at_all() {
    let f = fixture(4);
    let mut img = f.heap.new_image().unwrap();
    let (a, b) = (f.objects[0], f.objects[1]);
    // Base objects: slot 0 of each points at the next one.
    assert_eq!(img.points_to_fast(a, b), Some(true));
    assert_eq!(img.points_to_fast(a, f.objects[2]), Some(false));
    assert_eq!(img.points_to_fast(a, int(7)), Some(false));
    // Not pointers: no answer.
    assert_eq!(img.points_to_fast(f.bytes, int(104)), None);
    assert_eq!(img.points_to_fast(int(3), int(3)), None);
    // Its own object.
    let own = img
        .new_pointers(f.kernel.array, &[int(1), b, int(3)])
        .unwrap();
    assert_eq!(img.points_to_fast(own, int(3)), Some(true));
    assert_eq!(img.points_to_fast(own, int(2)), Some(false));
    // A base object it copied: the copy's fields.
    img.write(a, 1, int(9)).unwrap();
    assert_eq!(img.points_to_fast(a, int(9)), Some(true));
    // `b` copied too: `a`'s slot 0 still holds b's base reference, whose reads answer the
    // copy; asked for the copy's reference, the scan must not say no.
    img.write(b, 1, int(5)).unwrap();
    let b_now = img.canonical(b).unwrap();
    assert_ne!(b_now, b);
    assert_ne!(img.points_to_fast(a, b_now), Some(false));
    assert_ne!(img.points_to_fast(own, b_now), Some(false));
    // What the reads say.
    assert_eq!(img.read(a, 0).unwrap(), b_now);
    assert_eq!(img.read(own, 1).unwrap(), b_now);
}

/// `clone_object` copies an object as this image sees it (fields, class, format code; a base
/// object's fields as the base holds them) with the identity hash it is given, masked to the
/// hash's 22 bits: a two-way `become:` leaves each reference its own hash.
#[test]
fn clone_object_copies_the_object_with_the_hash_it_is_given() {
    let f = fixture(1);
    let mut img = f.heap.new_image().unwrap();
    let k = &f.kernel;
    let a = img
        .new_pointers_with_format(k.array, 3, &[int(1), int(2)], 2)
        .unwrap();
    for (obj, hash) in [(a, 7u32), (a, u32::MAX), (f.objects[0], 0x12345)] {
        let copy = img.clone_object(obj, hash).unwrap();
        assert_ne!(copy, obj);
        assert_eq!(img.identity_hash(copy).unwrap(), hash & 0x3f_ffff);
        assert_eq!(img.class_of(copy), img.class_of(obj));
        let (s, t) = (img.shape(obj).unwrap(), img.shape(copy).unwrap());
        assert_eq!(
            (s.format, s.language_format, s.len),
            (t.format, t.language_format, t.len)
        );
        for i in 0..s.len {
            assert_eq!(img.read(copy, i).unwrap(), img.read(obj, i).unwrap());
        }
    }
}
