//! The dispatch loop, with native frames on a Rust stack (see `state.rs`), and the entry
//! points that start a run. Two levels: `Exec::dispatch`, [`Exec::run`]'s inner loop, keeps
//! the top frame and the operand stack in locals and runs the common cases (pushes, jumps, SmallInteger
//! arithmetic, cached sends and simple returns, `at:`/`at:put:`/`size`/`value` through the
//! primitive families' stack-free functions); everything else goes to `step` (`step.rs`), one
//! `match` over the V3 bytecode set and the only complete definition of each bytecode. The top of the
//! interpreter's layers: it calls the sends (`send.rs`), the contexts (`thisContext`), and the
//! primitive table's functions; nothing below calls it.

use std::rc::Rc;

use super::block_contexts::block_copy_follows;
use super::contexts::TEMPS;
use super::heap::Heap;
use super::limits::RunError;
use super::lookup::{AT_PUT_SEND, AT_SEND, SIZE_SEND};
use super::method::Method;
use super::primitives::control::{quick_kind, Quick};
use super::primitives::{self, arithmetic, blocks, float, indexing, objects};
use super::send::{frame_of, Flow};
use super::special::ASSOCIATION_VALUE;
use super::state::{int, underflow, Exec, Frame};
use cowheap::Value;

/// The top frame as the dispatch loop keeps it in locals.
struct Top {
    pc: usize,
    receiver: Value,
    ctx: Option<Value>,
    /// Stack index of the first temporary.
    tbase: usize,
    /// Its index in the frames.
    top: usize,
}

/// Why the dispatch loop's innermost loop stopped: a send, a bytecode whose fast case calls,
/// a frame switch, or the way out.
enum Switch {
    /// The bytecode (the first) sends this selector with this many arguments, whose operands
    /// take this many bytes after the opcode: the cache's lookup, a quick return or a frame's
    /// activation, at the outer level.
    Send(u8, Value, usize, usize),
    /// The bytecode's fast case needs a call (a field or a temporary where no token answers,
    /// a store into an object, a literal variable, `/`): run at the outer level, its pc not
    /// moved yet, so that no call constrains the innermost loop's registers.
    Call(u8),
    /// `value` or `value:` (bytecode 201 or 202): a BlockContext's entry, else the send.
    Value(u8),
    /// `blockCopy:` (bytecode 200): a context's new block, else the send.
    BlockCopy,
    /// The top frame (a method's, without a context, not the bottom one) returns this.
    Return(Value),
    /// The top frame returns this to its caller (bytecode 125, a block's last value).
    BlockReturn(Value),
    /// Leave the dispatch loop.
    Out(Exit),
}

/// What the dispatch loop does after the full path ran a bytecode.
enum Next {
    /// Goes on in the same frame, whose state it kept.
    Same,
    /// Loads the top frame again.
    Reload,
    /// The bottom frame returned this.
    Done(Value),
}

/// Why the dispatch loop's inner loop stopped.
enum Exit {
    /// Run this method's primitive (and its fallback code if it fails), for the receiver at
    /// this stack index.
    Primitive(Rc<Method>, usize),
    /// The limits are due for a look (a frame switched, or a jump went back).
    Check,
    /// A check failed.
    Error(RunError),
    /// The top frame returns this value in full: a `^` (from a block, from its home) if
    /// true, else a block's last value to its caller (bytecode 125).
    ReturnFull(Value, bool),
    /// A primitive pushed a frame: load the top frame.
    Reload,
    /// The full path runs this bytecode.
    Slow(u8),
    /// The pc ran off the end of the method.
    End,
    /// The image's timer is due (the pc is back before the bytecode not yet run): signal its
    /// semaphore, which may switch processes.
    Timer,
}

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

    /// Executes bytecodes until the bottom frame returns.
    ///
    /// Three levels. [`dispatch`](Exec::dispatch) keeps the top frame's state and the
    /// operand stack in locals and runs what needs nothing else: pushes and stores of stack
    /// temporaries, jumps on true and false, SmallInteger arithmetic that stays in 31 bits,
    /// the heap's call-free reads ([`Image::read_fast`]), and the common sends and returns:
    /// a send whose method the cache holds and that has no primitive but a quick return (or
    /// `at:`, `at:put:`, `size`, a block's `value`) pushes its frame there and then, and a
    /// method frame without a context returns to its sender. Its innermost loop runs one
    /// frame; a frame switch happens after it, in the same function. Anything else, and any
    /// of those whose fast case does not hold (an underflow, a value to follow, a
    /// non-Boolean, an overflow, a cache miss), leaves it for this loop, with the pc saved
    /// past the opcode: the full send or return, or [`step`], which executes one bytecode as
    /// the only complete definition of every bytecode. Then the top frame is loaded again.
    ///
    /// [`step`]: Exec::step
    /// [`Image::read_fast`]: cowheap::Image::read_fast
    // The dispatch lists bytecodes one by one on purpose (see the comment at the `match`).
    #[allow(clippy::manual_range_patterns)]
    pub(crate) fn run(&mut self) -> Result<Value, RunError> {
        let mut cur = self.load_top()?;
        loop {
            // The limits are looked at here, where the inner loop left (the full path), where
            // it switched frames (a send, a return), and at the backward jumps inside it, not
            // at every bytecode. Why that stops every run that passes a limit, within a
            // method's length of it: between two looks the pc only grows (every bytecode
            // moves it on, and only the long jumps 160-163 can move it back, and they look),
            // in one frame, so the inner loop runs at most as many bytecodes as its method
            // has before it looks or leaves; every way out of it comes back here.
            let exit = if self.bytecodes > self.next_check && {
                self.checkpoint()?;
                self.timer_due
            } {
                Exit::Timer
            } else {
                self.dispatch(&mut cur)
            };
            match exit {
                // The loop top looks at the limits.
                Exit::Check => {}
                Exit::Error(e) => return Err(e),
                Exit::ReturnFull(v, home) => {
                    let done = if home {
                        self.return_top(cur.top, v)?
                    } else {
                        self.return_from(cur.top, v)?
                    };
                    if let Some(v) = done {
                        return Ok(v);
                    }
                    cur = self.load_top()?;
                }
                Exit::Reload => {
                    if let Some(f) = self.frames.get_mut(cur.top) {
                        f.pc = cur.pc;
                    }
                    cur = self.load_top()?;
                }
                Exit::Primitive(m, ri) => {
                    self.frames[cur.top].pc = cur.pc;
                    if !self.invoke_at_safe_point(m, ri)? {
                        cur = self.load_top()?;
                    }
                }
                Exit::End => {
                    let len = self.frames.get(cur.top).map_or(0, |f| f.method.code.len());
                    return Err(ran_off(cur.pc, len));
                }
                Exit::Timer => {
                    self.frames[cur.top].pc = cur.pc;
                    self.fire_timer(true)?;
                    cur = self.load_top()?;
                }
                Exit::Slow(b) => {
                    self.make_room()?;
                    self.frames[cur.top].pc = cur.pc;
                    match self.slow(b, &cur)? {
                        Next::Same => {}
                        Next::Reload => cur = self.load_top()?,
                        Next::Done(v) => return Ok(v),
                    }
                }
            }
        }
    }

    /// The dispatch loop of [`run`](Exec::run), in a function of its own so that the
    /// registers go to it and not to what `run` does on the way out. Runs the top frame `cur`
    /// and the frames it pushes and returns to, with the operand stack in a local (its length
    /// in a register), until a bytecode needs what it does not do; saves the frame's state
    /// in `cur` (the pc not in the frame), the stack in `self`, and says why it stopped.
    ///
    /// Two loops: the innermost runs one frame, with nothing of a frame switch in it, and
    /// leaves to switch frames (a send, a return, a block's entry) in the outer one. Measured
    /// (callgrind, instructions per bytecode, 27 benchFib): 46.6 with the switches inside the
    /// one loop, 44.2 apart; the register allocation of the innermost loop is what differs.
    ///
    /// For the same reason the innermost loop calls no function: a send (the cache's lookup,
    /// a quick return, `at:`, a block's `value`, an activation) and every bytecode whose fast
    /// case calls (`Switch::Call`: a field where no token answers, a store into an object, a
    /// literal variable, an extended push, `/`) run at the outer level, which then goes on
    /// in the innermost loop without a look at the limits (as before, where they ran
    /// inside it). The hits of the receiver's two tokens and of the context's token (a read,
    /// and a store into a temporary: a block loop's turn 361 -> 312 instructions), and a
    /// store into a temporary without a context, stay in it: they call nothing.
    /// The register allocator then keeps the count and the code in registers, which around
    /// the calls it had kept in stack slots. Measured (callgrind, instructions per bytecode,
    /// `speed4.sh`: 27 benchFib / 1 benchmark / 200000 asOrderedCollection / 100 factorial
    /// printString): 40.4 / 31.9 / 51.9 / 49.1 with the calls inside, 38.7 / 30.5 / 50.2 /
    /// 48.1 out. Left out of it first with the token hits and the extended store at the
    /// outer level too, it lost on the last two (53.2 / 51.1: each of those goes back in
    /// through the frame's head, some 14 instructions, plus the second dispatch), and with
    /// the outer level in a loop of its own that kept the code and literals (no head), the
    /// allocation moved and all four lost (41.2 / 30.0 / 53.4 / 51.7).
    ///
    /// The loop reads the method's own bytes. A pre-decoded copy in which a temporary's push
    /// followed by `+`, `-` or a comparison is marked, so that the pair runs in one arm with
    /// no look ahead at run time, lost on all four (BENCHMARKS.md, run S28): 16-bit words
    /// alone, no pair, cost 40.4 / 29.6 / 48.0 / 48.0 against 37.7 / 27.2 / 45.7 / 45.1 (the
    /// load, the mask and a head that spilled the code and the pc), the pair's arm over them
    /// more; a one-byte mark must fetch the push's own byte through the frame, which then
    /// stays live across the loop. A form decided ahead wants this loop split first.
    // The dispatch lists bytecodes one by one on purpose (see the comment at the `match`).
    #[allow(clippy::manual_range_patterns)]
    #[inline(never)]
    fn dispatch(&mut self, cur: &mut Top) -> Exit {
        let mut stack = std::mem::take(&mut self.stack);
        // The frames too, so that the top frame's method (what `code` borrows)
        // needs no handle of its own: a send + return counts the method's references once
        // each way (the new frame's), not three times. Only a block's entry, which pushes
        // its frame itself, gives them back to `self` for the call.
        let mut frames = std::mem::take(&mut self.frames);
        let (mut receiver, mut ctx, mut tbase) = (cur.receiver, cur.ctx, cur.tbase);
        // The first temporary's stack index where the frame has no context, else an index
        // past any stack: one bounds check then also says "no context" (`temps_at`).
        let mut tfast = temps_at(ctx, tbase);
        // The frame's state is kept in these locals, and written back to `cur` on the way
        // out; `cur` holds the method (what `code` borrows).
        let mut top = cur.top;
        let (true_object, false_object) = (self.sh.true_object, self.sh.false_object);
        let mut pc = cur.pc;
        // The count of bytecodes, in a local while the loop runs (written back on the way
        // out): nothing the loop calls reads `self.bytecodes` (`charge`, which does, is
        // called only by primitives the full path runs), and the limits look at this one.
        let mut count = self.bytecodes;
        let exit = 'frame: loop {
            let Some(f) = frames.get(top) else {
                break 'frame Exit::Reload;
            };
            // The literals are read through the frame where a bytecode needs one, not kept
            // beside the code: one value fewer live across the innermost loop (dispatch-only
            // instructions -0.9% on 27 benchFib, -0.4% on OC; CPU time unchanged).
            let code = &f.method.code[..];
            let switch = 'dispatch: loop {
                let Some(&b) = code.get(pc) else {
                    break 'dispatch Switch::Out(Exit::End);
                };

                count += 1;
                // Leaves the loop with the bytecode `b` for the full path.
                macro_rules! slow {
                    () => {{
                        pc += 1;
                        break 'dispatch Switch::Out(Exit::Slow(b));
                    }};
                }
                // A push within the stack's capacity (growing it is the full path's).
                macro_rules! push {
                    ($v:expr) => {{
                        if stack.len() == stack.capacity() {
                            slow!()
                        }
                        stack.push($v)
                    }};
                }
                // Runs the bytecode at the outer level (`Switch::Call`), its pc not moved.
                macro_rules! call {
                    () => {
                        break 'dispatch Switch::Call(b)
                    };
                }
                // Stores `$v` into temporary `$i` of the frame's context, where the frame has
                // one, through the context's token; the rest (a call) at the outer level, in
                // `ctx_store`.
                macro_rules! ctx_store {
                    ($v:expr, $i:expr) => {{
                        let Some(c) = ctx else { slow!() };
                        let v = $v;
                        match self.ctx_token {
                            Some((k, t))
                                if k == c
                                    && self.pool.ignores(v)
                                    && self.cache.unwatched_ctx.holds(c)
                                    && self.image.write_token(&t, TEMPS + $i, v) => {}
                            _ => call!(),
                        }
                    }};
                }
                let v: Value = 'ret: {
                    let (sel, nargs, len): (Value, usize, usize) = 'send: {
                        // The stack's length and its top two values as SmallIntegers (the
                        // receiver first); any other operands are the special selector's send.
                        macro_rules! small_ints {
                            () => {{
                                let n = stack.len();
                                let (Some(a), Some(c)) = (
                                    stack.get(n.wrapping_sub(2)).and_then(|v| v.as_small_int()),
                                    stack.get(n.wrapping_sub(1)).and_then(|v| v.as_small_int()),
                                ) else {
                                    special!()
                                };
                                (n, a, c)
                            }};
                        }
                        macro_rules! arith {
                            ($op:expr) => {{
                                let (_, a, c) = small_ints!();
                                let Some(r) = $op(self.sh, a, c) else {
                                    special!()
                                };
                                stack.pop();
                                if let Some(slot) = stack.last_mut() {
                                    *slot = r;
                                }
                                self.sends += 1;
                            }};
                        }
                        // `+` of two SmallIntegers, with the store-pop into a temporary of a
                        // frame without a context (104-111) that mostly follows one in a
                        // loop's step (`i := i + 1`) run in the same arm, counted but not
                        // dispatched, as the jump after a comparison below: nothing runs
                        // between the two bytecodes that could see the difference.
                        macro_rules! add_then_store {
                            () => {{
                                let (n, a, c) = small_ints!();
                                let Some(r) = arithmetic::add(self.sh, a, c) else {
                                    special!()
                                };
                                self.sends += 1;
                                store_sum!(r, n - 2);
                            }};
                        }
                        // The sum `$r` of the `+` at `pc` in place of its two operands, the
                        // stack `$below` long without them: into a temporary where the
                        // store-pop follows (the store's own check, `i >= last`, holds),
                        // else on the stack.
                        macro_rules! store_sum {
                            ($r:expr, $below:expr) => {{
                                let (r, below) = ($r, $below);
                                let next = code.get(pc + 1).map_or(0, |&j| j);
                                let i = tfast + (next & 7) as usize;
                                if next & 0xf8 == 104 && i < below {
                                    stack[i] = r;
                                    stack.truncate(below);
                                    count += 1;
                                    pc += 1;
                                } else {
                                    stack.truncate(below + 1);
                                    if let Some(slot) = stack.last_mut() {
                                        *slot = r;
                                    }
                                }
                            }};
                        }
                        // A comparison of two SmallIntegers (`$test` on them), with the
                        // conditional jump that mostly follows one (`ifTrue:`, `whileTrue:`,
                        // `to:do:`) run in the same arm, as the real VM's interpreter does: the
                        // Boolean is never pushed and popped, and the jump is counted but not
                        // dispatched. Nothing runs between the two bytecodes that could see
                        // the difference (no send, no look at the limits or the timer).
                        macro_rules! compare {
                            ($test:expr) => {{
                                let (n, a, c) = small_ints!();
                                let yes: bool = $test(a, c);
                                self.sends += 1;
                                branch!(yes, n - 2);
                            }};
                        }
                        // The answer `$yes` of the comparison at `pc` in place of its two
                        // operands, the stack `$below` long without them: the conditional
                        // jump that follows taken or not, else the Boolean on the stack.
                        macro_rules! branch {
                            ($yes:expr, $below:expr) => {{
                                let (yes, below) = ($yes, $below);
                                let next = code.get(pc + 1).map_or(0, |&j| j);
                                if next.wrapping_sub(152) < 8 {
                                    // Jump if false, short.
                                    stack.truncate(below);
                                    count += 1;
                                    pc += 1;
                                    if !yes {
                                        pc += (next - 151) as usize;
                                    }
                                } else if let (true, Some(&ext)) =
                                    (next.wrapping_sub(168) < 8, code.get(pc + 2))
                                {
                                    // Jump if true (168-171) or if false (172-175), long.
                                    stack.truncate(below);
                                    count += 1;
                                    pc += 2;
                                    if yes == (next < 172) {
                                        pc += (next as usize & 3) * 256 + ext as usize;
                                    }
                                } else {
                                    stack.truncate(below + 1);
                                    if let Some(slot) = stack.last_mut() {
                                        *slot = if yes { true_object } else { false_object };
                                    }
                                }
                            }};
                        }
                        // A send of `$sel` with `$nargs` arguments, whose operands (`$len` bytes)
                        // follow the opcode, at the outer level (`Switch::Send`): a cached
                        // method without a primitive is activated, a quick return answers
                        // there; anything else is the full path's.
                        macro_rules! send {
                            ($sel:expr, $nargs:expr, $len:expr) => {
                                break 'send ($sel, $nargs, $len)
                            };
                        }
                        // A special selector whose SmallInteger case did not hold is a send.
                        macro_rules! special {
                            () => {{
                                let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                                send!(sel, nargs, 0)
                            }};
                        }
                        // A return from a method frame without a context, above the bottom one: what
                        // `return_from` does in that case (pop the frame, tell the context pool, drop
                        // its stack, push the answer). A `^` in a closure's frame (which has no context
                        // until it needs one) returns from the closure's home: the full path.
                        macro_rules! ret {
                            ($v:expr) => {
                                break 'ret $v
                            };
                        }
                        // Each arm lists its bytecodes one by one instead of as a range: rustc
                        // lowers range patterns to a tree of comparisons, but a list of constants
                        // to one jump table (30 benchFib: about 70 -> 105 M bytecodes/s).
                        match b {
                            0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 => {
                                // The receiver is read from its frame here, not kept: the
                                // compiler would otherwise compute the heap's checks on it
                                // ahead, at every frame switch.
                                // Through the token of the last receiver stored into, where
                                // this is that receiver (an object whose fields a method
                                // both reads and writes).
                                let v = match self.receiver_token {
                                    Some((r, t)) if r == receiver => {
                                        self.image.read_token(&t, b as usize)
                                    }
                                    _ => None,
                                };
                                // Else through the token of the receiver before (a method that
                                // reads the fields of two objects in turn), left where it is: a
                                // loop that alternates between the two then hits each in its
                                // own slot, where moving the one read to the first slot cost
                                // two swaps of both tokens a turn (OC: 30 instructions each).
                                // The rest (a call) at the outer level.
                                let v = match (v, self.receiver_token_before) {
                                    (Some(v), _) => Some(v),
                                    (None, Some((r, t))) if r == receiver => {
                                        self.image.read_token(&t, b as usize)
                                    }
                                    _ => None,
                                };
                                match v {
                                    Some(v) => push!(v),
                                    None => call!(),
                                }
                            }
                            16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29
                            | 30 | 31 => {
                                let i = (b & 15) as usize;
                                match (stack.get(tfast + i), ctx) {
                                    (Some(&v), _) => push!(v),
                                    (None, None) => slow!(),
                                    // The token's hit here, as `ctx_temp`'s; the rest (a
                                    // call) at the outer level.
                                    (None, Some(c)) => match self.ctx_token {
                                        Some((k, t)) if k == c => {
                                            match self.image.read_token(&t, TEMPS + i) {
                                                Some(v) => push!(v),
                                                None => call!(),
                                            }
                                        }
                                        _ => call!(),
                                    },
                                }
                            }
                            32 | 33 | 34 | 35 | 36 | 37 | 38 | 39 | 40 | 41 | 42 | 43 | 44 | 45
                            | 46 | 47 | 48 | 49 | 50 | 51 | 52 | 53 | 54 | 55 | 56 | 57 | 58
                            | 59 | 60 | 61 | 62 | 63 => {
                                match f.method.literals.get((b & 31) as usize) {
                                    Some(&v) => push!(v),
                                    None => slow!(),
                                }
                            }
                            64 | 65 | 66 | 67 | 68 | 69 | 70 | 71 | 72 | 73 | 74 | 75 | 76 | 77
                            | 78 | 79 | 80 | 81 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 89 | 90
                            | 91 | 92 | 93 | 94 | 95 | 128 | 185 => call!(),
                            129 | 130 => {
                                // Extended store (129) or pop and store (130) into a
                                // temporary; into anything else (a call) at the outer level.
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                if ext >> 6 != 1 {
                                    call!()
                                }
                                let i = tfast + (ext & 63) as usize;
                                let n = stack.len();
                                let Some(&v) = stack.last() else { slow!() };
                                if i + 1 >= n {
                                    ctx_store!(v, (ext & 63) as usize);
                                } else {
                                    stack[i] = v;
                                }
                                if b == 130 {
                                    stack.pop();
                                }
                                pc += 1;
                            }
                            96 | 97 | 98 | 99 | 100 | 101 | 102 | 103 => call!(),
                            104 | 105 | 106 | 107 | 108 | 109 | 110 | 111 => {
                                // The value's index first: the temporary's below it is
                                // then in range with one look.
                                let i = tfast + (b & 7) as usize;
                                let Some(last) = stack.len().checked_sub(1) else {
                                    slow!()
                                };
                                if i >= last {
                                    ctx_store!(stack[last], (b & 7) as usize);
                                } else {
                                    stack[i] = stack[last];
                                }
                                stack.truncate(last);
                            }
                            112 => push!(receiver),
                            113 => push!(true_object),
                            114 => push!(false_object),
                            115 => push!(self.sh.nil),
                            116 | 117 | 118 | 119 => {
                                // A small constant and the `+`, `-` or comparison that mostly
                                // follows it (`n - 1`, `i + 1`, `n < 2`), where the stack's top
                                // is a SmallInteger, in one arm: the constant never pushed,
                                // the operation counted but not dispatched, as the jump after
                                // a comparison. Nothing runs between the two bytecodes that
                                // could see the difference.
                                let c = b as i64 - 117;
                                let op = code.get(pc + 1).map_or(0, |&j| j);
                                let n = stack.len();
                                let a = match stack.last() {
                                    Some(v) if op.wrapping_sub(176) < 6 => v.as_small_int(),
                                    _ => None,
                                };
                                // For a comparison `r` only says that both operands are
                                // SmallIntegers (any `Some`): its answer is `branch!`'s.
                                let r = match (a, op) {
                                    (Some(a), 176) => arithmetic::add(self.sh, a, c),
                                    (Some(a), 177) => arithmetic::subtract(self.sh, a, c),
                                    (a, _) => a.map(|_| false_object),
                                };
                                match (a, r) {
                                    (Some(a), Some(r)) => {
                                        self.sends += 1;
                                        count += 1;
                                        pc += 1;
                                        match op {
                                            176 => store_sum!(r, n - 1),
                                            177 => stack[n - 1] = r,
                                            178 => branch!(a < c, n - 1),
                                            179 => branch!(a > c, n - 1),
                                            180 => branch!(a <= c, n - 1),
                                            _ => branch!(a >= c, n - 1),
                                        }
                                    }
                                    _ => push!(int(c)),
                                }
                            }
                            120 => ret!(receiver),
                            121 => ret!(true_object),
                            122 => ret!(false_object),
                            123 => ret!(self.sh.nil),
                            124 => match stack.last() {
                                Some(&v) => ret!(v),
                                None => slow!(),
                            },
                            135 => {
                                if stack.pop().is_none() {
                                    slow!()
                                }
                            }
                            136 => match stack.last() {
                                Some(&v) => push!(v),
                                None => slow!(),
                            },
                            144 | 145 | 146 | 147 | 148 | 149 | 150 | 151 => {
                                pc += (b - 143) as usize
                            }
                            152 | 153 | 154 | 155 | 156 | 157 | 158 | 159 => {
                                match stack.last() {
                                    Some(&v) if v == false_object => pc += (b - 151) as usize,
                                    Some(&v) if v == true_object => {}
                                    _ => slow!(),
                                }
                                stack.pop();
                            }
                            160 | 161 | 162 | 163 | 164 | 165 | 166 | 167 => {
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                let target =
                                    (pc + 2 + ext as usize) as i64 + (b as i64 - 164) * 256;
                                let Ok(target) = usize::try_from(target) else {
                                    slow!()
                                };
                                pc = target;
                                if b < 164 && count > self.next_check {
                                    // A jump back: where a loop inside the method looks (in `run`).
                                    break 'dispatch Switch::Out(Exit::Check);
                                }
                                continue 'dispatch;
                            }
                            168 | 169 | 170 | 171 | 172 | 173 | 174 | 175 => {
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                let when = match stack.last() {
                                    Some(&v) if v == true_object => true,
                                    Some(&v) if v == false_object => false,
                                    _ => slow!(),
                                };
                                stack.pop();
                                pc += 2;
                                if when == (b < 172) {
                                    pc += (b as usize & 3) * 256 + ext as usize;
                                }
                                continue 'dispatch;
                            }
                            176 => add_then_store!(),
                            177 => arith!(arithmetic::subtract),
                            178 => compare!(|a, c| a < c),
                            179 => compare!(|a, c| a > c),
                            180 => compare!(|a, c| a <= c),
                            181 => compare!(|a, c| a >= c),
                            182 => compare!(|a, c| a == c),
                            183 => compare!(|a, c| a != c),
                            184 => arith!(arithmetic::multiply),
                            186 => arith!(arithmetic::modulo),
                            188 => arith!(arithmetic::bit_shift),
                            189 => arith!(arithmetic::floor_divide),
                            190 => arith!(arithmetic::bit_and),
                            191 => arith!(arithmetic::bit_or),
                            // at:, at:put:, size: what the `at:` cache says the send
                            // answers, without the send (`MethodCache::send_at`); else the
                            // send.
                            192 => {
                                let n = stack.len();
                                let (Some(&rcvr), Some(&index)) =
                                    (stack.get(n.wrapping_sub(2)), stack.get(n.wrapping_sub(1)))
                                else {
                                    special!()
                                };
                                let Some(v) = self.cache.send_at(self.image, rcvr, index) else {
                                    special!()
                                };
                                stack.pop();
                                if let Some(slot) = stack.last_mut() {
                                    *slot = v;
                                }
                                self.sends += 1;
                            }
                            193 => {
                                let n = stack.len();
                                // One look at the length for the three (three `get`s made
                                // three).
                                let [.., rcvr, index, v] = stack[..] else {
                                    special!()
                                };
                                if !(self.pool.ignores(v)
                                    && self.cache.send_at_put(self.image, rcvr, index, v))
                                {
                                    special!()
                                }
                                self.sends += 1;
                                // The pop that mostly follows (a statement's value
                                // dropped) runs here, counted but not dispatched, as a
                                // jump after a comparison: nothing runs between the two.
                                let pop = (code.get(pc + 1) == Some(&135)) as usize;
                                stack.truncate(n - 2 - pop);
                                count += pop as u64;
                                pc += pop;
                                if pop == 0 {
                                    if let Some(slot) = stack.last_mut() {
                                        *slot = v;
                                    }
                                }
                            }
                            194 => {
                                let Some(v) = stack.last().and_then(|&r| self.cache.send_size(r))
                                else {
                                    special!()
                                };
                                if let Some(slot) = stack.last_mut() {
                                    *slot = v;
                                }
                                self.sends += 1;
                            }
                            201 | 202 => break 'dispatch Switch::Value(b),
                            200 => break 'dispatch Switch::BlockCopy,
                            187 | 195 | 196 | 197 | 203 | 204 | 205 | 206 | 207 => special!(),
                            198 => {
                                // ==: where the two references tell alone (equal ones are one
                                // object; two that each read as themselves are two, as in a
                                // Dictionary's scan of its keys); else the full path's.
                                let n = stack.len();
                                let (Some(&x), Some(&y)) =
                                    (stack.get(n.wrapping_sub(2)), stack.get(n.wrapping_sub(1)))
                                else {
                                    slow!()
                                };
                                let Some(same) = self.image.identical_fast(x, y) else {
                                    slow!()
                                };
                                stack.pop();
                                if let Some(slot) = stack.last_mut() {
                                    *slot = if same { true_object } else { false_object };
                                }
                                self.sends += 1;
                            }
                            131 | 134 => {
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                let (i, nargs) = if b == 131 {
                                    (ext & 31, ext >> 5)
                                } else {
                                    (ext & 63, ext >> 6)
                                };
                                let Some(&sel) = f.method.literals.get(i as usize) else {
                                    slow!()
                                };
                                send!(sel, nargs as usize, 1)
                            }
                            208 | 209 | 210 | 211 | 212 | 213 | 214 | 215 | 216 | 217 | 218
                            | 219 | 220 | 221 | 222 | 223 | 224 | 225 | 226 | 227 | 228 | 229
                            | 230 | 231 | 232 | 233 | 234 | 235 | 236 | 237 | 238 | 239 | 240
                            | 241 | 242 | 243 | 244 | 245 | 246 | 247 | 248 | 249 | 250 | 251
                            | 252 | 253 | 254 | 255 => {
                                let Some(&sel) = f.method.literals.get((b & 15) as usize) else {
                                    slow!()
                                };
                                send!(sel, ((b - 208) >> 4) as usize, 0)
                            }
                            125 => match stack.last() {
                                Some(&v) => {
                                    pc += 1;
                                    break 'dispatch Switch::BlockReturn(v);
                                }
                                None => slow!(),
                            },
                            137 | 199 => call!(),
                            126 | 127 | 132 | 133 | 138 | 139 | 140 | 141 | 142 | 143 => {
                                slow!()
                            }
                        }
                        pc += 1;
                        continue 'dispatch;
                    };
                    break 'dispatch Switch::Send(b, sel, nargs, len);
                };
                pc += 1;
                if top == 0 {
                    break 'dispatch Switch::Out(Exit::ReturnFull(v, true));
                }
                break 'dispatch Switch::Return(v);
            };
            // The frame now on top into the loop's locals.
            macro_rules! load_top {
                () => {
                    if let Some(f) = frames.last() {
                        (pc, receiver, ctx, tbase) = (f.pc, f.receiver, f.ctx, f.bp + 1);
                        tfast = temps_at(ctx, tbase);
                        top = frames.len() - 1;
                    } else {
                        break 'frame Exit::Reload;
                    }
                };
            }
            // A return's answer `v` in place of the frame's receiver and arguments (from
            // `bp`), then its caller's state.
            macro_rules! return_to {
                ($bp:expr, $v:expr) => {
                    stack.truncate($bp);
                    if stack.len() < stack.capacity() {
                        stack.push($v);
                    }
                    load_top!();
                };
            }
            // A frame switch is one of the places the limits are looked at, as a backward
            // jump is.
            macro_rules! switched {
                () => {{
                    if count > self.next_check {
                        break 'frame Exit::Check;
                    }
                    continue 'frame;
                }};
            }
            // A BlockContext's entry (primitive 81), its frame pushed above this one (whose pc
            // goes past the send first).
            macro_rules! enter_block {
                ($class:expr, $rcvr:expr, $ri:expr, $nargs:expr, $len:expr) => {{
                    if let Some(f) = frames.get_mut(top) {
                        f.pc = pc + 1 + $len;
                    }
                    match blocks::enter(self, &mut frames, $class, $rcvr, $ri, $nargs) {
                        Ok(true) => {
                            self.sends += 1;
                            load_top!();
                            switched!()
                        }
                        Ok(false) => slow!(),
                        Err(e) => {
                            pc += 1;
                            break 'frame Exit::Error(e);
                        }
                    }
                }};
            }
            // A one-argument send's answer `v`, made here, in place of its receiver and
            // argument; the frame goes on past the opcode.
            macro_rules! answered {
                ($v:expr) => {{
                    stack.pop();
                    if let Some(slot) = stack.last_mut() {
                        *slot = $v;
                    }
                    self.sends += 1;
                    pc += 1;
                    continue 'frame;
                }};
            }
            // A frame switch, a bytecode that calls, a send, or the way out.
            let (b, sel, nargs, len) = 'sw: {
                match switch {
                    Switch::Out(exit) => break 'frame exit,
                    Switch::Send(b, sel, nargs, len) => (b, sel, nargs, len),
                    // `value` and `value:` (bytecodes 201, 202) of a BlockContext run
                    // primitive 81 with no look-up, as the real VM's bytecodes do
                    // (`bytecodePrimValue`): its method is never asked for. Anything else is
                    // the special selector's send.
                    Switch::Value(b) => {
                        let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                        if let Some(ri) = stack.len().checked_sub(nargs + 1) {
                            let rcvr = stack[ri];
                            let class = self.sh.block_context;
                            if rcvr.is_object() && self.image.class_fast(rcvr) == Some(class) {
                                macro_rules! slow {
                                    () => {{
                                        pc += 1;
                                        break 'frame Exit::Slow(b);
                                    }};
                                }
                                enter_block!(class, rcvr, ri, nargs, 0)
                            }
                        }
                        (b, sel, nargs, 0)
                    }
                    // `blockCopy:` (bytecode 200) of a MethodContext or a BlockContext runs
                    // primitive 80 with no look-up, as the real VM's bytecode does
                    // (`bytecodePrimBlockCopy`); anything else, or where the loop does not
                    // make the block, is the special selector's send.
                    Switch::BlockCopy => {
                        let (sel, nargs) = self.sh.special_selectors[200 - 176];
                        if let [.., rcvr, arg] = stack[..] {
                            let class = match rcvr.is_object() {
                                true => self.image.class_fast(rcvr),
                                false => None,
                            };
                            if let Some(class) = class.filter(|&c| {
                                c == self.sh.method_context || c == self.sh.block_context
                            }) {
                                let made =
                                    self.block_copy_in_loop(&frames, top, pc + 1, rcvr, class, arg);
                                match made {
                                    Ok(Some(block)) => answered!(block),
                                    // The full path's: no look-up there either.
                                    Ok(None) => {
                                        pc += 1;
                                        break 'frame Exit::Slow(200);
                                    }
                                    Err(e) => {
                                        pc += 1;
                                        break 'frame Exit::Error(e);
                                    }
                                }
                            }
                        }
                        (200, sel, nargs, 0)
                    }
                    Switch::Call(b) => {
                        // As the innermost loop's, leaving the whole loop.
                        macro_rules! slow {
                            () => {{
                                pc += 1;
                                break 'frame Exit::Slow(b);
                            }};
                        }
                        macro_rules! push {
                            ($v:expr) => {{
                                if stack.len() == stack.capacity() {
                                    slow!()
                                }
                                stack.push($v)
                            }};
                        }
                        // A special selector whose SmallInteger case did not hold is a send.
                        macro_rules! special {
                            () => {{
                                let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                                break 'sw (b, sel, nargs, 0);
                            }};
                        }
                        macro_rules! arith {
                            ($op:expr) => {{
                                let n = stack.len();
                                let (Some(a), Some(c)) = (
                                    stack.get(n.wrapping_sub(2)).and_then(|v| v.as_small_int()),
                                    stack.get(n.wrapping_sub(1)).and_then(|v| v.as_small_int()),
                                ) else {
                                    special!()
                                };
                                let Some(r) = $op(self.sh, a, c) else {
                                    special!()
                                };
                                stack.pop();
                                if let Some(slot) = stack.last_mut() {
                                    *slot = r;
                                }
                                self.sends += 1;
                            }};
                        }
                        let Some(f) = frames.get(top) else {
                            break 'frame Exit::Reload;
                        };
                        let (code, literals) = (&f.method.code[..], &f.method.literals[..]);
                        match b {
                            0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 => {
                                // Neither token answered.
                                match self.receiver_field_in_full(receiver, b as usize) {
                                    Some(v) => push!(v),
                                    None => slow!(),
                                }
                            }
                            16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29
                            | 30 | 31 => {
                                // A frame with a context whose token did not answer comes here:
                                // straight to the miss, the token's hit having been looked at.
                                let i = (b & 15) as usize;
                                let v = match ctx {
                                    None => stack.get(tbase + i).copied(),
                                    Some(c) => self.ctx_temp_in_full(c, i),
                                };
                                match v {
                                    Some(v) => push!(v),
                                    None => slow!(),
                                }
                            }
                            64 | 65 | 66 | 67 | 68 | 69 | 70 | 71 | 72 | 73 | 74 | 75 | 76 | 77
                            | 78 | 79 | 80 | 81 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 89 | 90
                            | 91 | 92 | 93 | 94 | 95 => {
                                let v = match literals.get((b & 31) as usize) {
                                    Some(&assoc) => {
                                        match self
                                            .cache
                                            .sealed_global(assoc, self.image.sealed_view())
                                        {
                                            Some(v) => Some(v),
                                            None => global(self, assoc),
                                        }
                                    }
                                    None => None,
                                };
                                match v {
                                    Some(v) => push!(v),
                                    None => slow!(),
                                }
                            }
                            96 | 97 | 98 | 99 | 100 | 101 | 102 | 103 => {
                                // `store` never touches the operand stack.
                                let Some(&v) = stack.last() else { slow!() };
                                if let Err(e) = self.receiver_store(receiver, (b & 7) as usize, v) {
                                    pc += 1;
                                    break 'frame Exit::Error(e);
                                }
                                stack.pop();
                            }
                            104 | 105 | 106 | 107 | 108 | 109 | 110 | 111 => {
                                let n = stack.len();
                                match ctx {
                                    None => {
                                        let i = tbase + (b & 7) as usize;
                                        if i + 1 >= n {
                                            slow!()
                                        }
                                        stack[i] = stack[n - 1];
                                    }
                                    Some(c) => {
                                        let Some(&v) = stack.last() else { slow!() };
                                        if let Err(e) = self.ctx_store(c, (b & 7) as usize, v) {
                                            pc += 1;
                                            break 'frame Exit::Error(e);
                                        }
                                    }
                                }
                                stack.pop();
                            }
                            185 => arith!(arithmetic::divide),
                            128 => {
                                // Extended push: a receiver field, temporary, literal or literal
                                // variable, as the one-byte forms above.
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                let i = (ext & 63) as usize;
                                let v = match ext >> 6 {
                                    0 => frames
                                        .get(top)
                                        .and_then(|f| self.image.read_fast(f.receiver, i)),
                                    1 => match ctx {
                                        None => stack.get(tbase + i).copied(),
                                        Some(c) => self.ctx_temp(c, i),
                                    },
                                    2 => literals.get(i).copied(),
                                    _ => match literals.get(i) {
                                        Some(&assoc) => field(self.image, assoc, ASSOCIATION_VALUE),
                                        None => None,
                                    },
                                };
                                match v {
                                    Some(v) => push!(v),
                                    None => slow!(),
                                }
                                pc += 1;
                            }
                            129 | 130 => {
                                // Extended store (129) or pop and store (130) into a receiver
                                // field, a temporary or a literal variable.
                                let Some(&ext) = code.get(pc + 1) else {
                                    slow!()
                                };
                                let i = (ext & 63) as usize;
                                let n = stack.len();
                                let Some(&v) = stack.last() else { slow!() };
                                // A receiver field or a context's temporary through the
                                // same tokens as the short stores (a block's last statement
                                // `t := ...` stores without a pop, so it lands here).
                                let stored = match (ext >> 6, ctx) {
                                    (1, None) => {
                                        if tbase + i + 1 >= n {
                                            slow!()
                                        }
                                        stack[tbase + i] = v;
                                        Ok(())
                                    }
                                    (0, _) => self.receiver_store(receiver, i, v),
                                    (1, Some(c)) => self.ctx_store(c, i, v),
                                    (3, _) => match literals.get(i) {
                                        Some(&assoc) => self.store(assoc, ASSOCIATION_VALUE, v),
                                        None => slow!(),
                                    },
                                    _ => slow!(),
                                };
                                if let Err(e) = stored {
                                    pc += 1;
                                    break 'frame Exit::Error(e);
                                }
                                if b == 130 {
                                    stack.pop();
                                }
                                pc += 1;
                            }
                            // `thisContext` where a block is made of it next (`thisContext
                            // blockCopy: n`, the head of every block of a V3 image): the
                            // frame's context, or one the pool reuses for it (allocating
                            // nothing, which would need a safe point); else the full path,
                            // which also chains the contexts for any other use.
                            137 => {
                                if !block_copy_follows(code, pc + 1) {
                                    slow!()
                                }
                                // A V3 block's frame is its BlockContext.
                                let c = match (f.block, ctx) {
                                    (Some(block), _) => block,
                                    (None, Some(c)) => c,
                                    (None, None) => {
                                        let Some(c) = self.materialize_reused(
                                            &mut frames,
                                            &stack,
                                            top,
                                            pc + 1,
                                        ) else {
                                            slow!()
                                        };
                                        ctx = Some(c);
                                        tfast = temps_at(ctx, tbase);
                                        c
                                    }
                                };
                                push!(c);
                            }
                            // `class`, which the real VM answers without a look-up
                            // too, where the heap's fast read of the class answers.
                            199 => {
                                let Some(&v) = stack.last() else { slow!() };
                                let class = if v.is_object() {
                                    match self.image.class_fast(v) {
                                        Some(c) => c,
                                        None => slow!(),
                                    }
                                } else if v.as_small_int().is_some() {
                                    self.sh.small_integer
                                } else {
                                    self.sh.character
                                };
                                if let Some(slot) = stack.last_mut() {
                                    *slot = class;
                                }
                                self.sends += 1;
                            }
                            // The innermost loop sends no other bytecode here.
                            _ => slow!(),
                        }
                        pc += 1;
                        continue 'frame;
                    }
                    Switch::Return(v) => {
                        let bp = match frames.last() {
                            // The commonest, here; the rest in `return_in_loop`.
                            Some(f) if f.block.is_none() && f.ctx.is_none() => f.bp,
                            _ => match self.return_in_loop(&mut frames, top, v) {
                                Ok(Some(bp)) => {
                                    return_to!(bp, v);
                                    switched!()
                                }
                                Ok(None) => break 'frame Exit::ReturnFull(v, true),
                                Err(e) => break 'frame Exit::Error(e),
                            },
                        };
                        frames.pop();
                        // One look at the pool for both (a release after an escape finds
                        // nothing tracked).
                        if !self.pool.idle() {
                            if !self.pool.ignores(v) {
                                self.pool.note_return(v, Some(top - 1));
                            }
                            self.pool.release(frames.len());
                        }
                        return_to!(bp, v);
                        switched!()
                    }
                    Switch::BlockReturn(v) => {
                        // What `return_from` does for the frame of a block this image runs
                        // (a BlockContext, or a BlockClosure by its class word), above the
                        // bottom frame: anything else is the full path's.
                        let (bp, marks) = match frames.last() {
                            Some(f) if top > 0 => match self.block_return_marks(f) {
                                Some(marks) => (f.bp, marks),
                                None => break 'frame Exit::ReturnFull(v, false),
                            },
                            _ => break 'frame Exit::ReturnFull(v, false),
                        };
                        // `ignores` holds for every value while the pool is idle, and for
                        // nil, what most blocks answer, while it is not: no look into it.
                        if !self.pool.ignores(v) {
                            self.pool.note_return(v, Some(top - 1));
                        }
                        if let Some(Frame { block: Some(b), .. }) = frames.pop() {
                            if marks {
                                if let Err(e) = self.block_returned(b) {
                                    break 'frame Exit::Error(e);
                                }
                            }
                        }
                        if !self.pool.idle() {
                            self.pool.release(frames.len());
                        }
                        return_to!(bp, v);
                        switched!()
                    }
                }
            };
            // Leaves the loop with the bytecode `b` for the full path.
            macro_rules! slow {
                () => {{
                    pc += 1;
                    break 'frame Exit::Slow(b);
                }};
            }
            // `+ - < > <= >= * /` of a Float and a Float or a SmallInteger, computed here as
            // the real VM's bytecodes do (`float::bytecode`), without the look-up; anything
            // else is the selector's send. The new Float is made here, where no collection
            // can run, only while the image wants none: else the send's primitive makes it,
            // and the send's safe point collects. (Here, not in the innermost loop's failure
            // of the SmallInteger case: a branch there moved its registers, +11%
            // instructions on 27 benchFib.)
            if matches!(b, 176..=181 | 184 | 185) && !self.image.wants_collection() {
                if let [.., rcvr, arg] = stack[..] {
                    match float::bytecode(self, b, rcvr, arg) {
                        Ok(Some(v)) => answered!(v),
                        Ok(None) => {}
                        Err(e) => {
                            pc += 1;
                            break 'frame Exit::Error(e);
                        }
                    }
                }
            }
            // A send of `sel` with `nargs` arguments, whose operands (`len` bytes)
            // follow the opcode: a cached method without a primitive is activated, a
            // quick return answers here (and the innermost loop goes on); anything else is
            // the full path's.
            let Some(ri) = stack.len().checked_sub(nargs + 1) else {
                slow!()
            };
            let rcvr = stack[ri];
            let class = if rcvr.is_object() {
                match self.image.class_fast(rcvr) {
                    Some(c) => c,
                    None => slow!(),
                }
            } else if rcvr.as_small_int().is_some() {
                self.sh.small_integer
            } else {
                self.sh.character
            };
            let Some(m) = self.cache.probe(class, sel) else {
                slow!()
            };
            if m.num_args != nargs || m.hook.is_some() {
                slow!()
            }
            if m.primitive != 0 {
                let v = match quick_kind(self.sh, m.primitive, rcvr) {
                    Quick::Answer(v) => v,
                    Quick::Field(i) => match field(self.image, rcvr, i) {
                        Some(v) => v,
                        None => slow!(),
                    },
                    Quick::Not if m.primitive == 81 => enter_block!(class, rcvr, ri, nargs, len),
                    // at: and at:put:, which never touch the stack,
                    // run here; a failure runs again, in full, below.
                    Quick::Not if m.primitive == 60 && nargs == 1 => {
                        match indexing::at_value(self, rcvr, stack[ri + 1]) {
                            Ok(Some(v)) => {
                                if b == 192 {
                                    self.cache.resolved(self.image, rcvr, AT_SEND);
                                }
                                v
                            }
                            Ok(None) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    Quick::Not if m.primitive == 61 && nargs == 2 => {
                        let v = stack[ri + 2];
                        match indexing::at_put_value(self, rcvr, stack[ri + 1], v) {
                            Ok(true) => {
                                if b == 193 {
                                    self.cache.resolved(self.image, rcvr, AT_PUT_SEND);
                                }
                                v
                            }
                            Ok(false) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    Quick::Not if m.primitive == 62 && nargs == 0 => {
                        match indexing::size_value(self, rcvr) {
                            Ok(Some(v)) => {
                                if b == 194 {
                                    self.cache.resolved(self.image, rcvr, SIZE_SEND);
                                }
                                v
                            }
                            Ok(None) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    // A Float primitive (`sqrt`, `truncated`, Float `+` by `perform:`...),
                    // likewise, while the image wants no collection (as above); a stream's
                    // `next` and `nextPut:`; `==` as a method (Object's `=`).
                    Quick::Not
                        if primitives::on_values_runs(m.primitive, nargs)
                            && !self.image.wants_collection() =>
                    {
                        let arg = if nargs == 1 {
                            stack[ri + 1]
                        } else {
                            self.sh.nil
                        };
                        match primitives::on_values(self, m.primitive, rcvr, arg) {
                            Ok(Some(v)) => v,
                            Ok(None) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    // `basicNew` and `basicNew:`, likewise: the count of bytecodes goes back
                    // first, for the allocation's charge.
                    Quick::Not
                        if matches!(m.primitive, 70 | 71) && !self.image.wants_collection() =>
                    {
                        let arg = if nargs == 1 {
                            stack[ri + 1]
                        } else {
                            self.sh.nil
                        };
                        self.bytecodes = count;
                        match objects::new_value(self, m.primitive, nargs, rcvr, arg) {
                            Ok(Some(v)) => v,
                            Ok(None) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    // A String's at: and at:put:, likewise.
                    Quick::Not if m.primitive == 63 && nargs == 1 => {
                        match indexing::string_at_value(self, rcvr, stack[ri + 1]) {
                            Some(v) => v,
                            None => slow!(),
                        }
                    }
                    Quick::Not if m.primitive == 64 && nargs == 2 => {
                        let v = stack[ri + 2];
                        if !indexing::string_at_put_value(self, rcvr, stack[ri + 1], v) {
                            slow!()
                        }
                        v
                    }
                    // `blockCopy:`, a dead BlockContext reused or a new one made.
                    Quick::Not if m.primitive == 80 && nargs == 1 => {
                        let made = self.block_copy_in_loop(
                            &frames,
                            top,
                            pc + 1 + len,
                            rcvr,
                            class,
                            stack[ri + 1],
                        );
                        match made {
                            Ok(Some(block)) => block,
                            Ok(None) => slow!(),
                            Err(e) => {
                                pc += 1;
                                break 'frame Exit::Error(e);
                            }
                        }
                    }
                    Quick::Not => {
                        pc += 1 + len;
                        break 'frame Exit::Primitive(m.clone(), ri);
                    }
                };
                stack.truncate(ri + 1);
                if let Some(slot) = stack.last_mut() {
                    *slot = v;
                }
                self.sends += 1;
                pc += 1 + len;
                continue 'frame;
            }
            if frames.len() >= self.limits.depth
                || frames.len() == frames.capacity()
                || stack.capacity() - stack.len() < m.num_temps - nargs
            {
                slow!()
            }
            pc += 1 + len;
            let m = m.clone();
            // What `activate` does, with the checks made above: the depth, and
            // room on the stack for the temporaries.
            let (num_args, num_temps) = (m.num_args, m.num_temps);
            match frames.get_mut(top) {
                Some(f) => f.pc = pc,
                None => break 'frame Exit::Reload,
            }
            self.sends += 1;
            let nil = self.sh.nil;
            for _ in num_args..num_temps {
                if stack.len() < stack.capacity() {
                    stack.push(nil);
                }
            }
            (pc, receiver, ctx, tbase) = (0, rcvr, None, ri + 1);
            tfast = tbase;
            top += 1;
            frames.push(Frame {
                method: m,
                pc: 0,
                bp: ri,
                receiver,
                ctx: None,
                block: None,
            });
            switched!()
        };
        (cur.pc, cur.receiver, cur.ctx, cur.tbase, cur.top) = (pc, receiver, ctx, tbase, top);
        self.bytecodes = count;
        self.stack = stack;
        self.frames = frames;
        exit
    }

    /// A `^v` of frame `top` for the dispatch loop, where it is not the commonest (a method
    /// frame without a context, which the loop returns from itself): `return_top`'s frames
    /// popped ([`pop_frames`](Exec::pop_frames)) from the loop's own, the operand stack left
    /// to the loop (which keeps it in registers), so that the loop goes on without leaving.
    /// Answers the stack index the answer goes to; `None` (nothing done) where the return
    /// would answer the run (its home is the bottom frame): the full path's. Out of line:
    /// inlined, it cost the loop's registers (27 benchFib +2% instructions).
    #[inline(never)]
    fn return_in_loop(
        &mut self,
        frames: &mut Vec<Frame>,
        top: usize,
        v: Value,
    ) -> Result<Option<usize>, RunError> {
        let from = match frames.get(top) {
            Some(&Frame {
                block: block @ Some(_),
                ctx,
                ..
            }) => frame_of(frames, top, self.block_home(block, ctx)?)?,
            _ => top,
        };
        if from == 0 {
            return Ok(None);
        }
        self.pop_frames(frames, from, v)
    }

    /// Stores `v` into field `i` of the frame's receiver `r`, for the dispatch loop: as
    /// [`ctx_store`](Self::ctx_store), with a token kept for the last receiver stored into.
    ///
    /// This and the two below (`ctx_temp`, `ctx_store`) are each two functions: the memo's
    /// hit, which calls nothing and so saves no registers on the way in and out, and the rest,
    /// which it jumps to (a receiver field's hits are the dispatch loop's own, and the rest is
    /// `receiver_field_in_full`). The stores' hits need the object to be the one the cache
    /// last saw not watched (`MethodCache::unwatched_ctx`, dropped when the watched set
    /// grows), one compare instead of the filter's bit: the full path looks. The dispatch
    /// loop does not inline the stores' hits: the compiler then computes the filter bits of
    /// the receiver and the context ahead, at every frame switch (measured: 27 benchFib 39.4
    /// -> 41.7 instructions per bytecode).
    #[inline(never)]
    fn receiver_store(&mut self, r: Value, i: usize, v: Value) -> Result<(), RunError> {
        if let Some((k, t)) = self.receiver_token {
            if k == r
                && self.pool.ignores(v)
                && self.cache.unwatched_receiver.holds(r)
                && self.image.write_token(&t, i, v)
            {
                return Ok(());
            }
        }
        self.receiver_store_in_full(r, i, v)
    }

    #[inline(never)]
    fn receiver_store_in_full(&mut self, r: Value, i: usize, v: Value) -> Result<(), RunError> {
        if self.pool.ignores(v) && !self.cache.watches(r) {
            self.cache.unwatched_receiver.note(r);
            // A receiver read through the second slot becomes the first's when stored into,
            // where the next store's hit looks.
            if matches!(self.receiver_token_before, Some((k, _)) if k == r) {
                std::mem::swap(&mut self.receiver_token, &mut self.receiver_token_before);
            }
            let t = match self.receiver_token {
                Some((k, t)) if k == r => Some(t),
                _ => self
                    .image
                    .fields_token(r)
                    .inspect(|&t| self.receiver_token = Some((r, t))),
            };
            if let Some(t) = t {
                if self.image.write_token(&t, i, v) {
                    return Ok(());
                }
                self.receiver_token = None;
            }
        }
        self.store(r, i, v)
    }

    /// Field `i` of the frame's receiver `r` where neither token answered (the dispatch loop
    /// looked at the memo's and the one before's): a new token for `r`, which becomes the
    /// memo's, the one it displaces the one before; else as `field`.
    #[inline(never)]
    fn receiver_field_in_full(&mut self, r: Value, i: usize) -> Option<Value> {
        if let Some(t) = self.image.fields_token(r) {
            self.receiver_token_before = self.receiver_token.replace((r, t));
            if let Some(v) = self.image.read_token(&t, i) {
                return Some(v);
            }
        }
        self.image.read_fast(r, i)
    }

    /// Temporary `i` of the frame's context `c`, for the dispatch loop: through the token
    /// where it answers, else as `field`. Out of line, as `field`.
    #[inline(never)]
    fn ctx_temp(&mut self, c: Value, i: usize) -> Option<Value> {
        if let Some((k, t)) = self.ctx_token {
            if k == c {
                if let Some(v) = self.image.read_token(&t, TEMPS + i) {
                    return Some(v);
                }
            }
        }
        self.ctx_temp_in_full(c, i)
    }

    #[inline(never)]
    fn ctx_temp_in_full(&mut self, c: Value, i: usize) -> Option<Value> {
        if let Some(t) = self.ctx_token(c) {
            if let Some(v) = self.image.read_token(&t, TEMPS + i) {
                return Some(v);
            }
            // Stale (a collection or `become` since), or a value `read` follows.
            self.forget_ctx_tokens();
        }
        self.image.read_fast(c, TEMPS + i)
    }

    /// Stores `v` into temporary `i` of the frame's context `c` where the dispatch loop's
    /// hit on the context's token missed (`ctx_store!`): the token, made if need be, with
    /// `store_plain`'s checks in place of `set_private_field`'s, else `store`.
    #[inline(never)]
    fn ctx_store(&mut self, c: Value, i: usize, v: Value) -> Result<(), RunError> {
        if self.pool.ignores(v) && (self.cache.unwatched_ctx.holds(c) || !self.cache.watches(c)) {
            self.cache.unwatched_ctx.note(c);
            if let Some(t) = self.ctx_token(c) {
                if self.image.write_token(&t, TEMPS + i, v) {
                    return Ok(());
                }
                self.forget_ctx_tokens();
            }
        }
        self.store(c, TEMPS + i, v)
    }

    /// The top frame, as the dispatch loop keeps it.
    #[inline(always)]
    fn load_top(&self) -> Result<Top, RunError> {
        let top = self.frames.len().checked_sub(1).ok_or_else(underflow)?;
        let f = &self.frames[top];
        Ok(Top {
            pc: f.pc,
            receiver: f.receiver,
            ctx: f.ctx,
            tbase: f.bp + 1,
            top,
        })
    }

    /// What the dispatch loop leaves to the full path: the bytecode `b` of the top frame
    /// `cur`, whose pc is saved past the opcode. Sends and returns go straight to their
    /// functions, everything else to `step`.
    #[inline(never)]
    fn slow(&mut self, b: u8, cur: &Top) -> Result<Next, RunError> {
        let same = |same: bool| if same { Next::Same } else { Next::Reload };
        match b {
            208..=255
                if self
                    .frames
                    .get(cur.top)
                    .is_some_and(|f| (b & 15) < f.method.literals.len() as u8) =>
            {
                let sel = self.frames[cur.top].method.literals[(b & 15) as usize];
                Ok(same(self.send_at_safe_point(
                    sel,
                    ((b - 208) >> 4) as usize,
                    None,
                )?))
            }
            // A context's `blockCopy:` and a block's `value`, `value:`: as in the loop.
            200..=202 => Ok(same(self.block_bytecode_at_safe_point(b)?)),
            176..=197 | 203..=207 => {
                // The SmallInteger cases ran in the loop: what is left is a send.
                let (sel, nargs) = self.sh.special_selectors[b as usize - 176];
                Ok(same(self.send_at_safe_point(sel, nargs, None)?))
            }
            120..=124 => {
                let v = match b {
                    120 => cur.receiver,
                    121 => self.sh.true_object,
                    122 => self.sh.false_object,
                    123 => self.sh.nil,
                    _ => self.pop()?,
                };
                Ok(self
                    .return_top(cur.top, v)?
                    .map_or(Next::Reload, Next::Done))
            }
            _ => Ok(self.step(b)?.map_or(Next::Reload, Next::Done)),
        }
    }
}

/// Field `i` of `obj` where the heap's fast path answers it ([`Image::read_fast`]); out of
/// line, so that the dispatch loop's own state stays in registers around it.
#[inline(never)]
fn field(image: &Heap, obj: Value, i: usize) -> Option<Value> {
    image.read_fast(obj, i)
}

/// The value of the global whose association is `assoc` where the heap's fast path answers it,
/// kept by the cache where the association is a base object this image has not written (a
/// class's name in a loop: about 60 instructions a read, S28).
#[inline(never)]
fn global(x: &mut Exec<'_>, assoc: Value) -> Option<Value> {
    match x.image.read_sealed(assoc, ASSOCIATION_VALUE) {
        Some((v, view)) => {
            x.cache.remember_sealed_global(assoc, v, view);
            Some(v)
        }
        None => field(x.image, assoc, ASSOCIATION_VALUE),
    }
}

#[cold]
#[inline(never)]
fn ran_off(pc: usize, len: usize) -> RunError {
    RunError::Malformed(format!(
        "pc {pc} ran off the end of a method of {len} bytecodes"
    ))
}

/// The stack index [`Exec::dispatch`] reads a frame's temporaries at: `tbase` without a
/// context; with one, an index that no stack reaches (a temporary's index adds at most 63,
/// and a store's check adds one more), so that the bounds check fails into the context's path.
#[inline(always)]
fn temps_at(ctx: Option<Value>, tbase: usize) -> usize {
    if ctx.is_none() {
        tbase
    } else {
        usize::MAX / 2
    }
}
