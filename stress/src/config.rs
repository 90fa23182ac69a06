//! The knobs of a stress run, and why a run could not start.
//!
//! The errors name [`StressConfig`] fields, not command-line flags: the harness has callers
//! other than the `cowheap` command, and the command maps each field to its own flag.

use std::fmt;
use std::time::Duration;

/// The knobs of a stress run. [`Default`] is the default `cowheap stress` run.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Concurrent images, one OS thread each.
    pub images: usize,
    /// Ops per image lifetime.
    pub ops: u64,
    /// Run for this long instead of `ops` ops (with churn: keep starting lifetimes of `ops`
    /// ops until this much time has passed).
    pub duration: Option<Duration>,
    /// Fraction of ops that store into an object.
    pub write_ratio: f64,
    /// Fraction of ops that allocate a private object.
    pub alloc_ratio: f64,
    /// Fraction of ops that `become_forward` an object.
    pub become_ratio: f64,
    /// Fraction of ops that check `identical` and identity hashes.
    pub identity_ratio: f64,
    /// Fraction of ops that drop one of the image's held handles to its private objects (what
    /// is reachable from nothing else becomes garbage for the next collection).
    pub forget_ratio: f64,
    /// Fraction of ops that collect the image's private space, every handle the harness holds
    /// passed as a root and updated, then checked against the shadow model. The rest of the
    /// ops are reads.
    pub collect_ratio: f64,
    /// Zipf exponent of object popularity: 0 is uniform; around 1, a few objects are hot for
    /// every image, so that many images copy the same objects.
    pub skew: f64,
    /// Images end and new ones start, reusing ids. `None`: each image lives for the whole run.
    pub churn: Option<Churn>,
    /// Seed of every op stream (the base has its own seed).
    pub seed: u64,
    /// Stack bytes per image thread. Small stacks make thousands of images practical.
    pub stack_size: usize,
    /// Base objects each image checks at its end beyond those it touched, half drawn by
    /// popularity (objects other images copied), half uniformly.
    pub sample: usize,
    /// Run the end-of-lifetime verification (online read checks always run).
    pub verify: bool,
    /// Test hook: the first image stores one value behind its shadow model's back, so that
    /// the run must fail. Proves the verifier can fail.
    pub inject_fault: bool,
}

/// How many image lifetimes a churn run has in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Churn {
    /// Lifetimes start until this many have run (at least one per concurrent image).
    Lifetimes(u64),
    /// Lifetimes start until the run's duration is up (needs a duration).
    UntilDeadline,
}

/// The smallest stack an image thread gets: below it, the op stream's own frames overflow.
pub const MIN_STACK_SIZE: usize = 64 * 1024;
/// The largest Zipf exponent: beyond it every draw is the hottest object anyway.
pub const MAX_SKEW: f64 = 10.0;
/// The longest run: a year. Beyond it a deadline may not be representable at all (the clock
/// overflows), and no one waits for it.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// The most base objects an image may sample at its end: a million, already hundreds of times
/// a generated base's default size and minutes of checking per image.
pub const MAX_SAMPLE: usize = 1_000_000;

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            images: 100,
            ops: 50_000,
            duration: None,
            write_ratio: 0.2,
            alloc_ratio: 0.02,
            become_ratio: 0.002,
            identity_ratio: 0.05,
            forget_ratio: 0.01,
            collect_ratio: 0.0002,
            skew: 0.9,
            churn: None,
            seed: 1,
            stack_size: 256 * 1024,
            sample: 512,
            verify: true,
            inject_fault: false,
        }
    }
}

impl StressConfig {
    /// Ops per image lifetime when the caller has no opinion: 50,000, fewer with many images
    /// so that a run does about 5 M ops in all and its checker fits in memory.
    pub fn default_ops(images: usize) -> u64 {
        (5_000_000 / images.max(1) as u64).clamp(1_000, 50_000)
    }

    /// Image lifetimes the run will have in all; `None` when the duration decides.
    pub fn lifetimes(&self) -> Option<u64> {
        match self.churn {
            None => Some(self.images as u64),
            Some(Churn::Lifetimes(n)) => Some(n),
            Some(Churn::UntilDeadline) => None,
        }
    }

    /// Checks every setting, answering the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.images == 0 {
            return Err(ConfigError::NoImages);
        }
        if self.ops == 0 && self.duration.is_none() {
            return Err(ConfigError::NoOps);
        }
        for (field, value) in [
            ("write_ratio", self.write_ratio),
            ("alloc_ratio", self.alloc_ratio),
            ("become_ratio", self.become_ratio),
            ("identity_ratio", self.identity_ratio),
            ("forget_ratio", self.forget_ratio),
            ("collect_ratio", self.collect_ratio),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::RatioOutOfRange { field, value });
            }
        }
        let sum = self.write_ratio
            + self.alloc_ratio
            + self.become_ratio
            + self.identity_ratio
            + self.forget_ratio
            + self.collect_ratio;
        if sum > 1.0 + 1e-9 {
            return Err(ConfigError::RatiosOverOne { sum });
        }
        if !(0.0..=MAX_SKEW).contains(&self.skew) {
            return Err(ConfigError::SkewOutOfRange { skew: self.skew });
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroDuration);
        }
        if let Some(d) = self.duration.filter(|&d| d > MAX_DURATION) {
            return Err(ConfigError::DurationTooLong { duration: d });
        }
        if self.sample > MAX_SAMPLE {
            return Err(ConfigError::SampleTooLarge {
                sample: self.sample,
            });
        }
        match self.churn {
            Some(Churn::Lifetimes(lifetimes)) if lifetimes < self.images as u64 => {
                return Err(ConfigError::ChurnBelowImages {
                    lifetimes,
                    images: self.images,
                });
            }
            Some(Churn::UntilDeadline) if self.duration.is_none() => {
                return Err(ConfigError::ChurnWithoutDeadline);
            }
            _ => {}
        }
        if self.stack_size < MIN_STACK_SIZE {
            return Err(ConfigError::StackTooSmall {
                bytes: self.stack_size,
            });
        }
        Ok(())
    }
}

/// A setting [`StressConfig::validate`] or the workload refused. Each names the offending
/// field(s) of [`StressConfig`] through [`ConfigError::fields`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `images` is 0.
    #[error("`images` must be at least 1")]
    NoImages,
    /// `ops` is 0 and no duration is set, so no image would do anything.
    #[error("`ops` must be at least 1 when no duration is set")]
    NoOps,
    /// A ratio outside `0..=1`.
    #[error("`{field}` must be between 0 and 1, not {}", Short(*value))]
    RatioOutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// The write, alloc, become, identity, forget and collect ratios leave no room (reads are
    /// the rest).
    #[error(
        "`write_ratio`, `alloc_ratio`, `become_ratio`, `identity_ratio`, `forget_ratio` and `collect_ratio` add up to {}, more than 1",
        Short(*sum)
    )]
    RatiosOverOne {
        /// Their sum.
        sum: f64,
    },
    /// `skew` outside `0..=MAX_SKEW`, or not a number.
    #[error("`skew` must be between 0 and {MAX_SKEW}, not {}", Short(*skew))]
    SkewOutOfRange {
        /// Its value.
        skew: f64,
    },
    /// A duration of zero.
    #[error("`duration` must be more than 0")]
    ZeroDuration,
    /// A duration over [`MAX_DURATION`].
    #[error("`duration` must be at most a year ({} s), not {} s", MAX_DURATION.as_secs(), .duration.as_secs())]
    DurationTooLong {
        /// Its value.
        duration: Duration,
    },
    /// A sample over [`MAX_SAMPLE`].
    #[error("`sample` must be at most {MAX_SAMPLE}, not {sample}")]
    SampleTooLarge {
        /// Its value.
        sample: usize,
    },
    /// Fewer churn lifetimes than concurrent images: each image runs at least once.
    #[error("`churn` of {lifetimes} lifetimes is fewer than `images` ({images}): each image runs at least once")]
    ChurnBelowImages {
        /// The lifetimes asked for.
        lifetimes: u64,
        /// The concurrent images.
        images: usize,
    },
    /// [`Churn::UntilDeadline`] without a duration would never end.
    #[error("`churn` until the deadline needs a `duration`")]
    ChurnWithoutDeadline,
    /// `stack_size` below [`MIN_STACK_SIZE`].
    #[error("`stack_size` must be at least {MIN_STACK_SIZE} bytes, not {bytes}")]
    StackTooSmall {
        /// Its value.
        bytes: usize,
    },
    /// More concurrent images than the base allows at once.
    #[error("`images` ({images}) is more than this base allows at once ({max})")]
    TooManyImages {
        /// The images asked for.
        images: usize,
        /// The base's limit.
        max: usize,
    },
    /// The base has no objects to aim ops at.
    #[error("the base has no objects")]
    EmptyBase,
    /// No object of the base has a class, so private objects have none to be allocated with.
    #[error("the base has no object with a class")]
    NoClass,
}

impl ConfigError {
    /// The [`StressConfig`] fields the error is about (none for a problem of the base), so
    /// that a front end can name its own spelling of them.
    pub fn fields(&self) -> &'static [&'static str] {
        match self {
            ConfigError::NoImages | ConfigError::TooManyImages { .. } => &["images"],
            ConfigError::NoOps => &["ops"],
            ConfigError::RatioOutOfRange { field, .. } => match *field {
                "write_ratio" => &["write_ratio"],
                "alloc_ratio" => &["alloc_ratio"],
                "become_ratio" => &["become_ratio"],
                "forget_ratio" => &["forget_ratio"],
                "collect_ratio" => &["collect_ratio"],
                _ => &["identity_ratio"],
            },
            ConfigError::RatiosOverOne { .. } => &[
                "write_ratio",
                "alloc_ratio",
                "become_ratio",
                "identity_ratio",
                "forget_ratio",
                "collect_ratio",
            ],
            ConfigError::SkewOutOfRange { .. } => &["skew"],
            ConfigError::ZeroDuration | ConfigError::DurationTooLong { .. } => &["duration"],
            ConfigError::SampleTooLarge { .. } => &["sample"],
            ConfigError::ChurnBelowImages { .. } => &["churn", "images"],
            ConfigError::ChurnWithoutDeadline => &["churn", "duration"],
            ConfigError::StackTooSmall { .. } => &["stack_size"],
            ConfigError::EmptyBase | ConfigError::NoClass => &[],
        }
    }
}

/// A ratio as a person writes it: sums of decimal fractions print without binary noise
/// (0.2 + 0.9 + 0.05 + 0.002 is 1.152, not 1.1520000000000001).
pub(crate) struct Short(pub(crate) f64);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.9}", self.0);
        if !self.0.is_finite() || !text.contains('.') {
            return write!(f, "{}", self.0);
        }
        f.write_str(text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Why a stress run could not start or finish. Violations are not errors: they are in the
/// [`Report`](crate::Report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StressError {
    /// A setting is out of range, or the base cannot be stressed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The heap refused to build or to give an image.
    #[error("heap error: {0}")]
    Heap(#[from] cowheap::Error),
    /// The system refused an image thread (too many threads, or a stack it cannot map). The
    /// threads that did start were stopped: a run with fewer images is not the run asked for.
    #[error("could not start image thread {image} of {images}: {source}")]
    Spawn {
        /// The image thread that could not start (0-based).
        image: usize,
        /// The images asked for.
        images: usize,
        /// Why.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_print_without_float_noise() {
        let cfg = StressConfig {
            write_ratio: 0.98,
            ..StressConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`write_ratio`, `alloc_ratio`, `become_ratio`, `identity_ratio`, `forget_ratio` and `collect_ratio` add up to 1.0622, more than 1"
        );
        assert_eq!(Short(1.1520000000000001).to_string(), "1.152");
        assert_eq!(Short(3.0).to_string(), "3");
        assert_eq!(Short(f64::NAN).to_string(), "NaN");
    }

    #[test]
    fn errors_name_fields_not_flags() {
        let cfg = StressConfig {
            churn: Some(Churn::Lifetimes(3)),
            ..StressConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.fields(), &["churn", "images"]);
        assert!(!err.to_string().contains("--"), "{err}");
        let cfg = StressConfig {
            churn: Some(Churn::UntilDeadline),
            ..StressConfig::default()
        };
        assert_eq!(cfg.validate(), Err(ConfigError::ChurnWithoutDeadline));
    }

    /// A deadline past what the clock can hold, or a sample that would check for days, is a
    /// refused setting, not a panic or a run that never ends.
    #[test]
    fn runaway_durations_and_samples_are_refused() {
        let cfg = StressConfig {
            duration: Some(Duration::from_secs(9_300_000_000_000_000_000)),
            ..StressConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.fields(), &["duration"]);
        let cfg = StressConfig {
            duration: Some(MAX_DURATION),
            sample: MAX_SAMPLE,
            ..StressConfig::default()
        };
        assert_eq!(cfg.validate(), Ok(()));
        assert!(std::time::Instant::now()
            .checked_add(MAX_DURATION)
            .is_some());
        let cfg = StressConfig {
            sample: 99_999_999_999,
            ..StressConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.fields(), &["sample"]);
        assert!(err.to_string().contains("1000000"), "{err}");
    }
}
