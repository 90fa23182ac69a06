//! # cowheap
//!
//! One read-only Smalltalk base heap, shared by many images, each on its own thread. An
//! image's first write to a base object copies that object for that image alone; the copy is
//! published lock-free by turning the base object into a *conditional forwarder* whose
//! per-image slots send each image to its own copy. References are repaired lazily.
//!
//! ```
//! use cowheap::{BaseBuilder, Format, Kernel, Value};
//!
//! let mut builder = BaseBuilder::new();
//! let kernel = Kernel::install(&mut builder)?;
//! let point = builder.new_object(kernel.object, Format::Pointers, 2)?;
//! builder.add_root("point", point)?;
//! let heap = builder.seal()?;
//!
//! let mut alice = heap.new_image()?;
//! let mut bob = heap.new_image()?;
//! let three = Value::small_int(3).unwrap();
//! alice.write(point, 0, three)?;             // copies `point` for alice alone
//! assert_eq!(alice.read(point, 0)?, three);
//! assert_eq!(bob.read(point, 0)?, kernel.nil); // bob still sees the base
//! assert_eq!(heap.original_slot(point, 0)?, kernel.nil);
//! # Ok::<(), cowheap::Error>(())
//! ```
//!
//! References are checked at run time: a reference from another image (or another heap, or an
//! image that has ended) is refused with [`Error::ForeignReference`].
//!
//! ```
//! # use cowheap::{BaseBuilder, Error, Format, Kernel};
//! # let mut builder = BaseBuilder::new();
//! # let kernel = Kernel::install(&mut builder)?;
//! # let heap = builder.seal()?;
//! let mut alice = heap.new_image()?;
//! let mut bob = heap.new_image()?;
//! let mine = alice.allocate(kernel.array, Format::Pointers, 1)?;
//! assert!(matches!(bob.read(mine, 0), Err(Error::ForeignReference(_))));
//! # Ok::<(), cowheap::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod base;
mod error;
mod forwarder;
mod image;
mod object;
mod registry;
mod space;
mod stats;
#[cfg(not(loom))]
pub mod stress;
mod sync;
#[cfg(not(loom))]
mod thread;
mod value;

pub use base::{BaseBuilder, BaseHeap, Census, HeapConfig, Kernel};
pub use error::{Error, Result};
pub use image::Image;
pub use object::{Format, MAX_HASH};
pub use stats::ImageStats;
#[cfg(not(loom))]
pub use thread::ImageThread;
pub use value::Value;
