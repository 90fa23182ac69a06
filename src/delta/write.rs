//! Writing a delta, and writing a file so that a torn write never replaces a good one.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use super::format::{
    FILE_BASE, FILE_PRIVATE, FORMAT_VERSION, HEADER_BYTES, MAGIC, MAX_ROOT_NAME_BYTES,
    MAX_ROOT_OVERRIDES, TRAILER_BYTES,
};
use super::DeltaError;
use crate::object::{Format, Header, FORWARDED, HEADER_WORDS};
use crate::{Error, Image, Value};

/// Re-encodes a value word with the file's owners.
fn encode(image: &Image, bits: u64) -> Result<u64, Error> {
    let v = Value::from_bits(bits);
    if !v.is_object() {
        Ok(bits)
    } else if v.owner() == image.base_owner() {
        Ok(Value::object(FILE_BASE, v.index() as u64).to_bits())
    } else if v.owner() == image.incarnation() {
        Ok(Value::object(FILE_PRIVATE, v.index() as u64).to_bits())
    } else {
        // Stores check every reference, so an image's space never holds a foreign one.
        Err(Error::ForeignReference(v))
    }
}

/// An image's delta over its base, as bytes ([`Image::delta_bytes`]).
pub(crate) fn encode_image(image: &Image) -> Result<Vec<u8>, DeltaError> {
    let words = image.private_words();
    let mut entries: Vec<_> = image.entries().collect();
    entries.sort_unstable_by_key(|&(at, _)| at);
    let roots = image.root_overrides();
    if roots.len() as u64 > MAX_ROOT_OVERRIDES {
        return Err(DeltaError::Unsavable {
            what: "the number of root overrides",
            limit: MAX_ROOT_OVERRIDES,
        });
    }
    if roots
        .iter()
        .any(|(name, _)| name.len() > MAX_ROOT_NAME_BYTES)
    {
        return Err(DeltaError::Unsavable {
            what: "a root name's length in bytes",
            limit: MAX_ROOT_NAME_BYTES as u64,
        });
    }

    let mut body: Vec<u8> = Vec::with_capacity(words.len() * 8);
    let mut extents: Vec<u64> = Vec::new();
    let put = |w: u64, out: &mut Vec<u8>| out.extend_from_slice(&w.to_le_bytes());
    let mut pos = 0;
    while pos < words.len() {
        let word = words[pos];
        if word & FORWARDED != 0 {
            // `become_forward` replaced the header with its target, so the extent is where
            // the next object starts. The class and body are dead: zeros, so that no stale
            // owner id reaches the file.
            let end = (pos + 1..words.len())
                .find(|&i| image.is_private_start(i))
                .unwrap_or(words.len());
            put(word, &mut body);
            body.resize(body.len() + (end - pos - 1) * 8, 0);
            extents.push((end - pos) as u64);
            pos = end;
            continue;
        }
        let header = Header(word);
        let end = (pos + HEADER_WORDS + header.body_words()).min(words.len());
        let values_end = match header.format() {
            Format::Pointers => end,
            Format::Method => (pos + HEADER_WORDS + 1)
                .saturating_add(words.get(pos + HEADER_WORDS).map_or(0, |&n| n as usize))
                .min(end),
            Format::Words | Format::Bytes => pos + HEADER_WORDS,
        };
        put(word, &mut body);
        put(encode(image, words[pos + 1])?, &mut body);
        for (i, &w) in words.iter().enumerate().take(end).skip(pos + HEADER_WORDS) {
            let is_value =
                i < values_end && !(header.format() == Format::Method && i == pos + HEADER_WORDS);
            put(if is_value { encode(image, w)? } else { w }, &mut body);
        }
        pos = end;
    }

    let mut out: Vec<u8> = Vec::with_capacity(
        HEADER_BYTES + body.len() + extents.len() * 8 + 8 * entries.len() + TRAILER_BYTES,
    );
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&image.heap().content_hash().0);
    put(image.heap().arena().len() as u64, &mut out);
    out.extend_from_slice(&image.hash_state().to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    put(words.len() as u64, &mut out);
    put(extents.len() as u64, &mut out);
    put(entries.len() as u64, &mut out);
    put(roots.len() as u64, &mut out);
    debug_assert_eq!(out.len(), HEADER_BYTES);
    out.extend_from_slice(&body);
    drop(body);
    for e in extents {
        put(e, &mut out);
    }
    let mut previous = 0;
    for (at, loc) in entries {
        super::format::put_varint((at - previous) as u64, &mut out);
        super::format::put_varint(loc.encode(), &mut out);
        previous = at;
    }
    for (name, value) in roots {
        // At most MAX_ROOT_NAME_BYTES, checked above.
        let len = name.len() as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        put(encode(image, value.to_bits())?, &mut out);
    }
    let checksum = super::format::checksum(&out);
    put(checksum, &mut out);
    Ok(out)
}

/// Writes an image's delta to `out` ([`Image::save_delta`]).
pub(crate) fn save(image: &Image, mut out: impl Write) -> Result<u64, DeltaError> {
    let bytes = encode_image(image)?;
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(bytes.len() as u64)
}

/// Saves an image's delta to `path` crash-safely ([`Image::save_delta_to`]).
pub(crate) fn save_to(image: &Image, path: &Path) -> Result<u64, DeltaError> {
    let bytes = encode_image(image)?;
    atomic_write(path, |f| f.write_all(&bytes))?;
    Ok(bytes.len() as u64)
}

/// Replaces `path` with what `fill` writes, so that a crash or an error at any point leaves
/// either the old file or the whole new one, never a torn one: what SQLite and every serious
/// store do. `fill` writes a temporary file in the same directory (a rename is atomic only
/// within one file system), named `.NAME.tmp-XXXXXX`; the file is synced before `tempfile`'s
/// `persist` renames it over `path`, and the directory after, so that the rename itself
/// survives a power cut. On an error the temporary file is removed and `path` is untouched.
pub fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp-");
    // Dropped on any error below, which removes the file.
    let mut tmp = tempfile::Builder::new().prefix(&prefix).tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is in the directory: sync it too. Not every platform can open a directory
    // (Windows cannot), and the data is already safe in the renamed file there.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
