//! The base's content hash: the identity a delta names its base by.
//!
//! It must be the same for the same base in every process and on every machine, so it hashes
//! a canonical encoding, never raw arena words: a base reference carries its heap's owner id,
//! a per-process counter, in its high bits, so every reference in a value position (classes,
//! pointer fields, method literals, roots, the filler) is hashed with its owner field cleared.
//! Raw data (bytes, 32-bit words, bytecodes) is hashed as it is, so a data word that happens to
//! look like a reference is never rewritten.
//!
//! XXH3-128 (the `xxhash-rust` crate, no dependencies of its own) rather than a cryptographic
//! hash: the hash guards a host against resuming a delta over the wrong base by accident, which
//! 128 bits of a well-mixed hash make vanishingly unlikely, and a host chooses its bases itself,
//! so there is no adversary to forge a colliding base. It hashes the 6.85 MiB default base in a
//! few milliseconds, once, at sealing.

#![forbid(unsafe_code)]

use std::fmt;

use xxhash_rust::xxh3::Xxh3;

use crate::object::{Format, Header, HEADER_WORDS};
use crate::Value;

/// A base heap's content hash ([`BaseHeap::content_hash`](crate::BaseHeap::content_hash)): equal
/// for two bases exactly when their objects, identity hashes, roots and filler are, whatever
/// process built or loaded them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BaseHash(pub [u8; 16]);

impl fmt::Display for BaseHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for BaseHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseHash({self})")
    }
}

/// Clears the owner field of a reference owned by `owner`; anything else is left alone.
fn canonical(bits: u64, owner: u32) -> u64 {
    let v = Value::from_bits(bits);
    if v.is_object() && v.owner() == owner {
        Value::object(0, v.index() as u64).to_bits()
    } else {
        bits
    }
}

/// Hashes a builder's words at sealing. `starts` are the object starts in arena order.
pub(crate) fn content_hash(
    words: &[u64],
    starts: &[u32],
    owner: u32,
    roots: &[(String, Value)],
    filler: Value,
) -> BaseHash {
    let mut h = Xxh3::new();
    let put = |w: u64, h: &mut Xxh3| h.update(&w.to_le_bytes());
    h.update(b"cowheap base v1\0");
    put(words.len() as u64, &mut h);
    put(starts.len() as u64, &mut h);
    // One buffer per object: one `update` per object rather than per word.
    let mut buf: Vec<u8> = Vec::new();
    for &start in starts {
        let at = start as usize;
        let Some(&header) = words.get(at) else {
            continue;
        };
        let header = Header(header);
        let body_at = at + HEADER_WORDS;
        let body = words
            .get(body_at..body_at + header.body_words())
            .unwrap_or(&[]);
        let values = match header.format() {
            Format::Pointers => body.len(),
            Format::Method => body
                .first()
                .map_or(0, |&n| (n as usize).saturating_add(1).min(body.len())),
            Format::Words | Format::Bytes => 0,
        };
        buf.clear();
        buf.extend_from_slice(&(at as u64).to_le_bytes());
        buf.extend_from_slice(&header.0.to_le_bytes());
        let class = words.get(at + 1).copied().unwrap_or(0);
        buf.extend_from_slice(&canonical(class, owner).to_le_bytes());
        for (i, &w) in body.iter().enumerate() {
            // A method's first body word is its literal count, not a value.
            let is_value = i < values && !(header.format() == Format::Method && i == 0);
            let w = if is_value { canonical(w, owner) } else { w };
            buf.extend_from_slice(&w.to_le_bytes());
        }
        h.update(&buf);
    }
    put(roots.len() as u64, &mut h);
    for (name, value) in roots {
        put(name.len() as u64, &mut h);
        h.update(name.as_bytes());
        put(canonical(value.to_bits(), owner), &mut h);
    }
    put(canonical(filler.to_bits(), owner), &mut h);
    BaseHash(h.digest128().to_le_bytes())
}
