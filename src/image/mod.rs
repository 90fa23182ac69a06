//! Images: one mutator context each, with its own id, private space and copies.
//!
//! The read path is in [`read`](self::read) and the write path, copy-on-write and
//! `become_forward` included, in [`write`](self::write); whole ranges of bytes and words are
//! read and written in [`bulk`](self::bulk). What the delta format reads of an image, and how
//! a resumed image is put together, is in [`parts`]; the public saving methods
//! are in [`saving`].

#![forbid(unsafe_code)]

mod bulk;
mod collect;
mod enumerate;
mod parts;
mod read;
mod resolutions;
mod saving;
mod tokens;
mod vm;
mod write;

#[cfg(all(feature = "plain-heap", not(loom)))]
pub(crate) use bulk::check_range;
#[cfg(feature = "plain-heap")]
pub(crate) use collect::{Bits, Relocation, MIN_THRESHOLD};
pub use collect::{Collection, Roots, WeakRule, RETIRED};
pub(crate) use parts::Restored;

use std::cell::Cell;
use std::marker::PhantomData;

use crate::base::BaseHeap;
use crate::kernel::owners::{acquire_incarnation, release_incarnation};
use crate::object::{self, Format, Header, Loc, HEADER_WORDS};
use crate::space::Space;
use crate::stats::ImageStats;
use crate::value::OwnerTag;
use crate::{Error, Result, Value};

/// One client of a shared base: reads see the base plus this image's own writes, and nothing
/// any other image did.
///
/// `Image` is `Send` (a host may move it between threads between steps) but not `Sync`: one
/// thread at a time drives it.
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<cowheap::Image>();
/// ```
pub struct Image {
    heap: BaseHeap,
    /// The base's owner id, kept here so the read fast path need not reach into the heap.
    base_owner: u32,
    /// `base_owner` and `incarnation` as reference bits, for the fast paths' owner checks.
    base_tag: OwnerTag,
    own_tag: OwnerTag,
    id: u32,
    /// The owner of this image's private references: unique among live images (see
    /// [`Image::incarnation`]).
    incarnation: u32,
    space: Space,
    /// Its own targets for base objects: the read path's answer, and the list of entries
    /// teardown clears.
    resolutions: resolutions::Resolutions,
    /// True once this image has made one of its private objects `become` another: until then
    /// a private reference read from a field needs no look at the header it names (a load
    /// that misses the cache on a large space).
    private_becomes: bool,
    /// Where this image's new forwarders come from.
    slabs: crate::kernel::slab::Slabs,
    /// Its statistics block, held directly: every store counts there.
    stats: crate::stats::StatsHandle,
    root_overrides: Vec<(String, Value)>,
    /// Its collector's state: held past incarnations, the weak rule, when to collect next.
    collector: collect::Collector,
    /// Its layout epoch: a new one (see [`crate::vm::new_epoch`]) whenever private objects may
    /// have moved or changed shape (a collection, a `become`, a resumed space), which is what
    /// a [`FieldsToken`](crate::vm::FieldsToken) checks.
    layout_epoch: u64,
    _not_sync: PhantomData<Cell<()>>,
}

/// The object a reference leads to in one image, after following every forwarder.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Base { at: usize, header: Header },
    Private { at: usize, header: Header },
}

impl Target {
    fn loc(self) -> Loc {
        match self {
            Target::Base { at, .. } => Loc::Base(at),
            Target::Private { at, .. } => Loc::Private(at),
        }
    }

    fn header(self) -> Header {
        match self {
            Target::Base { header, .. } | Target::Private { header, .. } => header,
        }
    }
}

impl Image {
    /// A new image over `heap` ([`BaseHeap::new_image`]). It sees exactly the base until it
    /// writes.
    pub(crate) fn new(heap: &BaseHeap) -> Result<Image> {
        let incarnation = acquire_incarnation().ok_or(Error::IncarnationsExhausted)?;
        let Some(id) = heap.inner.ids.acquire() else {
            release_incarnation(incarnation);
            return Err(Error::TooManyImages {
                limit: heap.inner.ids.limit(),
            });
        };
        heap.inner.live.register(id, incarnation);
        heap.inner.arena.collect();
        Ok(Image {
            heap: heap.clone(),
            base_owner: heap.base_owner(),
            base_tag: OwnerTag::of(heap.base_owner()),
            own_tag: OwnerTag::of(incarnation),
            id,
            incarnation,
            space: Space::new(incarnation),
            resolutions: Default::default(),
            private_becomes: false,
            slabs: Default::default(),
            stats: heap.inner.live.handle(id),
            root_overrides: Vec::new(),
            collector: Default::default(),
            layout_epoch: crate::vm::new_epoch(),
            _not_sync: PhantomData,
        })
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        #[cfg(cowheap_mutant = "early_id_release")]
        self.heap.inner.ids.release(self.id);
        let arena = self.heap.arena();
        // An image that never wrote a base object has no entry to take down, and its
        // section would read no forwarding word: two shared read-modify-writes saved on the
        // commonest teardown.
        if self.resolutions.has_own() {
            let section = arena.enter(self.id);
            let mut garbage = Vec::new();
            for (at, _) in self.resolutions.iter() {
                arena.remove(at, self.id, &section, &mut garbage);
            }
            drop(section);
            arena.retire(garbage, &self.heap.inner.ids);
        }
        // The id goes back only after the image's last section, so its next holder never
        // shares its section counter.
        self.heap.inner.live.unregister(self.id);
        #[cfg(not(cowheap_mutant = "early_id_release"))]
        self.heap.inner.ids.release(self.id);
        release_incarnation(self.incarnation);
        self.collector.release_all();
        arena.collect();
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("id", &self.id)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Image {
    /// This image's id, unique among the live images of its heap and reused after teardown.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// This image's incarnation: the owner of its private references, unique among the live
    /// images of the process (its id is unique only among its heap's live images).
    ///
    /// Incarnations are reused, but only once free, and handed out in sweeping order over
    /// 2^28 - 1 numbers, so normally not before the others have been. So a reference kept from
    /// an ended image is refused with [`Error::ForeignReference`] by every image, unless a
    /// later image now has the ended image's incarnation. Then that image answers
    /// [`Error::StaleReference`] where the reference names none of its objects, and where it
    /// happens to name the start of one of its own objects, treats it as a reference to that
    /// object: the holder reaches only what that image could give it anyway, and never memory
    /// that is not an object.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The base heap this image runs over.
    pub fn heap(&self) -> &BaseHeap {
        &self.heap
    }

    #[inline(always)]
    pub(crate) fn counters(&self) -> &crate::stats::LiveStats {
        self.stats.counters()
    }

    /// What this image has done so far.
    pub fn stats(&self) -> ImageStats {
        self.counters().snapshot()
    }

    /// Where a reference points, checked against this image's two spaces.
    #[inline(always)]
    pub(crate) fn locate(&self, v: Value) -> Result<Loc> {
        if !v.is_object() {
            Err(Error::NotAnObject(v))
        } else if v.owner() == self.base_owner {
            if self.heap.arena().is_start(v.index()) {
                Ok(Loc::Base(v.index()))
            } else {
                Err(Error::StaleReference)
            }
        } else if v.owner() == self.incarnation {
            if self.space.is_start(v.index()) {
                Ok(Loc::Private(v.index()))
            } else {
                Err(Error::StaleReference)
            }
        } else {
            Err(self.not_mine(v))
        }
    }

    /// Why a reference with neither of this image's owners is refused: stale if it is from
    /// one of this image's recent incarnations (kept by a host across a collection), else
    /// foreign.
    #[cold]
    fn not_mine(&self, v: Value) -> Error {
        if self.collector.is_retired(v.owner()) {
            Error::StaleReference
        } else {
            Error::ForeignReference(v)
        }
    }

    /// Checks that `v` may be stored in this image.
    pub(crate) fn check_storable(&self, v: Value) -> Result<()> {
        if v.is_object() {
            self.locate(v)?;
        }
        Ok(())
    }

    pub(crate) fn value_of(&self, loc: Loc) -> Value {
        match loc {
            Loc::Base(at) => self.heap.reference(at),
            Loc::Private(at) => Value::object(self.incarnation, at as u64),
        }
    }

    /// The reference this image uses for `v`'s object: a base object this image copied (or made
    /// `become` something) answers the copy (or the target); anything else answers itself.
    /// Reads already answer canonical references, so two canonical references are `==` exactly
    /// when they are [`identical`](Self::identical). Normalise with this before keying a
    /// map by `Value`.
    pub fn canonical(&self, v: Value) -> Result<Value> {
        let (value, lookups) = self.probe_canonical(v)?;
        self.count_lookups(lookups);
        Ok(value)
    }

    fn probe_canonical(&self, v: Value) -> Result<(Value, u32)> {
        if !v.is_object() {
            return Ok((v, 0));
        }
        let (target, lookups) = self.probe(v)?;
        Ok((self.value_of(target.loc()), lookups))
    }

    /// Resolves `obj` and counts the forwarder look-ups it took: for queries that cannot be
    /// refused once the object is found.
    fn target_of(&self, obj: Value) -> Result<Target> {
        let (target, lookups) = self.probe(obj)?;
        self.count_lookups(lookups);
        Ok(target)
    }

    /// Resolves `obj` without counting: for operations that may still be refused, which
    /// count with [`count_lookups`](Self::count_lookups) once they cannot be (a refused
    /// operation changes nothing, statistics included).
    fn probe(&self, obj: Value) -> Result<(Target, u32)> {
        let loc = self.locate(obj)?;
        self.resolve(loc)
    }

    #[inline]
    fn count_lookups(&self, lookups: u32) {
        if lookups != 0 {
            self.counters().lookups.add(lookups as u64);
        }
    }

    /// A method's literal count, wherever the method lives.
    fn literals(&self, target: Target) -> usize {
        match target {
            Target::Base { at, .. } => self.heap.body_word(at, 0) as usize,
            Target::Private { at, .. } => self.space.literals(at),
        }
    }

    /// Body word `i` of a resolved object.
    fn body_word(&self, target: Target, i: usize) -> Result<u64> {
        match target {
            Target::Base { at, .. } => Ok(self.heap.body_word(at, i)),
            Target::Private { at, .. } => self.space.word(at + HEADER_WORDS + i),
        }
    }

    /// True if `a` and `b` are the same object as this image sees them. A base object and this
    /// image's copy of it are identical; so are an object and whatever it became.
    pub fn identical(&self, a: Value, b: Value) -> Result<bool> {
        let (a, a_lookups) = self.probe_canonical(a)?;
        let (b, b_lookups) = self.probe_canonical(b)?;
        self.count_lookups(a_lookups + b_lookups);
        Ok(a == b)
    }

    /// True if the object `v` names is, as this image sees it, one of its own: an object it
    /// allocated, its copy of a base object, or whatever it made the object `become`; false if
    /// it is a base object this image shares with the others (it has never written it).
    ///
    /// The answer is about the object, not the reference's bits: a base reference to an object
    /// this image has copied answers true, as does the copy's own reference, since the two are
    /// [`identical`](Self::identical). So `is_private` turning true after a write is the copy
    /// on write. (What a reference names, whatever any image did, is
    /// [`BaseHeap::is_base`].) Refuses what [`read`](Self::read) refuses: immediates, foreign
    /// and stale references.
    pub fn is_private(&self, v: Value) -> Result<bool> {
        Ok(matches!(self.target_of(v)?, Target::Private { .. }))
    }

    /// The identity hash. A copy keeps its base object's hash. Immediates hash to their value.
    pub fn identity_hash(&self, v: Value) -> Result<u32> {
        if !v.is_object() {
            return Ok((v.to_bits() >> 3) as u32 & object::MAX_HASH);
        }
        Ok(self.target_of(v)?.header().hash())
    }

    /// The class of an object. Immediates have no class object here: a VM finds theirs in
    /// its special objects.
    #[inline]
    pub fn class_of(&self, obj: Value) -> Result<Value> {
        match self.class_fast(obj) {
            Some(class) => Ok(class),
            None => self.class_of_general(obj),
        }
    }

    #[inline(never)]
    fn class_of_general(&self, obj: Value) -> Result<Value> {
        let class = match self.target_of(obj)? {
            Target::Base { at, .. } => self.heap.class_word(at),
            Target::Private { at, .. } => Value::from_bits(self.space.word(at + 1)?),
        };
        self.canonical(class)
    }

    /// The format of an object.
    pub fn format_of(&self, obj: Value) -> Result<Format> {
        Ok(self.target_of(obj)?.header().format())
    }

    /// The element count: fields, 32-bit words, bytes, or for a method its bytecodes (see
    /// [`literal_count`](Self::literal_count) for its literals).
    pub fn size_of(&self, obj: Value) -> Result<usize> {
        let t = self.target_of(obj)?;
        Ok(object::element_count(t.header(), || self.literals(t)))
    }

    /// The literal count of a method; 0 for other formats.
    pub fn literal_count(&self, obj: Value) -> Result<usize> {
        let t = self.target_of(obj)?;
        Ok(if t.header().format() == Format::Method {
            self.literals(t)
        } else {
            0
        })
    }

    /// [`read_byte`](Self::read_byte) where that is quick to see, with no call: a bytes
    /// object (not a method) of this image's own that it has not made `become` another, or a
    /// base one it has no entry for. `None` where `read_byte` takes its general path (or
    /// refuses), so that a caller that gets `None` calls `read_byte`. The same checks:
    /// owner, object start, header (forwarded bit, format), bounds.
    #[inline(always)]
    pub fn read_byte_fast(&self, obj: Value, index: usize) -> Option<u8> {
        self.byte_fast(obj, index)
    }

    /// Byte `index` of a bytes object, or bytecode `index` of a method.
    #[inline]
    pub fn read_byte(&self, obj: Value, index: usize) -> Result<u8> {
        if let Some(b) = self.byte_fast(obj, index) {
            return Ok(b);
        }
        self.read_byte_general(obj, index)
    }

    #[inline(never)]
    fn read_byte_general(&self, obj: Value, index: usize) -> Result<u8> {
        let mut byte = [0];
        self.read_bytes(obj, index, &mut byte)?;
        Ok(byte[0])
    }

    /// All bytes of a bytes object, or a method's bytecodes.
    pub fn bytes(&self, obj: Value) -> Result<Vec<u8>> {
        let (t, lookups) = self.probe(obj)?;
        let (first, len) = object::byte_span(t.header(), || self.literals(t))?;
        self.count_lookups(lookups);
        let mut bytes = vec![0; len];
        object::bytes_out(first, &mut bytes, |w| self.body_word(t, w))?;
        Ok(bytes)
    }

    /// 32-bit word `index` of a words object.
    pub fn read_word(&self, obj: Value, index: usize) -> Result<u32> {
        let mut word = [0];
        self.read_words(obj, index, &mut word)?;
        Ok(word[0])
    }

    /// The root called `name`: this image's own setting if it made one, else the base's.
    pub fn root(&self, name: &str) -> Result<Value> {
        let v = match self.root_overrides.iter().find(|(n, _)| n == name) {
            Some(&(_, v)) => v,
            None => self.heap.root(name)?,
        };
        self.canonical(v)
    }

    /// This image's own root settings, which a delta saves.
    pub(crate) fn root_overrides(&self) -> &[(String, Value)] {
        &self.root_overrides
    }

    /// Sets a root for this image only.
    pub fn set_root(&mut self, name: &str, value: Value) -> Result<()> {
        self.check_storable(value)?;
        match self.root_overrides.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.root_overrides.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// Allocates a private object of `len` elements: fields (nil-filled), 32-bit words or bytes
    /// (zeroed), or a method's bytecodes (with no literals; see [`new_method`](Self::new_method)).
    ///
    /// `class` must be an object of this image or its base: an immediate is refused with
    /// [`Error::BadClass`]. A base sealed empty has no class to give, so its images can
    /// allocate nothing; [`Kernel::minimal_base`](crate::Kernel::minimal_base) is the smallest
    /// base that can.
    pub fn allocate(&mut self, class: Value, format: Format, len: usize) -> Result<Value> {
        self.allocate_with(class, format, len, 0)
    }

    fn allocate_with(
        &mut self,
        class: Value,
        format: Format,
        len: usize,
        literals: usize,
    ) -> Result<Value> {
        crate::space::check_class(class, |c| self.check_storable(c))?;
        let at = self
            .space
            .allocate(class, format, len, literals, self.heap.filler())?;
        Ok(self.allocated(at))
    }

    /// The reference to the object just allocated at `at`, counted.
    fn allocated(&mut self, at: usize) -> Value {
        let counters = self.counters();
        counters.allocations.bump();
        counters.private_bytes.set((self.space.len() * 8) as u64);
        Value::object(self.incarnation, at as u64)
    }

    /// Allocates a private pointers object holding `fields`.
    pub fn new_pointers(&mut self, class: Value, slots: &[Value]) -> Result<Value> {
        self.new_pointers_from(class, slots.len(), slots)
    }

    /// Allocates a private pointers object of `len` fields whose first ones are `first`, the
    /// rest the filler (nil), as an allocation leaves them: [`new_pointers`](Self::new_pointers)
    /// without a slice of the whole, nor a look at the fields the filler holds (a new
    /// context's, nearly all of its 22 or 62). [`Error::IndexOutOfRange`] if `first` is longer.
    pub fn new_pointers_from(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
    ) -> Result<Value> {
        self.new_pointers_with_format(class, len, first, 0)
    }

    /// Allocates a private bytes object holding `bytes`.
    pub fn new_bytes(&mut self, class: Value, bytes: &[u8]) -> Result<Value> {
        let obj = self.allocate_with(class, Format::Bytes, bytes.len(), 0)?;
        self.space.fill_new(obj.index(), &[], bytes)?;
        Ok(obj)
    }

    /// Allocates a private words object holding `words`.
    pub fn new_words(&mut self, class: Value, words: &[u32]) -> Result<Value> {
        self.new_words_with_format(class, words, 0)
    }

    /// Allocates a private compiled method.
    pub fn new_method(
        &mut self,
        class: Value,
        literals: &[Value],
        bytecodes: &[u8],
    ) -> Result<Value> {
        literals.iter().try_for_each(|&v| self.check_storable(v))?;
        let obj = self.allocate_with(class, Format::Method, bytecodes.len(), literals.len())?;
        self.space.fill_new(obj.index(), literals, bytecodes)?;
        Ok(obj)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{BaseBuilder, Error, Format, Kernel, Value};

    /// A reference with this image's incarnation that does not name an object start (what a
    /// reference kept across an incarnation wrap could look like) is refused everywhere, and
    /// no word inside an object is ever read as a header or a reference.
    #[test]
    fn references_into_the_middle_of_an_object_are_stale() {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b).unwrap();
        let heap = b.seal().unwrap();
        let mut image = heap.new_image().unwrap();
        // Bytes that look like a pointers header, then like a base reference.
        let mut data = 0u64.to_le_bytes().to_vec();
        data.extend(k.nil.to_bits().to_le_bytes());
        let bytes = image.new_bytes(k.byte_array, &data).unwrap();
        let holder = image.allocate(k.array, Format::Pointers, 1).unwrap();
        for inside in [
            bytes.index() + 1,
            bytes.index() + 2,
            bytes.index() + 3,
            holder.index() + 2,
        ] {
            let forged = Value::object(image.incarnation, inside as u64);
            assert_eq!(image.read(forged, 0), Err(Error::StaleReference));
            assert_eq!(image.write(forged, 0, k.nil), Err(Error::StaleReference));
            assert_eq!(image.write(holder, 0, forged), Err(Error::StaleReference));
            assert_eq!(image.identical(forged, holder), Err(Error::StaleReference));
            assert_eq!(image.is_private(forged), Err(Error::StaleReference));
            assert_eq!(
                image.write_bytes(forged, 0, b"x"),
                Err(Error::StaleReference)
            );
            assert_eq!(
                image.read_words(forged, 0, &mut [0]),
                Err(Error::StaleReference)
            );
        }
        // The base answers the same for a reference with its owner that names no object start.
        let inside_base = Value::object(heap.base_owner(), k.nil.index() as u64 + 1);
        assert_eq!(heap.is_base(inside_base), Err(Error::StaleReference));
        assert_eq!(heap.census_of(inside_base), Err(Error::StaleReference));
        assert_eq!(
            heap.original_literal_count(inside_base),
            Err(Error::StaleReference)
        );
        assert_eq!(image.read(holder, 0).unwrap(), k.nil);
    }
}
