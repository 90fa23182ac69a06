//! Damaged deltas: every truncation and 100,000 seeded mutations of valid deltas are refused
//! with a typed error carrying an offset, or, where the damage leaves a delta an image could
//! have saved, resume as a working image. Never a panic, never a hang, never a leaked image.
//!
//! Half the mutations recompute the checksum afterwards, so that they reach the structural
//! checks behind it (a damaged file is almost always caught by the checksum alone, which
//! would leave those checks untested).

mod delta_common;

use cowheap::{BaseHeap, DeltaError, Format, Image, Value};
use delta_common::{built, sampled, Driven, Fixture, Op, Src};

/// A small deterministic generator (SplitMix64), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An image that did a bit of everything: allocations of every format, copies, becomes of
/// base and private objects, root overrides.
fn busy_delta(fx: &Fixture, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut d = Driven::new(fx, fx.heap.new_image().unwrap());
    for f in 0..4 {
        d.apply(&Op::Alloc(f, 3, f as usize));
    }
    for _ in 0..40 {
        let op = match rng.below(6) {
            0 => Op::Alloc(rng.below(4) as u8, rng.below(6), rng.below(4)),
            1 => Op::Become(rng.below(64), rng.below(64)),
            2 => Op::SetRoot(rng.below(3) as u8, Src::Obj(rng.below(64))),
            3 => Op::WriteByte(rng.below(64), rng.below(8), rng.below(256) as u8),
            _ => Op::Write(rng.below(64), rng.below(4), Src::Obj(rng.below(64))),
        };
        d.apply(&op);
    }
    d.image.delta_bytes().unwrap()
}

fn reseal(bytes: &mut [u8]) {
    if bytes.len() >= 8 {
        let n = bytes.len() - 8;
        let sum = xxhash_rust_free_checksum(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
    }
}

/// The trailer's checksum, computed the way the format documents it.
fn xxhash_rust_free_checksum(bytes: &[u8]) -> u64 {
    cowheap::delta::format::checksum(bytes)
}

/// Uses a resumed image every way the API allows, ignoring refusals: nothing may panic.
fn exercise(heap: &BaseHeap, mut image: Image) {
    let mut values: Vec<Value> = heap.objects().take(64).collect();
    for name in [
        "p0", "p1", "p2", "p3", "p4", "p5", "r0", "r1", "r2", "first",
    ] {
        if let Ok(v) = image.root(name) {
            values.push(v);
        }
    }
    for &v in &values.clone() {
        let _ = image.identity_hash(v);
        let _ = image.class_of(v);
        let _ = image.format_of(v);
        let _ = image.literal_count(v);
        let _ = image.bytes(v);
        let size = image.size_of(v).unwrap_or(0).min(16);
        for k in 0..size {
            if let Ok(s) = image.read(v, k) {
                let _ = image.identity_hash(s);
                let _ = image.size_of(s);
                values.push(s);
            }
            let _ = image.read_word(v, k);
            let _ = image.read_byte(v, k);
        }
        for &w in values.iter().take(8) {
            let _ = image.identical(v, w);
        }
        let _ = image.write(v, 0, Value::small_int(1).unwrap());
        let _ = image.write_byte(v, 0, 1);
    }
    if let Some(&class) = values.first() {
        let _ = image.allocate(class, Format::Pointers, 2);
    }
    let again = image.delta_bytes().unwrap();
    let resumed = heap
        .resume_delta_bytes(&again)
        .expect("a resumed image saves a valid delta");
    drop(resumed);
}

fn check(heap: &BaseHeap, bytes: &[u8]) -> bool {
    let live = heap.live_images();
    // The stream reader (bounded by the header) answers exactly as the reader of bytes.
    let streamed = heap
        .resume_delta(bytes)
        .map(drop)
        .map_err(|e| e.to_string());
    let in_memory = heap
        .resume_delta_bytes(bytes)
        .map(drop)
        .map_err(|e| e.to_string());
    assert_eq!(streamed, in_memory, "the stream and bytes readers disagree");
    let ok = match heap.resume_delta_bytes(bytes) {
        Ok(image) => {
            exercise(heap, image);
            true
        }
        Err(DeltaError::Io(e)) => panic!("no I/O here: {e}"),
        Err(DeltaError::Heap(e)) => panic!("the heap had ids to spare: {e}"),
        Err(e) => {
            let offset = e.offset().expect("content errors carry an offset");
            assert!(offset <= bytes.len() as u64, "{e}: offset past the end");
            false
        }
    };
    assert_eq!(heap.live_images(), live, "a refused delta builds no image");
    ok
}

fn fuzz(fx: &Fixture, deltas: &[Vec<u8>], mutations: usize, seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for delta in deltas {
        assert!(check(&fx.heap, delta), "the unmutated delta resumes");
        for len in 0..delta.len() {
            assert!(
                !check(&fx.heap, &delta[..len]),
                "a truncation at {len} resumed"
            );
        }
    }
    for n in 0..mutations {
        let mut bytes = deltas[n % deltas.len()].clone();
        let reseal_after = rng.next() & 1 == 0;
        let edits = 1 + rng.below(3);
        for _ in 0..edits {
            let len = bytes.len();
            match rng.below(10) {
                0..=3 => {
                    let i = rng.below(len);
                    bytes[i] ^= 1 << rng.below(8);
                }
                4..=5 => {
                    let i = rng.below(len);
                    bytes[i] = rng.next() as u8;
                }
                6 => {
                    // A whole word in the counts or the body: the sizes most likely to overflow.
                    let i = rng.below(len.saturating_sub(8).max(1));
                    let w = match rng.below(4) {
                        0 => u64::MAX,
                        1 => 1 << 32,
                        2 => u32::MAX as u64,
                        _ => rng.next(),
                    };
                    let end = (i + 8).min(len);
                    bytes[i..end].copy_from_slice(&w.to_le_bytes()[..end - i]);
                }
                7 => {
                    let i = rng.below(len + 1);
                    bytes.insert(i.min(len), rng.next() as u8);
                }
                8 => {
                    let i = rng.below(len);
                    bytes.remove(i);
                }
                _ => bytes.truncate(rng.below(len)),
            }
            if bytes.is_empty() {
                break;
            }
        }
        if reseal_after {
            reseal(&mut bytes);
        }
        if check(&fx.heap, &bytes) {
            accepted += 1;
        }
    }
    (mutations, accepted)
}

#[test]
fn damaged_deltas_over_a_built_base_are_refused_or_resume_whole() {
    let fx = built();
    let deltas: Vec<_> = (1..=4).map(|s| busy_delta(&fx, s)).collect();
    let (n, accepted) = fuzz(&fx, &deltas, 70_000, 0xdead_beef);
    eprintln!("{n} mutations of built-base deltas: {accepted} resumed as valid images");
}

#[test]
fn damaged_deltas_over_the_mini_image_are_refused_or_resume_whole() {
    let heap = cowheap::loader::load_file("../shared/images/mini-2.2-v3-le.image")
        .unwrap()
        .heap;
    let fx = sampled(heap);
    let deltas: Vec<_> = (1..=2).map(|s| busy_delta(&fx, s)).collect();
    let (n, accepted) = fuzz(&fx, &deltas, 30_000, 0xfeed_f00d);
    eprintln!("{n} mutations of mini-image deltas: {accepted} resumed as valid images");
}

/// Counts at and near their limits, with a valid checksum: typed errors, no overflow, no
/// allocation in proportion to a count the file cannot hold.
#[test]
fn counts_near_their_limits_are_refused() {
    let fx = built();
    let good = busy_delta(&fx, 7);
    let counts_at = 48;
    for field in 0..4 {
        for value in [
            u64::MAX,
            u64::MAX / 8,
            u64::MAX / 16 + 1,
            1 << 61,
            1 << 32,
            (1 << 32) - 1,
            u32::MAX as u64 + 1,
        ] {
            let mut bytes = good.clone();
            let at = counts_at + 8 * field;
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            reseal(&mut bytes);
            match fx.heap.resume_delta_bytes(&bytes) {
                Err(DeltaError::Corrupt { .. } | DeltaError::Truncated { .. }) => {}
                other => panic!("count {field} = {value}: {other:?}"),
            }
        }
    }
    // A root name length near u32::MAX.
    let info = cowheap::DeltaInfo::of(&good).unwrap();
    assert!(info.root_overrides > 0);
}

#[test]
fn the_header_errors_name_their_fields() {
    let fx = built();
    let good = busy_delta(&fx, 3);
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        fx.heap.resume_delta_bytes(&bad),
        Err(DeltaError::BadMagic)
    ));
    let mut bad = good.clone();
    bad[8] = 2;
    assert!(matches!(
        fx.heap.resume_delta_bytes(&bad),
        Err(DeltaError::UnsupportedVersion {
            offset: 8,
            found: 2,
            supported: 1
        })
    ));
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        fx.heap.resume_delta_bytes(&bad),
        Err(DeltaError::Checksum { .. })
    ));
    assert!(matches!(
        fx.heap.resume_delta_bytes(&good[..good.len() - 3]),
        Err(DeltaError::Truncated { .. })
    ));
    let mut bad = good.clone();
    bad.push(0);
    assert!(matches!(
        fx.heap.resume_delta_bytes(&bad),
        Err(DeltaError::Corrupt { .. })
    ));
}
