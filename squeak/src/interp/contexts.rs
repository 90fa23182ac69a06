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
//! There is no garbage collector, so a context that nothing can reach any more would stay in
//! the image's private space until the image ends, and a loop that makes a block on every
//! iteration would grow without bound. [`ContextPool`] recycles instead: a context that has
//! not *escaped* dies with the frame that made it and is reused for the next context of its
//! class and size, so memory follows the live contexts, not the run's length.

use std::collections::HashMap;

use super::execute::{int, Exec, Frame, Prim};
use super::lookup::BitsBuild;
use super::RunError;
use cowheap::{Format, Value};

/// Context fields (MethodContext and BlockContext share the first three).
pub(crate) const SENDER: usize = 0;
pub(crate) const PC: usize = 1;
pub(crate) const STACKP: usize = 2;
pub(crate) const METHOD: usize = 3;
pub(crate) const RECEIVER: usize = 5;
pub(crate) const BLOCK_NARGS: usize = 3;
pub(crate) const BLOCK_STARTPC: usize = 4;
pub(crate) const BLOCK_HOME: usize = 5;
/// The first temporary (and stack) slot of a context.
pub(crate) const TEMPS: usize = 6;
/// V3 format code of contexts: fixed fields plus indexable pointers.
const CONTEXT_FORMAT: u8 = 3;

/// The contexts of one image that can be reused, and those that will be once their home frame
/// returns.
///
/// A context made here is *tracked* with a depth: the index of the frame whose return ends
/// it (for a MethodContext its own frame, for a BlockContext the frame that made it, whose
/// stack it is pushed on). Tracked contexts
/// keep one invariant: a context of depth `d` is referenced only from the stack slots and
/// frames at index `d` and above, and from tracked contexts of depth `d` and above. Sends
/// only move values up the frame stack, so what can break it is a store or a return:
///
/// - a store of a tracked context into anything but a tracked context of the same or a
///   greater depth (an Array, an Association, an older context; a block stored into a
///   temporary of its own home from inside another block, say),
/// - a return that hands a tracked context to a frame below its depth,
/// - a `become:`, which redirects references wholesale.
///
/// Any of these is an *escape*, and an escape untracks every context tracked at that moment
/// (which of them the escaping one can reach is not worth knowing): those stay for the
/// image's life, as before. When a frame returns, the contexts of its depth are dead by the
/// invariant and go to the free list. A run that stops with an error
/// untracks everything too.
#[derive(Default)]
pub(crate) struct ContextPool {
    /// Tracked contexts (reference bits) and their depths.
    tracked: HashMap<u64, u32, BitsBuild>,
    /// The tracked contexts of each depth, with their class and size for the free list.
    by_depth: Vec<Vec<(Value, u64, usize)>>,
    /// Dead contexts by class and slot count.
    free: Vec<(u64, usize, Vec<Value>)>,
    /// Contexts reused instead of allocated (for tests and reports).
    pub(crate) reused: u64,
    /// Reuse turned off: every context is allocated and kept.
    pub(crate) off: bool,
}

impl ContextPool {
    /// True if no context is tracked now: the hot paths test this first.
    #[inline(always)]
    pub(crate) fn idle(&self) -> bool {
        self.tracked.is_empty()
    }

    /// The depth of a tracked context.
    #[inline]
    pub(crate) fn depth(&self, v: Value) -> Option<usize> {
        self.tracked.get(&v.to_bits()).map(|&d| d as usize)
    }

    /// Called before `v` is stored into `obj`.
    #[inline]
    pub(crate) fn note_store(&mut self, obj: Value, v: Value) {
        if let Some(dv) = self.depth(v) {
            if self.depth(obj).is_none_or(|d| d < dv) {
                self.escape_all();
            }
        }
    }

    /// Called before `v` is returned to frame `to` (`None`: out of the run).
    #[inline]
    pub(crate) fn note_return(&mut self, v: Value, to: Option<usize>) {
        if let Some(dv) = self.depth(v) {
            if to.is_none_or(|t| t < dv) {
                self.escape_all();
            }
        }
    }

    /// Untracks every context: they stay allocated for the image's life.
    pub(crate) fn escape_all(&mut self) {
        if !self.tracked.is_empty() {
            self.tracked.clear();
            for list in &mut self.by_depth {
                list.clear();
            }
        }
    }

    fn track(&mut self, c: Value, class: Value, len: usize, depth: usize) {
        if self.by_depth.len() <= depth {
            self.by_depth.resize_with(depth + 1, Vec::new);
        }
        self.by_depth[depth].push((c, class.to_bits(), len));
        self.tracked.insert(c.to_bits(), depth as u32);
    }

    /// Frame `depth` returned: the contexts of its depth are dead.
    #[inline]
    pub(crate) fn release(&mut self, depth: usize) {
        let Some(list) = self.by_depth.get_mut(depth) else {
            return;
        };
        for (c, class, len) in list.drain(..) {
            self.tracked.remove(&c.to_bits());
            match self
                .free
                .iter_mut()
                .find(|(k, n, _)| *k == class && *n == len)
            {
                Some((_, _, objects)) => objects.push(c),
                None => self.free.push((class, len, vec![c])),
            }
        }
    }

    fn take(&mut self, class: Value, len: usize) -> Option<Value> {
        let class = class.to_bits();
        let (_, _, objects) = self
            .free
            .iter_mut()
            .find(|(k, n, _)| *k == class && *n == len)?;
        objects.pop()
    }
}

impl Exec<'_> {
    /// A context of `class` with `slots`, reused from the pool if one of its size is free,
    /// tracked at `depth` if it has one.
    fn new_context(
        &mut self,
        class: Value,
        slots: &[Value],
        depth: Option<usize>,
    ) -> Result<Value, RunError> {
        let depth = depth.filter(|_| !self.pool.off);
        let reused = match depth {
            Some(_) => self
                .pool
                .take(class, slots.len())
                .filter(|&c| self.image.refill_private(c, slots)),
            None => None,
        };
        let c = match reused {
            Some(c) => {
                self.pool.reused += 1;
                c
            }
            None => {
                let c = self.image.new_pointers(class, slots)?;
                self.image.set_language_format(c, CONTEXT_FORMAT)?;
                c
            }
        };
        if let Some(d) = depth {
            self.pool.track(c, class, slots.len(), d);
        }
        Ok(c)
    }

    /// The context object of frame `i`, making it if the frame has none yet.
    fn materialize(&mut self, i: usize) -> Result<Value, RunError> {
        let f = &self.frames[i];
        if let Some(b) = f.block {
            return Ok(b);
        }
        if let Some(c) = f.ctx {
            return Ok(c);
        }
        let m = f.method.clone();
        let mut slots = vec![self.sh.nil; TEMPS + m.frame_size()];
        slots[PC] = int(m.v3_pc(f.pc));
        slots[STACKP] = int(m.num_temps as i64);
        slots[METHOD] = m.oop;
        slots[RECEIVER] = f.receiver;
        let temps = self
            .stack
            .get(f.bp + 1..f.bp + 1 + m.num_temps)
            .ok_or_else(|| RunError::Malformed("a frame lost its temporaries".into()))?;
        slots[TEMPS..TEMPS + m.num_temps].copy_from_slice(temps);
        let c = self.new_context(self.sh.method_context, &slots, Some(i))?;
        self.frames[i].ctx = Some(c);
        self.check_allocation()?;
        Ok(c)
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

    /// Marks a method context whose frame returned.
    pub(crate) fn context_returned(&mut self, c: Value) -> Result<(), RunError> {
        let nil = self.sh.nil;
        self.store(c, SENDER, nil)?;
        self.store(c, PC, nil)
    }

    /// Primitive 80, `blockCopy:`: a BlockContext whose home is the receiver's home and whose
    /// code starts after the jump that follows this send.
    pub(crate) fn prim_block_copy(&mut self, ri: usize) -> Result<Prim, RunError> {
        let rcvr = self.stack[ri];
        let Some(nargs) = self.stack[ri + 1].as_small_int() else {
            return Ok(Prim::Fail);
        };
        let class = self.class_of(rcvr)?;
        let home = if class == self.sh.block_context {
            self.image.read(rcvr, BLOCK_HOME)?
        } else if class == self.sh.method_context {
            rcvr
        } else {
            return Ok(Prim::Fail);
        };
        let Some(f) = self.frames.last() else {
            return Ok(Prim::Fail);
        };
        let start = match f.method.code.get(f.pc) {
            Some(144..=151) => f.pc + 1,
            Some(160..=167) => f.pc + 2,
            _ => {
                return Err(RunError::Unimplemented(
                    "blockCopy: not followed by a jump over the block".into(),
                ))
            }
        };
        let start = int(f.method.v3_pc(start));
        let shape = self.image.shape(home)?;
        let size = shape.len.saturating_sub(TEMPS);
        let mut slots = vec![self.sh.nil; TEMPS + size];
        slots[PC] = start;
        slots[STACKP] = int(0);
        slots[BLOCK_NARGS] = int(nargs);
        slots[BLOCK_STARTPC] = start;
        slots[BLOCK_HOME] = home;
        // The block is on the current frame's stack, and nowhere else until it escapes.
        let depth = self.frames.len() - 1;
        let block = self.new_context(self.sh.block_context, &slots, Some(depth))?;
        self.check_allocation()?;
        Ok(Prim::Answer(block))
    }

    /// Primitive 81, `value`, `value:`...: runs the block in a new frame whose temporaries
    /// are its home's. The arguments stay on the frame's stack, where the block's first
    /// bytecodes pop them into the home's temporaries.
    pub(crate) fn prim_value(&mut self, ri: usize, nargs: usize) -> Result<Prim, RunError> {
        let block = self.stack[ri];
        if !block.is_object() || self.class_of(block)? != self.sh.block_context {
            return Ok(Prim::Fail);
        }
        if self.image.read(block, BLOCK_NARGS)?.as_small_int() != Some(nargs as i64) {
            return Ok(Prim::Fail);
        }
        let home = self.image.read(block, BLOCK_HOME)?;
        if !home.is_object() || self.image.format_of(home)? != Format::Pointers {
            return Ok(Prim::Fail);
        }
        let method = self.image.read(home, METHOD)?;
        let m = self.cache.method(self.image, self.sh, method)?;
        let receiver = self.image.read(home, RECEIVER)?;
        let start = self.image.read(block, BLOCK_STARTPC)?.as_small_int();
        let pc = start.and_then(|pc| m.code_index(pc)).ok_or_else(|| {
            RunError::Malformed("a block's start pc is outside its method".into())
        })?;
        if self.frames.len() >= self.limits.depth {
            return Err(RunError::DepthLimit {
                limit: self.limits.depth,
            });
        }
        self.frames.push(Frame {
            method: m,
            pc,
            bp: ri,
            receiver,
            ctx: Some(home),
            block: Some(block),
        });
        Ok(Prim::Switched)
    }

    /// Primitive 82, `valueWithArguments: anArray`: `value:`... with the Array's elements.
    pub(crate) fn prim_value_with_arguments(&mut self, ri: usize) -> Result<Prim, RunError> {
        let (block, args) = (self.stack[ri], self.stack[ri + 1]);
        if !args.is_object()
            || self.class_of(args)? != self.sh.array
            || !block.is_object()
            || self.class_of(block)? != self.sh.block_context
        {
            return Ok(Prim::Fail);
        }
        let n = self.image.size_of(args)?;
        if self.image.read(block, BLOCK_NARGS)?.as_small_int() != Some(n as i64) {
            return Ok(Prim::Fail);
        }
        self.spread_arguments(ri, args, n)?;
        match self.prim_value(ri, n)? {
            Prim::Fail => {
                // Leave the stack as it was found.
                self.stack.truncate(ri + 1);
                self.stack.push(args);
                Ok(Prim::Fail)
            }
            done => Ok(done),
        }
    }
}
