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

use super::limits::RunError;
use super::state::{int, Exec, Frame};
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

    /// True for a BlockContext.
    #[inline(always)]
    pub(crate) fn is_block(&mut self, v: Value) -> Result<bool, RunError> {
        Ok(v.is_object() && self.class_of(v)? == self.sh.block_context)
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
        let class = self.class_of(rcvr)?;
        let home = if class == self.sh.block_context {
            self.image.read(rcvr, BLOCK_HOME)?
        } else if class == self.sh.method_context {
            rcvr
        } else {
            return Ok(None);
        };
        let Some(f) = self.frames.last() else {
            return Ok(None);
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
        Ok(Some(block))
    }

    /// What `value` with `nargs` arguments does to `block` (see
    /// [`enter_block`](Exec::enter_block)) where the heap's fast reads answer: a BlockContext
    /// (its class read without a call) whose argument count, start and home, and its home's
    /// method and receiver, are read with the checks on each object made once
    /// ([`Image::read_fast_fields`](cowheap::Image::read_fast_fields)). `None` (nothing
    /// done) sends the caller down the general path.
    #[inline(always)]
    pub(crate) fn enter_block_fast(
        &mut self,
        block: Value,
        ri: usize,
        nargs: usize,
    ) -> Result<Option<bool>, RunError> {
        const _: () = assert!(BLOCK_STARTPC == BLOCK_NARGS + 1 && BLOCK_HOME == BLOCK_NARGS + 2);
        const _: () = assert!(RECEIVER == METHOD + 2);
        if self.image.class_fast(block) != Some(self.sh.block_context) {
            return Ok(None);
        }
        let Some([n, start, home]) = self.image.read_fast_fields::<3>(block, BLOCK_NARGS) else {
            return Ok(None);
        };
        if n.as_small_int() != Some(nargs as i64) {
            return Ok(Some(false));
        }
        let Some([method, _, receiver]) = self.image.read_fast_fields::<3>(home, METHOD) else {
            return Ok(None);
        };
        // As in `enter_block`: the fast read answers only for a pointers object, and then
        // the method it reads is canonical.
        let Some(m) = self.cache.decoded(method) else {
            return Ok(None);
        };
        let Some(pc) = start.as_small_int().and_then(|pc| m.code_index(pc)) else {
            return Ok(None);
        };
        self.check_depth()?;
        self.frames.push(Frame {
            method: m,
            pc,
            bp: ri,
            receiver,
            ctx: Some(home),
            block: Some(block),
        });
        Ok(Some(true))
    }

    /// Runs the BlockContext `block` (at stack index `ri`, its arguments above it) in a new
    /// frame whose temporaries are its home's. The arguments stay on the frame's stack, where
    /// the block's first bytecodes pop them into the home's temporaries. `false` (nothing
    /// done) if its home is not a context. Inlined into primitive 81, the hot path of every
    /// block loop.
    #[inline(always)]
    pub(crate) fn enter_block(&mut self, block: Value, ri: usize) -> Result<bool, RunError> {
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
        self.check_depth()?;
        self.frames.push(Frame {
            method: m,
            pc,
            bp: ri,
            receiver,
            ctx: Some(home),
            block: Some(block),
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::limits::Limits;
    use crate::interp::tests::{int, Run};

    #[test]
    fn this_context_is_a_method_context_of_the_frame() {
        let mut r = Run::new();
        let (object, pair_class, nil) = (r.t.k.object, r.t.pair, r.nil());
        let bar = r.sym("bar");
        r.define(object, "instVarAt:", &[bar], 1, 1, 73, &[32, 124]);
        let iva = r.sym("instVarAt:");
        // answer  ^thisContext instVarAt: 1   (its sender, the caller's context)
        r.define(pair_class, "answer", &[iva], 0, 0, 0, &[137, 118, 224, 124]);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        let answer = r.sym("answer");
        let doit = r.method(&[answer], 0, 0, 0, &[112, 208, 124]);
        let sender = r.interp.run_method(&mut r.image, doit, pair).unwrap();
        assert_eq!(r.image.class_of(sender).unwrap(), r.t.method_context);
        assert_eq!(r.image.read(sender, METHOD).unwrap(), doit);
        assert_eq!(r.image.read(sender, RECEIVER).unwrap(), pair);
        // It returned since: a returned context has no sender and no pc.
        assert_eq!(r.image.read(sender, SENDER).unwrap(), nil);
        assert_eq!(r.image.read(sender, PC).unwrap(), nil);
    }

    #[test]
    fn a_block_context_names_its_home_and_shares_its_temporaries() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        // ^[nil]
        let block = r
            .run(nil, &[], 0, &[137, 117, 200, 164, 2, 115, 125, 124])
            .unwrap();
        assert_eq!(r.image.class_of(block).unwrap(), r.t.block_context);
        assert_eq!(r.image.read(block, BLOCK_NARGS).unwrap(), int(0));
        let home = r.image.read(block, BLOCK_HOME).unwrap();
        assert_eq!(r.image.class_of(home).unwrap(), r.t.method_context);
        // | t | [:x | t := x] value: 5. ^t
        let code = [
            137, 118, 200, 164, 5, 105, 17, 129, 64, 125, 32, 202, 135, 16, 124,
        ];
        assert_eq!(r.run(nil, &[int(5)], 2, &code), Ok(int(5)));
    }

    #[test]
    fn contexts_that_died_with_their_frame_are_reused() {
        let run = |reuse: bool| {
            let mut r = Run::new();
            r.install_blocks();
            r.interp.set_context_reuse(reuse);
            let pair_class = r.t.pair;
            // foo  ^[nil] value
            let code = [137, 117, 200, 164, 2, 115, 125, 201, 124];
            r.define(pair_class, "foo", &[], 0, 0, 0, &code);
            r.interp.set_context_reuse(reuse);
            let pair = r.instance(pair_class, &[int(1), int(2)], 1);
            let foo = r.sym("foo");
            // 50 timesRepeat: [self foo]
            let code = [
                117, 104, 16, 32, 178, 172, 9, 112, 209, 135, 16, 118, 176, 104, 163, 242, 16, 124,
            ];
            assert_eq!(r.run(pair, &[int(50), foo], 1, &code), Ok(int(50)));
            (r.interp.contexts_reused(), r.image.stats().private_bytes)
        };
        let (reused, small) = run(true);
        let (none, large) = run(false);
        // Each call's MethodContext and BlockContext, after the first call's.
        assert_eq!(reused, 2 * 49);
        assert_eq!(none, 0);
        assert!(small < large, "{small} < {large}");
    }

    #[test]
    fn a_block_frame_meets_the_depth_limit() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        let code = [137, 117, 200, 164, 2, 118, 125, 201, 124];
        assert_eq!(r.run(nil, &[], 0, &code), Ok(int(1)));
        r.set_limits(Limits {
            depth: 1,
            ..Limits::default()
        });
        assert_eq!(
            r.run(nil, &[], 0, &code),
            Err(RunError::DepthLimit { limit: 1 })
        );
    }
}
