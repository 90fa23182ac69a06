//! The run: one OS thread per concurrent image, each running image lifetimes one after
//! another (churn), then a parallel final verification of every image still alive, then
//! teardown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::assemble::{build_report, AfterRun, Tally};
use crate::life::{Life, LifeResult, TEARDOWN_CHECKS};
use crate::report::{Report, TimingReport};
use crate::rng::{Rng, Zipf};
use crate::rss::rss;
use crate::saved::{SavedDeltas, SavedError};
use crate::shadow::{Lid, Shadow};
use crate::{ConfigError, Phase, Progress, StressConfig, StressError, Workload};

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
    /// Set when not every image thread could start: the run is not the one asked for, so
    /// the threads that did start stop at once.
    abort: std::sync::atomic::AtomicBool,
}

impl Shared<'_> {
    /// Whether image threads should stop before their op streams end.
    fn stopping(&self) -> bool {
        self.progress.stop_requested() || self.abort.load(Ordering::Relaxed)
    }

    fn deadline(&self) -> Option<Instant> {
        let start = *self.start.get()?;
        self.cfg.duration.map(|d| start + d)
    }

    /// The next lifetime to run, if the run wants another.
    fn claim(&self) -> Option<u64> {
        if self.stopping() || self.deadline().is_some_and(|d| Instant::now() >= d) {
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
            resumed: false,
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
        let w = cfg.write_ratio;
        let a = w + cfg.alloc_ratio;
        let b = a + cfg.become_ratio;
        let i = b + cfg.identity_ratio;
        let f = i + cfg.forget_ratio;
        let c = f + cfg.collect_ratio;
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
            } else if r < f {
                life.op_forget();
            } else if r < c {
                life.op_collect();
            } else {
                life.op_read();
            }
            n += 1;
            if n.is_multiple_of(1024) {
                sh.progress.ops.fetch_add(1024, Ordering::Relaxed);
                let c = life.img.stats().copies;
                sh.progress.copies.fetch_add(c - copies, Ordering::Relaxed);
                copies = c;
                if sh.stopping() || deadline.is_some_and(|d| Instant::now() >= d) {
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
        if finished.is_multiple_of(sh.rss_step) {
            if let Ok(mut timeline) = sh.rss_timeline.lock() {
                timeline.push((finished, rss().0));
            }
        }
        out.results.add(result);
    }
    out
}

/// Runs the stress workload and verifies every image. Answers the report whether or not
/// violations were found; errors are for runs that could not happen at all.
pub fn run(w: &Workload, cfg: &StressConfig, progress: &Progress) -> Result<Report, StressError> {
    run_inner(w, cfg, progress, None).map(|(report, _)| report)
}

/// [`run`], then saves every image still alive at the end (after its final verification,
/// before teardown) into `dir`: its delta and its shadow model (see
/// [`resume_deltas`](crate::resume_deltas)). A failed save does not fail the run: it is
/// answered beside the report.
pub fn run_saving_deltas(
    w: &Workload,
    cfg: &StressConfig,
    progress: &Progress,
    dir: &std::path::Path,
) -> Result<(Report, Result<SavedDeltas, SavedError>), StressError> {
    run_inner(w, cfg, progress, Some(dir))
        .map(|(report, saved)| (report, saved.unwrap_or_else(|| Ok(SavedDeltas::default()))))
}

type Saved = Option<Result<SavedDeltas, SavedError>>;

fn run_inner(
    w: &Workload,
    cfg: &StressConfig,
    progress: &Progress,
    save_to: Option<&std::path::Path>,
) -> Result<(Report, Saved), StressError> {
    cfg.validate()?;
    if cfg.images > w.heap.max_images() {
        return Err(ConfigError::TooManyImages {
            images: cfg.images,
            max: w.heap.max_images(),
        }
        .into());
    }
    let setup_start = Instant::now();
    let checksum_before = w.heap.checksum();
    let (rss_baseline, _) = rss();
    let total_lifetimes = cfg.lifetimes().unwrap_or(u64::MAX);
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
        abort: std::sync::atomic::AtomicBool::new(false),
        rss_step: if total_lifetimes == u64::MAX {
            10_000
        } else {
            (total_lifetimes / 10).max(1)
        },
    };
    let mut errors: Vec<String> = Vec::new();
    let mut spawn_failure: Option<(usize, std::io::Error)> = None;
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
                    shared.abort.store(true, Ordering::Relaxed);
                    spawn_failure = Some((slot, e));
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
    if let Some((image, source)) = spawn_failure {
        return Err(StressError::Spawn {
            image,
            images: cfg.images,
            source,
        });
    }
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
    let holder_errors = if cfg.verify {
        check_holders(w, &lasts)
    } else {
        Vec::new()
    };
    errors.extend(holder_errors);
    let verify_time = verify_start.elapsed();
    let census = w.heap.census();
    let saved = save_to.map(|dir| crate::saved::save(dir, &lasts));

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
    // Every image has ended: whatever forwarders wait for a grace period can go now.
    w.heap.reclaim();
    let after = w.heap.census();
    let reclamation = w.heap.reclamation();
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

    let interrupted = progress.stop_requested();
    let report = build_report(
        w,
        cfg,
        results,
        AfterRun {
            errors,
            census,
            after,
            reclamation,
            live_private,
            live_images: w.heap.live_images(),
            timing: TimingReport {
                setup_s: (setup_time + spawn_time).as_secs_f64(),
                run_s: run_time.as_secs_f64(),
                verify_s: verify_time.as_secs_f64(),
                teardown_s: teardown_time.as_secs_f64(),
                inline_verify_share: 0.0,
            },
            checksums: (checksum_before, checksum_after),
            rss: (rss_baseline, rss_peak, rss_end),
            rss_timeline,
            interrupted,
        },
    );
    Ok((report, saved))
}

/// Every base object's forwarder holds exactly the live images whose shadows say they wrote it
/// or made it `become` something: nothing left behind by an image that ended (during churn
/// above all), and nothing missing. The images are quiet here, so the answer is exact.
fn check_holders(w: &Workload, lasts: &[Life<'_>]) -> Vec<String> {
    let mut expected: crate::shadow::Map<u32, Vec<u32>> = Default::default();
    for life in lasts {
        let id = life.img.id();
        let mut held: Vec<u32> = life.sh.written.keys().copied().collect();
        held.extend(life.sh.forward.keys().filter_map(|lid| match *lid {
            crate::shadow::Lid::Base(i) => Some(i),
            crate::shadow::Lid::Private(_) => None,
        }));
        held.sort_unstable();
        held.dedup();
        for i in held {
            expected.entry(i).or_default().push(id);
        }
    }
    let mut errors = Vec::new();
    for (i, obj) in w.oracle.objs.iter().enumerate() {
        let mut want = expected.remove(&(i as u32)).unwrap_or_default();
        want.sort_unstable();
        match w.heap.census_of(obj.value) {
            Ok(seen) if seen.images != want => errors.push(format!(
                "base object {i}: forwarder holders {:?}, live writers {want:?}",
                seen.images
            )),
            Ok(seen) if !seen.capacity_follows_entries() => errors.push(format!(
                "base object {i}: {} entries of capacity for {} live entries",
                seen.entry_capacity,
                seen.images.len()
            )),
            Ok(_) => {}
            Err(e) => errors.push(format!("base object {i}: census_of refused: {e}")),
        }
        if errors.len() >= 8 {
            break;
        }
    }
    errors
}
