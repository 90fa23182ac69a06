//! The delta reader's fuzz target (`fuzz/fuzz_targets/delta.rs`) as a bounded property test
//! on stable: edits of real deltas and arbitrary bytes are refused with a typed error or
//! resume whole (see `delta_common/fuzz.rs` for the property).

mod delta_common;

use cowheap_stress::fuzz::{mutate, Edit};
use delta_common::fuzz::{delta, fixture};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn edits_of_real_deltas_are_refused_or_resume(
        which in 0..4usize,
        edits in prop::collection::vec(any::<Edit>(), 1..6),
    ) {
        let seeds = &fixture().1;
        delta(&mutate(&seeds[which % seeds.len()], &edits));
    }

    #[test]
    fn arbitrary_bytes_are_refused(input in prop::collection::vec(any::<u8>(), 0..512)) {
        // Without the magic number nothing resumes.
        prop_assert!(!delta(&input));
    }
}

/// The seeds resume, so the edits start from inputs that reach every check.
#[test]
fn the_seeds_resume() {
    for seed in &fixture().1 {
        assert!(delta(seed));
    }
}
