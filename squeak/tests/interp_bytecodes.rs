//! Every bytecode of the V3 set, one group at a time, in hand-assembled methods: each case
//! names the answer the bytecode must give, so a wrong operand decoding, jump offset or
//! argument count fails here even where the image's own code happens not to use it.

mod images_common;
mod interp_common;

use cowheap::{Format, Value};
use cowheap_squeak::interp::{new_heap, Heap};
use cowheap_squeak::interp::{Interpreter, Limits, RunError};
use interp_common::mini;

fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

/// A V3 method header: literal count, temps, args.
fn header(lits: usize, temps: usize) -> Value {
    int(((lits as i64) << 9) | ((temps as i64) << 18) | (1 << 17))
}

struct Bench {
    image: Heap,
    interp: Interpreter,
}

impl Bench {
    fn new() -> Bench {
        let (loaded, vm) = mini(0);
        Bench {
            image: new_heap(&loaded.heap).unwrap(),
            interp: vm.interpreter(Limits {
                bytecodes: 100_000,
                ..Limits::default()
            }),
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        self.interp.evaluate(&mut self.image, expr).unwrap()
    }

    fn print(&mut self, v: Value) -> String {
        self.interp.print_string(&mut self.image, v).unwrap()
    }

    /// Runs `code` with `literals` and `temps` temporaries, `receiver` as self.
    fn run(
        &mut self,
        receiver: Value,
        literals: &[Value],
        temps: usize,
        code: &[u8],
    ) -> Result<Value, RunError> {
        let class = self.eval("CompiledMethod");
        let mut lits = vec![header(literals.len(), temps)];
        lits.extend_from_slice(literals);
        let method = self.image.new_method(class, &lits, code).unwrap();
        self.interp.run_method(&mut self.image, method, receiver)
    }

    /// Like `run`, and prints the answer with the image's own printString.
    fn answer(&mut self, receiver: Value, literals: &[Value], temps: usize, code: &[u8]) -> String {
        let v = self
            .run(receiver, literals, temps, code)
            .unwrap_or_else(|e| panic!("{code:?}: {e}"));
        self.print(v)
    }

    /// A fresh 20-slot Array (a receiver with instance variables to push and store).
    fn array(&mut self) -> Value {
        self.eval("Array new: 20")
    }

    /// An Association `#k -> v`.
    fn assoc(&mut self, v: i64) -> Value {
        self.eval(&format!("#k -> {v}"))
    }
}

#[test]
fn pushes_and_stores_of_receiver_variables_temporaries_and_literals() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let nil = b.eval("nil");
    // 0-15 push receiver variable; 129 kind 0 (store); 96-103 pop into receiver variable.
    for i in 0..16u8 {
        let r = b.array();
        let code = [32, 129, i, 135, i, 124];
        assert_eq!(
            b.run(r, &[int(100 + i as i64)], 0, &code),
            Ok(int(100 + i as i64))
        );
        assert_eq!(b.image.read(r, i as usize).unwrap(), int(100 + i as i64));
    }
    for i in 0..8u8 {
        let r = b.array();
        assert_eq!(b.run(r, &[int(7)], 0, &[32, 96 + i, i, 124]), Ok(int(7)));
    }
    // 16-31 push temporary; 104-111 pop into temporary; 130 kind 1 (pop into, extended).
    for i in 0..8u8 {
        assert_eq!(
            b.run(nil, &[int(5)], 16, &[32, 104 + i, 16 + i, 124]),
            Ok(int(5))
        );
    }
    for i in 0..16u8 {
        let code = [32, 130, 0x40 | i, 16 + i, 124];
        assert_eq!(b.run(nil, &[int(6)], 16, &code), Ok(int(6)));
    }
    // 32-63 push literal constant; 64-95 push literal variable.
    let consts: Vec<Value> = (0..32).map(|i| int(1000 + i)).collect();
    let assocs: Vec<Value> = (0..32).map(|i| b.assoc(2000 + i)).collect();
    for i in 0..32u8 {
        assert_eq!(
            b.run(nil, &consts, 0, &[32 + i, 124]),
            Ok(consts[i as usize])
        );
        assert_eq!(
            b.run(nil, &assocs, 0, &[64 + i, 124]),
            Ok(int(2000 + i as i64))
        );
    }
    // 128: extended push of each kind, with indices past the short forms.
    let r = b.array();
    b.image.write(r, 17, int(17)).unwrap();
    let mut lits: Vec<Value> = (0..40).map(int).collect();
    lits[39] = b.assoc(3939);
    assert_eq!(b.run(r, &lits, 0, &[128, 17, 124]), Ok(int(17)));
    assert_eq!(
        b.run(r, &lits, 20, &[36, 130, 0x40 | 19, 128, 0x40 | 19, 124]),
        Ok(int(4))
    );
    assert_eq!(b.run(r, &lits, 0, &[128, 0x80 | 38, 124]), Ok(int(38)));
    assert_eq!(b.run(r, &lits, 0, &[128, 0xC0 | 39, 124]), Ok(int(3939)));
    // 129/130 kind 3: store (and pop) into a literal variable.
    let a = b.assoc(0);
    assert_eq!(
        b.run(nil, &[a, int(9)], 0, &[33, 129, 0xC0, 124]),
        Ok(int(9))
    );
    assert_eq!(b.image.read(a, 1).unwrap(), int(9));
    assert_eq!(
        b.run(nil, &[a, int(8)], 0, &[33, 130, 0xC0, 64, 124]),
        Ok(int(8))
    );
    // 112-119: self, true, false, nil, -1, 0, 1, 2.
    let r = b.array();
    let expected = [
        r,
        b.eval("true"),
        b.eval("false"),
        nil,
        int(-1),
        int(0),
        int(1),
        int(2),
    ];
    for (k, want) in expected.into_iter().enumerate() {
        assert_eq!(b.run(r, &[], 0, &[112 + k as u8, 124]), Ok(want));
    }
    // 135 pop, 136 dup.
    assert_eq!(b.run(nil, &[int(21)], 0, &[32, 136, 176, 124]), Ok(int(42)));
    assert_eq!(b.run(nil, &[int(21)], 0, &[32, 118, 135, 124]), Ok(int(21)));
}

#[test]
fn double_extended_do_anything() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let r = b.array();
    let plus = b.eval("#+");
    let benchfib = b.eval("#benchFib");
    let class_assoc = b.eval("#Integer -> Integer");
    let a = b.assoc(77);
    let mut lits: Vec<Value> = (0..10).map(int).collect();
    lits[1] = plus;
    lits[2] = a;
    lits[3] = benchfib;
    lits[9] = class_assoc;
    let three = int(3);
    // op 0: send (1 argument, literal 1: #+).
    assert_eq!(
        b.run(three, &lits, 0, &[112, 36, 132, 1, 1, 124]),
        Ok(int(7))
    );
    // op 1: super send, looked up from Integer's superclass, which has no benchFib.
    assert_eq!(
        b.run(three, &lits, 0, &[112, 132, 0x20, 3, 124]),
        Err(RunError::DoesNotUnderstand {
            selector: "benchFib".into(),
            class: "SmallInteger".into()
        })
    );
    assert_eq!(b.run(three, &lits, 0, &[112, 132, 0, 3, 124]), Ok(int(5)));
    // op 2: push receiver variable; op 5: store; op 6: pop into.
    assert_eq!(
        b.run(r, &lits, 0, &[36, 132, 0xA0, 19, 132, 0x40, 19, 124]),
        Ok(int(4))
    );
    assert_eq!(
        b.run(r, &lits, 0, &[37, 132, 0xC0, 18, 132, 0x40, 18, 124]),
        Ok(int(5))
    );
    // op 3: push literal constant; op 4: push literal variable; op 7: store literal variable.
    assert_eq!(b.run(r, &lits, 0, &[132, 0x60, 8, 124]), Ok(int(8)));
    assert_eq!(b.run(r, &lits, 0, &[132, 0x80, 2, 124]), Ok(int(77)));
    assert_eq!(b.run(r, &lits, 0, &[38, 132, 0xE0, 2, 124]), Ok(int(6)));
    assert_eq!(b.image.read(a, 1).unwrap(), int(6));
    // 131: single extended send; 133: single extended super send; 134: second extended send.
    assert_eq!(
        b.run(three, &lits, 0, &[112, 36, 131, 0x21, 124]),
        Ok(int(7))
    );
    assert_eq!(b.run(three, &lits, 0, &[112, 131, 3, 124]), Ok(int(5)));
    assert!(matches!(
        b.run(three, &lits, 0, &[112, 133, 3, 124]),
        Err(RunError::DoesNotUnderstand { .. })
    ));
    assert_eq!(
        b.run(three, &lits, 0, &[112, 36, 134, 0x41, 124]),
        Ok(int(7))
    );
}

#[test]
fn returns_blocks_and_this_context() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let r = b.array();
    let (t, f, nil) = (b.eval("true"), b.eval("false"), b.eval("nil"));
    // 120-124: return self, true, false, nil, top.
    assert_eq!(b.run(r, &[], 0, &[120]), Ok(r));
    assert_eq!(b.run(r, &[], 0, &[121]), Ok(t));
    assert_eq!(b.run(r, &[], 0, &[122]), Ok(f));
    assert_eq!(b.run(r, &[], 0, &[123]), Ok(nil));
    // 137 thisContext: a real MethodContext whose receiver is self.
    let ctx = b.run(r, &[], 0, &[137, 124]).unwrap();
    let class = b.image.class_of(ctx).unwrap();
    assert_eq!(b.print(class), "MethodContext");
    assert_eq!(b.image.read(ctx, 5).unwrap(), r);
    // [1] value: 137, blockCopy: (200), a jump over the block, 125 (block return), value (201).
    assert_eq!(
        b.run(r, &[], 0, &[137, 117, 200, 145, 118, 125, 201, 124]),
        Ok(int(1))
    );
    // [^1] value. ^2: the block's ^ returns from the method, not just the block.
    assert_eq!(
        b.run(
            r,
            &[],
            0,
            &[137, 117, 200, 145, 118, 124, 201, 135, 119, 124]
        ),
        Ok(int(1))
    );
    // [:x | x + 1] value: 41 (202 value:), the argument popped into a temporary of the home.
    assert_eq!(
        b.run(
            r,
            &[int(41)],
            1,
            &[137, 118, 200, 148, 104, 16, 118, 176, 125, 32, 202, 124]
        ),
        Ok(int(42))
    );
}

#[test]
fn jumps() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let (t, f, nil) = (b.eval("true"), b.eval("false"), b.eval("nil"));
    for j in 0..8u8 {
        let skip = vec![122u8; j as usize + 1];
        // 144-151: jump j+1 forward.
        let code = [&[144 + j][..], &skip, &[121]].concat();
        assert_eq!(b.run(nil, &[], 0, &code), Ok(t), "{code:?}");
        // 152-159: jump if false.
        let code = [&[114, 152 + j][..], &skip, &[121]].concat();
        assert_eq!(b.run(nil, &[], 0, &code), Ok(t), "{code:?}");
        let code = [&[113, 152 + j][..], &skip, &[121]].concat();
        assert_eq!(b.run(nil, &[], 0, &code), Ok(f), "{code:?}");
    }
    // 160-167: long jump by (b - 164) * 256 + ext; forwards past 256 bytes, and backwards in
    // a loop that counts a temporary up to 5.
    let pad = vec![122u8; 300];
    let code = [&[165, (300 - 256) as u8][..], &pad, &[121]].concat();
    assert_eq!(b.run(nil, &[], 0, &code), Ok(t));
    // t0 := 0. L: t0 := t0 + 1. t0 < 5 ifFalse: [^t0]. jump L.
    let code = [
        117, 104, 16, 118, 176, 104, 16, 32, 178, 153, 163, 246, 16, 124,
    ];
    assert_eq!(b.run(nil, &[int(5)], 1, &code), Ok(int(5)));
    // 168-171: long jump if true, 172-175: long jump if false, (b & 3) * 256 + ext.
    for (cond, op, want) in [(t, 168u8, t), (f, 168, f), (f, 172, t), (t, 172, f)] {
        let push = if cond == t { 113 } else { 114 };
        assert_eq!(b.run(nil, &[], 0, &[push, op, 1, 122, 121]), Ok(want));
        let code = [&[push, op + 1, (300 - 256) as u8][..], &pad, &[121]].concat();
        assert_eq!(b.run(nil, &[], 0, &code), Ok(want), "{op}");
    }
}

#[test]
fn special_selectors_and_literal_sends() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let nil = b.eval("nil");
    let (t, f) = (b.eval("true"), b.eval("false"));
    // 176-191 on 6 and 3: + - < > <= >= = ~= * / \\ @ bitShift: // bitAnd: bitOr:.
    let want = [
        "9", "3", "false", "true", "false", "true", "false", "true", "18", "2", "0", "6@3", "48",
        "2", "2", "7",
    ];
    for (k, w) in want.iter().enumerate() {
        assert_eq!(
            b.answer(nil, &[int(6), int(3)], 0, &[32, 33, 176 + k as u8, 124]),
            *w
        );
    }
    // And past the SmallInteger fast path: the send with the same selector.
    assert_eq!(
        b.answer(nil, &[int(1 << 29), int(1 << 29)], 0, &[32, 33, 176, 124]),
        "1073741824"
    );
    // 192-207: at: at:put: size next nextPut: atEnd == class blockCopy: value value: do: new
    // new: x y.
    let array = b.eval("Array with: 5 with: 6");
    let stream = b.eval("ReadStream on: #(5 6)");
    let wstream = b.eval("WriteStream on: (Array new: 2)");
    let class = b.eval("Array");
    let point = b.eval("3 @ 4");
    let lits = [array, stream, wstream, class, point];
    assert_eq!(b.answer(nil, &lits, 0, &[32, 119, 192, 124]), "6");
    assert_eq!(
        b.answer(nil, &lits, 0, &[32, 118, 116, 193, 135, 32, 124]),
        "(-1 6 )"
    );
    assert_eq!(b.answer(nil, &lits, 0, &[32, 194, 124]), "2");
    assert_eq!(b.answer(nil, &lits, 0, &[33, 195, 124]), "5");
    assert_eq!(b.answer(nil, &lits, 0, &[34, 119, 196, 124]), "2");
    assert_eq!(b.run(nil, &lits, 0, &[33, 197, 124]), Ok(f));
    assert_eq!(b.run(nil, &lits, 0, &[32, 32, 198, 124]), Ok(t));
    assert_eq!(b.run(nil, &lits, 0, &[32, 199, 124]), Ok(class));
    // blockCopy: (200) and value (201) are above; do: (203) with a block that sums into t0.
    // t0 := 0. array do: [:x | t0 := t0 + x]. ^t0 (the array is now (-1 6)).
    let code = [
        117, 104, 32, 137, 118, 200, 150, 105, 16, 17, 176, 104, 16, 125, 203, 135, 16, 124,
    ];
    assert_eq!(b.answer(nil, &lits, 2, &code), "5");
    assert_eq!(b.answer(nil, &lits, 0, &[35, 204, 194, 124]), "0");
    assert_eq!(b.answer(nil, &lits, 0, &[35, 119, 205, 194, 124]), "2");
    assert_eq!(b.answer(nil, &lits, 0, &[36, 206, 124]), "3");
    assert_eq!(b.answer(nil, &lits, 0, &[36, 207, 124]), "4");
    // 208-223, 224-239, 240-255: sends of literal 0-15 with 0, 1 and 2 arguments.
    let mut lits: Vec<Value> = (0..16).map(int).collect();
    lits[0] = b.eval("#benchFib");
    lits[15] = b.eval("#benchFib");
    lits[1] = b.eval("#+");
    lits[14] = b.eval("#-");
    lits[2] = b.eval("#between:and:");
    lits[13] = b.eval("#between:and:");
    lits[4] = int(4);
    lits[9] = int(9);
    let three = int(3);
    assert_eq!(b.run(three, &lits, 0, &[112, 208, 124]), Ok(int(5)));
    assert_eq!(b.run(three, &lits, 0, &[112, 223, 124]), Ok(int(5)));
    assert_eq!(b.run(three, &lits, 0, &[112, 36, 225, 124]), Ok(int(7)));
    assert_eq!(b.run(three, &lits, 0, &[112, 36, 238, 124]), Ok(int(-1)));
    assert_eq!(b.run(three, &lits, 0, &[112, 118, 41, 242, 124]), Ok(t));
    assert_eq!(b.run(three, &lits, 0, &[112, 36, 41, 253, 124]), Ok(f));
}

/// A small constant (116-119) and the `+`, `-` or comparison after it (176-181) run in one
/// arm where the receiver is a SmallInteger: the same answers, bytecodes and sends as the two
/// bytecodes one after the other, with the jump after a comparison and the store after a `+`,
/// at SmallInteger's bounds (the sum a LargeInteger) and with a receiver that is none.
#[test]
fn a_small_constant_and_the_operation_after_it() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    let nil = b.eval("nil");
    let (max, min) = ((1i64 << 30) - 1, -(1i64 << 30));
    let float = b.eval("3.5");
    for (push, c) in [(116u8, -1i64), (117, 0), (118, 1), (119, 2)] {
        for a in [5, max, min, -2] {
            let rcvr = int(a);
            let answers = [
                (a + c).to_string(),
                (a - c).to_string(),
                (a < c).to_string(),
                (a > c).to_string(),
                (a <= c).to_string(),
                (a >= c).to_string(),
            ];
            for (op, want) in (176u8..).zip(&answers) {
                let code = [32, push, op, 124];
                let v = b.run(nil, &[rcvr], 0, &code).unwrap();
                let stats = b.interp.stats();
                assert_eq!(&b.print(v), want, "{code:?} on {a}");
                if (min..=max).contains(&(a + c)) && (min..=max).contains(&(a - c)) {
                    assert_eq!((stats.bytecodes, stats.sends), (4, 1), "{code:?} on {a}");
                }
            }
            // The jump after a comparison (152: if false, over the `^true`), both ways.
            for (op, yes) in [(178u8, a < c), (179, a > c), (180, a <= c), (181, a >= c)] {
                let code = [32, push, op, 152, 121, 122];
                let want = b.eval(&yes.to_string());
                assert_eq!(b.run(nil, &[rcvr], 0, &code), Ok(want), "{code:?} on {a}");
                assert_eq!(b.interp.stats().bytecodes, 5, "{code:?} on {a}");
            }
            // The store-pop after a `+` (t0 := a + c. ^t0).
            let code = [32, push, 176, 104, 16, 124];
            let v = b.run(nil, &[rcvr], 1, &code).unwrap();
            if (min..=max).contains(&(a + c)) {
                assert_eq!(b.interp.stats().bytecodes, 6, "on {a}");
            }
            assert_eq!(b.print(v), answers[0], "on {a}");
        }
        // A receiver that is no SmallInteger: the sends.
        let floats = [3.5 + c as f64, 3.5 - c as f64];
        for (op, want) in (176u8..).zip(floats) {
            let got = b.answer(nil, &[float], 0, &[32, push, op, 124]);
            assert_eq!(got, format!("{want}"), "{op}");
        }
        let got = b.answer(nil, &[float], 0, &[32, push, 178, 124]);
        assert_eq!(got, (3.5 < c as f64).to_string());
    }
}

#[test]
fn instance_variables_and_formats() {
    if interp_common::skip() {
        return;
    }
    let mut b = Bench::new();
    // A context is fixed fields plus indexable ones (format 3): instVarAt: reaches only the
    // fixed ones with the primitive; past them the image's fallback answers.
    let ctx = b.eval("thisContext");
    assert_eq!(b.image.format_of(ctx).unwrap(), Format::Pointers);
    let v = b.eval("thisContext instVarAt: 4");
    assert_eq!(b.interp.stats().bytecodes, 4, "the primitive answered");
    assert_eq!(b.print(v), "a CompiledMethod");
    let v = b.eval("#(1 2 3) instVarAt: 2");
    assert_eq!(v, int(2));
    assert!(
        b.interp.stats().bytecodes > 4,
        "an Array has no fixed fields: the primitive fails into basicAt:"
    );
    let v = b.eval("(3/4) instVarAt: 2");
    assert_eq!(v, int(4));
    let v = b.eval("(Array new: 3) basicSize");
    assert_eq!(v, int(3));
    let v = b.eval("(OrderedCollection new: 5) basicSize");
    assert_eq!(v, int(0));
    let v = b.eval("(String new: 5) size");
    assert_eq!(v, int(5));
    let v = b.eval("(Array new: 3) class");
    assert_eq!(b.print(v), "Array");
}
