//! Limits and errors stop one image with a typed report; images beside it run on unharmed.

mod interp_common;

use std::process::Command;

use cowheap::interp::{Limits, RunError};
use cowheap::Value;
use interp_common::mini;

fn stop(expr: &str, limits: Limits) -> RunError {
    let (loaded, vm) = mini(0);
    let mut image = loaded.heap.new_image().unwrap();
    let mut interp = vm.interpreter(limits);
    interp.evaluate(&mut image, expr).unwrap_err()
}

#[test]
fn each_limit_gives_its_own_typed_stop() {
    let small = Limits {
        bytecodes: 10_000,
        private_bytes: 64 << 10,
        depth: 50,
    };
    match stop("3 fooBar: 4", small) {
        RunError::DoesNotUnderstand { selector, class } => {
            assert_eq!(
                (selector.as_str(), class.as_str()),
                ("fooBar:", "SmallInteger")
            )
        }
        e => panic!("{e}"),
    }
    assert_eq!(
        stop("30 benchFib", small),
        RunError::BytecodeLimit { limit: 10_000 }
    );
    assert!(matches!(
        stop("(Array new: 100000) size", small),
        RunError::AllocationLimit { limit: 65536, .. }
    ));
    assert!(matches!(
        stop(
            "300 factorial printString size",
            Limits {
                bytecodes: 10_000_000,
                depth: 1000,
                ..small
            }
        ),
        RunError::AllocationLimit { limit: 65536, .. }
    ));
    assert_eq!(
        stop("60 benchFib", Limits { depth: 40, ..small }),
        RunError::DepthLimit { limit: 40 }
    );
    match stop("(Array new: 3) at: 4", Limits::default()) {
        RunError::SmalltalkError { message } => assert!(message.contains("4"), "{message}"),
        e => panic!("{e}"),
    }
    assert!(matches!(stop("3 + (", small), RunError::Parse(_)));
    assert!(matches!(
        stop("NoSuchGlobal foo", small),
        RunError::Parse(_)
    ));
}

#[test]
fn a_stopped_image_leaves_the_others_running() {
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let before = heap.checksum();
    let exprs = [
        ("3 zork", 1_000_000_000),
        ("200 benchFib", 100_000),
        ("(String new: 1000000) size", 1_000_000_000),
        ("22 benchFib", 1_000_000_000),
        ("22 benchFib", 1_000_000_000),
    ];
    let handles: Vec<_> = exprs
        .iter()
        .map(|&(e, budget)| {
            let vm = vm.clone();
            heap.spawn_image(move |image| {
                let limits = Limits {
                    bytecodes: budget,
                    private_bytes: 256 << 10,
                    ..Limits::default()
                };
                vm.interpreter(limits).evaluate(image, e)
            })
            .unwrap()
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results[0].as_ref().unwrap_err().kind(), "doesNotUnderstand");
    assert_eq!(results[1].as_ref().unwrap_err().kind(), "bytecodeLimit");
    assert_eq!(results[2].as_ref().unwrap_err().kind(), "allocationLimit");
    for r in &results[3..] {
        assert_eq!(r.as_ref().unwrap(), &Value::small_int(57313).unwrap());
    }
    assert_eq!(heap.checksum(), before);
}

#[test]
fn the_command_exits_with_a_code_per_kind_of_stop() {
    let image = "../shared/images/mini-2.2-v3-le.image";
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cowheap"))
            .arg("run")
            .arg(image)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["10 benchFib"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("177\n") && out.contains("base unchanged: yes"),
        "{out}"
    );
    let (code, out) = run(&["3 zork"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("SmallInteger does not understand #zork"),
        "{out}"
    );
    assert_eq!(
        run(&["--bytecodes-limit", "1000", "25 benchFib"]).0,
        Some(4)
    );
    assert_eq!(
        run(&["--alloc-limit", "10000", "Array new: 5000"]).0,
        Some(5)
    );
    assert_eq!(run(&["--depth-limit", "10", "25 benchFib"]).0, Some(6));
    let (code, out) = run(&["--images", "3", "--json", "$i + 1"]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let answers: Vec<_> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["answer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(answers, ["1", "2", "3"]);
    assert_eq!(report["checksum_before"], report["checksum_after"]);
}
