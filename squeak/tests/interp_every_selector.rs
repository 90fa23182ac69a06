//! Every selector of the image, each sent to three of a handful of receivers with a few kinds of argument:
//! each run answers or stops with a typed report, never a panic, and never with `Malformed` or
//! `Heap` (the image's own methods are well formed, so either would be an interpreter bug).

mod images_common;
mod interp_common;

use std::collections::BTreeMap;

use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{Limits, RunError};
use cowheap_squeak::loader::{class_name, string_value};
use interp_common::mini;

/// One expression per (selector, receiver) pair: every lower-case unary or keyword selector
/// of up to two parts, each sent to three of a handful of receivers, with a few kinds of
/// argument.
fn expressions(heap: &cowheap::BaseHeap) -> Vec<String> {
    let mut selectors: Vec<String> = heap
        .objects()
        .filter(|&o| {
            heap.original_class(o)
                .ok()
                .and_then(|c| class_name(heap, c))
                .as_deref()
                == Some("Symbol")
        })
        .filter_map(|o| string_value(heap, o))
        .filter(|s| s.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == ':'))
        .filter(|s| s.matches(':').count() <= 2 && (s.ends_with(':') || !s.contains(':')))
        .collect();
    selectors.sort();
    assert!(selectors.len() > 2000, "{} selectors", selectors.len());
    let receivers = [
        "3",
        "'abc'",
        "#(1 $a)",
        "nil",
        "Object new",
        "(1/2)",
        "1000000000000",
        "$a",
        "Object",
    ];
    let args = ["1", "'x'", "nil", "#(3 4)", "0", "-1"];
    selectors
        .iter()
        .flat_map(|s| (0..3).map(move |k| (k, s)))
        .enumerate()
        .map(|(n, (k, s))| {
            let r = receivers[(n / 3 + k * 4) % receivers.len()];
            let a = args[n % args.len()];
            match s.matches(':').count() {
                0 => format!("{r} {s}"),
                1 => format!("{r} {s} {a}"),
                _ => {
                    let (k1, k2) = s.split_at(s.find(':').unwrap() + 1);
                    format!("{r} {k1} {a} {k2} {a}")
                }
            }
        })
        .collect()
}

const LIMITS: Limits = Limits {
    bytecodes: 100_000,
    private_bytes: 2 << 20,
    depth: 1000,
    time: None,
};

#[test]
fn every_selector_answers_or_stops_cleanly() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let mut kinds = BTreeMap::new();
    for expr in expressions(heap) {
        // A fresh image each time: a run may well `become:` a class into something else,
        // after which that image cannot run anything (nor could a real VM).
        let mut image = new_heap(heap).unwrap();
        let mut interp = vm.interpreter(LIMITS);
        let result = interp.evaluate(&mut image, &expr);
        if let Err(e @ (RunError::Malformed(_) | RunError::Heap(_))) = &result {
            panic!("{expr}: {e}");
        }
        let kind = result.map_or_else(|e| e.kind().name(), |_| "answered");
        *kinds.entry(kind).or_insert(0usize) += 1;
    }
    assert!(kinds["answered"] > 100, "{kinds:?}");
    assert!(kinds["doesNotUnderstand"] > 100, "{kinds:?}");
}

/// The same runs with and without the reuse of dead contexts: the same outcomes. Answers are
/// compared by their printString (made with reuse off), stops by kind, the answers of hash
/// selectors not at all.
#[test]
fn context_reuse_changes_no_outcome() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let mut differ = Vec::new();
    let mut compared = 0;
    for expr in expressions(heap) {
        let outcome = |reuse: bool| {
            let mut image = new_heap(heap).unwrap();
            let mut interp = vm.interpreter(LIMITS);
            interp.set_context_reuse(reuse);
            let r = interp.evaluate(&mut image, &expr);
            interp.set_context_reuse(false);
            match r {
                Ok(v) => interp
                    .print_string(&mut image, v)
                    .unwrap_or_else(|e| format!("printString stopped: {}", e.kind())),
                Err(e) => format!("stopped: {}", e.kind()),
            }
        };
        compared += 1;
        let (on, off) = (outcome(true), outcome(false));
        // Identity hashes come from the allocation sequence, which reuse shortens.
        let hashes = expr.contains("ash") || expr.contains("Oop");
        let kind = |o: &str| o.starts_with("stopped").then(|| o.to_owned());
        if on != off && (!hashes || kind(&on) != kind(&off)) {
            differ.push(format!("{expr}: {on} / {off}"));
        }
    }
    assert!(compared > 6000);
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
