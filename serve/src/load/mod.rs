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

mod config;
mod http;
mod report;
mod session;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use config::{
    parse_url, Config, LoadError, Mix, Op, ARITH_EXPR, BLOB_EXPR, COUNTER_EXPR, MAX_DURATION,
    MAX_REDIRECTS, MAX_SESSIONS, READ_EXPR,
};
pub use hyper::Uri;
pub use report::{ErrorKind, Latency, Report, Violation};

use http::{Histograms, HttpClient, Shared};
use report::{histogram, merge, Tally};
#[cfg(test)]
use session::Rng;

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
        in_flight: config
            .in_flight
            .map(|n| tokio::sync::Semaphore::new(n.max(1) as usize)),
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
                session::session(shared, i).await
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

#[cfg(test)]
mod tests;
