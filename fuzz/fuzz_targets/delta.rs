//! Deltas: `BaseHeap::resume_delta` and `DeltaInfo`, as given and behind a resealed checksum
//! (body: `tests/delta_common/fuzz.rs`).
#![no_main]

#[path = "../../tests/delta_common/mod.rs"]
mod delta_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    delta_common::fuzz::delta(data);
});
