//! A Squeak V3 bytecode interpreter that runs the base image's own CompiledMethods inside one
//! [`Image`](cowheap::Image), so that thousands of images can execute Smalltalk over one
//! shared base, each on its own thread, every store to a base object copied on write for that
//! image alone.
//!
//! ```no_run
//! use cowheap_squeak::interp::{new_heap, Interpreter, Limits, Vm};
//! let loaded = cowheap_squeak::loader::load_file("../shared/images/mini-2.2-v3-le.image")?;
//! let vm = Vm::new(&loaded.heap)?;
//! let mut image = new_heap(&loaded.heap)?; // an Image (a PlainHeap with `plain-heap`)
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
//! Its temporaries then live in the context object, where its blocks share them. In a closure
//! image (6504, 6505) a block is a BlockClosure whose frame has temporaries of its own (see
//! `closures.rs`); making one makes its outer context, the frame's MethodContext.
//!
//! The files form layers. **Each row of this table uses only the rows below it**: a file
//! imports nothing from, and calls no function of, a file on a row above its own or beside it
//! on its row, so no two files depend on each other. Where a lower layer needs something done
//! above, it answers what to do instead: a `perform:` answers the method, which the send
//! layer invokes; a primitive that needs a context calls `contexts.rs` below it. The
//! `layering` unit test (`tests/layering.rs`, whose `ROWS` are these rows) checks the imports
//! and calls against this table.
//!
//! | layer | file | what |
//! |---|---|---|
//! | API | `mod.rs` | this table; declares the files and re-exports the API; holds no code |
//! | | `batch.rs` | one expression in many images on their own threads ([`run_batch`]) |
//! | | `interpreter.rs` | [`Vm`] (per base), [`Interpreter`] (per image, keeps its `ImageState` between runs) |
//! | front end | `compile.rs` | compiles a parsed expression into a doit method and runs it |
//! | | `inlining.rs`, `closure_scope.rs` | V3 compilers' control structures as jumps; where a closure image's variables live (copies, temp vectors) |
//! | | `doit.rs` | the doit method under construction and the compiler's work list |
//! | | `stack_depth.rs` | the deepest operand stack a doit's bytecodes reach: its frame's size |
//! | dispatch | `execute.rs` | the dispatch loop: an inner loop for the common cases (frame state and operand stack in locals) over `step`; the entry points of a run |
//! | | `step.rs` | the full path: `step`, one `match` over the V3 bytecodes and the only complete definition of each, and the safe points its sends and returns go through |
//! | sends | `send.rs` | sends: a primitive (quick returns inline) or an activation; `perform:`'s method; returns, local and from a block's home |
//! | primitives | `primitives/mod.rs` | THE primitive table: number to (family, function), the only place a number gets a primitive |
//! | | `primitives/streams.rs` | `next`, `nextPut:`, `atEnd` of a stream, through its collection's own indexing primitive |
//! | | `primitives/{arithmetic, comparison, float, large, indexing, objects, blocks, control, processes, system, strings}.rs` | one family each, the only implementation of its primitives; the fast paths of `execute.rs` and `send.rs` call these functions |
//! | | `primitives/common.rs` | what the families share: `Prim`, `Call`, argument access, indexable shapes |
//! | processes | `scheduler.rs` | the image's processes: ready lists, semaphores, switches, the timer, waiting and deadlock |
//! | closures | `closures.rs` | closure images' BlockClosures: making one, temp vectors, entering its frame, its home |
//! | blocks | `block_contexts.rs` | V3 BlockContexts: `blockCopy:`, entering a block's frame, its return |
//! | contexts | `contexts.rs`, `transcript.rs` | contexts on demand: `thisContext`, the context pool's reuse, a process's frames to contexts and back. What the image writes to its Transcript, taken at `endEntry` and at a run's end |
//! | stacks | `stacks.rs` | the frames' and the operand stack's growth (fallible) and the one depth check |
//! | state | `state.rs` | one run's state (`Exec`, `Frame`, `ImageState`): stack, stores, classes, identity, stops |
//! | tables | `pool.rs` | the free list of dead contexts |
//! | | `lookup.rs` | method lookup and the per-image method cache (`lookup/mod.rs`); the `at:` cache (`lookup/at.rs`); the objects the cache watches (`lookup/watch.rs`) |
//! | base | `method.rs`, `special.rs` | CompiledMethods decoded once; special objects, selectors and symbols |
//! | | `limits.rs` | [`Limits`], [`RunStats`], [`RunError`], [`StopKind`] |
//! | | `parse.rs` | the do-it grammar (`parse/literals.rs`: literal arrays, as the image's scanner reads them) |
//! | | `lexer.rs` | the do-it's tokens |
//! | | `expr.rs` | what a do-it parses to ([`Expr`]) and why one is refused ([`ParseError`]) |
//! | | `number.rs` | number literals as the image's own reader computes them (Floats to the last bit) |
//! | heap | `heap.rs` | [`Heap`]: the one name of the heap type the interpreter runs over (cowheap's `Image`, or a plain heap with the `plain-heap` feature) |
//!
//! The unit tests (`tests/`, and `mod tests` in the files) build a small V3 base of their own
//! and need no image file.

#![forbid(unsafe_code)]

mod batch;
mod block_contexts;
mod closure_scope;
mod closures;
mod compile;
mod contexts;
mod doit;
mod execute;
mod expr;
mod heap;
mod inlining;
mod interpreter;
mod lexer;
mod limits;
mod lookup;
mod method;
mod number;
mod parse;
mod pool;
mod primitives;
mod scheduler;
mod send;
mod special;
mod stack_depth;
mod stacks;
mod state;
mod step;
#[cfg(test)]
mod tests;
mod transcript;

pub use batch::{
    run_batch, BatchConfig, BatchError, BatchProgress, BatchReport, ImageRun, Stopped,
};
pub use expr::{Expr, ParseError, MAX_NESTING};
pub use heap::{new_heap, Heap};
pub use interpreter::{Interpreter, Vm};
pub use limits::{Limits, RunError, RunStats, StopKind, ACTIVATION_BYTES, TIME_CHECK_BYTECODES};
pub use parse::parse;
pub use transcript::TRANSCRIPT_LIMIT;
