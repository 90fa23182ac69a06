//! The API's two handles: [`Vm`], one per base, and [`Interpreter`], one per image. An
//! interpreter keeps its image's state between runs ([`ImageState`]) and lends it to each
//! run's [`Exec`].

use std::sync::Arc;
use std::time::Instant;

use super::expr::ParseError;
use super::heap::Heap;
use super::limits::{Limits, RunError, RunStats};
use super::lookup::base_table::BaseTable;
use super::lookup::MethodCache;
use super::parse::parse;
use super::pool::ContextPool;
use super::special::{Shared, CLASS_FORMAT};
use super::state::{Exec, ImageState};
use cowheap::{BaseHeap, Value, WeakRule};

/// The interpreter's view of one base heap, shared by every image's interpreter. Cheap to
/// clone.
#[derive(Clone)]
pub struct Vm {
    shared: Arc<Shared>,
    /// The lookups and decodings every image of the base shares (see `lookup::base_table`).
    pub(crate) table: Arc<BaseTable>,
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
            shared: Arc::new(Shared::new(heap)?),
            table: Arc::default(),
        })
    }

    /// Like [`new`](Self::new), for a loaded image file, refusing what this interpreter does
    /// not run: Spur images (their method headers and class formats differ). V3 closure
    /// images (6504, 6505) run, BlockClosures and all.
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
            state: ImageState {
                limits,
                cache: MethodCache::with_table(self.table.clone()),
                ..ImageState::default()
            },
            incarnation: None,
        }
    }
}

/// Squeak V3's weak objects: format 4, strong for the class's fixed fields (its format word,
/// field 2: instance size in bits 1-6 and 16-17, plus one).
const WEAK: WeakRule = WeakRule {
    language_format: 4,
    class_field: CLASS_FORMAT,
    fixed_fields: |f| usize::try_from(((f >> 10) & 0xC0) + ((f >> 1) & 0x3F) - 1).ok(),
};

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
    shared: Arc<Shared>,
    /// The method cache, dead contexts, stacks, limits and counts of this image.
    state: ImageState,
    incarnation: Option<u32>,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("limits", &self.state.limits)
            .field("stats", &self.state.stats)
            .finish()
    }
}

impl Interpreter {
    /// Sets the number that `$i` stands for in expressions (the image's own number, so that
    /// each of many images can write something different). Until it is set, `$i` is the
    /// Character `i`, as in Smalltalk. A `u32`, as [`Image::id`](cowheap::Image::id) is: one
    /// number type for an image's number.
    pub fn set_image_number(&mut self, n: u32) {
        self.state.image_number = Some(i64::from(n));
    }

    /// Lets the host stop this image's runs: once `flag` is set (from any thread: a Ctrl-C
    /// handler, say), a run stops within [`TIME_CHECK_BYTECODES`](super::TIME_CHECK_BYTECODES)
    /// bytecodes (about a millisecond) with [`RunError::Interrupted`], and so do later runs
    /// until it is cleared. `None` (the default) stops nothing.
    pub fn set_interrupt(&mut self, flag: Option<Arc<std::sync::atomic::AtomicBool>>) {
        self.state.interrupt = flag;
    }

    /// Changes the limits for later runs.
    pub fn set_limits(&mut self, limits: Limits) {
        self.state.limits = limits;
    }

    /// What the last run did.
    pub fn stats(&self) -> RunStats {
        self.state.stats
    }

    /// What the image wrote to its Transcript since the last call (`Transcript show: 'x'; cr`
    /// gives "x\n"), taken: each image's own, never another's. Kept up to
    /// [`TRANSCRIPT_LIMIT`](super::TRANSCRIPT_LIMIT) bytes between calls.
    pub fn take_transcript(&mut self) -> String {
        std::mem::take(&mut self.state.transcript)
    }

    /// How many times this image's own stores dropped the method cache.
    pub fn cache_flushes(&self) -> u64 {
        self.state.cache.flushes
    }

    /// How many method lookups and decodings this image took from those its base's other
    /// images made (instead of making them again), since its caches were last emptied.
    pub fn lookups_shared(&self) -> u64 {
        self.state.cache.taken
    }

    /// How many contexts this image reused instead of allocating: contexts die with their
    /// home frame unless they escaped (see the guide's "Contexts").
    pub fn contexts_reused(&self) -> u64 {
        self.state.pool.reused
    }

    /// Turns the reuse of dead contexts off (`false`) or on (the default). Off, every context
    /// stays in the image's private space until the image ends, as with no reuse at all: for
    /// comparing the two, and for a host that inspects contexts after a run.
    pub fn set_context_reuse(&mut self, on: bool) {
        self.state.pool.off = !on;
    }

    /// Drops what this interpreter keeps between runs only to run faster (the method cache
    /// and its decoded methods, the dead contexts, the stacks' allocations), as a new
    /// incarnation of the image does; the next run builds them again. For a host holding
    /// thousands of idle images: `cowheap serve` at 10,000 idle sessions went from 1,056,096
    /// to 684,588 KiB of RSS with them dropped. Answers the decoded methods dropped. What
    /// outlives a run for the image's sake (its pending timer, its Transcript, the limits)
    /// stays.
    pub fn release_caches(&mut self) -> usize {
        let dropped = self.state.cache.decoded_count();
        self.empty_caches();
        self.state.stack = Vec::new();
        self.state.frames = Vec::new();
        self.incarnation = None;
        dropped
    }

    /// Collects `image`'s private space between runs, keeping `roots` alive and updating
    /// them: [`Image::collect`](cowheap::Image::collect) for the image this interpreter runs,
    /// with its caches kept where the collection leaves them true (what the image's base
    /// objects alone decided: lookups and decoded methods), instead of all of them made again
    /// at the next run, as after a collection the interpreter did not see. A host that
    /// collects each session between evaluations (`cowheap serve`) calls this.
    pub fn collect(
        &mut self,
        image: &mut Heap,
        roots: &mut [Value],
    ) -> Result<cowheap::Collection, cowheap::Error> {
        let before = image.incarnation();
        let ours = self.incarnation == Some(before);
        let collection = image.collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))?;
        // A collection that freed nothing moved nothing: every reference cached stays good.
        if ours && image.incarnation() != before {
            self.state.cache.after_collection();
            self.state.pool.forget_all();
            self.incarnation = Some(image.incarnation());
        }
        Ok(collection)
    }

    /// An empty method cache (over the same base table) and context pool, with context reuse
    /// as it was set.
    fn empty_caches(&mut self) {
        self.state.cache = self.state.cache.emptied();
        let off = self.state.pool.off;
        self.state.pool = ContextPool::default();
        self.state.pool.off = off;
    }

    fn bind(&mut self, image: &mut Heap) {
        image.set_weak_rule(Some(WEAK));
        image.set_collection_ceiling(self.state.limits.private_bytes / 2);
        if self.incarnation != Some(image.incarnation()) {
            self.empty_caches();
            self.incarnation = Some(image.incarnation());
        }
    }

    /// Compiles a do-it (temporaries, statements, cascades, blocks, `^`; `$i` is the image
    /// number) and runs it in `image`, with nil as `self`.
    ///
    /// The compiler here covers the common syntax. Text outside it that the image's own
    /// compiler accepts (`super`, `_` assignments, a variable nobody declared, which Squeak
    /// declares in `Undeclared`, and the rest) goes to that compiler
    /// ([`evaluate_with_compiler`](Self::evaluate_with_compiler)), where the image has one, so
    /// that a do-it means what it means in the image; a syntax error is then in the image
    /// compiler's words. A bound the expression breaks (nesting, literals, size) is refused
    /// here, without the second try.
    pub fn evaluate(&mut self, image: &mut Heap, expression: &str) -> Result<Value, RunError> {
        let refused = match parse(expression) {
            Ok(expr) => match self.run(image, |exec| exec.evaluate(&expr)) {
                Err(RunError::Parse(
                    e @ (ParseError::UnknownGlobal(_) | ParseError::Syntax { .. }),
                )) => e,
                done => return done,
            },
            Err(e @ ParseError::Syntax { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        if !self.shared.compiler {
            return Err(refused.into());
        }
        self.evaluate_with_compiler(image, expression)
    }

    /// Compiles and runs Smalltalk source with the image's own compiler:
    /// `Compiler evaluate: source`. Anything the image's compiler accepts works, as far as
    /// the primitives here reach (see the guide). In an image the host numbered
    /// ([`set_image_number`](Self::set_image_number)), `$i` is replaced by the number first,
    /// textually.
    pub fn evaluate_with_compiler(
        &mut self,
        image: &mut Heap,
        source: &str,
    ) -> Result<Value, RunError> {
        // A numbered image's `$i` is its number, textually (the image's compiler reads `$i`
        // as the Character).
        let numbered = self
            .state
            .image_number
            .map(|n| source.replace("$i", &n.to_string()));
        let quoted = numbered.as_deref().unwrap_or(source).replace('\'', "''");
        let expr = parse(&format!("Compiler evaluate: '{quoted}'"))?;
        self.run(image, |exec| exec.evaluate(&expr))
    }

    /// Sends `selector` to `receiver` with `args` and runs until it answers.
    pub fn send(
        &mut self,
        image: &mut Heap,
        receiver: Value,
        selector: &str,
        args: &[Value],
    ) -> Result<Value, RunError> {
        self.run(image, |exec| {
            exec.intern(selector)
                .and_then(|sel| exec.send_top(receiver, sel, args))
        })
    }

    /// Runs a CompiledMethod with `receiver` as `self` and no arguments: a host's own doit.
    /// The method is checked as it runs; a malformed one stops with [`RunError::Malformed`]
    /// (or [`RunError::Unimplemented`] for a bytecode outside the V3 set).
    pub fn run_method(
        &mut self,
        image: &mut Heap,
        method: Value,
        receiver: Value,
    ) -> Result<Value, RunError> {
        self.run(image, |exec| exec.run_method_value(method, receiver))
    }

    /// The answer of the image's own `printString` for `value`, as Rust text (bytes are
    /// taken as Latin-1). Runs Smalltalk, so it counts in [`stats`](Self::stats).
    pub fn print_string(&mut self, image: &mut Heap, value: Value) -> Result<String, RunError> {
        Ok(self.print_string_within(image, value, usize::MAX)?.0)
    }

    /// [`print_string`](Self::print_string), at most its first `limit` characters, and
    /// whether there were more: for a host that hands answers to clients (`cowheap serve`),
    /// since an image's `printString` is as long as the image makes it, up to its memory.
    pub fn print_string_within(
        &mut self,
        image: &mut Heap,
        value: Value,
        limit: usize,
    ) -> Result<(String, bool), RunError> {
        let s = self.send(image, value, "printString", &[])?;
        let size = image.size_of(s)?;
        let mut bytes = vec![0; size.min(limit)];
        image.read_bytes(s, 0, &mut bytes)?;
        Ok((bytes.into_iter().map(char::from).collect(), size > limit))
    }

    /// The name of an object's class, read from the image (for reports).
    pub fn class_name_of(&mut self, image: &mut Heap, value: Value) -> String {
        let mut exec = self.exec(image);
        let name = exec.class_name_of(value);
        exec.finish(Ok(())).ok();
        name
    }

    /// One run in `image`, timed. The interpreter remembers the image's incarnation as the
    /// run leaves it: a collection during the run changes it, and the caches were dropped
    /// then, so only another image (or a host's own collection) makes `bind` start afresh.
    fn run<T>(
        &mut self,
        image: &mut Heap,
        body: impl FnOnce(&mut Exec<'_>) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        self.bind(image);
        let start = Instant::now();
        let result = {
            let mut exec = self.exec(image);
            let r = body(&mut exec);
            // What the image wrote and did not end yet is its output too; a Transcript that
            // cannot be read is no reason to lose the run's answer.
            exec.transcript_flush().ok();
            exec.finish(r)
        };
        self.state.stats.elapsed = start.elapsed();
        self.incarnation = Some(image.incarnation());
        result
    }

    fn exec<'a>(&'a mut self, image: &'a mut Heap) -> Exec<'a> {
        Exec::new(image, &self.shared, &mut self.state)
    }

    /// A run's state for this image, for the unit tests that call one layer directly.
    #[cfg(test)]
    pub(crate) fn exec_for_test<'a>(&'a mut self, image: &'a mut Heap) -> Exec<'a> {
        self.bind(image);
        self.exec(image)
    }
}
