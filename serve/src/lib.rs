//! `cowheap serve` and its load generator.

#![forbid(unsafe_code)]

pub mod load;
