//! What every image of one base would find alone, kept once for all of them: the methods a
//! lookup finds through base objects only, and the decodings of base methods.
//!
//! Each image keeps its own method cache (`Rc`s, read on every send without atomics), and a
//! new image starts with it empty; so does an image whose caches were released while it was
//! idle (a server drops them after a second). Its first requests used to look everything up
//! and decode every method again, about 670,000 instructions for a `3 + 4`, the same work in
//! every image. This table makes that work once per host: a miss in an image's cache asks
//! here first, and what an image finds by itself through base objects alone is offered here.
//!
//! An entry is true for an image exactly while that image has written none of the objects it
//! was found through (a write copies a base object, and the image then reads its copy, which
//! may say something else): the classes up the chain, their method dictionaries, the method
//! array and the method, and for a decoding the method's literals. So an image takes an entry
//! only after checking each of those is still the base's in it ([`Heap::canonical`] answers
//! the reference itself), and then watches them as its own lookup would have, so that a later
//! write by the image drops what it took. An entry is offered only if it was found through
//! base references alone (reads answer an image's copy by its own, private reference), so it
//! says what the base says.
//!
//! The maps sit behind `RwLock`s, read on an image's misses only (a warm image never comes
//! here) and written once per entry, and no image ever waits for them: one that finds a map
//! locked by another image's offer goes on as if the entry were not there (it looks up by
//! itself, or offers nothing). They stop growing at [`MOST`] entries each, since an image's
//! own code chooses what it looks up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use crate::interp::heap::Heap;
use crate::interp::limits::RunError;
use crate::interp::lookup::BitsBuild;
use crate::interp::method::Method;
use cowheap::Value;

/// The most entries each map holds: far more than the methods a real image's requests use
/// (a mini image has about 9,000 methods), and about 10 MB of decodings at most.
pub(crate) const MOST: usize = 1 << 16;

/// A lookup found through base objects alone: the objects it read, the method last.
pub(crate) struct Found {
    pub(crate) through: Box<[Value]>,
    pub(crate) method: Value,
}

/// The table of one base, shared by the interpreters of all its images.
pub(crate) struct BaseTable {
    most: usize,
    lookups: RwLock<HashMap<(u64, u64), Arc<Found>, BitsBuild>>,
    methods: RwLock<HashMap<u64, Arc<Method>, BitsBuild>>,
}

impl Default for BaseTable {
    fn default() -> BaseTable {
        BaseTable::with_most(MOST)
    }
}

/// `lock` read, unless another image is writing it. A poisoned map is still whole: every
/// write is one `insert`.
fn try_read<T>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
    match lock.try_read() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// `lock` for writing, unless another image holds it.
fn try_write<T>(lock: &RwLock<T>) -> Option<RwLockWriteGuard<'_, T>> {
    match lock.try_write() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl BaseTable {
    pub(crate) fn with_most(most: usize) -> BaseTable {
        BaseTable {
            most,
            lookups: RwLock::default(),
            methods: RwLock::default(),
        }
    }

    /// The lookup of `selector` in `class` found through base objects, if one was offered.
    pub(crate) fn lookup(&self, class: Value, selector: Value) -> Option<Arc<Found>> {
        let key = (class.to_bits(), selector.to_bits());
        try_read(&self.lookups)?.get(&key).cloned()
    }

    /// Offers what an image found for `selector` in `class` through the base objects
    /// `through` alone, `method` last (the caller checked they are base references).
    pub(crate) fn offer_lookup(&self, class: Value, selector: Value, through: &[Value]) {
        let (Some(&method), Some(mut map)) = (through.last(), try_write(&self.lookups)) else {
            return;
        };
        if map.len() < self.most {
            let key = (class.to_bits(), selector.to_bits());
            map.entry(key).or_insert_with(|| {
                Arc::new(Found {
                    through: through.into(),
                    method,
                })
            });
        }
    }

    /// The decoding of the base method `oop`, if one was offered.
    pub(crate) fn method(&self, oop: Value) -> Option<Arc<Method>> {
        try_read(&self.methods)?.get(&oop.to_bits()).cloned()
    }

    /// Offers a decoding whose method and literals are base references ([`Method::lasts`]).
    pub(crate) fn offer_method(&self, m: &Method) {
        if let Some(mut map) = try_write(&self.methods) {
            if map.len() < self.most {
                map.entry(m.oop.to_bits())
                    .or_insert_with(|| Arc::new(m.clone()));
            }
        }
    }

    /// Entries held: lookups, decodings.
    #[cfg(all(test, not(feature = "plain-heap")))]
    pub(crate) fn len(&self) -> (usize, usize) {
        let lookups = try_read(&self.lookups).map_or(0, |m| m.len());
        let methods = try_read(&self.methods).map_or(0, |m| m.len());
        (lookups, methods)
    }

    /// Holds the lookups' map for writing, as another image's offer would.
    #[cfg(all(test, not(feature = "plain-heap")))]
    pub(crate) fn hold_lookups(
        &self,
    ) -> RwLockWriteGuard<'_, HashMap<(u64, u64), Arc<Found>, BitsBuild>> {
        try_write(&self.lookups).expect("the lookups' map is free")
    }
}

/// True if `image` has written none of `objects` (each still the base's in it).
pub(crate) fn untouched(image: &Heap, objects: &[Value]) -> Result<bool, RunError> {
    for &v in objects {
        if v.is_object() && image.canonical(v)? != v {
            return Ok(false);
        }
    }
    Ok(true)
}
