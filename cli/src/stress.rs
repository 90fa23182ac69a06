//! `cowheap stress`: many concurrent images over one base, verified, with live progress and a
//! report. The harness is [`cowheap_stress`]; this module is its command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use cowheap_stress::{
    Churn, ConfigError, GenConfig, Progress, StressConfig, StressError, Verdict, Workload,
};

use crate::exit::{load_failure, Code, Failure};
use crate::out::{emit, note, outln};
use crate::parse::{self, ChurnArg};

/// The options live behind a box: they are many, and the subcommand enum should stay small.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub options: Box<Options>,
}

/// Every value is typed and range-checked by clap, so a bad one gets clap's error and the
/// usage exit code; a value starting with `-` is always taken for a flag, never a number.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Concurrent images, one OS thread each.
    #[arg(long, value_name = "N", default_value = "100",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    images: usize,
    /// Ops per image (per image lifetime with --churn). Default: 50,000, fewer with many
    /// images so that a run does about 5 M ops and its checker fits in memory (5,000 at 1,000
    /// images, 1,000 from 5,000 images up).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    ops: Option<u64>,
    /// Run for this long instead of a number of ops, e.g. 30s, 500ms, 2m (at most a year).
    /// With --churn, images of --ops ops keep starting until the time is up.
    #[arg(long, value_name = "TIME", value_parser = parse::duration)]
    duration: Option<Duration>,
    /// Fraction of ops that store into an object.
    #[arg(long, value_name = "F", default_value = "0.2", value_parser = parse::ratio)]
    write_ratio: f64,
    /// Fraction of ops that allocate a private object.
    #[arg(long, value_name = "F", default_value = "0.02", value_parser = parse::ratio)]
    alloc_ratio: f64,
    /// Fraction of ops that become_forward an object into another.
    #[arg(long, value_name = "F", default_value = "0.002", value_parser = parse::ratio)]
    become_ratio: f64,
    /// Fraction of ops that check identity and identity hashes.
    #[arg(long, value_name = "F", default_value = "0.05", value_parser = parse::ratio)]
    identity_ratio: f64,
    /// Fraction of ops that drop a handle the image holds to one of its private objects
    /// (what nothing else reaches is then garbage).
    #[arg(long, value_name = "F", default_value = "0.01", value_parser = parse::ratio)]
    forget_ratio: f64,
    /// Fraction of ops that collect the image's private space, every handle passed as a root
    /// and checked afterwards; the rest of the ops are reads. 0 turns collections off.
    #[arg(long, value_name = "F", default_value = "0.0002", value_parser = parse::ratio)]
    collect_ratio: f64,
    /// Zipf exponent of object popularity, 0 to 10: 0 is uniform; near 1 a few hot objects
    /// are copied by nearly every image.
    #[arg(long, value_name = "S", default_value = "0.9", value_parser = parse::skew)]
    skew: f64,
    /// Images end and new ones start, reusing ids, until LIFETIMES images have run in all
    /// (bare or `auto`: 10 per concurrent image, or until the time is up with --duration).
    #[arg(long, value_name = "LIFETIMES", num_args = 0..=1, default_missing_value = "auto",
          value_parser = parse::churn)]
    churn: Option<ChurnArg>,
    /// Seed of the generated base and of every image's op stream.
    #[arg(long, value_name = "N", default_value = "1")]
    seed: u64,
    /// A Squeak or Pharo image file to use as the base (V3 6502/6504/6505 or Spur 6521),
    /// instead of the generated default base.
    #[arg(long, value_name = "FILE")]
    base: Option<PathBuf>,
    /// Objects in the generated default base (ignored with --base).
    #[arg(long, value_name = "N", default_value = "60000",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=50_000_000))]
    objects: usize,
    /// Stack size of each image thread: bytes, or with a k, m or g suffix (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "256k", value_parser = parse::stack_size)]
    stack_size: usize,
    /// Base objects each image checks at its end, beyond everything it touched (at most
    /// 1,000,000).
    #[arg(long, value_name = "N", default_value = "512",
          value_parser = RangedU64ValueParser::<usize>::new().range(0..=cowheap_stress::MAX_SAMPLE as u64))]
    sample: usize,
    /// Skip the end-of-image verification (reads are still checked as they happen).
    #[arg(long)]
    no_verify: bool,
    /// Print the report as JSON on stdout instead of a table, with --resume-deltas instead of
    /// its line (fields: docs/JSON.md).
    #[arg(long)]
    json: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
    /// At the end, save every image still alive into DIR (created if missing): its delta
    /// (`image-N.delta`, see `cowheap inspect`) and its shadow model (`image-N.shadow`).
    #[arg(long, value_name = "DIR", conflicts_with = "resume_deltas")]
    save_deltas: Option<PathBuf>,
    /// Instead of running, resume every delta in DIR (saved by --save-deltas over the same
    /// base: give the same --base, or the same --seed and --objects) and verify each against
    /// its saved shadow model. Exit 1 if any disagrees, 4 if a delta is refused (another
    /// base, damage), 3 if a file cannot be read.
    #[arg(long, value_name = "DIR")]
    resume_deltas: Option<PathBuf>,
    /// Test hook: image 0 stores a value behind its own shadow model's back, so the run must
    /// report a violation and fail.
    #[arg(long, hide = true)]
    inject_fault: bool,
}

/// The flag that spells a [`StressConfig`] field.
fn flag(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// A refused setting in the command's own words: the harness names fields, the user typed
/// flags.
fn usage(e: &ConfigError) -> Failure {
    let mut text = e.to_string();
    for field in e.fields() {
        text = text.replace(&format!("`{field}`"), &flag(field));
    }
    Failure::Usage(text)
}

fn config(args: &Options) -> Result<(StressConfig, GenConfig), Failure> {
    let images = args.images;
    let churn = match args.churn {
        None => None,
        Some(ChurnArg::Auto) if args.duration.is_some() => Some(Churn::UntilDeadline),
        Some(ChurnArg::Auto) => Some(Churn::Lifetimes(images as u64 * 10)),
        Some(ChurnArg::Lifetimes(n)) => Some(Churn::Lifetimes(n)),
    };
    let cfg = StressConfig {
        images,
        ops: args.ops.unwrap_or(StressConfig::default_ops(images)),
        duration: args.duration,
        write_ratio: args.write_ratio,
        alloc_ratio: args.alloc_ratio,
        become_ratio: args.become_ratio,
        identity_ratio: args.identity_ratio,
        forget_ratio: args.forget_ratio,
        collect_ratio: args.collect_ratio,
        skew: args.skew,
        churn,
        seed: args.seed,
        stack_size: args.stack_size,
        sample: args.sample,
        verify: !args.no_verify,
        inject_fault: args.inject_fault,
    };
    cfg.validate().map_err(|e| usage(&e))?;
    let gen = GenConfig {
        seed: args.seed,
        objects: args.objects,
        max_images: GenConfig::default().max_images.max(images),
    };
    Ok((cfg, gen))
}

/// A run the harness refused: a setting is a usage error; a base it cannot stress, or a
/// heap that refused, is a run that could not happen.
fn refused(e: StressError) -> Failure {
    match e {
        StressError::Config(e) if !e.fields().is_empty() => usage(&e),
        StressError::Config(e) => Failure::Run(format!("cannot stress this base: {e}")),
        e => Failure::Run(e.to_string()),
    }
}

/// The first Ctrl-C asks the run to stop and report what it did; a second one, for a run
/// whose final verification takes too long, exits at once.
fn on_interrupt(progress: &'static Progress) {
    let handler = move || {
        if progress.stop_requested() {
            std::process::exit(130);
        }
        progress.request_stop();
        note("cowheap stress: interrupted; verifying what ran (Ctrl-C again to quit now)");
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        note(&format!(
            "cowheap stress: Ctrl-C will end the run without a report: {e}"
        ));
    }
}

/// Runs the command: build the base, run with progress, print the report.
pub fn run(args: Options) -> Result<Code, Failure> {
    let (cfg, gen) = config(&args)?;
    if args.resume_deltas.is_none() {
        crate::limits::check_threads(cfg.images)?;
    }
    let workload = match &args.base {
        None => Workload::generated(&gen).map_err(refused)?,
        Some(path) => {
            let loaded =
                cowheap_squeak::loader::load_file(path).map_err(|e| load_failure(path, e))?;
            let source = format!(
                "{} ({:?} {}, {:?})",
                path.display(),
                loaded.info.family,
                loaded.info.format,
                loaded.info.byte_order
            );
            Workload::from_heap(loaded.heap, source, gen.seed).map_err(refused)?
        }
    };
    if let Some(dir) = &args.resume_deltas {
        return resume(&workload, &cfg, dir, args.json);
    }
    // The handler outlives this function in ctrlc's thread: the counters it flags must too.
    let progress: &'static Progress = Box::leak(Box::default());
    on_interrupt(progress);
    let done = AtomicBool::new(false);
    let tty = std::io::stderr().is_terminal();
    let report = std::thread::scope(|s| {
        if !args.quiet {
            s.spawn(|| crate::progress::show(progress, &done, tty));
        }
        let report = match &args.save_deltas {
            None => cowheap_stress::run(&workload, &cfg, progress).map(|r| (r, None)),
            Some(dir) => cowheap_stress::run_saving_deltas(&workload, &cfg, progress, dir)
                .map(|(r, saved)| (r, Some(saved))),
        };
        done.store(true, Ordering::Relaxed);
        report
    })
    .map_err(refused)?;
    let (report, saved) = report;
    if let (Some(saved), Some(dir)) = (saved, &args.save_deltas) {
        let saved = saved.map_err(|e| Failure::Io(format!("cannot save the deltas: {e}")))?;
        note(&format!(
            "cowheap stress: saved {} deltas to {}: {} bytes for {} private bytes ({:.2}x), written in {:.1} ms",
            saved.images,
            dir.display(),
            saved.delta_bytes,
            saved.private_bytes,
            saved.delta_bytes as f64 / saved.private_bytes.max(1) as f64,
            saved.save_time.as_secs_f64() * 1e3
        ));
        if saved.stale_files_removed > 0 {
            note(&format!(
                "cowheap stress: removed {} temporary files an interrupted save had left in {}",
                saved.stale_files_removed,
                dir.display()
            ));
        }
    }
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Run(format!("cannot encode the report: {e}")))?;
        json.push('\n');
        json
    } else {
        crate::table::table(&report)
    };
    // A report that could not be written, to a full disk or a closed pipe, is exit 3.
    emit(&text)?;
    Ok(match report.verdict {
        Verdict::Pass => Code::Success,
        Verdict::Fail => Code::VerificationFailed,
        Verdict::Interrupted => Code::Interrupted,
    })
}

/// The version of `--resume-deltas --json`'s form, on the stress report's terms.
const RESUME_SCHEMA_VERSION: u32 = 1;

/// `--resume-deltas DIR`: resume every saved delta over this base and verify it against its
/// saved shadow model.
fn resume(
    workload: &Workload,
    cfg: &StressConfig,
    dir: &std::path::Path,
    json: bool,
) -> Result<Code, Failure> {
    let r = cowheap_stress::resume_deltas(workload, cfg, dir).map_err(|e| {
        if e.is_refusal() {
            Failure::Run(format!("cannot resume: {e}"))
        } else {
            Failure::Io(format!("cannot resume: {e}"))
        }
    })?;
    for line in &r.incomplete {
        note(&format!("cowheap stress: {line}"));
    }
    if r.images == 0 && r.incomplete.is_empty() {
        return Err(Failure::Io(format!(
            "{}: no image-N.delta files",
            dir.display()
        )));
    }
    let verdict = if !r.violations.is_empty() {
        "FAIL"
    } else if !r.incomplete.is_empty() {
        "INCOMPLETE"
    } else {
        "PASS"
    };
    // Violations fail the check (1); an image whose save was interrupted is a refused delta
    // (4), after the report of the others.
    let code = if !r.violations.is_empty() {
        Ok(Code::VerificationFailed)
    } else if !r.incomplete.is_empty() {
        Err(Failure::Run(format!(
            "{} of {} images not resumed: their saves were interrupted (see above)",
            r.incomplete.len(),
            r.images + r.incomplete.len()
        )))
    } else {
        Ok(Code::Success)
    };
    if json {
        let report = serde_json::json!({
            "schema_version": RESUME_SCHEMA_VERSION,
            "kind": "resume",
            "directory": dir.display().to_string(),
            "images": r.images,
            "delta_bytes": r.delta_bytes,
            "resume_ms": r.resume_time.as_secs_f64() * 1e3,
            "objects_checked": r.objects_checked,
            "violations": r.violations,
            "incomplete": r.incomplete,
            "verdict": verdict,
        });
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Run(format!("cannot encode the report: {e}")))?;
        emit(&(text + "\n"))?;
        return code;
    }
    let mut out = String::new();
    for v in &r.violations {
        outln!(out, "{v}");
    }
    outln!(
        out,
        "resumed {} images from {} ({} delta bytes) in {:.1} ms; verified {} objects against their saved shadow models: {}",
        r.images,
        dir.display(),
        r.delta_bytes,
        r.resume_time.as_secs_f64() * 1e3,
        r.objects_checked,
        verdict
    );
    emit(&out)?;
    code
}
