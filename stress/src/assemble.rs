//! Report assembly: lifetime records folded as they end, then turned into the [`Report`]
//! with the censuses, checksums and memory figures taken around the run.

use cowheap::Census;

use crate::life::LifeResult;
use crate::report::*;
use crate::{StressConfig, Workload};

/// Lifetime records folded together as they end, so that a churn run of millions of
/// lifetimes keeps a few bytes per lifetime (its rate), not its whole record.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    lifetimes: u64,
    stats: cowheap::ImageStats,
    violations: Vec<Violation>,
    violation_count: u64,
    values_checked: u64,
    objects_checked: u64,
    ops: u64,
    id_reuses: u64,
    ended_during_run: u64,
    verify_time: f64,
    running_time: f64,
    private_max: u64,
    rates: Vec<f64>,
    longest_pause: std::time::Duration,
    pause_total: std::time::Duration,
    harness_collections: u64,
    forgotten: u64,
}

/// Violations kept in detail in the report; the rest are only counted.
const REPORT_VIOLATIONS: usize = 32;

impl Tally {
    pub(crate) fn add(&mut self, r: LifeResult) {
        self.lifetimes += 1;
        self.stats += r.stats;
        self.violation_count += r.violation_count;
        self.values_checked += r.values_checked;
        self.objects_checked += r.objects_checked;
        self.ops += r.ops;
        self.id_reuses += r.id_reused as u64;
        self.ended_during_run += r.ended_during_run as u64;
        self.verify_time += r.verify_time.as_secs_f64();
        self.running_time += r.elapsed.as_secs_f64();
        self.private_max = self.private_max.max(r.stats.private_bytes);
        self.longest_pause = self.longest_pause.max(r.longest_pause);
        self.pause_total += r.pause_total;
        self.harness_collections += r.collections;
        self.forgotten += r.forgotten;
        let secs = r.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rates.push(r.ops as f64 / secs);
        }
        let room = REPORT_VIOLATIONS.saturating_sub(self.violations.len());
        self.violations.extend(r.violations.into_iter().take(room));
    }

    pub(crate) fn merge(&mut self, o: Tally) {
        self.lifetimes += o.lifetimes;
        self.stats += o.stats;
        self.violation_count += o.violation_count;
        self.values_checked += o.values_checked;
        self.objects_checked += o.objects_checked;
        self.ops += o.ops;
        self.id_reuses += o.id_reuses;
        self.ended_during_run += o.ended_during_run;
        self.verify_time += o.verify_time;
        self.running_time += o.running_time;
        self.private_max = self.private_max.max(o.private_max);
        self.rates.extend(o.rates);
        self.longest_pause = self.longest_pause.max(o.longest_pause);
        self.pause_total += o.pause_total;
        self.harness_collections += o.harness_collections;
        self.forgotten += o.forgotten;
        let room = REPORT_VIOLATIONS.saturating_sub(self.violations.len());
        self.violations.extend(o.violations.into_iter().take(room));
    }
}

/// What the run measured around the images, beside their own records.
pub(crate) struct AfterRun {
    /// Errors that stopped image lifetimes or threads.
    pub(crate) errors: Vec<String>,
    /// The census before teardown, and after it.
    pub(crate) census: Census,
    pub(crate) after: Census,
    /// Forwarders taken down and freed over the whole run.
    pub(crate) reclamation: cowheap::Reclamation,
    /// Private bytes and images still live after teardown (0 unless leaked).
    pub(crate) live_private: u64,
    pub(crate) live_images: usize,
    pub(crate) timing: TimingReport,
    /// The base's checksum before and after the run.
    pub(crate) checksums: (u64, u64),
    /// Resident set size: baseline, peak, end.
    pub(crate) rss: (u64, u64, u64),
    /// (lifetimes finished, resident set size) samples.
    pub(crate) rss_timeline: Vec<(u64, u64)>,
    /// Whether a stop was requested before the run had done what it was asked.
    pub(crate) interrupted: bool,
}

pub(crate) fn build_report(w: &Workload, cfg: &StressConfig, t: Tally, c: AfterRun) -> Report {
    let AfterRun {
        errors,
        mut timing,
        checksums,
        rss,
        rss_timeline,
        ..
    } = c;
    timing.inline_verify_share = t.verify_time / (t.verify_time + t.running_time).max(1e-9);
    let stats = t.stats;
    let mut violations = t.violations;
    let mut violations_total = errors.len() as u64 + t.violation_count;
    let mut base_violation = |what: &str, expected: String, seen: String| {
        violations_total += 1;
        violations.push(Violation {
            image: 0,
            lifetime: 0,
            image_id: 0,
            object: "the base heap".into(),
            what: what.into(),
            expected,
            seen,
        });
    };
    if checksums.0 != checksums.1 {
        let hex = |c: u64| format!("{c:016x}");
        base_violation("checksum", hex(checksums.0), hex(checksums.1));
    }
    // With every image ended, every object whose writers all ended reads as never written:
    // no forwarder, no entry and no entry capacity may be left.
    if c.live_images == 0 && c.after != Census::default() {
        base_violation(
            "forwarders left after every image ended",
            format!("{:?}", Census::default()),
            format!("{:?}", c.after),
        );
    }
    let base_bytes = w.heap.bytes() as u64;
    let private_mean = stats.private_bytes as f64 / t.lifetimes.max(1) as f64;
    let images = cfg.images as f64;
    Report {
        schema_version: SCHEMA_VERSION,
        verdict: if violations_total > 0 {
            Verdict::Fail
        } else if c.interrupted {
            Verdict::Interrupted
        } else {
            Verdict::Pass
        },
        config: ConfigReport {
            images: cfg.images,
            ops_per_image: cfg.ops,
            duration_s: cfg.duration.map(|d| d.as_secs_f64()),
            write_ratio: cfg.write_ratio,
            alloc_ratio: cfg.alloc_ratio,
            become_ratio: cfg.become_ratio,
            identity_ratio: cfg.identity_ratio,
            forget_ratio: cfg.forget_ratio,
            collect_ratio: cfg.collect_ratio,
            skew: cfg.skew,
            churn: cfg.churn.is_some(),
            lifetimes: cfg.lifetimes(),
            seed: cfg.seed,
            stack_size: cfg.stack_size,
            sample: cfg.sample,
        },
        base: BaseReport {
            source: w.source.clone(),
            objects: w.heap.object_count(),
            bytes: base_bytes,
        },
        timing,
        throughput: ThroughputReport {
            total_ops: t.ops,
            aggregate_ops_per_s: t.ops as f64 / timing.run_s.max(1e-9),
            per_image: Distribution::of(t.rates),
        },
        heap: HeapReport {
            cow_copies: stats.copies,
            forwarders_installed: stats.forwarders_installed,
            entries_added: stats.entries_added,
            forwarders: c.census.forwarders,
            entries: c.census.entries,
            entry_capacity: c.census.entry_capacity,
            entries_after_teardown: c.after.entries,
            forwarders_after_teardown: c.after.forwarders,
            entry_capacity_after_teardown: c.after.entry_capacity,
            forwarders_taken_down: c.reclamation.taken_down,
            forwarders_freed: c.reclamation.freed,
            fixups: stats.fixups,
            becomes: stats.becomes,
            allocations: stats.allocations,
            lookups: stats.lookups,
        },
        memory: MemoryReport {
            base_bytes,
            private_bytes_mean: private_mean,
            private_bytes_max: t.private_max,
            full_copy_bytes_per_image: base_bytes,
            private_to_full_copy_ratio: private_mean / base_bytes.max(1) as f64,
            sharing_factor: images * base_bytes as f64
                / (base_bytes as f64 + images * private_mean).max(1.0),
            live_private_bytes: c.live_private,
            freed_private_bytes: stats.private_bytes,
            rss_baseline_bytes: rss.0,
            rss_peak_bytes: rss.1,
            rss_end_bytes: rss.2,
            rss_timeline: rss_timeline
                .into_iter()
                .map(|(lifetimes, bytes)| RssSample { lifetimes, bytes })
                .collect(),
        },
        gc: GcReport {
            collections: stats.collections,
            freed_bytes: stats.collected_bytes,
            longest_pause_ms: t.longest_pause.as_secs_f64() * 1e3,
            mean_pause_ms: t.pause_total.as_secs_f64() * 1e3 / t.harness_collections.max(1) as f64,
            handles_forgotten: t.forgotten,
        },
        lifetimes: LifetimeReport {
            total: t.lifetimes,
            ended_during_run: t.ended_during_run,
            id_reuses: t.id_reuses,
            live_images_after_teardown: c.live_images,
        },
        verification: VerificationReport {
            enabled: cfg.verify,
            objects_checked: t.objects_checked,
            values_checked: t.values_checked,
            base_checksum_before: format!("{:016x}", checksums.0),
            base_checksum_after: format!("{:016x}", checksums.1),
            violations_total,
            violations,
            errors,
        },
    }
}
