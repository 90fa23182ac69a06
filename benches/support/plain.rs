//! A plain immutable heap with cowheap's exact layout and bounds checks, and no copy-on-write
//! support at all: the baseline of the read-barrier bench, and the storage of the deep-clone
//! alternative.

use cowheap::{BaseHeap, Value};

/// Low 3 bits of a reference are 000 (cowheap's Spur-like tagging).
pub const TAG_MASK: u64 = 7;
/// The word index of a reference sits in bits 3..35.
pub const INDEX_MASK: u64 = (1 << 32) - 1;

/// Why a plain read failed (the same cases cowheap answers with typed errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    NotAnObject,
    WrongFormat,
    OutOfRange,
}

/// The word index of a reference's header.
#[inline(always)]
pub fn index_of(bits: u64) -> usize {
    ((bits >> 3) & INDEX_MASK) as usize
}

/// The offset, from the object's header word, of slot `k` of an object whose header word is
/// `header`; `literals` gives a method's literal count. The same checks as cowheap's
/// `slot_offset`: pointers and methods only, and `k` below the slot count.
#[inline(always)]
pub fn slot_offset(header: u64, k: usize, literals: impl FnOnce() -> u64) -> Result<usize, Miss> {
    let (first, len) = match (header >> 1) & 3 {
        0 => (0, (header >> 32) as usize),
        3 => (1, literals() as usize),
        _ => return Err(Miss::WrongFormat),
    };
    if k < len {
        Ok(2 + first + k)
    } else {
        Err(Miss::OutOfRange)
    }
}

/// Words an object occupies, from its header word.
#[inline(always)]
pub fn total_words(header: u64) -> usize {
    2 + (header >> 32) as usize
}

/// A sealed base's arena as plain `u64`s.
#[derive(Clone)]
pub struct PlainHeap {
    pub words: Vec<u64>,
}

impl PlainHeap {
    pub fn from_base(heap: &BaseHeap) -> PlainHeap {
        PlainHeap {
            words: cowheap::bench_api::arena_words(heap),
        }
    }

    /// Reads slot `k` of the object `obj` (reference bits): a bounds-checked header load,
    /// the format and size check, a bounds-checked body load. No barrier.
    #[inline(always)]
    pub fn read(&self, obj: u64, k: usize) -> Result<u64, Miss> {
        if obj & TAG_MASK != 0 {
            return Err(Miss::NotAnObject);
        }
        let at = index_of(obj);
        let header = self.words[at];
        let off = slot_offset(header, k, || self.words[at + 2])?;
        Ok(self.words[at + off])
    }

    /// Stores into slot `k` of the object at arena index `at`.
    #[inline(always)]
    pub fn write(&mut self, at: usize, k: usize, v: u64) -> Result<(), Miss> {
        let header = self.words[at];
        let off = slot_offset(header, k, || self.words[at + 2])?;
        self.words[at + off] = v;
        Ok(())
    }

    /// The words of the object at arena index `at`.
    pub fn object(&self, at: usize) -> &[u64] {
        &self.words[at..at + total_words(self.words[at])]
    }
}

/// Something a pointer chase can walk: read slot `k` of `r` and answer the reference found
/// there, or `None` if the read failed or found an immediate.
pub trait Walk {
    type Ref: Copy;
    fn step(&mut self, r: Self::Ref, k: usize) -> Option<Self::Ref>;
}

/// The pointer chase: `steps` reads, each of slot 0..4 (chosen by a fixed stream) of the
/// current object; a reference read becomes the current object, anything else restarts the
/// walk at the next of `starts`. Every design makes the same choices, so it answers the same
/// number of restarts, which the benches assert.
#[inline(always)]
pub fn chase<W: Walk>(w: &mut W, starts: &[W::Ref], steps: usize, seed: u64) -> usize {
    let mut x = seed | 1;
    let mut cur = starts[0];
    let mut next_start = 1;
    let mut restarts = 0;
    for _ in 0..steps {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let k = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 62) as usize;
        match w.step(cur, k) {
            Some(next) => cur = next,
            None => {
                restarts += 1;
                cur = starts[next_start];
                next_start += 1;
                if next_start == starts.len() {
                    next_start = 0;
                }
            }
        }
    }
    restarts
}

impl Walk for PlainHeap {
    type Ref = u64;
    #[inline(always)]
    fn step(&mut self, r: u64, k: usize) -> Option<u64> {
        match self.read(r, k) {
            Ok(v) if v & TAG_MASK == 0 => Some(v),
            _ => None,
        }
    }
}

/// cowheap's image as a walker: `Image::read`, the public read path.
pub struct ImageWalk<'a>(pub &'a mut cowheap::Image);

impl Walk for ImageWalk<'_> {
    type Ref = Value;
    #[inline(always)]
    fn step(&mut self, r: Value, k: usize) -> Option<Value> {
        match self.0.read(r, k) {
            Ok(v) if v.is_object() => Some(v),
            _ => None,
        }
    }
}
