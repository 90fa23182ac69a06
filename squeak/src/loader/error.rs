//! Why an image file was refused. Every variant about the file's contents names the byte
//! offset in the file where the problem was found, so that a corrupt file can be inspected
//! with a hex dump at that spot.

/// Why [`load_bytes`](super::load_bytes) or [`load_file`](super::load_file) refused a file.
///
/// A refused file builds nothing: the loader validates the whole file before it allocates the
/// base heap, so an error never leaves a half-built heap behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read image file {path}: {source}")]
    Io {
        /// The file asked for.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The path names something other than a regular file (a directory, a device such as
    /// `/dev/zero`, a pipe): refused before it is opened, since it may never end.
    #[error("{path}: not an image file: a {kind}, not a regular file")]
    NotAFile {
        /// The path asked for.
        path: std::path::PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than any image file this loader reads
    /// ([`MAX_IMAGE_BYTES`](super::MAX_IMAGE_BYTES)).
    #[error("{path}: {len} bytes, more than an image file may have ({limit} bytes)")]
    TooLarge {
        /// The path asked for.
        path: std::path::PathBuf,
        /// Its length (or as much as was read of it).
        len: u64,
        /// [`MAX_IMAGE_BYTES`](super::MAX_IMAGE_BYTES).
        limit: u64,
    },
    /// The file ends before a structure that must be there.
    #[error(
        "at byte {offset}: the file ends after {len} bytes, but {what} needs {needed} bytes here"
    )]
    Truncated {
        /// Where the structure starts.
        offset: usize,
        /// How many bytes it needs from `offset`.
        needed: usize,
        /// The file's length.
        len: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The first word is no image format this loader knows, in either byte order.
    #[error(
        "at byte 0: unknown image format {little_endian} (little-endian) / {big_endian} \
         (big-endian); expected 6502, 6504, 6505 or 6521"
    )]
    UnknownFormat {
        /// Word 0 read little-endian.
        little_endian: u32,
        /// Word 0 read big-endian.
        big_endian: u32,
    },
    /// A format this loader recognises but does not load (64-bit images).
    #[error("at byte 0: image format {format} is not supported: {why}")]
    Unsupported {
        /// The format number.
        format: u32,
        /// Why it is not loaded.
        why: &'static str,
    },
    /// A file-header field is out of range.
    #[error("at byte {offset}: bad image header: {what}")]
    BadHeader {
        /// The header field's offset.
        offset: usize,
        /// What is wrong with it.
        what: String,
    },
    /// An object header or body is malformed: a bad format code, a size that does not fit the
    /// data, a missing class.
    #[error("at byte {offset}: bad object: {what}")]
    BadObject {
        /// The offset of the object's (first) header word.
        offset: usize,
        /// What is wrong with it.
        what: String,
    },
    /// A field holds an oop that does not land on the start of an object.
    #[error("at byte {offset}: oop {oop:#010x} does not point at the start of an object ({what})")]
    BadReference {
        /// The offset of the field holding the oop.
        offset: usize,
        /// The oop found there.
        oop: u32,
        /// Which field it was.
        what: &'static str,
    },
    /// A field holds an immediate this format cannot have (a misaligned oop, a Character
    /// outside Unicode).
    #[error("at byte {offset}: bad field value {oop:#010x}: {what}")]
    BadValue {
        /// The offset of the field.
        offset: usize,
        /// The raw 32-bit word.
        oop: u32,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The file is valid, but the heap refused an object (it exceeds cowheap's size limits).
    #[error("at byte {offset}: the base heap refused the object: {source}")]
    Heap {
        /// The offset of the object's header.
        offset: usize,
        /// The heap's error.
        #[source]
        source: cowheap::Error,
    },
}

impl LoadError {
    /// The byte offset in the file the error is about, if it is about one (all but I/O errors
    /// and files refused before they were read).
    pub fn offset(&self) -> Option<usize> {
        match self {
            LoadError::Io { .. } | LoadError::NotAFile { .. } | LoadError::TooLarge { .. } => None,
            LoadError::UnknownFormat { .. } | LoadError::Unsupported { .. } => Some(0),
            LoadError::Truncated { offset, .. }
            | LoadError::BadHeader { offset, .. }
            | LoadError::BadObject { offset, .. }
            | LoadError::BadReference { offset, .. }
            | LoadError::BadValue { offset, .. }
            | LoadError::Heap { offset, .. } => Some(*offset),
        }
    }
}
