//! The workload engine: one OS thread per concurrent image, each running a seeded stream of
//! reads, writes, allocations, becomes and identity checks against its own shadow model, then
//! a parallel final verification of every image's whole view.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::report::*;
use super::rng::{Rng, Zipf};
use super::shadow::{Body, Lid, Oracle, PrivateObj, Shadow, Stored};
use super::{GenConfig, Generated};
use crate::{BaseHeap, Format, Image, Value};

/// Why a stress run could not start or finish. Violations are not errors: they are in the
/// [`Report`].
#[derive(Debug, thiserror::Error)]
pub enum StressError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The heap refused to build or to give an image.
    #[error("heap error: {0}")]
    Heap(#[from] crate::Error),
}

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
    /// Fraction of ops that check `identical` and identity hashes. The rest are reads.
    pub identity_ratio: f64,
    /// Zipf exponent of object popularity: 0 is uniform; around 1, a few objects are hot for
    /// every image, so that many images copy the same objects.
    pub skew: f64,
    /// Total image lifetimes: images end and new ones start (reusing ids) until this many have
    /// run. `None`: each image lives for the whole run.
    pub churn: Option<u64>,
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
    /// Checks every setting, answering the first problem as one sentence.
    pub fn validate(&self) -> Result<(), StressError> {
        let bad = |m: String| Err(StressError::Config(m));
        if self.images == 0 {
            return bad("--images must be at least 1".into());
        }
        if self.ops == 0 && self.duration.is_none() {
            return bad("--ops must be at least 1".into());
        }
        for (name, r) in [
            ("--write-ratio", self.write_ratio),
            ("--alloc-ratio", self.alloc_ratio),
            ("--become-ratio", self.become_ratio),
            ("--identity-ratio", self.identity_ratio),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return bad(format!("{name} must be between 0 and 1, not {r}"));
            }
        }
        let sum = self.write_ratio + self.alloc_ratio + self.become_ratio + self.identity_ratio;
        if sum > 1.0 + 1e-9 {
            return bad(format!(
                "--write-ratio, --alloc-ratio, --become-ratio and --identity-ratio add up to {sum}, more than 1"
            ));
        }
        if !self.skew.is_finite() || self.skew < 0.0 || self.skew > 10.0 {
            return bad(format!(
                "--skew must be between 0 and 10, not {}",
                self.skew
            ));
        }
        if let Some(d) = self.duration {
            if d.is_zero() {
                return bad("--duration must be more than 0".into());
            }
        }
        if let Some(c) = self.churn {
            if c < self.images as u64 {
                return bad(format!(
                    "--churn {c} is fewer lifetimes than --images {}: each image runs at least once",
                    self.images
                ));
            }
        }
        if self.stack_size < 64 * 1024 {
            return bad(format!(
                "--stack-size must be at least 65536 bytes, not {}",
                self.stack_size
            ));
        }
        Ok(())
    }
}

/// A base ready to be stressed: the heap, its decoded oracle, and the objects ops aim at.
pub struct Workload {
    heap: BaseHeap,
    oracle: Oracle,
    /// Oracle indices, hottest first.
    population: Vec<u32>,
    /// Classes for private allocations: pointers, bytes, words, methods.
    classes: [Value; 4],
    source: String,
    setup: Duration,
}

impl Workload {
    /// Generates the embedded default base and prepares it.
    pub fn generated(config: &GenConfig) -> Result<Workload, StressError> {
        let start = Instant::now();
        let g = super::generate_base(config)?;
        Workload::from_generated(&g, config.seed, start)
    }

    fn from_generated(g: &Generated, seed: u64, start: Instant) -> Result<Workload, StressError> {
        let k = g.kernel;
        Workload::prepare(
            g.heap.clone(),
            Some(g.workload_objects()),
            Some([k.array, k.string, k.word_array, k.compiled_method]),
            format!("generated (seed {seed})"),
            seed,
            start,
        )
    }

    /// Prepares any sealed base, a loaded image file for instance. Ops aim at every object.
    pub fn from_heap(
        heap: BaseHeap,
        source: impl Into<String>,
        seed: u64,
    ) -> Result<Workload, StressError> {
        Workload::prepare(heap, None, None, source.into(), seed, Instant::now())
    }

    fn prepare(
        heap: BaseHeap,
        population: Option<Vec<Value>>,
        classes: Option<[Value; 4]>,
        source: String,
        seed: u64,
        start: Instant,
    ) -> Result<Workload, StressError> {
        if heap.object_count() == 0 {
            return Err(StressError::Config("the base has no objects".into()));
        }
        let oracle = Oracle::build(&heap)?;
        let mut population: Vec<u32> = match population {
            Some(values) => values
                .iter()
                .filter_map(|v| oracle.index.get(v).copied())
                .collect(),
            None => (0..oracle.objs.len() as u32).collect(),
        };
        let mut rng = Rng::derive(seed, u64::MAX);
        for i in (1..population.len()).rev() {
            population.swap(i, rng.below(i + 1));
        }
        let classes = match classes {
            Some(c) => c,
            None => {
                let class_for = |f: Format| {
                    oracle
                        .objs
                        .iter()
                        .find(|o| o.body.format() == f)
                        .or(oracle.objs.first())
                        .and_then(|o| heap.original_class(o.value).ok())
                };
                let any = class_for(Format::Pointers).ok_or_else(|| {
                    StressError::Config("the base has no object with a class".into())
                })?;
                [
                    any,
                    class_for(Format::Bytes).unwrap_or(any),
                    class_for(Format::Words).unwrap_or(any),
                    class_for(Format::Method).unwrap_or(any),
                ]
            }
        };
        Ok(Workload {
            heap,
            oracle,
            population,
            classes,
            source,
            setup: start.elapsed(),
        })
    }

    /// The base heap.
    pub fn heap(&self) -> &BaseHeap {
        &self.heap
    }
}

/// Live counters of a running stress run, for a progress display on another thread. All
/// Relaxed: they are statistics, read while they move.
#[derive(Debug, Default)]
pub struct Progress {
    /// Image lifetimes running now.
    pub running: AtomicUsize,
    /// Image lifetimes finished.
    pub finished: AtomicU64,
    /// Ops performed so far (updated every 1024 ops per image).
    pub ops: AtomicU64,
    /// COW copies made so far (updated with `ops`).
    pub copies: AtomicU64,
    /// Images whose final verification is done.
    pub verified: AtomicUsize,
    /// Lifetimes the run will have, 0 when a duration decides.
    pub planned_lifetimes: AtomicU64,
    phase: AtomicU8,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building the base, starting threads.
    Setup,
    /// Images running.
    Running,
    /// Final verification.
    Verifying,
    /// Finished.
    Done,
}

impl Progress {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Setup,
            1 => Phase::Running,
            2 => Phase::Verifying,
            _ => Phase::Done,
        }
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }
}

/// The record of one image lifetime.
#[derive(Debug, Default)]
struct LifeResult {
    ops: u64,
    elapsed: Duration,
    stats: crate::ImageStats,
    violations: Vec<Violation>,
    violation_count: u64,
    values_checked: u64,
    objects_checked: u64,
    id_reused: bool,
    ended_during_run: bool,
    verify_time: Duration,
}

/// Lifetime records folded together as they end, so that a churn run of millions of
/// lifetimes keeps a few bytes per lifetime (its rate), not its whole record.
#[derive(Debug, Default)]
struct Tally {
    lifetimes: u64,
    stats: crate::ImageStats,
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
}

/// Violations kept in detail in the report; the rest are only counted.
const REPORT_VIOLATIONS: usize = 32;

impl Tally {
    fn add(&mut self, r: LifeResult) {
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
        let secs = r.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rates.push(r.ops as f64 / secs);
        }
        let room = REPORT_VIOLATIONS.saturating_sub(self.violations.len());
        self.violations.extend(r.violations.into_iter().take(room));
    }

    fn merge(&mut self, o: Tally) {
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
        let room = REPORT_VIOLATIONS.saturating_sub(self.violations.len());
        self.violations.extend(o.violations.into_iter().take(room));
    }
}

/// The violations kept in detail per image lifetime; the rest are only counted.
const KEEP_VIOLATIONS: usize = 8;
/// Base objects the previous lifetime of a thread wrote, checked by its successor.
const TEARDOWN_CHECKS: usize = 64;

/// One image lifetime: the image, its shadow and its op stream.
struct Life<'w> {
    w: &'w Workload,
    cfg: &'w StressConfig,
    img: Image,
    sh: Shadow,
    rng: Rng,
    zipf: Zipf,
    slot: usize,
    ticket: u64,
    out: LifeResult,
}

impl<'w> Life<'w> {
    fn violation(&mut self, object: Value, what: String, expected: String, seen: String) {
        self.out.violation_count += 1;
        if self.out.violations.len() < KEEP_VIOLATIONS {
            self.out.violations.push(Violation {
                image: self.slot,
                lifetime: self.ticket,
                image_id: self.img.id(),
                object: format!("{object:?}"),
                what,
                expected,
                seen,
            });
        }
    }

    fn describe(&self, s: Stored) -> String {
        match s {
            Stored::Imm(v) => format!("{v:?}"),
            Stored::Ref(l) => format!("{:?}", self.sh.value_of(&self.w.oracle, l)),
        }
    }

    /// A reference to an object this image can use, by popularity or among its own objects.
    fn pick(&mut self) -> (Value, Lid) {
        if !self.sh.private.is_empty() && self.rng.chance(0.2) {
            let j = self.rng.below(self.sh.private.len());
            return (self.sh.private[j].value, Lid::Private(j as u32));
        }
        self.pick_base()
    }

    fn pick_base(&mut self) -> (Value, Lid) {
        let i = self.w.population[self.zipf.sample(&mut self.rng)];
        let value = match self.sh.alias_of.get(&i) {
            Some(&alias) if self.rng.chance(0.3) => alias,
            _ => self.w.oracle.objs[i as usize].value,
        };
        (value, Lid::Base(i))
    }

    fn pick_value(&mut self) -> (Value, Stored) {
        let roll = self.rng.below(100);
        if roll < 40 {
            let v = Value::small_int(self.rng.next_u64() as i64 >> 24).unwrap_or(self.w.classes[0]);
            (v, Stored::Imm(v))
        } else if roll < 50 {
            let v = Value::character(char::from(b'A' + self.rng.below(58) as u8));
            (v, Stored::Imm(v))
        } else if roll < 80 || self.sh.private.is_empty() {
            let (v, lid) = self.pick_base();
            (v, Stored::Ref(lid))
        } else {
            let j = self.rng.below(self.sh.private.len());
            (
                self.sh.private[j].value,
                Stored::Ref(Lid::Private(j as u32)),
            )
        }
    }

    /// Compares a value the image answered with what the model holds.
    fn check_value(
        &mut self,
        x: Value,
        what: impl FnOnce() -> String,
        expected: Stored,
        seen: crate::Result<Value>,
    ) {
        self.out.values_checked += 1;
        let seen = match seen {
            Ok(v) => v,
            Err(e) => {
                let exp = self.describe(expected);
                return self.violation(x, what(), exp, format!("error: {e}"));
            }
        };
        match expected {
            Stored::Imm(e) if seen == e => {}
            Stored::Imm(e) => self.violation(x, what(), format!("{e:?}"), format!("{seen:?}")),
            Stored::Ref(l) => {
                let e = self.sh.canon(l);
                let got = if seen.is_object() {
                    self.sh.lid_of(&self.w.oracle, seen, e)
                } else {
                    None
                };
                if got != Some(e) {
                    let exp = format!("{:?}", self.sh.value_of(&self.w.oracle, e));
                    let seen = match got {
                        Some(g) => format!(
                            "{seen:?} (object {:?})",
                            self.sh.value_of(&self.w.oracle, g)
                        ),
                        None if seen.is_object() => {
                            format!("{seen:?} (a reference this image never made)")
                        }
                        None => format!("{seen:?}"),
                    };
                    self.violation(x, what(), exp, seen);
                }
            }
        }
    }

    fn check_eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        x: Value,
        what: &str,
        expected: T,
        seen: crate::Result<T>,
    ) {
        self.out.values_checked += 1;
        match seen {
            Ok(s) if s == expected => {}
            Ok(s) => self.violation(x, what.into(), format!("{expected:?}"), format!("{s:?}")),
            Err(e) => self.violation(
                x,
                what.into(),
                format!("{expected:?}"),
                format!("error: {e}"),
            ),
        }
    }

    fn op_read(&mut self) {
        let (x, lid) = self.pick();
        let c = self.sh.canon(lid);
        enum Probe {
            Slot(usize, Stored),
            Byte(usize, u8),
            Word(usize, u32),
            Empty,
        }
        let coin = self.rng.chance(0.5);
        let r = self.rng.next_u64() as usize;
        let probe = match self.sh.body(&self.w.oracle, c) {
            Body::Slots(s) if !s.is_empty() => Probe::Slot(r % s.len(), s[r % s.len()]),
            Body::Method { literals, .. } if coin && !literals.is_empty() => {
                Probe::Slot(r % literals.len(), literals[r % literals.len()])
            }
            Body::Method { code: b, .. } | Body::Bytes(b) if !b.is_empty() => {
                Probe::Byte(r % b.len(), b[r % b.len()])
            }
            Body::Words(w) if !w.is_empty() => Probe::Word(r % w.len(), w[r % w.len()]),
            _ => Probe::Empty,
        };
        match probe {
            Probe::Slot(k, e) => {
                let seen = self.img.read(x, k);
                self.check_value(x, || format!("slot {k}"), e, seen);
            }
            Probe::Byte(k, e) => {
                let seen = self.img.read_byte(x, k);
                self.check_eq(x, &format!("byte {k}"), e, seen);
            }
            Probe::Word(k, e) => {
                let seen = self.img.read_word(x, k);
                self.check_eq(x, &format!("word {k}"), e, seen);
            }
            Probe::Empty => {
                let seen = self.img.size_of(x);
                self.check_eq(x, "size", 0, seen);
            }
        }
    }

    fn op_write(&mut self) {
        let (x, lid) = self.pick();
        let c = self.sh.canon(lid);
        let coin = self.rng.chance(0.5);
        let r = self.rng.next_u64() as usize;
        let byte = (r >> 40) as u8;
        let word = (r >> 20) as u32;
        let (slots, bytes, words) = match self.sh.body(&self.w.oracle, c) {
            Body::Slots(s) => (s.len(), 0, 0),
            Body::Method { literals, code } => {
                if coin && !literals.is_empty() {
                    (literals.len(), 0, 0)
                } else {
                    (0, code.len(), 0)
                }
            }
            Body::Bytes(b) => (0, b.len(), 0),
            Body::Words(w) => (0, 0, w.len()),
        };
        let oracle = &self.w.oracle;
        if slots > 0 {
            let k = r % slots;
            let (v, stored) = self.pick_value();
            match self.img.write(x, k, v) {
                Ok(()) => match self.sh.body_mut(oracle, c) {
                    Body::Slots(s) | Body::Method { literals: s, .. } => s[k] = stored,
                    _ => {}
                },
                Err(e) => self.violation(
                    x,
                    format!("write slot {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        } else if bytes > 0 {
            let k = r % bytes;
            match self.img.write_byte(x, k, byte) {
                Ok(()) => match self.sh.body_mut(oracle, c) {
                    Body::Bytes(b) | Body::Method { code: b, .. } => b[k] = byte,
                    _ => {}
                },
                Err(e) => self.violation(
                    x,
                    format!("write byte {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        } else if words > 0 {
            let k = r % words;
            match self.img.write_word(x, k, word) {
                Ok(()) => {
                    if let Body::Words(w) = self.sh.body_mut(oracle, c) {
                        w[k] = word;
                    }
                }
                Err(e) => self.violation(
                    x,
                    format!("write word {k}"),
                    "Ok".into(),
                    format!("error: {e}"),
                ),
            }
        }
    }

    /// Allocates a private object of `format` (a random one when `None`) with at most `max`
    /// elements, and enters it in the model.
    fn op_alloc(&mut self, format: Option<Format>, max: usize) -> Option<(Value, Lid)> {
        let format = format.unwrap_or_else(|| match self.rng.below(20) {
            0..=11 => Format::Pointers,
            12..=14 => Format::Bytes,
            15..=17 => Format::Words,
            _ => Format::Method,
        });
        let len = self.rng.range(0, max.min(17));
        let [pointers, bytes, words, methods] = self.w.classes;
        let made = match format {
            Format::Pointers => {
                let vals: Vec<(Value, Stored)> = (0..len).map(|_| self.pick_value()).collect();
                let slots: Vec<Value> = vals.iter().map(|v| v.0).collect();
                self.img
                    .new_pointers(pointers, &slots)
                    .map(|v| (v, Body::Slots(vals.into_iter().map(|v| v.1).collect())))
            }
            Format::Bytes => {
                let b: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                self.img.new_bytes(bytes, &b).map(|v| (v, Body::Bytes(b)))
            }
            Format::Words => {
                let w: Vec<u32> = (0..len).map(|_| self.rng.next_u64() as u32).collect();
                self.img.new_words(words, &w).map(|v| (v, Body::Words(w)))
            }
            Format::Method => {
                let vals: Vec<(Value, Stored)> = (0..len % 4).map(|_| self.pick_value()).collect();
                let lits: Vec<Value> = vals.iter().map(|v| v.0).collect();
                let code: Vec<u8> = (0..len + 1).map(|_| self.rng.next_u64() as u8).collect();
                self.img.new_method(methods, &lits, &code).map(|v| {
                    let literals = vals.into_iter().map(|v| v.1).collect();
                    (v, Body::Method { literals, code })
                })
            }
        };
        let (value, body) = match made {
            Ok(m) => m,
            Err(e) => {
                self.violation(
                    pointers,
                    format!("allocate {format:?}"),
                    "Ok".into(),
                    format!("error: {e}"),
                );
                return None;
            }
        };
        let hash = match self.img.identity_hash(value) {
            Ok(h) => h,
            Err(e) => {
                self.violation(value, "hash".into(), "Ok".into(), format!("error: {e}"));
                0
            }
        };
        let j = self.sh.private.len() as u32;
        self.sh.private.push(PrivateObj { value, hash, body });
        self.sh.private_index.insert(value, j);
        Some((value, Lid::Private(j)))
    }

    fn op_become(&mut self) {
        let (from, lf) = self.pick();
        let cf = self.sh.canon(lf);
        let roll = self.rng.below(100);
        let to = if roll < 60 || self.sh.private.is_empty() && roll < 85 {
            let body = self.sh.body(&self.w.oracle, cf);
            let (format, size) = (body.format(), body.size());
            match self.op_alloc(Some(format), size + 1) {
                Some(t) => t,
                None => return,
            }
        } else if roll < 85 {
            let j = self.rng.below(self.sh.private.len());
            (self.sh.private[j].value, Lid::Private(j as u32))
        } else {
            self.pick_base()
        };
        let ct = self.sh.canon(to.1);
        match self.img.become_forward(from, to.0) {
            Ok(()) => {
                if cf != ct {
                    self.sh.forward.insert(cf, ct);
                    self.sh.becomes.push((from, to.0));
                }
            }
            Err(e) => self.violation(
                from,
                format!("become_forward to {:?}", to.0),
                "Ok".into(),
                format!("error: {e}"),
            ),
        }
    }

    fn op_identity(&mut self) {
        let (x, lx) = self.pick();
        let (y, ly) = if self.rng.chance(0.5) {
            match lx {
                Lid::Base(i) => {
                    let base = self.w.oracle.objs[i as usize].value;
                    let other = if x == base {
                        self.sh.alias_of.get(&i).copied().unwrap_or(base)
                    } else {
                        base
                    };
                    (other, lx)
                }
                Lid::Private(_) => (x, lx),
            }
        } else {
            self.pick()
        };
        let same = self.sh.canon(lx) == self.sh.canon(ly);
        let seen = self.img.identical(x, y);
        self.check_eq(x, &format!("identical to {y:?}"), same, seen);
        let hash = self.sh.hash(&self.w.oracle, self.sh.canon(lx));
        let seen = self.img.identity_hash(x);
        self.check_eq(x, "identity hash", hash, seen);
    }

    /// Checks one object whole: format, size, hash and every element.
    fn verify_object(&mut self, x: Value, lid: Lid) {
        self.out.objects_checked += 1;
        let c = self.sh.canon(lid);
        let body = self.sh.body(&self.w.oracle, c).clone();
        let hash = self.sh.hash(&self.w.oracle, c);
        let seen = self.img.format_of(x);
        self.check_eq(x, "format", body.format(), seen);
        let seen = self.img.size_of(x);
        self.check_eq(x, "size", body.size(), seen);
        let seen = self.img.identity_hash(x);
        self.check_eq(x, "identity hash", hash, seen);
        let (slots, bytes) = match &body {
            Body::Slots(s) => (&s[..], None),
            Body::Method { literals, code } => {
                let seen = self.img.literal_count(x);
                self.check_eq(x, "literal count", literals.len(), seen);
                (&literals[..], Some(code))
            }
            Body::Bytes(b) => (&[][..], Some(b)),
            Body::Words(w) => {
                for (k, &e) in w.iter().enumerate() {
                    let seen = self.img.read_word(x, k);
                    self.check_eq(x, &format!("word {k}"), e, seen);
                }
                (&[][..], None)
            }
        };
        for (k, &e) in slots.iter().enumerate() {
            let seen = self.img.read(x, k);
            self.check_value(x, || format!("slot {k}"), e, seen);
        }
        if let Some(expected) = bytes {
            self.out.values_checked += expected.len() as u64;
            match self.img.bytes(x) {
                Ok(seen) if &seen == expected => {}
                Ok(seen) => {
                    let k = seen
                        .iter()
                        .zip(expected.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(seen.len().min(expected.len()));
                    self.violation(
                        x,
                        format!("byte {k}"),
                        format!("{:?}", expected.get(k)),
                        format!("{:?}", seen.get(k)),
                    );
                }
                Err(e) => self.violation(x, "bytes".into(), "Ok".into(), format!("error: {e}")),
            }
        }
    }

    /// The end-of-lifetime check: every object this image wrote, allocated or redirected, a
    /// sample of the base, its copies' identities, and its copy and become counts.
    fn verify(&mut self) {
        let oracle = &self.w.oracle;
        let written: Vec<u32> = self.sh.written_order.clone();
        for i in written {
            self.verify_object(oracle.objs[i as usize].value, Lid::Base(i));
        }
        for j in 0..self.sh.private.len() {
            self.verify_object(self.sh.private[j].value, Lid::Private(j as u32));
        }
        let becomes = self.sh.becomes.clone();
        for (from, to) in becomes {
            let seen = self.img.identical(from, to);
            self.check_eq(
                from,
                &format!("identical to {to:?} after become"),
                true,
                seen,
            );
        }
        let mut aliases: Vec<(Value, u32)> = self.sh.alias.iter().map(|(&v, &i)| (v, i)).collect();
        aliases.sort_by_key(|a| a.1);
        for (alias, i) in aliases {
            let base = oracle.objs[i as usize].value;
            let seen = self.img.identical(alias, base);
            self.check_eq(
                alias,
                &format!("identical to its base object {base:?}"),
                true,
                seen,
            );
        }
        let all = Zipf::new(oracle.objs.len(), 0.0);
        for n in 0..self.cfg.sample {
            let i = if n % 2 == 0 {
                self.w.population[self.zipf.sample(&mut self.rng)]
            } else {
                all.sample(&mut self.rng) as u32
            };
            self.verify_object(oracle.objs[i as usize].value, Lid::Base(i));
        }
        let stats = self.img.stats();
        let dummy = self.w.classes[0];
        self.check_eq(
            dummy,
            "stats.copies (one copy per base object written)",
            self.sh.written.len() as u64,
            Ok(stats.copies),
        );
        self.check_eq(
            dummy,
            "stats.becomes",
            self.sh.becomes.len() as u64,
            Ok(stats.becomes),
        );
    }

    /// The fault-injection hook: a store the shadow never hears of.
    fn inject_fault(&mut self) {
        let oracle = &self.w.oracle;
        let candidates: Vec<u32> = self
            .sh
            .written_order
            .iter()
            .chain(self.w.population.iter())
            .copied()
            .collect();
        for i in candidates {
            let c = self.sh.canon(Lid::Base(i));
            if let Body::Slots(s) = self.sh.body(oracle, c) {
                if let Some(&current) = s.first() {
                    let bad = Value::small_int(777_777_777).filter(|&v| current != Stored::Imm(v));
                    let bad = bad
                        .or(Value::small_int(777_777_778))
                        .unwrap_or(self.w.classes[0]);
                    // The model hears of the copy (the heap makes one) but not of the value.
                    self.sh.body_mut(oracle, c);
                    let _ = self.img.write(oracle.objs[i as usize].value, 0, bad);
                    return;
                }
            }
        }
    }
}

/// What one image thread hands back.
struct SlotOut<'w> {
    results: Tally,
    last: Option<Life<'w>>,
    errors: Vec<String>,
}

struct Shared<'w> {
    w: &'w Workload,
    cfg: &'w StressConfig,
    progress: &'w Progress,
    gate: RwLock<()>,
    start: OnceLock<Instant>,
    next_ticket: AtomicU64,
    total_lifetimes: u64,
    /// Resident set size every `rss_step` finished lifetimes, to show that churn does not grow.
    rss_timeline: std::sync::Mutex<Vec<(u64, u64)>>,
    rss_step: u64,
}

impl Shared<'_> {
    fn deadline(&self) -> Option<Instant> {
        let start = *self.start.get()?;
        self.cfg.duration.map(|d| start + d)
    }

    /// The next lifetime to run, if the run wants another.
    fn claim(&self) -> Option<u64> {
        if self.deadline().is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let t = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        (t < self.total_lifetimes).then_some(t)
    }
}

fn slot_main<'w>(sh: &Shared<'w>, slot: usize) -> SlotOut<'w> {
    drop(sh.gate.read());
    let mut out = SlotOut {
        results: Tally::default(),
        last: None,
        errors: Vec::new(),
    };
    let mut ticket = Some(slot as u64);
    let mut previous: Option<(u32, Vec<u32>)> = None;
    while let Some(t) = ticket {
        let img = match sh.w.heap.new_image() {
            Ok(img) => img,
            Err(e) => {
                out.errors
                    .push(format!("image {slot}: could not start lifetime {t}: {e}"));
                break;
            }
        };
        sh.progress.running.fetch_add(1, Ordering::Relaxed);
        let mut life = Life {
            w: sh.w,
            cfg: sh.cfg,
            img,
            sh: Shadow::default(),
            rng: Rng::derive(sh.cfg.seed, t),
            zipf: Zipf::new(sh.w.population.len(), sh.cfg.skew),
            slot,
            ticket: t,
            out: LifeResult::default(),
        };
        // Teardown and id reuse: nothing the previous image of this thread wrote may show.
        if let Some((prev_id, written)) = previous.take() {
            life.out.id_reused = prev_id == life.img.id();
            for i in written {
                life.verify_object(sh.w.oracle.objs[i as usize].value, Lid::Base(i));
            }
        }
        let started = Instant::now();
        let deadline = sh.deadline().filter(|_| sh.cfg.churn.is_none());
        let mut n = 0u64;
        let mut copies = 0u64;
        let cfg = sh.cfg;
        let (w, a, b, i) = (
            cfg.write_ratio,
            cfg.write_ratio + cfg.alloc_ratio,
            cfg.write_ratio + cfg.alloc_ratio + cfg.become_ratio,
            cfg.write_ratio + cfg.alloc_ratio + cfg.become_ratio + cfg.identity_ratio,
        );
        loop {
            if deadline.is_none() && n >= cfg.ops {
                break;
            }
            let r = life.rng.unit();
            if r < w {
                life.op_write();
            } else if r < a {
                life.op_alloc(None, 17);
            } else if r < b {
                life.op_become();
            } else if r < i {
                life.op_identity();
            } else {
                life.op_read();
            }
            n += 1;
            if n % 1024 == 0 {
                sh.progress.ops.fetch_add(1024, Ordering::Relaxed);
                let c = life.img.stats().copies;
                sh.progress.copies.fetch_add(c - copies, Ordering::Relaxed);
                copies = c;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
        }
        sh.progress.ops.fetch_add(n % 1024, Ordering::Relaxed);
        sh.progress
            .copies
            .fetch_add(life.img.stats().copies - copies, Ordering::Relaxed);
        if cfg.inject_fault && t == 0 {
            life.inject_fault();
        }
        life.out.elapsed = started.elapsed();
        life.out.ops = n;
        ticket = if cfg.churn.is_some() {
            sh.claim()
        } else {
            None
        };
        if ticket.is_none() {
            out.last = Some(life);
            break;
        }
        // This image ends now: verify it on its own thread, then tear it down.
        if cfg.verify {
            let v = Instant::now();
            life.verify();
            life.out.verify_time = v.elapsed();
        }
        let mut result = std::mem::take(&mut life.out);
        result.stats = life.img.stats();
        result.ended_during_run = true;
        let written: Vec<u32> = life
            .sh
            .written_order
            .iter()
            .take(TEARDOWN_CHECKS)
            .copied()
            .collect();
        previous = Some((life.img.id(), written));
        drop(life);
        sh.progress.running.fetch_sub(1, Ordering::Relaxed);
        let finished = sh.progress.finished.fetch_add(1, Ordering::Relaxed) + 1;
        if finished % sh.rss_step == 0 {
            if let Ok(mut timeline) = sh.rss_timeline.lock() {
                timeline.push((finished, rss().0));
            }
        }
        out.results.add(result);
    }
    out
}

fn rss() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs the stress workload and verifies every image. Answers the report whether or not
/// violations were found; errors are for runs that could not happen at all.
pub fn run(w: &Workload, cfg: &StressConfig, progress: &Progress) -> Result<Report, StressError> {
    cfg.validate()?;
    if cfg.images > w.heap.max_images() {
        return Err(StressError::Config(format!(
            "--images {} is more than this base allows at once ({})",
            cfg.images,
            w.heap.max_images()
        )));
    }
    let setup_start = Instant::now();
    let checksum_before = w.heap.checksum();
    let (rss_baseline, _) = rss();
    let total_lifetimes = cfg.churn.unwrap_or(cfg.images as u64);
    progress.planned_lifetimes.store(
        if cfg.duration.is_some() && cfg.churn.is_some() {
            0
        } else {
            total_lifetimes
        },
        Ordering::Relaxed,
    );
    let shared = Shared {
        w,
        cfg,
        progress,
        gate: RwLock::new(()),
        start: OnceLock::new(),
        next_ticket: AtomicU64::new(cfg.images as u64),
        total_lifetimes,
        rss_timeline: std::sync::Mutex::new(Vec::new()),
        rss_step: if total_lifetimes == u64::MAX {
            10_000
        } else {
            (total_lifetimes / 10).max(1)
        },
    };
    let mut errors: Vec<String> = Vec::new();
    let mut results = Tally::default();
    let mut lasts: Vec<Life<'_>> = Vec::new();
    let mut spawn_time = Duration::ZERO;
    let mut run_time = Duration::ZERO;
    std::thread::scope(|s| {
        let spawn_start = Instant::now();
        let gate = shared.gate.write();
        let mut handles = Vec::with_capacity(cfg.images);
        for slot in 0..cfg.images {
            let shared = &shared;
            let builder = std::thread::Builder::new()
                .name(format!("image-{slot}"))
                .stack_size(cfg.stack_size);
            match builder.spawn_scoped(s, move || slot_main(shared, slot)) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    errors.push(format!(
                        "could not start image thread {slot} of {}: {e}",
                        cfg.images
                    ));
                    break;
                }
            }
        }
        spawn_time = spawn_start.elapsed();
        let run_start = Instant::now();
        let _ = shared.start.set(run_start);
        progress.set_phase(Phase::Running);
        drop(gate);
        for (slot, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(out) => {
                    results.merge(out.results);
                    lasts.extend(out.last);
                    errors.extend(out.errors);
                }
                Err(_) => errors.push(format!("image thread {slot} panicked")),
            }
        }
        run_time = run_start.elapsed();
    });
    let setup_time = w.setup + setup_start.elapsed() - run_time;

    // Final verification of every image still alive, in parallel, while all of them live.
    progress.set_phase(Phase::Verifying);
    let verify_start = Instant::now();
    if cfg.verify {
        lasts.par_iter_mut().for_each(|life| {
            life.verify();
            progress.verified.fetch_add(1, Ordering::Relaxed);
        });
    }
    let checksum_after = w.heap.checksum();
    let verify_time = verify_start.elapsed();
    let census = w.heap.census();

    let teardown_start = Instant::now();
    for mut life in lasts {
        let mut r = std::mem::take(&mut life.out);
        r.stats = life.img.stats();
        results.add(r);
        drop(life);
        progress.running.fetch_sub(1, Ordering::Relaxed);
        progress.finished.fetch_add(1, Ordering::Relaxed);
    }
    let teardown_time = teardown_start.elapsed();
    let after = w.heap.census();
    let live_private: u64 = w
        .heap
        .image_stats()
        .iter()
        .map(|live| live.stats.private_bytes)
        .sum();
    let (rss_end, rss_peak) = rss();
    progress.set_phase(Phase::Done);
    let mut rss_timeline = shared.rss_timeline.into_inner().unwrap_or_default();
    rss_timeline.push((progress.finished.load(Ordering::Relaxed), rss_end));

    Ok(build_report(
        w,
        cfg,
        results,
        errors,
        Census3 {
            census,
            after,
            live_private,
            live_images: w.heap.live_images(),
        },
        TimingReport {
            setup_s: (setup_time + spawn_time).as_secs_f64(),
            run_s: run_time.as_secs_f64(),
            verify_s: verify_time.as_secs_f64(),
            teardown_s: teardown_time.as_secs_f64(),
            inline_verify_share: 0.0,
        },
        (checksum_before, checksum_after),
        (rss_baseline, rss_peak, rss_end),
        rss_timeline,
    ))
}

struct Census3 {
    census: crate::Census,
    after: crate::Census,
    live_private: u64,
    live_images: usize,
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    w: &Workload,
    cfg: &StressConfig,
    t: Tally,
    errors: Vec<String>,
    c: Census3,
    timing: TimingReport,
    checksums: (u64, u64),
    rss: (u64, u64, u64),
    rss_timeline: Vec<(u64, u64)>,
) -> Report {
    let mut timing = timing;
    timing.inline_verify_share = t.verify_time / (t.verify_time + t.running_time).max(1e-9);
    let stats = t.stats;
    let mut violations = t.violations;
    let mut violations_total = errors.len() as u64 + t.violation_count;
    if checksums.0 != checksums.1 {
        violations_total += 1;
        violations.push(Violation {
            image: 0,
            lifetime: 0,
            image_id: 0,
            object: "the base heap".into(),
            what: "checksum".into(),
            expected: format!("{:016x}", checksums.0),
            seen: format!("{:016x}", checksums.1),
        });
    }
    let base_bytes = w.heap.bytes() as u64;
    let private_mean = stats.private_bytes as f64 / t.lifetimes.max(1) as f64;
    let images = cfg.images as f64;
    Report {
        verdict: if violations_total == 0 {
            "PASS"
        } else {
            "FAIL"
        },
        config: ConfigReport {
            images: cfg.images,
            ops_per_image: cfg.ops,
            duration_s: cfg.duration.map(|d| d.as_secs_f64()),
            write_ratio: cfg.write_ratio,
            alloc_ratio: cfg.alloc_ratio,
            become_ratio: cfg.become_ratio,
            identity_ratio: cfg.identity_ratio,
            skew: cfg.skew,
            churn_lifetimes: cfg.churn,
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
            slot_entries: c.census.entries,
            slot_entry_capacity: c.census.entry_capacity,
            slot_entries_after_teardown: c.after.entries,
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
