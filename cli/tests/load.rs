//! `cowheap load`'s command line: bounded flags (an overflowing count or duration is a usage
//! error, exit 2) and a failed run's exit code and JSON report. Runs against a real server are
//! in `serve/tests/`.

mod common;

use common::{cowheap, text};

fn load(args: &[&str]) -> std::process::Output {
    let mut all = vec!["load"];
    all.extend_from_slice(args);
    cowheap(&all)
}

#[test]
fn bad_flags_are_usage_errors() {
    let url = "http://127.0.0.1:9";
    for bad in [
        &["--url", url, "--sessions", "0"][..],
        &["--url", url, "--sessions", "4294967297"],
        &["--url", url, "--sessions", "99999999999999999999999"],
        &["--url", url, "--requests", "0"],
        &["--url", url, "--requests", "18446744073709551616"],
        &["--url", url, "--duration", "99999999999999999999s"],
        &["--url", url, "--duration", "2days"],
        &["--url", url, "--duration", "0s"],
        &["--url", url, "--duration", "-1"],
        &["--url", url, "--timeout", "soon"],
        &["--url", url, "--retry-for", "1e30"],
        &["--url", url, "--think", "25h"],
        &["--url", url, "--mix", "counter:0"],
        &["--url", url, "--mix", "fib:1"],
        &["--url", url, "--mix", "counter:99999999999999"],
        &["--url", "https://127.0.0.1:9"],
        &["--url", "127.0.0.1:9"],
        &["--url", "http://127.0.0.1:9/sessions"],
        &["--sessions", "1"],
    ] {
        let out = load(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("error:"), "{bad:?}");
    }
}

#[test]
fn a_run_whose_host_never_answers_fails_with_its_report() {
    // A port that was bound and released: every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = load(&[
        "--url",
        &url,
        "--sessions",
        "2",
        "--retry-for",
        "200ms",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sessions_created"], 0);
    assert_eq!(report["errors"]["gave_up"], 2);
    assert!(report["errors"]["connect"].as_u64().unwrap() > 0);
    assert_eq!(report["violations"], 2);
}
