//! Live progress on stderr while a run goes: a spinner on a terminal, a line every five
//! seconds in a log.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cowheap_stress::{Phase, Progress};
use indicatif::HumanCount;

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
            HumanCount(finished),
            if planned > 0 && planned != u64::MAX {
                format!("/{}", HumanCount(planned))
            } else {
                String::new()
            },
            HumanCount(rate as u64),
            HumanCount(ops),
            HumanCount(p.copies.load(Ordering::Relaxed)),
        ),
        Phase::Verifying | Phase::Done => format!(
            "{:>6.1}s  verifying: {} images checked",
            started.elapsed().as_secs_f64(),
            HumanCount(p.verified.load(Ordering::Relaxed) as u64)
        ),
    }
}

/// A spinner on a terminal; otherwise a plain line every five seconds, so short runs print
/// nothing and long ones leave a trail in logs.
pub fn show(p: &Progress, done: &AtomicBool, tty: bool) {
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
