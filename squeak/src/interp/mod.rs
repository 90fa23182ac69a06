//! A Squeak V3 bytecode interpreter that runs the base image's own CompiledMethods inside one
//! [`Image`], so that thousands of images can execute Smalltalk over one shared base, each on
//! its own thread, every store to a base object copied on write for that image alone.
//!
//! ```no_run
//! use cowheap_squeak::interp::{Interpreter, Limits, Vm};
//! let loaded = cowheap_squeak::loader::load_file("../shared/images/mini-2.2-v3-le.image")?;
//! let vm = Vm::new(&loaded.heap)?;
//! let mut image = loaded.heap.new_image()?;
//! let mut interp = vm.interpreter(Limits::default());
//! let answer = interp.evaluate(&mut image, "20 benchFib")?;
//! assert_eq!(answer.as_small_int(), Some(21891));
//! assert_eq!(interp.print_string(&mut image, answer)?, "21891");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it follows is the real VM, not cowheap's conveniences: SmallIntegers keep the image's
//! 31 bits (primitives fail outside them, so the image's LargePositiveInteger code runs), a
//! failing primitive runs the method's Smalltalk fallback, contexts and everything else the
//! interpreter allocates are private to the image, and a limit stops this image only, with a
//! typed [`RunError`].
//!
//! Activations are native frames on a Rust stack; a frame becomes a real MethodContext only
//! when `thisContext` is pushed (which is also how a block is made: `thisContext blockCopy:`).
//! Its temporaries then live in the context object, where its blocks share them.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the API: [`Vm`] (per base), [`Interpreter`] (per image), [`Limits`], [`RunError`] |
//! | `execute.rs` | the dispatch loop: one `match` over the V3 bytecodes, native frames |
//! | `send.rs` | sends, activations, returns (local and from a block's home), stops |
//! | `lookup.rs` | method lookup and the per-image method cache, flushed by the image's stores |
//! | `method.rs` | CompiledMethods decoded once into Rust vectors |
//! | `contexts.rs` | contexts on demand: `thisContext`, `blockCopy:`, `value` |
//! | `primitives.rs` | the primitive table; every other primitive fails into its fallback |
//! | `special.rs` | special objects, special selectors, the base's symbols |
//! | `heap.rs` | the crate-internal heap views the interpreter needs beyond `Image`'s API |
//! | `parse.rs`, `compile.rs` | the one-line expression grammar and its compiler to a doit method |
//! | `batch.rs` | one expression in many images on their own threads ([`run_batch`]) |

#![forbid(unsafe_code)]

mod batch;
mod compile;
mod contexts;
mod execute;
mod lookup;
mod method;
mod parse;
mod primitives;
mod send;
mod special;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cowheap::{BaseHeap, Image, Value};

pub use batch::{run_batch, BatchConfig, BatchError, BatchReport, ImageRun, Stopped};
pub use parse::{parse, Expr, ParseError};

/// The interpreter's view of one base heap, shared by every image's interpreter. Cheap to
/// clone.
#[derive(Clone)]
pub struct Vm {
    shared: Arc<special::Shared>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("symbols", &self.shared.symbols.len())
            .finish()
    }
}

impl Vm {
    /// Finds the special objects, special selectors and symbols of a loaded Squeak V3 base.
    /// Fails with [`RunError::Unsupported`] for a base that is not a V3 image.
    pub fn new(heap: &BaseHeap) -> Result<Vm, RunError> {
        Ok(Vm {
            shared: Arc::new(special::Shared::new(heap)?),
        })
    }

    /// Like [`new`](Self::new), for a loaded image file, refusing what this interpreter does
    /// not run: Spur images (their method headers and class formats differ). V3 closure
    /// images (6505) load, and stop at the first closure bytecode.
    pub fn for_loaded(loaded: &crate::loader::Loaded) -> Result<Vm, RunError> {
        if loaded.info.family != crate::loader::ImageFamily::V3 {
            return Err(RunError::Unsupported(format!(
                "a {:?} image (format {}): this interpreter runs Squeak V3 images",
                loaded.info.family, loaded.info.format
            )));
        }
        Vm::new(&loaded.heap)
    }

    /// An interpreter for one image (its method cache belongs to that image).
    pub fn interpreter(&self, limits: Limits) -> Interpreter {
        Interpreter {
            shared: self.shared.clone(),
            cache: lookup::MethodCache::default(),
            pool: contexts::ContextPool::default(),
            limits,
            stats: RunStats::default(),
            incarnation: None,
            stack: Vec::new(),
            frames: Vec::new(),
            image_number: 0,
        }
    }
}

/// Limits that stop an image cleanly. Each run of [`Interpreter::evaluate`] or
/// [`Interpreter::send`] gets the whole budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytecodes one run may execute.
    pub bytecodes: u64,
    /// Bytes the image's private space may hold (copies, contexts, new objects): there is no
    /// garbage collector, so this is what bounds a long computation's garbage.
    pub private_bytes: usize,
    /// Activations that may be live at once.
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytecodes: 2_000_000_000,
            private_bytes: 256 << 20,
            depth: 100_000,
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
            RunError::SmalltalkError { .. } => StopKind::Error,
            RunError::CannotReturn => StopKind::CannotReturn,
            RunError::MustBeBoolean { .. } => StopKind::MustBeBoolean,
            RunError::Unimplemented(_) => StopKind::Unimplemented,
            RunError::Malformed(_) => StopKind::Malformed,
            RunError::Heap(_) => StopKind::Heap,
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
    /// [`RunError::SmalltalkError`].
    Error,
    /// [`RunError::CannotReturn`].
    CannotReturn,
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
            StopKind::Error => "error",
            StopKind::CannotReturn => "cannotReturn",
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
    /// Bytecodes executed.
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

/// Runs Smalltalk in one image. Keep one per image: its method cache is that image's (an
/// interpreter handed another image notices and starts with an empty cache).
///
/// An interpreter stays on the thread that made it: it holds its decoded methods in `Rc`s,
/// because counting references atomically on every send would cost more than the send. Make
/// one per image thread from the shared [`Vm`] (it is cheap); the image itself may move.
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<cowheap_squeak::interp::Interpreter>();
/// ```
pub struct Interpreter {
    shared: Arc<special::Shared>,
    cache: lookup::MethodCache,
    /// Dead contexts of this image, for reuse.
    pool: contexts::ContextPool,
    limits: Limits,
    stats: RunStats,
    incarnation: Option<u32>,
    /// Kept between runs so that their allocations are reused.
    stack: Vec<Value>,
    frames: Vec<execute::Frame>,
    image_number: i64,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("limits", &self.limits)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Interpreter {
    /// Sets the number that `$i` stands for in expressions (the image's own number, so that
    /// each of many images can write something different).
    pub fn set_image_number(&mut self, n: i64) {
        self.image_number = n;
    }

    /// Changes the limits for later runs.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// What the last run did.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// How many times this image's own stores dropped the method cache.
    pub fn cache_flushes(&self) -> u64 {
        self.cache.flushes
    }

    /// How many contexts this image reused instead of allocating: contexts die with their
    /// home frame unless they escaped (see the guide's "Contexts").
    pub fn contexts_reused(&self) -> u64 {
        self.pool.reused
    }

    /// Turns the reuse of dead contexts off (`false`) or on (the default). Off, every context
    /// stays in the image's private space until the image ends, as with no reuse at all: for
    /// comparing the two, and for a host that inspects contexts after a run.
    pub fn set_context_reuse(&mut self, on: bool) {
        self.pool.off = !on;
    }

    fn bind(&mut self, image: &Image) {
        if self.incarnation != Some(image.incarnation()) {
            self.cache = lookup::MethodCache::default();
            let off = self.pool.off;
            self.pool = contexts::ContextPool::default();
            self.pool.off = off;
            self.incarnation = Some(image.incarnation());
        }
    }

    /// Parses a one-line expression (literals, globals, unary, binary and keyword sends,
    /// parentheses; `$i` is the image number) and runs it in `image`, with nil as `self`.
    pub fn evaluate(&mut self, image: &mut Image, expression: &str) -> Result<Value, RunError> {
        let expr = parse(expression)?;
        self.bind(image);
        let start = Instant::now();
        let result = {
            let mut exec = self.exec(image);
            let r = exec.evaluate(&expr);
            exec.finish(r)
        };
        self.stats.elapsed = start.elapsed();
        result
    }

    /// Compiles and runs Smalltalk source with the image's own compiler:
    /// `Compiler evaluate: source`. Anything the image's compiler accepts works, as far as
    /// the primitives here reach (see the guide).
    pub fn evaluate_with_compiler(
        &mut self,
        image: &mut Image,
        source: &str,
    ) -> Result<Value, RunError> {
        let quoted = source.replace('\'', "''");
        self.evaluate(image, &format!("Compiler evaluate: '{quoted}'"))
    }

    /// Sends `selector` to `receiver` with `args` and runs until it answers.
    pub fn send(
        &mut self,
        image: &mut Image,
        receiver: Value,
        selector: &str,
        args: &[Value],
    ) -> Result<Value, RunError> {
        self.bind(image);
        let start = Instant::now();
        let result = {
            let mut exec = self.exec(image);
            let r = exec
                .intern(selector)
                .and_then(|sel| exec.send_top(receiver, sel, args));
            exec.finish(r)
        };
        self.stats.elapsed = start.elapsed();
        result
    }

    /// Runs a CompiledMethod with `receiver` as `self` and no arguments: a host's own doit.
    /// The method is checked as it runs; a malformed one stops with [`RunError::Malformed`]
    /// (or [`RunError::Unimplemented`] for a bytecode outside the V3 set).
    pub fn run_method(
        &mut self,
        image: &mut Image,
        method: Value,
        receiver: Value,
    ) -> Result<Value, RunError> {
        self.bind(image);
        let start = Instant::now();
        let result = {
            let mut exec = self.exec(image);
            let r = exec.run_method_value(method, receiver);
            exec.finish(r)
        };
        self.stats.elapsed = start.elapsed();
        result
    }

    /// The answer of the image's own `printString` for `value`, as Rust text (bytes are
    /// taken as Latin-1). Runs Smalltalk, so it counts in [`stats`](Self::stats).
    pub fn print_string(&mut self, image: &mut Image, value: Value) -> Result<String, RunError> {
        let s = self.send(image, value, "printString", &[])?;
        Ok(image.bytes(s)?.into_iter().map(char::from).collect())
    }

    /// The name of an object's class, read from the image (for reports).
    pub fn class_name_of(&mut self, image: &mut Image, value: Value) -> String {
        let mut exec = self.exec(image);
        let name = exec.class_name_of(value);
        exec.finish(Ok(())).ok();
        name
    }

    fn exec<'a>(&'a mut self, image: &'a mut Image) -> execute::Exec<'a> {
        execute::Exec::new(
            image,
            &self.shared,
            &mut self.cache,
            &mut self.pool,
            std::mem::take(&mut self.stack),
            std::mem::take(&mut self.frames),
            self.limits,
            &mut self.stats,
            self.image_number,
            (&mut self.stack, &mut self.frames),
        )
    }
}
