//! `GET /metrics` parses as the Prometheus text format (0.0.4), checked by a strict parser
//! here: names and labels by the format's grammar, one TYPE per family before its samples,
//! families not interleaved, histograms cumulative with `+Inf` equal to `_count`. And the
//! figures say what happened.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{base, config, temp, Host, INCREMENT};
use serde_json::json;

/// One sample: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(ok_first)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Parses `name{labels} value [timestamp]`.
fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line:?}"))?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end;
        loop {
            // label name
            let start = chars.peek().map(|&(i, _)| i).ok_or("unclosed labels")?;
            if inner[start..].starts_with('}') {
                end = start + 1;
                break;
            }
            let eq = inner[start..].find('=').ok_or("label without =")? + start;
            let lname = &inner[start..eq];
            if !is_name(lname, false) {
                return Err(format!("bad label name {lname:?}"));
            }
            while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut v = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    (_, '\\') => match chars.next().ok_or("bad escape")?.1 {
                        'n' => v.push('\n'),
                        '\\' => v.push('\\'),
                        '"' => v.push('"'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '"') => break,
                    (_, '\n') => return Err("newline in a label value".into()),
                    (_, c) => v.push(c),
                }
            }
            if labels.insert(lname.to_owned(), v).is_some() {
                return Err(format!("label {lname} twice"));
            }
            match chars.next().ok_or("unclosed labels")? {
                (_, ',') => continue,
                (i, '}') => {
                    end = i + 1;
                    break;
                }
                (_, c) => return Err(format!("unexpected {c:?} after a label")),
            }
        }
        rest = &inner[end..];
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let v = value(parts.next().ok_or("no value")?)?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("trailing text: {line:?}"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: v,
    })
}

/// The family a sample belongs to, given the families' types.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base;
            }
        }
    }
    name
}

/// Parses a whole exposition strictly.
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["TYPE", name, kind] => {
                    if !is_name(name, true) {
                        return Err(format!("bad name in TYPE: {name:?}"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(kind) {
                        return Err(format!("bad type {kind:?}"));
                    }
                    if types
                        .insert((*name).to_owned(), (*kind).to_owned())
                        .is_some()
                    {
                        return Err(format!("TYPE of {name} twice"));
                    }
                    if done.contains(*name) || current.as_deref() == Some(*name) {
                        return Err(format!("TYPE of {name} after its samples"));
                    }
                }
                ["HELP", name, ..] if !helps.insert((*name).to_owned()) => {
                    return Err(format!("HELP of {name} twice"));
                }
                _ => {}
            }
            continue;
        }
        let s = sample(line)?;
        let fam = family(&s.name, &types).to_owned();
        if !types.contains_key(&fam) {
            return Err(format!("{} has no TYPE", s.name));
        }
        if current.as_deref() != Some(&fam) {
            if done.contains(&fam) {
                return Err(format!("the samples of {fam} are not together"));
            }
            if let Some(prev) = current.replace(fam.clone()) {
                done.insert(prev);
            }
        }
        samples.push(s);
    }
    // Histograms: cumulative buckets, +Inf equal to _count.
    for (name, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
            .collect();
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            let le = value(b.labels.get("le").ok_or("a bucket without le")?)?;
            if le <= last.0 || b.value < last.1 {
                return Err(format!("{name}: buckets not cumulative at le={le}"));
            }
            last = (le, b.value);
        }
        let count = samples
            .iter()
            .find(|s| s.name == format!("{name}_count"))
            .ok_or(format!("{name} has no _count"))?;
        if last.0 != f64::INFINITY || last.1 != count.value {
            return Err(format!("{name}: +Inf bucket is not _count"));
        }
    }
    Ok(samples)
}

fn get<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn the_parser_refuses_what_the_format_does_not_allow() {
    let ok = "# HELP a x\n# TYPE a counter\na 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
    assert_eq!(parse(ok).unwrap().len(), 5);
    for bad in [
        "a 1\n",                                               // no TYPE
        "# TYPE a counter\na 1",                               // no final newline
        "# TYPE a counter\na one\n",                           // not a number
        "# TYPE a counter\na{x=1} 1\n",                        // unquoted label
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",            // a label twice
        "# TYPE 1a counter\n1a 1\n",                           // a bad name
        "# TYPE a counter\n# TYPE a gauge\na 1\n",             // two TYPEs
        "# TYPE a counter\n# TYPE b counter\na 1\nb 1\na 2\n", // interleaved
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_what_happened() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    for rid in 1..=3 {
        c.eval(
            &id,
            &token,
            &json!({"expression": INCREMENT, "request_id": rid}),
        );
    }
    c.eval(
        &id,
        &token,
        &json!({"expression": INCREMENT, "request_id": 3}),
    );
    c.eval(&id, &token, &json!({"expression": "nil foo"}));
    let r = c.get("/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let samples = parse(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body));
    let v = |name: &str, labels: &[(&str, &str)]| {
        get(&samples, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", r.body))
            .value
    };
    assert_eq!(v("cowheap_evaluations_total", &[]), 4.0);
    assert_eq!(v("cowheap_replays_total", &[]), 1.0);
    assert_eq!(v("cowheap_eval_seconds_count", &[]), 5.0);
    assert_eq!(
        v("cowheap_stops_total", &[("kind", "does_not_understand")]),
        1.0
    );
    assert_eq!(v("cowheap_sessions", &[("state", "live")]), 1.0);
    assert_eq!(v("cowheap_sessions", &[("state", "stored")]), 1.0);
    assert_eq!(v("cowheap_sessions", &[("state", "idle")]), 0.0);
    // The one session's lease, kept; none dropped.
    assert_eq!(v("cowheap_kept_leases", &[]), 1.0);
    assert_eq!(v("cowheap_kept_leases_dropped_total", &[]), 0.0);
    assert!(v("cowheap_private_bytes", &[]) > 0.0);
    assert!(get(&samples, "cowheap_forwarders", &[]).is_some());
    assert!(get(&samples, "cowheap_collections_total", &[]).is_some());
    assert!(get(&samples, "cowheap_collection_pause_seconds_count", &[]).is_some());
    let checksum = format!("{:016x}", base.0.checksum());
    assert_eq!(
        v("cowheap_base_checksum_info", &[("checksum", &checksum)]),
        1.0
    );
    assert_eq!(c.get("/healthz", None).body, "ok");
}
