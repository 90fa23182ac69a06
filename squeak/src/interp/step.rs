//! The full path: [`Exec::step`], one `match` over the V3 bytecode set and the only complete
//! definition of each bytecode, and the safe points the full path's sends and returns go
//! through (a collection may run there). The dispatch loop (`execute.rs`) runs the common
//! cases faster and leaves everything else here.

use std::rc::Rc;

use super::block_contexts::block_copy_follows;
use super::contexts::TEMPS;
use super::limits::RunError;
use super::method::Method;
use super::primitives::{arithmetic, blocks, comparison};
use super::send::Flow;
use super::special::ASSOCIATION_VALUE;
use super::state::{int, underflow, Exec};
use cowheap::Value;

impl Exec<'_> {
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
        m.literals
            .get(i)
            .copied()
            .ok_or_else(|| no_literal(i, m.literals.len()))
    }

    /// A send from the top frame, whose pc is saved: the safe point, where the image
    /// collects if it wants to (everything the run holds is on its stack or in its frames,
    /// and the caller loads the top frame again unless this answers true: the same frame
    /// goes on, and no collection moved anything).
    pub(super) fn send_at_safe_point(
        &mut self,
        selector: Value,
        nargs: usize,
        lookup_class: Option<Value>,
    ) -> Result<bool, RunError> {
        let incarnation = self.image.incarnation();
        let flow = self.send(selector, nargs, lookup_class)?;
        self.after_send(flow, incarnation)
    }

    /// [`send_at_safe_point`](Exec::send_at_safe_point) for a method the dispatch loop
    /// found in the cache, whose receiver is at `ri`: its primitive, else its code.
    #[inline(never)]
    pub(super) fn invoke_at_safe_point(
        &mut self,
        m: Rc<Method>,
        ri: usize,
    ) -> Result<bool, RunError> {
        self.sends += 1;
        let incarnation = self.image.incarnation();
        let nargs = m.num_args;
        let flow = self.invoke(m, ri, nargs)?;
        self.after_send(flow, incarnation)
    }

    /// Bytecode 200, 201 or 202 (`blockCopy:`, `value`, `value:`) from the top frame, whose
    /// pc is saved: of a context (a BlockContext for the two `value`s) the primitive with no
    /// look-up, as the real VM's bytecodes run it and the dispatch loop does
    /// (`primitives::blocks`), else the special selector's send; either at the safe point,
    /// so that a loop making blocks while the image wants a collection collects.
    pub(super) fn block_bytecode_at_safe_point(&mut self, b: u8) -> Result<bool, RunError> {
        let incarnation = self.image.incarnation();
        let ran = match b {
            200 => blocks::block_copy_bytecode(self)?.then_some(Flow::Same),
            _ => blocks::value_bytecode(self, (b - 201) as usize)?.then_some(Flow::Switched),
        };
        match ran {
            Some(flow) => self.after_send(flow, incarnation),
            None => {
                let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                self.send_at_safe_point(sel, nargs, None)
            }
        }
    }

    /// The safe point after a send: collects if the image wants to, and says whether the
    /// same frame goes on with nothing moved.
    #[inline(always)]
    fn after_send(&mut self, flow: Flow, incarnation: u32) -> Result<bool, RunError> {
        if self.image.wants_collection() && self.may_collect {
            self.collect_garbage()?;
        }
        Ok(matches!(flow, Flow::Same) && self.image.incarnation() == incarnation)
    }

    /// Returns `v` from frame `top` (a block frame returns from its home): answers the run's
    /// value when the bottom frame returned.
    pub(super) fn return_top(&mut self, top: usize, v: Value) -> Result<Option<Value>, RunError> {
        let from = if self.frames[top].block.is_some() {
            self.home_frame(top)?
        } else {
            top
        };
        self.return_from(from, v)
    }

    /// Executes the one bytecode `b` of the top frame, whose saved pc is past its opcode, in
    /// full: the complete definition of
    /// every bytecode, which the inner loop of [`run`](Exec::run) repeats only for the cases
    /// it can run faster. Answers the run's value when the bottom frame returned.
    // The dispatch lists bytecodes one by one on purpose (see the comment at the `match`).
    #[allow(clippy::manual_range_patterns)]
    #[inline(never)]
    pub(super) fn step(&mut self, b: u8) -> Result<Option<Value>, RunError> {
        let top = self.frames.len().checked_sub(1).ok_or_else(underflow)?;
        let (m, mut pc, receiver, ctx, tbase) = {
            let f = &self.frames[top];
            (f.method.clone(), f.pc, f.receiver, f.ctx, f.bp + 1)
        };
        let code = &m.code[..];
        macro_rules! send {
            ($sel:expr, $n:expr, $sup:expr) => {{
                self.frames[top].pc = pc;
                self.send_at_safe_point($sel, $n, $sup)?;
                return Ok(None);
            }};
        }
        macro_rules! ret {
            ($v:expr) => {{
                let v = $v;
                return self.return_top(top, v);
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
                            self.frames[top].pc = pc;
                            return Ok(None);
                        }
                    }
                }
                let (sel, nargs) = self.sh.special_selectors[$i];
                send!(sel, nargs, None)
            }};
        }
        match b {
            0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 => {
                let v = self.image.read(receiver, b as usize)?;
                self.stack.push(v);
            }
            16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30 | 31 => {
                let v = self.temp(ctx, tbase, (b & 15) as usize)?;
                self.stack.push(v);
            }
            32 | 33 | 34 | 35 | 36 | 37 | 38 | 39 | 40 | 41 | 42 | 43 | 44 | 45 | 46 | 47 | 48
            | 49 | 50 | 51 | 52 | 53 | 54 | 55 | 56 | 57 | 58 | 59 | 60 | 61 | 62 | 63 => {
                self.stack.push(Self::literal(&m, (b & 31) as usize)?)
            }
            64 | 65 | 66 | 67 | 68 | 69 | 70 | 71 | 72 | 73 | 74 | 75 | 76 | 77 | 78 | 79 | 80
            | 81 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 89 | 90 | 91 | 92 | 93 | 94 | 95 => {
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
                return self.return_from(top, v);
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
                let c = self.this_context(top, !block_copy_follows(code, pc))?;
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
            // As in the dispatch loop: a context's `blockCopy:` and a BlockContext's `value`
            // and `value:` with no look-up.
            200 | 201 | 202 => {
                self.frames[top].pc = pc;
                self.block_bytecode_at_safe_point(b)?;
                return Ok(None);
            }
            187 | 192 | 193 | 194 | 195 | 196 | 197 | 203 | 204 | 205 | 206 | 207 => {
                let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                send!(sel, nargs, None)
            }
            208 | 209 | 210 | 211 | 212 | 213 | 214 | 215 | 216 | 217 | 218 | 219 | 220 | 221
            | 222 | 223 | 224 | 225 | 226 | 227 | 228 | 229 | 230 | 231 | 232 | 233 | 234 | 235
            | 236 | 237 | 238 | 239 | 240 | 241 | 242 | 243 | 244 | 245 | 246 | 247 | 248 | 249
            | 250 | 251 | 252 | 253 | 254 | 255 => {
                let sel = Self::literal(&m, (b & 15) as usize)?;
                send!(sel, ((b - 208) >> 4) as usize, None)
            }
            138 | 140 | 141 | 142 | 143 if self.sh.block_closure.is_none() => {
                return Err(RunError::Unimplemented(format!(
                    "bytecode {b} is a closure bytecode, unused in the V3 set of this image"
                )))
            }
            138 => {
                let ext = *code.get(pc).ok_or_else(truncated)?;
                pc += 1;
                self.push_new_array((ext & 127) as usize, ext > 127)?;
            }
            140 | 141 | 142 => {
                // Element `i` of the temp vector in temporary `t`.
                let (i, t) = (
                    *code.get(pc).ok_or_else(truncated)? as usize,
                    *code.get(pc + 1).ok_or_else(truncated)? as usize,
                );
                pc += 2;
                let vector = self.temp(ctx, tbase, t)?;
                if b == 140 {
                    let v = self.image.read(vector, i)?;
                    self.stack.push(v);
                } else {
                    let v = if b == 141 { self.top()? } else { self.pop()? };
                    self.store(vector, i, v)?;
                }
            }
            143 => {
                let (counts, high, low) = (
                    *code.get(pc).ok_or_else(truncated)?,
                    *code.get(pc + 1).ok_or_else(truncated)? as usize,
                    *code.get(pc + 2).ok_or_else(truncated)? as usize,
                );
                pc += 3;
                self.frames[top].pc = pc;
                let (nargs, ncopied) = ((counts & 15) as usize, (counts >> 4) as usize);
                self.push_closure(top, nargs, ncopied, pc)?;
                pc += (high << 8) | low;
            }
            139 => {
                return Err(RunError::Unimplemented(
                    "bytecode 139 (callPrimitive) is not supported".into(),
                ))
            }
            126 | 127 => {
                return Err(RunError::Unimplemented(format!(
                    "bytecode {b} is unused in the V3 set"
                )))
            }
        }
        self.frames[top].pc = pc;
        Ok(None)
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

#[cold]
#[inline(never)]
fn no_literal(i: usize, len: usize) -> RunError {
    RunError::Malformed(format!("literal {i} of a method with {len}"))
}

#[cold]
#[inline(never)]
fn truncated() -> RunError {
    RunError::Malformed("an extended bytecode ran off the end of its method".into())
}

#[cold]
#[inline(never)]
fn bad_jump() -> RunError {
    RunError::Malformed("a jump before the start of its method".into())
}
