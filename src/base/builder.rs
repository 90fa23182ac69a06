//! Building a base heap: define objects, fill them, name roots, then seal.

use super::{BaseHeap, HeapConfig, HeapInner};
use crate::kernel::arena::Arena;
use crate::kernel::ids::IdAllocator;
use crate::kernel::owners::{BaseOwners, BASE_OWNERS};
use crate::kernel::sync::Arc;
use crate::object::{Format, Header, HEADER_WORDS, MAX_HASH};
use crate::space::Space;
use crate::stats::LiveImages;
use crate::{Error, Result, Value};

/// Builds the objects of a base heap. Objects may refer to objects allocated later: allocate
/// first, then fill fields and set classes. [`BaseBuilder::seal`] checks that every class was
/// set.
///
/// Each builder takes a base owner (the owner of its references, see [`Value`]) that no other heap of the process will ever have, so a
/// reference from one heap is refused by every other. After 2^28 builders a process has none
/// left: the builder then refuses every allocation and `seal` with
/// [`Error::HeapsExhausted`].
pub struct BaseBuilder {
    space: Space,
    starts: Vec<u32>,
    base_owner: Option<u32>,
    roots: Vec<(String, Value)>,
    filler: Value,
}

/// A summary, not the words: a builder may hold millions of them.
impl std::fmt::Debug for BaseBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseBuilder")
            .field("objects", &self.starts.len())
            .field("words", &self.space.len())
            .field("roots", &self.roots.len())
            .field("filler", &self.filler)
            .field("exhausted", &self.base_owner.is_none())
            .finish()
    }
}

impl Default for BaseBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// The seed of the identity hashes a builder gives objects whose hash is not set.
const BUILDER_HASH_SEED: u32 = 0x2f_6b1d;

/// The class placeholder of objects whose class is not set yet, and the initial filler.
const PLACEHOLDER: Value = match Value::small_int(0) {
    Some(v) => v,
    None => unreachable!(),
};

impl BaseBuilder {
    /// An empty builder. New pointer fields hold SmallInteger 0 until
    /// [`set_filler`](Self::set_filler) names something else (nil, usually).
    pub fn new() -> BaseBuilder {
        Self::with_owners(&BASE_OWNERS)
    }

    /// A builder whose owner id comes from `owners` (tests use a source near its limit).
    pub(crate) fn with_owners(owners: &BaseOwners) -> BaseBuilder {
        let base_owner = owners.next();
        BaseBuilder {
            // A fixed seed, not the owner id: the same build in two processes must give the
            // same identity hashes, or it would be a different base (and deltas saved over one
            // would not resume over the other; see `BaseHeap::content_hash`).
            space: Space::new(BUILDER_HASH_SEED),
            starts: Vec::new(),
            base_owner,
            roots: Vec::new(),
            filler: PLACEHOLDER,
        }
    }

    fn base_owner(&self) -> Result<u32> {
        self.base_owner.ok_or(Error::HeapsExhausted)
    }

    fn locate(&self, v: Value) -> Result<(usize, Header)> {
        if !v.is_object() {
            return Err(Error::NotAnObject(v));
        }
        if v.owner() != self.base_owner()? {
            return Err(Error::ForeignReference(v));
        }
        let at = v.index();
        if !self.space.is_start(at) {
            return Err(Error::StaleReference);
        }
        Ok((at, Header(self.space.word(at)?)))
    }

    fn check_value(&self, v: Value) -> Result<()> {
        if v.is_object() {
            self.locate(v)?;
        }
        Ok(())
    }

    fn allocate(
        &mut self,
        class: Value,
        format: Format,
        len: usize,
        literals: usize,
    ) -> Result<Value> {
        let base_owner = self.base_owner()?;
        self.check_value(class)?;
        let at = self
            .space
            .allocate(class, format, len, literals, self.filler)?;
        self.starts.push(at as u32);
        Ok(Value::object(base_owner, at as u64))
    }

    /// Allocates an object of `len` elements: fields (filled with the filler), 32-bit words or
    /// bytes (zeroed). For methods, `len` counts bytecodes and there are no literals; see
    /// [`new_method`](Self::new_method). `class` may be an immediate placeholder, to be
    /// replaced with [`set_class`](Self::set_class) before sealing.
    pub fn new_object(&mut self, class: Value, format: Format, len: usize) -> Result<Value> {
        self.allocate(class, format, len, 0)
    }

    /// Allocates a compiled method with `literals` literals and `bytecodes` bytes.
    pub fn new_method(&mut self, class: Value, literals: usize, bytecodes: usize) -> Result<Value> {
        self.allocate(class, Format::Method, bytecodes, literals)
    }

    /// Allocates a pointers object holding `fields`.
    pub fn new_pointers(&mut self, class: Value, slots: &[Value]) -> Result<Value> {
        for &v in slots {
            self.check_value(v)?;
        }
        let obj = self.allocate(class, Format::Pointers, slots.len(), 0)?;
        let (at, header) = self.locate(obj)?;
        self.space.set_pointers(at, header, slots)?;
        Ok(obj)
    }

    /// Allocates a bytes object holding `bytes`.
    pub fn new_bytes(&mut self, class: Value, bytes: &[u8]) -> Result<Value> {
        let obj = self.allocate(class, Format::Bytes, bytes.len(), 0)?;
        self.set_bytes(obj, 0, bytes)?;
        Ok(obj)
    }

    /// Allocates a words object holding `words`.
    pub fn new_words(&mut self, class: Value, words: &[u32]) -> Result<Value> {
        let obj = self.allocate(class, Format::Words, words.len(), 0)?;
        for (i, &w) in words.iter().enumerate() {
            self.set_word(obj, i, w)?;
        }
        Ok(obj)
    }

    /// Sets the value new pointer fields start with. Fields allocated earlier keep theirs.
    pub fn set_filler(&mut self, filler: Value) -> Result<()> {
        self.check_value(filler)?;
        self.filler = filler;
        Ok(())
    }

    /// Sets an object's class.
    pub fn set_class(&mut self, obj: Value, class: Value) -> Result<()> {
        let (at, _) = self.locate(obj)?;
        if !class.is_object() {
            return Err(Error::BadClass(class));
        }
        self.locate(class)?;
        *self.space.word_mut(at + 1)? = class.to_bits();
        Ok(())
    }

    /// Sets an object's identity hash (only the low 22 bits are kept).
    pub fn set_hash(&mut self, obj: Value, hash: u32) -> Result<()> {
        let (at, h) = self.locate(obj)?;
        *self.space.word_mut(at)? =
            Header::new(h.format(), hash & MAX_HASH, h.body_words(), h.pad_bytes()).0;
        Ok(())
    }

    /// Records the Smalltalk format code an image file gave the object (see
    /// `Header::smalltalk_format`), so that an interpreter can tell fixed fields from
    /// indexable ones.
    pub fn set_language_format(&mut self, obj: Value, code: u8) -> Result<()> {
        let (at, h) = self.locate(obj)?;
        *self.space.word_mut(at)? = h.with_smalltalk_format(code).0;
        Ok(())
    }

    /// Stores into field `index` of a pointers object or literal `index` of a method.
    pub fn set_field(&mut self, obj: Value, index: usize, value: Value) -> Result<()> {
        let (at, header) = self.locate(obj)?;
        self.check_value(value)?;
        let slot = self.space.slot_at(at, header, index)?;
        *self.space.word_mut(slot)? = value.to_bits();
        Ok(())
    }

    /// Reads back field `index` (or literal `index` of a method).
    pub fn field(&self, obj: Value, index: usize) -> Result<Value> {
        let (at, header) = self.locate(obj)?;
        Ok(Value::from_bits(
            self.space.word(self.space.slot_at(at, header, index)?)?,
        ))
    }

    /// Writes `bytes` into a bytes object (or a method's bytecodes) from byte `start`.
    pub fn set_bytes(&mut self, obj: Value, start: usize, bytes: &[u8]) -> Result<()> {
        let (at, header) = self.locate(obj)?;
        self.space.set_bytes(at, header, start, bytes)
    }

    /// Stores a 32-bit word into a words object.
    pub fn set_word(&mut self, obj: Value, index: usize, word: u32) -> Result<()> {
        let (at, header) = self.locate(obj)?;
        self.space.set_word(at, header, index, word)
    }

    /// Names a root, such as the special-objects array.
    pub fn add_root(&mut self, name: impl Into<String>, value: Value) -> Result<()> {
        self.check_value(value)?;
        self.roots.push((name.into(), value));
        Ok(())
    }

    /// The number of objects allocated so far.
    pub fn object_count(&self) -> usize {
        self.starts.len()
    }

    /// Seals with the default [`HeapConfig`].
    ///
    /// A builder with no objects seals an empty base: its images see nothing and, with no
    /// class to allocate with, can allocate nothing (see
    /// [`Kernel::minimal_base`](crate::Kernel::minimal_base)).
    pub fn seal(self) -> Result<BaseHeap> {
        self.seal_with(HeapConfig::default())
    }

    /// Makes the base immutable and shareable. Fails, building nothing, if an object still has
    /// no class or the configuration is out of range.
    pub fn seal_with(self, config: HeapConfig) -> Result<BaseHeap> {
        let base_owner = self.base_owner()?;
        if config.max_images == 0 || config.max_images > crate::kernel::forwarder::MAX_KEYS {
            return Err(Error::BadConfig {
                field: crate::ConfigField::MaxImages,
                reason: format!(
                    "must be between 1 and {}, not {}",
                    crate::kernel::forwarder::MAX_KEYS,
                    config.max_images
                ),
            });
        }
        for &start in &self.starts {
            let class = Value::from_bits(self.space.word(start as usize + 1)?);
            if !class.is_object() {
                return Err(Error::BadClass(class));
            }
        }
        debug_assert_eq!(HEADER_WORDS, 2);
        let content_hash = super::hash::content_hash(
            &self.space.words,
            &self.starts,
            base_owner,
            &self.roots,
            self.filler,
        );
        let arena = Arena::new(
            self.space.words,
            self.starts.iter().map(|&s| s as usize),
            config.max_images,
        );
        Ok(BaseHeap {
            inner: Arc::new(HeapInner {
                arena,
                base_owner,
                starts: self.starts.into_boxed_slice(),
                roots: self.roots,
                filler: self.filler,
                content_hash,
                ids: IdAllocator::new(config.max_images),
                live: LiveImages::new(config.max_images),
            }),
        })
    }
}
