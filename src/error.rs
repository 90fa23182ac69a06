//! Typed errors. Every bad argument is answered with one of these, never a panic, and never
//! after a partial change: operations validate before they mutate.

#![forbid(unsafe_code)]

use crate::{Format, Value};

/// Why a heap or image operation was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An object operation was given an immediate.
    #[error("{0:?} is an immediate value, not an object reference")]
    NotAnObject(Value),
    /// The reference belongs to another image, another heap, or an image that has ended.
    #[error(
        "reference {0:?} does not belong to this image or its base heap; \
         pass values between images as immediates or by copying their contents"
    )]
    ForeignReference(Value),
    /// The reference passed the owner check of this image or its base but names no object
    /// there: a reference kept from an image that ended, whose incarnation a later image now
    /// has (see [`Image::incarnation`](crate::Image::incarnation)).
    #[error("a stale reference from an ended image names no object of this image or its base")]
    StaleReference,
    /// The index is past the end of the object.
    #[error("index {index} is out of range: the object has {len} elements")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The object's element count for this kind of access.
        len: usize,
    },
    /// The access does not match the object's format.
    #[error("this access needs a {expected} object, but the object's format is {actual:?}")]
    WrongFormat {
        /// What the access needs.
        expected: &'static str,
        /// What the object is.
        actual: Format,
    },
    /// The integer does not fit a 61-bit SmallInteger.
    #[error("{0} does not fit in a SmallInteger ({min}..={max})", min = Value::SMALL_INT_MIN, max = Value::SMALL_INT_MAX)]
    SmallIntegerRange(i64),
    /// A class argument was an immediate.
    #[error("a class must be an object reference, not {0:?}")]
    BadClass(Value),
    /// The object would exceed the 2^32-word body limit or its space's 2^32-word limit.
    #[error("the object or space would exceed cowheap's limits: 2^32 words per object body and per space")]
    TooLarge,
    /// All image ids of this heap are in use.
    #[error("all {limit} image ids of this heap are in use; drop an image or seal the base with a larger max_images")]
    TooManyImages {
        /// The heap's configured limit.
        limit: usize,
    },
    /// This process has made 2^28 base heaps, and base owner ids are never reused: an
    /// exhausted builder refuses to mint references.
    #[error("this process has used all 2^28 base heap owner ids; no further heap can be built")]
    HeapsExhausted,
    /// 2^28 - 1 images of this process are live at once: no incarnation is free.
    #[error("every image incarnation of this process is in use")]
    IncarnationsExhausted,
    /// A builder was sealed with an invalid configuration.
    #[error("invalid heap configuration: {0}")]
    BadConfig(String),
    /// No root has this name.
    #[error("no root is named {0:?}")]
    UnknownRoot(String),
    /// The OS refused to start a thread for an image.
    #[error("could not start an image thread: {0}")]
    Spawn(String),
}

/// Shorthand for results of cowheap operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
