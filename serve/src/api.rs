//! The HTTP/JSON API: routes, handlers, and the typed errors each answers with
//! (`{"error": {"kind": ..., "message": ...}}`). SERVE-SPEC's contract, docs/SERVING.md's
//! reference.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::LengthLimitError;
use serde_json::json;

use crate::metrics::{rss_bytes, Gauges};
use crate::registry::{Found, LookupError, Registry};
use crate::session::{EvalError, EvalRequest, Gone, Live};
use crate::store::{held_elsewhere, now_ms, StoreError};

/// What the handlers share.
pub struct App {
    /// The live sessions (and through them the store, the base, the counters).
    pub registry: Arc<Registry>,
    /// The status page's samples, oldest first.
    pub history: Mutex<VecDeque<Sample>>,
}

/// One second of the status page's history.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Sample {
    /// Seconds since the host started.
    pub t: f64,
    /// Evaluations so far.
    pub evaluations: u64,
    /// Sessions in memory.
    pub live: u64,
    /// Private bytes of the live sessions.
    pub private_bytes: u64,
    /// Resident memory of the process.
    pub rss_bytes: u64,
}

/// Samples kept: five minutes.
pub const HISTORY: usize = 300;

impl App {
    /// Records the current figures in the history.
    pub fn sample(&self) {
        let env = self.registry.env();
        let sample = Sample {
            t: env.started.elapsed().as_secs_f64(),
            evaluations: env.metrics.evaluations.load(Relaxed),
            live: self.registry.live_count() as u64,
            private_bytes: u64::try_from(env.metrics.private_bytes.load(Relaxed)).unwrap_or(0),
            rss_bytes: rss_bytes().unwrap_or(0),
        };
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(sample);
    }
}

/// A refusal, as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> ApiError {
        let status = match &e {
            LookupError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            LookupError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            LookupError::WrongBase { .. } => (StatusCode::CONFLICT, "wrong_base"),
            LookupError::Store(s) => return s.clone().into(),
            LookupError::Resume(_) => (StatusCode::INTERNAL_SERVER_ERROR, "resume"),
            LookupError::Full(_) => (StatusCode::SERVICE_UNAVAILABLE, "full"),
            LookupError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
        };
        ApiError::new(status.0, status.1, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::LeaseLost { .. } => {
                ApiError::new(StatusCode::CONFLICT, "lease_lost", e.to_string())
            }
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
        }
    }
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> ApiError {
        match e {
            EvalError::Parse(m) => ApiError::new(StatusCode::BAD_REQUEST, "parse", m),
            EvalError::Stale { .. } => {
                ApiError::new(StatusCode::CONFLICT, "stale_request", e.to_string())
            }
            EvalError::Store(s) => s.into(),
            EvalError::Save(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "save", m),
        }
    }
}

/// A body the handler could not take (its length is `bounded_body`'s to refuse).
fn body_error(e: BytesRejection) -> ApiError {
    ApiError::new(e.status(), "bad_request", e.body_text())
}

/// The bearer token of a request, or 401.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this call needs the session's token: Authorization: Bearer <token>",
            )
        })
}

/// An id that cannot be a session's is no session's (and never reaches the store).
/// The session id of a route's path. A path that does not decode to text (`%ff`) names no
/// session: 404 `not_found`, typed as every other answer, where axum's own rejection is a
/// plain-text 400.
struct SessionId(String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(SessionId(id)),
            Err(_) => Err(LookupError::NotFound.into()),
        }
    }
}

fn checked_id(id: &str) -> Result<(), ApiError> {
    if crate::token::is_id(id) {
        Ok(())
    } else {
        Err(LookupError::NotFound.into())
    }
}

fn redirect(url: &str, uri: &Uri) -> Response {
    let location = format!("{}{}", url.trim_end_matches('/'), uri.path());
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
        Json(json!({"redirect": url})),
    )
        .into_response()
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The router over `app`, with request bodies bounded by `max_body` bytes and by
/// `body_timeout`: a declared length past the limit is a 413 as the headers arrive, a body
/// slower than the timeout a 408.
pub fn router(app: Arc<App>, max_body: usize, body_timeout: Duration) -> Router {
    let bounds = BodyBounds {
        max: max_body,
        timeout: body_timeout,
    };
    Router::new()
        .route("/", get(crate::page::page))
        .route("/status.json", get(crate::page::status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/sessions", post(create))
        .route("/sessions/{id}", get(info).delete(delete))
        .route("/sessions/{id}/eval", post(eval))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the route has no such method",
            )
        })
        // `bounded_body` is the one bound: it hands the handlers a body already read whole.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(bounds, bounded_body))
        .with_state(app)
}

/// A request body's bounds: its length and how long it may take to arrive.
#[derive(Clone, Copy)]
struct BodyBounds {
    max: usize,
    timeout: Duration,
}

/// Reads a request's body before any handler runs, within `bounds`: a declared length past
/// the limit is refused when the headers arrive (413), and a body that has not all come
/// within the timeout is answered 408. Either closes the connection, whose unread body
/// would otherwise be the next request's head. Without this a client could hold a
/// connection open by sending a long body slowly, or not at all (hyper's header timeout
/// ends with the headers), and a declared length was only refused once that many bytes had
/// come.
async fn bounded_body(State(bounds): State<BodyBounds>, req: Request, next: Next) -> Response {
    let refuse = |status, kind, message: String| {
        let mut r = ApiError::new(status, kind, message).into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a request body is at most {} bytes", bounds.max),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > bounds.max as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(bounds.timeout, axum::body::to_bytes(body, bounds.max)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let e = e.into_inner();
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large()
            } else {
                refuse(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
        }
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request's body did not arrive within {} ms",
                bounds.timeout.as_millis()
            ),
        ),
    }
}

/// How many times a request looks its session up again after the session left memory under
/// it (evicted between the lookup and the request reaching its thread).
const RETRIES: usize = 3;

async fn create(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let (id, token) = app.registry.create().await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "token": token}))).into_response())
}

async fn eval(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let answer = eval_answer(&app, &id, &uri, &headers, body).await;
    app.registry
        .env()
        .metrics
        .eval_seconds
        .observe(start.elapsed());
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn eval_answer(
    app: &App,
    id: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(headers)?;
    checked_id(id)?;
    let body = body.map_err(body_error)?;
    let req: EvalRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    if req.request_id.is_some_and(|r| i64::try_from(r).is_err()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "request_id must be below 2^63",
        ));
    }
    for _ in 0..RETRIES {
        let live = match app.registry.find(id, token).await? {
            Found::Live(live) => live,
            Found::Elsewhere(url) => return Ok(redirect(&url, uri)),
        };
        live.touch(app.registry.env());
        match live.eval(req.clone()).await {
            Ok(Ok(body)) => return Ok(json_text(StatusCode::OK, body)),
            Ok(Err(e)) => return Err(e.into()),
            Err(Gone) => continue,
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the session kept leaving memory; try again",
    ))
}

fn live_info(live: &Live, host: &str) -> serde_json::Value {
    json!({
        "id": live.id,
        "evaluations": live.evaluations.load(Relaxed),
        "private_bytes": live.private_bytes.load(Relaxed),
        "copies": live.copies.load(Relaxed),
        "live": true,
        "host": host,
    })
}

async fn info(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    checked_id(&id)?;
    let env = app.registry.env().clone();
    if let Some(live) = app.registry.local(&id, token)? {
        return Ok(Json(live_info(&live, &env.host.id)).into_response());
    }
    // Not in memory here: what the store says, without resuming it.
    let store = env.store.clone();
    let id2 = id.clone();
    let rec = tokio::task::spawn_blocking(move || store.load(&id2))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??
        .ok_or(LookupError::NotFound)?;
    if !crate::token::matches(token, &rec.token_hash) {
        return Err(LookupError::Unauthorized.into());
    }
    if let Some(lease) = rec
        .lease
        .as_ref()
        .filter(|l| held_elsewhere(&l.owner, &l.url, l.expires_ms, &env.host, now_ms()))
    {
        return Ok(redirect(&lease.url, &uri));
    }
    let delta = cowheap::DeltaInfo::read(&rec.delta[..]).ok();
    Ok(Json(json!({
        "id": rec.id,
        "evaluations": rec.evaluations,
        "private_bytes": delta.as_ref().map_or(0, |d| d.private_bytes),
        "copies": delta.as_ref().map_or(0, |d| d.entries),
        "live": false,
        "host": rec.lease.map(|l| l.owner),
    }))
    .into_response())
}

async fn delete(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    checked_id(&id)?;
    for _ in 0..RETRIES {
        // Not in memory: deleted in the store, without a resume.
        let live = match app.registry.delete_stored(&id, token).await? {
            None => return Ok(StatusCode::NO_CONTENT.into_response()),
            Some(Found::Elsewhere(url)) => return Ok(redirect(&url, &uri)),
            Some(Found::Live(live)) => live,
        };
        match live.delete().await {
            Ok(deleted) => {
                app.registry.deleted(&live);
                deleted?;
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            Err(Gone) => continue,
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the session kept leaving memory; try again",
    ))
}

/// The figures a scrape or the status page reads besides the counters: the store's counts
/// and the base's checksum (a walk of the whole base), off the executor.
pub async fn gauges(app: &App) -> Result<Gauges, ApiError> {
    let env = app.registry.env().clone();
    let live = app.registry.live_count() as u64;
    let kept = app.registry.held_count() as u64;
    tokio::task::spawn_blocking(move || {
        let counts = env.store.count()?;
        Ok::<_, StoreError>(Gauges {
            live,
            kept,
            // Not `stored - leased`: an evicted session's lease is kept by its host.
            idle: counts.stored.saturating_sub(live),
            stored: counts.stored,
            checksum: env.base.checksum(),
            rss_bytes: rss_bytes(),
        })
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(ApiError::from)
}

async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let g = gauges(&app).await?;
    let text = app.registry.env().metrics.render(&g);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
