//! The conformance battery: cowheap gives the real Squeak VM's answers.
//!
//! `tests/conformance/battery.txt` lists expressions across the Mini Squeak 2.2 kernel;
//! `tests/conformance/expected.tsv` holds what the real VM (Debian squeak-vm 4.10) answered to
//! each, written by `tests/conformance/realvm.py` (this test needs no VM: the answers are
//! checked in). Every expression runs here in a fresh image of the little-endian mini image, and
//! the test reports every difference. Those already known are in
//! `tests/conformance/known_differences.txt`, grouped under their reasons; the test fails on a
//! difference that is not listed there, and on a listed one that no longer differs, so the list
//! shrinks as the interpreter is fixed. After a fix (or a regeneration),
//!
//! ```text
//! cargo xtask conformance --bless
//! COWHEAP_CONFORMANCE_BLESS=1 cargo test --release -p cowheap-squeak --test conformance
//! ```
//!
//! rewrites only the known-differences file: fixed lines go, reasons stay, new differences are
//! added under a heading that says their reason is still to be written.

mod images_common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cowheap_squeak::interp::{new_heap, Limits, RunError, Vm};
use cowheap_squeak::loader;

const IMAGE: &str = "mini-2.2-v3-le.image";
const BLESS_VAR: &str = "COWHEAP_CONFORMANCE_BLESS";
/// The heading `bless` files new differences under.
const NEW_REASON: &str = "NEW: reason not yet written (what cowheap does, what the real VM does)";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// One answer: `answer` (a printString), `stop` (the message the run stopped with) or, in the
/// expected file, `math` (an answer the reference VM cannot give, compared as an answer).
/// `detail` is cowheap's own account of a stop (its kind, and the primitive that failed last),
/// for the reports only.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    kind: String,
    text: String,
    detail: Option<String>,
}

impl Outcome {
    fn same_as(&self, cowheap: &Outcome) -> bool {
        let kind = if self.kind == "math" {
            "answer"
        } else {
            &self.kind
        };
        kind == cowheap.kind && self.text == cowheap.text
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.text)?;
        match &self.detail {
            Some(d) if *d != self.text => write!(f, " [cowheap: {d}]"),
            _ => Ok(()),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// expected.tsv: (expression, the real VM's outcome), in battery order.
fn expected() -> Vec<(String, Outcome)> {
    let text = std::fs::read_to_string(dir().join("expected.tsv")).expect("expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with("--") && !l.is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let (Some(e), Some(kind), Some(t), None) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                panic!("expected.tsv: not three columns: {l:?}")
            };
            let outcome = Outcome {
                kind: kind.to_owned(),
                text: unescape(t),
                detail: None,
            };
            (unescape(e), outcome)
        })
        .collect()
}

/// battery.txt's expressions, in order (see its header: `--` comments, `[Category]`,
/// `%math ANSWER` lines, the rest expressions).
fn battery() -> Vec<String> {
    let text = std::fs::read_to_string(dir().join("battery.txt")).expect("battery.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--") && !l.starts_with("%math "))
        .filter(|l| !(l.starts_with('[') && l.ends_with(']')))
        .map(str::to_owned)
        .collect()
}

/// known_differences.txt: reasons in file order, each with its expressions. Lines: `-- ...`
/// comments, `## REASON`, and `EXPRESSION<TAB>what cowheap answered` (the second column is
/// for the reader; only the expression counts).
fn known() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(dir().join("known_differences.txt")).unwrap_or_default();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        if let Some(reason) = line.strip_prefix("## ") {
            out.push((reason.to_owned(), Vec::new()));
            continue;
        }
        let expr = unescape(line.split('\t').next().unwrap_or(line));
        match out.last_mut() {
            Some((_, exprs)) => exprs.push(expr),
            None => panic!("known_differences.txt: {line:?} comes before any `## reason`"),
        }
    }
    out
}

/// What cowheap makes of `expr`, in the real VM's terms: the printString of the answer, or the
/// message an error stops with (`error:`'s argument; a doesNotUnderstand: as Squeak 2.2's
/// error handler hears it). Other stops cannot match and are named as cowheap's.
fn run(vm: &Vm, loaded: &loader::Loaded, expr: &str) -> Outcome {
    let limits = Limits {
        bytecodes: 400_000_000,
        private_bytes: 256 << 20,
        depth: 100_000,
        time: Some(Duration::from_secs(20)),
    };
    let mut image = new_heap(&loaded.heap).expect("a new heap");
    let mut interp = vm.interpreter(limits);
    // What `cowheap run` does: the compiler in Rust where its grammar reaches, the image's
    // own (as on the real VM) beyond.
    let answer = interp.evaluate(&mut image, expr);
    let printed = answer.and_then(|v| interp.print_string(&mut image, v));
    match printed {
        Ok(text) => Outcome {
            kind: "answer".into(),
            text,
            detail: None,
        },
        Err(e) => Outcome {
            kind: "stop".into(),
            text: stop_message(&e),
            detail: Some(format!("{}: {e}", e.kind())),
        },
    }
}

fn stop_message(e: &RunError) -> String {
    match e {
        RunError::SmalltalkError { message } => match message.find(" (the last primitive") {
            Some(i) => message[..i].to_owned(),
            None => message.clone(),
        },
        RunError::DoesNotUnderstand { selector, .. } => {
            format!("Message not understood: {selector}")
        }
        // Where cowheap stops, the real VM sends #cannotReturn: to the block context and
        // #mustBeBoolean to the non-Boolean; Squeak 2.2 implements neither, so it stops there
        // too, on their doesNotUnderstand:.
        RunError::CannotReturn => "Message not understood: cannotReturn:".to_owned(),
        RunError::MustBeBoolean { .. } => "Message not understood: mustBeBoolean".to_owned(),
        other => format!("cowheap {}: {other}", other.kind()),
    }
}

#[test]
fn cowheap_answers_as_the_real_vm() {
    if images_common::skip(&[IMAGE]) {
        return;
    }
    let loaded = loader::load_file(images_common::dir().join(IMAGE)).expect("load");
    let vm = Vm::new(&loaded.heap).expect("a V3 image");
    let cases = expected();
    assert!(cases.len() >= 300, "the battery shrank: {}", cases.len());
    let listed_in_battery = battery();
    assert!(
        listed_in_battery.iter().eq(cases.iter().map(|(e, _)| e)),
        "battery.txt and expected.tsv list different expressions: run \
         python3 squeak/tests/conformance/realvm.py"
    );

    // Every expression in its own image, on every core.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; cases.len()]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((expr, _)) = cases.get(i) else {
                    break;
                };
                let got = run(&vm, &loaded, expr);
                results.lock().unwrap()[i] = Some(got);
            });
        }
    });
    let got: Vec<Outcome> = results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.expect("every case ran"))
        .collect();

    let known = known();
    let listed: HashMap<&str, &str> = known
        .iter()
        .flat_map(|(r, es)| es.iter().map(move |e| (e.as_str(), r.as_str())))
        .collect();
    let in_battery: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, (e, _))| (e.as_str(), i))
        .collect();
    let differs = |i: usize| !cases[i].1.same_as(&got[i]);

    let mut report = String::new();
    let mut unlisted = 0;
    let mut fixed = 0;
    let mut stale = 0;
    for (i, (expr, want)) in cases.iter().enumerate() {
        match (differs(i), listed.get(expr.as_str())) {
            (true, None) => {
                unlisted += 1;
                let _ = writeln!(
                    report,
                    "NEW DIFFERENCE  {expr}\n    real VM: {want}\n    cowheap: {}",
                    got[i]
                );
            }
            (false, Some(reason)) => {
                fixed += 1;
                let _ = writeln!(
                    report,
                    "NOW MATCHES     {expr}\n    (listed: {reason}): both {want}"
                );
            }
            _ => {}
        }
    }
    for (reason, exprs) in &known {
        for e in exprs {
            if !in_battery.contains_key(e.as_str()) {
                stale += 1;
                let _ = writeln!(report, "NOT IN BATTERY  {e}\n    (listed: {reason})");
            }
        }
    }
    let matching = (0..cases.len()).filter(|&i| !differs(i)).count();
    let summary = format!(
        "conformance: {} expressions, {matching} answer as the real VM, {} differ \
         ({unlisted} not listed); {fixed} listed differences now match; {stale} listed \
         expressions are not in the battery",
        cases.len(),
        cases.len() - matching,
    );
    eprintln!("{summary}");

    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        bless(&known, &cases, &got);
        eprintln!("{report}blessed: rewrote tests/conformance/known_differences.txt");
        return;
    }
    assert!(
        unlisted + fixed + stale == 0,
        "{report}{summary}\nTo accept this as the new state (after fixing, or with a reason \
         to write for each new line): cargo xtask conformance --bless (or {BLESS_VAR}=1 cargo \
         test --release -p cowheap-squeak --test conformance)"
    );
}

/// Rewrites known_differences.txt from this run: the header comments and the reasons as they
/// were, each with its expressions that still differ (in battery order), and every unlisted
/// difference under [`NEW_REASON`].
fn bless(known: &[(String, Vec<String>)], cases: &[(String, Outcome)], got: &[Outcome]) {
    let path = dir().join("known_differences.txt");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out: String = old
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("--") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    if out.trim().is_empty() {
        out =
            "-- Differences from the real VM that cowheap knows of; see conformance.rs.\n\n".into();
    }
    let reason_of: HashMap<&str, &str> = known
        .iter()
        .flat_map(|(r, es)| es.iter().map(move |e| (e.as_str(), r.as_str())))
        .collect();
    let mut groups: BTreeMap<usize, (String, Vec<usize>)> = BTreeMap::new();
    let order: HashMap<&str, usize> = known
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (r.as_str(), i))
        .collect();
    for (i, (expr, want)) in cases.iter().enumerate() {
        if want.same_as(&got[i]) {
            continue;
        }
        let reason = reason_of.get(expr.as_str()).copied().unwrap_or(NEW_REASON);
        let key = order.get(reason).copied().unwrap_or(usize::MAX);
        groups
            .entry(key)
            .or_insert_with(|| (reason.to_owned(), Vec::new()))
            .1
            .push(i);
    }
    for (reason, idx) in groups.values() {
        let _ = writeln!(out, "## {reason}");
        for &i in idx {
            let _ = writeln!(
                out,
                "{}\t{}",
                escape(&cases[i].0),
                escape(&got[i].to_string())
            );
        }
        out.push('\n');
    }
    std::fs::write(&path, out.trim_end().to_owned() + "\n").expect("write known_differences.txt");
}
