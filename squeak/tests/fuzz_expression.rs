//! The expression target (`fuzz/fuzz_targets/expression.rs`) as a bounded property test on
//! stable: edits of expressions of every syntax, and arbitrary text, are parse errors or parse;
//! with the mini image present, each is also compiled and run in a fresh image under small
//! limits and ends with an answer or a typed stop.

mod fuzz_common;

use cowheap_stress::fuzz::{mutate, Edit};
use fuzz_common::{expression, EXPRESSIONS};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn edits_of_expressions_parse_or_are_refused(
        which in any::<usize>(),
        edits in prop::collection::vec(any::<Edit>(), 1..4),
    ) {
        expression(&mutate(EXPRESSIONS[which % EXPRESSIONS.len()].as_bytes(), &edits));
    }

    #[test]
    fn arbitrary_text_parses_or_is_refused(text in "[ -~\n]{0,64}") {
        expression(text.as_bytes());
    }

    #[test]
    fn deep_nesting_is_refused_in_time(depth in 0usize..5000, open in "[(\\[{]") {
        expression(open.repeat(depth).as_bytes());
    }
}

/// The seeds parse.
#[test]
fn the_seeds_parse() {
    for e in EXPRESSIONS {
        assert!(expression(e.as_bytes()), "{e}");
    }
}
