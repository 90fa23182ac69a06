//! The file's objects before they become heap objects: where each lies, its kind and size,
//! and how its class is named. Both scanners produce this; relocation and the builder consume
//! it. Nothing here allocates heap objects, so a file that fails validation costs no heap.

use super::header::{FileHeader, Reader};
use super::LoadError;
use cowheap::Value;

/// What an object's body holds, with its element counts as the heap will store them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Pointer slots (V3 formats 0-4; Spur 0-5).
    Pointers { slots: usize },
    /// 32-bit words (V3 format 6; Spur 9-11).
    Words { words: usize },
    /// Bytes (V3 8-11; Spur 12-23).
    Bytes { len: usize },
    /// A compiled method: `literals` literal slots after the method header word, then
    /// `bytecodes` bytes.
    Method { literals: usize, bytecodes: usize },
    /// A Spur forwarder (class index 8, format 7): slot 0 is its target.
    Forwarder,
}

/// How an object names its class.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ClassRef {
    /// V3 one-word header: an index into the compact-class table (1-based).
    Compact(u32),
    /// V3 class word: the class oop, and the file offset of the word holding it.
    Oop { oop: u32, offset: usize },
    /// Spur: an index into the class table.
    Index(u32),
}

/// One object of the file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawObject {
    /// File offset of the object's first header word (where errors point).
    pub(crate) offset: usize,
    /// File offset of its body (the word after the base header).
    pub(crate) body: usize,
    /// Its address in the saved heap: the oop other objects name it by.
    pub(crate) addr: u64,
    /// File offset of the header word that `addr` names.
    pub(crate) at: usize,
    pub(crate) class: ClassRef,
    pub(crate) kind: Kind,
    pub(crate) hash: u32,
    /// The file's format code, mapped to the V3 codes (0-15) for Spur objects.
    pub(crate) st_format: u8,
}

/// A field after relocation: an immediate, or the ordinal of the object it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Ref(u32),
    Imm(Value),
}

/// A contiguous run of the saved heap: its address and where it lies in the file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    pub(crate) addr: u64,
    pub(crate) file: usize,
    pub(crate) len: usize,
}

/// A scanned file: its objects in address order.
pub(crate) struct Scanned<'a> {
    pub(crate) r: Reader<'a>,
    pub(crate) header: FileHeader,
    pub(crate) objects: Vec<RawObject>,
    /// Free chunks skipped while scanning (Spur).
    pub(crate) free_chunks: usize,
    pub(crate) segments: Vec<Segment>,
    /// For each 32-bit word of the object data, 1 + the ordinal of the object whose oop
    /// names that word, or 0. Relocation is one look-up here: O(1), and 4 bytes per data word.
    index: Vec<u32>,
    /// Whether any object is a forwarder; when none is (always, in V3), relocation skips
    /// the check, and with it a random access into `objects`.
    forwarders: bool,
}

impl<'a> Scanned<'a> {
    /// Indexes the scanned objects by file offset.
    pub(crate) fn new(
        r: Reader<'a>,
        header: FileHeader,
        objects: Vec<RawObject>,
        free_chunks: usize,
        segments: Vec<Segment>,
    ) -> Result<Scanned<'a>, LoadError> {
        let mut index = vec![0u32; header.data_size / 4];
        for (n, o) in objects.iter().enumerate() {
            let slot = (o.at - header.header_size) / 4;
            let ordinal = u32::try_from(n + 1).map_err(|_| LoadError::BadObject {
                offset: o.offset,
                what: "more than 2^32 objects".into(),
            })?;
            index[slot] = ordinal;
        }
        let forwarders = objects.iter().any(|o| o.kind == Kind::Forwarder);
        Ok(Scanned {
            r,
            header,
            objects,
            free_chunks,
            segments,
            index,
            forwarders,
        })
    }
}

impl Scanned<'_> {
    /// The ordinal of the object whose oop is `oop`, without following forwarders.
    #[inline]
    pub(crate) fn lookup(&self, oop: u32) -> Option<usize> {
        let addr = oop as u64;
        let seg = self
            .segments
            .iter()
            .find(|s| addr >= s.addr && addr - s.addr < s.len as u64)?;
        let offset = seg.file + (addr - seg.addr) as usize;
        if !offset.is_multiple_of(4) {
            return None;
        }
        match self.index.get((offset - self.header.header_size) / 4) {
            Some(&n) if n > 0 => Some(n as usize - 1),
            _ => None,
        }
    }

    /// Raw slot `i` of object `n` (the caller checked `i` against the object's size).
    #[inline]
    pub(crate) fn slot_word(&self, n: usize, i: usize) -> Result<(u32, usize), LoadError> {
        let offset = self.objects[n].body + 4 * i;
        Ok((self.r.u32(offset, "an object field")?, offset))
    }

    /// The ordinal `oop` names, following Spur forwarders to their final target.
    pub(crate) fn resolve(
        &self,
        oop: u32,
        offset: usize,
        what: &'static str,
    ) -> Result<u32, LoadError> {
        let bad = || LoadError::BadReference { offset, oop, what };
        let mut n = self.lookup(oop).ok_or_else(bad)?;
        if !self.forwarders {
            return u32::try_from(n).map_err(|_| bad());
        }
        // A chain longer than the object count has a cycle.
        for _ in 0..=self.objects.len() {
            if self.objects[n].kind != Kind::Forwarder {
                return u32::try_from(n).map_err(|_| bad());
            }
            let (target, at) = self.slot_word(n, 0)?;
            if target & 3 != 0 {
                return Err(LoadError::BadValue {
                    offset: at,
                    oop: target,
                    what: "a forwarder's target must be an object",
                });
            }
            n = self.lookup(target).ok_or(LoadError::BadReference {
                offset: at,
                oop: target,
                what: "a forwarder's target",
            })?;
        }
        Err(LoadError::BadObject {
            offset: self.objects[n].offset,
            what: "forwarders form a cycle".into(),
        })
    }

    /// Decodes a field: a SmallInteger, a Character (Spur), or a relocated reference.
    #[inline]
    pub(crate) fn cell(
        &self,
        oop: u32,
        offset: usize,
        what: &'static str,
    ) -> Result<Cell, LoadError> {
        if oop & 1 != 0 {
            let i = (oop as i32 >> 1) as i64;
            // 31-bit integers always fit the heap's 61 bits.
            return Value::small_int(i)
                .map(Cell::Imm)
                .ok_or(LoadError::BadValue {
                    offset,
                    oop,
                    what: "SmallInteger out of range",
                });
        }
        match (oop & 3, self.header.family) {
            (0, _) => self.resolve(oop, offset, what).map(Cell::Ref),
            (2, super::ImageFamily::Spur) => char::from_u32(oop >> 2)
                .map(|c| Cell::Imm(Value::character(c)))
                .ok_or(LoadError::BadValue {
                    offset,
                    oop,
                    what: "Character is not a Unicode scalar value",
                }),
            _ => Err(LoadError::BadValue {
                offset,
                oop,
                what: "misaligned oop (low bits 10 are not a tag in this format)",
            }),
        }
    }

    /// The slot count an object's fields are read over (pointers, method header plus literals,
    /// a forwarder's target), or 0.
    pub(crate) fn field_count(&self, n: usize) -> usize {
        match self.objects[n].kind {
            Kind::Pointers { slots } => slots,
            Kind::Method { literals, .. } => literals + 1,
            Kind::Forwarder => 1,
            Kind::Words { .. } | Kind::Bytes { .. } => 0,
        }
    }

    /// A reference field of object `n` that must name an object, as an ordinal.
    pub(crate) fn ref_slot(
        &self,
        n: usize,
        i: usize,
        what: &'static str,
    ) -> Result<u32, LoadError> {
        if i >= self.field_count(n) {
            return Err(LoadError::BadObject {
                offset: self.objects[n].offset,
                what: format!("{what}: the object has no field {i}"),
            });
        }
        let (oop, at) = self.slot_word(n, i)?;
        match self.cell(oop, at, what)? {
            Cell::Ref(r) => Ok(r),
            Cell::Imm(_) => Err(LoadError::BadValue {
                offset: at,
                oop,
                what,
            }),
        }
    }
}
