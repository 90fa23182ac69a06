//! `cowheap run`: one exit code per kind of stop, after the codes every subcommand shares.

mod common;

#[test]
fn the_command_exits_with_a_code_per_kind_of_stop() {
    // Without the shared images this skips; CI has them and sets COWHEAP_REQUIRE_IMAGES=1, so
    // there a missing image fails the test.
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", image.as_str()];
        all.extend_from_slice(args);
        let out = common::cowheap(&all);
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
    assert_eq!(code, Some(5), "{out}");
    assert!(
        out.contains("SmallInteger does not understand #zork"),
        "{out}"
    );
    assert_eq!(
        run(&["--bytecodes-limit", "1000", "25 benchFib"]).0,
        Some(6)
    );
    assert_eq!(
        run(&["--alloc-limit", "10000", "Array new: 5000"]).0,
        Some(7)
    );
    assert_eq!(run(&["--depth-limit", "10", "25 benchFib"]).0, Some(8));
    let answers_of = |report: &serde_json::Value| -> Vec<String> {
        let runs = report["runs"].as_array().unwrap();
        runs.iter()
            .map(|r| r["answer"].as_str().unwrap().to_owned())
            .collect()
    };
    let (code, out) = run(&["--images", "3", "--json", "$i + 1"]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answers_of(&report), ["1", "2", "3"]);
    // The same on a pool of two workers: all made first, listed by number.
    let (code, pooled) = run(&["--images", "3", "--threads", "2", "--json", "$i + 1"]);
    assert_eq!(code, Some(0), "{pooled}");
    let pooled: serde_json::Value = serde_json::from_str(&pooled).unwrap();
    assert_eq!(answers_of(&pooled), ["1", "2", "3"]);
    assert_eq!(run(&["--threads", "0", "3"]).0, Some(2));
    assert_eq!(report["checksum_before"], report["checksum_after"]);
    assert_eq!(report["base_unchanged"], true);
    assert!(report["bytecodes_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["sends_per_sec"].as_f64().unwrap() > 0.0);
    for r in report["runs"].as_array().unwrap() {
        for field in ["bytecodes", "sends", "copies", "private_bytes"] {
            assert!(r[field].is_u64(), "{field}: {r}");
        }
        assert!(r["bytecodes_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["sends_per_sec"].is_f64(), "{r}");
    }
    // An expression that does not parse is a usage error, for the expression compiler and
    // for the image's own (its message and column, not a doesNotUnderstand in its notifier).
    let (code, out) = run(&["3 +"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("stopped (parse)") && out.contains("column 4"),
        "{out}"
    );
    let (code, out) = run(&["--eval", "3 +"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("stopped (parse)") && out.contains("column 4: Argument expected"),
        "{out}"
    );
    // A stop in JSON: its kind and message, and the exit code of that kind.
    let (code, out) = run(&["--json", "3 zork"]);
    assert_eq!(code, Some(5), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["runs"][0]["stopped"]["kind"], "doesNotUnderstand");
    assert_eq!(report["runs"][0]["answer"], serde_json::Value::Null);
}

#[test]
fn deep_or_long_text_is_an_answer_or_a_typed_stop_never_an_abort() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", image.as_str()];
        all.extend_from_slice(args);
        let out = common::cowheap(&all);
        let text = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
        (out.status.code(), text)
    };
    // Each of these aborted the process (stack overflow, exit 134) on an image thread's
    // 256 KiB stack.
    let terms = vec!["1"; 800].join("+");
    let (code, out) = run(&[&terms]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("800\n"), "{out}");
    for deep in [
        format!("{}1{}", "(".repeat(300), ")".repeat(300)),
        format!("{}1{}", "[".repeat(500), "]".repeat(500)),
    ] {
        let (code, out) = run(&[&deep]);
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains("stopped (parse)") && out.contains("nest more than"),
            "{out}"
        );
    }
    // The image's own compiler recurses in Smalltalk, on the interpreter's frames (a Vec):
    // deep text answers, or stops at the depth limit.
    let parens = format!("{}1{}", "(".repeat(300), ")".repeat(300));
    let (code, out) = run(&["--eval", &parens]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("1\n"), "{out}");
    let (code, out) = run(&["--eval", "--depth-limit", "200", &parens]);
    assert_eq!(code, Some(8), "{out}");
}

#[test]
fn the_time_limit_stops_an_image_with_exit_10() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", image.as_str()];
        all.extend_from_slice(args);
        let start = std::time::Instant::now();
        let out = common::cowheap(&all);
        let text = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
        (out.status.code(), text, start.elapsed())
    };
    // It ran to the default bytecode limit: 2 billion bytecodes, minutes.
    let (code, out, took) = run(&["--time-limit", "300ms", "[true] whileTrue"]);
    assert_eq!(code, Some(10), "{out}");
    assert!(
        out.contains("stopped (timeLimit): time limit of 0.3 s reached"),
        "{out}"
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    let (code, out, _) = run(&["--json", "--time-limit", "0.2", "[true] whileTrue"]);
    assert_eq!(code, Some(10), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["runs"][0]["stopped"]["kind"], "timeLimit");
    assert_eq!(run(&["--time-limit", "none", "3 + 4"]).0, Some(0));
    for bad in ["0", "-1s", "soon"] {
        let (code, out, _) = run(&["--time-limit", bad, "3 + 4"]);
        assert_eq!(code, Some(2), "{bad}: {out}");
    }
}

#[test]
fn help_names_every_image_format_it_runs() {
    let out = common::cowheap(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = common::text(&out.stdout);
    for format in ["6502", "6504", "6505", "Spur"] {
        assert!(help.contains(format), "no {format} in\n{help}");
    }
    assert!(help.contains("does not parse"), "{help}");
}

#[test]
fn each_image_s_transcript_is_reported_and_a_deadlock_exits_9() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", image.as_str(), "--eval"];
        all.extend_from_slice(args);
        let out = common::cowheap(&all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["Transcript show: 'hello'; cr. 3"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("3\ntranscript:\nhello\n"), "{out}");
    let (code, out) = run(&[
        "--images",
        "2",
        "--json",
        "Transcript show: 'image '; show: $i printString. $i",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let transcripts: Vec<_> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["transcript"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(transcripts, ["image 0", "image 1"]);
    let (code, out) = run(&["--json", "Semaphore new wait"]);
    assert_eq!(code, Some(9), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["runs"][0]["stopped"]["kind"], "deadlock");
}

/// A recursion the depth limit allows but the machine cannot hold (a process whose address
/// space is 1 GB, `ulimit -v`, asked for no depth limit at all) stops with a typed heap stop,
/// exit 9: the interpreter's frames and operand stack grow by fallible allocations. Before,
/// the process aborted ("memory allocation of 1073741824 bytes failed", SIGABRT).
#[test]
fn a_recursion_the_machine_cannot_hold_is_a_heap_stop_not_an_abort() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_cowheap");
    for expr in [
        "Object compile: 'zork ^self zork' classified: 'x' notifying: nil. 3 zork",
        "| a | a := OrderedCollection new. a add: a. a printString",
    ] {
        let script = "ulimit -v 1000000; exec \"$0\" run --json --time-limit 60s --alloc-limit 1p \
                      --depth-limit 18446744073709551615 \"$1\" \"$2\"";
        let out = std::process::Command::new("sh")
            .args(["-c", script, bin, &image, expr])
            .output()
            .unwrap();
        let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
        assert_eq!(out.status.code(), Some(9), "{expr}: {stdout}{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let stop = &report["runs"][0]["stopped"];
        assert_eq!(stop["kind"], "heap", "{expr}: {stop}");
        assert!(
            stop["message"]
                .as_str()
                .unwrap()
                .contains("interpreter's stacks"),
            "{expr}: {stop}"
        );
    }
}
