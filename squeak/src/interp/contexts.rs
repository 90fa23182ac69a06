//! Contexts, made only on demand: a native frame becomes a MethodContext when `thisContext`
//! is pushed, which is also the first half of making a block (`thisContext blockCopy: n`).
//! From then on the frame's temporaries live in the context object, so the blocks that share
//! them (V3 blocks have no temporaries of their own) see every store. Frames that never push
//! `thisContext` (all of `benchFib`) never allocate anything.
//!
//! A materialized context's `pc` and `stackp` are snapshots taken when it was made (and when
//! an explicit `thisContext` links the chain); its `sender` is filled in when the code asks
//! for `thisContext` explicitly, not for blocks alone. A returned context gets a nil `sender`
//! and `pc`, as on a real VM, which is how a `^` from a block whose home has returned is
//! recognised (`cannotReturn:`).
//!
//! Contexts that die with their frame are reused (see `pool.rs`, which keeps the books).
//!
//! This layer sits below the primitives: primitives 80-82 (`blockCopy:`, `value`...,
//! `valueWithArguments:`) check their receiver and arguments and call [`Exec::block_copy`],
//! [`Exec::block_arg_count`] and [`Exec::enter_block`] here.

use std::rc::Rc;

use super::limits::RunError;
use super::method::Method;
use super::state::{int, Exec, Frame};
use cowheap::{Format, Value};

/// Context fields (MethodContext and BlockContext share the first three).
pub(crate) const SENDER: usize = 0;
pub(crate) const PC: usize = 1;
pub(crate) const STACKP: usize = 2;
pub(crate) const METHOD: usize = 3;
pub(crate) const RECEIVER: usize = 5;
/// A closure image's MethodContext: the BlockClosure it runs, or nil (V3: `receiverMap`).
pub(crate) const CLOSURE: usize = 4;
pub(crate) const BLOCK_NARGS: usize = 3;
pub(crate) const BLOCK_STARTPC: usize = 4;
pub(crate) const BLOCK_HOME: usize = 5;
/// What a running BlockContext's `caller` holds while its caller has no context object: not
/// nil (a SmallInteger, so that storing it is never a reference the context pool must hear
/// about).
pub(crate) const RUNNING: Value = Value::small_int_wrapping(0);
/// The first temporary (and stack) slot of a context.
pub(crate) const TEMPS: usize = 6;
/// V3 format code of contexts: fixed fields plus indexable pointers.
const CONTEXT_FORMAT: u8 = 3;
/// The most fixed fields and temporaries that `materialize` gathers on the stack: a large
/// frame's 56 and the fixed fields, with room.
const SMALL_CONTEXT: usize = 64;

impl Exec<'_> {
    /// A context of `class` with `len` slots, the first ones `first` and the rest nil,
    /// reused from the pool if one of its size is free, tracked at `depth` if it has one.
    /// The nil ones, nearly all of a context's, are those a new object's fields hold already
    /// (the heap's filler) and those `refill_private_from` writes without looking at them.
    pub(crate) fn new_context(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
        depth: Option<usize>,
    ) -> Result<Value, RunError> {
        let depth = depth.filter(|_| !self.pool.off);
        // Where the heap's filler is not nil (a base that named another), every slot is given.
        let whole: Vec<Value>;
        let first = if self.image.filler() == self.sh.nil {
            first
        } else {
            whole = (0..len)
                .map(|k| first.get(k).copied().unwrap_or(self.sh.nil))
                .collect();
            &whole
        };
        if let Some(c) = depth.and_then(|d| self.reuse_context(class, len, first, d)) {
            return Ok(c);
        }
        let c = self.image.new_pointers_from(class, len, first)?;
        self.image.set_language_format(c, CONTEXT_FORMAT)?;
        if let Some(d) = depth {
            self.pool.track(c, class, len, d);
        }
        Ok(c)
    }

    /// [`new_context`](Exec::new_context)'s reuse alone: a dead context of `class` and `len`
    /// slots from the pool, its first slots `first` (every slot the filler would not give)
    /// and the rest the filler, tracked at `depth`. `None` where the pool has none (or the
    /// one it had was not this image's to refill any more, which it then drops). It
    /// allocates nothing, so the dispatch loop may call it between two safe points.
    #[inline]
    pub(crate) fn reuse_context(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
        depth: usize,
    ) -> Option<Value> {
        let c = self
            .pool
            .take(class, len)
            .filter(|&c| self.image.refill_private_from(c, len, first))?;
        self.pool.reused += 1;
        self.pool.track(c, class, len, depth);
        Some(c)
    }

    /// The context object of frame `i`, making it if the frame has none yet. A closure's
    /// frame gets a MethodContext that names the closure (`closureOrNil`) and holds the whole
    /// of the frame's stack as its temporaries: which of those slots are the closure's own
    /// temporaries its code alone knows, and it only ever reads those.
    fn materialize(&mut self, i: usize) -> Result<Value, RunError> {
        let f = &self.frames[i];
        let (ctx, block, bp, pc, receiver) = (f.ctx, f.block, f.bp, f.pc, f.receiver);
        let closure = match block {
            Some(b) if self.is_closure(b)? => Some(b),
            // A V3 block frame is its BlockContext.
            Some(b) => return Ok(b),
            None => None,
        };
        if let Some(c) = ctx {
            return Ok(c);
        }
        let m = self.frames[i].method.clone();
        let ntemps = match closure {
            None => m.num_temps,
            Some(_) => {
                let end = match self.frames.get(i + 1) {
                    Some(above) => above.bp,
                    None => self.stack.len(),
                };
                end.saturating_sub(bp + 1)
            }
        };
        // The fixed fields and the temporaries, on the stack where they fit; the rest of the
        // context's slots are nil.
        let (mut small, mut large);
        let slots: &mut [Value] = if TEMPS + ntemps <= SMALL_CONTEXT {
            small = [self.sh.nil; SMALL_CONTEXT];
            &mut small[..TEMPS + ntemps]
        } else {
            large = vec![self.sh.nil; TEMPS + ntemps];
            &mut large
        };
        let temps = self
            .stack
            .get(bp + 1..bp + 1 + ntemps)
            .ok_or_else(|| RunError::Malformed("a frame lost its temporaries".into()))?;
        method_context_slots(slots, &m, pc, receiver, closure, temps);
        let len = TEMPS + m.frame_size().max(ntemps);
        let c = self.new_context(self.sh.method_context, len, slots, Some(i))?;
        self.frames[i].ctx = Some(c);
        self.check_allocation()?;
        Ok(c)
    }

    /// `thisContext` in the method frame `top` of `frames` (its operand stack `stack`), which
    /// has no context yet, at `pc` (past the opcode), for the dispatch loop: what
    /// [`materialize`](Exec::materialize) does, where the pool has a dead MethodContext of
    /// the size to reuse; `None` (nothing done) otherwise. The loop asks only where the
    /// bytecodes after make a block of it (`thisContext blockCopy: n`, which `this_context`
    /// would not chain either).
    pub(crate) fn materialize_reused(
        &mut self,
        frames: &mut [Frame],
        stack: &[Value],
        top: usize,
        pc: usize,
    ) -> Option<Value> {
        let f = frames.get(top)?;
        if f.ctx.is_some() || f.block.is_some() || self.image.filler() != self.sh.nil {
            return None;
        }
        let m = &f.method;
        let ntemps = m.num_temps;
        let temps = stack.get(f.bp + 1..f.bp + 1 + ntemps)?;
        let mut small = [self.sh.nil; SMALL_CONTEXT];
        let slots = small.get_mut(..TEMPS + ntemps)?;
        method_context_slots(slots, m, pc, f.receiver, None, temps);
        let len = TEMPS + m.frame_size().max(ntemps);
        let c = self.reuse_context(self.sh.method_context, len, slots, top)?;
        frames[top].ctx = Some(c);
        Some(c)
    }

    /// True for a BlockClosure (an instance of the image's class, where it has one).
    #[inline]
    pub(crate) fn is_closure(&mut self, v: Value) -> Result<bool, RunError> {
        match self.sh.block_closure {
            Some(class) if v.is_object() => self.class_is(v, class),
            _ => Ok(false),
        }
    }

    /// `thisContext` in frame `top`. With `chain`, every frame below gets a context too, and
    /// each context names its sender, so that `thisContext sender` walks the real chain.
    pub(crate) fn this_context(&mut self, top: usize, chain: bool) -> Result<Value, RunError> {
        let c = self.materialize(top)?;
        if chain {
            let mut sender = self.sh.nil;
            for i in 0..=top {
                let own = self.materialize(i)?;
                let pc = int(self.frames[i].method.v3_pc(self.frames[i].pc));
                self.store(own, SENDER, sender)?;
                self.store(own, PC, pc)?;
                sender = own;
            }
        }
        Ok(c)
    }

    /// Marks a method context whose frame returned: nil is no context, so the pool need
    /// not hear of it, and the context is this image's own (it made it), so both fields are
    /// written in place unless the method cache watches it, as a block's caller is.
    #[inline]
    pub(crate) fn context_returned(&mut self, c: Value) -> Result<(), RunError> {
        let nil = self.sh.nil;
        if !self.cache.watches(c)
            && self.image.set_private_field(c, SENDER, nil)
            && self.image.set_private_field(c, PC, nil)
        {
            return Ok(());
        }
        self.store(c, SENDER, nil)?;
        self.store(c, PC, nil)
    }

    /// Makes the whole frame stack into the chain of contexts a real VM would have: the
    /// context of each frame (made now if it had none) gets its `sender`, `pc`, `stackp` and
    /// operand stack, and the frames and the stack are emptied. Answers the top context: what
    /// a process switch stores as the suspended process's `suspendedContext`.
    ///
    /// Why the chain is the frames: a frame's operand stack is the stack from its first slot
    /// past the temporaries (a block frame: past the BlockContext) up to the next frame's
    /// `bp`, where that frame's receiver and arguments sit, which a real VM moves into the new
    /// context at the send, so they are not the sender's any more. A method frame's
    /// temporaries are its context's (copied in by `materialize`, or kept there since), so the
    /// context's stack is its temporaries followed by the operand stack, `stackp` counting
    /// both; a block's stack is its operand stack alone, as in a BlockContext. Every frame's
    /// `pc` is the next bytecode (saved at its send, the top one's by the primitive's caller).
    /// The contexts now are referenced from a Process: the context pool lets go of them all.
    pub(crate) fn suspend_frames(&mut self) -> Result<Value, RunError> {
        let n = self.frames.len();
        if n == 0 {
            return Err(RunError::Unimplemented(
                "a process switch from outside any method".into(),
            ));
        }
        self.pool.escape_all();
        let mut sender = self.sh.nil;
        for i in 0..n {
            let c = self.materialize(i)?;
            let f = &self.frames[i];
            let own = if f.block.is_some() {
                0
            } else {
                f.method.num_temps
            };
            let (pc, base) = (int(f.method.v3_pc(f.pc)), f.bp + 1 + own);
            let end = self.frames.get(i + 1).map_or(self.stack.len(), |g| g.bp);
            let operands: Vec<Value> = self
                .stack
                .get(base..end)
                .ok_or_else(|| RunError::Malformed("a frame lost its operand stack".into()))?
                .to_vec();
            if TEMPS + own + operands.len() > self.image.shape(c)?.len {
                return Err(RunError::Malformed(
                    "an operand stack deeper than its context".into(),
                ));
            }
            for (k, &v) in operands.iter().enumerate() {
                self.store(c, TEMPS + own + k, v)?;
            }
            self.store(c, STACKP, int((own + operands.len()) as i64))?;
            self.store(c, PC, pc)?;
            self.store(c, SENDER, sender)?;
            sender = c;
        }
        self.frames.clear();
        self.stack.clear();
        Ok(sender)
    }

    /// The inverse of [`suspend_frames`](Exec::suspend_frames): frames for the context chain
    /// that ends in `top` (a resumed process's `suspendedContext`), each frame holding its
    /// context, its operand stack copied onto the stack as `suspend_frames` laid it out (a
    /// method frame's temporaries are copied too, as the placeholders a frame with a
    /// context keeps but never reads). Then running the frames is running the contexts:
    /// every temporary lives in a context, every return marks its context returned.
    pub(crate) fn resume_frames(&mut self, top: Value) -> Result<(), RunError> {
        let mut chain = Vec::new();
        let mut c = top;
        while c != self.sh.nil {
            if chain.len() >= self.limits.depth {
                return Err(RunError::DepthLimit {
                    limit: self.limits.depth,
                });
            }
            chain.push(c);
            c = self.image.read(c, SENDER)?;
        }
        if chain.is_empty() {
            return Err(RunError::Malformed(
                "a process to run has no context".into(),
            ));
        }
        for &c in chain.iter().rev() {
            let class = self.class_of(c)?;
            let block = class == self.sh.block_context;
            if !block && class != self.sh.method_context {
                return Err(RunError::Malformed(
                    "a process's context chain holds something else than contexts".into(),
                ));
            }
            let home = if block {
                self.image.read(c, BLOCK_HOME)?
            } else {
                c
            };
            // A closure's context (closure images): its frame is the closure's, and its
            // stack holds the closure's temporaries as well as its operands.
            let closure = match block {
                false => Some(self.image.read(c, CLOSURE)?).filter(|&b| b != self.sh.nil),
                true => None,
            };
            let closure = match closure {
                Some(b) if self.is_closure(b)? => Some(b),
                _ => None,
            };
            let method = self.image.read(home, METHOD)?;
            let m = self.cache.method(self.image, self.sh, method)?;
            let receiver = self.image.read(home, RECEIVER)?;
            let pc = self.image.read(c, PC)?.as_small_int();
            let sp = self.image.read(c, STACKP)?.as_small_int();
            let len = self.image.shape(c)?.len;
            let (Some(pc), Some(sp)) = (pc.and_then(|pc| m.code_index(pc)), sp) else {
                return Err(RunError::Malformed(
                    "a suspended context without a pc or stack pointer in its method".into(),
                ));
            };
            let sp = usize::try_from(sp).ok().filter(|&sp| {
                TEMPS + sp <= len && (block || closure.is_some() || sp >= m.num_temps)
            });
            let sp = sp.ok_or_else(|| {
                RunError::Malformed("a suspended context's stack pointer is out of range".into())
            })?;
            let bp = self.stack.len();
            self.stack.push(match (block, closure) {
                (true, _) => c,
                (false, Some(b)) => b,
                (false, None) => receiver,
            });
            for k in 0..sp {
                let v = self.image.read(c, TEMPS + k)?;
                self.stack.push(v);
            }
            self.frames.push(Frame {
                method: m,
                pc,
                bp,
                receiver,
                ctx: Some(home),
                block: if block { Some(c) } else { closure },
            });
        }
        Ok(())
    }

    /// True for a BlockContext.
    #[inline(always)]
    pub(crate) fn is_block(&mut self, v: Value) -> Result<bool, RunError> {
        Ok(v.is_object() && self.class_is(v, self.sh.block_context)?)
    }

    /// The argument count a BlockContext was made for (`None` if its field is not a
    /// SmallInteger).
    #[inline(always)]
    pub(crate) fn block_arg_count(&mut self, block: Value) -> Result<Option<i64>, RunError> {
        Ok(self.image.read(block, BLOCK_NARGS)?.as_small_int())
    }

    /// `rcvr blockCopy: nargs` in the top frame: a BlockContext whose home is the receiver's
    /// home (a MethodContext is its own) and whose code starts after the jump that follows
    /// this send. `None` if the receiver is not a context, or there is no frame.
    pub(crate) fn block_copy(
        &mut self,
        rcvr: Value,
        nargs: i64,
    ) -> Result<Option<Value>, RunError> {
        // `class_is` twice, with the class read once and the references compared first: a
        // method's `thisContext blockCopy:`, the commonest, needs no resolution.
        let class = self.class_of(rcvr)?;
        let (block_class, method_class) = (self.sh.block_context, self.sh.method_context);
        let home = if class == block_class {
            self.image.read(rcvr, BLOCK_HOME)?
        } else if class == method_class {
            rcvr
        } else if self.identical(class, block_class)? {
            self.image.read(rcvr, BLOCK_HOME)?
        } else if self.identical(class, method_class)? {
            rcvr
        } else {
            return Ok(None);
        };
        let Some(f) = self.frames.last() else {
            return Ok(None);
        };
        let start = block_start(&f.method, f.pc).ok_or_else(|| {
            RunError::Unimplemented("blockCopy: not followed by a jump over the block".into())
        })?;
        // The home's size from a token where it is one of this image's own pointers objects
        // (its `len` is then `shape`'s), without `shape`'s resolution.
        let len = match self.image.fields_token(home) {
            Some(t) => t.len(),
            None => self.image.shape(home)?.len,
        };
        let slots = self.block_slots(start, nargs, home);
        // The block is on the current frame's stack, and nowhere else until it escapes.
        let depth = self.frames.len() - 1;
        let (class, len) = (self.sh.block_context, len.max(TEMPS));
        let block = self.new_context(class, len, &slots, Some(depth))?;
        self.check_allocation()?;
        Ok(Some(block))
    }

    /// [`block_copy`](Exec::block_copy) for the dispatch loop, whose send found primitive 80
    /// for `rcvr` of class `class` (by reference: a base class's copy is the full path's), in
    /// frame `top` of `frames` with `pc` past the send: where the home is one of this image's
    /// own contexts and the pool has a dead BlockContext of its size to reuse; `None`
    /// (nothing done) otherwise, or where the full path answers a failure or an error.
    pub(crate) fn block_copy_reused(
        &mut self,
        frames: &[Frame],
        top: usize,
        pc: usize,
        rcvr: Value,
        class: Value,
        nargs: Value,
    ) -> Option<Value> {
        let nargs = nargs.as_small_int()?;
        let home = if class == self.sh.method_context {
            rcvr
        } else if class == self.sh.block_context {
            self.image.read_fast(rcvr, BLOCK_HOME)?
        } else {
            return None;
        };
        if self.image.filler() != self.sh.nil {
            return None;
        }
        let start = block_start(&frames.get(top)?.method, pc)?;
        let len = self.image.fields_token(home)?.len().max(TEMPS);
        let slots = self.block_slots(start, nargs, home);
        self.reuse_context(self.sh.block_context, len, &slots, top)
    }

    /// A new BlockContext's fixed fields: what a V3 VM's `value` sets (the arguments are its
    /// stack), set once here rather than at every `value`: `thisContext basicSize` in a
    /// block counts its arguments. The rest, the block's stack, are nil.
    fn block_slots(&self, start: Value, nargs: i64, home: Value) -> [Value; TEMPS] {
        let mut slots = [self.sh.nil; TEMPS];
        slots[PC] = start;
        slots[STACKP] = int(nargs);
        slots[BLOCK_NARGS] = int(nargs);
        slots[BLOCK_STARTPC] = start;
        slots[BLOCK_HOME] = home;
        slots
    }

    /// What `value` with `nargs` arguments does to `block`, whose class is `class` (see
    /// [`enter_block`](Exec::enter_block)), where the heap's fast reads answer: a
    /// BlockContext (by the class the send found) whose caller, argument count, start and
    /// home, and its home's method and receiver, are read with the checks on each object
    /// made once ([`Image::read_fast_fields`](cowheap::Image::read_fast_fields)), marked
    /// running where [`set_caller`](Exec::set_caller)'s in-place case holds, its frame pushed
    /// on `frames` (the frame stack, which the dispatch loop holds in its hands). `None`
    /// (nothing done) sends the caller down the general path, which also reports the depth
    /// limit; `Some(false)` is the primitive's failure (running already, or another argument
    /// count).
    #[inline(always)]
    pub(crate) fn enter_block_fast(
        &mut self,
        frames: &mut Vec<Frame>,
        class: Value,
        block: Value,
        ri: usize,
        nargs: usize,
    ) -> Option<bool> {
        const _: () = assert!(
            SENDER == 0
                && BLOCK_NARGS == 3
                && BLOCK_STARTPC == BLOCK_NARGS + 1
                && BLOCK_HOME == BLOCK_NARGS + 2
        );
        const _: () = assert!(RECEIVER == METHOD + 2);
        if class != self.sh.block_context {
            return None;
        }
        // The block and its home checked once each (a heap token: one of this image's own
        // pointers objects, unforwarded), their fields then read with the epoch and the
        // bound looked at; a block or home of the base heap takes the general path. The
        // home's token is the one the dispatch loop keeps for the frame's context: the home
        // of the block a loop sends `value:` to is that loop's own context. The block's is
        // the one kept from its last entry (`MethodCache::block_token`), the same block at each turn of a
        // loop: the token's epoch, looked at by every read and write through it, says
        // whether it still holds.
        let bt = self.cache.block_token(self.image, block)?;
        let field = |i: usize| self.image.read_token(&bt, i);
        // The highest field first: its bound check (the token's length) then holds for the
        // lower ones, whose own the compiler drops.
        let home = field(BLOCK_HOME)?;
        let (caller, n) = (field(SENDER)?, field(BLOCK_NARGS)?);
        // Running already (see `enter_block`): the primitive fails.
        if caller != self.sh.nil || n.as_small_int() != Some(nargs as i64) {
            return Some(false);
        }
        let start = field(BLOCK_STARTPC)?;
        let ht = self.ctx_token(home)?;
        // Likewise the receiver before the method.
        let receiver = self.image.read_token(&ht, RECEIVER)?;
        let method = self.image.read_token(&ht, METHOD)?;
        // As in `enter_block`: the fast read answers only for a pointers object, and then
        // the method it reads is canonical.
        let m = self.cache.decoded(method)?;
        let pc = start.as_small_int().and_then(|pc| m.code_index(pc))?;
        // Not watched: `block_token` answers none for a watched block.
        if frames.len() >= self.limits.depth || !self.image.write_token(&bt, SENDER, RUNNING) {
            return None;
        }
        frames.push(Frame {
            method: m,
            pc,
            bp: ri,
            receiver,
            ctx: Some(home),
            block: Some(block),
        });
        Some(true)
    }

    /// Runs the BlockContext `block` (at stack index `ri`, its arguments above it) in a new
    /// frame whose temporaries are its home's. The arguments stay on the frame's stack, where
    /// the block's first bytecodes pop them into the home's temporaries. `false` (nothing
    /// done) if its home is not a context. Inlined into primitive 81, the hot path of every
    /// block loop.
    ///
    /// A block already running (re-entered by recursion through itself) fails, as on a V3 VM,
    /// whose `value` fails on a BlockContext with a caller: the image's fallback then stops
    /// with "Attempt to evaluate a block that is already being evaluated". The caller is a
    /// native frame here, so a running block's `caller` field holds [`RUNNING`] until it
    /// returns (or the real chain, once `thisContext` links it).
    #[inline(always)]
    pub(crate) fn enter_block(&mut self, block: Value, ri: usize) -> Result<bool, RunError> {
        let caller = match self.image.read_fast(block, SENDER) {
            Some(v) => v,
            None => self.image.read(block, SENDER)?,
        };
        if caller != self.sh.nil {
            return Ok(false);
        }
        let home = self.image.read(block, BLOCK_HOME)?;
        // The heap's fast read answers only for a pointers object, and then the method it
        // reads is canonical (the method cache's key): the common case needs neither the
        // format check nor the canonical reference.
        let method = match self.image.read_fast(home, METHOD) {
            Some(method) => method,
            None => {
                if !home.is_object() || self.image.format_of(home)? != Format::Pointers {
                    return Ok(false);
                }
                self.image.read(home, METHOD)?
            }
        };
        let m = match self.cache.decoded(method) {
            Some(m) => m,
            None => self.cache.method(self.image, self.sh, method)?,
        };
        let receiver = self.image.read(home, RECEIVER)?;
        let start = self.image.read(block, BLOCK_STARTPC)?.as_small_int();
        let pc = start.and_then(|pc| m.code_index(pc)).ok_or_else(|| {
            RunError::Malformed("a block's start pc is outside its method".into())
        })?;
        self.push_block_frame(block, home, m, pc, receiver, ri)?;
        Ok(true)
    }

    /// What both ways into a block end with: the depth check, the block marked running, and
    /// its frame, whose temporaries are its home's.
    #[inline(always)]
    fn push_block_frame(
        &mut self,
        block: Value,
        home: Value,
        method: Rc<Method>,
        pc: usize,
        receiver: Value,
        ri: usize,
    ) -> Result<(), RunError> {
        self.check_depth()?;
        self.set_caller(block, RUNNING)?;
        self.frames.push(Frame {
            method,
            pc,
            bp: ri,
            receiver,
            ctx: Some(home),
            block: Some(block),
        });
        Ok(())
    }

    /// What the dispatch loop's inline return of a block frame `f` to its caller does to
    /// its block: mark it returned (`Some(true)`: a BlockContext, which
    /// [`block_returned`](Exec::block_returned) marks), nothing (`Some(false)`: a
    /// BlockClosure, never marked running), or `None`: `return_from`'s (a method's frame, or
    /// a block whose class is not quick to see). In an image without closures every block
    /// frame's is a BlockContext; in one with both, the class word says which.
    #[inline(always)]
    pub(crate) fn block_return_marks(&self, f: &Frame) -> Option<bool> {
        let b = f.block?;
        let Some(closure) = self.sh.block_closure else {
            return Some(true);
        };
        match self.image.class_fast(b)? {
            c if c == self.sh.block_context => Some(true),
            c if c == closure => Some(false),
            _ => None,
        }
    }

    /// Marks a BlockContext whose frame returned: no caller, so that it may run again.
    #[inline(always)]
    pub(crate) fn block_returned(&mut self, block: Value) -> Result<(), RunError> {
        let nil = self.sh.nil;
        self.set_caller(block, nil)
    }

    /// Sets a BlockContext's `caller` to nil or [`RUNNING`]: neither is a context, so the
    /// context pool need not hear of it, and the block is this image's own (it made it), so
    /// the field is written in place unless the method cache watches the object.
    #[inline(always)]
    fn set_caller(&mut self, block: Value, v: Value) -> Result<(), RunError> {
        if !self.cache.watches(block) && self.image.set_private_field(block, SENDER, v) {
            return Ok(());
        }
        self.store(block, SENDER, v)
    }
}

/// Where the code of a block made by a `blockCopy:` send of `m` starts, as a V3 pc: past the
/// jump over it that follows the send (`pc`, the index past the send). `None` if no jump
/// follows.
fn block_start(m: &Method, pc: usize) -> Option<Value> {
    let start = match m.code.get(pc) {
        Some(144..=151) => pc + 1,
        Some(160..=167) => pc + 2,
        _ => return None,
    };
    Some(int(m.v3_pc(start)))
}

/// A MethodContext's first slots for a frame of `m` at `pc`: the fixed fields and the
/// temporaries `temps` (`slots` is as long as both; the rest of the context is nil).
fn method_context_slots(
    slots: &mut [Value],
    m: &Method,
    pc: usize,
    receiver: Value,
    closure: Option<Value>,
    temps: &[Value],
) {
    slots[PC] = int(m.v3_pc(pc));
    slots[STACKP] = int(temps.len() as i64);
    slots[METHOD] = m.oop;
    if let Some(b) = closure {
        slots[CLOSURE] = b;
    }
    slots[RECEIVER] = receiver;
    slots[TEMPS..].copy_from_slice(temps);
}
