//! `cargo xtask plot`: turns the benches' results into BENCHMARKS.md's tables and plots.
//!
//! Reads criterion's medians (`target/criterion/**/new/estimates.json`) and the memory
//! benches' JSON (`target/cowheap-bench/*.json`), writes the markdown tables to
//! `target/cowheap-bench/tables.md`, and draws `docs/scaling.png`, `docs/read_paths.png` and
//! `docs/entries.png`, and from the interpreter bench's `interp_bars.json`
//! `docs/interp_bars.png`.
//!
//! Text needs a TrueType font: DejaVu Sans from the system, or the file named by
//! `COWHEAP_PLOT_FONT`.

mod bars;
mod charts;
mod results;
mod tables;

use std::path::{Path, PathBuf};

use charts::{chart, font};
use results::Results;
use tables::{tables, DESIGNS};

/// Writes the tables and draws the plots.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let target =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let r = Results::load(&target.join("criterion"));
    let bench_dir = target.join("cowheap-bench");
    let md = tables(&r, &bench_dir);
    std::fs::create_dir_all(&bench_dir)?;
    std::fs::write(bench_dir.join("tables.md"), &md)?;
    println!("{md}");
    println!("wrote {}", bench_dir.join("tables.md").display());

    font()?;
    std::fs::create_dir_all("docs")?;
    let interp_bars = bench_dir.join("interp_bars.json");
    if bars::draw(&interp_bars, Path::new("docs/interp_bars.png"))? {
        println!("wrote docs/interp_bars.png");
    } else {
        println!(
            "no {}: run `cargo bench --bench interp` for docs/interp_bars.png",
            interp_bars.display()
        );
    }
    let series = |f: &dyn Fn(u32) -> Option<(f64, f64)>, ks: &[u32]| -> Vec<(f64, f64)> {
        ks.iter().filter_map(|&k| f(k)).collect()
    };
    let ks: Vec<u32> = (0..=10).map(|k| 1 << k).collect();
    let mut scaling = Vec::new();
    for &(key, name) in &DESIGNS[..5] {
        let pts = series(
            &|n| Some((n as f64, 1e3 / r.ns_per(&format!("scaling/{key}/{n}"))?)),
            &ks,
        );
        if !pts.is_empty() {
            scaling.push((name.to_string(), pts));
        }
    }
    chart(
        Path::new("docs/scaling.png"),
        "95/5 read/write mix, one image per thread (2 cores)",
        "images (threads)",
        "aggregate Mops/s",
        &scaling,
    )?;
    let counts = [1u32, 8, 64, 1024];
    let mut paths = Vec::new();
    for (key, name) in [
        ("unforwarded", "unforwarded base"),
        ("forwarded_hit_avg", "forwarded, own entry (avg)"),
        ("forwarded_hit_last", "forwarded, own entry (last)"),
        ("forwarded_miss", "forwarded, miss"),
        ("after_fixup", "after lazy fix-up"),
        ("private", "private object"),
        ("alt_global_lock_hit", "global RwLock map, hit"),
    ] {
        let pts = series(
            &|n| Some((n as f64, r.ns(&format!("read_paths/{key}/{n}"))?)),
            &counts,
        );
        if !pts.is_empty() {
            paths.push((name.to_string(), pts));
        }
    }
    chart(
        Path::new("docs/read_paths.png"),
        "cowheap read cost per path",
        "images holding entries in the forwarder",
        "ns per read",
        &paths,
    )?;
    let mut lines = Vec::new();
    for (d, name) in [
        ("cowheap_levels", "cowheap levels"),
        ("rcu_sorted_epoch", "RCU sorted + epoch"),
        ("dense_by_id", "dense by id"),
    ] {
        for (op, op_name) in [("lookup_own", "own"), ("lookup_miss", "miss")] {
            let pts = series(
                &|n| Some((n as f64, r.ns(&format!("entries_{n}/{op}/{d}"))?)),
                &counts,
            );
            if !pts.is_empty() {
                lines.push((format!("{name}: {op_name}"), pts));
            }
        }
    }
    chart(
        Path::new("docs/entries.png"),
        "entry lookup",
        "entries in the table",
        "ns per lookup",
        &lines,
    )?;
    println!("wrote docs/scaling.png, docs/read_paths.png, docs/entries.png");
    Ok(())
}
