//! Typed errors. Every bad argument is answered with one of these, never a panic, and never
//! after a partial change: operations validate before they mutate.

#![forbid(unsafe_code)]

use std::sync::Arc;

use crate::{Format, Formats, Value};

/// Why a heap or image operation was refused.
///
/// `Clone` and `Eq`, so that results can be compared in tests and sent between threads. The one
/// variant holding an [`std::io::Error`] ([`Error::Spawn`]) shares it through an `Arc` and
/// compares by its kind and message.
#[derive(Debug, thiserror::Error, Clone)]
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
    /// The reference names no object of this image any more: a private reference kept across
    /// a collection of its image without being passed as a root (see
    /// [`Image::collect`](crate::Image::collect)), or one kept from an image that ended,
    /// whose incarnation a later image now has (see
    /// [`Image::incarnation`](crate::Image::incarnation)).
    #[error(
        "a stale reference: kept across a collection without being passed as a root, or from          an ended image; it names no object of this image or its base"
    )]
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
    #[error("this access needs a {expected} object, not a {actual} object")]
    WrongFormat {
        /// The formats the access accepts.
        expected: Formats,
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
    /// The allocator refused memory for this image's private space (the machine, or a
    /// `ulimit`, not the image's own cap): the image that asked stops; the process and every
    /// other image go on.
    #[error("out of memory: the allocator refused a private space of {bytes} bytes")]
    OutOfMemory {
        /// The size of the space it asked for.
        bytes: usize,
    },
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
    #[error("invalid heap configuration: `{field}` {reason}")]
    BadConfig {
        /// The [`HeapConfig`](crate::HeapConfig) field that is out of range, so that a front
        /// end can name its own spelling of it (a one-byte enum, not a string: every
        /// operation's `Result` carries this type, and it keeps `Result<Value>` at 32 bytes).
        field: ConfigField,
        /// What is wrong with it, e.g. "must be between 1 and 4194302, not 0".
        reason: String,
    },
    /// No root has this name.
    #[error("no root is named {0:?}")]
    UnknownRoot(String),
    /// The OS refused to start a thread for an image. The `io::Error` is kept, so a host can
    /// tell a thread limit from a stack that could not be mapped; it is shared through an `Arc`
    /// so that `Error` stays `Clone`, and it is also the error's
    /// [`source`](std::error::Error::source) (as that `Arc`).
    #[error("could not start an image thread: {0}")]
    Spawn(#[source] Arc<std::io::Error>),
}

/// Variant by variant; an [`Error::Spawn`] equals another with an `io::Error` of the same kind
/// and message (`io::Error` has no `PartialEq` of its own).
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        use Error::*;
        match (self, other) {
            (NotAnObject(a), NotAnObject(b))
            | (ForeignReference(a), ForeignReference(b))
            | (BadClass(a), BadClass(b)) => a == b,
            (StaleReference, StaleReference)
            | (TooLarge, TooLarge)
            | (HeapsExhausted, HeapsExhausted)
            | (IncarnationsExhausted, IncarnationsExhausted) => true,
            (IndexOutOfRange { index: i, len: l }, IndexOutOfRange { index: j, len: m }) => {
                i == j && l == m
            }
            (
                WrongFormat {
                    expected: e,
                    actual: a,
                },
                WrongFormat {
                    expected: f,
                    actual: b,
                },
            ) => e == f && a == b,
            (SmallIntegerRange(a), SmallIntegerRange(b)) => a == b,
            (TooManyImages { limit: a }, TooManyImages { limit: b }) => a == b,
            (OutOfMemory { bytes: a }, OutOfMemory { bytes: b }) => a == b,
            (
                BadConfig {
                    field: f,
                    reason: r,
                },
                BadConfig {
                    field: g,
                    reason: s,
                },
            ) => f == g && r == s,
            (UnknownRoot(a), UnknownRoot(b)) => a == b,
            (Spawn(a), Spawn(b)) => {
                Arc::ptr_eq(a, b) || (a.kind() == b.kind() && a.to_string() == b.to_string())
            }
            _ => false,
        }
    }
}

impl Eq for Error {}

/// Shorthand for results of cowheap operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A field of [`HeapConfig`](crate::HeapConfig), as named by [`Error::BadConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigField {
    /// [`HeapConfig::max_images`](crate::HeapConfig::max_images).
    MaxImages,
}

impl ConfigField {
    /// The field's name, spelled as in the struct.
    pub fn name(self) -> &'static str {
        match self {
            ConfigField::MaxImages => "max_images",
        }
    }
}

impl std::fmt::Display for ConfigField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
