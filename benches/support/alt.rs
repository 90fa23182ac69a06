//! The alternatives to cowheap's conditional forwarders, over the same arena words.
//!
//! * [`DeepClone`]: each image owns a full copy of the base.
//! * [`Overlay`]: each image keeps a private hash map (FxHash) from base object to its copy; no
//!   forwarders, so every read of a base object asks the map first.
//! * [`GlobalImage`]: one `RwLock`ed map of copies keyed by (image, object), shared by all.
//! * [`Persistent`]: an `im::Vector` of the arena words per image, sharing structure (a
//!   store path-copies one 64-word chunk and the nodes above it).
//!
//! Each answers the same reads and stores as cowheap, with the same format and bounds checks.

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use super::plain::{index_of, slot_offset, Miss, PlainHeap, Walk, TAG_MASK};

/// One image of some design: read and store slots of objects named by arena index.
pub trait Store {
    fn read_at(&mut self, at: usize, k: usize) -> Result<u64, Miss>;
    fn write_at(&mut self, at: usize, k: usize, v: u64) -> Result<(), Miss>;
}

/// Any [`Store`] as a pointer-chase walker.
pub struct StoreWalk<'a, S>(pub &'a mut S);

impl<S: Store> Walk for StoreWalk<'_, S> {
    type Ref = u64;
    #[inline(always)]
    fn step(&mut self, r: u64, k: usize) -> Option<u64> {
        if r & TAG_MASK != 0 {
            return None;
        }
        match self.0.read_at(index_of(r), k) {
            Ok(v) if v & TAG_MASK == 0 => Some(v),
            _ => None,
        }
    }
}

/// Reads slot `k` of an object copy laid out as `[header][class][body]`.
#[inline(always)]
fn read_copy(copy: &[u64], k: usize) -> Result<u64, Miss> {
    let off = slot_offset(copy[0], k, || copy[2])?;
    Ok(copy[off])
}

// ---------------------------------------------------------------------------------------------

/// A full private copy of the base.
#[derive(Clone)]
pub struct DeepClone(pub PlainHeap);

impl Store for DeepClone {
    #[inline(always)]
    fn read_at(&mut self, at: usize, k: usize) -> Result<u64, Miss> {
        let h = self.0.words[at];
        let off = slot_offset(h, k, || self.0.words[at + 2])?;
        Ok(self.0.words[at + off])
    }
    #[inline(always)]
    fn write_at(&mut self, at: usize, k: usize, v: u64) -> Result<(), Miss> {
        self.0.write(at, k, v)
    }
}

// ---------------------------------------------------------------------------------------------

/// A private map from base object to this image's copy.
pub struct Overlay {
    pub base: Arc<PlainHeap>,
    pub copies: FxHashMap<u32, Box<[u64]>>,
}

impl Overlay {
    pub fn new(base: Arc<PlainHeap>) -> Overlay {
        Overlay {
            base,
            copies: FxHashMap::default(),
        }
    }
}

impl Store for Overlay {
    #[inline(always)]
    fn read_at(&mut self, at: usize, k: usize) -> Result<u64, Miss> {
        if let Some(copy) = self.copies.get(&(at as u32)) {
            return read_copy(copy, k);
        }
        let w = &self.base.words;
        let off = slot_offset(w[at], k, || w[at + 2])?;
        Ok(w[at + off])
    }

    #[inline(always)]
    fn write_at(&mut self, at: usize, k: usize, v: u64) -> Result<(), Miss> {
        use std::collections::hash_map::Entry;
        match self.copies.entry(at as u32) {
            Entry::Occupied(mut e) => {
                let copy = e.get_mut();
                let off = slot_offset(copy[0], k, || copy[2])?;
                copy[off] = v;
            }
            Entry::Vacant(e) => {
                let w = &self.base.words;
                let off = slot_offset(w[at], k, || w[at + 2])?;
                let mut copy: Box<[u64]> = self.base.object(at).into();
                copy[off] = v;
                e.insert(copy);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// The shared state of the global-lock design: the base and one map of every image's copies.
pub struct GlobalMap {
    pub base: PlainHeap,
    pub copies: RwLock<FxHashMap<u64, Box<[u64]>>>,
}

impl GlobalMap {
    pub fn new(base: PlainHeap) -> Arc<GlobalMap> {
        Arc::new(GlobalMap {
            base,
            copies: RwLock::new(FxHashMap::default()),
        })
    }
}

/// One image of the global-lock design. Dropping it removes its copies (teardown).
pub struct GlobalImage {
    pub shared: Arc<GlobalMap>,
    pub id: u32,
    written: Vec<u32>,
}

impl GlobalImage {
    pub fn new(shared: Arc<GlobalMap>, id: u32) -> GlobalImage {
        GlobalImage {
            shared,
            id,
            written: Vec::new(),
        }
    }

    #[inline(always)]
    fn key(&self, at: usize) -> u64 {
        ((self.id as u64) << 32) | at as u64
    }
}

impl Store for GlobalImage {
    #[inline(always)]
    fn read_at(&mut self, at: usize, k: usize) -> Result<u64, Miss> {
        {
            let map = self.shared.copies.read().unwrap();
            if let Some(copy) = map.get(&self.key(at)) {
                return read_copy(copy, k);
            }
        }
        let w = &self.shared.base.words;
        let off = slot_offset(w[at], k, || w[at + 2])?;
        Ok(w[at + off])
    }

    #[inline(always)]
    fn write_at(&mut self, at: usize, k: usize, v: u64) -> Result<(), Miss> {
        use std::collections::hash_map::Entry;
        let key = self.key(at);
        let mut map = self.shared.copies.write().unwrap();
        match map.entry(key) {
            Entry::Occupied(mut e) => {
                let copy = e.get_mut();
                let off = slot_offset(copy[0], k, || copy[2])?;
                copy[off] = v;
            }
            Entry::Vacant(e) => {
                let base = &self.shared.base;
                let off = slot_offset(base.words[at], k, || base.words[at + 2])?;
                let mut copy: Box<[u64]> = base.object(at).into();
                copy[off] = v;
                e.insert(copy);
                self.written.push(at as u32);
            }
        }
        Ok(())
    }
}

impl Drop for GlobalImage {
    fn drop(&mut self) {
        if self.written.is_empty() {
            return;
        }
        let mut map = self.shared.copies.write().unwrap();
        for &at in &self.written {
            map.remove(&(((self.id as u64) << 32) | at as u64));
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A persistent vector of the arena words per image; cloning the base's vector is O(1).
#[derive(Clone)]
pub struct Persistent(pub im::Vector<u64>);

impl Persistent {
    pub fn from_plain(p: &PlainHeap) -> Persistent {
        Persistent(p.words.iter().copied().collect())
    }
}

impl Store for Persistent {
    #[inline(always)]
    fn read_at(&mut self, at: usize, k: usize) -> Result<u64, Miss> {
        let v = &self.0;
        let off = slot_offset(v[at], k, || v[at + 2])?;
        Ok(v[at + off])
    }

    #[inline(always)]
    fn write_at(&mut self, at: usize, k: usize, val: u64) -> Result<(), Miss> {
        let off = slot_offset(self.0[at], k, || self.0[at + 2])?;
        self.0.set(at + off, val);
        Ok(())
    }
}
