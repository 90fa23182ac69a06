//! The file header shared by V3 and Spur images, and a bounds-checked word reader.

use super::{ByteOrder, ImageFamily, LoadError};

/// The formats this loader reads, and whether each stores Floats in platform word order.
const V3_FORMATS: [u32; 3] = [6502, 6504, 6505];
const SPUR_FORMAT: u32 = 6521;
const FORMATS_64: [u32; 4] = [68000, 68002, 68003, 68021];
/// The smallest header any supported format has (Spur's fields end at byte 56).
pub(crate) const MIN_HEADER: usize = 64;

/// Reads 32- and 64-bit words of the file in its byte order. Every read is bounds-checked
/// and answers [`LoadError::Truncated`] past the end, so no parser can read out of bounds.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) order: ByteOrder,
}

impl<'a> Reader<'a> {
    pub(crate) fn slice(
        &self,
        offset: usize,
        len: usize,
        what: &'static str,
    ) -> Result<&'a [u8], LoadError> {
        offset
            .checked_add(len)
            .and_then(|end| self.bytes.get(offset..end))
            .ok_or(LoadError::Truncated {
                offset,
                needed: len,
                len: self.bytes.len(),
                what,
            })
    }

    #[inline]
    pub(crate) fn u32(&self, offset: usize, what: &'static str) -> Result<u32, LoadError> {
        let b = self.slice(offset, 4, what)?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(match self.order {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        })
    }

    /// A 64-bit word, as a 32-bit VM of this byte order would load it.
    #[inline]
    pub(crate) fn u64(&self, offset: usize, what: &'static str) -> Result<u64, LoadError> {
        let b = self.slice(offset, 8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(match self.order {
            ByteOrder::Little => u64::from_le_bytes(a),
            ByteOrder::Big => u64::from_be_bytes(a),
        })
    }
}

/// The decoded file header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileHeader {
    pub(crate) format: u32,
    pub(crate) family: ImageFamily,
    pub(crate) order: ByteOrder,
    pub(crate) header_size: usize,
    pub(crate) data_size: usize,
    pub(crate) old_base: u32,
    pub(crate) special_objects: u32,
    /// Spur only: the size of the first heap segment (0 in the file means "all of it").
    pub(crate) first_segment_size: usize,
}

impl FileHeader {
    /// Where the object data ends in the file.
    pub(crate) fn data_end(&self) -> usize {
        self.header_size + self.data_size
    }
}

/// Detects the format and byte order from word 0, then reads and checks the header fields.
pub(crate) fn parse(bytes: &[u8]) -> Result<FileHeader, LoadError> {
    let first = bytes.get(0..4).ok_or(LoadError::Truncated {
        offset: 0,
        needed: 4,
        len: bytes.len(),
        what: "the format word",
    })?;
    let first = [first[0], first[1], first[2], first[3]];
    let (le, be) = (u32::from_le_bytes(first), u32::from_be_bytes(first));
    let known = |v: u32| V3_FORMATS.contains(&v) || v == SPUR_FORMAT;
    let (format, order) = if known(le) {
        (le, ByteOrder::Little)
    } else if known(be) {
        (be, ByteOrder::Big)
    } else if FORMATS_64.contains(&le) || FORMATS_64.contains(&be) {
        return Err(LoadError::Unsupported {
            format: if FORMATS_64.contains(&le) { le } else { be },
            why: "64-bit images are not loaded; cowheap reads 32-bit V3 and Spur images",
        });
    } else {
        return Err(LoadError::UnknownFormat {
            little_endian: le,
            big_endian: be,
        });
    };
    let family = if format == SPUR_FORMAT {
        ImageFamily::Spur
    } else {
        ImageFamily::V3
    };
    let r = Reader { bytes, order };
    r.slice(0, MIN_HEADER, "the image header")?;
    let header_size = r.u32(4, "headerSize")? as usize;
    let data_size = r.u32(8, "dataSize")? as usize;
    let old_base = r.u32(12, "oldBaseAddr")?;
    let special_objects = r.u32(16, "specialObjectsOop")?;
    let align = match family {
        ImageFamily::V3 => 4,
        ImageFamily::Spur => 8,
    };
    if header_size < MIN_HEADER || !header_size.is_multiple_of(align) || header_size > bytes.len() {
        return Err(LoadError::BadHeader {
            offset: 4,
            what: format!(
                "headerSize {header_size} must be at least {MIN_HEADER}, a multiple of {align}, \
                 and within the file ({} bytes)",
                bytes.len()
            ),
        });
    }
    if !data_size.is_multiple_of(align) {
        return Err(LoadError::BadHeader {
            offset: 8,
            what: format!("dataSize {data_size} is not a multiple of {align}"),
        });
    }
    r.slice(
        header_size,
        data_size,
        "the object data (headerSize + dataSize)",
    )?;
    let first_segment_size = match family {
        ImageFamily::V3 => data_size,
        ImageFamily::Spur => match r.u32(48, "firstSegmentSize")? as usize {
            0 => data_size,
            n if n <= data_size && n % 8 == 0 => n,
            n => {
                return Err(LoadError::BadHeader {
                    offset: 48,
                    what: format!(
                    "firstSegmentSize {n} is not a multiple of 8 or exceeds dataSize {data_size}"
                ),
                })
            }
        },
    };
    Ok(FileHeader {
        format,
        family,
        order,
        header_size,
        data_size,
        old_base,
        special_objects,
        first_segment_size,
    })
}
