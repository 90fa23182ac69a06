//! The dispatch loop's unit tests: every bytecode family, sends, returns and limits, over the
//! hand-built base (`tests/mod.rs`).

use crate::interp::limits::RunError;
use crate::interp::tests::{int, Run};

#[test]
fn pushes_and_stores_of_each_kind() {
    let mut r = Run::new();
    let (class, nil) = (r.t.row, r.nil());
    let row = r.instance(class, &[nil; 20], 3);
    // Receiver variables: 96-103 pop into, 0-15 push.
    assert_eq!(r.run(row, &[int(5)], 0, &[32, 99, 3, 124]), Ok(int(5)));
    assert_eq!(r.image.read(row, 3).unwrap(), int(5));
    // Temporaries: 104-111 pop into, 16-31 push.
    assert_eq!(r.run(nil, &[int(6)], 8, &[32, 110, 22, 124]), Ok(int(6)));
    // Literal constants (32-63) and literal variables (64-95).
    let assoc = r.association("foo", int(77));
    assert_eq!(r.run(nil, &[int(1), assoc], 0, &[65, 124]), Ok(int(77)));
    assert_eq!(r.run(nil, &[int(1), assoc], 0, &[33, 124]), Ok(assoc));
    // Constants: self, true, false, nil, -1, 0, 1, 2.
    let want = [row, r.boolean(true), r.boolean(false), nil];
    for (k, v) in want.into_iter().enumerate() {
        assert_eq!(r.run(row, &[], 0, &[112 + k as u8, 124]), Ok(v));
    }
    for k in 0..4u8 {
        assert_eq!(r.run(nil, &[], 0, &[116 + k, 124]), Ok(int(k as i64 - 1)));
    }
    // 135 pop, 136 dup.
    assert_eq!(r.run(nil, &[], 0, &[118, 119, 135, 124]), Ok(int(1)));
    assert_eq!(r.run(nil, &[], 0, &[119, 136, 176, 124]), Ok(int(4)));
    // 128 extended push, 129 store, 130 pop and store, of each kind.
    assert_eq!(r.run(row, &[], 0, &[128, 3, 124]), Ok(int(5)));
    assert_eq!(
        r.run(row, &[int(8)], 0, &[32, 130, 17, 128, 17, 124]),
        Ok(int(8))
    );
    assert_eq!(
        r.run(nil, &[int(9)], 20, &[32, 129, 0x40 | 19, 124]),
        Ok(int(9))
    );
    assert_eq!(
        r.run(nil, &[int(9)], 20, &[32, 130, 0x53, 128, 0x53, 124]),
        Ok(int(9))
    );
    assert_eq!(
        r.run(nil, &[int(3), int(4)], 0, &[128, 0x81, 124]),
        Ok(int(4))
    );
    assert_eq!(
        r.run(nil, &[assoc], 0, &[119, 129, 0xC0, 128, 0xC0, 124]),
        Ok(int(2))
    );
    assert_eq!(r.image.read(assoc, 1).unwrap(), int(2));
    // A store into a literal constant makes no sense.
    assert!(matches!(
        r.run(nil, &[int(1)], 0, &[119, 129, 0x80, 124]),
        Err(RunError::Malformed(_))
    ));
}

#[test]
fn jumps_conditional_jumps_and_a_loop() {
    let mut r = Run::new();
    let nil = r.nil();
    // 152-159: jump if false, short.
    assert_eq!(
        r.run(nil, &[], 0, &[113, 153, 119, 124, 118, 124]),
        Ok(int(2))
    );
    assert_eq!(
        r.run(nil, &[], 0, &[114, 153, 119, 124, 118, 124]),
        Ok(int(1))
    );
    // 144-151: jump, short.
    assert_eq!(r.run(nil, &[], 0, &[145, 119, 124, 118, 124]), Ok(int(1)));
    // 168-171 jump if true, 172-175 jump if false, long.
    assert_eq!(
        r.run(nil, &[], 0, &[113, 168, 2, 119, 124, 118, 124]),
        Ok(int(1))
    );
    assert_eq!(
        r.run(nil, &[], 0, &[113, 172, 2, 119, 124, 118, 124]),
        Ok(int(2))
    );
    // A loop with a long jump back: the sum of 1 to 10.
    let code = [
        117, 104, 118, 105, // sum := 0. i := 1.
        17, 32, 180, 172, 10, // i <= 10 ifFalse: [jump to the end]
        16, 17, 176, 104, // sum := sum + i.
        17, 118, 176, 105, // i := i + 1.
        163, 241, // back to the test
        16, 124, // ^sum
    ];
    assert_eq!(r.run(nil, &[int(10)], 2, &code), Ok(int(55)));
    assert_eq!(r.interp.stats().bytecodes, 4 + 10 * 13 + 4 + 2);
    // Something other than a Boolean.
    assert_eq!(
        r.run(nil, &[], 0, &[112, 152, 124]),
        Err(RunError::MustBeBoolean {
            class: "UndefinedObject".into()
        })
    );
}

#[test]
fn a_comparison_and_the_jump_after_it_run_as_the_two_bytecodes() {
    // The dispatch loop runs a SmallInteger comparison and a conditional jump right after it
    // in one arm: the same answers, bytecodes and sends as one at a time, for each comparison
    // (178-183) before each jump kind, taken or not, and before something else.
    let mut r = Run::new();
    let nil = r.nil();
    type Holds = fn(i64, i64) -> bool;
    let tests: [(u8, Holds); 6] = [
        (178, |a, b| a < b),
        (179, |a, b| a > b),
        (180, |a, b| a <= b),
        (181, |a, b| a >= b),
        (182, |a, b| a == b),
        (183, |a, b| a != b),
    ];
    for (op, holds) in tests {
        for (a, b) in [(1, 2), (2, 2), (3, 2)] {
            let yes = holds(a, b);
            let (x, y) = (int(a), int(b));
            // Pushes a and b (literals 0 and 1), compares; each jump lands on `push 2` (taken)
            // or runs `push 1` (not): one of 1 or 2 is answered.
            let forms: [(&[u8], bool); 3] = [
                (&[32, 33, op, 153, 118, 124, 119, 124], !yes),
                (&[32, 33, op, 168, 2, 118, 124, 119, 124], yes),
                (&[32, 33, op, 172, 2, 118, 124, 119, 124], !yes),
            ];
            for (code, taken) in forms {
                let want = if taken { int(2) } else { int(1) };
                assert_eq!(r.run(nil, &[x, y], 0, code), Ok(want), "{code:?} {a} {b}");
                // Two pushes, the comparison, the jump, a push and a return.
                assert_eq!(r.interp.stats().bytecodes, 6, "{code:?} {a} {b}");
                assert_eq!(r.interp.stats().sends, 1, "{code:?} {a} {b}");
            }
            // Not followed by a jump: the Boolean is answered.
            assert_eq!(
                r.run(nil, &[x, y], 0, &[32, 33, op, 124]),
                Ok(r.boolean(yes))
            );
        }
    }
}

#[test]
fn an_add_and_the_store_after_it_run_as_the_two_bytecodes() {
    // The dispatch loop runs a SmallInteger `+` and a store-pop into a temporary right after
    // it in one arm: the same answers, temporaries, bytecodes and sends as one at a time, into
    // each temporary, in a frame with a context (whose temporaries live in it: not fused), and
    // where the store's own check fails.
    let mut r = Run::new();
    let nil = r.nil();
    let lits = [int(1), int(10), int(100)];
    for with_context in [false, true] {
        for t in 0..3u8 {
            // [thisContext. pop.] t0 := 1. t1 := 10. t2 := 100. tT := t0 + t1. ^t0 + t1 + t2
            let mut code: Vec<u8> = if with_context { vec![137, 135] } else { vec![] };
            code.extend_from_slice(&[32, 104, 33, 105, 34, 106]);
            code.extend_from_slice(&[16, 17, 176, 104 + t]);
            code.extend_from_slice(&[16, 17, 176, 18, 176, 124]);
            let want = [121, 112, 22][t as usize];
            assert_eq!(r.run(nil, &lits, 3, &code), Ok(int(want)), "{code:?}");
            let extra = if with_context { 2 } else { 0 };
            assert_eq!(r.interp.stats().bytecodes, extra + 16, "{code:?}");
            assert_eq!(r.interp.stats().sends, 3, "{code:?}");
        }
    }
    // A store into a temporary the method does not have: the `+` answers, and the store
    // stops the run as it does after any other push.
    let alone = r.run(nil, &[], 1, &[118, 119, 109, 124]);
    let fused = r.run(nil, &[], 1, &[118, 119, 176, 109, 124]);
    assert!(alone.is_err(), "{alone:?}");
    assert_eq!(fused, alone);
}

#[test]
fn field_reads_and_stores_of_two_receivers_in_turn_are_each_their_own() {
    // The dispatch loop keeps tokens for the last two receivers whose fields it read and
    // the last it stored into: the reads of `a`, then `b` (which stores), then `a` again.
    let mut r = Run::new();
    let pair_class = r.t.pair;
    let foo = r.sym("foo");
    // foo  second := first. ^first
    r.define(pair_class, "foo", &[], 0, 0, 0, &[0, 136, 97, 124]);
    // bar: q  ^first + q foo + second
    r.define(
        pair_class,
        "bar:",
        &[foo],
        1,
        1,
        0,
        &[0, 16, 208, 176, 1, 176, 124],
    );
    let a = r.instance(pair_class, &[int(1), int(10)], 1);
    let b = r.instance(pair_class, &[int(100), int(1000)], 1);
    assert_eq!(r.send(a, "bar:", &[b]), Ok(int(111)));
    assert_eq!(r.image.read(b, 1).unwrap(), int(100));
    assert_eq!(r.send(b, "bar:", &[a]), Ok(int(201)));
    assert_eq!(r.image.read(a, 1).unwrap(), int(1));
    assert_eq!(r.send(a, "bar:", &[b]), Ok(int(102)));
}

#[test]
fn sends_of_every_form() {
    let mut r = Run::new();
    let pair_class = r.t.pair;
    r.define(pair_class, "foo", &[int(5)], 0, 0, 0, &[32, 124]);
    let pair = r.instance(pair_class, &[int(1), int(2)], 1);
    let foo = r.sym("foo");
    for code in [
        &[112, 208, 124][..],
        &[112, 131, 0, 124],
        &[112, 134, 0, 124],
        &[112, 132, 0, 0, 124],
    ] {
        assert_eq!(r.run(pair, &[foo], 0, code), Ok(int(5)), "{code:?}");
        assert_eq!(r.interp.stats().sends, 1);
    }
    // 199: class, inline.
    assert_eq!(r.run(pair, &[], 0, &[112, 199, 124]), Ok(pair_class));
    // 132's other operations: push, store and pop into a receiver variable.
    assert_eq!(
        r.run(pair, &[int(9)], 0, &[32, 132, 0xC0, 1, 132, 0x40, 1, 124]),
        Ok(int(9))
    );
    assert_eq!(r.image.read(pair, 1).unwrap(), int(9));
}

#[test]
fn limits_and_bytecodes_outside_the_set_stop_the_image() {
    let mut r = Run::new();
    let nil = r.nil();
    assert_eq!(
        r.run(nil, &[], 0, &[163, 254]),
        Err(RunError::BytecodeLimit { limit: 100_000 })
    );
    for b in [126u8, 127, 139] {
        assert!(matches!(
            r.run(nil, &[], 0, &[b, 124]),
            Err(RunError::Unimplemented(_))
        ));
    }
    for code in [&[112][..], &[135, 124], &[33, 124], &[160, 0, 124], &[128]] {
        assert!(
            matches!(r.run(nil, &[], 0, code), Err(RunError::Malformed(_))),
            "{code:?}"
        );
    }
}
