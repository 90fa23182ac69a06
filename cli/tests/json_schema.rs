//! The `--json` reports against their documented schema, docs/JSON.md, both ways: every field
//! the tables list is in the output with the listed type, and every field of the output is
//! listed. A change to either side without the other fails here.

mod common;

use std::collections::BTreeMap;

use common::{cowheap, stress, text, SMALL};
use serde_json::Value;

/// The documented fields of one report, by path (`a.b`, `a[].b`), with their types. `report`
/// is the section's heading after `## `, up to its schema version: `cowheap stress --json`,
/// or `cowheap inspect --json` of a delta.
fn documented(report: &str) -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/JSON.md");
    let doc = std::fs::read_to_string(path).expect("docs/JSON.md is readable");
    let heading = format!("{report} (schema ");
    let section = doc
        .split("\n## ")
        .find(|s| s.lines().next().is_some_and(|l| l.starts_with(&heading)))
        .unwrap_or_else(|| panic!("no section {heading:?} in docs/JSON.md"));
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let field = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((field.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

/// Every field of a JSON value, by the same paths as the tables, with the values it took.
fn fields(value: &Value, path: &str, out: &mut BTreeMap<String, Vec<Value>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                // Objects are the tables' dotted paths, not fields of their own.
                if !v.is_object() {
                    out.entry(p.clone()).or_default().push(v.clone());
                }
                fields(v, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                fields(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn has_type(v: &Value, ty: &str) -> bool {
    if let Some(plain) = ty.strip_suffix(" or null") {
        return v.is_null() || has_type(v, plain);
    }
    if let Some(choices) = ty.strip_prefix("one of ") {
        return v
            .as_str()
            .is_some_and(|s| choices.split(", ").any(|c| c.trim_matches('"') == s));
    }
    match ty {
        "integer" => v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => panic!("docs/JSON.md: unknown type {ty:?}"),
    }
}

/// Checks `reports` (between them holding every field) against the `report` section.
fn check(report: &str, reports: &[Value]) {
    let doc = documented(report);
    assert!(doc.len() > 5, "{doc:?}");
    let mut seen = BTreeMap::new();
    for r in reports {
        fields(r, "", &mut seen);
    }
    for (field, ty) in &doc {
        let values = seen
            .get(field)
            .unwrap_or_else(|| panic!("{report}: documented field {field} is not in the output"));
        for v in values {
            assert!(has_type(v, ty), "{report}: {field} = {v} is not {ty}");
        }
    }
    for field in seen.keys() {
        assert!(
            doc.contains_key(field),
            "{report}: field {field} is not in docs/JSON.md"
        );
    }
}

fn json(args: &[&str]) -> Value {
    let out = cowheap(args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stderr)))
}

#[test]
fn the_stress_report_matches_its_schema() {
    let mut failing = vec!["stress"];
    failing.extend_from_slice(SMALL);
    failing.extend(["--json", "--inject-fault"]);
    let failing = json(&failing);
    assert_eq!(failing["verdict"], "FAIL");
    // A churn run until the time is up: unlimited lifetimes are null, not a sentinel number.
    let out = stress(&[
        "--images",
        "2",
        "--ops",
        "500",
        "--objects",
        "1000",
        "--duration",
        "300ms",
        "--churn",
        "--json",
        "-q",
    ]);
    let churn: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(churn["verdict"], "PASS");
    assert_eq!(churn["config"]["churn"], true);
    assert!(
        churn["config"]["lifetimes"].is_null(),
        "{}",
        churn["config"]
    );
    assert!(churn["memory"]["rss_timeline"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    for r in [&failing, &churn] {
        assert_eq!(r["schema_version"], 2);
    }
    check("`cowheap stress --json`", &[failing, churn]);
}

#[test]
fn the_inspect_report_matches_its_schema() {
    let Some(path) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let report = json(&["inspect", &path, "--json"]);
    assert_eq!(report["schema_version"], 1);
    check("`cowheap inspect --json`", &[report]);
}

#[test]
fn the_inspect_report_of_a_delta_matches_its_schema() {
    let dir = common::TempDir::new("schema");
    let mut args = common::saving_run("3");
    args.extend(["--save-deltas", dir.path()]);
    assert_eq!(stress(&args).status.code(), Some(0));
    let report = json(&["inspect", &dir.file("image-0.delta"), "--json"]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["kind"], "delta");
    check("`cowheap inspect --json` of a delta", &[report]);
}

#[test]
fn the_resume_report_matches_its_schema() {
    let dir = common::TempDir::new("schema-resume");
    let mut args = common::saving_run("3");
    args.extend(["--save-deltas", dir.path()]);
    assert_eq!(stress(&args).status.code(), Some(0));
    let mut args = vec!["stress"];
    args.extend(common::saving_run("3"));
    args.extend(["--resume-deltas", dir.path(), "--json"]);
    let report = json(&args);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["kind"], "resume");
    assert_eq!(report["images"], 3);
    assert_eq!(report["verdict"], "PASS");
    check("`cowheap stress --resume-deltas --json`", &[report]);
}

#[test]
fn the_run_report_matches_its_schema() {
    let Some(path) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let answered = json(&["run", "--images", "2", "--json", &path, "$i + 1"]);
    let stopped = json(&["run", "--json", &path, "3 zork"]);
    for r in [&answered, &stopped] {
        assert_eq!(r["schema_version"], 1);
        // Hex strings: a u64 does not survive a reader that parses numbers as doubles.
        let checksum = r["checksum_before"].as_str().expect("a string");
        assert_eq!(checksum.len(), 16, "{checksum}");
        assert!(
            checksum.chars().all(|c| c.is_ascii_hexdigit()),
            "{checksum}"
        );
        assert_eq!(r["checksum_before"], r["checksum_after"]);
    }
    assert_eq!(stopped["runs"][0]["stopped"]["kind"], "doesNotUnderstand");
    check("`cowheap run --json`", &[answered, stopped]);
}
