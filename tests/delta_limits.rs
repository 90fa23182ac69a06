//! A delta's header bounds how much of a stream is read: a header that claims more than a
//! space, the base or the format allows is refused from its 80 bytes, and a stream that runs
//! past its header's bound is refused there, unread beyond it. Hostile streams here never end,
//! so a reader that trusted them would never return.

mod delta_common;

use std::io::{Cursor, Read};

use cowheap::delta::format::{checksum, MAX_ROOT_NAME_BYTES, MAX_ROOT_OVERRIDES};
use cowheap::{DeltaError, DeltaInfo, Value};
use delta_common::{built, Driven, Op};

const COUNTS_AT: usize = 48;
const HEADER_BYTES: usize = 80;

/// Counts the bytes a reader takes.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// `bytes`, then zeros for ever.
fn endless(bytes: Vec<u8>) -> Counting<impl Read> {
    Counting {
        inner: Cursor::new(bytes).chain(std::io::repeat(0)),
        read: 0,
    }
}

fn set_count(bytes: &mut [u8], field: usize, value: u64) {
    let at = COUNTS_AT + 8 * field;
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn reseal(bytes: &mut [u8]) {
    let n = bytes.len() - 8;
    let sum = checksum(&bytes[..n]);
    bytes[n..].copy_from_slice(&sum.to_le_bytes());
}

fn corrupt_at(r: Result<impl std::fmt::Debug, DeltaError>) -> (u64, &'static str) {
    match r {
        Err(DeltaError::Corrupt { offset, reason }) => (offset, reason),
        other => panic!("{other:?}"),
    }
}

fn some_delta() -> (delta_common::Fixture, Vec<u8>) {
    let fx = built();
    let bytes = {
        let mut d = Driven::new(&fx, fx.heap.new_image().unwrap());
        for op in [Op::Alloc(0, 3, 0), Op::Become(1, 2), Op::Alloc(1, 9, 1)] {
            d.apply(&op);
        }
        d.image.delta_bytes().unwrap()
    };
    (fx, bytes)
}

#[test]
fn a_header_claiming_2_to_the_60_words_is_refused_from_its_header_alone() {
    let (fx, good) = some_delta();
    let mut header = good[..HEADER_BYTES].to_vec();
    set_count(&mut header, 0, 1 << 60);
    let mut input = endless(header.clone());
    let (offset, reason) = corrupt_at(fx.heap.resume_delta(&mut input));
    assert_eq!(offset, COUNTS_AT as u64);
    assert!(reason.contains("private words"), "{reason}");
    assert_eq!(
        input.read, HEADER_BYTES as u64,
        "nothing read past the header"
    );
    let mut input = endless(header);
    corrupt_at(DeltaInfo::read(&mut input));
    assert_eq!(input.read, HEADER_BYTES as u64);
    assert_eq!(fx.heap.live_images(), 0);
}

#[test]
fn every_count_past_its_limit_is_refused_from_the_header() {
    let (fx, good) = some_delta();
    let objects = fx.heap.object_count() as u64;
    let words = u64::from(u32::MAX);
    for (field, value, what) in [
        (0, words + 1, "private words"),
        (
            1,
            u64::from_le_bytes(good[48..56].try_into().unwrap()) / 2 + 1,
            "forwarded",
        ),
        (2, objects + 1, "entries than the base has objects"),
        (2, u64::MAX, "entries"),
        (3, MAX_ROOT_OVERRIDES + 1, "root overrides"),
    ] {
        let mut bytes = good.clone();
        set_count(&mut bytes, field, value);
        reseal(&mut bytes);
        // The stream reader refuses from the header; bytes in memory get the same answer.
        let mut input = endless(bytes[..HEADER_BYTES].to_vec());
        let streamed = corrupt_at(fx.heap.resume_delta(&mut input));
        assert_eq!(input.read, HEADER_BYTES as u64, "count {field} = {value}");
        assert_eq!(streamed.0, (COUNTS_AT + 8 * field) as u64);
        assert!(streamed.1.contains(what), "{field}: {}", streamed.1);
        assert_eq!(corrupt_at(fx.heap.resume_delta_bytes(&bytes)), streamed);
    }
    assert_eq!(fx.heap.live_images(), 0);
}

#[test]
fn a_stream_longer_than_its_header_says_is_refused_where_it_outgrows_it() {
    let (fx, good) = some_delta();
    // Within the bound, the bytes after the checksum are refused where they start.
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 8]);
    let (offset, _) = corrupt_at(fx.heap.resume_delta(&longer[..]));
    assert_eq!(offset, good.len() as u64);
    // An endless stream is read one byte past its header's bound, and refused there.
    let mut input = endless(good.clone());
    let (offset, reason) = corrupt_at(fx.heap.resume_delta(&mut input));
    assert!(reason.contains("longest its header allows"), "{reason}");
    assert!(offset > good.len() as u64);
    assert_eq!(input.read, offset + 1);
    // The bound is linear in the counts: a few bytes per entry and per root beyond the words.
    let info = DeltaInfo::of(&good).unwrap();
    assert!(
        offset
            <= 88
                + info.private_bytes
                + 8 * info.forwarded_objects as u64
                + 20 * info.entries as u64
                + (12 + MAX_ROOT_NAME_BYTES as u64) * info.root_overrides as u64
    );
    // The good delta itself still resumes from a stream.
    let image = fx.heap.resume_delta(&good[..]).unwrap();
    assert_eq!(image.delta_bytes().unwrap(), good);
}

#[test]
fn root_names_and_counts_past_the_format_limits_are_refused_both_ways() {
    let fx = built();
    let mut image = fx.heap.new_image().unwrap();
    let one = Value::small_int(1).unwrap();
    image
        .set_root(&"x".repeat(MAX_ROOT_NAME_BYTES), one)
        .unwrap();
    let bytes = image.delta_bytes().unwrap();
    let resumed = fx.heap.resume_delta(&bytes[..]).unwrap();
    assert_eq!(resumed.root(&"x".repeat(MAX_ROOT_NAME_BYTES)).unwrap(), one);
    image
        .set_root(&"y".repeat(MAX_ROOT_NAME_BYTES + 1), one)
        .unwrap();
    assert!(matches!(
        image.save_delta(std::io::sink()),
        Err(DeltaError::Unsavable { limit, .. }) if limit == MAX_ROOT_NAME_BYTES as u64
    ));
    // A reader refuses such a name where its length is. (The header claims two roots, so
    // that the file is within its header's bound and the name check is what refuses it.)
    let empty = fx.heap.new_image().unwrap().delta_bytes().unwrap();
    let mut crafted = empty[..empty.len() - 8].to_vec();
    set_count(&mut crafted, 3, 2);
    let root_at = crafted.len();
    let name = vec![b'y'; MAX_ROOT_NAME_BYTES + 1];
    crafted.extend_from_slice(&(name.len() as u32).to_le_bytes());
    crafted.extend_from_slice(&name);
    crafted.extend_from_slice(&one.to_bits().to_le_bytes());
    crafted.extend_from_slice(&[0; 8]);
    reseal(&mut crafted);
    let (offset, reason) = corrupt_at(fx.heap.resume_delta(&crafted[..]));
    assert_eq!(offset, root_at as u64, "{reason}");
    assert!(reason.contains("name is longer"), "{reason}");
    // With one root claimed, the same file outgrows its header's bound first.
    set_count(&mut crafted, 3, 1);
    reseal(&mut crafted);
    let (offset, reason) = corrupt_at(fx.heap.resume_delta(&crafted[..]));
    assert_eq!(offset, (root_at + 4 + MAX_ROOT_NAME_BYTES + 8 + 8) as u64);
    assert!(reason.contains("longest its header allows"), "{reason}");
}

/// The most root overrides a delta may hold resume, in linear time (a duplicate check by
/// scanning would take 10^12 steps here), and one duplicate among them is refused.
#[test]
fn a_million_root_overrides_resume_and_a_duplicate_among_them_is_refused() {
    let fx = built();
    let empty = fx.heap.new_image().unwrap().delta_bytes().unwrap();
    let n = MAX_ROOT_OVERRIDES as usize;
    let build = |duplicate: bool| {
        let mut bytes = empty[..empty.len() - 8].to_vec();
        set_count(&mut bytes, 3, n as u64);
        for i in 0..n {
            let name = if duplicate && i == n - 1 {
                "r0".to_string()
            } else {
                format!("r{i}")
            };
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            let v = Value::small_int(i as i64).unwrap();
            bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        bytes.extend_from_slice(&[0; 8]);
        reseal(&mut bytes);
        bytes
    };
    let image = fx.heap.resume_delta(&build(false)[..]).unwrap();
    assert_eq!(
        image.root(&format!("r{}", n - 1)).unwrap(),
        Value::small_int(n as i64 - 1).unwrap()
    );
    drop(image);
    let (_, reason) = corrupt_at(fx.heap.resume_delta(&build(true)[..]));
    assert!(reason.contains("twice"), "{reason}");
}
