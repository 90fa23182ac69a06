//! `cargo xtask plot`: turns the benches' results into BENCHMARKS.md's tables and plots.
//!
//! Reads criterion's medians (`target/criterion/**/new/estimates.json`) and the memory
//! benches' JSON (`target/cowheap-bench/*.json`), writes the markdown tables to
//! `target/cowheap-bench/tables.md`, and draws `docs/scaling.png`, `docs/read_paths.png`,
//! `docs/entries.png`, `docs/images.png`, `docs/writes.png`, `docs/memory.png`,
//! `docs/delta.png`, `docs/collect.png`, `docs/read_barrier.png`, `docs/load.png` (from the
//! VM's `load` bench), and from the interpreter bench's `interp_bars.json`
//! `docs/interp_bars.png`. Without results it names the `cargo bench` commands to run
//! (`needed`); a plot whose bench has not run is left as committed. Smoke-mode results
//! (`COWHEAP_BENCH_QUICK=1`) are written elsewhere (`target/criterion-smoke`,
//! `target/cowheap-bench/smoke`) and never read here, so they cannot replace a published plot.
//!
//! Text needs a TrueType font: DejaVu Sans from the system, or the file named by
//! `COWHEAP_PLOT_FONT`.

mod bars;
mod charts;
mod needed;
mod results;
mod tables;

use std::path::{Path, PathBuf};

use charts::{bars, chart, font};
use results::{read_json, Results};
use tables::{tables, DESIGNS};

/// Writes the tables and draws the plots.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let target =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let r = Results::load(&target.join("criterion"));
    let bench_dir = target.join("cowheap-bench");
    // The interpreter's bars come from a bench of their own, often run alone: drawn whatever
    // the heap's benches left.
    font()?;
    std::fs::create_dir_all("docs")?;
    let interp_bars = bench_dir.join("interp_bars.json");
    if bars::draw(&interp_bars, Path::new("docs/interp_bars.png"))? {
        println!("wrote docs/interp_bars.png");
    } else {
        println!(
            "no {}: run `cargo bench -p cowheap-squeak --profile bench-lto --bench interp` for docs/interp_bars.png",
            interp_bars.display()
        );
    }
    let missing = needed::missing(&r, &bench_dir);
    if missing.len() == needed::BENCHES.len() {
        let mut msg = format!(
            "no bench results in {}: run the benches (full mode), then `cargo xtask plot` again:\n",
            target.join("criterion").display()
        );
        for c in needed::commands(needed::BENCHES) {
            msg.push_str(&format!("    {c}\n"));
        }
        if target.join("criterion-smoke").is_dir() {
            msg.push_str(
                "(target/criterion-smoke holds smoke-mode results, from COWHEAP_BENCH_QUICK=1: \
                 too short to publish, so never plotted)\n",
            );
        }
        return Err(msg.into());
    }
    let md = tables(&r, &bench_dir);
    std::fs::create_dir_all(&bench_dir)?;
    std::fs::write(bench_dir.join("tables.md"), &md)?;
    println!("{md}");
    println!("wrote {}", bench_dir.join("tables.md").display());

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
    let mut kept = Vec::new();
    type Series = [(String, Vec<(f64, f64)>)];
    let mut draw = |bench: &str, path: &str, title: &str, x: &str, y: &str, series: &Series| {
        if needed::bench(bench).ran(&r, &bench_dir) {
            chart(Path::new(path), title, x, y, series).map(|()| println!("wrote {path}"))
        } else {
            kept.push(path.to_string());
            Ok(())
        }
    };
    draw(
        "scaling",
        "docs/scaling.png",
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
    draw(
        "read_paths",
        "docs/read_paths.png",
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
    draw(
        "entries",
        "docs/entries.png",
        "entry lookup",
        "entries in the table",
        "ns per lookup",
        &lines,
    )?;
    let sizes = [10_000u32, 100_000, 1_000_000];
    let mut images = Vec::new();
    for &(key, name) in DESIGNS {
        let pts = series(
            &|n| Some((n as f64, r.ns(&format!("images_create_drop/{key}/{n}"))?)),
            &sizes,
        );
        if !pts.is_empty() {
            images.push((name.to_string(), pts));
        }
    }
    draw(
        "images",
        "docs/images.png",
        "making and dropping one image",
        "base objects",
        "ns per image",
        &images,
    )?;
    let object_words = [2u32, 8, 64];
    let mut writes = Vec::new();
    for (key, name) in [
        ("cowheap_install", "cowheap (new forwarder)"),
        ("cowheap_entry", "cowheap (entry in a forwarder)"),
        ("alt_overlay_map", "overlay map (FxHash)"),
        ("alt_global_lock", "global RwLock map"),
        // Deep clone is left out: it pays for every copy when the image is made (images.png).
        ("alt_persistent_im", "persistent (im::Vector)"),
    ] {
        let pts = series(
            &|w| Some((w as f64, r.ns(&format!("writes_first_cow/{key}/{w}"))?)),
            &object_words,
        );
        if !pts.is_empty() {
            writes.push((name.to_string(), pts));
        }
    }
    draw(
        "writes",
        "docs/writes.png",
        "an image's first store to a base object (copy on write)",
        "object size (words)",
        "ns per first store",
        &writes,
    )?;
    // The full mode's sizes (benches/collect.rs): a smoke size left in the results is not read.
    let live = [100u32, 10_000, 100_000];
    let young = series(
        &|n| Some((n as f64, r.ns(&format!("collect_young/cowheap/{n}"))? / 1e3)),
        &live,
    );
    draw(
        "collect",
        "docs/collect.png",
        "one image's collection: live objects kept, 1 MiB of garbage",
        "live objects",
        "pause (µs)",
        &[("cowheap sliding mark-compact".to_string(), young)],
    )?;
    let mut draw_bars =
        |bench: &str, path: &str, title: &str, y: &str, values: Vec<(String, f64)>| {
            if needed::bench(bench).ran(&r, &bench_dir) && !values.is_empty() {
                bars(Path::new(path), title, y, &values).map(|()| println!("wrote {path}"))
            } else {
                kept.push(path.to_string());
                Ok(())
            }
        };
    let delta: Vec<(String, f64)> = [
        ("save", "save"),
        ("resume", "resume"),
        ("save_and_resume", "save + resume"),
        ("copy_private_bytes", "memcpy of the space"),
    ]
    .iter()
    .filter_map(|&(key, name)| Some((name.to_string(), r.ns(&format!("delta/{key}"))? / 1e3)))
    .collect();
    draw_bars(
        "delta",
        "docs/delta.png",
        "saving and resuming one image's delta",
        "µs per image",
        delta,
    )?;
    let barrier: Vec<(String, f64)> = [
        ("plain", "plain heap"),
        ("cowheap", "cowheap"),
        ("deep_clone", "deep clone"),
        ("overlay_map", "overlay map"),
        ("global_lock", "global lock"),
        ("persistent_im", "persistent"),
    ]
    .iter()
    .filter_map(|&(key, name)| {
        Some((
            name.to_string(),
            r.ns_per(&format!("read_barrier/{key}/unwritten"))?,
        ))
    })
    .collect();
    draw_bars(
        "read_barrier",
        "docs/read_barrier.png",
        "reading an unwritten base: a pointer chase",
        "ns per read",
        barrier,
    )?;
    let memory_json = read_json(&bench_dir, "memory");
    let memory: Vec<(String, f64)> = match &memory_json {
        Some(m) => [
            ("cowheap_copies", "cowheap (copies)"),
            ("overlay_map", "overlay map"),
            ("global_lock", "global lock"),
            ("persistent_im", "persistent"),
            ("page_cow", "page COW"),
            ("deep_clone", "deep clone"),
        ]
        .iter()
        .filter_map(|&(key, name)| Some((name.to_string(), m["bytes"][key].as_f64()?)))
        .collect(),
        None => Vec::new(),
    };
    let writes_made = memory_json
        .as_ref()
        .and_then(|m| m["scattered_writes"].as_u64())
        .unwrap_or(0);
    draw_bars(
        "memory",
        "docs/memory.png",
        &format!("bytes an image holds after {writes_made} scattered 8-byte writes"),
        "bytes (log scale)",
        memory,
    )?;
    // The VM's own bench (`cargo bench -p cowheap-squeak --bench load`), not among `needed`.
    let load: Vec<(String, f64)> = [
        "mini-2.2-v3-le.image",
        "mini-2.2-v3-be.image",
        "bootstrapped-v3-6505.image",
        "headless-spur32.image",
    ]
    .iter()
    .filter_map(|&image| {
        let name = image.trim_end_matches(".image").to_string();
        Some((name, r.ns(&format!("load_bytes/{image}"))? / 1e6))
    })
    .collect();
    if load.is_empty() {
        kept.push("docs/load.png".to_string());
    } else {
        bars(
            Path::new("docs/load.png"),
            "loading a real image file into a base",
            "ms per load",
            &load,
        )?;
        println!("wrote docs/load.png");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|b| b.name).collect();
    let mut msg = format!(
        "incomplete: no results from the benches {} (their table cells show –",
        names.join(", ")
    );
    if !kept.is_empty() {
        msg.push_str(&format!("; kept as committed: {}", kept.join(", ")));
    }
    msg.push_str("). Run them, then `cargo xtask plot` again:\n");
    for c in needed::commands(missing) {
        msg.push_str(&format!("    {c}\n"));
    }
    Err(msg.into())
}
