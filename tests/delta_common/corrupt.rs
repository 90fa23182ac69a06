//! Damaging valid deltas: the seeded generator, a busy image's delta, resealing a mutated
//! delta's checksum, and the fuzz loop that checks every mutation is refused or resumes whole.

use cowheap::{BaseHeap, DeltaError, Format, Image, Value};

use super::{Driven, Fixture, Op, Src};

/// A small deterministic generator (SplitMix64), so a failure reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An image that did a bit of everything: allocations of every format, copies, becomes of
/// base and private objects, root overrides.
pub fn busy_delta(fx: &Fixture, seed: u64) -> Vec<u8> {
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

pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() >= 8 {
        let n = bytes.len() - 8;
        let sum = xxhash_rust_free_checksum(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
    }
}

/// The trailer's checksum, computed the way the format documents it.
pub fn xxhash_rust_free_checksum(bytes: &[u8]) -> u64 {
    cowheap::delta::format::checksum(bytes)
}

/// Uses a resumed image every way the API allows, ignoring refusals: nothing may panic.
pub fn exercise(heap: &BaseHeap, mut image: Image) {
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

pub fn check(heap: &BaseHeap, bytes: &[u8]) -> bool {
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

pub fn fuzz(fx: &Fixture, deltas: &[Vec<u8>], mutations: usize, seed: u64) -> (usize, usize) {
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
