//! The verified stress harness of [`cowheap`], behind the `cowheap stress` command: the
//! embedded default base generator, the workload engine with its per-image shadow models, and
//! the report.
//!
//! It is a crate of its own so that the heap's library carries nothing built only for it, and
//! it reaches the heap through the public API alone: what it checks is what embedders get.
//!
//! # The default base, for benchmarks and examples
//!
//! [`generate_base`] builds a deterministic, Smalltalk-shaped base (classes, instances, arrays,
//! strings, symbols, byte and word arrays, compiled methods, a few large objects), every object
//! reachable from named roots, and hands back its objects sorted by kind:
//!
//! ```
//! use cowheap_stress::{generate_base, GenConfig};
//! use cowheap::Value;
//!
//! let g = generate_base(&GenConfig { objects: 5_000, ..GenConfig::default() })?;
//! assert!(g.heap.object_count() > 4_000);
//! let target = g.objects.instances[0];
//! let mut image = g.heap.new_image()?;
//! image.write(target, 0, Value::small_int(42).unwrap())?;
//! assert_eq!(image.read(target, 0)?, Value::small_int(42).unwrap());
//! # Ok::<(), cowheap::Error>(())
//! ```
//!
//! # A stress run
//!
//! [`run`] starts one OS thread per image, runs each image's seeded op stream while checking
//! every read against the image's shadow model, verifies every image's whole view at its end
//! (in parallel with rayon), checksums the base before and after, and answers a [`Report`]:
//!
//! ```
//! use cowheap_stress::{run, GenConfig, Progress, StressConfig, Verdict, Workload};
//!
//! let workload = Workload::generated(&GenConfig { objects: 3_000, ..GenConfig::default() })?;
//! let config = StressConfig { images: 4, ops: 2_000, ..StressConfig::default() };
//! let report = run(&workload, &config, &Progress::default())?;
//! assert_eq!(report.verdict, Verdict::Pass);
//! assert_eq!(report.throughput.total_ops, 8_000);
//! # Ok::<(), cowheap_stress::StressError>(())
//! ```
//!
//! The shadow model works in logical identities: a base object and this image's copy of it
//! are one object, and the source of a `become_forward` stands for its target, so the checks
//! are the heap's invariants (ARCHITECTURE.md), not bit patterns. Violations are collected, never panicked on:
//! the report says which image, which object, what was expected and what was seen.
//!
//! # Collections
//!
//! Each image collects its own private space now and then (`collect_ratio`), on its own
//! thread, while the others run. The workload holds handles to the private objects it
//! allocated and drops some (`forget_ratio`); at a collection the harness passes every
//! private reference it holds for the image as a root (its handles, the references of the
//! objects its model still reaches, the copy references it learned, its become records) and
//! takes the updated references back. The model knows which private objects are reachable
//! (from the handles, the base objects the image wrote, the objects it made `become`
//! others), so the check is exact: the collection keeps exactly those objects and the image's
//! copies, the space shrinks to them, a reference kept without being passed is refused as
//! stale (never another object), and every later read through the updated references agrees
//! with the model. What the model finds unreachable it stops checking.
//!
//! # Layout
//!
//! `config` holds [`StressConfig`] and its errors; `workload` prepares a base;
//! `life` runs one image lifetime's ops, `life/collect` its forget and collect ops, and
//! `life/check` compares it with its shadow model;
//! `run` drives the threads; `assemble` folds lifetimes into the [`Report`]; `progress` and
//! `rss` are what a front end watches while it runs; `fuzz` is the shadow reader's fuzz target
//! and what every fuzz target shares (`fuzz/README.md`).

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

mod assemble;
mod config;
pub mod fuzz;
mod gen;
mod life;
mod progress;
mod report;
pub mod rng;
mod rss;
mod run;
mod saved;
mod shadow;
mod workload;

pub use config::{
    Churn, ConfigError, StressConfig, StressError, MAX_DURATION, MAX_SAMPLE, MAX_SKEW,
    MIN_STACK_SIZE,
};
pub use gen::{generate_base, GenConfig, Generated};
pub use progress::{Phase, Progress};
pub use report::{
    BaseReport, ConfigReport, Distribution, GcReport, HeapReport, LifetimeReport, MemoryReport,
    Report, RssSample, ThroughputReport, TimingReport, Verdict, VerificationReport, Violation,
    SCHEMA_VERSION,
};
pub use run::{run, run_saving_deltas};
pub use saved::{resume as resume_deltas, ResumedDeltas, SavedDeltas, SavedError};
pub use workload::Workload;
