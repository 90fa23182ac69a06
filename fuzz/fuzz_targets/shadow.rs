//! The stress harness's saved shadow files, read and verified against a resumed delta (body:
//! `cowheap_stress::fuzz::shadow`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cowheap_stress::fuzz::shadow(data);
});
