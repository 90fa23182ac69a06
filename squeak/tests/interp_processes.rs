//! The image's own processes on both byte orders of the mini image: fork, yield, semaphores,
//! priorities, Delays on the image's timer, a deadlock as a typed stop; and what each image
//! writes to its Transcript. The expected answers are the real VM's (Squeak 4.10 on the same
//! image, `/work/shared/realvm`), quoted beside each.

mod images_common;
mod interp_common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cowheap::Image;
use cowheap_squeak::interp::{run_batch, BatchConfig, Interpreter, Limits, RunError, StopKind};
use interp_common::{mini, IMAGES};

fn limits() -> Limits {
    Limits {
        time: Some(Duration::from_secs(20)),
        ..Limits::default()
    }
}

fn fresh(which: usize) -> (Image, Interpreter) {
    let (loaded, vm) = mini(which);
    (loaded.heap.new_image().unwrap(), vm.interpreter(limits()))
}

/// The answer's printString of Smalltalk source, run in `image`.
fn eval(image: &mut Image, interp: &mut Interpreter, source: &str) -> Result<String, RunError> {
    let v = interp.evaluate_with_compiler(image, source)?;
    interp.print_string(image, v)
}

fn check(source: &str, expected: &str) {
    for (which, file) in IMAGES.iter().enumerate() {
        let (mut image, mut interp) = fresh(which);
        let got = eval(&mut image, &mut interp, source);
        assert_eq!(got.as_deref(), Ok(expected), "{source} on {file}");
    }
}

#[test]
fn a_forked_process_runs_when_the_evaluating_one_yields() {
    if interp_common::skip() {
        return;
    }
    // Real VM: (2 1 3 ). The fork is ready at the same priority; `yield` (a Semaphore wait
    // in Squeak 2.2) lets it run first.
    check(
        "| s | s := OrderedCollection new. [s add: 1] fork. s add: 2. Processor yield. \
         s add: 3. s asArray",
        "(2 1 3 )",
    );
}

#[test]
fn the_yield_primitive_lets_a_ready_process_of_the_same_priority_run() {
    if interp_common::skip() {
        return;
    }
    // Squeak 2.2's `yield` is Smalltalk; a method with primitive 167 (as later images
    // have), installed by the image's compiler. Real VM: (2 1 ProcessorScheduler 3 ).
    check(
        "| s m | m := (Compiler new compile: 'yieldPrim <primitive: 167> ^#failed'          in: ProcessorScheduler notifying: nil ifFail: [nil]) generate: #(0 0 0 0).          ProcessorScheduler addSelector: #yieldPrim withMethod: m.          s := OrderedCollection new. [s add: 1] fork. s add: 2.          s add: Processor yieldPrim class name. s add: 3. s asArray",
        "(2 1 ProcessorScheduler 3 )",
    );
}

#[test]
fn semaphores_hand_control_between_processes() {
    if interp_common::skip() {
        return;
    }
    // Real VM: (0 1 3 2 ). A signal to a process of the same priority only readies it.
    check(
        "| s r | s := Semaphore new. r := OrderedCollection new. \
         [r add: 1. s signal. r add: 3] fork. r add: 0. s wait. r add: 2. r asArray",
        "(0 1 3 2 )",
    );
    // Real VM: (1 0 3 2 ). A higher priority runs at its resume and again at the signal.
    check(
        "| s r p | s := Semaphore new. r := OrderedCollection new. \
         p := [r add: 1. s wait. r add: 3] newProcess. p priority: Processor lowIOPriority. \
         p resume. r add: 0. s signal. r add: 2. r asArray",
        "(1 0 3 2 )",
    );
    // Real VM: (1 2 3 ). A process that suspends itself runs on at the next resume.
    check(
        "| p r | r := OrderedCollection new. \
         p := [r add: 1. Processor activeProcess suspend. r add: 3] newProcess. \
         p priority: 6. p resume. r add: 2. p resume. r asArray",
        "(1 2 3 )",
    );
}

#[test]
fn ready_processes_of_the_same_priority_wait_for_a_later_run() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        // Real VM: false. The do-it answers before the fork ran...
        let first = "Smalltalk at: #Ran put: false. [Smalltalk at: #Ran put: true] fork. \
                     Smalltalk at: #Ran";
        assert_eq!(eval(&mut image, &mut interp, first).as_deref(), Ok("false"));
        // ...which stays ready in the image, and runs when a later run yields to it.
        let later = "Processor yield. Smalltalk at: #Ran";
        assert_eq!(eval(&mut image, &mut interp, later).as_deref(), Ok("true"));
    }
}

#[test]
fn a_delay_waits_on_the_image_clock_and_the_wall_clock() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        let start = Instant::now();
        let waited = eval(
            &mut image,
            &mut interp,
            "| t | t := Time millisecondClockValue. (Delay forMilliseconds: 20) wait. \
             Time millisecondClockValue - t",
        )
        .unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
        assert!(waited.parse::<i64>().unwrap() >= 20, "{waited}");
        // The second Delay of the image finds the machinery running.
        let again = eval(
            &mut image,
            &mut interp,
            "(Delay forMilliseconds: 1) wait. 7",
        );
        assert_eq!(again.as_deref(), Ok("7"));
    }
}

#[test]
fn the_time_budget_holds_while_a_delay_waits() {
    if interp_common::skip() {
        return;
    }
    let (mut image, mut interp) = fresh(0);
    interp.set_limits(Limits {
        time: Some(Duration::from_millis(100)),
        ..Limits::default()
    });
    let start = Instant::now();
    let e = interp
        .evaluate_with_compiler(&mut image, "(Delay forMilliseconds: 10000) wait. 3")
        .unwrap_err();
    assert_eq!(e.kind(), StopKind::TimeLimit, "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_timer_preempts_a_busy_process_of_a_lower_priority() {
    if interp_common::skip() {
        return;
    }
    // Real VM: true. Nothing but the timer can end the loop: the process it wakes has the
    // higher priority and runs in the middle of it.
    check(
        "| done n p | done := false. n := 0. \
         p := [(Delay forMilliseconds: 20) wait. done := true] newProcess. \
         p priority: Processor lowIOPriority. p resume. \
         [done] whileFalse: [n := n + 1]. n > 0",
        "true",
    );
}

#[test]
fn a_delay_parks_only_its_own_image() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let heap = &loaded.heap;
    let waited = Arc::new(AtomicBool::new(false));
    let runs_meanwhile = Arc::new(AtomicUsize::new(0));
    let sleeper = {
        let (vm, waited) = (vm.clone(), waited.clone());
        heap.spawn_image(move |image| {
            let mut interp = vm.interpreter(limits());
            let r = interp.evaluate_with_compiler(image, "(Delay forMilliseconds: 300) wait. 1");
            waited.store(true, Ordering::SeqCst);
            r.map(|v| v.as_small_int())
        })
        .unwrap()
    };
    let worker = {
        let (vm, waited, runs) = (vm.clone(), waited.clone(), runs_meanwhile.clone());
        heap.spawn_image(move |image| {
            let mut interp = vm.interpreter(limits());
            while !waited.load(Ordering::SeqCst) {
                assert_eq!(
                    interp
                        .evaluate(image, "15 benchFib")
                        .unwrap()
                        .as_small_int(),
                    Some(1973)
                );
                runs.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap()
    };
    assert_eq!(sleeper.join().unwrap(), Ok(Some(1)));
    worker.join().unwrap();
    // The other image ran on while this one's thread slept.
    assert!(runs_meanwhile.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_deadlock_stops_the_image_with_a_report() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        let start = Instant::now();
        let e = interp
            .evaluate_with_compiler(&mut image, "Semaphore new wait. 3")
            .unwrap_err();
        assert_eq!(e.kind(), StopKind::Deadlock, "{e}");
        assert!(e.to_string().contains("deadlock"), "{e}");
        // Found, not waited out.
        assert!(start.elapsed() < Duration::from_secs(10));
        // Two processes waiting on each other's semaphores.
        let e = interp
            .evaluate_with_compiler(
                &mut image,
                "| a b | a := Semaphore new. b := Semaphore new. [a wait. b signal] fork. \
                 b wait. 3",
            )
            .unwrap_err();
        assert_eq!(e.kind(), StopKind::Deadlock, "{e}");
    }
}

#[test]
fn each_image_of_a_batch_keeps_its_own_transcript() {
    if interp_common::skip() {
        return;
    }
    let (loaded, vm) = mini(0);
    let config = BatchConfig {
        images: 8,
        compiler: true,
        limits: limits(),
        ..BatchConfig::default()
    };
    let report = run_batch(
        &loaded.heap,
        vm,
        "Transcript show: 'image '; show: $i printString; cr. \
         (Delay forMilliseconds: 5) wait. Transcript show: 'done '; show: $i printString; cr. $i",
        &config,
    )
    .unwrap();
    for r in &report.runs {
        assert_eq!(r.stopped, None);
        assert_eq!(
            r.transcript,
            format!("image {0}\ndone {0}\n", r.image),
            "image {}",
            r.image
        );
    }
    assert!(report.base_unchanged());
}

#[test]
fn the_transcript_is_taken_through_the_interpreter() {
    if interp_common::skip() {
        return;
    }
    for which in 0..IMAGES.len() {
        let (mut image, mut interp) = fresh(which);
        assert_eq!(interp.take_transcript(), "");
        // The `cr` is not ended by an `endEntry`: the run's end takes it.
        eval(&mut image, &mut interp, "Transcript show: 'x'; cr. 1").unwrap();
        assert_eq!(interp.take_transcript(), "x\n");
        assert_eq!(interp.take_transcript(), "", "taken once");
        // ...once: the next entry does not take it again.
        eval(&mut image, &mut interp, "Transcript show: 'y'. 1").unwrap();
        assert_eq!(interp.take_transcript(), "y");
        // Another TranscriptStream's entries are the image's output too.
        eval(
            &mut image,
            &mut interp,
            "(TranscriptStream on: (String new: 10)) show: 'w'. 1",
        )
        .unwrap();
        assert_eq!(interp.take_transcript(), "w");
    }
}
