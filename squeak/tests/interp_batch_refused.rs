//! A batch whose images cannot all be made ends with the error, and the images already
//! started are not left waiting for the others (its own test binary: it fills the heap's ids).

mod images_common;
mod interp_common;

use cowheap::Error;
use cowheap_squeak::interp::{run_batch, BatchConfig, BatchError};
use interp_common::mini;

#[test]
fn a_batch_that_runs_out_of_images_answers_the_error_instead_of_waiting() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let mut held = Vec::new();
    while let Ok(image) = heap.new_image() {
        held.push(image);
    }
    held.truncate(held.len() - 3);
    let config = BatchConfig {
        images: 5,
        ..BatchConfig::default()
    };
    let refused = run_batch(heap, vm, "3 + 4", &config).unwrap_err();
    assert!(
        matches!(refused, BatchError::Heap(Error::TooManyImages { .. })),
        "{refused:?}"
    );
    drop(held);
    let report = run_batch(heap, vm, "3 + 4", &config).unwrap();
    assert!(report.runs.iter().all(|r| r.answer.as_deref() == Some("7")));
    assert_eq!(report.live_at_start, 5);
}
