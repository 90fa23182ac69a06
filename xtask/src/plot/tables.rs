//! BENCHMARKS.md's tables, in markdown, from the bench results.

use std::fmt::Write as _;
use std::path::Path;

use super::results::{fmt_ns, ratio, read_json, Results};

pub const DESIGNS: &[(&str, &str)] = &[
    ("cowheap", "cowheap"),
    ("alt_deep_clone", "deep clone"),
    ("alt_overlay_map", "overlay map (FxHash)"),
    ("alt_global_lock", "global RwLock map"),
    ("alt_persistent_im", "persistent (im::Vector)"),
    ("alt_page_cow_fork", "page COW after fork()"),
];

pub fn tables(r: &Results, bench_dir: &Path) -> String {
    let mut md = String::new();

    // 1. Read barrier.
    let _ = writeln!(
        md,
        "### Read barrier: pointer chase, ns per read (median)\n"
    );
    let _ = writeln!(
        md,
        "| design | unwritten base | vs plain | after writing 1% | vs plain |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for (key, name) in [
        ("plain", "plain immutable heap (baseline)"),
        ("cowheap", "cowheap"),
        ("deep_clone", "deep clone"),
        ("overlay_map", "overlay map (FxHash)"),
        ("global_lock", "global RwLock map"),
        ("persistent_im", "persistent (im::Vector)"),
    ] {
        let u = r.ns_per(&format!("read_barrier/{key}/unwritten"));
        let w = r.ns_per(&format!("read_barrier/{key}/written_1pct"));
        let pu = r.ns_per("read_barrier/plain/unwritten");
        let pw = r.ns_per("read_barrier/plain/written_1pct");
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            fmt_ns(u),
            ratio(u, pu),
            fmt_ns(w),
            ratio(w, pw)
        );
    }
    if let Some(p) = read_json(bench_dir, "read_barrier_paired") {
        let _ = writeln!(
            md,
            "\nPaired run ({} alternating rounds of {} reads, base of {} objects): plain {:.2} ns, \
             cowheap {:.2} ns per read, **median ratio {:.3}** (range {:.3} to {:.3}).",
            p["rounds"], p["steps"], p["base_objects"],
            p["plain_ns_per_read"].as_f64().unwrap_or(0.0),
            p["cowheap_ns_per_read"].as_f64().unwrap_or(0.0),
            p["median_ratio"].as_f64().unwrap_or(0.0),
            p["min_ratio"].as_f64().unwrap_or(0.0),
            p["max_ratio"].as_f64().unwrap_or(0.0),
        );
    }

    // 2. Read paths.
    let counts = [1, 8, 64, 1024];
    let _ = writeln!(
        md,
        "\n### Read paths: ns per `read` (median), by images holding entries in the forwarder\n"
    );
    let _ = writeln!(md, "| path | 1 | 8 | 64 | 1024 |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    for (key, name) in [
        ("unforwarded", "cowheap: unforwarded base object"),
        (
            "forwarded_hit_avg",
            "cowheap: forwarded, own entry (avg over holders)",
        ),
        (
            "forwarded_hit_last",
            "cowheap: forwarded, own entry (last inserted)",
        ),
        ("forwarded_miss", "cowheap: forwarded, no entry (miss)"),
        ("after_fixup", "cowheap: field after lazy fix-up"),
        ("private", "cowheap: private object"),
        ("alt_global_lock_hit", "global RwLock map: hit"),
        ("alt_global_lock_miss", "global RwLock map: miss"),
        ("alt_overlay_hit", "overlay map: hit"),
        ("alt_overlay_miss", "overlay map: miss"),
        ("alt_persistent_im", "persistent (im::Vector)"),
        ("alt_deep_clone", "deep clone"),
    ] {
        let cells: Vec<String> = counts
            .iter()
            .map(|n| fmt_ns(r.ns(&format!("read_paths/{key}/{n}"))))
            .collect();
        let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
    }
    let deltas: Vec<String> = counts
        .iter()
        .map(|n| {
            match (
                r.ns(&format!("read_paths/forwarded_hit_avg/{n}")),
                r.ns(&format!("read_paths/unforwarded/{n}")),
            ) {
                (Some(f), Some(u)) => format!("{:+.1} ns", f - u),
                _ => "–".into(),
            }
        })
        .collect();
    let _ = writeln!(
        md,
        "| **forwarded (own entry, avg) minus unforwarded** | {} |",
        deltas.join(" | ")
    );

    // 3. Writes.
    let _ = writeln!(
        md,
        "\n### Writes: first store into a base object (median per store)\n"
    );
    let _ = writeln!(
        md,
        "| design | 2 fields | 8 fields | 64 fields | vs cowheap (8 fields) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    let base8 = r.ns("writes_first_cow/cowheap_install/8");
    for (key, name) in [
        ("cowheap_install", "cowheap: copy + install forwarder"),
        ("cowheap_entry", "cowheap: copy + add entry to a forwarder"),
        ("alt_overlay_map", "overlay map (FxHash)"),
        ("alt_global_lock", "global RwLock map"),
        ("alt_persistent_im", "persistent (im::Vector)"),
        (
            "alt_deep_clone",
            "deep clone (a plain store; the copy was paid up front)",
        ),
    ] {
        let c: Vec<Option<f64>> = [2, 8, 64]
            .iter()
            .map(|s| r.ns(&format!("writes_first_cow/{key}/{s}")))
            .collect();
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            fmt_ns(c[0]),
            fmt_ns(c[1]),
            fmt_ns(c[2]),
            ratio(c[1], base8)
        );
    }
    let page = r.ns("writes_first_cow/alt_page_cow_fork");
    let _ = writeln!(
        md,
        "| page COW after fork(): first write to a 4 KiB page | {} | {} | {} | {} |",
        fmt_ns(page),
        fmt_ns(page),
        fmt_ns(page),
        ratio(page, base8)
    );
    let _ = writeln!(md, "\n| later store / allocation | median | vs cowheap |");
    let _ = writeln!(md, "|---|---|---|");
    let cw = r.ns("writes_copied/cowheap_via_base_ref");
    for (key, name) in [
        (
            "cowheap_via_base_ref",
            "cowheap: store to its copy, through the base reference",
        ),
        (
            "cowheap_via_copy_ref",
            "cowheap: store to its copy, through the copy's reference",
        ),
        ("alt_overlay_map", "overlay map"),
        ("alt_global_lock", "global RwLock map"),
        ("alt_persistent_im", "persistent (im::Vector)"),
        ("alt_deep_clone", "deep clone"),
    ] {
        let v = r.ns(&format!("writes_copied/{key}"));
        let _ = writeln!(md, "| {name} | {} | {} |", fmt_ns(v), ratio(v, cw));
    }
    let ca = r.ns("writes_allocate/cowheap");
    for (key, name) in [
        ("cowheap", "cowheap: allocate a private 4-field object"),
        (
            "alt_vec_append",
            "append to a private Vec<u64> (overlay, deep clone)",
        ),
        ("alt_persistent_im", "persistent (im::Vector) push_back"),
    ] {
        let v = r.ns(&format!("writes_allocate/{key}"));
        let _ = writeln!(md, "| {name} | {} | {} |", fmt_ns(v), ratio(v, ca));
    }

    // 4. Images.
    let _ = writeln!(md, "\n### Images: create + drop one image (median)\n");
    let _ = writeln!(
        md,
        "| design | 10^4 objects | 10^5 objects | 10^6 objects |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for &(key, name) in DESIGNS {
        let cells: Vec<String> = [10_000, 100_000, 1_000_000]
            .iter()
            .map(|n| fmt_ns(r.ns(&format!("images_create_drop/{key}/{n}"))))
            .collect();
        let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
    }
    let mc = r.ns("images_mini/cowheap_create_drop");
    let md_ = r.ns("images_mini/alt_deep_clone_words");
    let _ = writeln!(
        md,
        "\nMini image (mini-2.2-v3-le.image): cowheap image create + drop {}, deep clone of its \
         arena {}: **cowheap is {}x faster**.",
        fmt_ns(mc),
        fmt_ns(md_),
        match (mc, md_) {
            (Some(a), Some(b)) => format!("{:.0}", b / a),
            _ => "–".into(),
        }
    );
    if let Some(m) = read_json(bench_dir, "memory") {
        let b = &m["bytes_per_empty_image"];
        let _ =
            writeln!(
            md,
            "\nBytes per empty image (counting allocator, {} images over a base of {} objects, \
             {} bytes): cowheap {:.0}, overlay map {:.0}, global lock {:.0}, persistent {:.0}, \
             deep clone {:.0}.",
            m["images_measured"], m["base_objects"], m["base_bytes"],
            b["cowheap"].as_f64().unwrap_or(0.0),
            b["overlay_map"].as_f64().unwrap_or(0.0),
            b["global_lock"].as_f64().unwrap_or(0.0),
            b["persistent_im"].as_f64().unwrap_or(0.0),
            b["deep_clone"].as_f64().unwrap_or(0.0),
        );
        let _ = writeln!(
            md,
            "\n### Memory amplification of {} scattered 8-byte writes into distinct small objects\n",
            m["scattered_writes"]
        );
        let _ = writeln!(
            md,
            "| design | bytes | amplification (bytes / bytes written) |"
        );
        let _ = writeln!(md, "|---|---|---|");
        for (key, name) in [
            ("cowheap_copies", "cowheap: object copies"),
            (
                "cowheap_allocated",
                "cowheap: all heap bytes (copies, forwarders, Vec slack)",
            ),
            ("overlay_map", "overlay map"),
            ("global_lock", "global RwLock map"),
            ("persistent_im", "persistent (im::Vector)"),
            ("deep_clone", "deep clone"),
            ("page_cow", "page COW after fork()"),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {:.1}x |",
                m["bytes"][key].as_f64().unwrap_or(0.0),
                m["amplification"][key].as_f64().unwrap_or(0.0)
            );
        }
    }

    // 5. Scaling.
    let _ = writeln!(
        md,
        "\n### Scaling: aggregate Mops/s, 95% reads / 5% writes, one image per thread\n"
    );
    let _ = writeln!(
        md,
        "| images | cowheap | overlay map | global RwLock | persistent | deep clone | cowheap / overlay |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for k in 0..=10 {
        let n = 1 << k;
        let mops = |key: &str| r.ns_per(&format!("scaling/{key}/{n}")).map(|ns| 1e3 / ns);
        let cells: Vec<String> = [
            "cowheap",
            "alt_overlay_map",
            "alt_global_lock",
            "alt_persistent_im",
            "alt_deep_clone",
        ]
        .iter()
        .map(|d| mops(d).map_or("–".into(), |v| format!("{v:.1}")))
        .collect();
        if cells.iter().all(|c| c == "–") {
            continue;
        }
        let _ = writeln!(
            md,
            "| {n} | {} | {} |",
            cells.join(" | "),
            ratio(mops("cowheap"), mops("alt_overlay_map"))
        );
    }

    // 6. Slot table.
    let _ = writeln!(
        md,
        "\n### Slot table: ns per operation (median), by entries in the table\n"
    );
    let _ = writeln!(md, "| operation | design | 1 | 8 | 64 | 1024 |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (op, op_name) in [
        ("lookup_own", "lookup, own entry"),
        ("lookup_miss", "lookup, miss"),
        ("insert_all", "insert (per insert, building the table)"),
    ] {
        for (d, d_name) in [
            ("cowheap_levels", "cowheap: chained levels"),
            ("rcu_sorted_epoch", "RCU sorted array + epoch"),
            ("dense_by_id", "dense array by id"),
        ] {
            let cells: Vec<String> = [1, 8, 64, 1024]
                .iter()
                .map(|n| fmt_ns(r.ns_per(&format!("entries_{n}/{op}/{d}"))))
                .collect();
            let _ = writeln!(md, "| {op_name} | {d_name} | {} |", cells.join(" | "));
        }
    }
    if let Some(serde_json::Value::Array(rows)) = read_json(bench_dir, "entries_memory") {
        let cells: Vec<String> = rows
            .iter()
            .map(|m| {
                format!(
                    "{} / {} / {}",
                    m["cowheap_bytes"], m["rcu_bytes"], m["dense_bytes_for_65536_ids"]
                )
            })
            .collect();
        let _ = writeln!(
            md,
            "| bytes per forwarder | levels / RCU / dense (65,536 ids) | {} |",
            cells.join(" | ")
        );
    }
    md
}
