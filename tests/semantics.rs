//! One test per invariant of ARCHITECTURE.md (1-7). Each fails if its rule breaks.

mod common;

use common::{fixture, int};
use cowheap::{Error, Format};

/// Rule 1: an image's writes, allocations and becomes are invisible to every other image.
#[test]
fn rule1_isolation() {
    let f = fixture(4);
    let [a, b, c, _] = f.objects[..] else {
        unreachable!()
    };
    let mut one = f.heap.new_image().unwrap();
    let mut two = f.heap.new_image().unwrap();

    one.write(a, 1, int(100)).unwrap();
    one.write_byte(f.bytes, 0, b'J').unwrap();
    one.write_word(f.words, 2, 7).unwrap();
    let mine = one.allocate(f.kernel.array, Format::Pointers, 1).unwrap();
    one.write(b, 2, mine).unwrap();
    one.become_forward(c, mine).unwrap();

    assert_eq!(two.read(a, 1).unwrap(), int(0));
    assert_eq!(two.read_byte(f.bytes, 0).unwrap(), b'h');
    assert_eq!(two.read_word(f.words, 2).unwrap(), 0xdead_beef);
    assert_eq!(two.read(b, 2).unwrap(), f.kernel.nil);
    assert!(matches!(two.read(mine, 0), Err(Error::ForeignReference(_))));
    assert_eq!(two.read(b, 0).unwrap(), c, "two must not see one's become");
    assert!(!two.identical(c, b).unwrap());
    assert_eq!(two.stats().copies, 0);
    // And one does see all of it.
    assert_eq!(one.read(a, 1).unwrap(), int(100));
    let seen = one.read(b, 0).unwrap();
    assert!(one.identical(seen, mine).unwrap());
}

/// Rule 2: within one image a read answers the last value that image stored.
#[test]
fn rule2_read_your_writes() {
    let f = fixture(3);
    let mut img = f.heap.new_image().unwrap();
    let obj = f.objects[0];
    for i in 0..50 {
        img.write(obj, (i % 4) as usize, int(i)).unwrap();
        assert_eq!(img.read(obj, (i % 4) as usize).unwrap(), int(i));
    }
    assert_eq!(img.read(obj, 1).unwrap(), int(49));
    let private = img.allocate(f.kernel.array, Format::Pointers, 2).unwrap();
    img.write(private, 1, obj).unwrap();
    let back = img.read(private, 1).unwrap();
    assert!(
        img.identical(back, obj).unwrap(),
        "the copy of obj, which is obj"
    );
    img.write_byte(f.bytes, 10, b'!').unwrap();
    img.write_byte(f.method, 4, 9).unwrap();
    img.write(f.method, 1, int(-5)).unwrap();
    assert_eq!(img.bytes(f.bytes).unwrap(), b"hello, bas!");
    assert_eq!(img.bytes(f.method).unwrap(), [1, 2, 3, 4, 9]);
    assert_eq!(img.read(f.method, 1).unwrap(), int(-5));
    img.write_word(f.words, 0, u32::MAX).unwrap();
    assert_eq!(img.read_word(f.words, 0).unwrap(), u32::MAX);
}

/// Rule 3: the base keeps its sealed contents, and an image that never wrote an object sees
/// the original even after other images wrote it.
#[test]
fn rule3_base_immutability() {
    let f = fixture(4);
    let before = f.heap.checksum();
    let originals: Vec<_> = f
        .objects
        .iter()
        .map(|&o| {
            (0..4)
                .map(|k| f.heap.original_field(o, k).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    {
        let mut writers: Vec<_> = (0..3).map(|_| f.heap.new_image().unwrap()).collect();
        for (n, w) in writers.iter_mut().enumerate() {
            for &o in &f.objects {
                for k in 0..4 {
                    w.write(o, k, int(n as i64 * 10 + k as i64)).unwrap();
                }
            }
            w.write_byte(f.bytes, 0, b'X').unwrap();
            w.become_forward(f.objects[1], f.objects[2]).unwrap();
        }
        let mut reader = f.heap.new_image().unwrap();
        for (o, slots) in f.objects.iter().zip(&originals) {
            for (k, v) in slots.iter().enumerate() {
                assert_eq!(reader.read(*o, k).unwrap(), *v);
            }
        }
        assert_eq!(reader.bytes(f.bytes).unwrap(), b"hello, base");
    }
    assert_eq!(f.heap.checksum(), before);
    for (o, slots) in f.objects.iter().zip(&originals) {
        for (k, v) in slots.iter().enumerate() {
            assert_eq!(f.heap.original_field(*o, k).unwrap(), *v);
        }
    }
    assert_eq!(f.heap.original_bytes(f.bytes).unwrap(), b"hello, base");
}

/// Rule 4: a base object and the image's copy of it are one object: identical, one hash, and
/// every path to it agrees.
#[test]
fn rule4_identity() {
    let f = fixture(3);
    let [a, b, _] = f.objects[..] else {
        unreachable!()
    };
    let mut img = f.heap.new_image().unwrap();
    let hash_before = img.identity_hash(b).unwrap();
    let holder = img.new_pointers(f.kernel.array, &[b]).unwrap();
    img.write(b, 3, int(1)).unwrap(); // copies b
    let through_base = img.read(a, 0).unwrap(); // a's slot 0 is b
    let through_private = img.read(holder, 0).unwrap();
    assert_eq!(
        through_base, through_private,
        "both paths answer the same reference"
    );
    assert!(img.identical(through_base, b).unwrap());
    assert!(img.identical(b, through_private).unwrap());
    assert_eq!(img.identity_hash(through_base).unwrap(), hash_before);
    assert_eq!(img.identity_hash(b).unwrap(), hash_before);
    assert_eq!(
        img.identity_hash(b).unwrap(),
        f.heap.original_hash(b).unwrap()
    );
    assert!(!img.identical(a, b).unwrap());
    assert_eq!(img.class_of(through_base).unwrap(), f.kernel.array);
    // Writing through either reference writes the same object.
    img.write(through_private, 2, int(9)).unwrap();
    assert_eq!(img.read(b, 2).unwrap(), int(9));
    assert_eq!(img.stats().copies, 1);
}

/// Rule 5: one copy per image per object, only on a write; reading adds nothing anywhere.
#[test]
fn rule5_economy() {
    let f = fixture(4);
    let mut reader = f.heap.new_image().unwrap();
    for &o in &f.objects {
        for k in 0..4 {
            reader.read(o, k).unwrap();
        }
    }
    reader.bytes(f.bytes).unwrap();
    assert_eq!(reader.stats().copies, 0);
    assert_eq!(reader.stats().private_bytes, 0);
    assert_eq!(f.heap.census().forwarders, 0, "reads install nothing");

    let mut writer = f.heap.new_image().unwrap();
    for i in 0..10 {
        writer.write(f.objects[0], 1, int(i)).unwrap();
    }
    writer.write_byte(f.bytes, 1, 0).unwrap();
    assert_eq!(writer.stats().copies, 2);
    let census = f.heap.census();
    assert_eq!((census.forwarders, census.entries), (2, 2));

    // The reader, who never wrote, still adds nothing, even reading forwarded objects.
    reader.read(f.objects[0], 1).unwrap();
    assert_eq!(reader.stats().copies, 0);
    assert_eq!(f.heap.census().entries, 2);
}

/// Rule 6: become_forward redirects every reference the image sees, base or private, lazily,
/// and only for that image.
#[test]
fn rule6_per_image_become() {
    let f = fixture(4);
    let [a, b, c, d] = f.objects[..] else {
        unreachable!()
    };
    let mut img = f.heap.new_image().unwrap();
    let mut other = f.heap.new_image().unwrap();

    // A base object becomes a private one.
    let p = img.new_pointers(f.kernel.array, &[int(77)]).unwrap();
    let holder = img.new_pointers(f.kernel.array, &[b]).unwrap();
    img.become_forward(b, p).unwrap();
    assert_eq!(
        img.read(a, 0).unwrap(),
        p,
        "reference from the base (a.0 = b)"
    );
    let fixups = img.stats().fixups;
    assert_eq!(
        img.read(holder, 0).unwrap(),
        p,
        "reference from a private object"
    );
    assert_eq!(
        img.stats().fixups,
        fixups + 1,
        "the private slot was fixed up"
    );
    assert_eq!(img.read(b, 0).unwrap(), int(77), "b itself now reads as p");
    assert_eq!(other.read(a, 0).unwrap(), b);

    // A private object becomes a base object.
    let q = img.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    let refers = img.new_pointers(f.kernel.array, &[q]).unwrap();
    img.become_forward(q, d).unwrap();
    assert_eq!(img.read(refers, 0).unwrap(), d);
    assert_eq!(img.read(q, 1).unwrap(), int(3), "q reads as d");

    // A copied base object becomes another: references to the copy follow too.
    let holds_c = img.new_pointers(f.kernel.array, &[c]).unwrap();
    img.write(c, 3, int(5)).unwrap();
    assert_ne!(img.read(holds_c, 0).unwrap(), c, "fixed up to the copy");
    img.become_forward(c, d).unwrap();
    assert_eq!(
        img.read(holds_c, 0).unwrap(),
        d,
        "the slot holding the copy follows to d"
    );
    assert!(img.identical(c, d).unwrap());
    assert_eq!(img.read(c, 3).unwrap(), f.kernel.nil, "c reads as d");
    assert_eq!(other.read(c, 3).unwrap(), f.kernel.nil);
    assert!(!other.identical(c, d).unwrap());

    // Becoming oneself changes nothing; chains end, not loop.
    img.become_forward(d, d).unwrap();
    img.become_forward(d, c).unwrap();
    assert!(img.identical(c, d).unwrap());
    img.read(c, 0).unwrap();
}

/// Rule 7: dropping an image frees its slots without disturbing others, and a later image with
/// the same id sees nothing of it.
#[test]
fn rule7_teardown_and_id_reuse() {
    let f = fixture(4);
    let mut keep = f.heap.new_image().unwrap();
    keep.write(f.objects[0], 1, int(-1)).unwrap();
    let gone_id;
    {
        let mut gone = f.heap.new_image().unwrap();
        gone_id = gone.id();
        for &o in &f.objects {
            gone.write(o, 1, int(1000)).unwrap();
        }
        gone.become_forward(f.objects[3], f.objects[2]).unwrap();
        assert_eq!(f.heap.census().entries, 5);
        assert_eq!(f.heap.live_images(), 2);
    }
    let census = f.heap.census();
    assert_eq!(census.entries, 1, "only keep's entry is left");
    assert_eq!(f.heap.live_images(), 1);
    assert_eq!(keep.read(f.objects[0], 1).unwrap(), int(-1));

    let mut again = f.heap.new_image().unwrap();
    assert_eq!(again.id(), gone_id, "the id is reused");
    for (i, &o) in f.objects.iter().enumerate() {
        assert_eq!(again.read(o, 1).unwrap(), int(i as i64));
    }
    assert!(!again.identical(f.objects[3], f.objects[2]).unwrap());
    assert_eq!(again.stats().copies, 0);
    assert_eq!(f.heap.image_stats().len(), 2);
}

/// Rule 6, repeated: becoming one reference again and again (which `become_forward` now
/// answers by pointing the whole way there at the new target, so no chain grows) redirects
/// every reference to it, private or base, each time.
#[test]
fn rule6_repeated_becomes_of_one_reference() {
    let f = fixture(4);
    let mut image = f.heap.new_image().unwrap();
    let a = image.new_pointers(f.kernel.array, &[int(0)]).unwrap();
    let holder = image.new_pointers(f.kernel.array, &[a]).unwrap();
    let base = f.objects[2];
    for i in 1..=50 {
        let next = image.new_pointers(f.kernel.array, &[int(i)]).unwrap();
        image.become_forward(a, next).unwrap();
        let b2 = image.new_pointers(f.kernel.array, &[int(-i)]).unwrap();
        image.become_forward(base, b2).unwrap();
        assert_eq!(image.read(a, 0).unwrap(), int(i));
        let via = image.read(holder, 0).unwrap();
        assert_eq!(image.read(via, 0).unwrap(), int(i));
        assert_eq!(image.read(base, 0).unwrap(), int(-i));
    }
}

/// Rule 4 by the references alone: `identical_fast` answers only where the references tell
/// (equal ones; two that each read as themselves), and then what `identical` answers; a
/// base object this image copied, or anything a `become` forwarded, is left to `identical`.
#[test]
fn rule4_identity_by_references_alone_never_disagrees() {
    let f = fixture(4);
    let [a, b, c, d] = f.objects[..] else {
        unreachable!()
    };
    let mut img = f.heap.new_image().unwrap();
    let agree = |img: &cowheap::Image, x, y| {
        let fast = img.identical_fast(x, y);
        if let Some(same) = fast {
            assert_eq!(same, img.identical(x, y).unwrap(), "{x:?} {y:?}");
        }
        fast
    };
    assert_eq!(agree(&img, a, a), Some(true));
    assert_eq!(agree(&img, a, b), Some(false));
    assert_eq!(agree(&img, a, int(3)), Some(false));
    assert_eq!(agree(&img, int(3), int(3)), Some(true));
    let p = img.new_pointers(f.kernel.array, &[b]).unwrap();
    assert_eq!(agree(&img, p, a), Some(false));

    // b copied: its base reference and the copy are one object, which only `identical` says.
    img.write(b, 3, int(1)).unwrap();
    let copy = img.read(p, 0).unwrap();
    assert_ne!(copy, b);
    assert_eq!(agree(&img, b, copy), None);
    assert!(img.identical(b, copy).unwrap());
    assert_eq!(agree(&img, b, a), None, "b has an entry of this image's");
    assert_eq!(agree(&img, copy, a), Some(false));

    // A private object made to become c: the forwarded reference is left to `identical`.
    let q = img.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    img.become_forward(q, c).unwrap();
    assert_eq!(agree(&img, q, c), None);
    assert!(img.identical(q, c).unwrap());
    assert_eq!(agree(&img, d, a), Some(false));

    // Another image's reference is of another owner: refused by `identical`, not answered.
    let mut other = f.heap.new_image().unwrap();
    let theirs = other.new_pointers(f.kernel.array, &[int(1)]).unwrap();
    assert_eq!(img.identical_fast(theirs, a), None);
    assert!(img.identical(theirs, a).is_err());
}
