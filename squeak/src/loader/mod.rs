//! Loading real Squeak and Pharo image files as the shared base heap.
//!
//! The point of cowheap is many clients starting from the same real Smalltalk image, so the
//! base must come from image files nobody here wrote. [`load_file`] and [`load_bytes`] read
//! Squeak V3 32-bit images (formats 6502, 6504 and 6505, either byte order) and Spur 32-bit
//! images (6521), and build an ordinary sealed [`BaseHeap`]: every image operation works on it.
//!
//! ```no_run
//! let loaded = cowheap_squeak::loader::load_file("../shared/images/mini-2.2-v3-le.image")?;
//! let heap = &loaded.heap;
//! let nil_class = heap.original_class(loaded.info.nil)?;
//! assert_eq!(cowheap_squeak::loader::class_name(heap, nil_class).as_deref(), Some("UndefinedObject"));
//! let mut image = heap.new_image()?;
//! let specials = image.root("specialObjects")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How the file's objects map onto the heap
//!
//! | in the file | in the heap |
//! |---|---|
//! | pointers (V3 formats 0-4, Spur 0-5) | [`Format::Pointers`], each 32-bit oop relocated to a [`Value`] |
//! | SmallInteger (`oop & 1`) | [`Value::small_int`] of `(oop as i32) >> 1` |
//! | Spur Character (`oop & 3 == 2`) | [`Value::character`] of `oop >> 2` (V3 has no immediate Characters) |
//! | 32-bit words (V3 6, Spur 10-11; Spur 9 as pairs of words) | [`Format::Words`], each word in the file's byte order |
//! | bytes (V3 8-11, Spur 16-23; Spur 12-15 as their raw bytes) | [`Format::Bytes`], length from the format's pad bits |
//! | compiled method | [`Format::Method`]: **literal 0 is the method header** (a SmallInteger), literals 1..=n the file's literals, then the bytecodes. That is Smalltalk's `objectAt:` numbering, and it keeps the header a VM needs. |
//! | Float (a 2-word words object of the Float class) | [`Format::Words`], **high word first** whatever the file did: `f64::from_bits((w0 as u64) << 32 \| w1 as u64)`; see [`float_value`] |
//! | Spur forwarder (class index 8) | a one-slot pointers object of class nil holding its final target; every reference to it is relocated to that target |
//! | Spur object whose class index is a pun below 32 with no class-table entry (free lists, hidden roots) | class nil |
//! | identity hash (12 bits V3, 22 bits Spur) | the object's identity hash |
//!
//! Floats: 6502 and 6504 store a Float's high word first. 6505 ("Cog float order") and Spur
//! store the double in the saving platform's order, which on a little-endian machine puts the
//! low word first; the loader swaps those, so every Float in a loaded heap has the one
//! canonical order. [`ImageInfo::floats_reordered`] says whether it did.
//!
//! Objects keep the file's order, so [`BaseHeap::object`]`(n)` is the n-th object of the file
//! (free chunks and Spur's trailing segment bridge are not objects).
//!
//! # Roots
//!
//! The special-objects array is the root `specialObjects`; nil, true and false are also the
//! roots `nil`, `true` and `false`, and nil is the heap's filler. Where the loader could find
//! the class layout (from the SmallInteger class), the roots `classNameSlot` and
//! `thisClassSlot` hold, as SmallIntegers, the slot of a class that holds its name and the
//! slot of a metaclass that holds its class: images differ (6 and 6 in the Squeak V3 images,
//! 3 and 3 in the bootstrapped Spur kernel). [`class_name`] reads them.
//!
//! # Validation
//!
//! The loader checks every header field, that each object's declared size fits the data,
//! that objects abut without overlapping, the format codes, that every oop (fields, class
//! words, the special-objects oop, forwarder targets) lands exactly on an object start, and
//! that classes resolve through the compact-class table (V3) or the class table (Spur). It
//! checks all of that before it allocates the heap, so a bad file costs no heap and leaves
//! none half-built; the answer is a [`LoadError`] naming the byte offset. Every read of the
//! file is bounds-checked: there is no `unsafe` here.
//!
//! # Speed
//!
//! Scanning the object headers is one sequential pass (each object's size gives the next
//! one's start). Relocation and validation of every field then runs on rayon, in tasks of a
//! few hundred objects. Filling the builder is sequential, because [`BaseBuilder`](cowheap::BaseBuilder)
//! takes `&mut self`. `benches/load.rs` measures MB/s and objects/s per image.

#![forbid(unsafe_code)]

mod build;
mod error;
mod header;
mod raw;
mod spur;
mod v3;
mod verify;

use std::path::Path;

pub use error::LoadError;
pub use verify::{verify_references, HeapCheck, VerifyError};

use cowheap::{BaseHeap, Format, Value};

/// Indices into the special-objects array that the loader and `inspect` use. They are the
/// same in V3 and Spur images.
pub mod special {
    /// nil.
    pub const NIL: usize = 0;
    /// false.
    pub const FALSE: usize = 1;
    /// true.
    pub const TRUE: usize = 2;
    /// The SmallInteger class.
    pub const SMALL_INTEGER: usize = 5;
    /// The String (ByteString) class.
    pub const STRING: usize = 6;
    /// The Array class.
    pub const ARRAY: usize = 7;
    /// The Float (BoxedFloat64) class.
    pub const FLOAT: usize = 9;
    /// The Character class.
    pub const CHARACTER: usize = 19;
    /// The Character table (V3): 256 Characters, indexed by value.
    pub const CHARACTER_TABLE: usize = 24;
    /// The compact-class table (V3).
    pub const COMPACT_CLASSES: usize = 28;
}

/// The two object-memory families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ImageFamily {
    /// Squeak V3 32-bit: 6502, 6504, 6505.
    V3,
    /// Spur 32-bit: 6521.
    Spur,
}

/// The byte order a file was saved in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ByteOrder {
    /// Little-endian (x86, ARM).
    Little,
    /// Big-endian (PowerPC Macs, SqueakJS re-saves).
    Big,
}

/// What kinds of values the pointer fields of a loaded image hold. Fields are the slots of
/// pointers objects and the literals of methods (not the method header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FieldCounts {
    /// All pointer fields.
    pub fields: u64,
    /// Fields holding object references.
    pub references: u64,
    /// Fields holding SmallIntegers.
    pub small_integers: u64,
    /// Fields holding immediate Characters (Spur only).
    pub characters: u64,
}

impl FieldCounts {
    fn count(&mut self, v: Value) {
        self.fields += 1;
        if v.is_object() {
            self.references += 1;
        } else if v.as_small_int().is_some() {
            self.small_integers += 1;
        } else {
            self.characters += 1;
        }
    }
}

/// What the loader learnt about a file, beyond the heap itself.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    /// V3 or Spur.
    pub family: ImageFamily,
    /// The format number from the header: 6502, 6504, 6505 or 6521.
    pub format: u32,
    /// The byte order it was saved in.
    pub byte_order: ByteOrder,
    /// The file's length.
    pub file_bytes: usize,
    /// The header's length (`headerSize`): where the objects start.
    pub header_bytes: usize,
    /// The object data's length (`dataSize`).
    pub data_bytes: usize,
    /// The address the heap was saved at (`oldBaseAddr`).
    pub old_base: u32,
    /// Objects loaded: every object of the file, forwarders included, free chunks excluded.
    pub object_count: usize,
    /// Spur free chunks skipped.
    pub free_chunks: usize,
    /// Spur forwarders loaded (see the module docs).
    pub forwarders: usize,
    /// The special-objects array (also the root `specialObjects`).
    pub special_objects: Value,
    /// nil.
    pub nil: Value,
    /// true.
    pub true_object: Value,
    /// false.
    pub false_object: Value,
    /// The Float class, whose 2-word instances were put in canonical word order.
    pub float_class: Option<Value>,
    /// Whether Floats were stored low word first in the file and swapped on load.
    pub floats_reordered: bool,
    /// The slot of a class that holds its name, if found.
    pub class_name_slot: Option<usize>,
    /// The slot of a metaclass that holds its sole instance, if found.
    pub this_class_slot: Option<usize>,
    /// What the pointer fields hold.
    pub fields: FieldCounts,
}

/// A loaded image: the sealed base heap and what the loader learnt.
#[derive(Debug)]
pub struct Loaded {
    /// The base heap, ready for [`BaseHeap::new_image`].
    pub heap: BaseHeap,
    /// Format, byte order, counts and special objects.
    pub info: ImageInfo,
}

/// Loads an image from memory. Detects the format and byte order from the header.
pub fn load_bytes(bytes: &[u8]) -> Result<Loaded, LoadError> {
    build::load(bytes)
}

/// The most bytes an image file may have: 32-bit images address less than this, and a
/// larger file is refused before it is read.
pub const MAX_IMAGE_BYTES: u64 = 2 << 30;

/// Reads and loads an image file: a regular file of at most [`MAX_IMAGE_BYTES`]. Anything else
/// (a directory, a device such as `/dev/zero`, a pipe, a larger file) is refused before it is
/// read ([`LoadError::NotAFile`], [`LoadError::TooLarge`]), so that no path makes the loader
/// read without end.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let not_a_file = |kind| LoadError::NotAFile {
        path: path.to_owned(),
        kind,
    };
    // Looked at before it is opened (opening a pipe waits for a writer), and again once it
    // is open (the path may have changed meanwhile).
    if let Some(kind) = file_kind(&std::fs::metadata(path).map_err(io)?) {
        return Err(not_a_file(kind));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(kind) = file_kind(&meta) {
        return Err(not_a_file(kind));
    }
    let too_large = |len| LoadError::TooLarge {
        path: path.to_owned(),
        len,
        limit: MAX_IMAGE_BYTES,
    };
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(too_large(meta.len()));
    }
    // A plain read: images are a few MB, the loader touches every byte anyway, and a mapping
    // would need `unsafe` for no measurable gain. Bounded, for a file that grows meanwhile.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&file, MAX_IMAGE_BYTES + 1),
        &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    load_bytes(&bytes)
}

/// What a path is if it is not a regular file.
fn file_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("character device");
        }
        if t.is_block_device() {
            return Some("block device");
        }
        if t.is_fifo() {
            return Some("pipe");
        }
        if t.is_socket() {
            return Some("socket");
        }
    }
    Some("special file")
}

/// The bytes of a bytes object as text, one char per byte (Squeak strings are Latin-1).
pub fn string_value(heap: &BaseHeap, obj: Value) -> Option<String> {
    if heap.original_format(obj).ok()? != Format::Bytes {
        return None;
    }
    Some(
        heap.original_bytes(obj)
            .ok()?
            .into_iter()
            .map(char::from)
            .collect(),
    )
}

/// The value of a Float: a 2-word words object, high word first (the loader's canonical
/// order). `None` for anything else. Does not check the class.
pub fn float_value(heap: &BaseHeap, obj: Value) -> Option<f64> {
    match heap.original_words(obj).ok()?.as_slice() {
        &[hi, lo] => Some(f64::from_bits((hi as u64) << 32 | lo as u64)),
        _ => None,
    }
}

fn layout_slot(heap: &BaseHeap, root: &str, default: usize) -> usize {
    heap.root(root)
        .ok()
        .and_then(|v| v.as_small_int())
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(default)
}

/// The name of a class, or `"X class"` for the metaclass of X. `None` if `class` has no
/// String or Symbol where the heap's class layout puts the name.
///
/// Works for loaded heaps (through the `classNameSlot` and `thisClassSlot` roots) and for
/// heaps built with [`Kernel`](cowheap::Kernel) (which follows Squeak: slot 6).
pub fn class_name(heap: &BaseHeap, class: Value) -> Option<String> {
    let name_slot = layout_slot(heap, build::CLASS_NAME_SLOT_ROOT, 6);
    let name = |c: Value| string_value(heap, heap.original_field(c, name_slot).ok()?);
    if let Some(n) = name(class) {
        return Some(n);
    }
    let this_slot = layout_slot(heap, build::THIS_CLASS_SLOT_ROOT, 6);
    let this = heap.original_field(class, this_slot).ok()?;
    name(this).map(|n| n + " class")
}
