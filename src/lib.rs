#![doc = include_str!("../docs/GUIDE.md")]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod base;
#[cfg(feature = "internal-bench-api")]
#[doc(hidden)]
pub mod bench_api;
pub mod delta;
mod error;
#[cfg(not(loom))]
pub mod generations;
mod image;
mod kernel;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
mod object;
#[cfg(all(feature = "plain-heap", not(loom)))]
pub mod plain;
#[cfg(all(test, not(loom)))]
mod regressions;
mod space;
mod stats;
#[cfg(not(loom))]
mod thread;
mod value;
pub mod vm;

pub use base::{
    BaseBuilder, BaseHash, BaseHeap, Census, HeapConfig, Kernel, ObjectCensus, Reclamation,
};
pub use delta::{DeltaError, DeltaInfo};
pub use error::{ConfigField, Error, Result};
pub use image::{Collection, Image, Roots, WeakRule, RETIRED};
pub use object::{Format, Formats, MAX_HASH};
pub use stats::{ImageStats, LiveImage};
#[cfg(not(loom))]
pub use thread::{ImageThread, MAPS_PER_THREAD, MAPS_SLACK, MAX_MAP_COUNT_VAR};
pub use value::Value;

/// The README's embedding example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
