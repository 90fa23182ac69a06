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
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::expr::ParseError;
use super::heap::Heap;
use super::limits::{Limits, RunError, RunStats, TIME_CHECK_BYTECODES};
use super::lookup::MethodCache;
use super::method::Method;
use super::pool::ContextPool;
use super::special::Shared;
use cowheap::Value;

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
    /// What `$i` stands for, once the host numbers the image (`None`: the Character `i`).
    pub(crate) image_number: Option<i64>,
    pub(crate) stats: RunStats,
    /// Set by the host to stop the image's runs.
    pub(crate) interrupt: Option<Arc<AtomicBool>>,
    /// The image's timer (primitive 136): the [`millisecond_clock`] value after which the
    /// semaphore in the special objects' `TheTimerSemaphore` slot is signalled. It outlives a
    /// run, as a Delay scheduled in one run is still pending in the next.
    pub(crate) wakeup: Option<i64>,
    /// What the image wrote to its Transcript and nobody took yet (see `transcript.rs`).
    pub(crate) transcript: String,
    /// How much of the global Transcript's pending buffer (written, no `endEntry` yet) is
    /// already in `transcript`: what the end of a run took.
    pub(crate) transcript_taken: usize,
}

/// The image's millisecond clock (primitive 135 and the timer): milliseconds since the
/// first use in this OS process, in the 30 bits of a SmallInteger (it wraps after 12 days).
pub(crate) fn millisecond_clock() -> i64 {
    (clock_start().elapsed().as_millis() as i64) & MAX_INT
}

/// The instant at which [`millisecond_clock`] has passed `ms` in full: when a timer set for
/// `ms` fires, so that a Delay never ends early by the part of a millisecond the clock drops.
pub(crate) fn instant_after_ms(ms: i64) -> Instant {
    clock_start() + Duration::from_millis(ms.max(0) as u64 + 1)
}

fn clock_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// One run's state: borrowed from the [`ImageState`] of an
/// [`Interpreter`](super::Interpreter) and its image. The stacks are moved in (not borrowed),
/// so that the dispatch loop reaches them without a second indirection, and moved back by
/// [`finish`](Exec::finish).
pub(crate) struct Exec<'a> {
    pub(crate) image: &'a mut Heap,
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
    pub(crate) image_number: Option<i64>,
    /// The number of the last primitive that failed, for the report when the fallback code
    /// ends in `error:`.
    pub(crate) last_failed_primitive: u16,
    /// False while the expression compiler holds references in Rust (its literals) across
    /// the runs it makes (`asSymbol`): no collection may move them then.
    pub(crate) may_collect: bool,
    /// The image's pending timer (see [`ImageState::wakeup`]).
    pub(crate) wakeup: Option<i64>,
    /// Set by [`checkpoint`](Exec::checkpoint) when the timer is due: the dispatch loop
    /// then stops before its next bytecode and signals the timer semaphore (a process switch
    /// where a waiting process has the higher priority), as the real VM's interrupt check.
    pub(crate) timer_due: bool,
    /// The process that was active when this run's first process switch happened: the one
    /// evaluating the run, whose bottom frame returning ends the run (`None`: no switch yet).
    pub(crate) run_process: Option<Value>,
    /// True while another process than `run_process` runs: its bottom context returning is a
    /// `cannotReturn:`, not the run's answer.
    pub(crate) foreign: bool,
    /// The image's Transcript output, kept between runs (see `transcript.rs`).
    pub(crate) transcript: &'a mut String,
    pub(crate) transcript_taken: &'a mut usize,
    wakeup_home: &'a mut Option<i64>,
    home: (&'a mut Vec<Value>, &'a mut Vec<Frame>),
    /// The last context whose temporaries the dispatch loop reached, with a heap token for
    /// its fields (`FieldsToken`: checked once, then the layout epoch and the bound at each
    /// use). A token whose use failed is dropped and made again at the next.
    pub(crate) ctx_token: Option<(Value, cowheap::vm::FieldsToken)>,
    /// The context `ctx_token` held before: a block sent from a method of another home (an
    /// `inject:into:`, whose `do:` block and the caller's block run in turn, each storing
    /// into its own home) would make a token at every switch with one slot. Looked at only
    /// where `ctx_token` missed, and swapped with it on a hit, so that the dispatch loop's
    /// inline look (`ctx_token` alone) finds the context it runs in.
    pub(crate) ctx_token_before: Option<(Value, cowheap::vm::FieldsToken)>,
    /// The same for the last receiver whose field the dispatch loop stored into.
    pub(crate) receiver_token: Option<(Value, cowheap::vm::FieldsToken)>,
    /// The receiver `receiver_token` held before (a loop that reads the fields of two
    /// receivers in turn, an OrderedCollection's `addLast:` under an Interval's `do:`, would
    /// make a token at every read with one slot): looked at only where that one missed.
    pub(crate) receiver_token_before: Option<(Value, cowheap::vm::FieldsToken)>,
}

impl<'a> Exec<'a> {
    /// A run in `image` over the base's `sh`, with the interpreter's `state`.
    pub(crate) fn new(image: &'a mut Heap, sh: &'a Shared, state: &'a mut ImageState) -> Exec<'a> {
        let ImageState {
            cache,
            pool,
            stack,
            frames,
            limits,
            image_number,
            stats,
            interrupt,
            wakeup,
            transcript,
            transcript_taken,
        } = state;
        let mut run_stack = std::mem::take(stack);
        let mut run_frames = std::mem::take(frames);
        run_stack.clear();
        run_frames.clear();
        // The depth a run reaches is bounded by the allocation cap too (`depth_reached`).
        let limits = Limits {
            depth: limits.depth_reached(),
            ..*limits
        };
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
            next_check: next_check(&limits, interrupt.is_some() || wakeup.is_some(), 0),
            charged: 0,
            deadline: limits.time.and_then(|t| Instant::now().checked_add(t)),
            interrupt,
            sends: 0,
            image_number: *image_number,
            last_failed_primitive: 0,
            may_collect: true,
            wakeup: *wakeup,
            timer_due: false,
            run_process: None,
            foreign: false,
            transcript,
            transcript_taken,
            wakeup_home: wakeup,
            home: (stack, frames),
            ctx_token: None,
            ctx_token_before: None,
            receiver_token: None,
            receiver_token_before: None,
        }
    }

    /// Records the run's counts and gives the stacks back for the next run.
    /// Collects the image's private space at a safe point: every reference this run holds
    /// is on its stack or in its frames, which are the roots and are updated in place. The
    /// method cache keeps only what base objects decided (see `after_collection`) and the dead contexts are forgotten (the
    /// collector frees them); a frame running a private method (a doit, a method the image
    /// compiled) gets it decoded again from the object's new reference.
    pub(crate) fn collect_garbage(&mut self) -> Result<cowheap::Collection, RunError> {
        self.pool.forget_all();
        self.cache.after_collection();
        let mut methods: Vec<Value> = self.frames.iter().map(|f| f.method.oop).collect();
        let (stack, frames, run_process) =
            (&mut self.stack, &mut self.frames, &mut self.run_process);
        let collection = self.image.collect_with(&mut |each| {
            stack.iter_mut().for_each(&mut *each);
            run_process.iter_mut().for_each(&mut *each);
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
        // A collection's work grows with the space it looked through: charged as a copy's
        // is, so that a loop of collections (`Smalltalk garbageCollect`, or of allocations
        // that each make one) still looks at the clock and the host's interrupt.
        self.charge(collection.before_bytes / 16)?;
        Ok(collection)
    }

    pub(crate) fn finish<T>(mut self, r: Result<T, RunError>) -> Result<T, RunError> {
        self.stats.bytecodes = self.bytecodes;
        self.stats.sends = self.sends;
        *self.wakeup_home = self.wakeup;
        // After a stop, the frames never returned: what they made stays (a successful run
        // has returned every frame, and tracks nothing any more). Their blocks lose their
        // caller (field 0), so that a later run may run them again.
        let running: Vec<Value> = self.frames.iter().filter_map(|f| f.block).collect();
        for b in running {
            let nil = self.sh.nil;
            self.store(b, 0, nil).ok();
        }
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

    /// Counts `n` units of a primitive's work (an element copied, an object scanned) against
    /// the bytecode budget, and stops the run when that or the time budget is spent: what a
    /// primitive whose work grows with a size calls, in chunks, as it goes.
    #[inline]
    pub(crate) fn charge(&mut self, n: u64) -> Result<(), RunError> {
        self.charged = self.charged.saturating_add(n);
        self.next_check = self.next_check.saturating_sub(n);
        if self.bytecodes > self.next_check {
            self.checkpoint()?;
            if self.timer_due {
                // The dispatch loop looks again at its next bytecode, and switches there.
                self.next_check = 0;
            }
        }
        Ok(())
    }

    /// Where the count of bytecodes passed `next_check`: stops the run past the bytecode
    /// limit or the deadline, or when the host interrupted it, or sets and answers the next
    /// check. Notes in `timer_due` that the image's timer is due: the dispatch loop then
    /// signals it before its next bytecode (the one place a timer preempts a running process,
    /// at no cost per bytecode).
    #[cold]
    #[inline(never)]
    pub(crate) fn checkpoint(&mut self) -> Result<u64, RunError> {
        let work = self.bytecodes.saturating_add(self.charged);
        if work > self.limits.bytecodes {
            return Err(RunError::BytecodeLimit {
                limit: self.limits.bytecodes,
            });
        }
        self.check_deadline()?;
        if self
            .wakeup
            .is_some_and(|ms| Instant::now() >= instant_after_ms(ms))
        {
            self.timer_due = true;
        }
        // `next_check` counts bytecodes alone: the charged work is taken off it.
        self.next_check = next_check(
            &self.limits,
            self.interrupt.is_some() || self.wakeup.is_some(),
            work,
        )
        .saturating_sub(self.charged);
        Ok(self.next_check)
    }

    /// Stops the run past its deadline, or when the host interrupted it.
    pub(crate) fn check_deadline(&self) -> Result<(), RunError> {
        if self.interrupt.is_some_and(|i| i.load(Ordering::Relaxed)) {
            return Err(RunError::Interrupted);
        }
        if let (Some(deadline), Some(limit)) = (self.deadline, self.limits.time) {
            if Instant::now() >= deadline {
                return Err(RunError::TimeLimit { limit });
            }
        }
        Ok(())
    }

    /// Parks the image's thread until `until` (its timer), in slices short enough to notice
    /// the host's interrupt; stops at the run's deadline. Only this image's thread waits.
    pub(crate) fn sleep_until(&self, until: Instant) -> Result<(), RunError> {
        const SLICE: Duration = Duration::from_millis(10);
        loop {
            self.check_deadline()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let mut wake = until.min(now + SLICE);
            if let Some(deadline) = self.deadline {
                wake = wake.min(deadline);
            }
            std::thread::sleep(wake.saturating_duration_since(now));
        }
    }

    /// Arms the image's timer for clock value `ms` (`None` disarms it), and makes the dispatch
    /// loop look at the clock from now on.
    pub(crate) fn set_timer(&mut self, ms: Option<i64>) {
        self.wakeup = ms;
        self.timer_due = false;
        if ms.is_some() {
            self.next_check = self
                .next_check
                .min(self.bytecodes.saturating_add(TIME_CHECK_BYTECODES));
        }
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

    /// True if `v`'s class is `class`, one of the base's classes (`sh`'s). Not `==` on
    /// [`class_of`](Self::class_of)'s answer alone: that is the reference this image uses,
    /// which is its copy once it has written the class (an instance variable of
    /// `BlockContext` stored into, say), while `class` stays the base's reference. The two
    /// are [`identical`](Self::identical); the resolution runs only when the references
    /// differ, which is a primitive's failure path wherever this is asked.
    #[inline]
    pub(crate) fn class_is(&mut self, v: Value, class: Value) -> Result<bool, RunError> {
        let c = self.class_of(v)?;
        self.same_class(c, class)
    }

    /// Whether `c` (a class `class_of` answered) is `class`: by reference, else through
    /// `identical`, since an image that wrote a base class (a method added) reads its copy.
    #[inline]
    pub(crate) fn same_class(&mut self, c: Value, class: Value) -> Result<bool, RunError> {
        Ok(c == class || self.identical(c, class)?)
    }

    /// `==`: the same object as this image sees it (a base object and its copy are one).
    #[inline]
    pub(crate) fn identical(&mut self, a: Value, b: Value) -> Result<bool, RunError> {
        Ok(a == b
            || (a.is_object()
                && b.is_object()
                && match self.image.identical_fast(a, b) {
                    Some(same) => same,
                    None => self.image.identical(a, b)?,
                }))
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
        self.pool.ignores(v)
            && !self.cache.watches(obj)
            && self.image.set_private_field(obj, index, v)
    }

    /// [`store`](Exec::store), every case.
    #[inline(never)]
    fn store_in_full(&mut self, obj: Value, index: usize, v: Value) -> Result<(), RunError> {
        if !self.pool.ignores(v) {
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
        let mag = n.unsigned_abs();
        let len = 16 - mag.leading_zeros() as usize / 8;
        let bytes = &mag.to_le_bytes()[..len];
        let v = self.image.new_bytes(class, bytes)?;
        self.image
            .set_language_format(v, 8 | ((4 - len % 4) % 4) as u8)?;
        Ok(v)
    }

    /// The stop for a send (or a `perform:`) that no class on the receiver's chain
    /// understands.
    pub(crate) fn dnu(&mut self, selector: Value, receiver: Value) -> RunError {
        // A `perform:` of what is not a Symbol (the real VM looks it up as any selector and
        // finds nothing) is named as it prints.
        let selector = match self.image.bytes(selector) {
            Ok(b) => b.into_iter().map(char::from).collect(),
            Err(_) if selector == self.sh.nil => "nil".into(),
            Err(_) => match selector.as_small_int() {
                Some(i) => i.to_string(),
                None => format!("a {}", self.class_name_of(selector)),
            },
        };
        RunError::DoesNotUnderstand {
            selector,
            class: self.class_name_of(receiver),
        }
    }

    /// The stop for a method that would open a debugger, with the message in argument `arg`
    /// of the receiver at stack index `ri` (`None`: `halt`).
    pub(crate) fn smalltalk_error(
        &mut self,
        ri: usize,
        arg: Option<usize>,
        method: Value,
    ) -> RunError {
        let message = if let Some(&arg) = arg.and_then(|k| self.stack.get(ri + 1 + k)) {
            match self.image.bytes(arg) {
                Ok(b) => b.into_iter().map(char::from).collect(),
                Err(_) => format!("{arg:?}"),
            }
        } else {
            "halt".to_owned()
        };
        if Some(method) == self.sh.syntax_error {
            // `notify: message at: position`: the position is 1-based in the source.
            let column = self
                .stack
                .get(ri + 2)
                .and_then(|p| p.as_small_int())
                .map_or(0, |p| p.max(0) as usize);
            return RunError::Parse(ParseError::Syntax { column, message });
        }
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
        let name = |image: &mut Heap, c: Value, slot: usize| -> Option<String> {
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
/// the clock, where it has a time limit or `clocked`: the host's interrupt or the image's
/// timer to look at).
fn next_check(limits: &Limits, clocked: bool, bytecodes: u64) -> u64 {
    let clock = if limits.time.is_some() || clocked {
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
