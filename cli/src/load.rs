//! `cowheap load --url URL --sessions N`: the load generator of `cowheap_serve::load` on the
//! command line (a report in text or JSON; exit 1 when a check failed).

use clap::builder::RangedU64ValueParser;
use cowheap_serve::load::{self, Config, Mix, Uri, MAX_DURATION, MAX_SESSIONS};
use std::time::Duration;

use crate::exit::{Code, Failure};
use crate::out::emit;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The hosts' base URLs, comma-separated or repeated (http://127.0.0.1:8080): requests are
    /// sprayed across them, round robin, and follow 307s to the host that holds a session.
    #[arg(long, value_name = "URL[,URL...]", required = true, value_delimiter = ',',
          value_parser = url)]
    pub url: Vec<Uri>,
    /// Sessions created and driven at once.
    #[arg(long, value_name = "N", default_value = "100",
          value_parser = RangedU64ValueParser::<u32>::new().range(1..=u64::from(MAX_SESSIONS)))]
    pub sessions: u32,
    /// At most this many sessions alive at once (default: all); the others wait their turn.
    /// Each is a connection: keep it under the open-files limit.
    #[arg(long, value_name = "N",
          value_parser = RangedU64ValueParser::<u32>::new().range(1..=u64::from(MAX_SESSIONS)))]
    pub concurrency: Option<u32>,
    /// At most this many requests in flight at once over all sessions (default: one per
    /// session alive); latency is timed from when a request may go.
    #[arg(long, value_name = "N",
          value_parser = RangedU64ValueParser::<u32>::new().range(1..=u64::from(MAX_SESSIONS)))]
    pub in_flight: Option<u32>,
    /// Stop sending new requests after this long (30s, 2m; at most a day).
    #[arg(long, value_name = "TIME", value_parser = bounded_duration)]
    pub duration: Option<Duration>,
    /// Evaluations per session (default 10 without --duration; with it, no count bound).
    #[arg(long, value_name = "N",
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=1_000_000_000))]
    pub requests: Option<u64>,
    /// The kinds of evaluation, with weights: counter (increments the session's own counter
    /// and checks the new count), arith (3 + 4), read (reads the counter), blob (gives the
    /// session a delta of about 10 KB).
    #[arg(long, value_name = "KIND:WEIGHT,...", default_value = "counter")]
    pub mix: Mix,
    /// A pause between one session's requests (0 for none), e.g. longer than the server's
    /// --idle to time resumes.
    #[arg(long, value_name = "TIME", default_value = "0", value_parser = pause)]
    pub think: Duration,
    /// Draw each pause evenly from half to one and a half times --think, so that sessions
    /// started together drift apart instead of sending their requests in rounds.
    #[arg(long)]
    pub jitter: bool,
    /// One attempt's bound; a request past it is sent again with its request id.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = bounded_duration)]
    pub timeout: Duration,
    /// How long one request is retried (hosts down, restarting) before its session gives up.
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = bounded_duration)]
    pub retry_for: Duration,
    /// Skip the final read of every session's counter.
    #[arg(long)]
    pub no_verify: bool,
    /// Delete the sessions at the end.
    #[arg(long)]
    pub delete: bool,
    /// A bytecode limit sent with every evaluation (the server clamps it by its cap).
    #[arg(long, value_name = "N",
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=u64::MAX / 2))]
    pub bytecodes: Option<u64>,
    /// Seed of each session's choice of evaluations.
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `http://HOST:PORT`.
fn url(text: &str) -> Result<Uri, String> {
    load::parse_url(text).map_err(|e| e.to_string())
}

/// A positive duration of at most a day.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    let d = crate::parse::duration(text)?;
    if d > MAX_DURATION {
        return Err(format!(
            "must be at most a day ({} s)",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// [`bounded_duration`], or 0.
fn pause(text: &str) -> Result<Duration, String> {
    if text.trim().parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    bounded_duration(text)
}

pub fn run(args: Args) -> Result<Code, Failure> {
    let mut config = Config::new(args.url, args.sessions);
    config.duration = args.duration;
    config.concurrency = args.concurrency;
    config.in_flight = args.in_flight;
    config.requests = match (args.requests, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(10),
    };
    config.mix = args.mix;
    config.think = args.think;
    config.jitter = args.jitter;
    config.timeout = args.timeout;
    config.retry_for = args.retry_for;
    config.verify_at_end = !args.no_verify;
    config.delete = args.delete;
    config.bytecodes = args.bytecodes;
    config.seed = args.seed;
    let report = load::run(config).map_err(|e| match e {
        load::LoadError::Runtime(_) => Failure::Run(e.to_string()),
        e => Failure::Usage(e.to_string()),
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Io(format!("cannot write the report: {e}")))?;
        emit(&(json + "\n"))?;
    } else {
        emit(&report.text())?;
    }
    Ok(if report.ok() {
        Code::Success
    } else {
        Code::VerificationFailed
    })
}
