//! The write path (ARCHITECTURE.md, "Hot paths"): copy-on-write of base objects, stores, and per-image
//! `become_forward`.
//!
//! A first store into a base object copies it into this image's space, then publishes the copy
//! by installing this image's entry in the object's conditional forwarder (CAS-installing the
//! forwarder first if no image has). Every store validates its arguments before copying
//! anything, so a refused store leaves no trace.

use super::{Image, Target};
use crate::kernel::forwarder::Installed;
use crate::object::{self, Header, Loc, FORWARDED, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::{Error, Format, Result, Value};

impl Image {
    /// Stores `value` into field `index` of a pointers object, or literal `index` of a method.
    /// Copies the object first if it is a base object this image has not written yet.
    pub fn write(&mut self, obj: Value, index: usize, value: Value) -> Result<()> {
        self.check_storable(value)?;
        // The fast path: a pointers object this image already owns, reached through its own
        // reference or through the base reference it copied (one probe of its resolutions).
        if let Some(at) = self.owned_object(obj) {
            if let Some(&word) = self.space.words.get(at) {
                if word & FORWARDED_OR_NOT_POINTERS == 0 && index < Header(word).body_words() {
                    if let Some(slot) = self.space.words.get_mut(at + HEADER_WORDS + index) {
                        *slot = value.to_bits();
                        self.counters().writes.bump();
                        return Ok(());
                    }
                }
            }
        }
        let (target, lookups) = self.probe(obj)?;
        let offset = object::slot_offset(target.header(), index, || self.literals(target))?;
        let at = self.make_private(target)?;
        self.count_lookups(lookups);
        *self.space.word_mut(at + HEADER_WORDS + offset)? = value.to_bits();
        self.counters().writes.bump();
        Ok(())
    }

    /// Stores byte `index` of a bytes object, or bytecode `index` of a method.
    #[inline]
    pub fn write_byte(&mut self, obj: Value, index: usize, byte: u8) -> Result<()> {
        if self.write_byte_fast(obj, index, byte) {
            return Ok(());
        }
        self.write_bytes(obj, index, &[byte])
    }

    /// [`write_byte`](Image::write_byte) where its fast path stores: a bytes object (not a
    /// method) this image already owns, reached through its own reference or through the base
    /// reference it copied, as for [`write`](Image::write)'s fields. `false` (and nothing
    /// stored) for anything else, which the caller sends down `write_byte`. Call-free, for a
    /// VM's `at:put:`; the same checks: owner, object start, header (forwarded bit, format),
    /// bounds.
    #[inline(always)]
    pub fn write_byte_fast(&mut self, obj: Value, index: usize, byte: u8) -> bool {
        if let Some(at) = self.owned_object(obj) {
            if let Some(&word) = self.space.words.get(at) {
                let header = Header(word);
                if word & FORWARDED == 0
                    && header.format() == Format::Bytes
                    && index < header.body_words() * 8 - header.pad_bytes()
                {
                    if let Some(w) = self.space.words.get_mut(at + HEADER_WORDS + index / 8) {
                        *w = object::with_byte(*w, index, byte);
                        self.counters().writes.bump();
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Stores 32-bit word `index` of a words object.
    pub fn write_word(&mut self, obj: Value, index: usize, word: u32) -> Result<()> {
        self.write_words(obj, index, &[word])
    }

    /// Redirects every reference to `from`, as this image sees it, to `to`, lazily: through this
    /// image's forwarder entry if `from` is a base object, or by forwarding the private object.
    /// Other images are not affected. `from` keeps its place; `to` keeps its identity hash.
    pub fn become_forward(&mut self, from: Value, to: Value) -> Result<()> {
        let (source, from_lookups) = self.probe(from)?;
        let (target, to_lookups) = self.probe(to)?;
        let target = target.loc();
        self.count_lookups(from_lookups + to_lookups);
        if source.loc() == target {
            return Ok(());
        }
        // A private `from` gets a forwarded header: no token made before holds.
        self.layout_epoch = crate::vm::new_epoch();
        match source {
            Target::Private { at, .. } => {
                *self.space.word_mut(at)? = (target.encode() << 1) | FORWARDED;
                self.private_becomes = true;
            }
            Target::Base { at, .. } => self.enter(at, target)?,
        }
        self.compress(from, source.loc(), target)?;
        self.counters().becomes.bump();
        Ok(())
    }

    /// Points every object on the way from `from` to `source` (this image's own forwarded
    /// objects and its own resolutions: nothing shared) straight at `target`, so that
    /// becoming the same reference again and again never grows a chain that every later
    /// look-up would walk. `target` is a final object, so no cycle can form.
    fn compress(&mut self, from: Value, source: Loc, target: Loc) -> Result<()> {
        let mut loc = self.locate(from)?;
        while loc != source {
            loc = match loc {
                Loc::Private(p) => {
                    let word = self.space.word(p)?;
                    if word & FORWARDED == 0 {
                        break;
                    }
                    *self.space.word_mut(p)? = (target.encode() << 1) | FORWARDED;
                    Loc::decode(word >> 1)
                }
                Loc::Base(b) => match self.resolutions.get(b) {
                    Some(next) => {
                        self.resolutions.retarget([(b, target)]);
                        next
                    }
                    None => break,
                },
            };
        }
        Ok(())
    }

    /// The private object `obj` names for this image, if the image already owns one there:
    /// without counting a look-up, as the read fast path does not.
    #[inline(always)]
    fn owned_object(&self, obj: Value) -> Option<usize> {
        if obj.has_tag(self.base_tag) {
            match self
                .resolutions
                .has_own()
                .then(|| self.resolutions.get(obj.index()))?
            {
                Some(Loc::Private(at)) => Some(at),
                _ => None,
            }
        } else if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            Some(obj.index())
        } else {
            None
        }
    }

    /// The private object to write for `target`, copying it first if it is in the base.
    pub(super) fn make_private(&mut self, target: Target) -> Result<usize> {
        match target {
            Target::Private { at, .. } => Ok(at),
            Target::Base { at, header } => self.copy_on_write(at, header),
        }
    }

    /// Copies base object `at` (whose original header is `header`) and publishes the copy.
    fn copy_on_write(&mut self, at: usize, header: object::Header) -> Result<usize> {
        let class = self.heap.class_word(at).to_bits();
        let body = self.heap.body(at, header.body_words());
        let copy = self.space.append(header.0, class, body)?;
        self.enter(at, Loc::Private(copy))?;
        self.counters().copies.bump();
        self.counters()
            .private_bytes
            .set((self.space.len() * 8) as u64);
        Ok(copy)
    }

    /// Gives this image the forwarder entry `target` for base object `at`, where it has none.
    /// `at` was resolved, so it is an object start and the kernel cannot refuse it.
    pub(crate) fn enter(&mut self, at: usize, target: Loc) -> Result<()> {
        let arena = self.heap.arena();
        let installed = match arena.install_fresh(at, self.id, &mut self.slabs) {
            Some(installed) => Some(installed),
            None => {
                let mut garbage = Vec::new();
                let section = arena.enter(self.id);
                let installed = arena.install(at, self.id, &section, &mut garbage, &mut self.slabs);
                drop(section);
                arena.retire(garbage, &self.heap.inner.ids);
                installed
            }
        };
        match installed {
            Some(Installed::Forwarder) => self.counters().forwarders_installed.bump(),
            Some(Installed::Entry) => self.counters().entries_added.bump(),
            None => return Err(Error::StaleReference),
        }
        self.resolutions.insert(at, target);
        Ok(())
    }
}
