//! Collecting one image's private space, on the image's own thread: no other image waits, and
//! nothing shared is touched.
//!
//! **Why nothing shared is touched.** The base is immortal and immutable, and no base word can
//! point into a private space (every store into a base object copies it first), so the base is
//! never traced. A forwarder's entry records only *which* image diverged, never where its
//! target is (that lives in the image's own resolutions), so moving a target needs no kernel
//! operation. The roots are the image's own: its resolutions' targets (its copies live as long
//! as the base), its root overrides, and whatever its caller passes (a VM's frames and stack,
//! a host's references).
//!
//! **The algorithm: a sliding mark-compact** (Lisp 2 order, with a live-word bitmap for the
//! new addresses instead of a forwarding word per object). Mark from the roots; give every live
//! object the address it slides down to (one bit per live word, one count per 64 words: the
//! new address of a word is the count before its block plus the live bits below it in the
//! block); rewrite every reference; slide. Objects keep their order, so no scratch space the
//! size of the live data is needed (a copying collector's to-space would double the peak), and
//! the space shrinks to the live data. Private objects made to `become` another are not kept:
//! every reference to one is rewritten to its final target, as Spur's collector removes its
//! forwarders.
//!
//! **Host-held references.** A collection that frees or moves anything gives the image a new
//! incarnation (the owner of its private references), and rewrites every reference it knows
//! of to it. A reference nobody passed as a root keeps the old owner, so it can never name the
//! object that now sits at its old index: this image refuses it with
//! [`Error::StaleReference`] (it remembers its last [`RETIRED`] incarnations, held so that no
//! other image can take them meanwhile) and, once older than that, with
//! [`Error::ForeignReference`], never with another object.
//!
//! **Weak fields.** A [`WeakRule`] names the language's weak objects (Smalltalk format 4:
//! fixed fields, then weak indexable ones); a weak field whose private object died becomes
//! the heap's filler (nil). Base objects never die.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Image;
use crate::kernel::owners::{acquire_incarnation, release_incarnation};
use crate::object::{Format, Header, Loc, FORWARDED, HEADER_WORDS};
use crate::{Error, Result, Value};

/// How many of its past incarnations an image holds, so that a reference from one of its
/// last collections is refused as stale rather than foreign.
pub const RETIRED: usize = 16;

/// The least private space (in words) at which [`Image::wants_collection`] says yes: 1 MiB.
pub(crate) const MIN_THRESHOLD: usize = 1 << 17;

/// A language's weak objects: those whose language format code is `language_format` hold
/// their first fields strongly and the rest weakly. How many are strong is the class's
/// business: field `class_field` of the object's class holds a SmallInteger, and
/// `fixed_fields` decodes it (a Squeak class's format word: instance size, bits 1-6 and
/// 16-17). A class whose field does not decode leaves its instances strong.
#[derive(Clone, Copy, Debug)]
pub struct WeakRule {
    /// The language format code of weak objects (Squeak V3: 4).
    pub language_format: u8,
    /// The class field that says how many fields are strong.
    pub class_field: usize,
    /// Decodes that field's SmallInteger into the count of strong fields.
    pub fixed_fields: fn(i64) -> Option<usize>,
}

/// Where a caller keeps its roots: called with a visitor, it hands every root it holds to it
/// (by `&mut`, so the collector can update it).
pub type Roots<'a> = dyn FnMut(&mut dyn FnMut(&mut Value)) + 'a;

/// What one collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Collection {
    /// Bytes of the private space before.
    pub before_bytes: u64,
    /// Bytes of the private space after: its live data.
    pub live_bytes: u64,
    /// Live objects kept.
    pub live_objects: u64,
    /// Weak fields cleared because their object died.
    pub weak_cleared: u64,
    /// How long the image was stopped.
    pub pause: Duration,
}

impl Collection {
    /// Bytes given back.
    pub fn freed_bytes(&self) -> u64 {
        self.before_bytes - self.live_bytes
    }
}

/// An image's collector state: private to its thread, like everything of the image's.
#[derive(Debug)]
pub(crate) struct Collector {
    /// Past incarnations, oldest first, held until they fall off the end.
    retired: VecDeque<u32>,
    weak: Option<WeakRule>,
    /// Private words at which [`Image::wants_collection`] says yes.
    threshold: usize,
    /// The longest pause so far.
    longest: Duration,
    /// The largest the space was when a collection started (it only grows between them).
    peak: usize,
    /// Words at which [`Image::wants_collection`] says yes however little the last
    /// collection kept: a VM's cap, so that it collects before it stops.
    ceiling: usize,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            retired: VecDeque::new(),
            weak: None,
            threshold: MIN_THRESHOLD,
            longest: Duration::ZERO,
            peak: 0,
            ceiling: usize::MAX,
        }
    }
}

impl Collector {
    pub(crate) fn is_retired(&self, owner: u32) -> bool {
        self.retired.contains(&owner)
    }

    /// Gives every held incarnation back (the image is ending).
    pub(crate) fn release_all(&mut self) {
        for n in self.retired.drain(..) {
            release_incarnation(n);
        }
    }
}

/// Bit sets over the words of the space (the plain heap's collector uses them too).
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn new(words: usize) -> Bits {
        Bits(vec![0; words.div_ceil(64)])
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 != 0
    }
    #[inline]
    pub(crate) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    /// Sets bits `from..to`, a word at a time.
    pub(crate) fn set_range(&mut self, from: usize, to: usize) {
        let mut i = from;
        while i < to {
            let bit = i % 64;
            let n = (64 - bit).min(to - i);
            let ones = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            self.0[i / 64] |= ones;
            i += n;
        }
    }

    /// The set bits, in order: a word at a time, so a sparse set costs its words, not its
    /// bits.
    pub(crate) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut rest = bits;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + i
                })
            })
        })
    }
}

/// New word addresses, from the live-word bitmap.
pub(crate) struct Relocation {
    live: Bits,
    /// Live words before each block of 64.
    base: Vec<usize>,
}

impl Relocation {
    pub(crate) fn new(live: Bits) -> Relocation {
        let mut base = Vec::with_capacity(live.0.len());
        let mut total = 0;
        for &w in &live.0 {
            base.push(total);
            total += w.count_ones() as usize;
        }
        Relocation { live, base }
    }

    #[inline]
    pub(crate) fn of(&self, at: usize) -> usize {
        let below = self.live.0[at / 64] & ((1u64 << (at % 64)) - 1);
        self.base[at / 64] + below.count_ones() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.base.last().copied().unwrap_or(0)
            + self.live.0.last().map_or(0, |w| w.count_ones() as usize)
    }
}

impl Image {
    /// The weak objects of this image's language (see [`WeakRule`]); `None`, the default,
    /// holds every field strongly.
    pub fn set_weak_rule(&mut self, rule: Option<WeakRule>) {
        self.collector.weak = rule;
    }

    /// True once the private space has grown to twice what the last collection kept (and at
    /// least 1 MiB): when a VM, at its next safe point, should call
    /// [`collect_with`](Self::collect_with). Never collects by itself: only the caller knows
    /// its roots.
    #[inline]
    pub fn wants_collection(&self) -> bool {
        self.space.len() >= self.collector.threshold
    }

    /// The longest pause of this image's collections so far.
    pub fn longest_pause(&self) -> Duration {
        self.collector.longest
    }

    /// The most bytes the private space has held.
    pub fn peak_private_bytes(&self) -> usize {
        self.collector.peak.max(self.space.len()) * 8
    }

    /// Makes [`wants_collection`](Self::wants_collection) say yes by the time the space holds
    /// `bytes`, however little the last collection kept (once the live data itself nears it,
    /// each time the space grows by a quarter): a VM with a memory cap sets half its cap, so
    /// that it collects before it stops an image for garbage.
    pub fn set_collection_ceiling(&mut self, bytes: usize) {
        self.collector.ceiling = bytes / 8;
        let live = self.space.len();
        self.collector.threshold = self.collector.threshold.min(self.next_threshold(live));
    }

    /// When to collect next, after a collection that kept `live` words.
    fn next_threshold(&self, live: usize) -> usize {
        (2 * live)
            .max(MIN_THRESHOLD)
            .min(self.collector.ceiling.max(live + live / 4 + 1))
    }

    /// Collects this image's private space, keeping what its resolutions, its root overrides
    /// ([`set_root`](Self::set_root)) and `roots` reach; each of `roots` is updated in place to
    /// its object's new reference. Every other reference to a private object that the caller
    /// holds is refused from now on with [`Error::StaleReference`] (see the module docs), so
    /// pass as roots what you keep. No other image waits.
    pub fn collect(&mut self, roots: &mut [Value]) -> Result<Collection> {
        self.collect_with(&mut |each| roots.iter_mut().for_each(&mut *each))
    }

    /// [`collect`](Self::collect), with roots wherever the caller keeps them: `roots` is
    /// called once to find them and, if the collection frees anything, once more to update
    /// them (a VM walks its frames and caches). It should hand over the same values both
    /// times; a reference handed over only the second time is not kept alive, and is left
    /// stale rather than pointed at another object.
    pub fn collect_with(&mut self, roots: &mut Roots<'_>) -> Result<Collection> {
        let start = Instant::now();
        let before = self.space.len();
        let old = self.incarnation;
        // Objects may move or die (and weak fields change): no token made before holds.
        self.layout_epoch = crate::vm::new_epoch();

        // Mark: live (unforwarded) object starts, and the weak objects met.
        let mut marks = Bits::new(before);
        let mut grey: Vec<usize> = Vec::new();
        let mut weak: Vec<(usize, usize)> = Vec::new();
        for (_, loc) in self.resolutions.iter() {
            self.shade_loc(loc, &mut marks, &mut grey);
        }
        for i in 0..self.root_overrides.len() {
            let v = self.root_overrides[i].1;
            self.shade(v, &mut marks, &mut grey);
        }
        roots(&mut |v| self.shade(*v, &mut marks, &mut grey));
        while let Some(at) = grey.pop() {
            let header = Header(self.space.words[at]);
            self.shade(
                Value::from_bits(self.space.words[at + 1]),
                &mut marks,
                &mut grey,
            );
            let (first, mut end) = self.reference_fields(at, header);
            if let Some(strong) = self.strong_end(at, header, end) {
                weak.push((at, strong));
                end = strong;
            }
            for i in first..end {
                self.shade(
                    Value::from_bits(self.space.words[at + HEADER_WORDS + i]),
                    &mut marks,
                    &mut grey,
                );
            }
        }

        // New addresses.
        let mut live = Bits::new(before);
        let mut live_objects = 0u64;
        for at in marks.ones() {
            let size = HEADER_WORDS + Header(self.space.words[at]).body_words();
            live.set_range(at, at + size);
            live_objects += 1;
        }
        let relocation = Relocation::new(live);
        let after = relocation.len();
        if after == before {
            return Ok(self.finish(start, before, after, live_objects, 0));
        }
        let new = acquire_incarnation().ok_or(Error::IncarnationsExhausted)?;

        // Weak fields whose private object died become the filler.
        let filler = self.heap.filler().to_bits();
        let mut weak_cleared = 0;
        for &(at, from) in &weak {
            let end = Header(self.space.words[at]).body_words();
            for i in from..end {
                let w = at + HEADER_WORDS + i;
                if let Some(Loc::Private(p)) = self.private_target(self.space.words[w]) {
                    if !marks.get(p) {
                        self.space.words[w] = filler;
                        weak_cleared += 1;
                    }
                }
            }
        }

        // Rewrite every reference to its object's new address under the new incarnation.
        // A reference to an object that was not marked (a root handed over only now, or a
        // weak field already cleared) is left as it is: under the new incarnation it is stale,
        // never a reference to whatever slides into its place.
        let relocate = |image: &Image, bits: u64| -> u64 {
            match image.private_target(bits) {
                Some(Loc::Private(p)) if marks.get(p) => {
                    Value::object(new, relocation.of(p) as u64).to_bits()
                }
                Some(Loc::Base(b)) => image.heap.reference(b).to_bits(),
                _ => bits,
            }
        };
        for at in marks.ones() {
            let header = Header(self.space.words[at]);
            self.space.words[at + 1] = relocate(self, self.space.words[at + 1]);
            let (first, end) = self.reference_fields(at, header);
            for i in first..end {
                let w = at + HEADER_WORDS + i;
                self.space.words[w] = relocate(self, self.space.words[w]);
            }
        }
        let targets: Vec<(usize, Loc)> = self
            .resolutions
            .iter()
            .map(|(at, loc)| (at, self.final_loc(loc)))
            .collect();
        self.resolutions
            .retarget(targets.into_iter().map(|(at, loc)| {
                (
                    at,
                    match loc {
                        Loc::Private(p) => Loc::Private(relocation.of(p)),
                        base => base,
                    },
                )
            }));
        for i in 0..self.root_overrides.len() {
            let bits = relocate(self, self.root_overrides[i].1.to_bits());
            self.root_overrides[i].1 = Value::from_bits(bits);
        }
        roots(&mut |v| *v = Value::from_bits(relocate(self, v.to_bits())));

        // Slide, then shrink.
        let starts: Vec<usize> = marks.ones().collect();
        for &at in &starts {
            let size = HEADER_WORDS + Header(self.space.words[at]).body_words();
            self.space
                .words
                .copy_within(at..at + size, relocation.of(at));
        }
        self.space
            .compacted(after, starts.iter().map(|&at| relocation.of(at)));

        self.incarnation = new;
        self.own_tag = crate::value::OwnerTag::of(new);
        self.private_becomes = false;
        self.collector.retired.push_back(old);
        if self.collector.retired.len() > RETIRED {
            if let Some(n) = self.collector.retired.pop_front() {
                release_incarnation(n);
            }
        }
        self.heap.inner.live.reincarnate(self.id, new);
        Ok(self.finish(start, before, after, live_objects, weak_cleared))
    }

    fn finish(
        &mut self,
        start: Instant,
        before: usize,
        after: usize,
        live_objects: u64,
        weak_cleared: u64,
    ) -> Collection {
        self.collector.threshold = self.next_threshold(after);
        self.collector.peak = self.collector.peak.max(before);
        let pause = start.elapsed();
        self.collector.longest = self.collector.longest.max(pause);
        let counters = self.counters();
        counters.collections.bump();
        counters.collected_bytes.add(((before - after) * 8) as u64);
        counters.private_bytes.set((after * 8) as u64);
        Collection {
            before_bytes: (before * 8) as u64,
            live_bytes: (after * 8) as u64,
            live_objects,
            weak_cleared,
            pause,
        }
    }

    /// The body indexes `first..end` of the object at `at` that hold references.
    fn reference_fields(&self, at: usize, header: Header) -> (usize, usize) {
        match header.format() {
            Format::Pointers => (0, header.body_words()),
            Format::Method => (
                1,
                1 + self
                    .space
                    .literals(at)
                    .min(header.body_words().saturating_sub(1)),
            ),
            Format::Words | Format::Bytes => (0, 0),
        }
    }

    /// Where the strong fields of the object at `at` end: before its weak ones, if the
    /// language's [`WeakRule`] makes it a weak object (found once, while marking).
    fn strong_end(&self, at: usize, header: Header, end: usize) -> Option<usize> {
        let rule = self.collector.weak?;
        (header.format() == Format::Pointers && header.smalltalk_format() == rule.language_format)
            .then(|| self.strong_fields(at, rule))?
            .map(|n| n.min(end))
    }

    /// How many fields of the weak object at `at` are strong, by its class.
    fn strong_fields(&self, at: usize, rule: WeakRule) -> Option<usize> {
        let class = Value::from_bits(self.space.words[at + 1]);
        let word = match self.final_loc(self.locate(class).ok()?) {
            Loc::Base(b) => {
                let header = self.heap.arena().object_header(b)?;
                (rule.class_field < header.body_words())
                    .then(|| self.heap.body_word(b, rule.class_field))?
            }
            Loc::Private(p) => {
                let header = Header(self.space.words[p]);
                (header.format() == Format::Pointers && rule.class_field < header.body_words())
                    .then(|| self.space.words[p + HEADER_WORDS + rule.class_field])?
            }
        };
        (rule.fixed_fields)(Value::from_bits(word).as_small_int()?)
    }

    /// Where a stored word leads, if it is a reference to one of this image's private
    /// objects (followed through `become`s): `None` for immediates and base references.
    #[inline]
    fn private_target(&self, bits: u64) -> Option<Loc> {
        let v = Value::from_bits(bits);
        (v.has_tag(self.own_tag) && self.space.is_start(v.index()))
            .then(|| self.final_loc(Loc::Private(v.index())))
    }

    /// Follows private objects made to `become` another; stops at a live private object or
    /// at a base object (whose own target, if any, the resolutions keep).
    fn final_loc(&self, mut loc: Loc) -> Loc {
        while let Loc::Private(p) = loc {
            let word = self.space.words[p];
            if word & FORWARDED == 0 {
                break;
            }
            loc = Loc::decode(word >> 1);
        }
        loc
    }

    fn shade(&self, v: Value, marks: &mut Bits, grey: &mut Vec<usize>) {
        if let Some(loc) = self.private_target(v.to_bits()) {
            self.shade_loc(loc, marks, grey);
        }
    }

    fn shade_loc(&self, loc: Loc, marks: &mut Bits, grey: &mut Vec<usize>) {
        if let Loc::Private(p) = self.final_loc(loc) {
            if !marks.get(p) {
                marks.set(p);
                grey.push(p);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Format, Kernel};

    /// An image that collects forever holds at most `RETIRED` past incarnations besides its
    /// own, so a long-lived image never drains the process's incarnations.
    #[test]
    fn past_incarnations_are_held_up_to_their_bound_and_then_given_back() {
        let (heap, kernel) = Kernel::minimal_base().unwrap();
        let mut image = heap.new_image().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 * super::RETIRED {
            image.allocate(kernel.array, Format::Pointers, 1).unwrap();
            image.collect(&mut []).unwrap();
            assert!(
                seen.insert(image.incarnation()),
                "a held incarnation came back"
            );
            assert!(image.collector.retired.len() <= super::RETIRED);
        }
        assert_eq!(image.collector.retired.len(), super::RETIRED);
        assert!(!image.collector.is_retired(image.incarnation()));
    }
}
