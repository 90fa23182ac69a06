//! Spur 32-bit object memories (format 6521).
//!
//! Every object starts on an 8-byte boundary with a 64-bit header: class index (22 bits),
//! format (5 bits at 24) in the low half; identity hash (22 bits) and slot count (top 8 bits)
//! in the high half. A slot count of 255 means the real count is in the 64-bit word before.
//! Bodies are rounded up to 8 bytes, and an empty object still has 8. The heap is a chain of
//! segments; the last 16 bytes of each are a *bridge*. In a snapshot a bridge holds the size
//! of the next segment and the distance from this segment's start to the next one's start
//! (SpurSegmentManager>>writeSegment:nextSegment:toFile:); the last segment's bridge is
//! ignored.

use super::header::{FileHeader, Reader};
use super::raw::{ClassRef, Kind, RawObject, Scanned, Segment};
use super::LoadError;

/// The class index of free chunks, which are not objects.
const FREE_CLASS_INDEX: u32 = 0;
/// The class index of forwarders.
pub(crate) const FORWARDER_CLASS_INDEX: u32 = 8;
/// Bytes of a segment bridge.
const BRIDGE: usize = 16;

fn bad(offset: usize, what: impl Into<String>) -> LoadError {
    LoadError::BadObject {
        offset,
        what: what.into(),
    }
}

/// Scans every segment, checking headers, sizes and format codes; free chunks are skipped.
pub(crate) fn scan<'a>(r: Reader<'a>, header: FileHeader) -> Result<Scanned<'a>, LoadError> {
    let end = header.data_end();
    let mut objects = Vec::with_capacity(header.data_size / 48);
    let mut free_chunks = 0;
    let mut segments = Vec::new();
    let mut seg_file = header.header_size;
    let mut seg_size = header.first_segment_size;
    let mut seg_addr = header.old_base as u64;
    loop {
        let seg_end = seg_file + seg_size;
        if seg_size < BRIDGE || seg_end > end {
            return Err(bad(
                seg_file,
                format!("heap segment of {seg_size} bytes does not fit the data or its bridge"),
            ));
        }
        let scan_end = seg_end - BRIDGE;
        segments.push(Segment {
            addr: seg_addr,
            file: seg_file,
            len: seg_size,
        });
        let mut p = seg_file;
        while p < scan_end {
            let word = r.u64(p, "an object header")?;
            let (mut lo, mut hi) = (word as u32, (word >> 32) as u32);
            let mut slots = (hi >> 24) as usize;
            let mut at = p;
            if slots == 255 {
                slots = lo as usize;
                at = p + 8;
                if at + 8 > scan_end {
                    return Err(bad(p, "overflow header at the end of the segment"));
                }
                let word = r.u64(at, "an object header")?;
                (lo, hi) = (word as u32, (word >> 32) as u32);
                if hi >> 24 != 255 {
                    return Err(bad(
                        p,
                        format!(
                            "an overflow size word must be followed by a header with slot count \
                             255, not {}",
                            hi >> 24
                        ),
                    ));
                }
            }
            let body_bytes = if slots == 0 {
                8
            } else {
                (slots as u64 * 4).div_ceil(8) * 8
            };
            let obj_end = (at as u64 + 8 + body_bytes).min(u64::MAX / 2) as usize;
            if obj_end > scan_end {
                return Err(bad(
                    p,
                    format!(
                        "object of {slots} slots runs past the end of its segment ({scan_end})"
                    ),
                ));
            }
            let class_index = lo & 0x3F_FFFF;
            let format = (lo >> 24) & 0x1F;
            let hash = hi & 0x3F_FFFF;
            let body = at + 8;
            if class_index == FREE_CLASS_INDEX {
                free_chunks += 1;
                p = obj_end;
                continue;
            }
            let sub = |units: usize, pad: usize, what: &str| {
                units.checked_sub(pad).ok_or_else(|| {
                    bad(
                        p,
                        format!("{what} of {slots} slots cannot have {pad} unused elements"),
                    )
                })
            };
            let kind = match format {
                0..=5 => Kind::Pointers { slots },
                7 if class_index == FORWARDER_CLASS_INDEX && slots >= 1 => Kind::Forwarder,
                9 if slots.is_multiple_of(2) => Kind::Words { words: slots },
                10 | 11 => Kind::Words {
                    words: sub(slots, (format & 1) as usize, "a 32-bit object")?,
                },
                12..=15 => Kind::Bytes {
                    len: sub(slots * 4, (format & 3) as usize * 2, "a 16-bit object")?,
                },
                16..=23 => Kind::Bytes {
                    len: sub(slots * 4, (format & 7) as usize, "a bytes object")?,
                },
                24..=31 => {
                    if slots == 0 {
                        return Err(bad(p, "compiled method without a method header"));
                    }
                    let method_header = r.u32(body, "a method header")?;
                    if method_header & 1 == 0 {
                        return Err(bad(
                            p,
                            format!("method header {method_header:#010x} is not a SmallInteger"),
                        ));
                    }
                    let literals = ((method_header >> 1) & 0x7FFF) as usize;
                    let total = sub(slots * 4, (format & 7) as usize, "a compiled method")?;
                    let bytecodes = total.checked_sub((1 + literals) * 4).ok_or_else(|| {
                        bad(
                            p,
                            format!(
                                "compiled method of {slots} slots cannot hold {literals} literals"
                            ),
                        )
                    })?;
                    Kind::Method {
                        literals,
                        bytecodes,
                    }
                }
                _ => {
                    return Err(bad(
                        p,
                        format!("object format {format} with class index {class_index}"),
                    ))
                }
            };
            objects.push(RawObject {
                offset: p,
                body,
                addr: seg_addr + (at - seg_file) as u64,
                at,
                class: ClassRef::Index(class_index),
                kind,
                hash,
                st_format: v3_format_of_spur(format),
            });
            p = obj_end;
        }
        if seg_end == end {
            break;
        }
        // The bridge names the next segment.
        let next_size = r.u64(scan_end, "a segment bridge")?;
        let span = r.u64(scan_end + 8, "a segment bridge")?;
        let remaining = (end - seg_end) as u64;
        if next_size == 0
            || next_size > remaining
            || next_size % 8 != 0
            || span < seg_size as u64
            || span % 8 != 0
        {
            return Err(bad(
                scan_end,
                format!(
                    "segment bridge names a next segment of {next_size} bytes at distance \
                     {span}, but {remaining} bytes of data remain after a {seg_size}-byte segment"
                ),
            ));
        }
        seg_file = seg_end;
        seg_size = next_size as usize;
        seg_addr = seg_addr.saturating_add(span);
    }
    Scanned::new(r, header, objects, free_chunks, segments)
}

/// The V3 format code closest to a Spur one, so that every loaded object carries a code from
/// one numbering (the interpreter runs V3 images; Spur objects keep the nearest meaning).
fn v3_format_of_spur(format: u32) -> u8 {
    match format {
        0..=4 => format as u8,
        5 => 4,
        9..=15 => 6,
        16..=23 => 8 + (format & 3) as u8,
        24..=31 => 12 + (format & 3) as u8,
        _ => 0,
    }
}
