//! `cowheap stress`: many concurrent images over one base, verified, with live progress and a
//! report. The engine is [`cowheap::stress`]; this module is its command line.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cowheap::stress::{self, GenConfig, Phase, Progress, Report, StressConfig, Workload};

/// The options live behind a box: they are many, and the subcommand enum should stay small.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    options: Box<Options>,
}

/// Numbers are taken as text and parsed here, so that a bad value gets the same one-line
/// error as any other bad argument.
#[derive(clap::Args, Debug)]
struct Options {
    /// Concurrent images, one OS thread each.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "100"
    )]
    images: String,
    /// Ops per image (per image lifetime with --churn). Default: 50,000, fewer with many
    /// images so that a run does about 5 M ops and its checker fits in memory (5,000 at 1,000
    /// images, 1,000 from 5,000 images up).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    ops: Option<String>,
    /// Run for this long instead of a number of ops, e.g. 10s, 500ms, 2m. With --churn,
    /// images of --ops ops keep starting until the time is up.
    #[arg(long, allow_hyphen_values = true, value_name = "TIME")]
    duration: Option<String>,
    /// Fraction of ops that store into an object.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value = "0.2"
    )]
    write_ratio: String,
    /// Fraction of ops that allocate a private object.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value = "0.02"
    )]
    alloc_ratio: String,
    /// Fraction of ops that become_forward an object into another.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value = "0.002"
    )]
    become_ratio: String,
    /// Fraction of ops that check identity and identity hashes; the rest are reads.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value = "0.05"
    )]
    identity_ratio: String,
    /// Zipf exponent of object popularity: 0 is uniform; near 1 a few hot objects are
    /// copied by nearly every image.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "S",
        default_value = "0.9"
    )]
    skew: String,
    /// Images end and new ones start, reusing ids, until LIFETIMES images have run in all
    /// (bare: 10 per concurrent image, or unlimited with --duration).
    #[arg(long, value_name = "LIFETIMES", num_args = 0..=1, default_missing_value = "auto")]
    churn: Option<String>,
    /// Seed of the generated base and of every image's op stream.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "1"
    )]
    seed: String,
    /// A Squeak or Pharo image file to use as the base (V3 6502/6504/6505 or Spur 6521),
    /// instead of the generated default base.
    #[arg(long, value_name = "FILE")]
    base: Option<std::path::PathBuf>,
    /// Objects in the generated default base (ignored with --base).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "60000"
    )]
    objects: String,
    /// Stack size of each image thread, in bytes (suffixes k and m allowed).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "BYTES",
        default_value = "256k"
    )]
    stack_size: String,
    /// Base objects each image checks at its end, beyond everything it touched.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        default_value = "512"
    )]
    sample: String,
    /// Skip the end-of-image verification (reads are still checked as they happen).
    #[arg(long)]
    no_verify: bool,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
    /// Test hook: image 0 stores a value behind its own shadow model's back, so the run must
    /// report a violation and fail.
    #[arg(long, hide = true)]
    inject_fault: bool,
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{name}: {text:?} is not a valid number"))
}

fn ratio(name: &str, text: &str) -> Result<f64, String> {
    let r: f64 = number(name, text)?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("{name} must be between 0 and 1, not {text}"));
    }
    Ok(r)
}

fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let secs: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("--duration: {text:?} is not a duration like 10s, 500ms or 2m"))?;
    if !secs.is_finite() || secs <= 0.0 || secs * scale > 1e7 {
        return Err(format!(
            "--duration must be positive and finite, not {text}"
        ));
    }
    Ok(Duration::from_secs_f64(secs * scale))
}

fn bytes_arg(name: &str, text: &str) -> Result<usize, String> {
    let t = text.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = t.strip_suffix('k') {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1024 * 1024)
    } else {
        (t.as_str(), 1)
    };
    let n: usize = number(name, num)?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("{name}: {text} is too large"))
}

fn config(args: &Options) -> Result<(StressConfig, GenConfig), String> {
    let images: usize = number("--images", &args.images)?;
    if images == 0 {
        return Err("--images must be at least 1".into());
    }
    let duration = args.duration.as_deref().map(duration).transpose()?;
    let churn = match args.churn.as_deref() {
        None => None,
        Some("auto") if duration.is_some() => Some(u64::MAX),
        Some("auto") => Some(images as u64 * 10),
        Some(n) => Some(number::<u64>("--churn", n)?),
    };
    let objects: usize = number("--objects", &args.objects)?;
    if objects == 0 || objects > 50_000_000 {
        return Err(format!(
            "--objects must be between 1 and 50000000, not {}",
            args.objects
        ));
    }
    let seed: u64 = number("--seed", &args.seed)?;
    let cfg = StressConfig {
        images,
        ops: match args.ops.as_deref() {
            Some(ops) => number("--ops", ops)?,
            None => (5_000_000 / images as u64).clamp(1_000, 50_000),
        },
        duration,
        write_ratio: ratio("--write-ratio", &args.write_ratio)?,
        alloc_ratio: ratio("--alloc-ratio", &args.alloc_ratio)?,
        become_ratio: ratio("--become-ratio", &args.become_ratio)?,
        identity_ratio: ratio("--identity-ratio", &args.identity_ratio)?,
        skew: number("--skew", &args.skew)?,
        churn,
        seed,
        stack_size: bytes_arg("--stack-size", &args.stack_size)?,
        sample: number("--sample", &args.sample)?,
        verify: !args.no_verify,
        inject_fault: args.inject_fault,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    let gen = GenConfig {
        seed,
        objects,
        max_images: GenConfig::default().max_images.max(images),
    };
    Ok((cfg, gen))
}

/// Runs the command: parse, build the base, run with progress, print the report.
pub fn run(args: Args) -> Result<ExitCode, String> {
    let args = args.options;
    let (cfg, gen) = config(&args)?;
    let workload = match &args.base {
        None => Workload::generated(&gen),
        Some(path) => {
            let loaded = cowheap::loader::load_file(path).map_err(|e| e.to_string())?;
            let source = format!(
                "{} ({:?} {}, {:?})",
                path.display(),
                loaded.info.family,
                loaded.info.format,
                loaded.info.byte_order
            );
            Workload::from_heap(loaded.heap, source, gen.seed)
        }
    }
    .map_err(|e| e.to_string())?;
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    let tty = std::io::stderr().is_terminal();
    let report = std::thread::scope(|s| {
        if !args.quiet {
            s.spawn(|| show_progress(&progress, &done, tty));
        }
        let report = stress::run(&workload, &cfg, &progress);
        done.store(true, Ordering::Relaxed);
        report
    })
    .map_err(|e| e.to_string())?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        json.push('\n');
        json
    } else {
        table(&report)
    };
    // A closed pipe (`| head`) is not an error worth a panic or a message.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("cannot write the report: {e}"));
        }
    }
    Ok(if report.verdict == "PASS" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn progress_line(p: &Progress, started: Instant, last: &mut (Instant, u64)) -> String {
    let ops = p.ops.load(Ordering::Relaxed);
    let now = Instant::now();
    let dt = now.duration_since(last.0).as_secs_f64();
    let rate = if dt > 0.0 {
        (ops - last.1.min(ops)) as f64 / dt
    } else {
        0.0
    };
    *last = (now, ops);
    let planned = p.planned_lifetimes.load(Ordering::Relaxed);
    let finished = p.finished.load(Ordering::Relaxed);
    match p.phase() {
        Phase::Setup => "starting image threads".into(),
        Phase::Running => format!(
            "{:>6.1}s  images running {} · finished {}{} · {} ops/s · {} ops · {} copies",
            started.elapsed().as_secs_f64(),
            p.running.load(Ordering::Relaxed),
            finished,
            if planned > 0 && planned != u64::MAX {
                format!("/{planned}")
            } else {
                String::new()
            },
            si(rate),
            si(ops as f64),
            si(p.copies.load(Ordering::Relaxed) as f64),
        ),
        Phase::Verifying | Phase::Done => format!(
            "{:>6.1}s  verifying: {} images checked",
            started.elapsed().as_secs_f64(),
            p.verified.load(Ordering::Relaxed)
        ),
    }
}

/// A spinner on a terminal; otherwise a plain line every five seconds, so short runs print
/// nothing and long ones leave a trail in logs.
fn show_progress(p: &Progress, done: &AtomicBool, tty: bool) {
    let started = Instant::now();
    let mut last = (started, 0u64);
    if tty {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        while !done.load(Ordering::Relaxed) {
            bar.set_message(progress_line(p, started, &mut last));
            bar.tick();
            std::thread::sleep(Duration::from_millis(250));
        }
        bar.finish_and_clear();
    } else {
        let mut next = started + Duration::from_secs(5);
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() >= next {
                let line = progress_line(p, started, &mut last);
                let _ = writeln!(std::io::stderr(), "cowheap stress: {line}");
                next += Duration::from_secs(5);
            }
        }
    }
}

/// 1234567 -> "1.23 M".
fn si(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        return format!("{x:.0}");
    };
    format!("{v:.2}{unit}")
}

fn bytes(b: f64) -> String {
    let (v, unit) = if b >= 1024.0 * 1024.0 * 1024.0 {
        (b / (1024.0 * 1024.0 * 1024.0), "GiB")
    } else if b >= 1024.0 * 1024.0 {
        (b / (1024.0 * 1024.0), "MiB")
    } else if b >= 1024.0 {
        (b / 1024.0, "KiB")
    } else {
        return format!("{b:.0} B");
    };
    format!("{v:.2} {unit}")
}

/// The report as the table `cowheap stress` prints.
fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let c = &r.config;
    let run = match (c.duration_s, c.churn_lifetimes) {
        (Some(d), Some(_)) => format!("{d} s of {} ops per image lifetime", c.ops_per_image),
        (Some(d), None) => format!("{d} s"),
        (None, _) => format!("{} ops", c.ops_per_image),
    };
    let _ = writeln!(
        out,
        "cowheap stress: {} images x {run} over {} base of {} objects ({})",
        c.images,
        r.base.source,
        r.base.objects,
        bytes(r.base.bytes as f64)
    );
    let _ = writeln!(
        out,
        "  ops mix: write {} · alloc {} · become {} · identity {} · read {:.3}; skew {}; seed {}{}",
        c.write_ratio,
        c.alloc_ratio,
        c.become_ratio,
        c.identity_ratio,
        1.0 - c.write_ratio - c.alloc_ratio - c.become_ratio - c.identity_ratio,
        c.skew,
        c.seed,
        match c.churn_lifetimes {
            Some(u64::MAX) => "; churn until time is up".to_string(),
            Some(n) => format!("; churn {n} lifetimes"),
            None => String::new(),
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
                si(th.aggregate_ops_per_s),
                si(th.total_ops as f64)
            ),
        ),
        (
            "per image",
            format!(
                "median {} ops/s · p99 {} ops/s (99% of images at least) · min {} · max {}",
                si(th.per_image.median),
                si(th.per_image.p99),
                si(th.per_image.min),
                si(th.per_image.max)
            ),
        ),
        (
            "COW copies",
            format!(
                "{} · forwarders {} (installed by CAS {}) · entries added {}",
                h.cow_copies, h.forwarders, h.forwarders_installed, h.entries_added
            ),
        ),
        (
            "slot entries",
            format!(
                "{} at the end (capacity {}) · {} after teardown",
                h.slot_entries, h.slot_entry_capacity, h.slot_entries_after_teardown
            ),
        ),
        (
            "fix-ups",
            format!(
                "{} · becomes {} · allocations {} · forwarder look-ups {}",
                h.fixups, h.becomes, h.allocations, h.lookups
            ),
        ),
        (
            "memory",
            format!(
                "base {} · private per image mean {}, max {}",
                bytes(m.base_bytes as f64),
                bytes(m.private_bytes_mean),
                bytes(m.private_bytes_max as f64)
            ),
        ),
        (
            "vs full copy",
            format!(
                "{} per image; an image costs {:.4} of one ({:.1}x less memory for {} images)",
                bytes(m.full_copy_bytes_per_image as f64),
                m.private_to_full_copy_ratio,
                m.sharing_factor,
                c.images
            ),
        ),
        (
            "teardown",
            format!(
                "live private {} · freed {} · live images {} · RSS baseline {}, peak {}, end {}",
                bytes(m.live_private_bytes as f64),
                bytes(m.freed_private_bytes as f64),
                l.live_images_after_teardown,
                bytes(m.rss_baseline_bytes as f64),
                bytes(m.rss_peak_bytes as f64),
                bytes(m.rss_end_bytes as f64)
            ),
        ),
        (
            "lifetimes",
            format!(
                "{} · ended during the run {} · id reused by the next image {}",
                l.total, l.ended_during_run, l.id_reuses
            ),
        ),
        (
            "verified",
            if v.enabled {
                format!(
                    "{} objects whole, {} values · base checksum {} {}",
                    si(v.objects_checked as f64),
                    si(v.values_checked as f64),
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
                    si(v.values_checked as f64)
                )
            },
        ),
    ];
    let mut rows = rows;
    if m.rss_timeline.len() > 1 {
        let points: Vec<String> = m
            .rss_timeline
            .iter()
            .map(|p| format!("{} {}", si(p.lifetimes as f64), bytes(p.bytes as f64)))
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
    if r.verdict == "PASS" {
        let _ = writeln!(
            out,
            "PASS: {} image lifetimes, {} ops, 0 violations; base unchanged",
            l.total,
            si(th.total_ops as f64)
        );
    } else {
        let _ = writeln!(
            out,
            "FAIL: {} violation{} in {} image lifetimes",
            v.violations_total,
            if v.violations_total == 1 { "" } else { "s" },
            l.total
        );
    }
    out
}
