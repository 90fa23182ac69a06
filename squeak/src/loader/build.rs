//! From scanned objects to a sealed base heap: resolve the special objects and the class
//! table, relocate every field in parallel (validating as it goes), and only then allocate
//! and fill the heap. A file that fails any check never reaches the builder.

use rayon::prelude::*;

use super::header::{self, Reader};
use super::raw::{Cell, ClassRef, Kind, Scanned};
use super::{spur, v3, ByteOrder, FieldCounts, ImageFamily, ImageInfo, LoadError, Loaded};
use cowheap::{BaseBuilder, Format, Value};

/// Root names the loader adds besides `specialObjects`, `nil`, `true` and `false`.
pub(crate) const CLASS_NAME_SLOT_ROOT: &str = "classNameSlot";
pub(crate) const THIS_CLASS_SLOT_ROOT: &str = "thisClassSlot";

use super::special::{
    COMPACT_CLASSES as SPECIAL_COMPACT_CLASSES, FALSE as SPECIAL_FALSE, FLOAT as SPECIAL_FLOAT,
    NIL as SPECIAL_NIL, SMALL_INTEGER as SPECIAL_SMALL_INTEGER, TRUE as SPECIAL_TRUE,
};

/// Objects per rayon task: small enough to balance, large enough that scheduling is noise.
const MIN_TASK: usize = 256;

/// An object's class ordinal and its relocated fields.
struct Decoded {
    class: u32,
    cells: Vec<Cell>,
}

/// How object classes are found.
enum ClassTable {
    /// V3: the compact-class table's entries (`None` for nil or an immediate).
    V3 { compact: Vec<Option<u32>> },
    /// Spur: the class table's pages, by page number (`None` for nil).
    Spur { pages: Vec<Option<u32>>, nil: u32 },
}

fn bad(offset: usize, what: impl Into<String>) -> LoadError {
    LoadError::BadObject {
        offset,
        what: what.into(),
    }
}

impl ClassTable {
    fn new(s: &Scanned<'_>, specials: u32, nil: u32) -> Result<ClassTable, LoadError> {
        match s.header.family {
            ImageFamily::V3 => {
                let table = s.ref_slot(
                    specials as usize,
                    SPECIAL_COMPACT_CLASSES,
                    "the compact-class table",
                )?;
                let n = table as usize;
                let Kind::Pointers { slots } = s.objects[n].kind else {
                    return Err(bad(
                        s.objects[n].offset,
                        "the compact-class table is not a pointers object",
                    ));
                };
                let compact = (0..slots)
                    .map(|i| {
                        let (oop, at) = s.slot_word(n, i)?;
                        Ok(match s.cell(oop, at, "a compact-class table entry")? {
                            Cell::Ref(r) if r != nil => Some(r),
                            _ => None,
                        })
                    })
                    .collect::<Result<_, LoadError>>()?;
                Ok(ClassTable::V3 { compact })
            }
            ImageFamily::Spur => {
                let hidden = 4;
                let Some(o) = s.objects.get(hidden) else {
                    return Err(bad(s.header.header_size, "a Spur heap needs at least five objects (nil, false, true, free lists, hidden roots)"));
                };
                match o.kind {
                    Kind::Pointers { slots } if slots >= 4096 => {}
                    _ => return Err(bad(o.offset, "the fifth object (hidden roots) must be a pointers object of at least 4096 slots")),
                }
                let pages = (0..4096)
                    .map(|i| {
                        let (oop, at) = s.slot_word(hidden, i)?;
                        Ok(match s.cell(oop, at, "a class-table page")? {
                            Cell::Ref(r) if r != nil => match s.objects[r as usize].kind {
                                Kind::Pointers { .. } => Some(r),
                                _ => {
                                    return Err(bad(
                                        s.objects[r as usize].offset,
                                        "a class-table page is not a pointers object",
                                    ))
                                }
                            },
                            _ => None,
                        })
                    })
                    .collect::<Result<_, LoadError>>()?;
                Ok(ClassTable::Spur { pages, nil })
            }
        }
    }

    fn class_of(&self, s: &Scanned<'_>, n: usize) -> Result<u32, LoadError> {
        let o = &s.objects[n];
        match (self, o.class) {
            (_, ClassRef::Oop { oop, offset }) => s.resolve(oop, offset, "a class word"),
            (ClassTable::V3 { compact }, ClassRef::Compact(i)) => compact
                .get(i as usize - 1)
                .copied()
                .flatten()
                .ok_or_else(|| bad(o.offset, format!("compact-class index {i} names no class"))),
            (ClassTable::Spur { pages, nil }, ClassRef::Index(i)) => {
                let found = match pages.get((i >> 10) as usize).copied().flatten() {
                    Some(page) => {
                        let entry = (i & 1023) as usize;
                        if entry < s.field_count(page as usize) {
                            let (oop, at) = s.slot_word(page as usize, entry)?;
                            match s.cell(oop, at, "a class-table entry")? {
                                Cell::Ref(r) if r != *nil => Some(r),
                                _ => None,
                            }
                        } else {
                            None
                        }
                    }
                    None => None,
                };
                // Class indices below 32 are puns (forwarders, free-list and hidden objects):
                // those without a class-table entry get nil as their class.
                match found {
                    Some(r) => Ok(r),
                    None if i < 32 => Ok(*nil),
                    None => Err(bad(
                        o.offset,
                        format!("class index {i} is not in the class table"),
                    )),
                }
            }
            _ => Err(bad(
                o.offset,
                "class reference of the wrong kind for this format",
            )),
        }
    }
}

fn decode(s: &Scanned<'_>, classes: &ClassTable, n: usize) -> Result<Decoded, LoadError> {
    let class = classes.class_of(s, n)?;
    let count = s.field_count(n);
    let mut cells = Vec::with_capacity(count);
    let body = s.objects[n].body;
    let fields = s.r.slice(body, count * 4, "an object's fields")?;
    for (i, chunk) in fields.chunks_exact(4).enumerate() {
        let b = [chunk[0], chunk[1], chunk[2], chunk[3]];
        let oop = match s.r.order {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        };
        cells.push(s.cell(oop, body + 4 * i, "a pointer field")?);
    }
    Ok(Decoded { class, cells })
}

/// Whether Floats are stored low word first: V3 6505 ("Cog float order") and Spur store them
/// in the saving platform's order, which is low word first on a little-endian machine.
fn floats_low_word_first(format: u32, order: ByteOrder) -> bool {
    order == ByteOrder::Little && (format == 6505 || format == 6521)
}

/// Finds the slot of a class that holds its name, from the SmallInteger class, and the slot of
/// a metaclass that holds its sole instance.
fn class_layout(
    s: &Scanned<'_>,
    decoded: &[Decoded],
    small_integer: Option<u32>,
) -> (Option<usize>, Option<usize>) {
    let Some(class) = small_integer else {
        return (None, None);
    };
    let d = &decoded[class as usize];
    let name_slot = d.cells.iter().position(|c| match *c {
        Cell::Ref(r) => match s.objects[r as usize].kind {
            Kind::Bytes { len } => {
                s.r.slice(s.objects[r as usize].body, len, "a class name")
                    .is_ok_and(|b| b.ends_with(b"SmallInteger"))
            }
            _ => false,
        },
        Cell::Imm(_) => false,
    });
    let this_slot = decoded[d.class as usize]
        .cells
        .iter()
        .position(|c| *c == Cell::Ref(class));
    (name_slot, this_slot)
}

/// Loads a whole image file.
pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, LoadError> {
    let header = header::parse(bytes)?;
    let r = Reader {
        bytes,
        order: header.order,
    };
    let s = match header.family {
        ImageFamily::V3 => v3::scan(r, header)?,
        ImageFamily::Spur => spur::scan(r, header)?,
    };
    if let Some(w) = s.objects.windows(2).find(|w| w[0].addr >= w[1].addr) {
        return Err(bad(
            w[1].offset,
            "objects are not in increasing address order",
        ));
    }
    if u32::try_from(s.objects.len()).is_err() {
        return Err(bad(header.header_size, "more than 2^32 objects"));
    }

    // Special objects, then classes.
    let specials = s.resolve(header.special_objects, 16, "specialObjectsOop")?;
    let needed = match header.family {
        ImageFamily::V3 => SPECIAL_COMPACT_CLASSES + 1,
        ImageFamily::Spur => SPECIAL_FLOAT + 1,
    };
    let so = &s.objects[specials as usize];
    match so.kind {
        Kind::Pointers { slots } if slots >= needed => {}
        _ => {
            return Err(bad(
                so.offset,
                format!(
                "the special-objects array must be a pointers object of at least {needed} slots"
            ),
            ))
        }
    }
    let nil = s.ref_slot(specials as usize, SPECIAL_NIL, "nil (special object 0)")?;
    let false_object = s.ref_slot(specials as usize, SPECIAL_FALSE, "false (special object 1)")?;
    let true_object = s.ref_slot(specials as usize, SPECIAL_TRUE, "true (special object 2)")?;
    let classes = ClassTable::new(&s, specials, nil)?;

    // Relocate every field, in parallel. Collecting sequentially afterwards reports the
    // first bad object in file order, so errors are deterministic.
    let decoded: Vec<Decoded> = (0..s.objects.len())
        .into_par_iter()
        .with_min_len(MIN_TASK)
        .map(|n| decode(&s, &classes, n))
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Result<_, _>>()?;

    let special = |i: usize| match decoded[specials as usize].cells.get(i) {
        Some(&Cell::Ref(r)) if r != nil => Some(r),
        _ => None,
    };
    let float_class = special(SPECIAL_FLOAT);
    let (name_slot, this_slot) = class_layout(&s, &decoded, special(SPECIAL_SMALL_INTEGER));
    let swap_floats = floats_low_word_first(header.format, header.order);

    // Everything is valid: build the heap.
    let placeholder = Value::small_int(0).ok_or_else(|| bad(0, "no placeholder"))?;
    let mut b = BaseBuilder::new();
    let heap_err = |offset: usize| move |source| LoadError::Heap { offset, source };
    let mut handles = Vec::with_capacity(s.objects.len());
    for o in &s.objects {
        let h = match o.kind {
            Kind::Pointers { slots } => b.new_object(placeholder, Format::Pointers, slots),
            Kind::Words { words } => b.new_object(placeholder, Format::Words, words),
            Kind::Bytes { len } => b.new_object(placeholder, Format::Bytes, len),
            Kind::Method {
                literals,
                bytecodes,
            } => b.new_method(placeholder, literals + 1, bytecodes),
            Kind::Forwarder => b.new_object(placeholder, Format::Pointers, 1),
        }
        .map_err(heap_err(o.offset))?;
        handles.push(h);
    }
    let mut fields = FieldCounts::default();
    for ((o, d), &h) in s.objects.iter().zip(&decoded).zip(&handles) {
        let err = heap_err(o.offset);
        b.set_class(h, handles[d.class as usize]).map_err(err)?;
        b.set_hash(h, o.hash).map_err(err)?;
        b.set_language_format(h, o.st_format).map_err(err)?;
        let counted = match o.kind {
            Kind::Pointers { .. } => 0,
            Kind::Method { .. } => 1,
            _ => usize::MAX,
        };
        for (i, &c) in d.cells.iter().enumerate() {
            let v = match c {
                Cell::Ref(r) => handles[r as usize],
                Cell::Imm(v) => v,
            };
            if i >= counted {
                fields.count(v);
            }
            b.set_field(h, i, v).map_err(err)?;
        }
        match o.kind {
            Kind::Bytes { len } => {
                b.set_bytes(h, 0, s.r.slice(o.body, len, "a bytes object")?)
                    .map_err(err)?;
            }
            Kind::Method {
                literals,
                bytecodes,
            } => {
                let code =
                    s.r.slice(o.body + 4 * (1 + literals), bytecodes, "bytecodes")?;
                b.set_bytes(h, 0, code).map_err(err)?;
            }
            Kind::Words { words } => {
                let swap = swap_floats && words == 2 && Some(d.class) == float_class;
                for i in 0..words {
                    let k = if swap { 1 - i } else { i };
                    b.set_word(h, i, s.r.u32(o.body + 4 * k, "a word")?)
                        .map_err(err)?;
                }
            }
            Kind::Pointers { .. } | Kind::Forwarder => {}
        }
    }
    let root_err = heap_err(16);
    let v = |r: u32| handles[r as usize];
    b.add_root("specialObjects", v(specials))
        .map_err(root_err)?;
    b.add_root("nil", v(nil)).map_err(root_err)?;
    b.add_root("true", v(true_object)).map_err(root_err)?;
    b.add_root("false", v(false_object)).map_err(root_err)?;
    for (name, slot) in [
        (CLASS_NAME_SLOT_ROOT, name_slot),
        (THIS_CLASS_SLOT_ROOT, this_slot),
    ] {
        if let Some(v) = slot.and_then(|i| Value::small_int(i as i64)) {
            b.add_root(name, v).map_err(root_err)?;
        }
    }
    b.set_filler(v(nil)).map_err(root_err)?;
    let heap = b.seal().map_err(root_err)?;
    let forwarders = s
        .objects
        .iter()
        .filter(|o| o.kind == Kind::Forwarder)
        .count();
    let info = ImageInfo {
        family: header.family,
        format: header.format,
        byte_order: header.order,
        file_bytes: bytes.len(),
        header_bytes: header.header_size,
        data_bytes: header.data_size,
        old_base: header.old_base,
        object_count: s.objects.len(),
        free_chunks: s.free_chunks,
        forwarders,
        special_objects: v(specials),
        nil: v(nil),
        true_object: v(true_object),
        false_object: v(false_object),
        float_class: float_class.map(v),
        floats_reordered: swap_floats,
        class_name_slot: name_slot,
        this_class_slot: this_slot,
        fields,
    };
    Ok(Loaded { heap, info })
}
