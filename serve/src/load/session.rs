//! One session's life as the generator drives it: create, evaluate (each request retried with
//! its id until answered), check every answer against the session's own count, verify, delete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::config::Op;
use super::http::{backoff, Created, ErrorBody, Evaluated, Shared};
use super::report::{micros, ErrorKind, Tally};

/// What a session expects of an answer.
pub(super) fn expected(op: Op, count: u64) -> String {
    match op {
        Op::Counter => (count + 1).to_string(),
        Op::Read => count.to_string(),
        Op::Arith => "7".into(),
        Op::Blob => "1000".into(),
    }
}

/// One session's whole life: create, evaluate until the end, verify, delete.
pub(super) async fn session(shared: Arc<Shared>, index: u32) -> Tally {
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
            let think = shared.config.think;
            let pause = match shared.config.jitter {
                true => jittered(think, rng.next()),
                false => think,
            };
            tokio::time::sleep(pause).await;
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
pub(super) async fn eval(
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
        // Held until this attempt is answered; the semaphore is never closed.
        let permit = match &shared.in_flight {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
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
        drop(permit);
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

/// `think` times a factor from 0.5 to 1.5 taken evenly from `r`'s top 53 bits; `think`
/// itself where the product is no `Duration` (a pause of years).
pub(super) fn jittered(think: Duration, r: u64) -> Duration {
    let factor = 0.5 + (r >> 11) as f64 / (1u64 << 53) as f64;
    Duration::try_from_secs_f64(think.as_secs_f64() * factor).unwrap_or(think)
}

pub(super) fn body_text(body: &Bytes) -> String {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{}: {}", e.error.kind, e.error.message),
        Err(_) => text.chars().take(200).collect(),
    }
}

/// xorshift64*: each session's own sequence of operations, reproducible from the seed.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
