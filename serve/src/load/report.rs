//! What a run found: failed attempts and failed checks by kind, latency percentiles, and
//! each session's tally merged into the run's [`Report`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::http::Histograms;

/// A kind of failed attempt or failed check, as the report counts them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    // Attempts that are retried (the request is sent again with its id):
    /// The connection could not be made, or broke before the answer.
    Connect,
    /// The attempt took longer than `--timeout`.
    Timeout,
    /// A 5xx, or a 409 other than `stale_request` (a lost lease, a session on its way).
    Server(u16),
    /// A 307 to a host that did not answer (the owner is down; another host is tried).
    DeadRedirect,
    /// More than `MAX_REDIRECTS` redirects (hosts that each say another holds the session,
    /// as while a lease outlives its dead holder).
    RedirectLoop,
    // Failed checks (violations: the run fails):
    /// The answer was not the one the session's count predicts.
    WrongAnswer,
    /// An acknowledged session is unknown or refuses its token (401, 404).
    SessionLost,
    /// The server says a later request was committed than the session ever sent.
    StaleRequest,
    /// An evaluation stopped (a limit, an error in the image).
    Stopped,
    /// Any other answer that breaks the API (a 4xx, a body that does not parse).
    Protocol,
    /// A request went unanswered for all of `--retry-for`.
    GaveUp,
}

impl ErrorKind {
    /// Whether this kind fails the run (rather than being retried).
    pub fn is_violation(&self) -> bool {
        !matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::Server(_)
                | ErrorKind::DeadRedirect
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Server(code) => write!(f, "server_{code}"),
            other => {
                let json = serde_json::to_value(other).map_err(|_| fmt::Error)?;
                f.write_str(json.as_str().unwrap_or("?"))
            }
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    pub(super) fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// One failed check, for the report (the first few are kept).
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub session: String,
    pub kind: ErrorKind,
    pub detail: String,
}

/// What a run did and found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub sessions: u32,
    pub sessions_created: u64,
    /// Sessions whose counter read back as their acknowledged count at the end.
    pub sessions_verified: u64,
    /// Evaluations answered (replays included), and those per second of the run.
    pub evaluations: u64,
    pub evaluations_per_sec: f64,
    /// Answers that were the server's stored response to a retried request.
    pub replayed: u64,
    /// Increments acknowledged, summed over the sessions.
    pub increments: u64,
    pub redirects: u64,
    pub seconds: f64,
    /// Every answered evaluation's latency (one attempt, from send to the whole body).
    pub latency: Latency,
    /// Session creation's latency.
    pub create_latency: Latency,
    pub latency_by_op: BTreeMap<String, Latency>,
    /// Failed attempts and failed checks, by kind.
    pub errors: BTreeMap<String, u64>,
    pub violations: u64,
    /// The first violations found.
    pub first_violations: Vec<Violation>,
}

impl Report {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.violations == 0 && self.sessions_created == u64::from(self.sessions)
    }

    /// The report as a person reads it.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let l = &self.latency;
        let _ = writeln!(
            s,
            "{} sessions ({} created, {} verified), {} evaluations in {:.2} s: {:.0}/s",
            self.sessions,
            self.sessions_created,
            self.sessions_verified,
            self.evaluations,
            self.seconds,
            self.evaluations_per_sec
        );
        let _ = writeln!(
            s,
            "latency p50 {} us, p90 {} us, p99 {} us, max {} us (create p99 {} us)",
            l.p50_us, l.p90_us, l.p99_us, l.max_us, self.create_latency.p99_us
        );
        for (op, l) in &self.latency_by_op {
            let _ = writeln!(
                s,
                "  {op}: {} answers, p50 {} us, p99 {} us, max {} us",
                l.count, l.p50_us, l.p99_us, l.max_us
            );
        }
        let _ = writeln!(
            s,
            "{} increments acknowledged, {} replayed answers, {} redirects followed",
            self.increments, self.replayed, self.redirects
        );
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(s, "errors: {}", list.join(", "));
        }
        let _ = writeln!(s, "violations: {}", self.violations);
        for v in &self.first_violations {
            let _ = writeln!(s, "  session {}: {}: {}", v.session, v.kind, v.detail);
        }
        s
    }
}

/// Tallies of one session's task, merged into the [`Report`] at the end.
pub(super) struct Tally {
    pub(super) errors: BTreeMap<ErrorKind, u64>,
    pub(super) violations: Vec<Violation>,
    pub(super) violation_count: u64,
    pub(super) evaluations: u64,
    pub(super) replayed: u64,
    pub(super) increments: u64,
    pub(super) redirects: u64,
    pub(super) created: bool,
    pub(super) verified: bool,
}

pub(super) fn histogram() -> Histogram<u64> {
    // 1 us .. 1 h at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

impl Tally {
    pub(super) fn new() -> Tally {
        Tally {
            errors: BTreeMap::new(),
            violations: Vec::new(),
            violation_count: 0,
            evaluations: 0,
            replayed: 0,
            increments: 0,
            redirects: 0,
            created: false,
            verified: false,
        }
    }

    pub(super) fn error(&mut self, kind: ErrorKind) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub(super) fn violation(&mut self, session: &str, kind: ErrorKind, detail: String) {
        self.error(kind.clone());
        self.violation_count += 1;
        if self.violations.len() < 10 {
            self.violations.push(Violation {
                session: session.to_string(),
                kind,
                detail,
            });
        }
    }
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
pub(super) fn merge(
    sessions: u32,
    tallies: Vec<Tally>,
    histograms: Histograms,
    seconds: f64,
) -> Report {
    let Histograms {
        latency,
        create,
        by_op,
    } = histograms;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_violations = Vec::new();
    let (mut evaluations, mut replayed, mut increments, mut redirects) = (0, 0, 0, 0);
    let (mut created, mut verified, mut violations) = (0, 0, 0);
    for t in tallies {
        for (k, n) in t.errors {
            *errors.entry(k.to_string()).or_default() += n;
        }
        for v in t.violations {
            if first_violations.len() < 20 {
                first_violations.push(v);
            }
        }
        violations += t.violation_count;
        evaluations += t.evaluations;
        replayed += t.replayed;
        increments += t.increments;
        redirects += t.redirects;
        created += u64::from(t.created);
        verified += u64::from(t.verified);
    }
    Report {
        sessions,
        sessions_created: created,
        sessions_verified: verified,
        evaluations,
        evaluations_per_sec: if seconds > 0.0 {
            evaluations as f64 / seconds
        } else {
            0.0
        },
        replayed,
        increments,
        redirects,
        seconds,
        latency: Latency::of(&latency),
        create_latency: Latency::of(&create),
        latency_by_op: by_op
            .iter()
            .map(|(op, h)| {
                let name = serde_json::to_value(op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                (name, Latency::of(h))
            })
            .collect(),
        errors,
        violations,
        first_violations,
    }
}
