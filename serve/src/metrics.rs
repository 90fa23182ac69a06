//! The host's counters and their Prometheus text form (`GET /metrics`). Counters are atomics
//! that session threads and handlers bump; gauges that sum over sessions are kept as running
//! totals (each session adds the change of its own figure), so that a scrape costs the same
//! with ten sessions or ten thousand.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// A Prometheus histogram: counts per bucket (not cumulative; summed when rendered).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of observations, in nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let at = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[at].fetch_add(1, Relaxed);
        self.sum_ns
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// The smallest bucket bound at or below which a fraction `q` of the observations fall
    /// (`None` before any): the status page's rough percentiles.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Relaxed);
            if seen >= want {
                return Some(BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// A counter that stops at `u64::MAX` rather than wrap to zero, which a scraper would take
/// for a restart of the host.
#[derive(Debug, Default)]
pub struct Saturating(AtomicU64);

impl Saturating {
    /// Adds `n`, up to `u64::MAX`.
    pub fn add(&self, n: u64) {
        // Relaxed: a count read on its own; it orders nothing else.
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_add(n)));
    }

    /// The count.
    pub fn get(&self) -> u64 {
        // Relaxed: as in `add`.
        self.0.load(Relaxed)
    }
}

/// Everything the host counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Evaluations answered (stops included, replays not).
    pub evaluations: AtomicU64,
    /// Replayed answers to retried request ids.
    pub replays: AtomicU64,
    /// Latency of evaluation requests, from the handler's start to its answer.
    pub eval_seconds: Histogram,
    /// Stops by kind (snake_case name to count).
    pub stops: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Sessions created on this host.
    pub created: AtomicU64,
    /// Sessions resumed from the store.
    pub resumes: AtomicU64,
    /// Of those, resumed on a lease this host kept: a read of the store, no write.
    pub resumes_kept: AtomicU64,
    /// Time from a request for a stored session to its image running.
    pub resume_seconds: Histogram,
    /// Sessions saved and dropped from memory (idle, or to make room).
    pub evictions: AtomicU64,
    /// Idle live sessions whose interpreter caches were dropped (see `session::RELEASE_AFTER`).
    pub caches_released: AtomicU64,
    /// The most sessions in memory at once since the host started.
    pub most_live: AtomicU64,
    /// Evaluations answered without a commit: they changed nothing the store holds (see
    /// `session::Stored`), under a lease this host still holds.
    pub unstored: AtomicU64,
    /// Sessions whose thread found every handle gone without a stop (a creation or resume
    /// given up by its client midway) and left.
    pub abandoned: AtomicU64,
    /// Requests redirected to another host.
    pub redirects: AtomicU64,
    /// Private bytes of the live sessions' images.
    pub private_bytes: AtomicI64,
    /// Forwarders installed by the live sessions' images.
    pub forwarders: AtomicI64,
    /// Collections of the sessions' private spaces.
    pub collections: AtomicU64,
    /// Pauses of the collections the host ran between evaluations.
    pub collection_pause_seconds: Histogram,
    /// Commits the store refused or failed.
    pub store_errors: AtomicU64,
    /// Kept leases dropped past the most (`--max-kept-leases`): each such session's next
    /// resume here takes its lease with a write.
    pub kept_dropped: Saturating,
}

/// What a scrape reads besides the counters.
#[derive(Debug, Clone)]
pub struct Gauges {
    /// Sessions in memory here.
    pub live: u64,
    /// Leases this process keeps the epoch of (live sessions' and evicted ones').
    pub kept: u64,
    /// Sessions stored and held by no host.
    pub idle: u64,
    /// Sessions in the store.
    pub stored: u64,
    /// The base's checksum, now.
    pub checksum: u64,
    /// This process's resident memory, if the OS says.
    pub rss_bytes: Option<u64>,
}

impl Metrics {
    /// Counts a stop of `kind`.
    pub fn stop(&self, kind: &str) {
        if let Ok(mut stops) = self.stops.lock() {
            *stops.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// The Prometheus text form.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let n = |a: &AtomicU64| a.load(Relaxed).to_string();
        let i = |a: &AtomicI64| a.load(Relaxed).max(0).to_string();
        one(
            "cowheap_evaluations_total",
            "counter",
            "Evaluations answered (stops included, replays not).",
            n(&self.evaluations),
        );
        one(
            "cowheap_replays_total",
            "counter",
            "Answers replayed for a retried request id.",
            n(&self.replays),
        );
        one(
            "cowheap_sessions_created_total",
            "counter",
            "Sessions created on this host.",
            n(&self.created),
        );
        one(
            "cowheap_resumes_total",
            "counter",
            "Sessions resumed from the store.",
            n(&self.resumes),
        );
        one(
            "cowheap_resumes_kept_total",
            "counter",
            "Sessions resumed on a lease this host kept since their eviction: one read of the store, no write.",
            n(&self.resumes_kept),
        );
        one(
            "cowheap_evictions_total",
            "counter",
            "Sessions dropped from memory (idle, or to make room).",
            n(&self.evictions),
        );
        one(
            "cowheap_caches_released_total",
            "counter",
            "Idle live sessions whose interpreter caches were dropped to save memory.",
            n(&self.caches_released),
        );
        one(
            "cowheap_sessions_live_most",
            "gauge",
            "The most sessions in memory at once since the host started.",
            n(&self.most_live),
        );
        one(
            "cowheap_evaluations_unstored_total",
            "counter",
            "Evaluations that changed nothing stored, answered without a commit.",
            n(&self.unstored),
        );
        one(
            "cowheap_sessions_abandoned_total",
            "counter",
            "Sessions whose creation or resume was given up midway; their threads left.",
            n(&self.abandoned),
        );
        one(
            "cowheap_redirects_total",
            "counter",
            "Requests redirected to the host holding the session.",
            n(&self.redirects),
        );
        one(
            "cowheap_store_errors_total",
            "counter",
            "Commits the store refused or failed.",
            n(&self.store_errors),
        );
        one(
            "cowheap_private_bytes",
            "gauge",
            "Private bytes of the live sessions' images.",
            i(&self.private_bytes),
        );
        one(
            "cowheap_forwarders",
            "gauge",
            "Forwarders installed by the live sessions' images.",
            i(&self.forwarders),
        );
        one(
            "cowheap_collections_total",
            "counter",
            "Collections of the sessions' private spaces.",
            n(&self.collections),
        );
        one(
            "cowheap_kept_leases_dropped_total",
            "counter",
            "Kept leases dropped, least recently used first, past the most this host keeps.",
            self.kept_dropped.get().to_string(),
        );
        one(
            "cowheap_kept_leases",
            "gauge",
            "Leases this host keeps the epoch of, live sessions' and evicted ones'.",
            g.kept.to_string(),
        );
        if let Some(rss) = g.rss_bytes {
            one(
                "cowheap_resident_bytes",
                "gauge",
                "Resident memory of this process.",
                rss.to_string(),
            );
        }
        let _ = writeln!(
            out,
            "# HELP cowheap_sessions Sessions: live (in memory here), idle (stored, not in memory here), stored (all in the store).\n# TYPE cowheap_sessions gauge"
        );
        for (state, v) in [("live", g.live), ("idle", g.idle), ("stored", g.stored)] {
            let _ = writeln!(out, "cowheap_sessions{{state=\"{state}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP cowheap_stops_total Evaluations that stopped without an answer, by kind.\n# TYPE cowheap_stops_total counter"
        );
        if let Ok(stops) = self.stops.lock() {
            for (kind, v) in stops.iter() {
                let _ = writeln!(out, "cowheap_stops_total{{kind=\"{kind}\"}} {v}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP cowheap_base_checksum_info The shared base's checksum: the same for the host's whole life.\n# TYPE cowheap_base_checksum_info gauge\ncowheap_base_checksum_info{{checksum=\"{:016x}\"}} 1",
            g.checksum
        );
        self.eval_seconds.render(
            &mut out,
            "cowheap_eval_seconds",
            "Latency of evaluation requests, durable commit included.",
        );
        self.resume_seconds.render(
            &mut out,
            "cowheap_resume_seconds",
            "From a request for a stored session to its image running.",
        );
        self.collection_pause_seconds.render(
            &mut out,
            "cowheap_collection_pause_seconds",
            "Pauses of the collections run between evaluations.",
        );
        out
    }
}

/// This process's resident memory, from `/proc/self/statm` (Linux); `None` elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_quantiles_find_the_bucket() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.observe(Duration::from_micros(50));
        }
        h.observe(Duration::from_millis(3));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.0001\"} 99\n"));
        assert!(out.contains("x_bucket{le=\"0.005\"} 100\n"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 100\n"));
        assert_eq!(h.quantile(0.5), Some(0.0001));
        assert_eq!(h.quantile(1.0), Some(0.005));
    }

    #[test]
    fn a_saturating_counter_stops_at_its_limit() {
        let c = Saturating(AtomicU64::new(u64::MAX - 2));
        c.add(1);
        assert_eq!(c.get(), u64::MAX - 1);
        c.add(5);
        assert_eq!(c.get(), u64::MAX);
        c.add(1);
        assert_eq!(c.get(), u64::MAX);
    }
}
