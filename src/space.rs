//! A growable space of objects in plain words: the builder's arena before sealing, and each
//! image's private space. Only its owner touches it, so nothing here is atomic.
//!
//! A space is only ever addressed by references it handed out, but a reference kept from an
//! ended image can carry the incarnation of a later image (incarnations are reused once free). So a space records
//! where its objects start, and a reference that does not name an object start is refused: no
//! word inside an object (byte data above all) is ever taken for a header or a reference.
//! Every access is bounds-checked and answers a typed error.

#![forbid(unsafe_code)]

use crate::kernel::sync::{AtomicU64, Ordering};
use crate::object::{
    self, body_size, Format, Header, FORWARDED, FORWARDED_OR_NOT_POINTERS, HEADER_WORDS, MAX_HASH,
};
use crate::value::INDEX_MASK;
use crate::vm::{BytesToken, FieldsToken};
use crate::{Error, Result, Value};

/// A space's first allocation: a page, so that an image's first few copies do not each
/// reallocate its words (the first store's path). Growth then doubles, as `Vec` does; on Linux
/// a large space grows by `mremap`, without copying (BENCHMARKS.md §11).
const FIRST_WORDS: usize = 512;

#[derive(Default)]
pub(crate) struct Space {
    pub(crate) words: Vec<u64>,
    /// One bit per word: set where an object starts.
    starts: Vec<u64>,
    next_hash: u32,
}

impl Space {
    /// An empty space for `owner`: the base owner of a builder, or the incarnation of an
    /// image (see [`Value`]'s owner). The owner also seeds the identity hashes, so that images
    /// allocating in step do not all hand out the same hash sequence.
    pub(crate) fn new(owner: u32) -> Space {
        Space {
            words: Vec::new(),
            starts: Vec::new(),
            next_hash: owner & MAX_HASH,
        }
    }

    /// A space resumed from a delta: `words` with objects at `starts`, and the hash generator
    /// where the saved image left it.
    pub(crate) fn restored(
        words: Vec<u64>,
        starts: impl IntoIterator<Item = usize>,
        next_hash: u32,
    ) -> Space {
        let mut space = Space {
            words,
            starts: Vec::new(),
            next_hash: next_hash & MAX_HASH,
        };
        for at in starts {
            space.mark_start(at);
        }
        space
    }

    /// The hash generator's state, which a delta saves.
    pub(crate) fn hash_state(&self) -> u32 {
        self.next_hash
    }

    fn next_hash(&mut self) -> u32 {
        // A full-period LCG over 22 bits, as in Squeak's hash generator.
        self.next_hash = (self
            .next_hash
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223))
            & MAX_HASH;
        self.next_hash.max(1)
    }

    /// The start of every allocation: the body's size checked, room for the whole object
    /// reserved, and its header (a new identity hash, the language's format code) and class
    /// appended. Answers the object's index and its body's length in words, which the caller
    /// appends next.
    fn open(
        &mut self,
        class: Value,
        format: Format,
        len: usize,
        literals: usize,
        language_format: u8,
    ) -> Result<(usize, usize)> {
        let (body, pad) = body_size(format, len, literals)?;
        let at = self.words.len();
        if (at + HEADER_WORDS + body) as u64 > INDEX_MASK {
            return Err(Error::TooLarge);
        }
        let hash = self.next_hash();
        self.make_room(HEADER_WORDS + body)?;
        let header = Header::new(format, hash, body, pad).with_smalltalk_format(language_format);
        self.words.extend_from_slice(&[header.0, class.to_bits()]);
        Ok((at, body))
    }

    /// Appends an object and answers its index. Pointer fields and literals hold `filler`.
    pub(crate) fn allocate(
        &mut self,
        class: Value,
        format: Format,
        len: usize,
        literals: usize,
        filler: Value,
    ) -> Result<usize> {
        let (at, body) = self.open(class, format, len, literals, 0)?;
        let body_at = at + HEADER_WORDS;
        match format {
            // A counted `extend`, not `resize`: filled 16 bytes at a time (S28).
            Format::Pointers => self
                .words
                .extend(std::iter::repeat_n(filler.to_bits(), body)),
            Format::Method => {
                self.words.push(literals as u64);
                self.words.resize(body_at + 1 + literals, filler.to_bits());
                self.words.resize(body_at + body, 0);
            }
            Format::Words | Format::Bytes => self.words.extend(std::iter::repeat_n(0, body)),
        }
        self.mark_start(at);
        Ok(at)
    }

    /// Appends a words object of `class` holding `words`, the language's format code
    /// `language_format` in its header: [`allocate`](Self::allocate) and the words stored in
    /// one pass, with one reservation (two words to a body word, the first in the low half, as
    /// [`set_word`](Self::set_word) stores them). A VM's Float is one, made at every arithmetic
    /// operation, where the general allocation (a zeroed body, then the words, then the
    /// code) cost about twice the instructions.
    pub(crate) fn allocate_words(
        &mut self,
        class: Value,
        words: &[u32],
        language_format: u8,
    ) -> Result<usize> {
        let (at, _) = self.open(class, Format::Words, words.len(), 0, language_format)?;
        let (pairs, odd) = words.as_chunks::<2>();
        self.words.extend(
            pairs
                .iter()
                .map(|&[low, high]| u64::from(low) | u64::from(high) << 32),
        );
        if let [last] = odd {
            self.words.push(u64::from(*last));
        }
        self.mark_start(at);
        Ok(at)
    }

    /// Appends a pointers object of `class` and `len` fields, `first` in the first ones and
    /// `filler` in the rest, the language's format code `language_format` in its header:
    /// [`allocate`](Self::allocate), the fields stored and the code set, in one pass with one
    /// reservation. A VM's context is one, made at every activation that needs one, where
    /// the general path (a filled body, then each first field through its checks, then the
    /// header again for the code) cost about twice the instructions. `first` no longer than
    /// `len` ([`check_first`]).
    pub(crate) fn allocate_pointers(
        &mut self,
        class: Value,
        len: usize,
        first: &[Value],
        filler: Value,
        language_format: u8,
    ) -> Result<usize> {
        // `open`'s checks for a pointers body (a word a field, no pad), and one pass over the
        // object's words: header, class, the first fields (which the callers checked against
        // `len`), then the filler, as one counted `extend`, which the compiler fills 16 bytes
        // at a time. A context or an `Array new: 10` is made at every turn of many loops,
        // where `open`'s general body size and the separate appends cost 1.4 times the
        // instructions (249 against 175 an `Array new: 10`, the image's checks included), and
        // `resize` with the filler then the first fields over it, a word at a time, 2% more
        // a turn of an allocating loop (S28).
        let at = self.words.len();
        if len > object::MAX_BODY_WORDS || (at + HEADER_WORDS + len) as u64 > INDEX_MASK {
            return Err(Error::TooLarge);
        }
        let hash = self.next_hash();
        self.make_room(HEADER_WORDS + len)?;
        let header =
            Header::new(Format::Pointers, hash, len, 0).with_smalltalk_format(language_format);
        let (k, filler) = (first.len().min(len), filler.to_bits());
        self.words.extend(
            [header.0, class.to_bits()]
                .into_iter()
                .chain(first[..k].iter().map(|v| v.to_bits()))
                .chain(std::iter::repeat_n(filler, len - k)),
        );
        self.mark_start(at);
        Ok(at)
    }

    /// Appends a copy of a base object: its header, class and body.
    pub(crate) fn append(&mut self, header: u64, class: u64, body: &[AtomicU64]) -> Result<usize> {
        let at = self.words.len();
        if (at + HEADER_WORDS + body.len()) as u64 > INDEX_MASK {
            return Err(Error::TooLarge);
        }
        self.make_room(HEADER_WORDS + body.len())?;
        self.words.push(header);
        self.words.push(class);
        self.words
            .extend(body.iter().map(|w| w.load(Ordering::Relaxed)));
        self.mark_start(at);
        Ok(at)
    }

    #[inline]
    pub(crate) fn word(&self, i: usize) -> Result<u64> {
        self.words.get(i).copied().ok_or(Error::StaleReference)
    }

    #[inline]
    pub(crate) fn word_mut(&mut self, i: usize) -> Result<&mut u64> {
        self.words.get_mut(i).ok_or(Error::StaleReference)
    }

    /// A method's literal count (its first body word).
    #[inline]
    pub(crate) fn literals(&self, at: usize) -> usize {
        self.words.get(at + HEADER_WORDS).map_or(0, |&w| w as usize)
    }

    /// The word index of field `index` of the object at `at`.
    #[inline]
    pub(crate) fn slot_at(&self, at: usize, header: Header, index: usize) -> Result<usize> {
        Ok(at + HEADER_WORDS + object::slot_offset(header, index, || self.literals(at))?)
    }

    pub(crate) fn set_bytes(
        &mut self,
        at: usize,
        header: Header,
        start: usize,
        bytes: &[u8],
    ) -> Result<()> {
        let (first, len) = object::byte_span(header, || self.literals(at))?;
        if start.checked_add(bytes.len()).is_none_or(|end| end > len) {
            return Err(Error::IndexOutOfRange {
                index: start.saturating_add(bytes.len()).saturating_sub(1),
                len,
            });
        }
        let body = self
            .words
            .get_mut(at + HEADER_WORDS..)
            .ok_or(Error::StaleReference)?;
        object::bytes_in(body, first + start, bytes).ok_or(Error::StaleReference)
    }

    pub(crate) fn set_word(
        &mut self,
        at: usize,
        header: Header,
        index: usize,
        value: u32,
    ) -> Result<()> {
        let len = object::word_count(header)?;
        if index >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        let w = self.word_mut(at + HEADER_WORDS + index / 2)?;
        *w = object::with_half(*w, index, value);
        Ok(())
    }

    /// Fills an object just allocated at `at` (an image's or a plain heap's): its pointers
    /// or a method's literals, then its bytes.
    pub(crate) fn fill_new(&mut self, at: usize, pointers: &[Value], bytes: &[u8]) -> Result<()> {
        let header = Header(self.word(at)?);
        self.set_pointers(at, header, pointers)?;
        if !bytes.is_empty() {
            self.set_bytes(at, header, 0, bytes)?;
        }
        Ok(())
    }

    /// Refills the pointers object starting at `at` (a start the caller checked is its heap's
    /// own, and whose values it checked it may hold): `first`, then `filler` to its `len`
    /// fields, as a new allocation would leave it (a VM's recycled activation record). False,
    /// with nothing written, unless it is an unforwarded pointers object of exactly `len`
    /// fields, at least one, and `first` fits.
    pub(crate) fn refill(&mut self, at: usize, len: usize, first: &[Value], filler: Value) -> bool {
        let Some(&word) = self.words.get(at) else {
            return false;
        };
        if word & FORWARDED_OR_NOT_POINTERS != 0
            || len == 0
            || Header(word).body_words() != len
            || first.len() > len
        {
            return false;
        }
        let Some(fields) = self
            .words
            .get_mut(at + HEADER_WORDS..at + HEADER_WORDS + len)
        else {
            return false;
        };
        let (head, rest) = fields.split_at_mut(first.len());
        for (w, v) in head.iter_mut().zip(first) {
            *w = v.to_bits();
        }
        rest.fill(filler.to_bits());
        true
    }

    pub(crate) fn set_pointers(
        &mut self,
        at: usize,
        header: Header,
        values: &[Value],
    ) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            let slot = self.slot_at(at, header, i)?;
            *self.word_mut(slot)? = v.to_bits();
        }
        Ok(())
    }

    /// Room for `words` more, or [`Error::OutOfMemory`] if the allocator refuses: an
    /// allocation the machine cannot satisfy stops the image that asked, never the process.
    fn make_room(&mut self, words: usize) -> Result<()> {
        let want = if self.words.capacity() == 0 {
            words.max(FIRST_WORDS)
        } else {
            words
        };
        self.words
            .try_reserve(want)
            .map_err(|_| Error::OutOfMemory {
                bytes: (self.words.len() + want).saturating_mul(8),
            })
    }

    fn mark_start(&mut self, at: usize) {
        let word = at / 64;
        if self.starts.len() <= word {
            self.starts
                .resize(self.words.len().div_ceil(64).max(word + 1), 0);
        }
        self.starts[word] |= 1 << (at % 64);
    }

    /// The fields of the unforwarded pointers object starting at `at` (its owner and start
    /// checked by the caller), as the fast reads see them; `None` for another format or a
    /// forwarded object.
    pub(crate) fn pointers_body(&self, at: usize) -> Option<&[u64]> {
        let word = *self.words.get(at)?;
        if word & FORWARDED_OR_NOT_POINTERS != 0 {
            return None;
        }
        let body = at + HEADER_WORDS;
        self.words.get(body..body + Header(word).body_words())
    }

    /// True if an object of this space starts at word `at`.
    #[inline]
    pub(crate) fn is_start(&self, at: usize) -> bool {
        self.starts
            .get(at / 64)
            .is_some_and(|bits| bits >> (at % 64) & 1 != 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// A token for the pointers object starting at `at` (the caller checked owner and start),
    /// made under the heap's layout `epoch`: the one body of `Image::fields_token` and
    /// `PlainHeap::fields_token`.
    #[inline]
    pub(crate) fn fields_token(&self, at: usize, epoch: u64) -> Option<FieldsToken> {
        let epoch = crate::vm::token_epoch(epoch)?;
        let word = *self.words.get(at)?;
        (word & FORWARDED_OR_NOT_POINTERS == 0).then(|| FieldsToken {
            first: at + HEADER_WORDS,
            len: Header(word).body_words(),
            epoch,
        })
    }

    /// The class word of the words object at `at`, with `out` filled from its 32-bit words,
    /// if its header is not forwarded and it has exactly `out.len()` words; else `None`.
    #[inline]
    pub(crate) fn words_of(&self, at: usize, out: &mut [u32]) -> Option<Value> {
        let header = Header(*self.words.get(at)?);
        if header.0 & FORWARDED != 0
            || header.format() != Format::Words
            || object::word_count(header).ok()? != out.len()
        {
            return None;
        }
        let body = self.words.get(at + HEADER_WORDS..)?;
        for (i, w) in out.iter_mut().enumerate() {
            *w = object::half_of(*body.get(i / 2)?, i);
        }
        self.words.get(at + 1).map(|&bits| Value::from_bits(bits))
    }

    /// As [`fields_token`](Self::fields_token), for a bytes object (not a method).
    #[inline]
    pub(crate) fn bytes_token(&self, at: usize, epoch: u64) -> Option<BytesToken> {
        let epoch = crate::vm::token_epoch(epoch)?;
        let header = Header(*self.words.get(at)?);
        (header.0 & FORWARDED == 0 && header.format() == Format::Bytes).then(|| BytesToken {
            first: at + HEADER_WORDS,
            len: header.body_words() * 8 - header.pad_bytes(),
            epoch,
        })
    }

    /// The word of field `index` of the token's object, if the token is of the heap's layout
    /// `epoch` and the index in range.
    #[inline(always)]
    pub(crate) fn token_field(&self, token: &FieldsToken, epoch: u64, index: usize) -> Option<u64> {
        if token.epoch != epoch || index >= token.len {
            return None;
        }
        self.words.get(token.first + index).copied()
    }

    /// As [`token_field`](Self::token_field), to store into.
    #[inline(always)]
    pub(crate) fn token_field_mut(
        &mut self,
        token: &FieldsToken,
        epoch: u64,
        index: usize,
    ) -> Option<&mut u64> {
        if token.epoch != epoch || index >= token.len {
            return None;
        }
        self.words.get_mut(token.first + index)
    }

    /// Byte `index` of the token's object, as [`token_field`](Self::token_field).
    #[inline(always)]
    pub(crate) fn token_byte(&self, token: &BytesToken, epoch: u64, index: usize) -> Option<u8> {
        if token.epoch != epoch || index >= token.len {
            return None;
        }
        let word = *self.words.get(token.first + index / 8)?;
        Some(object::byte_of(word, index))
    }

    /// Stores byte `index` of the token's object: false (nothing stored) where
    /// [`token_byte`](Self::token_byte) would answer `None`.
    #[inline(always)]
    pub(crate) fn set_token_byte(
        &mut self,
        token: &BytesToken,
        epoch: u64,
        index: usize,
        byte: u8,
    ) -> bool {
        if token.epoch != epoch || index >= token.len {
            return false;
        }
        match self.words.get_mut(token.first + index / 8) {
            Some(w) => {
                *w = object::with_byte(*w, index, byte);
                true
            }
            None => false,
        }
    }

    /// The first object start at word `from` or after it.
    pub(crate) fn next_start(&self, from: usize) -> Option<usize> {
        let mut word = from / 64;
        let mut bits = *self.starts.get(word)? & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            bits = *self.starts.get(word)?;
        }
    }

    /// After a collection slid the live objects down: keeps the first `len` words, with
    /// objects at `starts`, and gives the rest of the memory back.
    pub(crate) fn compacted(&mut self, len: usize, starts: impl IntoIterator<Item = usize>) {
        self.words.truncate(len);
        self.words.shrink_to(len.max(FIRST_WORDS));
        self.starts.clear();
        self.starts.shrink_to(len.div_ceil(64));
        for at in starts {
            self.mark_start(at);
        }
    }
}

/// Checks the class of an object an allocation is to make (`Image`'s and the plain heap's):
/// an object (an immediate is [`Error::BadClass`]) that the heap may hold (`storable`).
pub(crate) fn check_class(class: Value, storable: impl FnOnce(Value) -> Result<()>) -> Result<()> {
    if !class.is_object() {
        return Err(Error::BadClass(class));
    }
    storable(class)
}

/// Checks the first fields `first` of an object of `len` an allocation `*_from` is to make
/// (`Image::new_pointers_from`, and the plain heap's): no more than `len`, and each one
/// `storable` in the heap, but for the filler, a start of the sealed base and storable
/// always (most of a new context's fields, with no look-up).
pub(crate) fn check_first(
    first: &[Value],
    len: usize,
    filler: Value,
    storable: impl Fn(Value) -> Result<()>,
) -> Result<()> {
    if let Some(index) = first.len().checked_sub(1).filter(|_| first.len() > len) {
        return Err(Error::IndexOutOfRange { index, len });
    }
    first
        .iter()
        .filter(|&&v| v != filler)
        .try_for_each(|&v| storable(v))
}
