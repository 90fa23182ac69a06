//! The plain heap's collector: an image's sliding mark-compact (see `image/collect.rs`) over
//! the new objects, with the copied base objects as its old space. They are never moved or
//! freed, as base objects never are for an image, so a VM's tables of base references stay
//! true; and since any of them may have been written, every one is scanned for references to
//! new objects at each collection (an image scans only the base objects it copied: a plain
//! heap has no record of which it wrote, and keeps none, as it keeps no write barrier).

use crate::value::OwnerTag;
use std::time::Instant;

use super::PlainHeap;
use crate::image::{Bits, Collection, Relocation, Roots, WeakRule, RETIRED};
use crate::kernel::owners::{acquire_incarnation, release_incarnation};
use crate::object::{Format, Header, FORWARDED, HEADER_WORDS};
use crate::{Error, Result, Value};

impl PlainHeap {
    /// As [`Image::set_weak_rule`](crate::Image::set_weak_rule).
    pub fn set_weak_rule(&mut self, rule: Option<WeakRule>) {
        self.weak = rule;
    }

    /// As [`Image::wants_collection`](crate::Image::wants_collection), counting the new
    /// objects' words.
    #[inline]
    pub fn wants_collection(&self) -> bool {
        self.space.len() - self.loaded >= self.threshold
    }

    /// As [`Image::longest_pause`](crate::Image::longest_pause).
    pub fn longest_pause(&self) -> std::time::Duration {
        self.longest
    }

    /// As [`Image::peak_private_bytes`](crate::Image::peak_private_bytes).
    pub fn peak_private_bytes(&self) -> usize {
        self.peak.max(self.space.len() - self.loaded) * 8
    }

    /// As [`Image::set_collection_ceiling`](crate::Image::set_collection_ceiling).
    pub fn set_collection_ceiling(&mut self, bytes: usize) {
        self.ceiling = bytes / 8;
        let live = self.space.len() - self.loaded;
        self.threshold = self.threshold.min(self.next_threshold(live));
    }

    fn next_threshold(&self, live: usize) -> usize {
        (2 * live)
            .max(crate::image::MIN_THRESHOLD)
            .min(self.ceiling.max(live + live / 4 + 1))
    }

    /// As [`Image::collect_with`](crate::Image::collect_with): keeps what the copied base
    /// objects, the roots ([`set_root`](Self::set_root)) and `roots` reach.
    pub fn collect_with(&mut self, roots: &mut Roots<'_>) -> Result<Collection> {
        let start = Instant::now();
        let before = self.space.len();
        let old = self.incarnation;
        // Objects may move or die: no token made before holds.
        self.layout_epoch = crate::vm::new_epoch();

        // Mark the new objects reachable from the old space, the roots and the caller's.
        let mut marks = Bits::new(before);
        let mut grey: Vec<usize> = Vec::new();
        let mut weak: Vec<(usize, usize)> = Vec::new();
        for i in 0..self.loaded_starts.len() {
            let at = self.loaded_starts[i] as usize;
            let word = self.space.words[at];
            if word & FORWARDED != 0 {
                self.shade_at((word >> 1) as usize, &mut marks, &mut grey);
            } else {
                self.scan(at, &mut marks, &mut grey, &mut weak);
            }
        }
        for i in 0..self.roots.len() {
            let v = self.roots[i].1;
            self.shade(v, &mut marks, &mut grey);
        }
        roots(&mut |v| self.shade(*v, &mut marks, &mut grey));
        while let Some(at) = grey.pop() {
            self.scan(at, &mut marks, &mut grey, &mut weak);
        }

        // New addresses: the old space stays where it is.
        let mut live = Bits::new(before);
        live.set_range(0, self.loaded);
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

        let filler = self.filler.to_bits();
        let mut weak_cleared = 0;
        for &(at, from) in &weak {
            let end = Header(self.space.words[at]).body_words();
            for i in from..end {
                let w = at + HEADER_WORDS + i;
                if let Some(p) = self.new_target(self.space.words[w]) {
                    if p >= self.loaded && !marks.get(p) {
                        self.space.words[w] = filler;
                        weak_cleared += 1;
                    }
                }
            }
        }

        // Rewrite every reference: to a new object, at its new address under the new
        // incarnation; to a forwarded object, straight to its target. One to an unmarked new
        // object is left stale.
        let loaded = self.loaded;
        let base_owner = self.base_owner;
        let relocate = |heap: &PlainHeap, bits: u64| -> u64 {
            match heap.new_target(bits) {
                Some(p) if p < loaded => Value::object(base_owner, p as u64).to_bits(),
                Some(p) if marks.get(p) => Value::object(new, relocation.of(p) as u64).to_bits(),
                _ => bits,
            }
        };
        let starts: Vec<usize> = self
            .loaded_starts
            .iter()
            .map(|&s| s as usize)
            .filter(|&at| self.space.words[at] & FORWARDED == 0)
            .chain(marks.ones())
            .collect();
        for &at in &starts {
            let header = Header(self.space.words[at]);
            self.space.words[at + 1] = relocate(self, self.space.words[at + 1]);
            let (first, end) = self.reference_fields(at, header);
            for i in first..end {
                let w = at + HEADER_WORDS + i;
                self.space.words[w] = relocate(self, self.space.words[w]);
            }
        }
        for i in 0..self.loaded_starts.len() {
            let at = self.loaded_starts[i] as usize;
            let word = self.space.words[at];
            if word & FORWARDED != 0 {
                let target = self.final_at((word >> 1) as usize);
                let moved = if target < loaded {
                    target
                } else {
                    relocation.of(target)
                };
                self.space.words[at] = ((moved as u64) << 1) | FORWARDED;
            }
        }
        for i in 0..self.roots.len() {
            let bits = relocate(self, self.roots[i].1.to_bits());
            self.roots[i].1 = Value::from_bits(bits);
        }
        roots(&mut |v| *v = Value::from_bits(relocate(self, v.to_bits())));

        // Slide the new objects down, then shrink.
        for at in marks.ones() {
            let size = HEADER_WORDS + Header(self.space.words[at]).body_words();
            self.space
                .words
                .copy_within(at..at + size, relocation.of(at));
        }
        let loaded_starts = self.loaded_starts.iter().map(|&s| s as usize);
        let moved: Vec<usize> = marks.ones().map(|at| relocation.of(at)).collect();
        self.space.compacted(after, loaded_starts.chain(moved));

        self.incarnation = new;
        self.own_tag = OwnerTag::of(new);
        // Forwarded base objects stay forwarded in place; every other forward is gone.
        self.becomes = self
            .loaded_starts
            .iter()
            .any(|&s| self.space.words[s as usize] & FORWARDED != 0);
        self.retired.push_back(old);
        if self.retired.len() > RETIRED {
            if let Some(n) = self.retired.pop_front() {
                release_incarnation(n);
            }
        }
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
        let (before, after) = (before - self.loaded, after - self.loaded);
        self.threshold = self.next_threshold(after);
        self.peak = self.peak.max(before);
        let pause = start.elapsed();
        self.longest = self.longest.max(pause);
        self.stats.collections += 1;
        self.stats.collected_bytes += ((before - after) * 8) as u64;
        Collection {
            before_bytes: (before * 8) as u64,
            live_bytes: (after * 8) as u64,
            live_objects,
            weak_cleared,
            pause,
        }
    }

    /// Shades what the object at `at` refers to (its class, its strong fields), and notes it
    /// if it is weak.
    fn scan(
        &self,
        at: usize,
        marks: &mut Bits,
        grey: &mut Vec<usize>,
        weak: &mut Vec<(usize, usize)>,
    ) {
        let header = Header(self.space.words[at]);
        self.shade(Value::from_bits(self.space.words[at + 1]), marks, grey);
        let (first, mut end) = self.reference_fields(at, header);
        if let Some(strong) = self.strong_end(at, header, end) {
            weak.push((at, strong));
            end = strong;
        }
        for i in first..end {
            self.shade(
                Value::from_bits(self.space.words[at + HEADER_WORDS + i]),
                marks,
                grey,
            );
        }
    }

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

    fn strong_end(&self, at: usize, header: Header, end: usize) -> Option<usize> {
        let rule = self.weak?;
        if header.format() != Format::Pointers || header.smalltalk_format() != rule.language_format
        {
            return None;
        }
        let class = self.new_target(self.space.words[at + 1])?;
        let class_header = Header(self.space.words[class]);
        let word = (class_header.format() == Format::Pointers
            && rule.class_field < class_header.body_words())
        .then(|| self.space.words[class + HEADER_WORDS + rule.class_field])?;
        (rule.fixed_fields)(Value::from_bits(word).as_small_int()?).map(|n| n.min(end))
    }

    /// The object a stored word leads to, after following `become`: `None` for immediates
    /// and for what names no object of this heap.
    #[inline]
    fn new_target(&self, bits: u64) -> Option<usize> {
        Some(self.final_at(self.start(Value::from_bits(bits))?))
    }

    fn final_at(&self, mut at: usize) -> usize {
        loop {
            let word = self.space.words[at];
            if word & FORWARDED == 0 {
                return at;
            }
            at = (word >> 1) as usize;
        }
    }

    fn shade(&self, v: Value, marks: &mut Bits, grey: &mut Vec<usize>) {
        if let Some(at) = self.new_target(v.to_bits()) {
            self.shade_at(at, marks, grey);
        }
    }

    /// Marks a new object (after following `become`) and queues it; old objects need no mark.
    fn shade_at(&self, at: usize, marks: &mut Bits, grey: &mut Vec<usize>) {
        let at = self.final_at(at);
        if at >= self.loaded && !marks.get(at) {
            marks.set(at);
            grey.push(at);
        }
    }
}
