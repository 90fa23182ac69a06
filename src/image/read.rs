//! The read path (ARCHITECTURE.md, "Hot paths").
//!
//! Reading field k of a base object costs the object-start check and the header load the
//! bounds check needs anyway, and nothing for what other images did: base words never change,
//! and other images' divergence lives in the object's forwarding word, which the read path never
//! loads. What this image itself diverged from is in its resolutions, probed first once it has
//! any. The value read is checked the same way, so that a reference to an object this image
//! has diverged from is followed to its target before anyone sees it; chains (copies that
//! later `become` something else) are followed to the end, as Spur does. A reference read out
//! of a private object that had to be followed is rewritten in place: the lazy become.

use super::{Image, Target};
use crate::object::{slot_offset, Header, Loc, FORWARDED, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS};
use crate::{Error, Format, Formats, Result, Value};

/// Where [`Image::base_view`] sends a fast path for a base object.
enum BaseView {
    /// This image's copy, at this index of its space.
    Copy(usize),
    /// The base's own object, of this many body words.
    Base { len: usize },
}

impl Image {
    /// Reads field `index` of a pointers object, or literal `index` of a method.
    ///
    /// The answer is always the reference this image should use: if the field points at a base
    /// object this image has copied (or made `become` something), the answer is the copy.
    ///
    /// The one query that takes `&mut self`: reading a reference that had to be followed
    /// rewrites it in the private field it came from (the lazy become), so that the next read
    /// is a fast one. Every other query takes `&self`.
    #[inline(always)]
    pub fn read(&mut self, obj: Value, index: usize) -> Result<Value> {
        // The fast paths: a pointers object, base or private, holding a value that needs no
        // following (see `settled`). The object-start check comes before the header is
        // trusted for a bounds check. A base object this image diverged from is answered from
        // its own resolutions; any other is read as sealed (base words never change), so no
        // forwarder and no forwarding word is looked at here.
        if obj.has_tag(self.base_tag) {
            let at = obj.index();
            // An object this image wrote: its own target, found before the base header is
            // loaded (the table holds only object starts, so a hit needs no bitmap test).
            if self.resolutions.has_own() {
                match self.resolutions.get(at) {
                    Some(Loc::Private(p)) => return self.read_private(p, index),
                    Some(Loc::Base(_)) => return self.read_general(obj, index),
                    None => {}
                }
            }
            let arena = self.heap.arena();
            if !arena.is_start(at) {
                return self.read_general(obj, index);
            }
            // Base words never change, headers included: what other images wrote is beside
            // the object, in its forwarding word, which this image has no reason to look at.
            let word = arena.word(at);
            if word & FORWARDED_OR_NOT_POINTERS == 0 {
                let len = Header(word).body_words();
                if index >= len {
                    return Err(Error::IndexOutOfRange { index, len });
                }
                let value = Value::from_bits(self.heap.body_word(at, index));
                if self.settled(value) {
                    return Ok(value);
                }
            } else {
                let header = Header(word);
                if header.format() == Format::Method {
                    return self.read_base_slot(at, header, index);
                }
                return Err(Error::WrongFormat {
                    expected: Formats::SLOTS,
                    actual: header.format(),
                });
            }
        } else if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            return self.read_private(obj.index(), index);
        }
        self.read_general(obj, index)
    }

    /// What [`read`](Image::read) answers for field `index` of a pointers object where its
    /// fast path answers (a base or private object this image reads directly or through its
    /// own copy, holding a value that needs no following), without rewriting anything; `None`
    /// where `read` would take its general path or refuse, so that a caller that gets `None`
    /// calls `read`. The same checks as `read`: owner, object start, header, bounds. For a
    /// VM's dispatch loop, which can then stay free of calls.
    #[inline(always)]
    pub fn read_fast(&self, obj: Value, index: usize) -> Option<Value> {
        if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            self.read_private_fast(obj.index(), index)
        } else if obj.has_tag(self.base_tag) {
            self.read_base_fast(obj.index(), index)
        } else {
            None
        }
    }

    /// [`read_fast`](Image::read_fast) of the `N` fields from `first` on, with the checks on
    /// `obj` itself (owner, object start, header, bounds) made once for them all: a VM that
    /// reads several fields of one of its own activation records (a block's argument count,
    /// start and home) pays for one object, not `N`. Each value is checked as `read_fast`
    /// checks it; `None` where `read_fast` would answer `None` for any of the fields.
    #[inline(always)]
    pub fn read_fast_fields<const N: usize>(&self, obj: Value, first: usize) -> Option<[Value; N]> {
        let mut out = [Value::from_bits(0); N];
        if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            let at = obj.index();
            let word = *self.space.words.get(at)?;
            // Checked: a `first` near `usize::MAX` would wrap past the bound.
            if word & FORWARDED_OR_NOT_POINTERS != 0
                || first.checked_add(N)? > Header(word).body_words()
            {
                return None;
            }
            let body = at + HEADER_WORDS + first;
            for (v, &bits) in out.iter_mut().zip(self.space.words.get(body..body + N)?) {
                *v = Value::from_bits(bits);
                if !self.settled(*v) {
                    return None;
                }
            }
        } else {
            for (k, v) in out.iter_mut().enumerate() {
                *v = self.read_fast(obj, first.checked_add(k)?)?;
            }
        }
        Some(out)
    }

    /// [`read_fast`](Image::read_fast) of a base object this image has not written (nor made
    /// `become` another), with the [`sealed_view`](Image::sealed_view) it was read under: the
    /// field answered stays this image's answer for as long as `sealed_view` answers the same,
    /// since the base's words never change. A VM may keep it (a global's value, read through
    /// its association) and use it again without the read. `None` where the read takes any
    /// other way.
    #[inline]
    pub fn read_sealed(&self, obj: Value, index: usize) -> Option<(Value, u64)> {
        if !obj.has_tag(self.base_tag) {
            return None;
        }
        let BaseView::Base { len } = self.base_view(obj.index())? else {
            return None;
        };
        let v = self.base_field(obj.index(), len, index)?;
        Some((v, self.resolutions.version()))
    }

    /// A number that changes whenever this image's view of a base object could change: when
    /// it copies one (its first store into it) or makes one `become` another, and when a
    /// collection moves its copies. What [`read_sealed`](Image::read_sealed) answered holds
    /// while this answers the same. `None` from a heap that keeps no object sealed.
    #[inline(always)]
    pub fn sealed_view(&self) -> Option<u64> {
        Some(self.resolutions.version())
    }

    /// [`read_fast`](Image::read_fast) for a base reference to `at`, out of line: a VM's own
    /// objects (its activations, what it allocates) are private, and their path stays short.
    #[inline(never)]
    fn read_base_fast(&self, at: usize, index: usize) -> Option<Value> {
        match self.base_view(at)? {
            BaseView::Copy(p) => self.read_private_fast(p, index),
            BaseView::Base { len } => self.base_field(at, len, index),
        }
    }

    /// Field `index` of the base's own object at `at` (its body `len` words, as
    /// [`base_view`](Image::base_view) found it), where the fast paths answer it.
    #[inline(always)]
    fn base_field(&self, at: usize, len: usize, index: usize) -> Option<Value> {
        if index >= len {
            return None;
        }
        let value = Value::from_bits(self.heap.body_word(at, index));
        self.settled(value).then_some(value)
    }

    /// What the fast paths read for the base object at `at`: this image's copy of it, or the
    /// base's own unforwarded pointers object (its body's length). `None` where only the
    /// general path reads it: another object after a `become`, no object start, another
    /// format, a forwarded header.
    #[inline(always)]
    fn base_view(&self, at: usize) -> Option<BaseView> {
        if self.resolutions.has_own() {
            match self.resolutions.get(at) {
                Some(Loc::Private(p)) => return Some(BaseView::Copy(p)),
                Some(Loc::Base(_)) => return None,
                None => {}
            }
        }
        let arena = self.heap.arena();
        if !arena.is_start(at) {
            return None;
        }
        let word = arena.word(at);
        if word & FORWARDED_OR_NOT_POINTERS != 0 {
            return None;
        }
        Some(BaseView::Base {
            len: Header(word).body_words(),
        })
    }

    /// `read_private`'s fast path alone: `None` where it would go on to the general path.
    #[inline(always)]
    fn read_private_fast(&self, at: usize, index: usize) -> Option<Value> {
        let word = *self.space.words.get(at)?;
        if word & FORWARDED_OR_NOT_POINTERS != 0 || index >= Header(word).body_words() {
            return None;
        }
        let value = Value::from_bits(*self.space.words.get(at + HEADER_WORDS + index)?);
        self.settled(value).then_some(value)
    }

    /// Slot `index` of the private object at `at` (an object start): the fast path for an
    /// unforwarded pointers object holding a settled value, else the general path.
    #[inline(always)]
    fn read_private(&mut self, at: usize, index: usize) -> Result<Value> {
        if let Some(&word) = self.space.words.get(at) {
            let len = Header(word).body_words();
            if word & FORWARDED_OR_NOT_POINTERS == 0 && index < len {
                if let Some(&bits) = self.space.words.get(at + HEADER_WORDS + index) {
                    let value = Value::from_bits(bits);
                    if self.settled(value) {
                        return Ok(value);
                    }
                }
            }
        }
        self.read_resolved(Loc::Private(at), index)
    }

    /// Byte `index` of a bytes object (not a method) where it is quick to see: one of this
    /// image's own unforwarded objects, or a base object it has no entry for; `None` sends
    /// [`read_byte`](Image::read_byte) down its general path. The same checks: owner, object
    /// start, header (forwarded bit, format), bounds.
    #[inline(always)]
    pub(super) fn byte_fast(&self, obj: Value, index: usize) -> Option<u8> {
        let word = if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            let at = obj.index();
            let header = *self.space.words.get(at)?;
            if header & FORWARDED != 0 || !bytes_hold(Header(header), index) {
                return None;
            }
            *self.space.words.get(at + HEADER_WORDS + index / 8)?
        } else if obj.has_tag(self.base_tag) {
            let at = obj.index();
            let arena = self.heap.arena();
            if (self.resolutions.has_own() && self.resolutions.get(at).is_some())
                || !arena.is_start(at)
                || !bytes_hold(Header(arena.word(at)), index)
            {
                return None;
            }
            self.heap.body_word(at, index / 8)
        } else {
            return None;
        };
        Some(crate::object::byte_of(word, index))
    }

    /// Whether a field of `obj` holds `thing` (an immediate, or a canonical reference, as
    /// reads answer: see [`canonical`](Image::canonical)), in one pass over the words, where
    /// [`read_fast`](Image::read_fast) would answer for every field: `obj` one of this
    /// image's own unforwarded pointers objects, or a base one it has no entry for (or has
    /// copied: the copy's fields). `None` where it would not, and where a field holds a
    /// reference that is not settled (one that could name `thing`'s object under another
    /// reference): the caller then reads the fields one by one. A VM's `pointsTo:` (a
    /// Squeak method dictionary's `includesKey:`), which scans dictionaries of hundreds of
    /// slots, a read with its checks each.
    pub fn points_to_fast(&self, obj: Value, thing: Value) -> Option<bool> {
        let settled = |v| self.settled(v);
        let private = |at: usize| {
            let words = self.space.pointers_body(at)?;
            crate::object::holds(words.iter().copied(), thing, settled)
        };
        if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            private(obj.index())
        } else if obj.has_tag(self.base_tag) {
            let at = obj.index();
            match self.base_view(at)? {
                BaseView::Copy(p) => private(p),
                BaseView::Base { len } => {
                    let words = (0..len).map(|i| self.heap.body_word(at, i));
                    crate::object::holds(words, thing, settled)
                }
            }
        } else {
            None
        }
    }

    /// What [`class_of`](Image::class_of) answers where that is quick to see: for a base
    /// object this image has no entry for, or one of its own unforwarded objects, whose class
    /// word is settled. `None` where `class_of` takes its general path (or refuses), so that
    /// a caller that gets `None` calls `class_of`. The same checks as [`read`](Image::read):
    /// owner, object start (the arena's or the space's bitmap), and the header's forwarded bit
    /// before the class word is trusted. Call-free, like [`read_fast`](Image::read_fast).
    #[inline(always)]
    pub fn class_fast(&self, obj: Value) -> Option<Value> {
        let class = if obj.has_tag(self.base_tag) {
            let at = obj.index();
            // An object this image diverged from takes the general path, which counts the
            // look-up of its target.
            if (self.resolutions.has_own() && self.resolutions.get(at).is_some())
                || !self.heap.arena().is_start(at)
            {
                return None;
            }
            self.heap.class_word(at)
        } else if obj.has_tag(self.own_tag) && self.space.is_start(obj.index()) {
            self.private_class_word(obj.index())?
        } else {
            return None;
        };
        self.settled(class).then_some(class)
    }

    /// [`identical`](Image::identical) where the two references tell alone, with no call and
    /// no look at either object: equal references are one object; two references of this
    /// image's owners that each read as themselves (the fast reads' test) are two. `None`
    /// where either may be an alias (a base object this image copied, one of its objects a
    /// `become` forwarded) or is of another owner: `identical` looks, and refuses what it
    /// must.
    #[inline(always)]
    pub fn identical_fast(&self, a: Value, b: Value) -> Option<bool> {
        if a == b {
            return Some(true);
        }
        let plain = |v: Value| {
            !v.is_object()
                || ((v.has_tag(self.base_tag) || v.has_tag(self.own_tag)) && self.settled(v))
        };
        (plain(a) && plain(b)).then_some(false)
    }

    /// The class word of the private object starting at `at`, unless it is forwarded.
    #[inline(always)]
    fn private_class_word(&self, at: usize) -> Option<Value> {
        let word = *self.space.words.get(at)?;
        if word & FORWARDED != 0 {
            return None;
        }
        self.space
            .words
            .get(at + 1)
            .map(|&bits| Value::from_bits(bits))
    }

    /// True if `value` reads as itself in this image: an immediate, a reference to a base
    /// object where this image has no entry of its own, or a reference to one of this image's
    /// objects that it has not made `become` something else. Anything else takes the general
    /// path. For a base reference this never loads the referenced object's header: whether
    /// another image forwarded it makes no difference here, so the answer is this image's own
    /// (none at all while it has written no base object; else one probe of its resolutions,
    /// which stay in cache where the base's headers would not).
    #[inline(always)]
    pub(super) fn settled(&self, value: Value) -> bool {
        if !value.is_object() {
            true
        } else if value.has_tag(self.base_tag) {
            !self.resolutions.has_own() || self.resolutions.get(value.index()).is_none()
        } else {
            // Stores check every reference, so one read from a field names an object start.
            !self.private_becomes
                || self
                    .space
                    .words
                    .get(value.index())
                    .is_some_and(|&word| word & FORWARDED == 0)
        }
    }

    /// Slot `index` of the base object at `at`, whose (original) header is `header`: the
    /// general path's base case, and a method's literals.
    fn read_base_slot(&mut self, at: usize, header: Header, index: usize) -> Result<Value> {
        let slot = slot_offset(header, index, || self.heap.body_word(at, 0) as usize)?;
        self.follow_base_value(Value::from_bits(self.heap.body_word(at, slot)))
    }

    #[inline(never)]
    fn read_general(&mut self, obj: Value, index: usize) -> Result<Value> {
        let loc = self.locate(obj)?;
        self.read_resolved(loc, index)
    }

    fn read_resolved(&mut self, loc: Loc, index: usize) -> Result<Value> {
        let (target, lookups) = self.resolve(loc)?;
        match target {
            Target::Base { at, header } => {
                slot_offset(header, index, || self.heap.body_word(at, 0) as usize)?;
                self.count_lookups(lookups);
                self.read_base_slot(at, header, index)
            }
            Target::Private { at, header } => {
                let slot = self.space.slot_at(at, header, index)?;
                self.count_lookups(lookups);
                let value = Value::from_bits(self.space.word(slot)?);
                let followed = self.canonical(value)?;
                if followed != value {
                    *self.space.word_mut(slot)? = followed.to_bits();
                    self.counters().fixups.bump();
                }
                Ok(followed)
            }
        }
    }

    /// A value read from the base: an immediate or a reference into the same base (the builder
    /// and the loaders guarantee it), so only this image's own entries can change it.
    #[inline]
    fn follow_base_value(&mut self, value: Value) -> Result<Value> {
        if self.settled(value) {
            Ok(value)
        } else {
            self.canonical(value)
        }
    }

    /// Follows forwarders from `loc` to the object this image sees there, and counts the
    /// forwarder look-ups that took (the caller adds them to the statistics once the operation
    /// can no longer be refused).
    pub(crate) fn resolve(&self, mut loc: Loc) -> Result<(Target, u32)> {
        let mut lookups = 0;
        loop {
            match loc {
                Loc::Base(at) => {
                    let header = self
                        .heap
                        .arena()
                        .object_header(at)
                        .ok_or(Error::StaleReference)?;
                    // This image's own entry, if it has diverged from the object; else the
                    // object as sealed, whatever other images did (the resolutions hold only
                    // object starts, so the check above comes first only to refuse others).
                    match self.resolutions.get(at) {
                        Some(next) => {
                            lookups += 1;
                            loc = next;
                        }
                        None => return Ok((Target::Base { at, header }, lookups)),
                    }
                }
                Loc::Private(at) => {
                    let word = self.space.word(at)?;
                    if word & FORWARDED == 0 {
                        return Ok((
                            Target::Private {
                                at,
                                header: Header(word),
                            },
                            lookups,
                        ));
                    }
                    // Only `become_forward` writes forwarded private headers, with a resolved
                    // target; `locate` admits only object starts, so this is such a header.
                    loc = Loc::decode(word >> 1);
                }
            }
        }
    }
}

/// True if `header` is a bytes object's (not a method's) with a byte `index`.
#[inline(always)]
fn bytes_hold(header: Header, index: usize) -> bool {
    header.format() == Format::Bytes && index < header.body_words() * 8 - header.pad_bytes()
}

#[cfg(test)]
mod tests {
    use crate::{BaseBuilder, Format, Kernel, Value};

    /// `read_fast_fields` answers what `read_fast` answers field by field, for this image's own
    /// objects and for base ones, and `None` past the end, for a non-pointers object, and for
    /// a reference into the middle of an object.
    #[test]
    fn read_fast_fields_agrees_with_read_fast() {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b).unwrap();
        let base = b.new_object(k.array, Format::Pointers, 3).unwrap();
        b.set_field(base, 1, Value::small_int(7).unwrap()).unwrap();
        let heap = b.seal().unwrap();
        let mut image = heap.new_image().unwrap();
        let own = image.allocate(k.array, Format::Pointers, 4).unwrap();
        for i in 0..4 {
            let v = Value::small_int(i as i64 * 10).unwrap();
            image.write(own, i, v).unwrap();
        }
        image.write(own, 3, base).unwrap();
        for obj in [own, base] {
            let len = if obj == own { 4 } else { 3 };
            for first in 0..len - 1 {
                let want = [image.read_fast(obj, first), image.read_fast(obj, first + 1)];
                let got = image.read_fast_fields::<2>(obj, first);
                assert_eq!(got, Some([want[0].unwrap(), want[1].unwrap()]));
            }
            assert_eq!(image.read_fast_fields::<2>(obj, len - 1), None);
            assert_eq!(image.read_fast_fields::<0>(obj, len), Some([]));
        }
        assert_eq!(image.read_fast_fields::<1>(own, 3), Some([base]));
        let bytes = image.new_bytes(k.byte_array, b"abcdefgh").unwrap();
        assert_eq!(image.read_fast_fields::<1>(bytes, 0), None);
        let inside = Value::object(image.incarnation, own.index() as u64 + 1);
        assert_eq!(image.read_fast_fields::<1>(inside, 0), None);
    }
}
