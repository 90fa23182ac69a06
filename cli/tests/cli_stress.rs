//! `cowheap stress` end to end: the binary passes a small run, emits parseable JSON, churns,
//! runs for a duration, and fails when a fault is injected. Exit codes and bad arguments are
//! in `exit_codes.rs`, the JSON schema in `json_schema.rs`.

mod common;

use common::{stress, text, SMALL};

#[test]
fn a_small_run_passes() {
    let out = stress(SMALL);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("PASS")), "{stdout}");
    for label in [
        "COW copies",
        "collections",
        "entries",
        "fix-ups",
        "per image",
        "vs full copy",
    ] {
        assert!(stdout.contains(label), "no {label:?} in\n{stdout}");
    }
}

#[test]
fn the_json_report_parses_and_has_the_figures() {
    let mut args = SMALL.to_vec();
    args.push("--json");
    let out = stress(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["verdict"], "PASS");
    assert_eq!(report["config"]["images"], 6);
    assert_eq!(report["throughput"]["total_ops"], 18_000);
    assert_eq!(report["lifetimes"]["total"], 6);
    for path in [
        "/timing/setup_s",
        "/timing/run_s",
        "/throughput/aggregate_ops_per_s",
        "/throughput/per_image/median",
        "/throughput/per_image/p99",
        "/heap/cow_copies",
        "/heap/forwarders",
        "/heap/entries",
        "/heap/fixups",
        "/heap/becomes",
        "/memory/base_bytes",
        "/memory/private_bytes_mean",
        "/memory/private_bytes_max",
        "/memory/full_copy_bytes_per_image",
        "/memory/private_to_full_copy_ratio",
        "/memory/live_private_bytes",
        "/memory/freed_private_bytes",
    ] {
        assert!(
            report.pointer(path).is_some_and(|v| v.is_number()),
            "{path} missing"
        );
    }
    assert!(report["heap"]["cow_copies"].as_u64().unwrap() > 0);
    assert_eq!(report["heap"]["entries_after_teardown"], 0);
    assert_eq!(report["memory"]["live_private_bytes"], 0);
    assert_eq!(report["verification"]["violations_total"], 0);
    assert_eq!(
        report["verification"]["base_checksum_before"],
        report["verification"]["base_checksum_after"]
    );
}

#[test]
fn churn_reuses_ids_and_frees_everything() {
    let out = stress(&[
        "--images",
        "4",
        "--ops",
        "500",
        "--objects",
        "3000",
        "--churn",
        "40",
        "--json",
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "PASS");
    assert_eq!(report["lifetimes"]["total"], 40);
    assert_eq!(report["lifetimes"]["ended_during_run"], 36);
    assert!(report["lifetimes"]["id_reuses"].as_u64().unwrap() > 0);
    assert_eq!(report["lifetimes"]["live_images_after_teardown"], 0);
    assert_eq!(report["heap"]["entries_after_teardown"], 0);
    assert!(report["memory"]["freed_private_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_duration_run_passes() {
    let out = stress(&[
        "--images",
        "3",
        "--duration",
        "300ms",
        "--objects",
        "2000",
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("PASS"));
}

#[test]
fn the_fault_injection_hook_is_hidden() {
    let out = stress(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("--churn") && help.contains("--skew"),
        "{help}"
    );
    assert!(!help.contains("inject"), "{help}");
}

#[test]
fn an_injected_fault_is_reported_and_fails_the_run() {
    let mut args = SMALL.to_vec();
    args.push("--inject-fault");
    let out = stress(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let violation = stdout
        .lines()
        .find(|l| l.starts_with("VIOLATION"))
        .unwrap_or_else(|| panic!("no violation in\n{stdout}"));
    // Which image, which object, what was expected and what was seen.
    assert!(violation.contains("image 0"), "{violation}");
    assert!(violation.contains("object @"), "{violation}");
    assert!(violation.contains("expected"), "{violation}");
    assert!(violation.contains("seen 777777777"), "{violation}");
    assert!(stdout.lines().any(|l| l.starts_with("FAIL")), "{stdout}");

    args.push("--json");
    let out = stress(&args);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "FAIL");
    assert_eq!(report["verification"]["violations_total"], 1);
    assert_eq!(report["verification"]["violations"][0]["image"], 0);
}

#[test]
fn a_real_image_base_passes() {
    let Some(path) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let out = stress(&["--base", &path, "--images", "4", "--ops", "2000", "-q"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("PASS"), "{stdout}");
}

/// Collections in the op mix: they happen, free memory, are checked against the shadow models
/// (the run passes), and are reported in the table and the JSON, with and without churn.
#[test]
fn collections_free_memory_and_are_reported() {
    for churn in [false, true] {
        let mut args = vec![
            "--images",
            "4",
            "--ops",
            "4000",
            "--objects",
            "3000",
            "--alloc-ratio",
            "0.05",
            "--forget-ratio",
            "0.04",
            "--collect-ratio",
            "0.002",
            "-q",
        ];
        if churn {
            args.extend(["--churn", "12"]);
        }
        let out = stress(&args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("collections"))
            .unwrap_or_else(|| panic!("no collections row in\n{stdout}"));
        assert!(
            row.contains("freed") && row.contains("pause longest"),
            "{row}"
        );
        args.push("--json");
        let out = stress(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
        assert_eq!(report["verdict"], "PASS");
        let gc = &report["gc"];
        let lifetimes = report["lifetimes"]["total"].as_u64().unwrap();
        assert!(
            gc["collections"].as_u64().unwrap() >= lifetimes,
            "about 8 collections per lifetime: {gc}"
        );
        assert!(gc["freed_bytes"].as_u64().unwrap() > 0, "{gc}");
        assert!(gc["handles_forgotten"].as_u64().unwrap() > 0, "{gc}");
        let longest = gc["longest_pause_ms"].as_f64().unwrap();
        let mean = gc["mean_pause_ms"].as_f64().unwrap();
        assert!(longest > 0.0 && mean > 0.0 && mean <= longest, "{gc}");
        assert_eq!(report["config"]["collect_ratio"], 0.002);
        assert_eq!(report["config"]["forget_ratio"], 0.04);
    }
    // Collections off: none happen, and the figures say so.
    let mut args = SMALL.to_vec();
    args.extend(["--collect-ratio", "0", "--json"]);
    let out = stress(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "PASS");
    assert_eq!(report["gc"]["collections"], 0);
    assert_eq!(report["gc"]["freed_bytes"], 0);
    assert_eq!(report["gc"]["longest_pause_ms"], 0.0);
}
