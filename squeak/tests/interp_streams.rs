//! Stream primitives 65-67 answer what the fallbacks they replace answer: each scenario runs
//! once with `next`, `nextPut:` and `atEnd` (the primitives) and once with copies of their
//! methods' Smalltalk bodies compiled without the primitive, over Strings, Arrays, Symbols,
//! ByteArrays and collections whose indexing is Smalltalk code, past the end, with values a
//! collection refuses.

mod images_common;
mod interp_common;

use interp_common::{assert_alike, print, session};

/// The fallbacks, as Squeak 2.2's `ReadStream>>next`, `WriteStream>>nextPut:` and
/// `PositionableStream>>atEnd` have them.
const FALLBACKS: [(&str, &str); 4] = [
    (
        "ReadStream",
        "fbNext position >= readLimit ifTrue: [^ nil]. ^ collection at: (position _ position + 1)",
    ),
    (
        "ReadWriteStream",
        "fbNext position >= readLimit ifTrue: [^ nil]. ^ collection at: (position _ position + 1)",
    ),
    (
        "WriteStream",
        "fbNextPut: anObject position = writeLimit ifTrue: [^ self pastEndPut: anObject]. position _ position + 1. ^ collection at: position put: anObject",
    ),
    ("PositionableStream", "fbAtEnd ^ position >= readLimit"),
];

/// Scenarios with `NEXT`, `PUT` and `END` standing for the selectors.
const SCENARIOS: [&str; 13] = [
    "[:w | 1 to: 40 do: [:k | w PUT (Character value: 97 + (k \\\\ 26))]. w contents] value: (WriteStream on: (String new: 3))",
    "[:w | 1 to: 30 do: [:k | w PUT k * k]. w contents] value: (WriteStream on: (Array new: 0))",
    "[:r :acc | [r END] whileFalse: [acc add: r NEXT]. acc] value: (ReadStream on: #(1 $a 'str' #sym 3.5)) value: OrderedCollection new",
    "[:r | r NEXT; NEXT; NEXT; NEXT] value: (ReadStream on: 'ab')",
    "[:w | w PUT 3] value: (WriteStream on: String new)",
    "[:r | r NEXT + r NEXT] value: (ReadStream on: (OrderedCollection with: 1 with: 2))",
    "[:s | s nextPutAll: 'hello'; reset. s NEXT. s NEXT] value: (ReadWriteStream on: String new)",
    "[:r | r NEXT. r NEXT] value: (ReadStream on: #abc)",
    "[:w | w PUT 7; PUT 255. w contents] value: (WriteStream on: (ByteArray new: 1))",
    "[:w | w PUT 256] value: (WriteStream on: (ByteArray new: 1))",
    "[:r | r NEXT. r NEXT. r END] value: (ReadStream on: (1 to: 2))",
    "[:w | w PUT $a. w PUT 'x'] value: (WriteStream on: (String new: 4))",
    // A write limit short of the collection's end: the third goes through `pastEndPut:`.
    "[:w | w instVarAt: 4 put: 2. w PUT $a; PUT $b; PUT $c. Array with: w contents with: (w instVarAt: 4)] value: (WriteStream on: (String new: 10))",
];

#[test]
fn primitives_answer_as_the_fallbacks_they_replace() {
    if interp_common::skip() {
        return;
    }
    let (mut image, mut interp) = session(0);
    for (class, source) in FALLBACKS {
        let define = format!("{class} compile: '{source}' classified: 'test' notifying: nil");
        interp.evaluate(&mut image, &define).unwrap();
    }
    let mut answer = |expr: &str| print(&mut interp, &mut image, expr);
    for scenario in SCENARIOS {
        let with = |next: &str, put: &str, end: &str| {
            scenario
                .replace("NEXT", next)
                .replace("PUT", put)
                .replace("END", end)
        };
        let native = answer(&with("next", "nextPut:", "atEnd"));
        let fallback = answer(&with("fbNext", "fbNextPut:", "fbAtEnd"));
        assert_alike(&native, &fallback, scenario);
    }
    // What the scenarios answer, for the reader (and so that neither side is trivially
    // wrong the same way).
    assert_eq!(
        answer("[:w | 1 to: 3 do: [:k | w nextPut: k]. w contents] value: (WriteStream on: (Array new: 0))")
            .unwrap(),
        "(1 2 3 )"
    );
    assert_eq!(answer("12345 printString").unwrap(), "'12345'");
    assert_eq!(
        answer("[:r | r next; next; next] value: (ReadStream on: 'ab')").unwrap(),
        "nil"
    );
    // The primitives ran, also in this image, which wrote the stream classes above (the
    // fallbacks run 66,040 and 78,058 bytecodes here).
    for (expr, most) in [
        ("[:r | [r atEnd] whileFalse: [r next]. r] value: (ReadStream on: (String new: 3000))", 30_000),
        ("[:w | 1 to: 3000 do: [:k | w nextPut: $a]. w] value: (WriteStream on: (String new: 3000))", 50_000),
    ] {
        interp.evaluate(&mut image, expr).unwrap();
        let bytecodes = interp.stats().bytecodes;
        assert!(bytecodes < most, "{expr}: {bytecodes} bytecodes, the fallback ran");
    }
}
