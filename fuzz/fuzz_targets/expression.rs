//! Expressions: the parser, and with the mini image present (`COWHEAP_IMAGES`), the compiler
//! and a bounded run (body: `squeak/tests/fuzz_common`).
#![no_main]

#[path = "../../squeak/tests/fuzz_common/mod.rs"]
mod fuzz_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_common::expression(data);
});
