//! The load generator behind `cowheap load`: thousands of sessions on one tokio runtime, each
//! keeping a counter in a global of its own image, checking every answer against the count it
//! expects.
//!
//! Every evaluation carries a request id, so a request whose answer was lost (a refused or
//! reset connection, a timeout, a host that was killed) is sent again with the same id until it
//! is answered: the server either evaluates it (it was never committed) or answers its stored
//! response (it was). Either way the answer must be the next count, so an increment that was
//! acknowledged and then lost, or applied twice, shows up as a wrong answer on the session's
//! next increment, and at the end, where every session reads its counter once more.
//!
//! Requests are sprayed across the `--url` list (round robin per request) and follow the
//! server's 307 redirects to the host that holds the session's lease.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
pub use hyper::Uri;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

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
    fn expression(self) -> &'static str {
        match self {
            Op::Counter => COUNTER_EXPR,
            Op::Arith => ARITH_EXPR,
            Op::Read => READ_EXPR,
            Op::Blob => BLOB_EXPR,
        }
    }

    fn parse(name: &str) -> Option<Op> {
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
pub struct Mix(Vec<(Op, u32)>);

impl Mix {
    /// Only increments.
    pub fn counter() -> Mix {
        Mix(vec![(Op::Counter, 1)])
    }

    /// Only [`Op`]s of the given kind.
    pub fn only(op: Op) -> Mix {
        Mix(vec![(op, 1)])
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|&(_, w)| u64::from(w)).sum()
    }

    fn pick(&self, roll: u64) -> Op {
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
    /// Stop sending new requests after this long ...
    pub duration: Option<Duration>,
    /// ... or after this many evaluations per session, whichever comes first.
    pub requests: Option<u64>,
    /// The kinds of evaluation.
    pub mix: Mix,
    /// A pause between a session's requests (to let the server evict it: resume timings).
    pub think: Duration,
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
            duration: None,
            requests: Some(10),
            mix: Mix::counter(),
            think: Duration::ZERO,
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
    /// More than [`MAX_REDIRECTS`] redirects (hosts that each say another holds the session,
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
    fn of(h: &Histogram<u64>) -> Latency {
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

/// The answer of `POST /sessions`.
#[derive(Deserialize)]
struct Created {
    id: String,
    token: String,
}

/// The answer of `POST /sessions/{id}/eval` (the fields the generator checks).
#[derive(Deserialize)]
struct Evaluated {
    answer: Option<String>,
    #[serde(default)]
    stopped: Option<serde_json::Value>,
    #[serde(default)]
    replayed: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    kind: String,
    #[serde(default)]
    message: String,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One answered HTTP exchange.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

/// Tallies of one session's task, merged into the [`Report`] at the end.
struct Tally {
    errors: BTreeMap<ErrorKind, u64>,
    violations: Vec<Violation>,
    violation_count: u64,
    evaluations: u64,
    replayed: u64,
    increments: u64,
    redirects: u64,
    created: bool,
    verified: bool,
}

fn histogram() -> Histogram<u64> {
    // 1 us .. 1 h at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

impl Tally {
    fn new() -> Tally {
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

    fn error(&mut self, kind: ErrorKind) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn violation(&mut self, session: &str, kind: ErrorKind, detail: String) {
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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// The shared parts of a run.
struct Shared {
    config: Config,
    client: HttpClient,
    deadline: Option<Instant>,
    /// One set for the whole run (a histogram is a few hundred KB: one per session would not
    /// fit a hundred thousand sessions).
    histograms: Mutex<Histograms>,
}

struct Histograms {
    latency: Histogram<u64>,
    create: Histogram<u64>,
    by_op: BTreeMap<Op, Histogram<u64>>,
}

impl Shared {
    /// Records an answer's latency (`None`: a creation's).
    fn record(&self, op: Option<Op>, micros: u64) {
        let Ok(mut h) = self.histograms.lock() else {
            return;
        };
        match op {
            Some(op) => {
                let _ = h.latency.record(micros);
                let _ = h.by_op.entry(op).or_insert_with(histogram).record(micros);
            }
            None => {
                let _ = h.create.record(micros);
            }
        }
    }

    fn tick(&self) {
        if let Some(p) = &self.config.progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn url(&self, turn: u64, path: &str) -> Uri {
        let base = &self.config.urls[(turn % self.config.urls.len() as u64) as usize];
        join(base, path)
    }

    /// Sends one request, following redirects; `Err` is a failed attempt to retry.
    async fn exchange(
        &self,
        method: Method,
        mut uri: Uri,
        token: Option<&str>,
        body: Bytes,
        tally: &mut Tally,
    ) -> Result<Answer, ErrorKind> {
        let mut redirected = false;
        for _ in 0..=MAX_REDIRECTS {
            let mut req = Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .header(CONTENT_TYPE, "application/json");
            if let Some(token) = token {
                req = req.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let req = req
                .body(Full::new(body.clone()))
                .map_err(|_| ErrorKind::Protocol)?;
            let sent = tokio::time::timeout(self.config.timeout, async {
                let resp = self.client.request(req).await.map_err(|_| ())?;
                let status = resp.status();
                let location = resp.headers().get(LOCATION).cloned();
                let body = resp.into_body().collect().await.map_err(|_| ())?;
                Ok::<_, ()>((status, location, body.to_bytes()))
            })
            .await;
            let (status, location, body) = match sent {
                Err(_) => return Err(ErrorKind::Timeout),
                Ok(Err(())) if redirected => return Err(ErrorKind::DeadRedirect),
                Ok(Err(())) => return Err(ErrorKind::Connect),
                Ok(Ok(answer)) => answer,
            };
            if matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                let next = location
                    .and_then(|l| l.to_str().ok().map(str::to_string))
                    .and_then(|l| redirect_target(&uri, &l))
                    .ok_or(ErrorKind::Protocol)?;
                tally.redirects += 1;
                redirected = true;
                uri = next;
                continue;
            }
            return Ok(Answer { status, body });
        }
        Err(ErrorKind::RedirectLoop)
    }
}

/// `base` (scheme and authority) with `path`.
fn join(base: &Uri, path: &str) -> Uri {
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    format!("http://{authority}{path}")
        .parse()
        .unwrap_or_else(|_| base.clone())
}

/// Where a `Location` header points: an absolute http URL, or a path on the same host.
fn redirect_target(from: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with('/') {
        return Some(join(from, location));
    }
    let uri: Uri = location.parse().ok()?;
    (uri.scheme_str() == Some("http") && uri.authority().is_some()).then_some(uri)
}

/// Waits before a retry: 5 ms doubling to 200 ms.
async fn backoff(attempt: u32) {
    let ms = 5u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(ms.min(200))).await;
}

/// What a session expects of an answer.
fn expected(op: Op, count: u64) -> String {
    match op {
        Op::Counter => (count + 1).to_string(),
        Op::Read => count.to_string(),
        Op::Arith => "7".into(),
        Op::Blob => "1000".into(),
    }
}

/// One session's whole life: create, evaluate until the end, verify, delete.
async fn session(shared: Arc<Shared>, index: u32) -> Tally {
    let mut tally = Tally::new();
    let mut turn = u64::from(index);
    let give_up_after = shared.config.retry_for;

    // Create. A creation whose answer was lost leaves an orphan session; that is harmless.
    let started = Instant::now();
    let mut attempt = 0;
    let created = loop {
        let t = Instant::now();
        let uri = shared.url(turn, "/sessions");
        turn += 1;
        match shared
            .exchange(
                Method::POST,
                uri,
                None,
                Bytes::from_static(b"{}"),
                &mut tally,
            )
            .await
        {
            Ok(a) if a.status == StatusCode::CREATED || a.status == StatusCode::OK => {
                match serde_json::from_slice::<Created>(&a.body) {
                    Ok(c) => {
                        shared.record(None, micros(t.elapsed()));
                        shared.tick();
                        break c;
                    }
                    Err(e) => {
                        tally.violation("-", ErrorKind::Protocol, format!("create: {e}"));
                        return tally;
                    }
                }
            }
            Ok(a) if a.status.is_server_error() || a.status == StatusCode::CONFLICT => {
                tally.error(ErrorKind::Server(a.status.as_u16()))
            }
            Ok(a) => {
                tally.violation(
                    "-",
                    ErrorKind::Protocol,
                    format!("create answered {}: {}", a.status, body_text(&a.body)),
                );
                return tally;
            }
            Err(kind) if kind.is_violation() => {
                tally.violation("-", kind, "create".into());
                return tally;
            }
            Err(kind) => tally.error(kind),
        }
        if started.elapsed() > give_up_after {
            tally.violation("-", ErrorKind::GaveUp, "create".into());
            return tally;
        }
        backoff(attempt).await;
        attempt += 1;
    };
    tally.created = true;
    let id = created.id;
    let token = created.token;
    let eval_path = format!("/sessions/{id}/eval");

    let mut rng = Rng::new(shared.config.seed ^ (u64::from(index) << 20) ^ 0x9e37_79b9);
    let mut count: u64 = 0;
    let mut request_id: u64 = 0;
    let mut done: u64 = 0;
    let mut intact = true;
    loop {
        if shared.config.requests.is_some_and(|n| done >= n)
            || shared.deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        if done > 0 && !shared.config.think.is_zero() {
            tokio::time::sleep(shared.config.think).await;
        }
        let op = shared.config.mix.pick(rng.next());
        request_id += 1;
        match eval(
            &shared, &mut tally, &id, &token, &eval_path, &mut turn, op, request_id, count,
        )
        .await
        {
            Ok(()) => {
                done += 1;
                if op == Op::Counter {
                    count += 1;
                    tally.increments += 1;
                }
            }
            Err(()) => {
                intact = false;
                break;
            }
        }
    }

    if intact && shared.config.verify_at_end {
        request_id += 1;
        let path = eval_path.clone();
        let ok = eval(
            &shared,
            &mut tally,
            &id,
            &token,
            &path,
            &mut turn,
            Op::Read,
            request_id,
            count,
        )
        .await;
        tally.verified = ok.is_ok();
    }
    if shared.config.delete {
        let uri = shared.url(turn, &format!("/sessions/{id}"));
        let _ = shared
            .exchange(Method::DELETE, uri, Some(&token), Bytes::new(), &mut tally)
            .await;
    }
    tally
}

/// One evaluation, retried with its request id until it is answered; `Err` after a violation.
#[allow(clippy::too_many_arguments)]
async fn eval(
    shared: &Shared,
    tally: &mut Tally,
    id: &str,
    token: &str,
    path: &str,
    turn: &mut u64,
    op: Op,
    request_id: u64,
    count: u64,
) -> Result<(), ()> {
    let mut body = serde_json::json!({
        "expression": op.expression(),
        "request_id": request_id,
    });
    if let Some(b) = shared.config.bytecodes {
        body["limits"] = serde_json::json!({ "bytecodes": b });
    }
    let body = Bytes::from(body.to_string());
    let want = expected(op, count);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let uri = shared.url(*turn, path);
        *turn += 1;
        let t = Instant::now();
        let failed = match shared
            .exchange(Method::POST, uri, Some(token), body.clone(), tally)
            .await
        {
            Ok(a) if a.status == StatusCode::OK => {
                let took = micros(t.elapsed());
                let e: Evaluated = match serde_json::from_slice(&a.body) {
                    Ok(e) => e,
                    Err(err) => {
                        tally.violation(id, ErrorKind::Protocol, format!("eval body: {err}"));
                        return Err(());
                    }
                };
                if let Some(stop) = e.stopped.filter(|s| !s.is_null()) {
                    tally.violation(
                        id,
                        ErrorKind::Stopped,
                        format!("request {request_id} ({op:?}) stopped: {stop}"),
                    );
                    return Err(());
                }
                if e.answer.as_deref() != Some(want.as_str()) {
                    tally.violation(
                        id,
                        ErrorKind::WrongAnswer,
                        format!(
                            "request {request_id} ({op:?}): answered {:?}, expected {want:?}{}",
                            e.answer,
                            if e.replayed { " (replayed)" } else { "" }
                        ),
                    );
                    return Err(());
                }
                shared.record(Some(op), took);
                tally.evaluations += 1;
                shared.tick();
                if e.replayed {
                    tally.replayed += 1;
                }
                return Ok(());
            }
            Ok(a) => {
                let error = serde_json::from_slice::<ErrorBody>(&a.body).ok();
                let kind = error.as_ref().map(|e| e.error.kind.as_str()).unwrap_or("");
                match a.status {
                    StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND | StatusCode::GONE => {
                        tally.violation(
                            id,
                            ErrorKind::SessionLost,
                            format!("request {request_id}: {} {}", a.status, body_text(&a.body)),
                        );
                        return Err(());
                    }
                    StatusCode::CONFLICT if kind == "stale_request" => {
                        tally.violation(
                            id,
                            ErrorKind::StaleRequest,
                            format!("request {request_id}: {}", body_text(&a.body)),
                        );
                        return Err(());
                    }
                    s if s.is_server_error()
                        || s == StatusCode::CONFLICT
                        || s == StatusCode::TOO_MANY_REQUESTS =>
                    {
                        ErrorKind::Server(s.as_u16())
                    }
                    s => {
                        tally.violation(
                            id,
                            ErrorKind::Protocol,
                            format!("request {request_id}: {s} {}", body_text(&a.body)),
                        );
                        return Err(());
                    }
                }
            }
            Err(kind) if kind.is_violation() => {
                tally.violation(id, kind, format!("request {request_id}"));
                return Err(());
            }
            Err(kind) => kind,
        };
        tally.error(failed);
        if started.elapsed() > shared.config.retry_for {
            tally.violation(
                id,
                ErrorKind::GaveUp,
                format!(
                    "request {request_id} unanswered for {:?}",
                    shared.config.retry_for
                ),
            );
            return Err(());
        }
        backoff(attempt).await;
        attempt += 1;
    }
}

fn body_text(body: &Bytes) -> String {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{}: {}", e.error.kind, e.error.message),
        Err(_) => text.chars().take(200).collect(),
    }
}

/// xorshift64*: each session's own sequence of operations, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Runs the load on a runtime of its own and answers the report.
pub fn run(config: Config) -> Result<Report, LoadError> {
    check(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    Ok(runtime.block_on(run_async(config)))
}

fn check(config: &Config) -> Result<(), LoadError> {
    if config.urls.is_empty() {
        return Err(LoadError::NoUrl);
    }
    if config.sessions == 0 {
        return Err(LoadError::NoSessions);
    }
    if config.duration.is_none() && config.requests.is_none() {
        return Err(LoadError::Unbounded);
    }
    Ok(())
}

/// [`run`] on the caller's runtime.
pub async fn run_async(config: Config) -> Report {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(config.timeout));
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(config.concurrency.unwrap_or(config.sessions) as usize)
        .build(connector);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: config.duration.map(|d| started + d),
        histograms: Mutex::new(Histograms {
            latency: histogram(),
            create: histogram(),
            by_op: BTreeMap::new(),
        }),
        config,
        client,
    });
    let turns = Arc::new(tokio::sync::Semaphore::new(
        shared
            .config
            .concurrency
            .unwrap_or(shared.config.sessions)
            .max(1) as usize,
    ));
    let tasks: Vec<_> = (0..shared.config.sessions)
        .map(|i| {
            let (shared, turns) = (shared.clone(), turns.clone());
            tokio::spawn(async move {
                let _turn = turns.acquire_owned().await;
                session(shared, i).await
            })
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(t) => tallies.push(t),
            Err(e) => {
                let mut t = Tally::new();
                t.violation(
                    "-",
                    ErrorKind::Protocol,
                    format!("a session's task failed: {e}"),
                );
                tallies.push(t);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let empty = || Histograms {
        latency: histogram(),
        create: histogram(),
        by_op: BTreeMap::new(),
    };
    let histograms = match shared.histograms.lock() {
        Ok(mut h) => std::mem::replace(&mut *h, empty()),
        Err(_) => empty(),
    };
    merge(shared.config.sessions, tallies, histograms, seconds)
}

fn merge(sessions: u32, tallies: Vec<Tally>, histograms: Histograms, seconds: f64) -> Report {
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

#[cfg(test)]
mod tests;
