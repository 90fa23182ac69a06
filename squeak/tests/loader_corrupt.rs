//! Corrupt input never panics, never reads out of bounds, and never yields a half-built heap:
//! every failure is a typed [`LoadError`] naming an offset inside the file.
//!
//! - every truncation length of the smallest shared image (86,704 cases);
//! - [`CASES`] = 100,000 seeded random mutations across the four shared images (49.5% each
//!   for the two small ones, 0.5% each for the two mini images), seed [`SEED`] =
//!   `0xC0FFEE155EED0005`, each changing 1 to 4 bytes (a random byte or a flipped bit; a fifth of them in
//!   the 64-byte file header); a mutated file that still loads must pass
//!   `verify_references`;
//! - hand-made corruptions that must answer specific errors at specific offsets.

mod images_common;
mod loader_common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use cowheap_squeak::loader::{load_bytes, verify_references, LoadError};
use cowheap_stress::rng::Rng;
use loader_common::{bytes, IMAGES};
use rayon::prelude::*;

/// The mutation test's seed.
const SEED: u64 = 0xC0FF_EE15_5EED_0005;
/// The mutation test's case count.
const CASES: u64 = 100_000;

/// Loads `file`, and checks the outcome: a typed error with an offset in the file, or a heap
/// whose every reference resolves.
fn check(file: &[u8], what: &dyn Fn() -> String) -> Result<(), LoadError> {
    match load_bytes(file) {
        Ok(loaded) => {
            if let Err(e) = verify_references(&loaded.heap) {
                panic!("{}: loaded a heap with a dangling reference: {e}", what());
            }
            assert_eq!(loaded.heap.object_count(), loaded.info.object_count);
            Ok(())
        }
        Err(e) => {
            let offset = e.offset().expect("in-memory loads have offsets");
            assert!(
                offset <= file.len(),
                "{}: error offset {offset} is past the end ({}): {e}",
                what(),
                file.len()
            );
            assert!(!e.to_string().is_empty());
            Err(e)
        }
    }
}

#[test]
fn every_truncation_of_the_smallest_image_is_a_typed_error() {
    if loader_common::skip_all() {
        return;
    }
    let smallest = IMAGES.iter().min_by_key(|i| bytes(i.file).len()).unwrap();
    let full = bytes(smallest.file);
    assert_eq!(full.len(), 86_704);
    let panics = AtomicUsize::new(0);
    // About a minute and a half on two cores: a line every tenth of the lengths shows it is
    // alive (straight to stderr, past libtest's capture).
    let done = AtomicUsize::new(0);
    let tenth = full.len().div_ceil(10);
    (0..full.len()).into_par_iter().for_each(|len| {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            check(&full[..len], &|| {
                format!("{} cut to {len} bytes", smallest.file)
            })
        }));
        match outcome {
            Err(_) => {
                panics.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok(())) => panic!("{} cut to {len} bytes loaded", smallest.file),
            Ok(Err(_)) => {}
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(tenth) || n == full.len() {
            let line = format!(
                "every_truncation_of_the_smallest_image_is_a_typed_error: {}% ({n} of {} lengths)\n",
                100 * n / full.len(),
                full.len()
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
    });
    assert_eq!(panics.into_inner(), 0);
    assert!(check(&full, &|| "the whole file".into()).is_ok());
}

#[test]
fn seeded_random_mutations_never_panic() {
    if loader_common::skip_all() {
        return;
    }
    let originals: Vec<Vec<u8>> = IMAGES.iter().map(|i| bytes(i.file)).collect();
    // Most cases go to the two small images; each mini image (ten times larger, and ten
    // times slower to load) gets 0.5% of them, about 500 cases, which keeps the test fast.
    let weights = [5u64, 5, 495, 495];
    let total: u64 = weights.iter().sum();
    let panics = AtomicUsize::new(0);
    let loaded = AtomicUsize::new(0);
    (0..CASES).into_par_iter().for_each(|case| {
        let mut rng = Rng::derive(SEED, case);
        let mut pick = rng.next_u64() % total;
        let image = weights
            .iter()
            .position(|&w| {
                let hit = pick < w;
                pick = pick.wrapping_sub(w);
                hit
            })
            .unwrap();
        let mut file = originals[image].clone();
        let mut changes = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let at = if rng.below(5) == 0 {
                rng.below(64)
            } else {
                rng.below(file.len())
            };
            if rng.below(2) == 0 {
                file[at] = rng.next_u64() as u8;
            } else {
                file[at] ^= 1 << rng.below(8);
            }
            changes.push((at, file[at]));
        }
        let what = || {
            format!(
                "case {case} (seed {SEED:#x}): {} with bytes {changes:?}",
                IMAGES[image].file
            )
        };
        match catch_unwind(AssertUnwindSafe(|| check(&file, &what))) {
            Err(_) => {
                eprintln!("PANIC in {}", what());
                panics.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok(())) => {
                loaded.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(_)) => {}
        }
    });
    let loaded = loaded.into_inner();
    eprintln!(
        "{CASES} mutation cases, seed {SEED:#x}: {loaded} still loaded (and verified), {} refused",
        CASES as usize - loaded
    );
    assert_eq!(
        panics.into_inner(),
        0,
        "panics among {CASES} cases, seed {SEED:#x}"
    );
    // Both outcomes happen: the test exercises the success path too.
    assert!(loaded > 0 && loaded < CASES as usize);
}

fn le32(file: &mut [u8], at: usize, v: u32) {
    file[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn rd32(file: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(file[at..at + 4].try_into().unwrap())
}

#[test]
fn hand_made_corruptions_answer_specific_errors() {
    if loader_common::skip(&["mini-2.2-v3-le.image"]) {
        return;
    }
    let original = bytes("mini-2.2-v3-le.image");

    assert!(matches!(
        load_bytes(&original[..3]),
        Err(LoadError::Truncated { offset: 0, .. })
    ));
    let mut f = original.clone();
    le32(&mut f, 0, 68021);
    assert!(matches!(
        load_bytes(&f),
        Err(LoadError::Unsupported { format: 68021, .. })
    ));
    le32(&mut f, 0, 12345);
    assert!(matches!(
        load_bytes(&f),
        Err(LoadError::UnknownFormat { .. })
    ));

    // dataSize past the end of the file.
    let mut f = original.clone();
    let data_size = rd32(&f, 8);
    le32(&mut f, 8, data_size + 8);
    assert!(matches!(
        load_bytes(&f),
        Err(LoadError::Truncated { offset: 64, .. })
    ));

    // The special-objects array's first slot (nil), pointed into the middle of an object.
    let old_base = rd32(&original, 12);
    let specials = rd32(&original, 16);
    let nil_slot = (specials - old_base) as usize + 64 + 4;
    let mut f = original.clone();
    le32(&mut f, nil_slot, old_base + 8);
    match load_bytes(&f) {
        Err(LoadError::BadReference { offset, oop, .. }) => {
            assert_eq!((offset, oop), (nil_slot, old_base + 8));
        }
        other => panic!("expected a bad reference at {nil_slot}, got {other:?}"),
    }
    // ... and to a misaligned oop.
    le32(&mut f, nil_slot, old_base + 6);
    assert!(matches!(
        load_bytes(&f),
        Err(LoadError::BadValue { offset, .. }) if offset == nil_slot
    ));

    // dataSize 4 bytes short: the last object runs past the end of the data.
    let mut f = original.clone();
    le32(&mut f, 8, data_size - 4);
    match load_bytes(&f) {
        Err(LoadError::BadObject { offset, what }) => {
            assert!(offset > 64 && offset < original.len(), "{offset}");
            assert!(what.contains("past the end"), "{what}");
        }
        other => panic!("expected an object past the end of the data, got {other:?}"),
    }

    // An unused format code (5) in the first object's base header.
    let mut f = original.clone();
    let base = rd32(&original, 68);
    le32(&mut f, 68, (base & !0xF00) | (5 << 8));
    assert!(matches!(
        load_bytes(&f),
        Err(LoadError::BadObject { offset: 64, .. })
    ));

    // A missing file is an I/O error naming the path.
    let missing = std::path::Path::new("/nonexistent/x.image");
    match cowheap_squeak::loader::load_file(missing) {
        Err(e @ LoadError::Io { .. }) => assert!(e.to_string().contains("/nonexistent/x.image")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
