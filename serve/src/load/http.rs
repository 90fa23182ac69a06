//! The generator's HTTP side: one pooled client for the whole run, an exchange that follows
//! 307s to a session's owner, the bodies it reads, and the state every session task shares.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde::Deserialize;

use super::config::{Config, Op, MAX_REDIRECTS};
use super::report::{histogram, ErrorKind, Tally};

/// The answer of `POST /sessions`.
#[derive(Deserialize)]
pub(super) struct Created {
    pub(super) id: String,
    pub(super) token: String,
}

/// The answer of `POST /sessions/{id}/eval` (the fields the generator checks).
#[derive(Deserialize)]
pub(super) struct Evaluated {
    pub(super) answer: Option<String>,
    #[serde(default)]
    pub(super) stopped: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) replayed: bool,
}

#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub(super) error: ErrorDetail,
}

#[derive(Deserialize)]
pub(super) struct ErrorDetail {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) message: String,
}

pub(super) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One answered HTTP exchange.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Bytes,
}

/// The shared parts of a run.
pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) client: HttpClient,
    pub(super) deadline: Option<Instant>,
    /// Permits for requests in flight (`Config::in_flight`).
    pub(super) in_flight: Option<tokio::sync::Semaphore>,
    /// One set for the whole run (a histogram is a few hundred KB: one per session would not
    /// fit a hundred thousand sessions).
    pub(super) histograms: Mutex<Histograms>,
}

pub(super) struct Histograms {
    pub(super) latency: Histogram<u64>,
    pub(super) create: Histogram<u64>,
    pub(super) by_op: BTreeMap<Op, Histogram<u64>>,
}

impl Shared {
    /// Records an answer's latency (`None`: a creation's).
    pub(super) fn record(&self, op: Option<Op>, micros: u64) {
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

    pub(super) fn tick(&self) {
        if let Some(p) = &self.config.progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn url(&self, turn: u64, path: &str) -> Uri {
        let base = &self.config.urls[(turn % self.config.urls.len() as u64) as usize];
        join(base, path)
    }

    /// Sends one request, following redirects; `Err` is a failed attempt to retry.
    pub(super) async fn exchange(
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
pub(super) fn join(base: &Uri, path: &str) -> Uri {
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    format!("http://{authority}{path}")
        .parse()
        .unwrap_or_else(|_| base.clone())
}

/// Where a `Location` header points: an absolute http URL, or a path on the same host.
pub(super) fn redirect_target(from: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with('/') {
        return Some(join(from, location));
    }
    let uri: Uri = location.parse().ok()?;
    (uri.scheme_str() == Some("http") && uri.authority().is_some()).then_some(uri)
}

/// Waits before a retry: 5 ms doubling to 200 ms.
pub(super) async fn backoff(attempt: u32) {
    let ms = 5u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(ms.min(200))).await;
}
