//! The price of sharing, measured on real code (issue 20): five expressions, each timed over
//! cowheap's shared heap (an `Image` over the loaded base, copy-on-write), over a plain
//! private heap (the same interpreter code over `cowheap::plain::PlainHeap`: this bench built
//! with the `plain-heap` feature, run as a child process), and on the real Squeak VM where
//! `tools/realvm/run.sh` can fetch it. One table, the ratios shared/plain (what sharing costs;
//! the goal is at most 1.05) and cowheap/real VM, and `target/cowheap-bench/interp_bars.json`
//! for `cargo xtask plot`.
//!
//! Times are CPU time (this thread's for cowheap, the VM process's less a `nil` run's for the
//! real VM), medians over the runs: on a shared 2-core machine wall time mostly measures the
//! neighbours. `0 tinyBenchmarks` is the image's own measurement (its answer, by its own
//! millisecond clock), on each side.

use std::path::{Path, PathBuf};
use std::process::Command;

use cowheap::BaseHeap;
use cowheap_squeak::interp::{new_heap, Limits, Vm};
use serde_json::{json, Value as Json};

/// The expressions, in the table's order.
pub const EXPRESSIONS: [&str; 5] = [
    "30 benchFib",
    "1 benchmark",
    "0 tinyBenchmarks",
    "(1 to: 200000) asOrderedCollection size",
    "1000 factorial printString size",
];

/// What the bench does after the bars.
#[derive(PartialEq, Eq)]
pub enum Then {
    /// The criterion groups.
    Go,
    /// Nothing: this is the plain-heap child, which measured its bars only.
    Stop,
}

/// The heap this bench binary was built over.
const HEAP: &str = if cfg!(feature = "plain-heap") {
    "plain"
} else {
    "shared"
};

/// One side's figures for one expression.
#[derive(Clone, Copy, Debug)]
struct Bar {
    bytecodes_per_s: f64,
    sends_per_s: f64,
    /// CPU seconds of one evaluation (0 for tinyBenchmarks, which times itself).
    seconds: f64,
}

impl Bar {
    fn to_json(self) -> Json {
        json!({
            "bytecodes_per_s": self.bytecodes_per_s,
            "sends_per_s": self.sends_per_s,
            "seconds": self.seconds,
        })
    }

    fn from_json(v: &Json) -> Option<Bar> {
        Some(Bar {
            bytecodes_per_s: v.get("bytecodes_per_s")?.as_f64()?,
            sends_per_s: v.get("sends_per_s")?.as_f64()?,
            seconds: v.get("seconds")?.as_f64()?,
        })
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn runs() -> usize {
    std::env::var("COWHEAP_BARS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The two figures of a tinyBenchmarks answer: `'N bytecodes/sec; M sends/sec'`.
fn tiny_figures(answer: &str) -> Option<(f64, f64)> {
    let numbers: Vec<f64> = answer
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers[..] {
        [bytecodes, sends] => Some((bytecodes, sends)),
        _ => None,
    }
}

/// Each expression's bytecodes and sends per evaluation (cowheap's counts: the same methods
/// and primitives run on every side), and this heap's samples of `runs` evaluations, each
/// after one to warm the caches (but for tinyBenchmarks, which warms itself).
fn measure(heap: &BaseHeap, vm: &Vm, runs: usize) -> Vec<(u64, u64, Vec<Bar>)> {
    EXPRESSIONS
        .iter()
        .map(|&expr| {
            let mut image = new_heap(heap).unwrap();
            let mut interp = vm.interpreter(Limits::default());
            let tiny = expr.contains("tinyBenchmarks");
            let mut counts = None;
            if !tiny {
                interp.evaluate(&mut image, expr).unwrap();
                counts = Some((interp.stats().bytecodes, interp.stats().sends));
            }
            let mut samples = Vec::new();
            for _ in 0..runs {
                let before = super::support::thread_cpu();
                let v = interp.evaluate(&mut image, expr).unwrap();
                let cpu = (super::support::thread_cpu() - before).as_secs_f64();
                let (bytecodes, sends) =
                    *counts.get_or_insert((interp.stats().bytecodes, interp.stats().sends));
                samples.push(if tiny {
                    let answer = interp.print_string(&mut image, v).unwrap();
                    let (b, s) = tiny_figures(&answer)
                        .unwrap_or_else(|| panic!("tinyBenchmarks answered {answer}"));
                    Bar {
                        bytecodes_per_s: b,
                        sends_per_s: s,
                        seconds: 0.0,
                    }
                } else {
                    Bar {
                        bytecodes_per_s: bytecodes as f64 / cpu,
                        sends_per_s: sends as f64 / cpu,
                        seconds: cpu,
                    }
                });
            }
            let (bytecodes, sends) = counts.unwrap_or_default();
            (bytecodes, sends, samples)
        })
        .collect()
}

/// The median of each figure.
fn summary(samples: &[Bar]) -> Bar {
    Bar {
        bytecodes_per_s: median(samples.iter().map(|s| s.bytecodes_per_s).collect()),
        sends_per_s: median(samples.iter().map(|s| s.sends_per_s).collect()),
        seconds: median(samples.iter().map(|s| s.seconds).collect()),
    }
}

/// The cargo profile this bench was built with, where it is a custom one (`bench-lto`): the
/// name of the folder above `deps/` that holds the executable. `bench` and `release` share
/// `release/`, and `None` builds the plain side with `cargo bench`'s own profile.
fn own_profile() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.file_name()?.to_str()?;
    (!matches!(dir, "release" | "debug")).then(|| dir.to_string())
}

/// This bench built with `plain-heap`: its executable, built now if need be; `None` (with the
/// reason on stderr) if it cannot be built.
fn plain_bench() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let profile = own_profile();
    eprintln!(
        "bars: building this bench over the plain heap (--features plain-heap{})",
        profile
            .as_deref()
            .map_or(String::new(), |p| format!(", --profile {p}"))
    );
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "bench",
            "-p",
            "cowheap-squeak",
            "--features",
            "plain-heap",
            "--bench",
            "interp",
            "--no-run",
            "--message-format=json",
        ])
        .args(profile.iter().flat_map(|p| ["--profile", p.as_str()]))
        .stderr(std::process::Stdio::inherit())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        other => {
            eprintln!("bars: the plain-heap bench did not build ({other:?})");
            return None;
        }
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "interp")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// One round of the plain heap's samples: `bench` run as a child, which writes them to `out`.
fn plain_round(bench: &Path, out: &Path) -> Option<Vec<Bar>> {
    let _ = std::fs::remove_file(out);
    let status = Command::new(bench)
        .arg("--bench")
        .env("COWHEAP_BARS_ONLY", out)
        .status();
    if !status.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("bars: the plain-heap bench failed ({status:?})");
        return None;
    }
    let v: Json = serde_json::from_str(&std::fs::read_to_string(out).ok()?).ok()?;
    v.get("bars")?
        .as_array()?
        .iter()
        .map(Bar::from_json)
        .collect()
}

/// The real VM's bars, from `tools/realvm/run.sh`; `None` (with one line saying why) where it
/// cannot run here.
fn realvm_bars(image: &Path, counts: &[(u64, u64, Bar)]) -> Option<Vec<Bar>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/realvm/run.sh");
    eprintln!("bars: the real VM ({})", script.display());
    let out = Command::new(&script)
        .arg(image)
        .args(EXPRESSIONS)
        .env("RUNS", runs().to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) if out.status.code() == Some(3) => return None,
        other => {
            eprintln!("bars: real VM skipped: {script:?} failed ({other:?})");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut bars = Vec::new();
    for (line, &(bytecodes, sends, _)) in text
        .lines()
        .filter(|l| l.starts_with("realvm\t"))
        .zip(counts)
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (answer, cpu) = (f.get(2)?, f.get(4)?.parse::<f64>().ok()?);
        bars.push(match tiny_figures(answer) {
            Some((b, s)) if f[1].contains("tinyBenchmarks") => Bar {
                bytecodes_per_s: b,
                sends_per_s: s,
                seconds: 0.0,
            },
            _ => Bar {
                bytecodes_per_s: bytecodes as f64 / cpu,
                sends_per_s: sends as f64 / cpu,
                seconds: cpu,
            },
        });
    }
    (bars.len() == EXPRESSIONS.len()).then_some(bars)
}

/// Measures the bars. The plain-heap child (`COWHEAP_BARS_ONLY` names its output) measures
/// one round and stops; the shared-heap run alternates its own rounds with the child's (so
/// that both sides meet the same neighbours), adds the real VM's, prints the table and writes
/// `target/cowheap-bench/interp_bars.json`. Nothing in the smoke mode.
pub fn run(heap: &BaseHeap, vm: &Vm, image: &Path) -> Then {
    if let Some(out) = std::env::var_os("COWHEAP_BARS_ONLY") {
        let bars: Vec<Json> = measure(heap, vm, 1)
            .into_iter()
            .map(|(_, _, samples)| samples[0].to_json())
            .collect();
        std::fs::write(out, json!({ "heap": HEAP, "bars": bars }).to_string()).unwrap();
        return Then::Stop;
    }
    if super::support::quick() || cfg!(feature = "plain-heap") {
        eprintln!("bars: skipped (smoke mode, or this is the plain-heap build)");
        return Then::Go;
    }
    let dir = target_dir().join("cowheap-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let plain_bench = plain_bench();
    let mut counts = Vec::new();
    let mut shared_samples = vec![Vec::new(); EXPRESSIONS.len()];
    let mut plain_samples = vec![Vec::new(); EXPRESSIONS.len()];
    let mut plain_ok = plain_bench.is_some();
    for round in 0..runs() {
        eprintln!("bars: round {} of {}", round + 1, runs());
        for (i, (bytecodes, sends, samples)) in measure(heap, vm, 1).into_iter().enumerate() {
            shared_samples[i].extend(samples);
            if round == 0 {
                counts.push((bytecodes, sends));
            }
        }
        if let (true, Some(bench)) = (plain_ok, &plain_bench) {
            match plain_round(bench, &dir.join("interp_bars_plain.json")) {
                Some(bars) => bars
                    .into_iter()
                    .enumerate()
                    .for_each(|(i, b)| plain_samples[i].push(b)),
                None => plain_ok = false,
            }
        }
    }
    let shared: Vec<(u64, u64, Bar)> = counts
        .iter()
        .zip(&shared_samples)
        .map(|(&(b, s), samples)| (b, s, summary(samples)))
        .collect();
    let plain: Option<Vec<Bar>> =
        plain_ok.then(|| plain_samples.iter().map(|s| summary(s)).collect());
    let real = realvm_bars(image, &shared);

    println!(
        "\nThe price of sharing: M bytecodes/s | M sends/s (CPU time, medians of {} runs)",
        runs()
    );
    println!(
        "{:<42} {:>15} {:>15} {:>15} {:>12} {:>14}",
        "expression", "shared", "plain", "real VM", "shared/plain", "cowheap/realVM"
    );
    let cell = |b: Option<Bar>| {
        b.map_or("-".to_string(), |b| {
            format!(
                "{:.1} | {:.2}",
                b.bytecodes_per_s / 1e6,
                b.sends_per_s / 1e6
            )
        })
    };
    let mut rows = Vec::new();
    for (i, &(bytecodes, sends, s)) in shared.iter().enumerate() {
        let p = plain.as_ref().map(|p| p[i]);
        let r = real.as_ref().map(|r| r[i]);
        // Time ratios: how much longer the shared heap takes than the plain one, and how
        // much faster cowheap runs than the real VM (>1: faster).
        let price = p.map(|p| p.bytecodes_per_s / s.bytecodes_per_s);
        let vs_real = r.map(|r| s.bytecodes_per_s / r.bytecodes_per_s);
        println!(
            "{:<42} {:>15} {:>15} {:>15} {:>12} {:>14}",
            EXPRESSIONS[i],
            cell(Some(s)),
            cell(p),
            cell(r),
            price.map_or("-".into(), |x| format!("{x:.3}")),
            vs_real.map_or("-".into(), |x| format!("{x:.3}")),
        );
        rows.push(json!({
            "expression": EXPRESSIONS[i],
            "bytecodes": bytecodes,
            "sends": sends,
            "shared": s.to_json(),
            "plain": p.map(Bar::to_json),
            "realvm": r.map(Bar::to_json),
            "shared_over_plain": price,
            "cowheap_over_realvm": vs_real,
        }));
    }
    if real.is_none() {
        println!("real VM: skipped (tools/realvm/run.sh could not fetch or run it here)");
    }
    println!(
        "shared/plain: the shared heap's time over the plain heap's (the price of copy-on-write; goal <= 1.05); \
         cowheap/realVM: cowheap's speed over the real VM's (>1: cowheap is faster)"
    );
    let out = dir.join("interp_bars.json");
    let command = match own_profile() {
        Some(p) => format!("cargo bench -p cowheap-squeak --profile {p} --bench interp"),
        None => "cargo bench --bench interp".to_string(),
    };
    let v = json!({ "command": command, "runs": runs(), "rows": rows });
    std::fs::write(&out, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    println!("wrote {}", out.display());
    Then::Go
}
