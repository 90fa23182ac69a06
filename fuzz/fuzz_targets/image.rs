//! Image files: `cowheap_squeak::loader::load_bytes` (body: `squeak/tests/fuzz_common`).
#![no_main]

#[path = "../../squeak/tests/fuzz_common/mod.rs"]
mod fuzz_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_common::image(data);
});
