#![cfg_attr(not(feature = "plain-heap"), doc = include_str!("../README.md"))]
// The README runs images over the shared base, which the plain heap does not have: its
// examples are the default build's doctests.
#![cfg_attr(
    feature = "plain-heap",
    doc = "Squeak loaders and interpreter, built over a plain private heap (`plain-heap`)."
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod error;
pub mod interp;
pub mod loader;

pub use error::Error;
