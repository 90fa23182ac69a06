//! Squeak V3 32-bit object memories (formats 6502, 6504, 6505).
//!
//! Objects abut from `headerSize` on. Each has one to three header words; the low two bits
//! of the first word say how many (3: one word, class from the compact-class table; 1: the
//! class word comes first; 0: a size word and then the class word). Scanning is sequential
//! by nature (each object's size gives the next one's start), so it is a tight single pass;
//! everything after it runs in parallel.

use super::header::{FileHeader, Reader};
use super::raw::{ClassRef, Kind, RawObject, Scanned, Segment};
use super::LoadError;

fn bad(offset: usize, what: impl Into<String>) -> LoadError {
    LoadError::BadObject {
        offset,
        what: what.into(),
    }
}

/// Scans every object of the data area, checking header types, sizes and format codes.
pub(crate) fn scan<'a>(r: Reader<'a>, header: FileHeader) -> Result<Scanned<'a>, LoadError> {
    let start = header.header_size;
    let end = header.data_end();
    // A rough guess that avoids most regrowth: objects average about 40 bytes.
    let mut objects = Vec::with_capacity(header.data_size / 40);
    let mut p = start;
    while p < end {
        let first = r.u32(p, "an object header")?;
        let header_type = first & 3;
        let (base_at, class, size_bytes) = match header_type {
            0 => {
                let class_word = r.u32(p + 4, "a class header word")?;
                if class_word & 3 != 0 {
                    return Err(bad(
                        p,
                        format!(
                            "three-word header: class word {class_word:#010x} has header type {} \
                             instead of 0",
                            class_word & 3
                        ),
                    ));
                }
                let class = ClassRef::Oop {
                    oop: class_word,
                    offset: p + 4,
                };
                (p + 8, Some(class), Some((first & !3) as usize))
            }
            1 => (
                p + 4,
                Some(ClassRef::Oop {
                    oop: first & !3,
                    offset: p,
                }),
                None,
            ),
            3 => (p, None, None),
            _ => {
                return Err(bad(
                    p,
                    "header type 2 (a free chunk) cannot appear in a saved image",
                ))
            }
        };
        if base_at + 4 > end {
            return Err(bad(p, "object header runs past the end of the object data"));
        }
        let base = r.u32(base_at, "an object's base header")?;
        if base & 3 != header_type {
            return Err(bad(
                p,
                format!(
                    "base header {base:#010x} has type {} but its first header word has type \
                     {header_type}",
                    base & 3
                ),
            ));
        }
        let size = size_bytes.unwrap_or((base & 0xFC) as usize);
        if size < 4 {
            return Err(bad(
                p,
                format!("object size {size} bytes is smaller than its base header"),
            ));
        }
        let obj_end = base_at
            .checked_add(size)
            .filter(|&e| e <= end)
            .ok_or_else(|| {
                bad(
                    p,
                    format!(
                        "object of {size} bytes at {base_at} runs past the end of the data ({end})"
                    ),
                )
            })?;
        let format = (base >> 8) & 0xF;
        let compact = (base >> 12) & 0x1F;
        let hash = (base >> 17) & 0xFFF;
        let class = match class {
            Some(c) => c,
            None if compact == 0 => {
                return Err(bad(p, "one-word header with compact-class index 0"))
            }
            None => ClassRef::Compact(compact),
        };
        let body = base_at + 4;
        let words = size / 4 - 1;
        let kind = match format {
            0..=4 => Kind::Pointers { slots: words },
            6 => Kind::Words { words },
            8..=11 => {
                let pad = (format & 3) as usize;
                if words * 4 < pad {
                    return Err(bad(
                        p,
                        format!("bytes object of {words} words with {pad} pad bytes"),
                    ));
                }
                Kind::Bytes {
                    len: words * 4 - pad,
                }
            }
            12..=15 => {
                let pad = (format & 3) as usize;
                if words == 0 {
                    return Err(bad(p, "compiled method without a method header"));
                }
                let method_header = r.u32(body, "a method header")?;
                if method_header & 1 == 0 {
                    return Err(bad(
                        p,
                        format!("method header {method_header:#010x} is not a SmallInteger"),
                    ));
                }
                let literals = ((method_header >> 10) & 0xFF) as usize;
                let bytes = (words * 4)
                    .checked_sub(pad)
                    .and_then(|b| b.checked_sub((1 + literals) * 4))
                    .ok_or_else(|| {
                        bad(
                            p,
                            format!(
                                "compiled method of {words} words cannot hold {literals} literals \
                                 and {pad} pad bytes"
                            ),
                        )
                    })?;
                Kind::Method {
                    literals,
                    bytecodes: bytes,
                }
            }
            _ => return Err(bad(p, format!("unused object format {format}"))),
        };
        objects.push(RawObject {
            offset: p,
            body,
            addr: header.old_base as u64 + (base_at - start) as u64,
            at: base_at,
            class,
            kind,
            hash,
            st_format: format as u8,
        });
        p = obj_end;
    }
    let segment = Segment {
        addr: header.old_base as u64,
        file: start,
        len: header.data_size,
    };
    Scanned::new(r, header, objects, 0, vec![segment])
}
