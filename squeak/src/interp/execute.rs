//! The dispatch loop: one `match` over the V3 bytecode set, with native frames on a Rust
//! stack (see `state.rs`), and the entry points that start a run. The top of the
//! interpreter's layers: it calls the sends (`send.rs`), the contexts (`thisContext`), and the
//! primitive table's SmallInteger functions for its arithmetic and comparison fast paths;
//! nothing below calls it.

use std::rc::Rc;

use super::contexts::TEMPS;
use super::limits::RunError;
use super::method::Method;
use super::primitives::{arithmetic, comparison};
use super::send::Flow;
use super::special::ASSOCIATION_VALUE;
use super::state::{int, underflow, Exec};
use cowheap::Value;

impl Exec<'_> {
    /// Sends `selector` to `receiver` from outside any frame and runs until it answers.
    pub(crate) fn send_top(
        &mut self,
        receiver: Value,
        selector: Value,
        args: &[Value],
    ) -> Result<Value, RunError> {
        for &v in std::iter::once(&receiver).chain(args) {
            self.image.check_value(v)?;
        }
        self.stack.push(receiver);
        self.stack.extend_from_slice(args);
        match self.send(selector, args.len(), None)? {
            Flow::Same => self.pop(),
            Flow::Switched => self.run(),
        }
    }

    /// Runs the method `m` with `receiver` from outside any frame.
    pub(crate) fn run_method(&mut self, m: Rc<Method>, receiver: Value) -> Result<Value, RunError> {
        self.stack.push(receiver);
        self.activate(m, 0)?;
        self.run()
    }

    /// Decodes and runs a method object with no arguments.
    pub(crate) fn run_method_value(
        &mut self,
        method: Value,
        receiver: Value,
    ) -> Result<Value, RunError> {
        self.image.check_value(receiver)?;
        let m = self.cache.method(self.image, self.sh, method)?;
        if m.num_args != 0 {
            return Err(RunError::Malformed(
                "a doit method takes no arguments".into(),
            ));
        }
        self.run_method(m, receiver)
    }

    /// Temporary `i` of the frame whose temporaries start at `tbase` (or live in `ctx`):
    /// the stack read inline, the context's out of line.
    #[inline(always)]
    fn temp(&mut self, ctx: Option<Value>, tbase: usize, i: usize) -> Result<Value, RunError> {
        match ctx {
            None => self.stack.get(tbase + i).copied().ok_or_else(underflow),
            Some(c) => self.context_temp(c, i),
        }
    }

    #[inline(never)]
    fn context_temp(&mut self, c: Value, i: usize) -> Result<Value, RunError> {
        match self.image.private_field(c, TEMPS + i) {
            Some(v) => Ok(v),
            None => Ok(self.image.read(c, TEMPS + i)?),
        }
    }

    #[inline(always)]
    fn set_temp(
        &mut self,
        ctx: Option<Value>,
        tbase: usize,
        i: usize,
        v: Value,
    ) -> Result<(), RunError> {
        match ctx {
            None => {
                *self.stack.get_mut(tbase + i).ok_or_else(underflow)? = v;
                Ok(())
            }
            Some(c) => self.set_context_temp(c, i, v),
        }
    }

    #[inline(never)]
    fn set_context_temp(&mut self, c: Value, i: usize, v: Value) -> Result<(), RunError> {
        self.store(c, TEMPS + i, v)
    }

    #[inline(always)]
    fn literal(m: &Method, i: usize) -> Result<Value, RunError> {
        m.literals.get(i).copied().ok_or_else(|| {
            RunError::Malformed(format!("literal {i} of a method with {}", m.literals.len()))
        })
    }

    /// Executes bytecodes until the bottom frame returns.
    // The dispatch lists bytecodes one by one on purpose (see the comment at the `match`).
    #[allow(clippy::manual_range_patterns)]
    pub(crate) fn run(&mut self) -> Result<Value, RunError> {
        // Where to look at the limits next (a primitive's `charge` may have moved it on since:
        // looking early costs one cold call).
        let mut next_check = self.next_check;
        loop {
            let top = self.frames.len() - 1;
            let (m, mut pc, receiver, ctx, tbase) = {
                let f = &self.frames[top];
                (f.method.clone(), f.pc, f.receiver, f.ctx, f.bp + 1)
            };
            let mut ctx = ctx;
            let code = &m.code[..];
            // A send is the safe point: the frame's pc is saved, and everything the run holds
            // is on the stack or in the frames. After a collection that moved anything the
            // frame's cached references are stale, so the frame is loaded again.
            macro_rules! send {
                ($sel:expr, $n:expr, $sup:expr) => {{
                    self.frames[top].pc = pc;
                    let incarnation = self.image.incarnation();
                    let flow = self.send($sel, $n, $sup)?;
                    if self.image.wants_collection() && self.may_collect {
                        self.collect_garbage()?;
                    }
                    if self.image.incarnation() != incarnation {
                        break;
                    }
                    match flow {
                        Flow::Same => continue,
                        Flow::Switched => break,
                    }
                }};
            }
            macro_rules! ret {
                ($v:expr) => {{
                    let v = $v;
                    let from = if self.frames[top].block.is_some() {
                        self.home_frame(top)?
                    } else {
                        top
                    };
                    match self.return_from(from, v)? {
                        Some(v) => return Ok(v),
                        None => break,
                    }
                }};
            }
            macro_rules! arith {
                ($i:expr, $op:expr) => {{
                    let n = self.stack.len();
                    if n >= 2 {
                        if let (Some(a), Some(b)) = (
                            self.stack[n - 2].as_small_int(),
                            self.stack[n - 1].as_small_int(),
                        ) {
                            if let Some(r) = $op(self.sh, a, b) {
                                self.stack.truncate(n - 2);
                                self.stack.push(r);
                                self.sends += 1;
                                continue;
                            }
                        }
                    }
                    let (sel, nargs) = self.sh.special_selectors[$i];
                    send!(sel, nargs, None)
                }};
            }
            loop {
                let Some(&b) = code.get(pc) else {
                    return Err(RunError::Malformed(format!(
                        "pc {pc} ran off the end of a method of {} bytecodes",
                        code.len()
                    )));
                };
                pc += 1;
                self.bytecodes += 1;
                if self.bytecodes > next_check {
                    next_check = self.checkpoint()?;
                }
                // Each arm lists its bytecodes one by one instead of as a range: rustc lowers
                // range patterns to a tree of comparisons, but a list of constants to one jump
                // table (30 benchFib: about 70 -> 105 M bytecodes/s).
                match b {
                    0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 => {
                        let v = self.image.read(receiver, b as usize)?;
                        self.stack.push(v);
                    }
                    16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30
                    | 31 => {
                        let v = self.temp(ctx, tbase, (b & 15) as usize)?;
                        self.stack.push(v);
                    }
                    32 | 33 | 34 | 35 | 36 | 37 | 38 | 39 | 40 | 41 | 42 | 43 | 44 | 45 | 46
                    | 47 | 48 | 49 | 50 | 51 | 52 | 53 | 54 | 55 | 56 | 57 | 58 | 59 | 60 | 61
                    | 62 | 63 => self.stack.push(Self::literal(&m, (b & 31) as usize)?),
                    64 | 65 | 66 | 67 | 68 | 69 | 70 | 71 | 72 | 73 | 74 | 75 | 76 | 77 | 78
                    | 79 | 80 | 81 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 89 | 90 | 91 | 92 | 93
                    | 94 | 95 => {
                        let assoc = Self::literal(&m, (b & 31) as usize)?;
                        let v = self.image.read(assoc, ASSOCIATION_VALUE)?;
                        self.stack.push(v);
                    }
                    96 | 97 | 98 | 99 | 100 | 101 | 102 | 103 => {
                        let v = self.pop()?;
                        self.store(receiver, (b & 7) as usize, v)?;
                    }
                    104 | 105 | 106 | 107 | 108 | 109 | 110 | 111 => {
                        let v = self.pop()?;
                        self.set_temp(ctx, tbase, (b & 7) as usize, v)?;
                    }
                    112 => self.stack.push(receiver),
                    113 => self.stack.push(self.sh.true_object),
                    114 => self.stack.push(self.sh.false_object),
                    115 => self.stack.push(self.sh.nil),
                    116 | 117 | 118 | 119 => self.stack.push(int(b as i64 - 117)),
                    120 => ret!(receiver),
                    121 => ret!(self.sh.true_object),
                    122 => ret!(self.sh.false_object),
                    123 => ret!(self.sh.nil),
                    124 => ret!(self.pop()?),
                    125 => {
                        let v = self.pop()?;
                        match self.return_from(top, v)? {
                            Some(v) => return Ok(v),
                            None => break,
                        }
                    }
                    128 | 129 | 130 => {
                        let ext = *code.get(pc).ok_or_else(truncated)?;
                        pc += 1;
                        let i = (ext & 63) as usize;
                        match (b, ext >> 6) {
                            (128, 0) => {
                                let v = self.image.read(receiver, i)?;
                                self.stack.push(v);
                            }
                            (128, 1) => {
                                let v = self.temp(ctx, tbase, i)?;
                                self.stack.push(v);
                            }
                            (128, 2) => self.stack.push(Self::literal(&m, i)?),
                            (128, _) => {
                                let assoc = Self::literal(&m, i)?;
                                let v = self.image.read(assoc, ASSOCIATION_VALUE)?;
                                self.stack.push(v);
                            }
                            (_, kind) => {
                                let v = if b == 129 { self.top()? } else { self.pop()? };
                                match kind {
                                    0 => self.store(receiver, i, v)?,
                                    1 => self.set_temp(ctx, tbase, i, v)?,
                                    3 => {
                                        let assoc = Self::literal(&m, i)?;
                                        self.store(assoc, ASSOCIATION_VALUE, v)?;
                                    }
                                    _ => {
                                        return Err(RunError::Malformed(
                                            "store into a literal constant".into(),
                                        ))
                                    }
                                }
                            }
                        }
                    }
                    131 | 133 => {
                        let ext = *code.get(pc).ok_or_else(truncated)?;
                        pc += 1;
                        let sel = Self::literal(&m, (ext & 31) as usize)?;
                        let sup = if b == 133 {
                            Some(self.super_class(&m)?)
                        } else {
                            None
                        };
                        send!(sel, (ext >> 5) as usize, sup)
                    }
                    132 => {
                        let (op, arg) = (
                            *code.get(pc).ok_or_else(truncated)?,
                            *code.get(pc + 1).ok_or_else(truncated)? as usize,
                        );
                        pc += 2;
                        match op >> 5 {
                            0 => send!(Self::literal(&m, arg)?, (op & 31) as usize, None),
                            1 => {
                                let sup = self.super_class(&m)?;
                                send!(Self::literal(&m, arg)?, (op & 31) as usize, Some(sup))
                            }
                            2 => {
                                let v = self.image.read(receiver, arg)?;
                                self.stack.push(v);
                            }
                            3 => self.stack.push(Self::literal(&m, arg)?),
                            4 => {
                                let assoc = Self::literal(&m, arg)?;
                                let v = self.image.read(assoc, ASSOCIATION_VALUE)?;
                                self.stack.push(v);
                            }
                            5 => {
                                let v = self.top()?;
                                self.store(receiver, arg, v)?;
                            }
                            6 => {
                                let v = self.pop()?;
                                self.store(receiver, arg, v)?;
                            }
                            _ => {
                                let v = self.top()?;
                                let assoc = Self::literal(&m, arg)?;
                                self.store(assoc, ASSOCIATION_VALUE, v)?;
                            }
                        }
                    }
                    134 => {
                        let ext = *code.get(pc).ok_or_else(truncated)?;
                        pc += 1;
                        send!(
                            Self::literal(&m, (ext & 63) as usize)?,
                            (ext >> 6) as usize,
                            None
                        )
                    }
                    135 => {
                        self.pop()?;
                    }
                    136 => {
                        let v = self.top()?;
                        self.stack.push(v);
                    }
                    137 => {
                        self.frames[top].pc = pc;
                        let only_for_block = matches!(code.get(pc), Some(116..=119 | 32..=63))
                            && code.get(pc + 1) == Some(&200);
                        let c = self.this_context(top, !only_for_block)?;
                        ctx = self.frames[top].ctx;
                        self.stack.push(c);
                    }
                    144 | 145 | 146 | 147 | 148 | 149 | 150 | 151 => pc += (b - 143) as usize,
                    152 | 153 | 154 | 155 | 156 | 157 | 158 | 159 => {
                        if self.condition()? {
                            // jump if false: nothing to do on true
                        } else {
                            pc += (b - 151) as usize;
                        }
                    }
                    160 | 161 | 162 | 163 | 164 | 165 | 166 | 167 => {
                        let ext = *code.get(pc).ok_or_else(truncated)? as i64;
                        pc += 1;
                        let target = pc as i64 + (b as i64 - 164) * 256 + ext;
                        pc = usize::try_from(target).map_err(|_| bad_jump())?;
                    }
                    168 | 169 | 170 | 171 | 172 | 173 | 174 | 175 => {
                        let ext = *code.get(pc).ok_or_else(truncated)? as usize;
                        pc += 1;
                        let when = b < 172;
                        if self.condition()? == when {
                            pc += (b as usize & 3) * 256 + ext;
                        }
                    }
                    176 => arith!(0, arithmetic::add),
                    177 => arith!(1, arithmetic::subtract),
                    178 => arith!(2, comparison::less),
                    179 => arith!(3, comparison::greater),
                    180 => arith!(4, comparison::less_or_equal),
                    181 => arith!(5, comparison::greater_or_equal),
                    182 => arith!(6, comparison::equal),
                    183 => arith!(7, comparison::not_equal),
                    184 => arith!(8, arithmetic::multiply),
                    185 => arith!(9, arithmetic::divide),
                    186 => arith!(10, arithmetic::modulo),
                    188 => arith!(12, arithmetic::bit_shift),
                    189 => arith!(13, arithmetic::floor_divide),
                    190 => arith!(14, arithmetic::bit_and),
                    191 => arith!(15, arithmetic::bit_or),
                    198 => {
                        let b2 = self.pop()?;
                        let a = self.pop()?;
                        let same = self.identical(a, b2)?;
                        self.stack.push(self.boolean(same));
                        self.sends += 1;
                    }
                    199 => {
                        let v = self.pop()?;
                        let c = self.class_of(v)?;
                        self.stack.push(c);
                        self.sends += 1;
                    }
                    187 | 192 | 193 | 194 | 195 | 196 | 197 | 200 | 201 | 202 | 203 | 204 | 205
                    | 206 | 207 => {
                        let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                        send!(sel, nargs, None)
                    }
                    208 | 209 | 210 | 211 | 212 | 213 | 214 | 215 | 216 | 217 | 218 | 219 | 220
                    | 221 | 222 | 223 | 224 | 225 | 226 | 227 | 228 | 229 | 230 | 231 | 232
                    | 233 | 234 | 235 | 236 | 237 | 238 | 239 | 240 | 241 | 242 | 243 | 244
                    | 245 | 246 | 247 | 248 | 249 | 250 | 251 | 252 | 253 | 254 | 255 => {
                        let sel = Self::literal(&m, (b & 15) as usize)?;
                        send!(sel, ((b - 208) >> 4) as usize, None)
                    }
                    126 | 127 | 138 | 139 | 140 | 141 | 142 | 143 => {
                        return Err(RunError::Unimplemented(format!(
                            "bytecode {b} is unused in the V3 set"
                        )))
                    }
                }
            }
        }
    }

    /// Pops a jump condition: true or false, anything else stops the image.
    #[inline(always)]
    fn condition(&mut self) -> Result<bool, RunError> {
        let v = self.pop()?;
        if v == self.sh.true_object {
            Ok(true)
        } else if v == self.sh.false_object {
            Ok(false)
        } else {
            let class = self.class_of(v)?;
            Err(RunError::MustBeBoolean {
                class: self.class_name(class),
            })
        }
    }
}

fn truncated() -> RunError {
    RunError::Malformed("an extended bytecode ran off the end of its method".into())
}

fn bad_jump() -> RunError {
    RunError::Malformed("a jump before the start of its method".into())
}

#[cfg(test)]
mod tests {
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
        for b in [126u8, 127, 138, 139, 140, 141, 142, 143] {
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
}
