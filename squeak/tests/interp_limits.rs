//! Limits and errors stop one image with a typed report; images beside it run on unharmed.

mod images_common;
mod interp_common;

use std::time::{Duration, Instant};

use cowheap::Value;
use cowheap_squeak::interp::new_heap;
use cowheap_squeak::interp::{Limits, RunError};
use interp_common::mini;

fn stop(expr: &str, limits: Limits) -> RunError {
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(limits);
    interp.evaluate(&mut image, expr).unwrap_err()
}

#[test]
fn each_limit_gives_its_own_typed_stop() {
    if interp_common::skip() {
        return;
    }
    let small = Limits {
        bytecodes: 10_000,
        private_bytes: 64 << 10,
        depth: 50,
        time: None,
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
    // perform: of a Symbol nobody understands is a doesNotUnderstand too, as on a real VM.
    match stop("3 perform: #fooBar with: 4", small) {
        RunError::DoesNotUnderstand { selector, class } => {
            assert_eq!(
                (selector.as_str(), class.as_str()),
                ("fooBar", "SmallInteger")
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
    // The cap counts live data: garbage is collected first (300 factorial's intermediate
    // LargeIntegers fit in 64 KiB once collected), so only live data beyond it stops an image.
    assert!(matches!(
        stop(
            "((1 to: 3000) collect: [:i | i printString]) size",
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
    // A name nobody declared is Undeclared's nil, as in the image's own compiler (which
    // compiles it, in about 20,000 bytecodes).
    assert!(matches!(
        stop("NoSuchGlobal foo", Limits::default()),
        RunError::DoesNotUnderstand { .. }
    ));
}

/// The default budget lets a long run end by the clock, not by a count that depends on the
/// machine's speed: the image's own `0 tinyBenchmarks` doubles its work until each of its two
/// parts takes a second, 4.4 x 10^9 bytecodes on a 2-core EPYC VM, and answers under the
/// defaults (it stopped at the old budget of 2 x 10^9).
#[test]
fn the_image_s_own_tiny_benchmarks_answer_under_the_default_limits() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits::default());
    let answer = interp.evaluate(&mut image, "0 tinyBenchmarks").unwrap();
    let text = interp.print_string(&mut image, answer).unwrap();
    let figures: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        text.ends_with(" sends/sec'") && figures.len() == 2 && figures.iter().all(|&n| n > 0),
        "{text}"
    );
}

#[test]
fn a_stopped_image_leaves_the_others_running() {
    if interp_common::skip() {
        return;
    }
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
            std::thread::spawn(move || {
                let mut image = new_heap(heap).unwrap();
                let limits = Limits {
                    bytecodes: budget,
                    private_bytes: 256 << 10,
                    ..Limits::default()
                };
                vm.interpreter(limits).evaluate(&mut image, e)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind().name(),
        "doesNotUnderstand"
    );
    assert_eq!(
        results[1].as_ref().unwrap_err().kind().name(),
        "bytecodeLimit"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().kind().name(),
        "allocationLimit"
    );
    for r in &results[3..] {
        assert_eq!(r.as_ref().unwrap(), &Value::small_int(57313).unwrap());
    }
    assert_eq!(heap.checksum(), before);
}

/// What used to stop at the cap for garbage runs to the end: the image's collector frees
/// what the loop drops, at sends, and the cap counts only what is live.
#[test]
fn garbage_never_reaches_the_cap() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits {
        bytecodes: 100_000_000,
        private_bytes: 64 << 10,
        depth: 1000,
        time: None,
    });
    let v = interp
        .evaluate(&mut image, "300 factorial printString size")
        .unwrap();
    assert_eq!(v, Value::small_int(615).unwrap());
    assert!(image.stats().collections > 0);
    assert!(image.peak_private_bytes() <= 64 << 10);
    // A private object the host kept from an earlier run, without passing it, is refused
    // (stale within the image's last 16 collections, foreign after), never read as another.
    let kept = interp.evaluate(&mut image, "Array new: 3").unwrap();
    interp
        .evaluate(
            &mut image,
            "(1 to: 3000) inject: 0 into: [:a :i | a + i printString size]",
        )
        .unwrap();
    assert!(image.stats().collections > 1);
    assert!(matches!(
        image.read(kept, 0),
        Err(cowheap::Error::StaleReference | cowheap::Error::ForeignReference(_))
    ));
}

/// The time budget holds whatever the image runs: a loop of bytecodes, one primitive copying
/// 100 MB (charged against the bytecode budget as it goes), become after become (each
/// charged). Each stops within a few milliseconds of the budget, and within the bytecode
/// budget when that is smaller. The copy, a word at a time, takes tens of milliseconds with
/// its two 100 MB Strings' allocation, so its budget is 10 ms, not 300.
#[test]
fn the_time_budget_holds_for_loops_copies_and_becomes() {
    if interp_common::skip() {
        return;
    }
    let budget = Duration::from_millis(300);
    let timed = |bytecodes| Limits {
        bytecodes,
        time: Some(budget),
        ..Limits::default()
    };
    let copy = "(String new: 100000000) replaceFrom: 1 to: 100000000 \
                with: (String new: 100000000) startingAt: 1";
    let becomes = "[:a | 1 to: 100000000 do: [:i | a become: Object new]] value: Object new";
    let short = Duration::from_millis(10);
    for (expr, budget) in [
        ("[true] whileTrue", budget),
        (copy, short),
        (becomes, budget),
    ] {
        let start = Instant::now();
        let limits = Limits {
            time: Some(budget),
            ..timed(u64::MAX)
        };
        assert_eq!(
            stop(expr, limits),
            RunError::TimeLimit { limit: budget },
            "{expr}"
        );
        // Generous for a loaded machine; without the checks these ran for minutes.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{expr}: {:?}",
            start.elapsed()
        );
    }
    // The copy's elements and the becomes count as bytecodes: a small budget stops them
    // long before their work is done.
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(Limits {
        time: None,
        ..timed(100_000)
    });
    let start = Instant::now();
    assert_eq!(
        interp.evaluate(&mut image, copy),
        Err(RunError::BytecodeLimit { limit: 100_000 })
    );
    assert!(interp.stats().bytecodes <= 100_000 + (1 << 16));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let mut image = new_heap(&loaded.heap).unwrap();
    assert_eq!(
        interp.evaluate(&mut image, becomes),
        Err(RunError::BytecodeLimit { limit: 100_000 })
    );
    // 100,000 bytecodes of becomes is fewer than a hundred of them (about 12 sends each);
    // uncharged, the loop's 50 bytecodes a turn would have made 2,000.
    assert!(interp.stats().sends < 2_000, "{:?}", interp.stats());
    // The stop's kind and name, for scripts.
    let e = RunError::TimeLimit { limit: budget };
    assert_eq!(e.kind().name(), "timeLimit");
    assert_eq!(e.to_string(), "time limit of 0.3 s reached");
    // No budget: no stop for time (and a copy that fits the bytecode budget answers).
    let mut interp = vm.interpreter(Limits {
        time: None,
        ..Limits::default()
    });
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut answer = |expr: &str| {
        let v = interp.evaluate(&mut image, expr).unwrap();
        interp.print_string(&mut image, v).unwrap()
    };
    assert_eq!(
        answer(
            "((String new: 200000) replaceFrom: 1 to: 200000 with: ((String new: 200000) \
             atAllPut: $x) startingAt: 1) last"
        ),
        "$x"
    );
    // The copy goes in chunks, first to last as the real VM's: onto the same object with
    // the destination after the source, what it wrote is what it reads on (every element
    // the first, across the chunks; bytes, which go in chunks as long as the distance, every
    // other one the first or the second); the other way, each element the one after it.
    assert_eq!(
        answer(
            "[:a | a replaceFrom: 2 to: 200000 with: a startingAt: 1. \
             (a at: 1) + (a at: 2) + (a at: 65538) + (a at: 131074) + (a at: 200000)] \
             value: (1 to: 200000) asArray"
        ),
        "5"
    );
    assert_eq!(
        answer(
            "[:a | 1 to: 200000 do: [:i | a at: i put: i \\\\ 256]. \
             a replaceFrom: 3 to: 200000 with: a startingAt: 1. \
             (a at: 65537) * 100 + ((a at: 65538) * 10) + (a at: 200000)] \
             value: (ByteArray new: 200000)"
        ),
        "122"
    );
    assert_eq!(
        answer(
            "[:a | a replaceFrom: 1 to: 199999 with: a startingAt: 2. \
             (a at: 1) + (a at: 65536) + (a at: 199999) + (a at: 200000)] \
             value: (1 to: 200000) asArray"
        ),
        (2 + 65537 + 200000 + 200000).to_string()
    );
}

/// The host's interrupt stops a run within milliseconds from another thread, and a batch
/// reports the images that finished beside the interrupted ones.
#[test]
fn an_interrupt_stops_a_run_and_a_batch() {
    if interp_common::skip() {
        return;
    }
    use cowheap_squeak::interp::{run_batch, BatchConfig, BatchProgress, StopKind};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (loaded, vm) = mini(0);
    let flag = Arc::new(AtomicBool::new(false));
    let no_time = Limits {
        time: None,
        ..Limits::default()
    };
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(no_time);
    interp.set_interrupt(Some(flag.clone()));
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let start = Instant::now();
    assert_eq!(
        interp.evaluate(&mut image, "[true] whileTrue"),
        Err(RunError::Interrupted)
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    setter.join().unwrap();
    // Cleared, the image runs again.
    interp.set_interrupt(None);
    assert_eq!(
        interp.evaluate(&mut image, "3 + 4"),
        Ok(Value::small_int(7).unwrap())
    );
    // A batch: two images answer, two loop until the interrupt.
    let flag = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(BatchProgress::default());
    let config = BatchConfig {
        images: 4,
        limits: no_time,
        interrupt: Some(flag.clone()),
        progress: Some(progress.clone()),
        ..BatchConfig::default()
    };
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            while progress.finished.load(Ordering::Relaxed) < 2 {
                std::thread::sleep(Duration::from_millis(10));
            }
            flag.store(true, Ordering::Relaxed);
        });
        run_batch(
            &loaded.heap,
            vm,
            "$i < 2 ifTrue: [$i] ifFalse: [[true] whileTrue]",
            &config,
        )
        .unwrap()
    });
    assert!(report.interrupted);
    assert_eq!(report.finished().count(), 2);
    assert_eq!(report.first_stop(), None);
    let kinds: Vec<_> = report
        .runs
        .iter()
        .map(|r| r.stopped.as_ref().map(|s| s.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            None,
            Some(StopKind::Interrupted),
            Some(StopKind::Interrupted)
        ]
    );
    assert_eq!(progress.finished.load(Ordering::Relaxed), 4);
    assert!(report.base_unchanged());
}

/// Work that runs few bytecodes still counts against the budget and brings the next look at
/// the clock and the host's interrupt closer: a new object's size and a collection's space
/// (a bytecode per 16 bytes, as a copy's). A loop of large allocations or of collections
/// used to run thousands of them, seconds past any time limit, between two looks; it now
/// stops at the bytecode budget after a few turns.
#[test]
fn allocations_and_collections_are_work_against_the_budget() {
    if interp_common::skip() {
        return;
    }
    let limits = Limits {
        bytecodes: 10_000_000,
        private_bytes: 64 << 20,
        depth: 1000,
        time: None,
    };
    for expr in [
        "[true] whileTrue: [Array new: 1000000]",
        "[true] whileTrue: [String new: 8000000]",
        "| a | a := Array new: 1000000. [true] whileTrue: [Smalltalk garbageCollect]",
    ] {
        let (loaded, vm) = mini(0);
        let mut image = new_heap(&loaded.heap).unwrap();
        let mut interp = vm.interpreter(limits);
        let e = interp.evaluate(&mut image, expr).unwrap_err();
        assert_eq!(e, RunError::BytecodeLimit { limit: 10_000_000 }, "{expr}");
        // Each turn charged 500,000: a few dozen turns, not millions.
        assert!(
            interp.stats().bytecodes < 10_000,
            "{expr}: {:?}",
            interp.stats()
        );
    }
}

/// A depth limit past the default and past what the allocation cap allows stops at one
/// activation per `ACTIVATION_BYTES` of the cap: a deep recursion's frames live outside the
/// private space, and used to grow until the process's allocator aborted it (a depth limit
/// of 10^8 took 4 GiB). Up to the default (100,000) a depth limit holds whatever the cap.
#[test]
fn the_depth_a_run_reaches_is_bounded_by_the_allocation_cap() {
    if interp_common::skip() {
        return;
    }
    use cowheap_squeak::interp::ACTIVATION_BYTES;
    let limits = Limits {
        depth: usize::MAX,
        private_bytes: 256 << 20,
        ..Limits::default()
    };
    let bound = (256 << 20) / ACTIVATION_BYTES;
    assert_eq!(limits.depth_reached(), bound);
    assert_eq!(Limits::default().depth_reached(), Limits::default().depth);
    let small_cap = Limits {
        private_bytes: 64 << 10,
        ..Limits::default()
    };
    assert_eq!(small_cap.depth_reached(), Limits::default().depth);
    let (loaded, vm) = mini(0);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp = vm.interpreter(limits);
    let e = interp
        .evaluate_with_compiler(
            &mut image,
            "Object compile: 'deeper ^self deeper' classified: 'x' notifying: nil. Object new deeper",
        )
        .unwrap_err();
    assert_eq!(e, RunError::DepthLimit { limit: bound });
}
