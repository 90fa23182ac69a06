//! The report of a stress run. Serialized as-is for `--json`; the CLI prints the same fields
//! as a table.

use serde::Serialize;

/// The version of the report's JSON form. It grows when a field changes meaning or type or
/// goes away, so that a consumer can refuse a report it does not understand; new fields alone
/// do not change it.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a stress run measured and checked.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// How the run ended.
    pub verdict: Verdict,
    /// The settings the run used.
    pub config: ConfigReport,
    /// The base the images shared.
    pub base: BaseReport,
    /// Where the time went.
    pub timing: TimingReport,
    /// How fast the images ran.
    pub throughput: ThroughputReport,
    /// What the images did to the heap, summed over all image lifetimes.
    pub heap: HeapReport,
    /// What sharing the base saved, and whether teardown gave memory back.
    pub memory: MemoryReport,
    /// The images' collections of their private spaces.
    pub gc: GcReport,
    /// Image lifetimes, for churn runs.
    pub lifetimes: LifetimeReport,
    /// What verification checked and found.
    pub verification: VerificationReport,
}

/// How a run ended. In JSON: `"PASS"`, `"FAIL"` or `"INTERRUPTED"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every check agreed with the shadow models and the base is unchanged.
    Pass,
    /// At least one violation (or an image that could not run); the report lists them.
    Fail,
    /// Stopped early on request (Ctrl-C) with no violation so far: what ran was checked,
    /// but the run is not the one asked for.
    Interrupted,
}

/// The run's settings, echoed so that a JSON report stands on its own.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigReport {
    /// Concurrent images.
    pub images: usize,
    /// Ops per image lifetime (ignored for a duration run without churn).
    pub ops_per_image: u64,
    /// Wall-clock budget of the run phase, if one was set.
    pub duration_s: Option<f64>,
    /// Fraction of ops that store.
    pub write_ratio: f64,
    /// Fraction of ops that allocate.
    pub alloc_ratio: f64,
    /// Fraction of ops that `become_forward`.
    pub become_ratio: f64,
    /// Fraction of ops that check identity and identity hashes.
    pub identity_ratio: f64,
    /// Fraction of ops that drop a held handle to a private object.
    pub forget_ratio: f64,
    /// Fraction of ops that collect the image's private space.
    pub collect_ratio: f64,
    /// Zipf exponent of object popularity.
    pub skew: f64,
    /// Whether images ended and new ones started during the run.
    pub churn: bool,
    /// Total image lifetimes planned: `null` when the duration decides (a churn run until the
    /// time is up).
    pub lifetimes: Option<u64>,
    /// The seed of the base and of every op stream.
    pub seed: u64,
    /// Stack bytes per image thread.
    pub stack_size: usize,
    /// Base objects sampled per image at verification, beyond those it touched.
    pub sample: usize,
}

/// The shared base.
#[derive(Clone, Debug, Serialize)]
pub struct BaseReport {
    /// `generated` or the image file's path.
    pub source: String,
    /// Base objects.
    pub objects: usize,
    /// Bytes of the sealed arena.
    pub bytes: u64,
}

/// Wall-clock phases, in seconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TimingReport {
    /// Building or loading the base, decoding the oracle, the first checksum.
    pub setup_s: f64,
    /// From the first image thread's start to the last one's end.
    pub run_s: f64,
    /// The parallel final verification and the second checksum.
    pub verify_s: f64,
    /// Dropping the final images.
    pub teardown_s: f64,
    /// Churn runs: the share of the image threads' time spent verifying lifetimes that ended
    /// during the run (part of `run_s`), 0 to 1.
    pub inline_verify_share: f64,
}

/// Op rates.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ThroughputReport {
    /// Ops performed by all image lifetimes.
    pub total_ops: u64,
    /// `total_ops / run_s`.
    pub aggregate_ops_per_s: f64,
    /// Each image lifetime's own rate: its ops over its own wall-clock running time, which
    /// includes time spent waiting for a core when there are more images than cores.
    pub per_image: Distribution,
}

/// A distribution of per-image rates.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Distribution {
    /// The middle image.
    pub median: f64,
    /// The rate that 99% of images reached or beat: the slow tail.
    pub p99: f64,
    /// The slowest image.
    pub min: f64,
    /// The fastest image.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Distribution {
    /// Summarizes `values` (any order; empty gives zeros).
    pub fn of(mut values: Vec<f64>) -> Distribution {
        if values.is_empty() {
            return Distribution::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Distribution {
            median: at(0.5),
            p99: at(0.01),
            min: values[0],
            max: values[values.len() - 1],
            mean: values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

/// Heap activity.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HeapReport {
    /// Base objects copied on an image's first write (COW copies).
    pub cow_copies: u64,
    /// Forwarders installed by a winning CAS on a base header.
    pub forwarders_installed: u64,
    /// Entries added to forwarders another image had installed.
    pub entries_added: u64,
    /// Forwarders in the base at the end of the run (a census).
    pub forwarders: usize,
    /// Occupied entries at the end of the run, before the final teardown.
    pub entries: usize,
    /// Allocated entries at the end of the run.
    pub entry_capacity: usize,
    /// Occupied entries after every image was dropped: 0 unless teardown leaks.
    pub entries_after_teardown: usize,
    /// Forwarders left after every image was dropped: 0, since a forwarder goes with its last
    /// entry (the run fails otherwise).
    pub forwarders_after_teardown: usize,
    /// Slot-table capacity left after every image was dropped: 0 (the run fails otherwise).
    pub entry_capacity_after_teardown: usize,
    /// Forwarders taken down during the run when their last entry went.
    pub forwarders_taken_down: u64,
    /// Of those, forwarders whose memory was freed by the end of the run.
    pub forwarders_freed: u64,
    /// Private fields rewritten by lazy become.
    pub fixups: u64,
    /// Effective `become_forward` calls.
    pub becomes: u64,
    /// Private objects allocated.
    pub allocations: u64,
    /// Forwarder look-ups on reads and writes.
    pub lookups: u64,
}

/// Memory.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryReport {
    /// Bytes of the shared base.
    pub base_bytes: u64,
    /// Private bytes (copies and allocations) of an image at its end, mean over lifetimes.
    pub private_bytes_mean: f64,
    /// The largest private space any image reached.
    pub private_bytes_max: u64,
    /// What each image would need with its own full copy of the base.
    pub full_copy_bytes_per_image: u64,
    /// `private_bytes_mean / full_copy_bytes_per_image`: the fraction of a full copy an image
    /// actually costs.
    pub private_to_full_copy_ratio: f64,
    /// Base plus every concurrent image's mean private bytes, against a full copy each:
    /// `images * base / (base + images * private_mean)`.
    pub sharing_factor: f64,
    /// Private bytes still held by live images after the final teardown (0 unless leaked).
    pub live_private_bytes: u64,
    /// Private bytes freed by teardown, summed over every image lifetime.
    pub freed_private_bytes: u64,
    /// Resident set size after setup, before any image ran (0 where unknown).
    pub rss_baseline_bytes: u64,
    /// Peak resident set size of the process.
    pub rss_peak_bytes: u64,
    /// Resident set size after the final teardown.
    pub rss_end_bytes: u64,
    /// Resident set size after every tenth of a churn run's lifetimes, and at the end: flat
    /// when teardown gives back what each image took (the allocator keeps freed pages for
    /// reuse, so the plateau sits at the peak of concurrent images, not at the baseline).
    pub rss_timeline: Vec<RssSample>,
}

/// The resident set size once some lifetimes had finished.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RssSample {
    /// Lifetimes finished so far.
    pub lifetimes: u64,
    /// Resident set size then.
    pub bytes: u64,
}

/// The images' collections of their private spaces, each checked against the image's shadow
/// model, summed over all image lifetimes.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GcReport {
    /// Collections (the images' own count, `ImageStats::collections`).
    pub collections: u64,
    /// Bytes they gave back (`ImageStats::collected_bytes`).
    pub freed_bytes: u64,
    /// The longest pause of any one collection, in milliseconds (0 without collections).
    pub longest_pause_ms: f64,
    /// The mean pause, in milliseconds (0 without collections).
    pub mean_pause_ms: f64,
    /// Handles to private objects the workloads dropped (forget ops): what they reached
    /// alone was garbage for the next collection.
    pub handles_forgotten: u64,
}

/// Image lifetimes.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LifetimeReport {
    /// Image lifetimes run.
    pub total: u64,
    /// Lifetimes that ended during the run (churn), verified on their own thread before their
    /// teardown.
    pub ended_during_run: u64,
    /// Lifetimes that got the id their thread's previous image had, and first checked that
    /// none of that image's writes were visible.
    pub id_reuses: u64,
    /// Live images of the heap after the final teardown (0 unless leaked).
    pub live_images_after_teardown: usize,
}

/// Verification.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationReport {
    /// Whether the final verification ran (`--no-verify` turns it off; online read checks
    /// still run).
    pub enabled: bool,
    /// Objects checked whole at the end of image lifetimes.
    pub objects_checked: u64,
    /// Slots, bytes, words, hashes and identities compared, online and at the end.
    pub values_checked: u64,
    /// Base checksum before the run.
    pub base_checksum_before: String,
    /// Base checksum after the run.
    pub base_checksum_after: String,
    /// Violations found, in all.
    pub violations_total: u64,
    /// The first violations, in detail.
    pub violations: Vec<Violation>,
    /// Errors that stopped image lifetimes (an op the heap refused, a thread that could not
    /// start); each also counts as a violation.
    pub errors: Vec<String>,
}

/// One disagreement between an image's view and its shadow model.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// The image thread (0-based, stable across the run).
    pub image: usize,
    /// The lifetime number (0 for the first image of a thread in a run without churn).
    pub lifetime: u64,
    /// The heap's id of the image.
    pub image_id: u32,
    /// The object, as the reference the image used.
    pub object: String,
    /// What was checked: `field 3`, `byte 17`, `hash`, `identical`, ...
    pub what: String,
    /// What the shadow model expected.
    pub expected: String,
    /// What the image answered.
    pub seen: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {} (id {}, lifetime {}): object {} {}: expected {}, seen {}",
            self.image,
            self.image_id,
            self.lifetime,
            self.object,
            self.what,
            self.expected,
            self.seen
        )
    }
}
