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

use super::execute::{int, Exec, Frame, Prim};
use super::RunError;
use crate::{Format, Value};

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

impl Exec<'_> {
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
        let c = self.image.new_pointers(self.sh.method_context, &slots)?;
        self.image.set_smalltalk_format(c, CONTEXT_FORMAT)?;
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
        let block = self.image.new_pointers(self.sh.block_context, &slots)?;
        self.image.set_smalltalk_format(block, CONTEXT_FORMAT)?;
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
}
