//! The indexing primitives' own tests, and the `at:` cache's answers through them.

use crate::interp::special::CLASS_FORMAT;
use crate::interp::tests::{int, Out, Run};

#[test]
fn at_at_put_and_size_on_arrays() {
    let mut r = Run::new();
    let a = r.array(&[int(10), int(20), int(30)]);
    assert_eq!(r.answer(62, a, &[]), int(3));
    assert_eq!(r.answer(60, a, &[int(1)]), int(10));
    assert_eq!(r.answer(60, a, &[int(3)]), int(30));
    assert_eq!(r.answer(61, a, &[int(2), int(99)]), int(99));
    assert_eq!(r.image.read(a, 1).unwrap(), int(99));
    let nil = r.nil();
    for bad in [int(0), int(4), int(-1), nil] {
        r.fails(60, a, &[bad]);
        r.fails(61, a, &[bad, int(1)]);
    }
    // Not indexable at all.
    r.fails(60, int(3), &[int(1)]);
    r.fails(62, int(3), &[]);
}

#[test]
fn fixed_fields_come_before_the_indexable_ones() {
    let mut r = Run::new();
    // A Row: one fixed field, then indexable pointers.
    let row_class = r.t.row;
    let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
    assert_eq!(r.answer(62, row, &[]), int(2));
    assert_eq!(r.answer(60, row, &[int(1)]), int(2));
    r.answer(61, row, &[int(2), int(7)]);
    assert_eq!(r.image.read(row, 2).unwrap(), int(7));
    r.fails(60, row, &[int(3)]);
    // A Pair has fixed fields only: no at:, and size 0.
    let pair_class = r.t.pair;
    let pair = r.instance(pair_class, &[int(1), int(2)], 1);
    r.fails(60, pair, &[int(1)]);
    assert_eq!(r.answer(62, pair, &[]), int(0));
}

#[test]
fn the_at_cache_forgets_a_shape_that_a_class_store_or_a_become_changes() {
    let mut r = Run::new();
    let row_class = r.t.row;
    let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
    assert_eq!(r.answer(60, row, &[int(1)]), int(2));
    // One fixed field fewer: the store into the class drops what at: remembered.
    let format = r.image.read(row_class, CLASS_FORMAT).unwrap();
    let fewer = int(format.as_small_int().unwrap() - 2);
    r.answer(74, row_class, &[int(CLASS_FORMAT as i64 + 1), fewer]);
    assert_eq!(r.answer(62, row, &[]), int(3));
    assert_eq!(r.answer(60, row, &[int(1)]), int(1));
    r.answer(74, row_class, &[int(CLASS_FORMAT as i64 + 1), format]);
    assert_eq!(r.answer(60, row, &[int(1)]), int(2));
    // A become: the Array's references now reach a longer one.
    let short = r.array(&[int(7)]);
    let long = r.array(&[int(8), int(9)]);
    assert_eq!(r.answer(62, short, &[]), int(1));
    r.fails(60, short, &[int(2)]);
    let from = r.array(&[short]);
    let to = r.array(&[long]);
    r.answer(72, from, &[to]);
    assert_eq!(r.answer(62, short, &[]), int(2));
    assert_eq!(r.answer(60, short, &[int(2)]), int(9));
}

/// The `at:` fast path stores without asking whether the method cache watches the
/// receiver, because the `at:` cache never holds a watched object: a lookup that watches
/// one drops its entry, and one already watched is never remembered. Either way, an
/// `at:put:` into a method array that a lookup read drops the cached lookup.
#[test]
fn the_at_cache_never_holds_what_the_method_cache_watches() {
    for at_first in [true, false] {
        let mut r = Run::new();
        let pair = r.t.pair;
        r.define(pair, "foo", &[], 0, 0, 0, &[118, 124]);
        let receiver = r.instance(pair, &[int(1), int(2)], 1);
        let (methods, i) = r.method_slot(pair, "foo");
        let index = int(i as i64 + 1);
        if at_first {
            // Remembered first, then watched by the lookup.
            r.answer(60, methods, &[index]);
            assert_eq!(r.send(receiver, "foo", &[]), Ok(int(1)));
        } else {
            // Watched first: never remembered.
            assert_eq!(r.send(receiver, "foo", &[]), Ok(int(1)));
            r.answer(60, methods, &[index]);
        }
        let two = r.method(&[], 0, 0, 0, &[119, 124]);
        r.answer(61, methods, &[index, two]);
        assert_eq!(r.send(receiver, "foo", &[]), Ok(int(2)), "{at_first}");
    }
}

/// `self at: 1` (bytecode 192), `self at: 1 put: 2` (193) and `self size` (194), each
/// answering its value.
const AT_1: [u8; 4] = [112, 118, 192, 124];
const AT_1_PUT_2: [u8; 5] = [112, 118, 119, 193, 124];
const SIZE: [u8; 3] = [112, 194, 124];

/// The special sends answer from the `at:` cache only what a send of that very selector
/// resolved to its primitive for the receiver: a class whose `at:` is Smalltalk code
/// runs that code, however often its `at:put:` took the primitive.
#[test]
fn a_special_send_is_answered_from_the_cache_only_where_it_resolved_to_its_primitive() {
    let mut r = Run::new();
    let bar = r.sym("bar");
    let (array, row) = (r.t.k.array, r.t.row);
    r.define(array, "at:", &[bar], 1, 1, 60, &[32, 124]);
    r.define(array, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
    r.define(array, "size", &[bar], 0, 0, 62, &[32, 124]);
    r.define(row, "at:", &[int(42)], 1, 1, 0, &[32, 124]);
    r.define(row, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
    r.define(row, "size", &[int(43)], 0, 0, 0, &[32, 124]);
    let a = r.array(&[int(10), int(20)]);
    let rw = r.instance(row, &[int(1), int(2), int(3)], 3);
    for round in 0..3 {
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10 - 8 * round.min(1))));
        assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(2)), "round {round}");
        assert_eq!(r.run(a, &[], 0, &SIZE), Ok(int(2)));
        assert_eq!(r.run(rw, &[], 0, &AT_1_PUT_2), Ok(int(2)));
        assert_eq!(r.image.read(rw, 1).unwrap(), int(2));
        assert_eq!(r.run(rw, &[], 0, &AT_1), Ok(int(42)), "round {round}");
        assert_eq!(r.run(rw, &[], 0, &SIZE), Ok(int(43)), "round {round}");
    }
    assert_eq!(r.image.read(a, 0).unwrap(), int(2));
    // Out of range, or a value the object cannot hold: the full send, whose primitive
    // fails.
    let at_3 = [112, 32, 192, 124];
    assert_eq!(r.run(a, &[int(3)], 0, &at_3), Ok(bar));
    assert_eq!(r.run(a, &[int(0)], 0, &at_3), Ok(bar));
    let s = r.string("abc");
    r.define(r.t.k.string, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
    r.define(r.t.k.string, "at:", &[bar], 1, 1, 60, &[32, 124]);
    let put_300 = [112, 118, 32, 193, 124];
    for _ in 0..3 {
        assert_eq!(r.run(s, &[], 0, &AT_1_PUT_2), Ok(int(2)));
        assert_eq!(r.run(s, &[], 0, &AT_1), Ok(int(2)));
        assert_eq!(r.run(s, &[int(300)], 0, &put_300), Ok(bar));
    }
    assert_eq!(r.image.bytes(s).unwrap(), b"\x02bc");
}

/// Array given `at:` and `at:put:` (primitives 60 and 61, failing to `bar`), and an
/// Array `(10 20)`.
fn array_with_at_and_at_put(r: &mut Run) -> cowheap::Value {
    let bar = r.sym("bar");
    let array = r.t.k.array;
    r.define(array, "at:", &[bar], 1, 1, 60, &[32, 124]);
    r.define(array, "at:put:", &[bar], 2, 2, 61, &[32, 124]);
    r.array(&[int(10), int(20)])
}

/// An `at:put:` the cache answers and the pop after it run in one arm: the same answers,
/// stores, bytecodes and sends as one at a time (the full send first, the cache after).
#[test]
fn an_at_put_and_the_pop_after_it_run_as_the_two_bytecodes() {
    let mut r = Run::new();
    let a = array_with_at_and_at_put(&mut r);
    // self at: 1 put: 2. self at: 2 put: 1. ^self at: 1
    let code = [
        112, 118, 119, 193, 135, 112, 119, 118, 193, 135, 112, 118, 192, 124,
    ];
    for round in 0..3 {
        assert_eq!(r.run(a, &[], 0, &code), Ok(int(2)), "round {round}");
        assert_eq!(r.interp.stats().bytecodes, 14, "round {round}");
        assert_eq!(r.interp.stats().sends, 3, "round {round}");
        assert_eq!(r.image.read(a, 0).unwrap(), int(2));
        assert_eq!(r.image.read(a, 1).unwrap(), int(1));
        r.image.write(a, 0, int(10)).unwrap();
    }
}

/// What made the special sends' answers true can stop being true: the method the class
/// finds (a store into its method array), and the object (a `become:`). Either drops
/// what the cache said.
#[test]
fn a_special_sends_answer_goes_with_a_new_method_or_a_become() {
    let mut r = Run::new();
    let a = array_with_at_and_at_put(&mut r);
    let (bar, array) = (r.sym("bar"), r.t.k.array);
    for _ in 0..3 {
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10)));
    }
    let (methods, i) = r.method_slot(array, "at:");
    let answer_7 = r.method(&[int(7)], 1, 1, 0, &[32, 124]);
    let old = r.image.read(methods, i).unwrap();
    r.answer(61, methods, &[int(i as i64 + 1), answer_7]);
    assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(7)));
    r.answer(61, methods, &[int(i as i64 + 1), old]);
    for round in 0..3 {
        assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(10 - 8 * round.min(1))));
        assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
    }
    // a become: b, one way: `a` now leads to b, which the sends see and store into.
    let b = r.array(&[int(30)]);
    let from = r.array(&[a]);
    let to = r.array(&[b]);
    r.answer(72, from, &[to]);
    assert_eq!(r.run(a, &[], 0, &AT_1), Ok(int(30)));
    let at_2 = [112, 119, 192, 124];
    assert_eq!(r.run(a, &[], 0, &at_2), Ok(bar));
    assert_eq!(r.run(a, &[], 0, &AT_1_PUT_2), Ok(int(2)));
    assert_eq!(r.image.read(b, 0).unwrap(), int(2));
}

#[test]
fn bytes_and_words_hold_only_what_fits() {
    let mut r = Run::new();
    let s = r.string("abc");
    assert_eq!(r.answer(62, s, &[]), int(3));
    assert_eq!(r.answer(60, s, &[int(2)]), int(98));
    assert_eq!(r.answer(61, s, &[int(1), int(65)]), int(65));
    r.fails(61, s, &[int(1), int(256)]);
    r.fails(61, s, &[int(1), int(-1)]);
    assert_eq!(r.image.bytes(s).unwrap(), b"Abc");
    let words_class = r.t.k.word_array;
    let w = r.image.new_words(words_class, &[5, u32::MAX]).unwrap();
    r.image.set_language_format(w, 6).unwrap();
    assert_eq!(r.answer(60, w, &[int(1)]), int(5));
    // A word past the 31 bits is a LargePositiveInteger, as the real VM answers it (a
    // Float's low word, say), and one of at most 4 bytes stores back.
    let big = r.answer(60, w, &[int(2)]);
    assert_eq!(r.image.class_of(big).unwrap(), r.t.large_positive);
    assert_eq!(r.image.bytes(big).unwrap(), [255; 4]);
    assert_eq!(r.answer(61, w, &[int(2), int(7)]), int(7));
    r.fails(61, w, &[int(2), int(-7)]);
    assert_eq!(r.image.read_word(w, 1).unwrap(), 7);
    assert_eq!(r.answer(61, w, &[int(2), big]), big);
    assert_eq!(r.image.read_word(w, 1).unwrap(), u32::MAX);
    let five = r
        .image
        .new_bytes(r.t.large_positive, &[1, 0, 0, 0, 1])
        .unwrap();
    r.fails(61, w, &[int(2), five]);
}

#[test]
fn strings_answer_and_take_characters() {
    let mut r = Run::new();
    let s = r.string("abc");
    let b = r.character(b'b');
    let z = r.character(b'z');
    assert_eq!(r.answer(63, s, &[int(2)]), b);
    assert_eq!(r.answer(64, s, &[int(3), z]), z);
    assert_eq!(r.image.bytes(s).unwrap(), b"abz");
    r.fails(64, s, &[int(1), int(65)]);
    r.fails(63, s, &[int(4)]);
    let a = r.array(&[int(1)]);
    r.fails(63, a, &[int(1)]);
    r.fails(64, a, &[int(1), z]);
}

#[test]
fn a_compiled_method_is_bytes_after_its_header_and_literals() {
    let mut r = Run::new();
    let m = r.method(&[int(42)], 0, 0, 0, &[32, 124]);
    // Header and one literal: 8 bytes, then the two bytecodes.
    assert_eq!(r.answer(62, m, &[]), int(10));
    assert_eq!(r.answer(60, m, &[int(9)]), int(32));
    assert_eq!(r.answer(60, m, &[int(10)]), int(124));
    // The header's bytes as a little-endian real VM reads them (`endPC` of a method
    // without bytecodes looks there), and a SmallInteger literal's; writing them fails.
    let header = r.image.read(m, 0).unwrap().as_small_int().unwrap();
    let oop = ((header << 1) | 1) as u32;
    for i in 0..4 {
        let byte = int(((oop >> (8 * i)) & 0xFF) as i64);
        assert_eq!(r.answer(60, m, &[int(i + 1)]), byte, "header byte {i}");
    }
    assert_eq!(r.answer(60, m, &[int(5)]), int(85));
    assert_eq!(r.answer(60, m, &[int(6)]), int(0));
    r.fails(61, m, &[int(1), int(0)]);
    let reference = r.method(&[r.t.pair], 0, 0, 0, &[32, 124]);
    r.fails(60, reference, &[int(5)]);
    r.answer(61, m, &[int(9), int(33)]);
    assert_eq!(r.image.bytes(m).unwrap(), [33, 124]);
    // objectAt: 1 is the header, 2 the first literal.
    let header = r.image.read(m, 0).unwrap();
    assert_eq!(r.answer(68, m, &[int(1)]), header);
    assert_eq!(r.answer(68, m, &[int(2)]), int(42));
    r.fails(68, m, &[int(3)]);
    assert_eq!(r.answer(69, m, &[int(2), int(43)]), int(43));
    assert_eq!(r.image.read(m, 1).unwrap(), int(43));
    let nil = r.nil();
    r.fails(69, m, &[int(1), nil]);
    let a = r.array(&[int(1)]);
    r.fails(68, a, &[int(1)]);
}

#[test]
fn replace_copies_between_objects_of_one_kind() {
    let mut r = Run::new();
    let dst = r.array(&[int(0); 5]);
    let src = r.array(&[int(1), int(2), int(3), int(4)]);
    assert_eq!(
        r.prim(105, dst, &[int(2), int(4), src, int(2)]),
        Ok(Out::Answer(dst))
    );
    let got: Vec<_> = (0..5).map(|i| r.image.read(dst, i).unwrap()).collect();
    assert_eq!(got, [int(0), int(2), int(3), int(4), int(0)]);
    let s = r.string("hello");
    let t = r.string("JEL");
    r.answer(105, s, &[int(1), int(3), t, int(1)]);
    assert_eq!(r.image.bytes(s).unwrap(), b"JELlo");
    // Out of range, or of different kinds: fail.
    r.fails(105, dst, &[int(4), int(6), src, int(1)]);
    r.fails(105, dst, &[int(1), int(4), src, int(2)]);
    r.fails(105, s, &[int(1), int(2), src, int(1)]);
}

/// What the real VM's primitive 105 leaves in `elements` (a copy of `count` elements from
/// `rs` onto `start`, 0-based, of the one object): element by element, first to last, each
/// read seeing what the copy wrote before it.
fn replaced_in_place<T: Copy>(elements: &mut [T], start: usize, rs: usize, count: usize) {
    for k in 0..count {
        elements[start + k] = elements[rs + k];
    }
}

/// Primitive 105 copies bytes and words a chunk at a time and pointers through tokens: the
/// answers are those of the real VM's element by element, first to last, an object copied
/// onto itself included (where the destination is after the source, what the copy wrote is
/// what it reads on: `(1 2 3 4 5 6) replaceFrom: 2 to: 5 with: itself startingAt: 1` is
/// `(1 1 1 1 1 6)` on the real VM).
#[test]
fn replace_copies_every_kind_as_element_by_element_would() {
    let mut r = Run::new();
    let text = "abcdefghijklmnopqrst";
    for (start, stop, rs) in [
        (1usize, 20usize, 1usize),
        (3, 18, 1),
        (1, 18, 3),
        (9, 17, 2),
        (2, 9, 10),
        (10, 20, 1),
        (1, 11, 10),
        (5, 4, 1),
    ] {
        let s = r.string(text);
        let args = [int(start as i64), int(stop as i64), s, int(rs as i64)];
        assert_eq!(r.answer(105, s, &args), s);
        let mut want = text.as_bytes().to_vec();
        replaced_in_place(&mut want, start - 1, rs - 1, stop + 1 - start);
        assert_eq!(r.image.bytes(s).unwrap(), want, "{start} {stop} {rs}");
        // The same from another String, and from a base Symbol.
        let t = r.string(text);
        let u = r.string("ABCDEFGHIJKLMNOPQRST");
        r.answer(
            105,
            t,
            &[int(start as i64), int(stop as i64), u, int(rs as i64)],
        );
        let mut want = text.as_bytes().to_vec();
        want[start - 1..stop].copy_from_slice(&b"ABCDEFGHIJKLMNOPQRST"[rs - 1..rs + stop - start]);
        assert_eq!(r.image.bytes(t).unwrap(), want);
    }
    let sym = r.sym("value:");
    let s = r.string("......");
    r.answer(105, s, &[int(2), int(6), sym, int(2)]);
    assert_eq!(r.image.bytes(s).unwrap(), b".alue:");

    // Pointers past a Row's fixed field, onto itself both ways: the fixed field untouched.
    let row_class = r.t.row;
    let fields: Vec<_> = (0..13).map(|i| int(100 + i)).collect();
    for (start, stop, rs) in [(3usize, 10usize, 1usize), (1, 8, 3), (1, 12, 1)] {
        let row = r.instance(row_class, &fields, 3);
        r.answer(
            105,
            row,
            &[int(start as i64), int(stop as i64), row, int(rs as i64)],
        );
        let mut want = fields.clone();
        replaced_in_place(&mut want[1..], start - 1, rs - 1, stop + 1 - start);
        let got: Vec<_> = (0..13).map(|i| r.image.read(row, i).unwrap()).collect();
        assert_eq!(got, want, "{start} {stop} {rs}");
    }
    // From a base Array (the character table) into a private one.
    let (table, a) = (r.t.character_table, r.array(&[int(0); 4]));
    r.answer(105, a, &[int(1), int(4), table, int(66)]);
    for i in 0..4u8 {
        let c = r.character(65 + i);
        assert_eq!(r.image.read(a, i as usize).unwrap(), c);
    }

    // Into a base Array (the character table, copied on its first store, as element by
    // element): this image sees the copy, the base keeps its own.
    let (a_char, b_char) = (r.character(b'a'), r.character(b'b'));
    let copies = r.image.stats().copies;
    let chars = r.array(&[a_char, b_char]);
    r.answer(105, table, &[int(1), int(2), chars, int(1)]);
    assert_eq!(r.image.read(table, 0).unwrap(), a_char);
    assert_eq!(r.image.read(table, 1).unwrap(), b_char);
    // A plain heap copies nothing: its base objects are its own from the start.
    #[cfg(not(feature = "plain-heap"))]
    assert_eq!(r.image.stats().copies, copies + 1);
    #[cfg(feature = "plain-heap")]
    assert_eq!(r.image.stats().copies, copies);
    assert_ne!(r.t.heap.original_field(table, 0).unwrap(), a_char);

    // Words, past SmallInteger's range too (a LargePositiveInteger element by element).
    let float = r.t.float;
    let words = |r: &mut Run| {
        r.image
            .new_words_with_format(float, &[1, 0xffff_ffff, 0x8000_0000, 4], 6)
            .unwrap()
    };
    let w = words(&mut r);
    r.answer(105, w, &[int(2), int(4), w, int(1)]);
    assert_eq!(r.image.words(w).unwrap(), [1, 1, 1, 1]);
    let w = words(&mut r);
    r.answer(105, w, &[int(3), int(4), w, int(1)]);
    assert_eq!(r.image.words(w).unwrap(), [1, 0xffff_ffff, 1, 0xffff_ffff]);
    r.answer(105, w, &[int(1), int(3), w, int(2)]);
    assert_eq!(
        r.image.words(w).unwrap(),
        [0xffff_ffff, 1, 0xffff_ffff, 0xffff_ffff]
    );
}

/// A String's `at:` and `at:put:` (primitives 63 and 64) as the special sends 192 and 193
/// run them: the first send in full, which takes a token for the String's bytes, then
/// through it; whatever the token cannot answer (not a Character, a value past a byte, an
/// index out of range) fails into the method's own code, here `^nil`, having stored nothing.
#[test]
fn a_strings_at_and_at_put_answer_alike_in_full_and_through_the_token() {
    let mut r = Run::new();
    let string = r.t.k.string;
    r.define(string, "at:", &[], 1, 1, 63, &[123]);
    r.define(string, "at:put:", &[], 2, 2, 64, &[123]);
    let s = r.string("abc");
    let (b, z, y) = (r.character(b'b'), r.character(b'z'), r.character(b'y'));
    for _ in 0..2 {
        // s at: 2
        assert_eq!(r.run(s, &[], 0, &[112, 119, 192, 124]), Ok(b));
    }
    // s at: 1 put: $z, then s at: 3 put: $y
    assert_eq!(r.run(s, &[z], 0, &[112, 118, 32, 193, 124]), Ok(z));
    assert_eq!(r.run(s, &[y, int(3)], 0, &[112, 33, 32, 193, 124]), Ok(y));
    assert_eq!(r.image.bytes(s).unwrap(), b"zby");
    let nil = r.nil();
    let character = r.image.class_of(z).unwrap();
    let wide = r.instance(character, &[int(300)], 0);
    for (value, index) in [(int(3), int(1)), (wide, int(1)), (z, int(0)), (z, int(4))] {
        assert_eq!(
            r.run(s, &[value, index], 0, &[112, 33, 32, 193, 124]),
            Ok(nil)
        );
    }
    assert_eq!(r.image.bytes(s).unwrap(), b"zby");
    for index in [int(0), int(4), nil] {
        assert_eq!(r.run(s, &[index], 0, &[112, 32, 192, 124]), Ok(nil));
    }
    assert_eq!(r.run(s, &[int(3)], 0, &[112, 32, 192, 124]), Ok(y));
}
