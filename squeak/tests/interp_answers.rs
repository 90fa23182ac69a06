//! The image's own code gives the answers a real Squeak VM gives, on both byte orders.

mod images_common;
mod interp_common;

use cowheap_squeak::interp::{new_heap, Heap};
use cowheap_squeak::interp::{Interpreter, Limits};
use interp_common::{mini, IMAGES};

fn run(which: usize, expr: &str) -> (String, Heap, Interpreter) {
    let (loaded, vm) = mini(which);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let v = interp
        .evaluate(&mut image, expr)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", expr, IMAGES[which]));
    let s = interp
        .print_string(&mut image, v)
        .unwrap_or_else(|e| panic!("printString of {} on {}: {e}", expr, IMAGES[which]));
    (s, image, interp)
}

fn check(expr: &str, expected: &str) {
    for (which, file) in IMAGES.iter().enumerate() {
        assert_eq!(run(which, expr).0, expected, "{expr} on {file}");
    }
}

#[test]
fn bench_fib() {
    if interp_common::skip() {
        return;
    }
    check("10 benchFib", "177");
    check("27 benchFib", "635621");
}

#[test]
fn bench_fib_30_copies_nothing_and_allocates_almost_nothing() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (s, image, interp) = run(which, "30 benchFib");
        assert_eq!(s, "2692537");
        assert_eq!(image.stats().copies, 0);
        // The doit method and the printString's strings: no contexts.
        assert!(image.stats().private_bytes < 4096, "{:?}", image.stats());
        assert!(interp.stats().bytecodes > 0);
    }
}

#[test]
fn large_integers_through_the_image_code() {
    if interp_common::skip() {
        return;
    }
    check("100 factorial printString size", "158");
    check(
        "(2 raisedTo: 100) printString",
        "'1267650600228229401496703205376'",
    );
    check("(2 raisedTo: 100) class", "LargePositiveInteger");
}

#[test]
fn benchmark() {
    if interp_common::skip() {
        return;
    }
    check("1 benchmark", "1028");
}

/// Blocks: non-local return from a block (`detect:`), blocks stored and run after their home
/// returned, `thisContext`, and `inject:into:` closures over the home's temporaries.
#[test]
fn blocks_and_contexts() {
    if interp_common::skip() {
        return;
    }
    check("(1 to: 10) inject: 0 into: [:a :b | a + b]", "55");
    check("#(3 4 5) detect: [:x | x > 3]", "4");
    check(
        "(#(3 1 2) asSortedCollection: [:a :b | a > b]) asArray",
        "(3 2 1 )",
    );
    check("thisContext class", "MethodContext");
    check("[:x | x] value: 3", "3");
    check("[:a :b | a - b] valueWithArguments: #(10 3)", "7");
}

/// A send nobody understands is sent again as `doesNotUnderstand:` with a Message (selector
/// and arguments), looked up from the receiver's class, so an override handles it: through a
/// send, `perform:` and `perform:withArguments:`. Where only the image's default is found,
/// the run stops with the typed doesNotUnderstand of the original selector.
#[test]
fn does_not_understand_is_sent_with_a_message() {
    if interp_common::skip() {
        return;
    }
    let class = "| c | c := Object subclass: #DnuTest instanceVariableNames: '' \
        classVariableNames: '' poolDictionaries: '' category: 'Tests'. \
        c compile: 'doesNotUnderstand: m ^Array with: m selector with: m arguments' \
        classified: 'x' notifying: nil. ";
    for (send, want) in [
        ("c new frob: 3 with: 4", "(frob:with: (3 4 ) )"),
        ("c new frob", "(frob () )"),
        ("c new perform: #frob: with: 5", "(frob: (5 ) )"),
        (
            "c new perform: #frob:with: withArguments: #(6 7)",
            "(frob:with: (6 7 ) )",
        ),
        // A subclass inherits the override.
        (
            "(c subclass: #DnuTest2 instanceVariableNames: '' classVariableNames: '' \
             poolDictionaries: '' category: 'Tests') new zork",
            "(zork () )",
        ),
    ] {
        // The little-endian image only: on the big-endian copy every `compile:` stops in
        // BitBlt (primitive 96), whatever the method.
        let expr = format!("{class}{send}");
        assert_eq!(run(0, &expr).0, want, "{expr}");
    }
    for (which, file) in IMAGES.iter().enumerate() {
        let (loaded, vm) = mini(which);
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        for expr in ["3 zork: 4", "3 perform: #zork", "nil foo"] {
            let err = interp.evaluate(&mut image, expr).unwrap_err().to_string();
            assert!(
                err.contains("does not understand #zork") || err.contains("#foo"),
                "{expr} on {file}: {err}"
            );
        }
    }
}

/// `someInstance` and `nextInstance` walk the base's objects and the image's own, each once:
/// a new Point is found, every Symbol of the base is counted, and contexts met on the way
/// (the pool's, dead or tracked) are let go of, so the run goes on correctly after it.
#[test]
fn instances_are_walked_once_each() {
    if interp_common::skip() {
        return;
    }
    check("Point instanceCount > 0", "true");
    check("| p | p := 3 @ 4. Point allInstances includes: p", "true");
    check(
        "| p | p := 3 @ 4. (Point allInstances select: [:q | q == p]) size",
        "1",
    );
    check("SmallInteger allInstances size", "0");
    for (which, name) in IMAGES.iter().enumerate() {
        let (loaded, vm) = mini(which);
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        let symbol = interp.evaluate(&mut image, "Symbol").unwrap();
        let in_base = loaded
            .heap
            .objects()
            .filter(|&o| loaded.heap.original_class(o).ok() == Some(symbol))
            .count();
        assert!(in_base > 1000);
        let (count, _, _) = run(which, "Symbol instanceCount");
        assert_eq!(count, in_base.to_string(), "{name}");
    }
    check(
        "| n | n := 0. MethodContext allInstances do: [:c | n := n + 1]. \
         (1 to: 10) inject: 0 into: [:a :b | a + (b * b)]",
        "385",
    );
}

/// Squeak 2.2's compiler reads `true`, `false` and `nil` inside a literal array as Symbols
/// (later Squeaks read the objects): the do-it compiler follows the image's, which the real
/// VM's answer `(SmallInteger Symbol Symbol Symbol Symbol )` confirms. Printed, both read
/// `(true false nil )`, so only the classes tell.
#[test]
fn words_in_a_literal_array_are_symbols_as_the_image_s_compiler_makes_them() {
    if interp_common::skip() {
        return;
    }
    check(
        "#(1 true nil foo false) collect: [:x | x class]",
        "(SmallInteger Symbol Symbol Symbol Symbol )",
    );
    check("#(#(nil)) first first == #nil", "true");
    check("#(true) first == true", "false");
    // A quoted symbol is the String there too (`Scanner>>xLitQuote` makes no Symbol).
    check(
        "#(#'abc' 'def') collect: [:x | x class]",
        "(String String )",
    );
    check("#'hello world'", "'hello world'");
    check("#abc class", "Symbol");
    // Outside a literal array they are the objects.
    check(
        "(Array with: true with: nil) collect: [:x | x class]",
        "(True UndefinedObject )",
    );
}

/// Text beyond the expression grammar goes to the image's own compiler, as a do-it would:
/// `super`, `_` assignments, a block argument read after its block, and variables nobody
/// declared, which Squeak 2.2 declares in `Undeclared` (with a note on the Transcript), so
/// that `Smalltalk at: #Zork put: 3` makes a later `Zork` read 3. Comments are read here.
#[test]
fn what_the_grammar_does_not_reach_goes_to_the_image_s_compiler() {
    if interp_common::skip() {
        return;
    }
    check("super printString", "'nil'");
    check("| a | a _ 4. a * a", "16");
    check("[:x | x] value: 3. x", "3");
    check("x := 3. x + 1", "4");
    check("Smalltalk at: #Zork put: 3. Zork + 1", "4");
    check("3 \"a comment\" + 4", "7");
    let (s, _, mut interp) = run(0, "Zork");
    assert_eq!(s, "nil");
    assert_eq!(interp.take_transcript(), " (Zork is Undeclared) ");
    // A syntax error both compilers find is the image's, in its words.
    for (which, file) in IMAGES.iter().enumerate() {
        let (loaded, vm) = mini(which);
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        match interp.evaluate(&mut image, "3 +") {
            Err(cowheap_squeak::interp::RunError::Parse(e)) => {
                assert_eq!(e.to_string(), "at column 4: Argument expected", "{file}")
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

/// Equal literals of one do-it are one object, of its class, as Squeak's compiler makes
/// them: the real VM answers these.
#[test]
fn equal_literals_are_one_object_as_the_image_s_compiler_makes_them() {
    if interp_common::skip() {
        return;
    }
    check("#(1 2) == #(1 2)", "true");
    check("3.5 == 3.5", "true");
    check("12345678901234567890 == 12345678901234567890", "true");
    check(
        "(Array with: #(1 2) with: #(1 2.0)) last last class",
        "SmallInteger",
    );
    check("(7 -> 7.0) value class", "Float");
    check("#(1 2) == #(1 3)", "false");
}

/// `$i` is the Character, as in Smalltalk, until the host numbers the image; then it is the
/// image's number (in the expression grammar, and textually in what goes to the image's
/// compiler).
#[test]
fn dollar_i_is_the_character_until_the_host_numbers_the_image() {
    if interp_common::skip() {
        return;
    }
    check("'hi' includes: $i", "true");
    check("#($i) first class", "Character");
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    interp.set_image_number(7);
    for (text, answer) in [("$i * 6", "42"), ("super printString size + $i", "10")] {
        let v = interp.evaluate(&mut image, text).unwrap();
        assert_eq!(
            interp.print_string(&mut image, v).unwrap(),
            answer,
            "{text}"
        );
    }
}

/// `class` (bytecode 199) answers without a look-up, in the dispatch loop where the heap's
/// fast read of the class answers, else on the full path: each kind of receiver, a base
/// object this image copied (its reference is still the base's), an object made to
/// `become` another, a class this image wrote, and a class that overrides `class` (which
/// the bytecode, as on the real VM, never sends).
#[test]
fn class_answers_for_every_kind_of_receiver() {
    if interp_common::skip() {
        return;
    }
    for (expr, expected) in [
        ("3 class", "SmallInteger"),
        ("$a class", "Character"),
        ("nil class", "UndefinedObject"),
        ("(3 @ 4) class", "Point"),
        ("#(1 2) class", "Array"),
        ("| a | a := #(1 2 3). a at: 1 put: 9. a class", "Array"),
        (
            "| a b | a := Object new. b := 3 @ 4. (Array with: a) elementsExchangeIdentityWith: (Array with: b). a class",
            "Point",
        ),
        (
            "Point instVarAt: 5 put: (Point instVarAt: 5). (3 @ 4) class == Point",
            "true",
        ),
        ("thisContext class", "MethodContext"),
        ("[thisContext class] value", "BlockContext"),
        ("Object class class", "Metaclass"),
        (
            "Point addSelector: #class withMethod: (Object compiledMethodAt: #yourself). \
             (3 @ 4) class printString , ((3 @ 4) perform: #class) printString",
            "'Point3@4'",
        ),
    ] {
        check(expr, expected);
    }
}

/// A base String's `at:` (the literal of `isVowel`, which every image shares) answers its
/// bytes, many times over (after the first, through the `at:` cache's shape and the heap's
/// fast read of a byte); once this image writes it, its own copy's bytes, and the other
/// image's stay the base's.
#[test]
fn a_base_strings_at_answers_its_bytes_then_this_images_copy() {
    if interp_common::skip() {
        return;
    }
    let expr = "| s n r | s := (Character compiledMethodAt: #isVowel) literals detect: [:l | l class == String]. \
         n := 0. 1 to: 50 do: [:k | $a isVowel ifTrue: [n := n + 1]]. \
         s at: 1 put: $z. \
         r := 0. 1 to: 50 do: [:k | $a isVowel ifTrue: [r := r + 1]]. \
         Array with: n with: r with: $z isVowel with: $e isVowel";
    check(expr, "(50 0 false true )");
    for (which, file) in IMAGES.iter().enumerate() {
        let (loaded, vm) = mini(which);
        let mut written = new_heap(&loaded.heap).unwrap();
        let mut other = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(Limits::default());
        interp.evaluate(&mut written, expr).unwrap();
        let v = interp.evaluate(&mut other, "$a isVowel").unwrap();
        let s = interp.print_string(&mut other, v).unwrap();
        assert_eq!(s, "true", "{file}");
    }
}

/// `=` of two Characters, two Symbols or an object and anything finds Object's `=`, primitive
/// 110 (`==`), which the dispatch loop's send answers where the two references tell alone:
/// the same answers as the real VM, also for a base object this image has copied (its copy
/// and the base reference are one object) and after a `become:` (each answer checked against
/// the real VM).
#[test]
fn object_equality_is_identity_in_the_loop_and_out() {
    if interp_common::skip() {
        return;
    }
    check(
        "Array with: $a = $a with: $a = $b with: #foo = #foo with: #foo = #bar",
        "(true false true false )",
    );
    check(
        "| o | o := Object new. Array with: o = o with: o = Object new with: o = 3 with: nil = nil",
        "(true false false true )",
    );
    // A base Character this image writes (its copy is what every reference now reads).
    check(
        "| c | c := Character value: 65. c instVarAt: 1 put: 65. \
         Array with: c = $A with: $A = c with: (Character value: 65) = c with: c = $B",
        "(true true true false )",
    );
    check(
        "| a b n | a := Object new. b := Object new. a become: b. n := 0. \
         1 to: 100 do: [:k | (a = b) ifTrue: [n := n + 1]. (a = a) ifTrue: [n := n + 10]]. n",
        "1000",
    );
}

/// Primitive 235, `compare:with:collated:`, behind every String `=`, `<` and `sameAs:` of
/// Squeak 2.2: the order of two strings through a collation table (a reversed one here), a
/// shorter string first where it starts the other, the receiver not looked at; and an Array
/// as the table, which the primitive refuses and the fallback's loop answers alike. Each
/// answer checked against the real VM.
#[test]
fn strings_compare_through_their_collation_table() {
    if interp_common::skip() {
        return;
    }
    check(
        "| o | o := (1 to: 256) asArray. \
         (Array with: ('abc' sameAs: 'ABC') with: ('abc' sameAs: 'ABD') \
           with: ('' compare: 'abc' with: 'abd' collated: o)) , \
         (Array with: ('' compare: 'b' with: 'abd' collated: o) \
           with: ('' compare: 'abc' with: 'ab' collated: o) \
           with: ('' compare: #abc with: 'abc' collated: o))",
        "(true false 1 3 3 2 )",
    );
    check(
        "| o | o := String new: 256. \
         1 to: 256 do: [:i | o at: i put: (Character value: 256 - i)]. \
         (Array with: ('' compare: 'abc' with: 'abd' collated: o) \
           with: ('' compare: 'abd' with: 'abc' collated: o) \
           with: ('xyz' compare: 'abc' with: 'abc' collated: o)) , \
         (Array with: ('' compare: 'ab' with: 'abc' collated: o) \
           with: ('' compare: '' with: '' collated: o))",
        "(3 1 2 1 2 )",
    );
    check(
        "(Array with: 'abc' = 'abc' with: 'abc' = 'abd' with: 'abc' < 'abd' with: 'b' > 'abc') , \
         (Array with: 'ab' < 'abc' with: 'Abc' = 'abc' with: 'abc' = #abc with: '' = '')",
        "(true false true true true false true true )",
    );
    // The primitive answers, not the fallback's loop (about ten bytecodes a character).
    let (answer, bytecodes) = bytecodes("(String new: 5000) = (String new: 5000)");
    assert_eq!(answer, "true");
    assert!(bytecodes < 1_000, "{bytecodes}");
}

/// The printString of `expr` on the first image, and the bytecodes its evaluation ran (the
/// printString's own not counted).
fn bytecodes(expr: &str) -> (String, u64) {
    let (mut image, mut interp) = interp_common::session(0);
    let v = interp.evaluate(&mut image, expr).unwrap();
    let bytecodes = interp.stats().bytecodes;
    (interp.print_string(&mut image, v).unwrap(), bytecodes)
}

/// Primitives 243 (`translate:from:to:table:`, behind `asLowercase`) and
/// 245 (`indexOfAscii:inString:startingAt:`, behind `indexOf:`): in place through a table,
/// an empty range answering the receiver, a search from a start past the end; each answer
/// checked against the real VM. And the primitives answer, not their fallbacks' loops.
#[test]
fn strings_translate_and_search_their_bytes() {
    if interp_common::skip() {
        return;
    }
    check(
        "(Array with: ('hello' indexOf: $l) with: ('hello' indexOf: $z) \
           with: (String indexOfAscii: 111 inString: 'hello world' startingAt: 6) \
           with: (String indexOfAscii: 104 inString: 'hello' startingAt: 9)) , \
         (Array with: 'hello World' asUppercase with: 'HeLLo' asLowercase \
           with: ('a:b:c' findTokens: ':') size)",
        "(3 0 8 0 'HELLO WORLD' 'hello' 3 )",
    );
    check(
        "| s t | s := 'abcdef' copy. t := String new: 256. \
         1 to: 256 do: [:i | t at: i put: (Character value: 256 - i)]. \
         String translate: s from: 2 to: 4 table: t. \
         (Array with: ((1 to: 6) collect: [:i | (s at: i) asciiValue]) \
           with: (String translate: s from: 3 to: 2 table: t) == String) , \
         (Array with: (String indexOfAscii: 300 inString: 'abc' startingAt: 1))",
        "((97 157 156 155 101 102 ) true 0 )",
    );
    // A string that is its own table: each byte's read sees the writes before it.
    check(
        "| s | s := String new: 256. \
         1 to: 256 do: [:i | s at: i put: (Character value: 256 - i)]. \
         String translate: s from: 1 to: 256 table: s. \
         (1 to: 8) collect: [:i | (s at: i) asciiValue]",
        "(0 1 2 3 4 5 6 7 )",
    );
    for (expr, answer) in [
        ("(String new: 5000) asLowercase size", "5000"),
        ("(String new: 5000) indexOf: $a", "0"),
    ] {
        let (got, n) = bytecodes(expr);
        assert_eq!(got, answer, "{expr}");
        assert!(n < 1_000, "{expr}: {n}");
    }
}

/// A global read, then assigned, then read again in one do-it: the second read answers the new
/// value. The first read keeps the value of the base's association (which this image had not
/// written); the assignment copies the association, which must drop what was kept (without
/// that, the second read answered the old `nil`s).
#[test]
fn a_global_read_before_and_after_its_assignment() {
    if interp_common::skip() {
        return;
    }
    check(
        "| a b c | a := SourceFiles. Smalltalk at: #SourceFiles put: 42. b := SourceFiles. \
         Smalltalk at: #SourceFiles put: a. c := SourceFiles. (Array with: b with: c == a) printString",
        "'(42 true )'",
    );
    check(
        "| r | r := 0. 1 to: 5 do: [:i | r := r + (SourceFiles isNil ifTrue: [0] ifFalse: [100]). \
         Smalltalk at: #SourceFiles put: i. r := r + SourceFiles]. r",
        "515",
    );
}
