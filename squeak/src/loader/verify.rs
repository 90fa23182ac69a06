//! Checking that a sealed heap's references all resolve, and walking it from its roots.
//!
//! The builder already refuses references into other heaps, and the loader relocates every
//! oop to an object start; this is the independent check, for tests, `inspect` and anyone
//! who builds a base by other means.

use rayon::prelude::*;

use cowheap::{BaseHeap, Format, Value};

/// What [`verify_references`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HeapCheck {
    /// Objects in the heap.
    pub objects: usize,
    /// Reference fields checked (slots, literals and class words).
    pub references: u64,
    /// Immediate fields seen.
    pub immediates: u64,
    /// Objects reachable from the roots, following slots, literals and classes.
    pub reachable: usize,
}

/// A reference that does not resolve.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("object {object:?} field {field:?} holds {value:?}, which is not an object of this heap")]
pub struct VerifyError {
    /// The object holding the reference.
    pub object: Value,
    /// The field: `None` for the class word, else the slot or literal index.
    pub field: Option<usize>,
    /// The reference.
    pub value: Value,
}

/// The references an object holds: its class, then its slots or literals.
fn fields_of(heap: &BaseHeap, obj: Value, mut each: impl FnMut(Option<usize>, Value)) {
    if let Ok(class) = heap.original_class(obj) {
        each(None, class);
    }
    let len = match heap.original_format(obj) {
        Ok(Format::Pointers) => heap.original_size(obj),
        Ok(Format::Method) => heap.original_literal_count(obj),
        _ => return,
    };
    for i in 0..len.unwrap_or(0) {
        if let Ok(v) = heap.original_field(obj, i) {
            each(Some(i), v);
        }
    }
}

/// Checks, in parallel, that every class word, slot and literal of every object is an
/// immediate or a reference to an object start of this heap; then counts the objects
/// reachable from the roots.
pub fn verify_references(heap: &BaseHeap) -> Result<HeapCheck, VerifyError> {
    let objects: Vec<Value> = heap.objects().collect();
    let ordinal = |v: Value| heap.ordinal(v).ok();
    let ok = |v: Value| ordinal(v).is_some();
    let (references, immediates) = objects
        .par_iter()
        .with_min_len(256)
        .map(|&obj| {
            let mut counts = (0u64, 0u64);
            let mut bad = None;
            fields_of(heap, obj, |field, value| {
                if !value.is_object() {
                    counts.1 += 1;
                } else if ok(value) {
                    counts.0 += 1;
                } else if bad.is_none() {
                    bad = Some(VerifyError {
                        object: obj,
                        field,
                        value,
                    });
                }
            });
            bad.map_or(Ok(counts), Err)
        })
        .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))?;

    // Reachability: a depth-first walk over object ordinals.
    let mut seen = vec![false; objects.len()];
    let mut stack: Vec<usize> = heap
        .roots()
        .iter()
        .filter(|(_, v)| v.is_object())
        .filter_map(|&(_, v)| ordinal(v))
        .collect();
    let mut reachable = 0;
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        reachable += 1;
        fields_of(heap, objects[n], |_, v| {
            if v.is_object() {
                if let Some(m) = ordinal(v) {
                    if !seen[m] {
                        stack.push(m);
                    }
                }
            }
        });
    }
    Ok(HeapCheck {
        objects: objects.len(),
        references,
        immediates,
        reachable,
    })
}
