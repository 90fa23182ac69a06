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
//! This layer sits below the primitives and `block_contexts.rs`, which makes and enters V3
//! BlockContexts (primitives 80-82, `blockCopy:`, `value`..., `valueWithArguments:`, check
//! their receiver and arguments and call [`Exec::block_copy`], [`Exec::block_arg_count`] and
//! [`Exec::enter_block`] there).

use super::limits::RunError;
use super::method::Method;
use super::state::{int, Exec, Frame};
use cowheap::vm::FieldsToken;
use cowheap::Value;

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
pub(crate) const CONTEXT_FORMAT: u8 = 3;
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
        let c = self
            .image
            .new_pointers_with_format(class, len, first, CONTEXT_FORMAT)?;
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

    /// Tells the context pool that `holder`, a new object that is no context, holds
    /// `values`: a tracked context among them has escaped (see `pool.rs`). Every primitive
    /// that makes an object of values it was handed calls this.
    pub(crate) fn note_held(&mut self, holder: Value, values: &[Value]) {
        if !self.pool.idle() {
            for &v in values {
                self.pool.note_store(holder, v);
            }
        }
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

    /// A token for the context `c` (see `ctx_token`), made again only for another context
    /// or after a use of the last one failed.
    #[inline(always)]
    pub(crate) fn ctx_token(&mut self, c: Value) -> Option<FieldsToken> {
        match self.ctx_token {
            Some((k, t)) if k == c => Some(t),
            _ => self.ctx_token_in_full(c),
        }
    }

    /// Drops both context tokens, after a use of one failed (stale since a collection or a
    /// `become`, or a value `read` follows): either may be, so neither is kept.
    pub(crate) fn forget_ctx_tokens(&mut self) {
        self.ctx_token = None;
        self.ctx_token_before = None;
    }

    /// [`ctx_token`](Exec::ctx_token) where the last context's missed: the one before's
    /// (which becomes the last's), else a new token, which displaces the last's to before.
    #[inline(never)]
    fn ctx_token_in_full(&mut self, c: Value) -> Option<FieldsToken> {
        if let Some((k, t)) = self.ctx_token_before {
            if k == c {
                std::mem::swap(&mut self.ctx_token, &mut self.ctx_token_before);
                return Some(t);
            }
        }
        let t = self.image.fields_token(c)?;
        self.ctx_token_before = self.ctx_token.replace((c, t));
        Some(t)
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
