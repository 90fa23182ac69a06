//! `cowheap stress` as a library: the embedded default base generator, the workload engine
//! with its per-image shadow models, and the report.
//!
//! The generator is public on its own so that benchmarks and examples can build the same
//! realistic base the stress run uses: [`generate_base`].

mod gen;
pub mod rng;

pub use gen::{generate_base, GenConfig, Generated};
mod engine;
mod report;
mod shadow;

pub use engine::{run, Phase, Progress, StressConfig, StressError, Workload};
pub use report::{
    BaseReport, ConfigReport, Distribution, HeapReport, LifetimeReport, MemoryReport, Report,
    RssSample, ThroughputReport, TimingReport, VerificationReport, Violation,
};
