//! One run's state, [`Exec`], and the operations every layer above uses: the operand stack,
//! the frame stack and its one depth check ([`Exec::check_depth`]), stores that keep the
//! method cache and the context pool honest, classes, identity, the allocation check, and the
//! errors a run stops with.
//!
//! A frame's receiver, arguments and temporaries sit on `stack` from `bp` on, followed by its
//! operand stack, until the frame is materialized (see `contexts.rs`); from then on its
//! temporaries live in the context object (`ctx`), which its blocks share. A block frame's
//! temporaries are always its home context's.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::limits::{Limits, RunError, RunStats, TIME_CHECK_BYTECODES};
use super::lookup::MethodCache;
use super::method::Method;
use super::pool::ContextPool;
use super::special::Shared;
use cowheap::{Image, Value};

/// One activation.
pub(crate) struct Frame {
    pub(crate) method: Rc<Method>,
    /// The index of the next bytecode (saved when the frame sends).
    pub(crate) pc: usize,
    /// Stack index of the receiver (method frames) or the BlockContext (block frames); the
    /// frame's arguments and, while it has no context, its temporaries follow.
    pub(crate) bp: usize,
    pub(crate) receiver: Value,
    /// The context object that holds this frame's temporaries, once there is one.
    pub(crate) ctx: Option<Value>,
    /// For block frames: the BlockContext being run.
    pub(crate) block: Option<Value>,
}

/// The smallest and largest SmallInteger of a 32-bit image.
pub(crate) const MIN_INT: i64 = -(1 << 30);
pub(crate) const MAX_INT: i64 = (1 << 30) - 1;

/// A SmallInteger the caller knows to be in the 31-bit range.
#[inline(always)]
pub(crate) fn int(i: i64) -> Value {
    debug_assert!((MIN_INT..=MAX_INT).contains(&i));
    Value::small_int_wrapping(i)
}

/// A SmallInteger if `i` fits the image's 31 bits.
#[inline(always)]
pub(crate) fn int_in_range(i: i64) -> Option<Value> {
    (MIN_INT..=MAX_INT).contains(&i).then(|| int(i))
}

/// What an [`Interpreter`](super::Interpreter) keeps for its image between runs and lends to
/// each run: the method cache, the dead contexts, the stacks (so that their allocations are
/// reused), the limits, the image's number and the last run's counts.
#[derive(Default)]
pub(crate) struct ImageState {
    pub(crate) cache: MethodCache,
    /// Dead contexts of this image, for reuse.
    pub(crate) pool: ContextPool,
    pub(crate) stack: Vec<Value>,
    pub(crate) frames: Vec<Frame>,
    pub(crate) limits: Limits,
    pub(crate) image_number: i64,
    pub(crate) stats: RunStats,
    /// Set by the host to stop the image's runs.
    pub(crate) interrupt: Option<Arc<AtomicBool>>,
}

/// One run's state: borrowed from the [`ImageState`] of an
/// [`Interpreter`](super::Interpreter) and its image. The stacks are moved in (not borrowed),
/// so that the dispatch loop reaches them without a second indirection, and moved back by
/// [`finish`](Exec::finish).
pub(crate) struct Exec<'a> {
    pub(crate) image: &'a mut Image,
    pub(crate) sh: &'a Shared,
    pub(crate) cache: &'a mut MethodCache,
    pub(crate) pool: &'a mut ContextPool,
    pub(crate) stack: Vec<Value>,
    pub(crate) frames: Vec<Frame>,
    pub(crate) limits: Limits,
    stats: &'a mut RunStats,
    pub(crate) bytecodes: u64,
    /// The count of `bytecodes` past which [`checkpoint`](Exec::checkpoint) looks at the
    /// limits: the bytecode limit, or sooner the next look at the clock.
    pub(crate) next_check: u64,
    /// Work that primitives charged against the bytecode budget (elements copied, objects
    /// scanned): counted apart, so that `bytecodes` stays the bytecodes executed.
    charged: u64,
    /// When the time budget runs out.
    deadline: Option<Instant>,
    /// The host's request to stop, looked at with the clock.
    interrupt: Option<&'a AtomicBool>,
    pub(crate) sends: u64,
    pub(crate) image_number: i64,
    /// The number of the last primitive that failed, for the report when the fallback code
    /// ends in `error:`.
    pub(crate) last_failed_primitive: u16,
    /// False while the expression compiler holds references in Rust (its literals) across
    /// the runs it makes (`asSymbol`): no collection may move them then.
    pub(crate) may_collect: bool,
    home: (&'a mut Vec<Value>, &'a mut Vec<Frame>),
}

impl<'a> Exec<'a> {
    /// A run in `image` over the base's `sh`, with the interpreter's `state`.
    pub(crate) fn new(image: &'a mut Image, sh: &'a Shared, state: &'a mut ImageState) -> Exec<'a> {
        let ImageState {
            cache,
            pool,
            stack,
            frames,
            limits,
            image_number,
            stats,
            interrupt,
        } = state;
        let mut run_stack = std::mem::take(stack);
        let mut run_frames = std::mem::take(frames);
        run_stack.clear();
        run_frames.clear();
        let limits = *limits;
        let interrupt = interrupt.as_deref();
        Exec {
            image,
            sh,
            cache,
            pool,
            stack: run_stack,
            frames: run_frames,
            limits,
            stats,
            bytecodes: 0,
            next_check: next_check(&limits, interrupt.is_some(), 0),
            charged: 0,
            deadline: limits.time.and_then(|t| Instant::now().checked_add(t)),
            interrupt,
            sends: 0,
            image_number: *image_number,
            last_failed_primitive: 0,
            may_collect: true,
            home: (stack, frames),
        }
    }

    /// Records the run's counts and gives the stacks back for the next run.
    /// Collects the image's private space at a safe point: every reference this run holds
    /// is on its stack or in its frames, which are the roots and are updated in place. The
    /// method cache is dropped (its keys are references) and the dead contexts forgotten (the
    /// collector frees them); a frame running a private method (a doit, a method the image
    /// compiled) gets it decoded again from the object's new reference.
    pub(crate) fn collect_garbage(&mut self) -> Result<cowheap::Collection, RunError> {
        self.pool.forget_all();
        self.cache.flush();
        let mut methods: Vec<Value> = self.frames.iter().map(|f| f.method.oop).collect();
        let (stack, frames) = (&mut self.stack, &mut self.frames);
        let collection = self.image.collect_with(&mut |each| {
            stack.iter_mut().for_each(&mut *each);
            for f in frames.iter_mut() {
                each(&mut f.receiver);
                f.ctx.iter_mut().for_each(&mut *each);
                f.block.iter_mut().for_each(&mut *each);
            }
            methods.iter_mut().for_each(&mut *each);
        })?;
        for (i, &m) in methods.iter().enumerate() {
            if self.frames[i].method.oop != m {
                self.frames[i].method = Rc::new(Method::decode(self.image, m)?);
            }
        }
        Ok(collection)
    }

    pub(crate) fn finish<T>(mut self, r: Result<T, RunError>) -> Result<T, RunError> {
        self.stats.bytecodes = self.bytecodes;
        self.stats.sends = self.sends;
        // After a stop, the frames never returned: what they made stays (a successful run
        // has returned every frame, and tracks nothing any more).
        self.pool.escape_all();
        self.stack.clear();
        self.frames.clear();
        *self.home.0 = std::mem::take(&mut self.stack);
        *self.home.1 = std::mem::take(&mut self.frames);
        r
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Result<Value, RunError> {
        self.stack.pop().ok_or_else(underflow)
    }

    #[inline(always)]
    pub(crate) fn top(&self) -> Result<Value, RunError> {
        self.stack.last().copied().ok_or_else(underflow)
    }

    #[inline(always)]
    pub(crate) fn boolean(&self, b: bool) -> Value {
        self.sh.boolean(b)
    }

    /// The depth limit: the one check, which every push of a frame (a method's activation, a
    /// block's `value`) makes first, before it builds the frame.
    #[inline(always)]
    pub(crate) fn check_depth(&self) -> Result<(), RunError> {
        if self.frames.len() >= self.limits.depth {
            return Err(RunError::DepthLimit {
                limit: self.limits.depth,
            });
        }
        Ok(())
    }

    /// Counts `n` units of a primitive's work (an element copied, an object scanned) against
    /// the bytecode budget, and stops the run when that or the time budget is spent: what a
    /// primitive whose work grows with a size calls, in chunks, as it goes.
    #[inline]
    pub(crate) fn charge(&mut self, n: u64) -> Result<(), RunError> {
        self.charged = self.charged.saturating_add(n);
        self.next_check = self.next_check.saturating_sub(n);
        if self.bytecodes > self.next_check {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Where the count of bytecodes passed `next_check`: stops the run past the bytecode
    /// limit or the deadline, or when the host interrupted it, or sets and answers the next
    /// check.
    #[cold]
    #[inline(never)]
    pub(crate) fn checkpoint(&mut self) -> Result<u64, RunError> {
        let work = self.bytecodes.saturating_add(self.charged);
        if work > self.limits.bytecodes {
            return Err(RunError::BytecodeLimit {
                limit: self.limits.bytecodes,
            });
        }
        if self.interrupt.is_some_and(|i| i.load(Ordering::Relaxed)) {
            return Err(RunError::Interrupted);
        }
        if let (Some(deadline), Some(limit)) = (self.deadline, self.limits.time) {
            if Instant::now() >= deadline {
                return Err(RunError::TimeLimit { limit });
            }
        }
        // `next_check` counts bytecodes alone: the charged work is taken off it.
        self.next_check =
            next_check(&self.limits, self.interrupt.is_some(), work).saturating_sub(self.charged);
        Ok(self.next_check)
    }

    /// The class of any value: SmallIntegers' from the special objects.
    #[inline(always)]
    pub(crate) fn class_of(&mut self, v: Value) -> Result<Value, RunError> {
        if v.as_small_int().is_some() {
            Ok(self.sh.small_integer)
        } else if v.is_object() {
            Ok(self.image.class_of(v)?)
        } else {
            Ok(self.sh.character)
        }
    }

    /// `==`: the same object as this image sees it (a base object and its copy are one).
    #[inline]
    pub(crate) fn identical(&mut self, a: Value, b: Value) -> Result<bool, RunError> {
        Ok(a == b || (a.is_object() && b.is_object() && self.image.identical(a, b)?))
    }

    /// Stores into a pointers object (or a method's literal), keeping the method cache honest.
    /// First the commonest case, with nothing else in the function to save registers for: a
    /// store of anything the context pool need not hear about into one of this image's own
    /// objects that the method cache does not watch.
    #[inline(never)]
    pub(crate) fn store(&mut self, obj: Value, index: usize, v: Value) -> Result<(), RunError> {
        if self.store_plain(obj, index, v) {
            return Ok(());
        }
        self.store_in_full(obj, index, v)
    }

    /// [`store`](Exec::store)'s commonest case alone, inline: true if it stored, false (and
    /// nothing stored) where the caller must call `store`. For a primitive's hot path
    /// (`at:put:`), which then makes no call for it.
    #[inline(always)]
    pub(crate) fn store_plain(&mut self, obj: Value, index: usize, v: Value) -> bool {
        (!v.is_object() || self.pool.idle())
            && !self.cache.watches(obj)
            && self.image.set_private_field(obj, index, v)
    }

    /// [`store`](Exec::store), every case.
    #[inline(never)]
    fn store_in_full(&mut self, obj: Value, index: usize, v: Value) -> Result<(), RunError> {
        if v.is_object() && !self.pool.idle() {
            self.pool.note_store(obj, v);
        }
        // This image's own objects (contexts, new objects, copies) are their own canonical
        // reference: store in place unless the cache watches them.
        if !self.cache.watches(obj) && self.image.set_private_field(obj, index, v) {
            return Ok(());
        }
        let obj = self.image.canonical(obj)?;
        self.cache.before_store(obj);
        self.image.write(obj, index, v)?;
        Ok(())
    }

    /// Stops the image if its private space outgrew the cap.
    pub(crate) fn check_allocation(&self) -> Result<(), RunError> {
        let bytes = self.image.private_bytes();
        if bytes > self.limits.private_bytes {
            Err(RunError::AllocationLimit {
                limit: self.limits.private_bytes,
                bytes,
            })
        } else {
            Ok(())
        }
    }

    /// A LargePositiveInteger or LargeNegativeInteger: magnitude bytes, least significant
    /// first, as the image's own LargeInteger code expects.
    pub(crate) fn large_integer(&mut self, n: i128) -> Result<Value, RunError> {
        let class = if n < 0 {
            self.sh.large_negative.ok_or_else(|| {
                RunError::Unsupported("the image has no LargeNegativeInteger".into())
            })?
        } else {
            self.sh.large_positive
        };
        let mut mag = n.unsigned_abs();
        let mut bytes = Vec::new();
        while mag != 0 {
            bytes.push(mag as u8);
            mag >>= 8;
        }
        let v = self.image.new_bytes(class, &bytes)?;
        self.image
            .set_language_format(v, 8 | ((4 - bytes.len() % 4) % 4) as u8)?;
        Ok(v)
    }

    /// The stop for a send (or a `perform:`) that no class on the receiver's chain
    /// understands.
    pub(crate) fn dnu(&mut self, selector: Value, receiver: Value) -> RunError {
        let selector = self
            .image
            .bytes(selector)
            .map(|b| b.into_iter().map(char::from).collect())
            .unwrap_or_else(|_| format!("{selector:?}"));
        RunError::DoesNotUnderstand {
            selector,
            class: self.class_name_of(receiver),
        }
    }

    /// The stop for a method that would open a debugger, with the message in argument `arg`
    /// of the receiver at stack index `ri` (`None`: `halt`).
    pub(crate) fn smalltalk_error(&mut self, ri: usize, arg: Option<usize>) -> RunError {
        let message = if let Some(&arg) = arg.and_then(|k| self.stack.get(ri + 1 + k)) {
            match self.image.bytes(arg) {
                Ok(b) => b.into_iter().map(char::from).collect(),
                Err(_) => format!("{arg:?}"),
            }
        } else {
            "halt".to_owned()
        };
        let message = match self.last_failed_primitive {
            0 => message,
            p => format!("{message} (the last primitive that failed was {p})"),
        };
        RunError::SmalltalkError { message }
    }

    /// The class name of an object, for reports.
    pub(crate) fn class_name_of(&mut self, v: Value) -> String {
        match self.class_of(v) {
            Ok(c) => self.class_name(c),
            Err(e) => format!("<{e}>"),
        }
    }

    /// A class's name (a metaclass's is its class's with " class"), for reports.
    pub(crate) fn class_name(&mut self, class: Value) -> String {
        let name = |image: &mut Image, c: Value, slot: usize| -> Option<String> {
            let n = image.read(c, slot).ok()?;
            let b = image.bytes(n).ok()?;
            Some(b.into_iter().map(char::from).collect())
        };
        if let Some(n) = name(self.image, class, self.sh.class_name_slot) {
            return n;
        }
        if let Ok(this) = self.image.read(class, self.sh.this_class_slot) {
            if let Some(n) = name(self.image, this, self.sh.class_name_slot) {
                return n + " class";
            }
        }
        format!("{class:?}")
    }
}

/// The count of bytecodes after `bytecodes` at which a run next looks at its limits (and at
/// the clock and the host's interrupt, where it has either).
fn next_check(limits: &Limits, interruptible: bool, bytecodes: u64) -> u64 {
    let clock = if limits.time.is_some() || interruptible {
        bytecodes.saturating_add(TIME_CHECK_BYTECODES)
    } else {
        u64::MAX
    };
    clock.min(limits.bytecodes)
}

/// The stop for a pop or an operand read below the frame's stack.
#[cold]
#[inline(never)]
pub(crate) fn underflow() -> RunError {
    RunError::Malformed("the operand stack underflowed".into())
}
