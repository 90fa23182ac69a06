//! Every exit code `--help` documents, each from a command that must end with it, and every
//! class of bad argument, each in clap's one style with the usage exit code.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cowheap, stress, text, SMALL};

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["stress", "--help"],
        &["inspect", "--help"],
        &["run", "--help"],
    ] {
        let out = cowheap(args);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        let run = args[0] == "run";
        let codes = ["0 ", "1 ", "2 ", "3 ", "4 ", "130 "];
        let run_codes = ["5 ", "6 ", "7 ", "8 ", "9 ", "10 "];
        for line in codes.iter().chain(if run { &run_codes[..] } else { &[] }) {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(line)),
                "{args:?}: no exit code {line}in\n{help}"
            );
        }
    }
}

#[test]
fn success_is_0() {
    assert_eq!(stress(SMALL).status.code(), Some(0));
}

#[test]
fn a_violation_is_1() {
    let mut args = SMALL.to_vec();
    args.push("--inject-fault");
    let out = stress(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// Each class of bad argument, for both subcommands: clap's `error:` line, the usage, exit 2,
/// nothing on stdout. A value that starts with `-` is a flag, never a number.
#[test]
fn every_bad_argument_is_a_usage_error_in_one_style() {
    let cases: &[(&[&str], &str)] = &[
        // not a number
        (&["stress", "--images", "lots"], "--images"),
        (&["stress", "--seed", "x"], "--seed"),
        (&["inspect", "f.image", "--top", "many"], "--top"),
        // out of range
        (&["stress", "--images", "0"], "--images"),
        (&["stress", "--objects", "0"], "--objects"),
        (&["stress", "--write-ratio", "1.5"], "--write-ratio"),
        (&["stress", "--skew", "11"], "--skew"),
        (&["inspect", "f.image", "--top", "0"], "--top"),
        // bad unit, or below the minimum once the unit is applied
        (&["stress", "--stack-size", "1x"], "--stack-size"),
        (&["stress", "--stack-size", "32k"], "--stack-size"),
        (&["stress", "--duration", "soon"], "--duration"),
        (&["stress", "--duration", "0s"], "--duration"),
        // a flag where a value should be: never taken as a (negative) number
        (&["stress", "--ops", "--json"], "--ops"),
        (&["stress", "--seed", "-5"], "-5"),
        (&["stress", "--skew", "-1"], "-1"),
        // a missing value, an unknown flag, a missing file, an unknown subcommand
        (&["stress", "--images"], "--images"),
        (&["stress", "--frobnicate"], "--frobnicate"),
        (&["inspect", "--frobnicate"], "--frobnicate"),
        (&["inspect"], "<FILE>"),
        (&["frobnicate"], "frobnicate"),
        // settings that parse alone but not together: the harness refuses, clap reports
        (
            &["stress", "--write-ratio", "0.6", "--identity-ratio", "0.6"],
            "add up to 1.2322, more than 1",
        ),
        (&["stress", "--churn", "3", "--images", "5"], "--churn"),
    ];
    for &(args, needle) in cases {
        let out = cowheap(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Usage:") || stderr.contains("--help"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(".0000000") && !stderr.contains("9999999"),
            "float noise: {args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_unreadable_or_corrupt_file_is_3() {
    let dir = std::env::temp_dir().join(format!("cowheap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.image");
    std::fs::write(&garbage, b"this is not a Smalltalk image at all").unwrap();
    let garbage = garbage.to_str().unwrap();
    for args in [
        &["stress", "--base", "/nonexistent/no.image"][..],
        &["stress", "--base", garbage],
        &["inspect", "/nonexistent/no.image"],
        &["inspect", garbage],
    ] {
        let out = cowheap(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.starts_with("cowheap: "), "{args:?}: {stderr}");
        assert!(stderr.contains(args[args.len() - 1]), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_that_cannot_be_written_is_3() {
    let Ok(full) = std::fs::File::create("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .arg("stress")
        .args(SMALL)
        .stdout(full)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot write the report"), "{stderr}");
}

#[test]
fn a_thread_the_system_refuses_is_4() {
    // A 1 PiB stack is more than any address space maps, so the first image thread fails.
    let out = stress(&[
        "--stack-size",
        "1048576g",
        "--images",
        "3",
        "--objects",
        "1000",
        "-q",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("could not start image thread 0 of 3"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_prints_the_partial_report_and_is_130() {
    let child = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args([
            "stress",
            "--images",
            "2",
            "--objects",
            "2000",
            "--duration",
            "10m",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The handler is in place once the base is built, well within this in any build.
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a child's pid and SIGINT only sends a signal; it touches no memory.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(started.elapsed() < Duration::from_secs(60), "{stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the partial report is on stdout");
    assert_eq!(report["verdict"], "INTERRUPTED", "{report}");
    assert!(report["throughput"]["total_ops"].as_u64().unwrap() > 0);
    assert_eq!(report["verification"]["violations_total"], 0);
}

/// Runs `cowheap ARGS`, killing it if it is still running after `limit`.
fn cowheap_within(args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A deadline past what the clock can hold (it used to panic in every image thread) and a
/// sample that would check for days (it used to be accepted) are usage errors at once.
#[test]
fn a_runaway_duration_or_sample_is_a_usage_error() {
    let small = ["stress", "--images", "2", "--objects", "1000", "-q"];
    for (extra, flag) in [
        (&["--duration", "9300000000000000000s"][..], "--duration"),
        (&["--duration", "400days"], "--duration"),
        (&["--duration", "1e12"], "--duration"),
        (&["--sample", "99999999999"], "--sample"),
        (&["--sample", "1000001"], "--sample"),
    ] {
        let mut args = small.to_vec();
        args.extend_from_slice(extra);
        let out = cowheap_within(&args, Duration::from_secs(60));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // The bounds themselves are accepted (the run is cut short by its ops, not its duration).
    let mut args = small.to_vec();
    args.extend(["--sample", "1000000", "--ops", "50"]);
    let out = cowheap_within(&args, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// More images than the kernel's map limit allows threads for (`vm.max_map_count`; each thread
/// takes 4 maps) is refused before any thread starts: exit 4 and what to raise, instead of the
/// runtime's abort. `COWHEAP_MAX_MAP_COUNT` stands in for the kernel's limit.
#[test]
fn more_images_than_the_map_limit_allows_are_refused_with_advice_4() {
    for args in [
        &["stress", "--images", "300", "--objects", "1000", "-q"][..],
        &["run", "--images", "300", "/nonexistent/no.image", "3 + 4"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cowheap"))
            .args(args)
            .env("COWHEAP_MAX_MAP_COUNT", "1500")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {stderr}");
        assert!(stderr.contains("vm.max_map_count = 1500"), "{stderr}");
        assert!(stderr.contains("sysctl -w vm.max_map_count="), "{stderr}");
        assert!(stderr.contains("use fewer images"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Under the same limit, a few images still run.
    let out = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args(["stress", "--images", "3", "--objects", "1000", "-q"])
        .env("COWHEAP_MAX_MAP_COUNT", "1500")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `run`'s first Ctrl-C stops the images still running (within milliseconds) and prints the
/// report of those that finished, exit 130.
#[test]
fn ctrl_c_in_run_reports_the_images_that_finished_and_is_130() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    // Images 0 and 1 answer; 2 and 3 would loop until the time limit, which is off.
    let expr = "$i < 2 ifTrue: [20 benchFib] ifFalse: [[true] whileTrue]";
    for json in [false, true] {
        let mut args = vec![
            "run",
            image.as_str(),
            "--images",
            "4",
            "--time-limit",
            "none",
            expr,
        ];
        if json {
            args.insert(2, "--json");
        }
        let child = Command::new(env!("CARGO_BIN_EXE_cowheap"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The image loads in milliseconds, and 20 benchFib runs in one.
        std::thread::sleep(Duration::from_secs(2));
        let started = Instant::now();
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: kill(2) with a child's pid and SIGINT only sends a signal; it touches no
        // memory.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
        assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        if json {
            let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(report["interrupted"], true);
            let kinds: Vec<_> = report["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["stopped"]["kind"].as_str().unwrap_or("answered"))
                .collect();
            assert_eq!(
                kinds,
                ["answered", "answered", "interrupted", "interrupted"]
            );
            assert_eq!(report["base_unchanged"], true);
        } else {
            assert!(
                stdout.starts_with("interrupted: 2 of 4 images finished"),
                "{stdout}"
            );
            assert!(stdout.contains("2 answered, 0 stopped"), "{stdout}");
            assert!(stdout.contains("answer 21891"), "{stdout}");
            assert!(stdout.contains("base unchanged: yes"), "{stdout}");
        }
    }
}

/// A path that is not a regular file, or a file larger than any image, is refused before it
/// is read (exit 3), where `inspect /dev/zero` used to read until memory ran out and a pipe
/// waited for a writer forever.
#[test]
fn a_path_that_is_no_bounded_image_file_is_refused_3() {
    let dir = std::env::temp_dir().join(format!("cowheap-cli-bounded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe.image");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path creates a file; it touches no memory.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // Sparse: 3 GiB long, no disk.
    let huge = dir.join("huge.image");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let (fifo, huge, folder) = (
        fifo.to_str().unwrap(),
        huge.to_str().unwrap(),
        dir.to_str().unwrap(),
    );
    let cases = [
        ("/dev/zero", "a character device, not a regular file"),
        (fifo, "a pipe, not a regular file"),
        (folder, "a directory, not a regular file"),
        (huge, "3221225472 bytes, more than an image file may have"),
    ];
    for (path, why) in cases {
        for args in [
            &["inspect", path][..],
            &["run", path, "3 + 4"],
            &["stress", "--base", path],
        ] {
            let out = cowheap_within(args, Duration::from_secs(30));
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
            assert!(
                stderr.contains(path) && stderr.contains(why),
                "{args:?}: {stderr}"
            );
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
