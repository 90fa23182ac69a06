//! The image loader's fuzz target (`fuzz/fuzz_targets/image.rs`) as a bounded property test on
//! stable: edits of a hand-built image (and of real ones, when present) and arbitrary bytes
//! are refused with a typed error or load as a heap whose references all resolve.

mod fuzz_common;

use cowheap_stress::fuzz::{mutate, Edit};
use fuzz_common::{image, image_seeds};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn edits_of_images_are_refused_or_load(
        which in any::<usize>(),
        edits in prop::collection::vec(any::<Edit>(), 1..6),
    ) {
        let seeds = image_seeds();
        image(&mutate(&seeds[which % seeds.len()], &edits));
    }

    #[test]
    fn arbitrary_bytes_are_refused(input in prop::collection::vec(any::<u8>(), 0..512)) {
        image(&input);
    }
}

/// The hand-built seed loads, so that edits start from a file that reaches every check.
#[test]
fn the_hand_built_image_loads() {
    assert!(image(&fuzz_common::tiny_image()));
    let loaded = cowheap_squeak::loader::load_bytes(&fuzz_common::tiny_image()).unwrap();
    assert_eq!(loaded.info.object_count, 7);
}
