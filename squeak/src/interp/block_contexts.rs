//! V3 BlockContexts: `blockCopy:` makes one (a context of the pool's where it has a dead one,
//! in the dispatch loop or on the full path), `value` enters one as a frame whose temporaries
//! are its home's, and its return marks it returned so that it may run again. A running
//! block's `caller` holds [`RUNNING`] while its caller is a native frame. The layer below
//! (`contexts.rs`) makes the contexts; primitives 80-82 check their receiver and arguments and
//! call here.

use std::rc::Rc;

use super::contexts::{
    BLOCK_HOME, BLOCK_NARGS, BLOCK_STARTPC, CONTEXT_FORMAT, METHOD, PC, RECEIVER, RUNNING, SENDER,
    STACKP, TEMPS,
};
use super::limits::RunError;
use super::method::Method;
use super::state::{int, Exec, Frame};
use cowheap::{Format, Value};

impl Exec<'_> {
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
    /// frame `top` of `frames` with `pc` past the send, where the home is one of this image's
    /// own contexts: a dead BlockContext of the pool's reused, else, while the image wants no
    /// collection, a new one (a block made at each turn of a loop in a frame that has not
    /// returned: nothing it made is dead yet). `Ok(None)` (nothing done) otherwise, or where
    /// the full path answers a failure; an error is the allocation limit's.
    pub(crate) fn block_copy_in_loop(
        &mut self,
        frames: &[Frame],
        top: usize,
        pc: usize,
        rcvr: Value,
        class: Value,
        nargs: Value,
    ) -> Result<Option<Value>, RunError> {
        let Some(nargs) = nargs.as_small_int() else {
            return Ok(None);
        };
        let home = if class == self.sh.method_context {
            rcvr
        } else if class == self.sh.block_context {
            match self.image.read_fast(rcvr, BLOCK_HOME) {
                Some(home) => home,
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        if self.image.filler() != self.sh.nil {
            return Ok(None);
        }
        let (Some(start), Some(t)) = (
            frames.get(top).and_then(|f| block_start(&f.method, pc)),
            self.image.fields_token(home),
        ) else {
            return Ok(None);
        };
        let len = t.len().max(TEMPS);
        let slots = self.block_slots(start, nargs, home);
        let class = self.sh.block_context;
        if let Some(block) = self.reuse_context(class, len, &slots, top) {
            return Ok(Some(block));
        }
        // Collecting is the safe point's, which the full path reaches.
        if self.image.wants_collection() {
            return Ok(None);
        }
        // The pool was asked above, and the filler is nil: `new_context`'s allocation alone
        // (it would ask the pool again).
        let block = self
            .image
            .new_pointers_with_format(class, len, &slots, CONTEXT_FORMAT)?;
        if !self.pool.off {
            self.pool.track(block, class, len, top);
        }
        self.check_allocation()?;
        Ok(Some(block))
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
        if frames.len() >= self.limits.depth
            || frames.len() == frames.capacity()
            || !self.image.write_token(&bt, SENDER, RUNNING)
        {
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
        // A home that is no MethodContext (a block's fields written from Smalltalk) fails
        // the primitive, whose fallback then stops with the image's own error, not at a read
        // of a field the object has not.
        if !home.is_object() || !self.class_is(home, self.sh.method_context)? {
            return Ok(false);
        }
        // The heap's fast read answers only for a pointers object, and then the method it
        // reads is canonical (the method cache's key): the common case needs neither the
        // format check nor the canonical reference.
        let method = match self.image.read_fast(home, METHOD) {
            Some(method) => method,
            None => {
                if self.image.format_of(home)? != Format::Pointers {
                    return Ok(false);
                }
                self.image.read(home, METHOD)?
            }
        };
        let receiver = self.image.read(home, RECEIVER)?;
        let start = self.image.read(block, BLOCK_STARTPC)?;
        let (m, pc) = self.block_start(method, start, "block")?;
        self.push_block_frame(block, home, m, pc, receiver, ri)?;
        Ok(true)
    }

    /// The decoded `method` a block runs in and the index of its first bytecode, from its
    /// start pc `start`: what a BlockContext's and a BlockClosure's entries both read
    /// (`what` names which, for the error of a start outside the method). Inlined, as the
    /// code was in both before it was shared: out of line, it moved the dispatch loop's code
    /// by 640 bytes and `1000 factorial printString size` by +10% in time, with the same
    /// instructions.
    #[inline(always)]
    pub(crate) fn block_start(
        &mut self,
        method: Value,
        start: Value,
        what: &str,
    ) -> Result<(Rc<Method>, usize), RunError> {
        let m = match self.cache.decoded(method) {
            Some(m) => m,
            None => self.cache.method(self.image, self.sh, method)?,
        };
        let pc = start.as_small_int().and_then(|pc| m.code_index(pc));
        let pc = pc.ok_or_else(|| {
            RunError::Malformed(format!("a {what}'s start pc is outside its method"))
        })?;
        Ok((m, pc))
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
        // Through the token its entry kept (a memo's token is of a block not watched, and
        // its epoch says whether it still holds), else as any caller is set.
        match self.cache.kept_block_token(block) {
            Some(t) if self.image.write_token(&t, SENDER, nil) => Ok(()),
            _ => self.set_caller(block, nil),
        }
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

/// True where the `thisContext` (bytecode 137) before index `after` of `code` is pushed for a
/// `blockCopy:` (a push of the argument count, then bytecode 200): the head of every V3
/// block, which needs the frame's context and no chain of senders.
#[inline(always)]
pub(crate) fn block_copy_follows(code: &[u8], after: usize) -> bool {
    matches!(code.get(after), Some(116..=119 | 32..=63)) && code.get(after + 1) == Some(&200)
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
