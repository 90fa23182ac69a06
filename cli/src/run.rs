//! `cowheap run IMAGE EXPR`: run a Smalltalk do-it in one or many images of a
//! loaded base, each on its own thread (or on a pool of workers, `--threads`). The interpreter and the batch runner are
//! [`cowheap_squeak::interp`]; this module is their command line.

use clap::builder::RangedU64ValueParser;
use cowheap_squeak::interp::{
    run_batch, BatchConfig, BatchError, BatchProgress, Limits, StopKind, Vm,
};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::exit::{Code, Failure};
use crate::out::{emit, note, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image file, either byte order: Squeak V3 format 6502 or 6504 (Squeak 1.x to 3.x,
    /// BlockContexts, e.g. the mini 2.2 images and Scratch.image), or 6505 (V3 with closures
    /// and Cog's Float order; see squeak/README.md for how far closures run). Spur images
    /// (6521 and later) load but are refused (exit 4).
    pub image: PathBuf,
    /// The do-it, e.g. '30 benchFib' or '| oc | oc := OrderedCollection new. oc add: $i; yourself':
    /// temporaries, statements, assignments, cascades and `^`, compiled in Rust (text beyond
    /// that grammar goes to the image's own compiler, where it has one). With more than one
    /// image, `$i` is each image's number (with one, the Character `i`). One that starts with
    /// `-` goes after `--`.
    pub expr: String,
    /// Images, each on its own thread (unless --threads).
    #[arg(long, value_name = "N", default_value = "1",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub images: usize,
    /// Run the images on a pool of T worker threads instead of a thread each: every image
    /// is made first (all live at once, as with a thread each), then each worker runs them
    /// one after another. A host with more images than cores does so; it leaves out the
    /// cost of starting a thread per image.
    #[arg(long, value_name = "T",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub threads: Option<usize>,
    /// Compile EXPR with the image's own compiler (`Compiler evaluate:`): full Smalltalk
    /// syntax, statements and temporaries; with more than one image, `$i` is replaced by the
    /// image's number.
    #[arg(long)]
    pub eval: bool,
    /// Print the report as JSON (fields: docs/JSON.md).
    #[arg(long)]
    pub json: bool,
    /// Bytecodes each image may execute.
    #[arg(long, default_value_t = Limits::default().bytecodes)]
    pub bytecodes_limit: u64,
    /// Private bytes each image may hold (a number with an optional unit: 64k, 16m, 1g).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().private_bytes,
          value_parser = crate::parse::bytes)]
    pub alloc_limit: usize,
    /// Activations each image may have live at once. Past the default, at most one per KiB
    /// of --alloc-limit: an activation's frame lives outside the private space.
    #[arg(long, default_value_t = Limits::default().depth)]
    pub depth_limit: usize,
    /// Wall-clock time each image's run may take (30s, 500ms, 2m; `none` for no bound). An
    /// image past it stops (exit 10) within milliseconds, whatever it runs.
    #[arg(long, value_name = "TIME", default_value = "60s",
          value_parser = crate::parse::time_limit)]
    pub time_limit: TimeLimit,
}

/// `--time-limit`: a duration, or none.
#[derive(Clone, Copy, Debug)]
pub struct TimeLimit(pub Option<std::time::Duration>);

pub fn run(args: Args) -> Result<Code, Failure> {
    // A crowd the system cannot give threads to is refused before the image is even loaded.
    crate::limits::check_threads(args.threads.unwrap_or(args.images))?;
    let loaded = cowheap_squeak::loader::load_file(&args.image)
        .map_err(|e| crate::exit::load_failure(&args.image, e))?;
    let vm = Vm::for_loaded(&loaded).map_err(|e| Failure::Run(e.to_string()))?;
    let interrupt = Arc::new(AtomicBool::new(false));
    on_interrupt(interrupt.clone());
    let progress = Arc::new(BatchProgress::default());
    let config = BatchConfig {
        images: args.images,
        workers: args.threads,
        limits: Limits {
            bytecodes: args.bytecodes_limit,
            private_bytes: args.alloc_limit,
            depth: args.depth_limit,
            time: args.time_limit.0,
        },
        compiler: args.eval,
        interrupt: Some(interrupt),
        progress: Some(progress.clone()),
        ..BatchConfig::default()
    };
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        if args.images > 1 && std::io::stderr().is_terminal() {
            s.spawn(|| show_progress(&progress, args.images, &done));
        }
        let report = run_batch(&loaded.heap, &vm, &args.expr, &config);
        done.store(true, Ordering::Relaxed);
        report
    })
    .map_err(|e| match e {
        BatchError::Heap(e) => Failure::Run(e.to_string()),
        // A panic in an image is a bug of this program, not a refusal: exit 9, as an image
        // stopped by anything else.
        e => Failure::Run(format!("{e} (a bug: please report it)")),
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&json_report(&report))
            .map_err(|e| Failure::Io(e.to_string()))?;
        emit(&(json + "\n"))?;
    } else {
        emit(&text(&report, args.images))?;
    }
    Ok(match report.first_stop() {
        _ if report.interrupted => Code::Interrupted,
        Some(stop) => Code::Stopped(stop_code(stop.kind)),
        None if !report.base_unchanged() => Code::VerificationFailed,
        None => Code::Success,
    })
}

/// The first Ctrl-C stops the images (each within about a millisecond) and the report of
/// those that finished follows; a second one exits at once.
fn on_interrupt(interrupt: Arc<AtomicBool>) {
    let handler = move || {
        if interrupt.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        note("cowheap run: interrupted; reporting the images that finished (Ctrl-C again to quit now)");
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        note(&format!(
            "cowheap run: Ctrl-C will end the run without a report: {e}"
        ));
    }
}

/// A bar of finished images on a terminal, until `done`.
fn show_progress(progress: &BatchProgress, images: usize, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::new(images as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} images finished {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    while !done.load(Ordering::Relaxed) {
        let started = progress.started.load(Ordering::Relaxed);
        let finished = progress.finished.load(Ordering::Relaxed);
        let stopped = progress.stopped.load(Ordering::Relaxed);
        bar.set_position(finished as u64);
        bar.set_message(format!(
            "· {} running · {stopped} stopped",
            started.saturating_sub(finished)
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// The exit status of a run whose first stop was of `kind`, after the codes every subcommand
/// shares (0-4): see [`crate::exit::RUN_HELP`].
fn stop_code(kind: StopKind) -> u8 {
    match kind {
        StopKind::DoesNotUnderstand => 5,
        StopKind::BytecodeLimit => 6,
        StopKind::AllocationLimit => 7,
        StopKind::DepthLimit => 8,
        StopKind::TimeLimit => 10,
        // The expression is at fault, not the image: a usage error.
        StopKind::Parse => 2,
        StopKind::Interrupted => 130,
        _ => 9,
    }
}

/// The version of `run --json`'s form, on the same terms as the stress report's
/// `schema_version`: it grows when a field changes meaning or type or goes away.
const SCHEMA_VERSION: u32 = 1;

/// The report as JSON: the library's report, and what the text form computes from it (the
/// rates, whether the base is unchanged).
fn json_report(report: &cowheap_squeak::interp::BatchReport) -> serde_json::Value {
    let rate = |n: u64, s: f64| n as f64 / s.max(1e-9);
    let mut json = serde_json::json!(report);
    json["schema_version"] = SCHEMA_VERSION.into();
    // Hex strings, as the stress report's: a u64 does not survive a JSON reader that parses
    // numbers as doubles.
    json["checksum_before"] = format!("{:016x}", report.checksum_before).into();
    json["checksum_after"] = format!("{:016x}", report.checksum_after).into();
    json["base_unchanged"] = report.base_unchanged().into();
    json["bytecodes_per_sec"] = report.bytecodes_per_sec().into();
    json["sends_per_sec"] = report.sends_per_sec().into();
    if let Some(runs) = json["runs"].as_array_mut() {
        for (j, r) in runs.iter_mut().zip(&report.runs) {
            j["bytecodes_per_sec"] = rate(r.bytecodes, r.seconds).into();
            j["sends_per_sec"] = rate(r.sends, r.seconds).into();
        }
    }
    json
}

/// How many images' Transcripts the text report of a batch shows.
const TRANSCRIPTS_SHOWN: usize = 5;

/// Text that ends its last line.
fn with_line_end(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// The report as text: after a Ctrl-C, of the images that finished (of `images` asked for).
fn text(report: &cowheap_squeak::interp::BatchReport, images: usize) -> String {
    let mut out = String::new();
    let runs: Vec<_> = report.finished().collect();
    if report.interrupted {
        outln!(
            out,
            "interrupted: {} of {images} images finished{}",
            runs.len(),
            if runs.is_empty() {
                ""
            } else {
                "; their report:"
            }
        );
        if runs.is_empty() {
            outln!(
                out,
                "base unchanged: {}",
                if report.base_unchanged() { "yes" } else { "NO" }
            );
            return out;
        }
    }
    let mut answers: Vec<&str> = runs.iter().filter_map(|r| r.answer.as_deref()).collect();
    answers.sort_unstable();
    answers.dedup();
    let stopped = runs.iter().filter(|r| r.stopped.is_some()).count();
    if runs.len() == 1 && !report.interrupted {
        let r = runs[0];
        match (&r.answer, &r.stopped) {
            (Some(a), _) => outln!(out, "{a}"),
            (_, Some(s)) => outln!(out, "stopped ({}): {}", s.kind, s.message),
            _ => {}
        }
        if !r.transcript.is_empty() {
            outln!(out, "transcript:");
            out.push_str(&with_line_end(&r.transcript));
        }
        outln!(
            out,
            "bytecodes {}  sends {}  {:.3} s  {:.1} M bytecodes/s  {:.1} M sends/s",
            r.bytecodes,
            r.sends,
            r.seconds,
            r.bytecodes as f64 / r.seconds.max(1e-9) / 1e6,
            r.sends as f64 / r.seconds.max(1e-9) / 1e6
        );
        outln!(
            out,
            "copies {}  private bytes {} (peak {})  collections {} ({} bytes freed, longest pause {:.3} ms)",
            r.copies,
            r.private_bytes,
            r.peak_private_bytes,
            r.collections,
            r.collected_bytes,
            r.longest_pause_seconds * 1e3
        );
    } else {
        outln!(
            out,
            "{} images ({} live at once): {} answered, {} stopped; distinct answers: {}",
            runs.len(),
            report.live_at_start,
            runs.len() - stopped,
            stopped,
            answers.len()
        );
        for a in answers.iter().take(5) {
            outln!(out, "  answer {a}");
        }
        if let Some(s) = report.first_stop() {
            outln!(out, "  first stop ({}): {}", s.kind, s.message);
        }
        // Each image's Transcript apart, the first few of them (`--json` has every one).
        let writers: Vec<_> = runs.iter().filter(|r| !r.transcript.is_empty()).collect();
        for r in writers.iter().take(TRANSCRIPTS_SHOWN) {
            outln!(out, "  transcript of image {}:", r.image);
            out.push_str(&with_line_end(&r.transcript));
        }
        if writers.len() > TRANSCRIPTS_SHOWN {
            outln!(
                out,
                "  ({} more images wrote to their Transcript: --json has every one)",
                writers.len() - TRANSCRIPTS_SHOWN
            );
        }
        let copies: u64 = runs.iter().map(|r| r.copies).sum();
        let bytecodes: u64 = runs.iter().map(|r| r.bytecodes).sum();
        let sends: u64 = runs.iter().map(|r| r.sends).sum();
        let wall = report.wall_seconds.max(1e-9);
        let private: u64 = runs.iter().map(|r| r.private_bytes).sum();
        outln!(
            out,
            "bytecodes {}  sends {}  wall {:.3} s  aggregate {:.1} M bytecodes/s  {:.1} M sends/s",
            bytecodes,
            sends,
            report.wall_seconds,
            bytecodes as f64 / wall / 1e6,
            sends as f64 / wall / 1e6
        );
        outln!(
            out,
            "copies {}  private bytes {} in all, {} per image (mean)",
            copies,
            private,
            private / runs.len().max(1) as u64
        );
    }
    outln!(
        out,
        "base unchanged: {}",
        if report.base_unchanged() { "yes" } else { "NO" }
    );
    out
}
