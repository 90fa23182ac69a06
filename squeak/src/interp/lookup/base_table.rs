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
//! The maps sit behind `RwLock`s: they are read on an image's misses only (a warm image never
//! comes here), and written once per entry. They stop growing at [`MOST`] entries each, since
//! an image's own code chooses what it looks up.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, PoisonError, RwLock};

use crate::interp::heap::Heap;
use crate::interp::limits::RunError;
use crate::interp::lookup::BitsBuild;
use crate::interp::method::Method;
use cowheap::Value;

/// The most entries each map holds: far more than the methods a real image's requests use
/// (a mini image has about 9,000 methods), and about 10 MB of decodings at most.
pub(crate) const MOST: usize = 1 << 16;

/// A lookup found through base objects alone: the objects it read, and the method.
pub(crate) struct Found {
    pub(crate) through: Box<[Value]>,
    pub(crate) method: Arc<Method>,
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
        let map = self.lookups.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&key).cloned()
    }

    /// Offers what an image found for `selector` in `class` through the base objects
    /// `through` alone (the caller checked they are base references, as `method` is).
    pub(crate) fn offer_lookup(
        &self,
        class: Value,
        selector: Value,
        through: &[Value],
        method: Arc<Method>,
    ) {
        let key = (class.to_bits(), selector.to_bits());
        let mut map = self.lookups.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() < self.most {
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
        let map = self.methods.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&oop.to_bits()).cloned()
    }

    /// Offers a decoding whose method and literals are base references ([`Method::lasts`]);
    /// answers the table's decoding of that method (the one offered, or an earlier one).
    pub(crate) fn offer_method(&self, m: &Method) -> Arc<Method> {
        let mut map = self.methods.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = map.get(&m.oop.to_bits()) {
            return t.clone();
        }
        let t = Arc::new(m.clone());
        if map.len() < self.most {
            map.insert(m.oop.to_bits(), t.clone());
        }
        t
    }

    /// Entries held: lookups, decodings.
    #[cfg(all(test, not(feature = "plain-heap")))]
    pub(crate) fn len(&self) -> (usize, usize) {
        let lookups = self.lookups.read().unwrap_or_else(PoisonError::into_inner);
        let methods = self.methods.read().unwrap_or_else(PoisonError::into_inner);
        (lookups.len(), methods.len())
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

/// An image's own copy of the table's decoding `t`, if the image has written none of its
/// literals (the method itself the caller checked).
pub(crate) fn adopt(image: &Heap, t: &Method) -> Result<Option<Rc<Method>>, RunError> {
    Ok(untouched(image, &t.literals)?.then(|| Rc::new(t.clone())))
}
