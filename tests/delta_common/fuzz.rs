//! The delta reader's fuzz target (`fuzz/fuzz_targets/delta.rs` includes this file's module):
//! any bytes, resumed over a small built base as they are and again behind a valid checksum
//! (so that the checks past the trailer see the damage), are refused with a typed error whose
//! offset lies in the input, or resume as an image that can be used every way the API allows
//! and saved again; never a panic, nothing half-built, within the time bound.

use std::sync::OnceLock;

use cowheap::DeltaInfo;
use cowheap_stress::fuzz::within;

use super::corrupt::{busy_delta, check, reseal};
use super::{built, Fixture};

/// The built base, and real deltas over it: an untouched image's and busy images'.
pub fn fixture() -> &'static (Fixture, Vec<Vec<u8>>) {
    static FIXTURE: OnceLock<(Fixture, Vec<Vec<u8>>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fx = built();
        let mut seeds = vec![fx.heap.new_image().unwrap().delta_bytes().unwrap()];
        seeds.extend((1..4).map(|seed| busy_delta(&fx, seed)));
        (fx, seeds)
    })
}

/// The target's body: whether `input`, as it is or resealed, resumed.
pub fn delta(input: &[u8]) -> bool {
    let (fx, _) = fixture();
    within("the delta reader", || {
        let mut sealed = input.to_vec();
        reseal(&mut sealed);
        let mut resumed = false;
        for bytes in [input, &sealed] {
            resumed |= check(&fx.heap, bytes);
            // The description reads without a base: it may accept what the base refuses,
            // and refuses with an offset in the input.
            if let Err(e) = DeltaInfo::of(bytes) {
                assert!(e.offset().is_some_and(|o| o <= bytes.len() as u64), "{e}");
            }
        }
        resumed
    })
}
