//! Reading a delta: every check first, then the image.

#![forbid(unsafe_code)]

use std::io::Read;

use super::format::{self, decode_value, FileRef, Parsed, BASE_WORDS_AT, FORMAT_VERSION};
use super::walk::{forward_target, is_start, walk, FileObject};
use super::DeltaError;
use crate::image::Restored;
use crate::object::{Loc, HEADER_WORDS};
use crate::value::INDEX_MASK;
use crate::BaseHash;
use crate::{BaseHeap, Image, Value};

fn corrupt(offset: usize, reason: &'static str) -> DeltaError {
    DeltaError::Corrupt {
        offset: offset as u64,
        reason,
    }
}

/// What a delta file holds, from [`DeltaInfo::read`]: for a host's listing, or the `cowheap
/// inspect` command. Reading it checks the file's framing and its private space, but not its
/// references into the base (that needs the base: [`BaseHeap::resume_delta`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DeltaInfo {
    /// The format version.
    pub version: u32,
    /// The content hash of the base it was saved over.
    pub base_hash: BaseHash,
    /// That base's arena length, in 64-bit words.
    pub base_words: u64,
    /// Private objects: copies of base objects and allocations.
    pub objects: usize,
    /// Of those, objects forwarded by `become_forward`.
    pub forwarded_objects: usize,
    /// Private space, in bytes.
    pub private_bytes: u64,
    /// Base objects the image copied or made `become` another object.
    pub entries: usize,
    /// Of those, entries whose target is a base object (`become` onto a base object).
    pub base_targets: usize,
    /// Root overrides.
    pub root_overrides: usize,
    /// The whole file, in bytes.
    pub file_bytes: u64,
}

impl DeltaInfo {
    /// Reads and describes a delta, reading no further than its header allows (as
    /// [`BaseHeap::resume_delta`] does).
    pub fn read(input: impl Read) -> Result<DeltaInfo, DeltaError> {
        let bytes = format::read_bounded(input, None)?;
        Self::of(&bytes)
    }

    /// Describes a delta held in memory.
    pub fn of(bytes: &[u8]) -> Result<DeltaInfo, DeltaError> {
        let parsed = format::parse(bytes, None)?;
        let (objects, _) = walk(&parsed)?;
        let base_targets = (0..parsed.entry_count)
            .filter(|&i| parsed.entry(i).2 & 1 == 0)
            .count();
        Ok(DeltaInfo {
            version: FORMAT_VERSION,
            base_hash: parsed.base_hash,
            base_words: parsed.base_words,
            objects: objects.len(),
            forwarded_objects: parsed.extent_count,
            private_bytes: parsed.word_count as u64 * 8,
            entries: parsed.entry_count,
            base_targets,
            root_overrides: parsed.roots.len(),
            file_bytes: bytes.len() as u64,
        })
    }
}

/// A delta checked against its base: everything `resume` needs, and nothing left to refuse.
struct Checked<'a> {
    parsed: Parsed<'a>,
    objects: Vec<FileObject>,
    /// Every private word that holds a reference, and the reference, in space order: the
    /// resume rewrites these and copies the rest (decoding every value word a second time
    /// was a sixth of a 13 KB delta's resume: 185,000 instructions, now 154,000).
    refs: Vec<(usize, FileRef)>,
    /// (base word index, target), ascending.
    entries: Vec<(usize, Loc)>,
    roots: Vec<(String, FileValue)>,
}

#[derive(Clone, Copy)]
enum FileValue {
    Immediate(u64),
    Ref(FileRef),
}

fn for_base(heap: &BaseHeap) -> format::ForBase {
    format::ForBase {
        hash: heap.content_hash(),
        objects: heap.object_count() as u64,
    }
}

fn check<'a>(heap: &BaseHeap, bytes: &'a [u8]) -> Result<Checked<'a>, DeltaError> {
    // The header names the base: another base's delta is refused there.
    let parsed = format::parse(bytes, Some(for_base(heap)))?;
    let arena = heap.arena();
    if parsed.base_words != arena.len() as u64 {
        return Err(corrupt(
            BASE_WORDS_AT,
            "the base's length does not match its hash",
        ));
    }
    let (objects, starts) = walk(&parsed)?;
    let loc_ok = |loc: Loc| match loc {
        Loc::Base(j) => arena.is_start(j),
        Loc::Private(j) => is_start(&starts, j),
    };
    let value = |bits: u64, off: usize| -> Result<FileValue, DeltaError> {
        match decode_value(bits).map_err(|r| corrupt(off, r))? {
            None => Ok(FileValue::Immediate(bits)),
            Some(r) => {
                let ok = match r {
                    FileRef::Base(j) => arena.is_start(j),
                    FileRef::Private(j) => is_start(&starts, j),
                };
                if ok {
                    Ok(FileValue::Ref(r))
                } else {
                    Err(corrupt(off, "a reference that names no object"))
                }
            }
        }
    };
    let mut refs = Vec::with_capacity(parsed.word_count);
    for obj in &objects {
        match obj.header {
            None => {
                let word = parsed.word(obj.at);
                if !forward_target(word).is_some_and(loc_ok) {
                    return Err(corrupt(
                        parsed.word_at(obj.at),
                        "a forwarded object's target is no object",
                    ));
                }
            }
            Some(_) => {
                for i in obj.value_words(&parsed) {
                    match value(parsed.word(i), parsed.word_at(i))? {
                        FileValue::Ref(r) => refs.push((i, r)),
                        FileValue::Immediate(_) if i == obj.at + 1 => {
                            return Err(corrupt(parsed.word_at(i), "a class that is no object"));
                        }
                        FileValue::Immediate(_) => {}
                    }
                }
            }
        }
    }
    let mut entries = Vec::with_capacity(parsed.entry_count);
    for i in 0..parsed.entry_count {
        let (off, at, target) = parsed.entry(i);
        let at = usize::try_from(at)
            .ok()
            .filter(|&at| arena.is_start(at))
            .ok_or_else(|| corrupt(off, "an entry for no base object"))?;
        if entries.last().is_some_and(|&(prev, _)| prev >= at) {
            return Err(corrupt(off, "entries out of order"));
        }
        if target >> 1 > INDEX_MASK {
            return Err(corrupt(off, "an entry's target is out of range"));
        }
        let loc = Loc::decode(target);
        if !loc_ok(loc) || loc == Loc::Base(at) {
            return Err(corrupt(off, "an entry's target is no object"));
        }
        entries.push((at, loc));
    }
    let mut roots = Vec::with_capacity(parsed.roots.len());
    for (name, bits, off) in &parsed.roots {
        roots.push((name.clone(), value(*bits, *off)?));
    }
    check_acyclic(&parsed, &objects, &entries)?;
    Ok(Checked {
        parsed,
        objects,
        refs,
        entries,
        roots,
    })
}

/// Refuses forwarding cycles (entries and forwarded private objects that lead back to
/// themselves), which no image can make and on which every read would loop forever.
fn check_acyclic(
    parsed: &Parsed<'_>,
    objects: &[FileObject],
    entries: &[(usize, Loc)],
) -> Result<(), DeltaError> {
    let next = |loc: Loc| -> Option<Loc> {
        match loc {
            Loc::Base(at) => entries
                .binary_search_by_key(&at, |&(k, _)| k)
                .ok()
                .map(|i| entries[i].1),
            Loc::Private(p) => {
                let word = parsed.word(p);
                if word & crate::object::FORWARDED != 0 {
                    forward_target(word)
                } else {
                    None
                }
            }
        }
    };
    // Per entry, then per private object (both sorted by position): 0 unvisited, then in
    // progress, then done. A location that is neither ends its chain.
    const IN_PROGRESS: u8 = 1;
    const DONE: u8 = 2;
    let slot_of = |loc: Loc| -> Option<usize> {
        match loc {
            Loc::Base(at) => entries.binary_search_by_key(&at, |&(k, _)| k).ok(),
            Loc::Private(p) => objects
                .binary_search_by_key(&p, |o| o.at)
                .ok()
                .map(|i| entries.len() + i),
        }
    };
    debug_assert!(objects.windows(2).all(|w| w[0].at < w[1].at));
    debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
    let mut state = vec![0u8; entries.len() + objects.len()];
    let starts = entries
        .iter()
        .enumerate()
        .map(|(i, &(at, _))| (Loc::Base(at), parsed.entry(i).0))
        .chain(
            objects
                .iter()
                .filter(|o| o.header.is_none())
                .map(|o| (Loc::Private(o.at), parsed.word_at(o.at))),
        );
    let mut path = Vec::new();
    for (first, off) in starts {
        let mut cur = Some(first);
        while let Some(i) = cur.and_then(slot_of) {
            match state[i] {
                DONE => break,
                IN_PROGRESS => return Err(corrupt(off, "a forwarding cycle")),
                _ => {}
            }
            state[i] = IN_PROGRESS;
            path.push(i);
            cur = cur.and_then(next);
        }
        for i in path.drain(..) {
            state[i] = DONE;
        }
    }
    Ok(())
}

/// Resumes an image from a delta over `heap` ([`BaseHeap::resume_delta`]), reading no further
/// than the header's counts allow.
pub(crate) fn resume(heap: &BaseHeap, input: impl Read) -> Result<Image, DeltaError> {
    let bytes = format::read_bounded(input, Some(for_base(heap)))?;
    resume_bytes(heap, &bytes)
}

/// Resumes an image from a delta in memory ([`BaseHeap::resume_delta_bytes`]): every check
/// first, then the image.
pub(crate) fn resume_bytes(heap: &BaseHeap, bytes: &[u8]) -> Result<Image, DeltaError> {
    let Checked {
        parsed,
        objects,
        refs,
        entries,
        roots,
    } = check(heap, bytes)?;
    let image = Image::restored(heap, |base_owner, incarnation| {
        let live = |r: FileRef| match r {
            FileRef::Base(j) => Value::object(base_owner, j as u64),
            FileRef::Private(j) => Value::object(incarnation, j as u64),
        };
        let mut words = parsed.words();
        for &(i, r) in &refs {
            words[i] = live(r).to_bits();
        }
        debug_assert!(objects
            .iter()
            .all(|o| o.at + o.extent <= words.len() && o.extent >= HEADER_WORDS));
        let roots = roots
            .into_iter()
            .map(|(name, v)| {
                let v = match v {
                    FileValue::Immediate(bits) => Value::from_bits(bits),
                    FileValue::Ref(r) => live(r),
                };
                (name, v)
            })
            .collect();
        Restored {
            words,
            starts: objects.iter().map(|o| o.at),
            next_hash: parsed.next_hash,
            entries,
            roots,
        }
    })?;
    Ok(image)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::format::{checksum, HEADER_BYTES, TRAILER_BYTES};
    use crate::object::{Loc, FORWARDED};
    use crate::Kernel;

    /// A private object forwarded to itself (a `become` chain no image can make) is refused as
    /// a cycle, at the word that names it, never followed forever.
    #[test]
    fn a_forwarding_cycle_is_refused_with_its_offset() {
        let (heap, kernel) = Kernel::minimal_base().unwrap();
        let mut image = heap.new_image().unwrap();
        let one = image.new_pointers(kernel.array, &[]).unwrap();
        let two = image.new_pointers(kernel.array, &[]).unwrap();
        image.become_forward(one, two).unwrap();
        let mut bytes = image.delta_bytes().unwrap();
        let at = HEADER_BYTES + 8 * one.index();
        let word = |loc: Loc| (loc.encode() << 1) | FORWARDED;
        assert_eq!(
            bytes[at..at + 8],
            word(Loc::Private(two.index())).to_le_bytes(),
            "the saved header of `one` names `two`"
        );
        assert!(heap.resume_delta_bytes(&bytes).is_ok());
        bytes[at..at + 8].copy_from_slice(&word(Loc::Private(one.index())).to_le_bytes());
        let end = bytes.len() - TRAILER_BYTES;
        let sum = checksum(&bytes[..end]);
        bytes[end..].copy_from_slice(&sum.to_le_bytes());
        let refused = heap.resume_delta_bytes(&bytes).unwrap_err();
        assert!(refused.to_string().contains("cycle"), "{refused}");
        assert_eq!(refused.offset(), Some(at as u64), "{refused}");
    }
}
