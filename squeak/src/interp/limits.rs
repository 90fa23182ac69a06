//! What bounds a run and how it ends: [`Limits`], [`RunStats`], [`RunError`] and its
//! [`StopKind`]. The bottom of the interpreter's layers: every other file may use these, and
//! these use nothing of the interpreter.

use std::time::Duration;

use super::expr::ParseError;

/// Limits that stop an image cleanly. Each run of
/// [`Interpreter::evaluate`](super::Interpreter::evaluate) or
/// [`Interpreter::send`](super::Interpreter::send) gets the whole budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytecodes one run may execute. The default, 10^11, is far past what the image's own
    /// `0 tinyBenchmarks` runs (about 4.4 x 10^9: it doubles its work until each part takes a
    /// second) and about two minutes of work on a 2-core EPYC VM, so that the time limit (60 s)
    /// is what ends a long run there; a host that wants a bound that does not depend on the
    /// machine's speed sets this.
    pub bytecodes: u64,
    /// Bytes the image's private space may hold (copies, contexts, new objects). The image
    /// collects at a safe point once it holds half of this, so the cap bounds what a
    /// computation keeps reachable, not the garbage it makes.
    pub private_bytes: usize,
    /// Activations that may be live at once; at most one per [`ACTIVATION_BYTES`] of
    /// [`private_bytes`](Self::private_bytes) (see [`Limits::depth_reached`]).
    pub depth: usize,
    /// Wall-clock time one run may take (`None`: no bound but the others). Checked every
    /// [`TIME_CHECK_BYTECODES`] bytecodes, and by primitives whose work grows with a size,
    /// which charge that work against [`bytecodes`](Self::bytecodes) as they go; a run stops
    /// with [`RunError::TimeLimit`] at most a few milliseconds past it. Wall-clock, so that a
    /// budget holds however many images share the cores (an image that got little CPU stops
    /// having done less).
    pub time: Option<Duration>,
}

/// The memory an activation may take outside the image's private space, for the bound on
/// the depth: its native frame (64 bytes) and its share of the operand stack (a V3 context's
/// at most 56 slots), both in vectors that grow by doubling. A depth limit far past what the
/// allocation cap allows would otherwise let a deep recursion take gigabytes that no cap counts,
/// until the process's allocator aborted it.
pub const ACTIVATION_BYTES: usize = 1024;

/// The default depth limit, which [`Limits::depth_reached`] never cuts below.
const DEFAULT_DEPTH: usize = 100_000;

impl Limits {
    /// The depth a run stops at: [`depth`](Self::depth), but past the default (100,000), no
    /// more activations than [`private_bytes`](Self::private_bytes) holds at
    /// [`ACTIVATION_BYTES`] each. The defaults stop at 100,000; a depth limit of 10^8 under
    /// the default cap (256 MiB) at 262,144.
    pub fn depth_reached(&self) -> usize {
        self.depth
            .min((self.private_bytes / ACTIVATION_BYTES).max(DEFAULT_DEPTH))
    }
}

/// How many bytecodes (or units of a primitive's work) a run executes between two looks at
/// the clock for [`Limits::time`]: at 50-100 M bytecodes/s, about a millisecond.
pub const TIME_CHECK_BYTECODES: u64 = 1 << 16;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytecodes: 100_000_000_000,
            private_bytes: 256 << 20,
            depth: DEFAULT_DEPTH,
            time: Some(Duration::from_secs(60)),
        }
    }
}

/// Why an image stopped without an answer. The image itself stays usable: its heap holds what
/// it wrote before the stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No class on the receiver's chain understands the selector (no debugger runs here).
    #[error("{class} does not understand #{selector}")]
    DoesNotUnderstand {
        /// The selector sent.
        selector: String,
        /// The receiver's class name.
        class: String,
    },
    /// The run executed its whole bytecode budget.
    #[error("bytecode limit of {limit} reached")]
    BytecodeLimit {
        /// The budget.
        limit: u64,
    },
    /// The image's private space outgrew the allocation cap.
    #[error("allocation limit reached: {bytes} private bytes, limit {limit}")]
    AllocationLimit {
        /// The cap.
        limit: usize,
        /// Private bytes when it stopped.
        bytes: usize,
    },
    /// The run took its whole time budget ([`Limits::time`]).
    #[error("time limit of {} s reached", limit.as_secs_f64())]
    TimeLimit {
        /// The budget.
        limit: Duration,
    },
    /// The host asked the run to stop ([`Interpreter::set_interrupt`](super::Interpreter::set_interrupt)):
    /// a Ctrl-C, say.
    #[error("interrupted")]
    Interrupted,
    /// Too many nested activations.
    #[error("stack depth limit of {limit} activations reached")]
    DepthLimit {
        /// The limit.
        limit: usize,
    },
    /// The image's own code called `Object>>error:` or `halt`.
    #[error("Smalltalk error: {message}")]
    SmalltalkError {
        /// The message argument (or "halt").
        message: String,
    },
    /// A block tried to return from a method that has already returned.
    #[error("a block's ^ found its home context already returned (cannotReturn:)")]
    CannotReturn,
    /// Every process of the image waits on a semaphore and no timer is pending, so nothing
    /// could ever wake one: the real VM would idle forever (its idle process relinquishing the
    /// processor), here the image stops.
    #[error("deadlock: every process of the image is waiting and no timer is pending ({waiting})")]
    Deadlock {
        /// What the evaluating process was doing when it could not go on.
        waiting: String,
    },
    /// A conditional jump found something other than true or false.
    #[error("a conditional jump found a non-Boolean ({class}): mustBeBoolean")]
    MustBeBoolean {
        /// Its class name.
        class: String,
    },
    /// A feature this interpreter does not have (a bytecode outside the V3 set, say).
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    /// A method or context that does not make sense (bad header, pc out of range, stack
    /// underflow).
    #[error("malformed: {0}")]
    Malformed(String),
    /// A heap operation refused (cowheap's own typed error).
    #[error("heap: {0}")]
    Heap(#[from] cowheap::Error),
    /// The machine refused memory for the interpreter's own stacks (its frames and operand
    /// stack, which live outside the private space): a deep recursion under a depth limit
    /// that the machine cannot hold. A stop of kind [`StopKind::Heap`].
    #[error(
        "heap: out of memory: the allocator refused {bytes} bytes for the interpreter's stacks"
    )]
    StacksOutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
    /// The expression did not parse, or names a global the image lacks.
    #[error("expression: {0}")]
    Parse(#[from] ParseError),
    /// The base is not an image this interpreter runs.
    #[error("unsupported base: {0}")]
    Unsupported(String),
}

impl RunError {
    /// The kind of stop, for scripts and front ends (`--json`, exit codes).
    pub fn kind(&self) -> StopKind {
        match self {
            RunError::DoesNotUnderstand { .. } => StopKind::DoesNotUnderstand,
            RunError::BytecodeLimit { .. } => StopKind::BytecodeLimit,
            RunError::AllocationLimit { .. } => StopKind::AllocationLimit,
            RunError::DepthLimit { .. } => StopKind::DepthLimit,
            RunError::TimeLimit { .. } => StopKind::TimeLimit,
            RunError::Interrupted => StopKind::Interrupted,
            RunError::SmalltalkError { .. } => StopKind::Error,
            RunError::CannotReturn => StopKind::CannotReturn,
            RunError::Deadlock { .. } => StopKind::Deadlock,
            RunError::MustBeBoolean { .. } => StopKind::MustBeBoolean,
            RunError::Unimplemented(_) => StopKind::Unimplemented,
            RunError::Malformed(_) => StopKind::Malformed,
            RunError::Heap(_) | RunError::StacksOutOfMemory { .. } => StopKind::Heap,
            RunError::Parse(_) => StopKind::Parse,
            RunError::Unsupported(_) => StopKind::Unsupported,
        }
    }
}

/// The kind of a [`RunError`], without its details: what a front end maps to its own exit
/// codes or status lines. Its [`name`](StopKind::name) is stable for scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopKind {
    /// [`RunError::DoesNotUnderstand`].
    DoesNotUnderstand,
    /// [`RunError::BytecodeLimit`].
    BytecodeLimit,
    /// [`RunError::AllocationLimit`].
    AllocationLimit,
    /// [`RunError::DepthLimit`].
    DepthLimit,
    /// [`RunError::TimeLimit`].
    TimeLimit,
    /// [`RunError::Interrupted`].
    Interrupted,
    /// [`RunError::SmalltalkError`].
    Error,
    /// [`RunError::CannotReturn`].
    CannotReturn,
    /// [`RunError::Deadlock`].
    Deadlock,
    /// [`RunError::MustBeBoolean`].
    MustBeBoolean,
    /// [`RunError::Unimplemented`].
    Unimplemented,
    /// [`RunError::Malformed`].
    Malformed,
    /// [`RunError::Heap`].
    Heap,
    /// [`RunError::Parse`].
    Parse,
    /// [`RunError::Unsupported`].
    Unsupported,
}

impl StopKind {
    /// The stable name: `doesNotUnderstand`, `bytecodeLimit`, and so on.
    pub fn name(self) -> &'static str {
        match self {
            StopKind::DoesNotUnderstand => "doesNotUnderstand",
            StopKind::BytecodeLimit => "bytecodeLimit",
            StopKind::AllocationLimit => "allocationLimit",
            StopKind::DepthLimit => "depthLimit",
            StopKind::TimeLimit => "timeLimit",
            StopKind::Interrupted => "interrupted",
            StopKind::Error => "error",
            StopKind::CannotReturn => "cannotReturn",
            StopKind::Deadlock => "deadlock",
            StopKind::MustBeBoolean => "mustBeBoolean",
            StopKind::Unimplemented => "unimplemented",
            StopKind::Malformed => "malformed",
            StopKind::Heap => "heap",
            StopKind::Parse => "parse",
            StopKind::Unsupported => "unsupported",
        }
    }
}

impl std::fmt::Display for StopKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for StopKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What the last run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RunStats {
    /// Bytecodes executed, and the work primitives charged against the bytecode budget (an
    /// element copied by `replaceFrom:to:with:startingAt:`, say).
    pub bytecodes: u64,
    /// Message sends executed: send bytecodes (special selectors included, whether or not
    /// they took an inline fast path) and `perform:`s.
    pub sends: u64,
    /// Wall-clock time of the run.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_secs"))]
    pub elapsed: Duration,
}

#[cfg(feature = "serde")]
fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RunStats {
    /// Bytecodes per second.
    pub fn bytecodes_per_sec(&self) -> f64 {
        self.bytecodes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Sends per second.
    pub fn sends_per_sec(&self) -> f64 {
        self.sends as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}
