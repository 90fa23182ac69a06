//! What a run does: its configuration, the kinds of evaluation and their mix, and the
//! checks on the command line's values.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use serde::Serialize;

/// The most sessions one run drives: far above what a host holds live, far below what would
/// exhaust the generator's own memory (a task and a few KB each).
pub const MAX_SESSIONS: u32 = 1_000_000;
/// The longest run, retry window or pause: a day. Longer is a mistyped flag.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Redirects followed for one request before it counts as a redirect loop.
pub const MAX_REDIRECTS: u32 = 8;

/// The expression that increments a session's counter and answers the new count.
pub const COUNTER_EXPR: &str =
    "Smalltalk at: #LoadCounter put: (Smalltalk at: #LoadCounter ifAbsent: [0]) + 1";
/// The expression that reads a session's counter.
pub const READ_EXPR: &str = "Smalltalk at: #LoadCounter ifAbsent: [0]";
/// Plain arithmetic, which changes nothing in the image.
pub const ARITH_EXPR: &str = "3 + 4";
/// Gives the session an Array of 1,000 slots, answering its size: a delta of about 10 KB
/// (measured: 0.7 KB for a fresh session, 10.5 KB with this), what the resume benchmark moves
/// between the store and memory.
pub const BLOB_EXPR: &str = "(Smalltalk at: #LoadBlob put: (Array new: 1000)) size";

/// What one request asks of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// [`COUNTER_EXPR`]: answers the session's next count.
    Counter,
    /// [`ARITH_EXPR`]: answers 7.
    Arith,
    /// [`READ_EXPR`]: answers the current count.
    Read,
    /// [`BLOB_EXPR`]: answers 1000.
    Blob,
}

impl Op {
    pub(super) fn expression(self) -> &'static str {
        match self {
            Op::Counter => COUNTER_EXPR,
            Op::Arith => ARITH_EXPR,
            Op::Read => READ_EXPR,
            Op::Blob => BLOB_EXPR,
        }
    }

    pub(super) fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "counter" => Op::Counter,
            "arith" => Op::Arith,
            "read" => Op::Read,
            "blob" => Op::Blob,
            _ => return None,
        })
    }
}

/// How often each [`Op`] is chosen: `counter:8,arith:2` (weights, not percentages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix(pub(super) Vec<(Op, u32)>);

impl Mix {
    /// Only increments.
    pub fn counter() -> Mix {
        Mix(vec![(Op::Counter, 1)])
    }

    /// Only [`Op`]s of the given kind.
    pub fn only(op: Op) -> Mix {
        Mix(vec![(op, 1)])
    }

    pub(super) fn total(&self) -> u64 {
        self.0.iter().map(|&(_, w)| u64::from(w)).sum()
    }

    pub(super) fn pick(&self, roll: u64) -> Op {
        let mut r = roll % self.total();
        for &(op, w) in &self.0 {
            if r < u64::from(w) {
                return op;
            }
            r -= u64::from(w);
        }
        self.0[0].0
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    fn from_str(text: &str) -> Result<Mix, String> {
        let mut parts = Vec::new();
        for part in text.split(',') {
            let (name, weight) = part.trim().split_once(':').unwrap_or((part.trim(), "1"));
            let op = Op::parse(name.trim()).ok_or_else(|| {
                format!("unknown kind {name:?} (counter, arith, read or blob, as kind:weight)")
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .ok()
                .filter(|&w| w <= 1_000_000)
                .ok_or_else(|| format!("weight {weight:?} is not a whole number up to 1000000"))?;
            if weight > 0 {
                parts.push((op, weight));
            }
        }
        if parts.is_empty() {
            return Err("the mix has no kind with a weight above 0".into());
        }
        Ok(Mix(parts))
    }
}

/// What a run does. [`Config::new`] gives the defaults of `cowheap load`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URLs of the hosts (`http://127.0.0.1:8080`), sprayed round robin.
    pub urls: Vec<Uri>,
    /// Sessions created and driven.
    pub sessions: u32,
    /// At most this many of them alive at once (`None`: all): the rest wait their turn, so
    /// that a run can leave many more sessions in the store than it drives at a time.
    pub concurrency: Option<u32>,
    /// At most this many requests in flight at once, over all sessions (`None`: one per
    /// session alive): many live sessions driven at a given concurrency, so that a latency
    /// measured at a throughput is not the wait of requests queued behind each other (by
    /// Little's law, 1,000 requests always in flight at 10,000 answers a second wait 100 ms
    /// each). A request's latency is timed from when it may go.
    pub in_flight: Option<u32>,
    /// Stop sending new requests after this long ...
    pub duration: Option<Duration>,
    /// ... or after this many evaluations per session, whichever comes first.
    pub requests: Option<u64>,
    /// The kinds of evaluation.
    pub mix: Mix,
    /// A pause between a session's requests (to let the server evict it: resume timings).
    pub think: Duration,
    /// Each pause drawn evenly from half to one and a half times `think` (the same mean),
    /// so that sessions started together drift apart. Without it they stay in step, and a
    /// resume timing measures a burst of every session at once at each round.
    pub jitter: bool,
    /// One attempt's bound, after which it is sent again (same request id).
    pub timeout: Duration,
    /// How long one request is retried before the session gives up.
    pub retry_for: Duration,
    /// Each session reads its counter once more at the end and checks it.
    pub verify_at_end: bool,
    /// Delete the sessions at the end.
    pub delete: bool,
    /// Limits sent with every evaluation (`limits.bytecodes`).
    pub bytecodes: Option<u64>,
    /// Seed of the per-session choice of operations.
    pub seed: u64,
    /// Counts sessions created and evaluations answered as they happen (for a caller that
    /// acts on progress: the crash tests kill hosts at given points of a run).
    pub progress: Option<Arc<AtomicU64>>,
}

impl Config {
    /// One host, `sessions` sessions, increments only, 10 requests each.
    pub fn new(urls: Vec<Uri>, sessions: u32) -> Config {
        Config {
            urls,
            sessions,
            concurrency: None,
            in_flight: None,
            duration: None,
            requests: Some(10),
            mix: Mix::counter(),
            think: Duration::ZERO,
            jitter: false,
            timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(30),
            verify_at_end: true,
            delete: false,
            bytecodes: None,
            seed: 1,
            progress: None,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No `--url`.
    #[error("no host URL to send requests to")]
    NoUrl,
    /// A URL that is not `http://host:port[/]`.
    #[error("{0}: not an http://HOST:PORT URL (https is not spoken)")]
    BadUrl(String),
    /// Zero sessions.
    #[error("no sessions to drive")]
    NoSessions,
    /// Neither a duration nor a request count: the run would never end.
    #[error("the run has no end: give a duration or a request count")]
    Unbounded,
    /// The runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Parses `http://HOST:PORT` (a trailing `/` allowed) into a base URL.
pub fn parse_url(text: &str) -> Result<Uri, LoadError> {
    let bad = || LoadError::BadUrl(text.to_string());
    let uri: Uri = text.trim().parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(bad());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad());
    }
    Ok(uri)
}
