//! The report as the table `cowheap stress` prints. Counts and sizes go through indicatif's
//! human formats, so the command writes numbers one way everywhere.

use std::fmt::Write;

use cowheap_stress::{Report, Verdict};
use indicatif::{HumanBytes, HumanCount, HumanDuration};

/// Ops per second, which are counts too, only fractional.
fn rate(x: f64) -> HumanCount {
    HumanCount(x.round() as u64)
}

/// A byte figure the report keeps as a float (a mean).
fn mean_bytes(x: f64) -> HumanBytes {
    HumanBytes(x.round() as u64)
}

/// The report as the table `cowheap stress` prints.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let c = &r.config;
    let time = |d: f64| HumanDuration(std::time::Duration::from_secs_f64(d));
    let run = match (c.duration_s, c.churn) {
        (Some(d), true) => format!(
            "{} of {} ops per image lifetime",
            time(d),
            HumanCount(c.ops_per_image)
        ),
        (Some(d), false) => format!("{}", time(d)),
        (None, _) => format!("{} ops", HumanCount(c.ops_per_image)),
    };
    let _ = writeln!(
        out,
        "cowheap stress: {} images x {run} over {} base of {} objects ({})",
        HumanCount(c.images as u64),
        r.base.source,
        HumanCount(r.base.objects as u64),
        HumanBytes(r.base.bytes)
    );
    let _ = writeln!(
        out,
        "  ops mix: write {} · alloc {} · become {} · identity {} · forget {} · collect {} · read {:.4}; skew {}; seed {}{}",
        c.write_ratio,
        c.alloc_ratio,
        c.become_ratio,
        c.identity_ratio,
        c.forget_ratio,
        c.collect_ratio,
        1.0 - c.write_ratio
            - c.alloc_ratio
            - c.become_ratio
            - c.identity_ratio
            - c.forget_ratio
            - c.collect_ratio,
        c.skew,
        c.seed,
        match (c.churn, c.lifetimes) {
            (true, None) => "; churn until time is up".to_string(),
            (true, Some(n)) => format!("; churn {} lifetimes", HumanCount(n)),
            (false, _) => String::new(),
        }
    );
    let _ = writeln!(out);
    let t = &r.timing;
    let th = &r.throughput;
    let h = &r.heap;
    let m = &r.memory;
    let l = &r.lifetimes;
    let v = &r.verification;
    let rows: Vec<(&str, String)> = vec![
        (
            "time",
            format!(
                "setup {:.2} s · run {:.2} s{} · verify {:.2} s · teardown {:.2} s",
                t.setup_s,
                t.run_s,
                if t.inline_verify_share > 0.0 {
                    format!(
                        " ({:.0}% of it verifying images that ended)",
                        t.inline_verify_share * 100.0
                    )
                } else {
                    String::new()
                },
                t.verify_s,
                t.teardown_s
            ),
        ),
        (
            "throughput",
            format!(
                "{} ops/s aggregate · {} ops in all",
                rate(th.aggregate_ops_per_s),
                HumanCount(th.total_ops)
            ),
        ),
        (
            "per image",
            format!(
                "median {} ops/s · p99 {} ops/s (99% of images at least) · min {} · max {}",
                rate(th.per_image.median),
                rate(th.per_image.p99),
                rate(th.per_image.min),
                rate(th.per_image.max)
            ),
        ),
        (
            "COW copies",
            format!(
                "{} · forwarders {} (installed by CAS {}) · entries added {}",
                HumanCount(h.cow_copies),
                HumanCount(h.forwarders as u64),
                HumanCount(h.forwarders_installed),
                HumanCount(h.entries_added)
            ),
        ),
        (
            "entries",
            format!(
                "{} at the end (capacity {}) · after teardown {} (capacity {})",
                HumanCount(h.entries as u64),
                HumanCount(h.entry_capacity as u64),
                HumanCount(h.entries_after_teardown as u64),
                HumanCount(h.entry_capacity_after_teardown as u64)
            ),
        ),
        (
            "reclaimed",
            format!(
                "{} forwarders taken down, {} freed · {} left after teardown",
                HumanCount(h.forwarders_taken_down),
                HumanCount(h.forwarders_freed),
                HumanCount(h.forwarders_after_teardown as u64)
            ),
        ),
        (
            "fix-ups",
            format!(
                "{} · becomes {} · allocations {} · own-entry look-ups {}",
                HumanCount(h.fixups),
                HumanCount(h.becomes),
                HumanCount(h.allocations),
                HumanCount(h.lookups)
            ),
        ),
        (
            "collections",
            format!(
                "{} · freed {} · pause longest {:.3} ms, mean {:.3} ms · handles forgotten {}",
                HumanCount(r.gc.collections),
                HumanBytes(r.gc.freed_bytes),
                r.gc.longest_pause_ms,
                r.gc.mean_pause_ms,
                HumanCount(r.gc.handles_forgotten)
            ),
        ),
        (
            "memory",
            format!(
                "base {} · private per image mean {}, max {}",
                HumanBytes(m.base_bytes),
                mean_bytes(m.private_bytes_mean),
                HumanBytes(m.private_bytes_max)
            ),
        ),
        (
            "vs full copy",
            format!(
                "{} per image; an image costs {:.4} of one ({:.1}x less memory for {} images)",
                HumanBytes(m.full_copy_bytes_per_image),
                m.private_to_full_copy_ratio,
                m.sharing_factor,
                c.images
            ),
        ),
        (
            "teardown",
            format!(
                "live private {} · freed {} · live images {} · RSS baseline {}, peak {}, end {}",
                HumanBytes(m.live_private_bytes),
                HumanBytes(m.freed_private_bytes),
                l.live_images_after_teardown,
                HumanBytes(m.rss_baseline_bytes),
                HumanBytes(m.rss_peak_bytes),
                HumanBytes(m.rss_end_bytes)
            ),
        ),
        (
            "lifetimes",
            format!(
                "{} · ended during the run {} · id reused by the next image {}",
                HumanCount(l.total),
                HumanCount(l.ended_during_run),
                HumanCount(l.id_reuses)
            ),
        ),
        (
            "verified",
            if v.enabled {
                format!(
                    "{} objects whole, {} values · base checksum {} {}",
                    HumanCount(v.objects_checked),
                    HumanCount(v.values_checked),
                    v.base_checksum_before,
                    if v.base_checksum_before == v.base_checksum_after {
                        "unchanged".to_string()
                    } else {
                        format!("CHANGED to {}", v.base_checksum_after)
                    }
                )
            } else {
                format!(
                    "end-of-image checks off (--no-verify); {} reads checked online",
                    HumanCount(v.values_checked)
                )
            },
        ),
    ];
    let mut rows = rows;
    if m.rss_timeline.len() > 1 {
        let points: Vec<String> = m
            .rss_timeline
            .iter()
            .map(|p| format!("{} {}", HumanCount(p.lifetimes), HumanBytes(p.bytes)))
            .collect();
        rows.push(("RSS by lifetimes", points.join(" · ")));
    }
    for (label, text) in rows {
        let _ = writeln!(out, "  {label:<16} {text}");
    }
    let _ = writeln!(out);
    for e in &v.errors {
        let _ = writeln!(out, "ERROR {e}");
    }
    for violation in &v.violations {
        let _ = writeln!(out, "VIOLATION {violation}");
    }
    if v.violations_total as usize > v.violations.len() + v.errors.len() {
        let _ = writeln!(
            out,
            "... and {} more violations",
            v.violations_total as usize - v.violations.len() - v.errors.len()
        );
    }
    let _ = match r.verdict {
        Verdict::Pass => writeln!(
            out,
            "PASS: {} image lifetimes, {} ops, 0 violations; base unchanged",
            HumanCount(l.total),
            HumanCount(th.total_ops)
        ),
        Verdict::Fail => writeln!(
            out,
            "FAIL: {} violation{} in {} image lifetimes",
            HumanCount(v.violations_total),
            if v.violations_total == 1 { "" } else { "s" },
            HumanCount(l.total)
        ),
        Verdict::Interrupted => writeln!(
            out,
            "INTERRUPTED: {} image lifetimes, {} ops checked, 0 violations so far",
            HumanCount(l.total),
            HumanCount(th.total_ops)
        ),
    };
    out
}
