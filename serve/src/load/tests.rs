//! The load generator against a small in-memory server that speaks the API of SERVE-SPEC.md,
//! with faults to inject: answers lost after their commit, requests refused before it, and two
//! broken servers (one that forgets request ids, one that loses acknowledged increments) that
//! the generator must catch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::header::{AUTHORIZATION, LOCATION};
use hyper::{Method, Request};

use super::*;

#[derive(Default, Clone, Copy)]
struct Faults {
    /// Every Nth evaluation is committed and its connection dropped before the answer.
    drop_after_commit: Option<u64>,
    /// Every Nth evaluation is answered 503 before anything is committed.
    refuse: Option<u64>,
    /// Broken: a request id equal to the last one is evaluated again.
    ignore_request_ids: bool,
    /// Broken: every Nth increment is acknowledged but not kept.
    lose_increment: Option<u64>,
}

/// Whether the `n`th evaluation is one of every `k`th.
fn every(k: Option<u64>, n: u64) -> bool {
    k.is_some_and(|k| n.is_multiple_of(k))
}

#[derive(Default)]
struct MockSession {
    token: String,
    counter: u64,
    last_request: u64,
    last_response: Option<serde_json::Value>,
    owner: usize,
}

#[derive(Default)]
struct Mock {
    sessions: Mutex<HashMap<String, MockSession>>,
    next: AtomicU64,
    evals: AtomicU64,
    faults: Faults,
    /// Base URLs of the hosts, when several share the sessions (a session lives on the host
    /// that created it; the others redirect).
    hosts: Mutex<Vec<String>>,
    /// The most sessions that existed at once.
    most: AtomicU64,
    /// Evaluations being answered now, and the most at once.
    evaluating: AtomicU64,
    most_evaluating: AtomicU64,
}

enum Outcome {
    Answer(StatusCode, serde_json::Value),
    Redirect(String),
    Drop,
}

impl Mock {
    fn handle(
        &self,
        host: usize,
        method: &Method,
        path: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> Outcome {
        let err = |status: StatusCode, kind: &str| {
            Outcome::Answer(
                status,
                serde_json::json!({"error": {"kind": kind, "message": kind}}),
            )
        };
        if method == Method::POST && path == "/sessions" {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let id = format!("s{n}");
            let token = format!("{:064x}", n * 7919 + 13);
            let mut sessions = self.sessions.lock().unwrap();
            sessions.insert(
                id.clone(),
                MockSession {
                    token: token.clone(),
                    owner: host,
                    ..MockSession::default()
                },
            );
            self.most
                .fetch_max(sessions.len() as u64, Ordering::Relaxed);
            return Outcome::Answer(
                StatusCode::CREATED,
                serde_json::json!({"id": id, "token": token}),
            );
        }
        let Some(rest) = path.strip_prefix("/sessions/") else {
            return err(StatusCode::NOT_FOUND, "not_found");
        };
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let mut sessions = self.sessions.lock().unwrap();
        let Some(s) = sessions.get_mut(id) else {
            return err(StatusCode::UNAUTHORIZED, "unauthorized");
        };
        if auth != Some(format!("Bearer {}", s.token).as_str()) {
            return err(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        if s.owner != host {
            let hosts = self.hosts.lock().unwrap();
            return Outcome::Redirect(format!("{}{path}", hosts[s.owner]));
        }
        if method == Method::DELETE {
            sessions.remove(id);
            return Outcome::Answer(StatusCode::NO_CONTENT, serde_json::Value::Null);
        }
        if tail != "eval" {
            return err(StatusCode::NOT_FOUND, "not_found");
        }
        let req: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return err(StatusCode::BAD_REQUEST, "parse"),
        };
        let rid = req["request_id"].as_u64();
        if let (Some(rid), false) = (rid, self.faults.ignore_request_ids) {
            if rid == s.last_request {
                if let Some(mut r) = s.last_response.clone() {
                    r["replayed"] = true.into();
                    return Outcome::Answer(StatusCode::OK, r);
                }
            }
            if rid < s.last_request {
                return err(StatusCode::CONFLICT, "stale_request");
            }
        }
        let n = self.evals.fetch_add(1, Ordering::Relaxed) + 1;
        if every(self.faults.refuse, n) {
            return err(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
        let answer = match req["expression"].as_str().unwrap_or("") {
            COUNTER_EXPR => {
                let kept = !every(self.faults.lose_increment, n);
                let next = s.counter + 1;
                if kept {
                    s.counter = next;
                }
                next.to_string()
            }
            READ_EXPR => s.counter.to_string(),
            ARITH_EXPR => "7".into(),
            BLOB_EXPR => "1000".into(),
            _ => return err(StatusCode::BAD_REQUEST, "parse"),
        };
        let response = serde_json::json!({
            "answer": answer, "transcript": "", "bytecodes": 10, "seconds": 0.0, "copies": 0,
            "private_bytes": 0, "stopped": null, "request_id": rid, "replayed": false,
        });
        if let Some(rid) = rid {
            s.last_request = rid;
            s.last_response = Some(response.clone());
        }
        if every(self.faults.drop_after_commit, n) {
            return Outcome::Drop;
        }
        Outcome::Answer(StatusCode::OK, response)
    }
}

/// Starts `hosts` mock hosts over one state on the current runtime; answers their URLs.
async fn start(mock: Arc<Mock>, hosts: usize) -> Vec<Uri> {
    let mut urls = Vec::new();
    for host in 0..hosts {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        mock.hosts.lock().unwrap().push(url.clone());
        urls.push(parse_url(&url).unwrap());
        let mock = mock.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let mock = mock.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let mock = mock.clone();
                        async move {
                            let method = req.method().clone();
                            let path = req.uri().path().to_string();
                            let auth = req
                                .headers()
                                .get(AUTHORIZATION)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let eval = path.ends_with("/eval");
                            if eval {
                                let now = mock.evaluating.fetch_add(1, Ordering::Relaxed) + 1;
                                mock.most_evaluating.fetch_max(now, Ordering::Relaxed);
                                // Lets other requests in while this one is counted.
                                for _ in 0..8 {
                                    tokio::task::yield_now().await;
                                }
                            }
                            let outcome = mock.handle(host, &method, &path, auth.as_deref(), &body);
                            if eval {
                                mock.evaluating.fetch_sub(1, Ordering::Relaxed);
                            }
                            match outcome {
                                Outcome::Answer(status, json) => {
                                    let body = if json.is_null() {
                                        Bytes::new()
                                    } else {
                                        Bytes::from(json.to_string())
                                    };
                                    let mut r = Response::new(Full::new(body));
                                    *r.status_mut() = status;
                                    Ok(r)
                                }
                                Outcome::Redirect(to) => {
                                    let mut r = Response::new(Full::new(Bytes::new()));
                                    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                                    r.headers_mut().insert(LOCATION, to.parse().unwrap());
                                    Ok::<_, std::io::Error>(r)
                                }
                                Outcome::Drop => Err(std::io::Error::other("dropped")),
                            }
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    }
    urls
}

fn config(urls: Vec<Uri>, sessions: u32, requests: u64) -> Config {
    let mut c = Config::new(urls, sessions);
    c.requests = Some(requests);
    c.timeout = Duration::from_secs(5);
    c.retry_for = Duration::from_secs(10);
    c
}

async fn drive(
    faults: Faults,
    hosts: usize,
    mut cfg: impl FnMut(Vec<Uri>) -> Config,
) -> (Report, Arc<Mock>) {
    let mock = Arc::new(Mock {
        faults,
        ..Mock::default()
    });
    let urls = start(mock.clone(), hosts).await;
    (run_async(cfg(urls)).await, mock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_run_verifies_every_session() {
    let (r, mock) = drive(Faults::default(), 1, |u| {
        let mut c = config(u, 50, 20);
        c.mix = "counter:3,arith:1,read:1,blob:1".parse().unwrap();
        c
    })
    .await;
    assert!(r.ok(), "{}", r.text());
    assert_eq!(r.sessions_created, 50);
    assert_eq!(r.sessions_verified, 50);
    // 20 requests and the final read each.
    assert_eq!(r.evaluations, 50 * 21);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.latency.count, r.evaluations);
    let kept: u64 = mock
        .sessions
        .lock()
        .unwrap()
        .values()
        .map(|s| s.counter)
        .sum();
    assert_eq!(kept, r.increments);
    assert!(r.latency.p50_us <= r.latency.p99_us && r.latency.p99_us <= r.latency.max_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_commit_are_retried_and_replayed_exactly_once() {
    let faults = Faults {
        drop_after_commit: Some(7),
        refuse: Some(11),
        ..Faults::default()
    };
    let (r, mock) = drive(faults, 1, |u| config(u, 20, 30)).await;
    assert!(r.ok(), "{}", r.text());
    assert!(r.replayed > 0, "no answer was replayed: {}", r.text());
    assert!(r.errors.contains_key("connect") && r.errors.contains_key("server_503"));
    assert_eq!(r.increments, 20 * 30);
    let kept: u64 = mock
        .sessions
        .lock()
        .unwrap()
        .values()
        .map(|s| s.counter)
        .sum();
    assert_eq!(kept, 20 * 30, "an increment applied twice or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_evaluates_a_retried_request_again_is_caught() {
    let faults = Faults {
        drop_after_commit: Some(5),
        ignore_request_ids: true,
        ..Faults::default()
    };
    let (r, _) = drive(faults, 1, |u| config(u, 10, 20)).await;
    assert!(!r.ok());
    assert!(
        r.errors.get("wrong_answer").is_some_and(|&n| n > 0),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_loses_an_acknowledged_increment_is_caught() {
    let faults = Faults {
        lose_increment: Some(13),
        ..Faults::default()
    };
    let (r, _) = drive(faults, 1, |u| config(u, 10, 20)).await;
    assert!(!r.ok());
    assert!(
        r.errors.get("wrong_answer").is_some_and(|&n| n > 0),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sprayed_across_hosts_follow_redirects_to_the_owner() {
    let (r, mock) = drive(Faults::default(), 3, |u| config(u, 30, 10)).await;
    assert!(r.ok(), "{}", r.text());
    assert!(r.redirects > 0);
    let owners: std::collections::HashSet<usize> = mock
        .sessions
        .lock()
        .unwrap()
        .values()
        .map(|s| s.owner)
        .collect();
    assert_eq!(owners.len(), 3, "sessions were not created on every host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_is_a_give_up_not_a_hang() {
    // A port bound and never listened on: connections are refused, and the port stays this
    // test's while it runs. (A port bound and released could be taken by another test's mock
    // host, running in this process at the same time, which then counted these requests.)
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut c = config(
        vec![parse_url(&format!("http://127.0.0.1:{port}")).unwrap()],
        3,
        5,
    );
    c.retry_for = Duration::from_millis(300);
    let r = run_async(c).await;
    drop(socket);
    assert!(!r.ok());
    assert_eq!(r.sessions_created, 0);
    assert_eq!(r.errors.get("gave_up"), Some(&3));
}

#[test]
fn deleted_sessions_are_gone() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (r, mock) = drive(Faults::default(), 1, |u| {
            let mut c = config(u, 5, 3);
            c.delete = true;
            c
        })
        .await;
        assert!(r.ok(), "{}", r.text());
        assert!(mock.sessions.lock().unwrap().is_empty());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_concurrency_sessions_are_alive_at_once() {
    let (r, mock) = drive(Faults::default(), 1, |u| {
        let mut c = config(u, 40, 3);
        c.concurrency = Some(4);
        c.delete = true;
        c
    })
    .await;
    assert!(r.ok(), "{}", r.text());
    assert_eq!(r.sessions_verified, 40);
    let most = mock.most.load(Ordering::Relaxed);
    assert!((1..=4).contains(&most), "{most} sessions at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_in_flight_requests_are_sent_at_once_over_all_live_sessions() {
    let (r, mock) = drive(Faults::default(), 1, |u| {
        let mut c = config(u, 40, 5);
        c.in_flight = Some(3);
        c
    })
    .await;
    assert!(r.ok(), "{}", r.text());
    assert_eq!(r.sessions_verified, 40);
    // Every session was created and alive; their evaluations went three at a time.
    assert_eq!(mock.most.load(Ordering::Relaxed), 40);
    let most = mock.most_evaluating.load(Ordering::Relaxed);
    assert!((1..=3).contains(&most), "{most} evaluations at once");
}

#[test]
fn mixes_and_urls_parse_or_say_why_not() {
    let m: Mix = "counter:8, arith:2".parse().unwrap();
    assert_eq!(m, Mix(vec![(Op::Counter, 8), (Op::Arith, 2)]));
    assert_eq!("read".parse::<Mix>().unwrap(), Mix::only(Op::Read));
    assert!("counter:0".parse::<Mix>().is_err());
    assert!("fib:1".parse::<Mix>().is_err());
    assert!("counter:99999999999".parse::<Mix>().is_err());
    assert!("counter:x".parse::<Mix>().is_err());
    assert!(parse_url("http://127.0.0.1:8080").is_ok());
    assert!(parse_url("http://127.0.0.1:8080/").is_ok());
    assert!(parse_url("https://127.0.0.1:8080").is_err());
    assert!(parse_url("http://127.0.0.1:8080/x").is_err());
    assert!(parse_url("127.0.0.1:8080").is_err());
    assert!(parse_url("").is_err());
}

#[test]
fn a_run_without_an_end_or_a_host_is_refused() {
    let url = parse_url("http://127.0.0.1:9").unwrap();
    let mut c = Config::new(vec![url.clone()], 1);
    c.requests = None;
    assert!(matches!(run(c), Err(LoadError::Unbounded)));
    assert!(matches!(run(Config::new(vec![], 1)), Err(LoadError::NoUrl)));
    assert!(matches!(
        run(Config::new(vec![url], 0)),
        Err(LoadError::NoSessions)
    ));
}

#[test]
fn the_mix_picks_by_weight() {
    let m: Mix = "counter:3,arith:1".parse().unwrap();
    let mut rng = Rng::new(7);
    let counters = (0..4000)
        .filter(|_| m.pick(rng.next()) == Op::Counter)
        .count();
    assert!((2700..3300).contains(&counters), "{counters}");
}

/// `--jitter`'s pauses stay within half to one and a half times the think time, keep its
/// mean, differ from one draw to the next (so sessions drift apart), and a pause too long for
/// a `Duration` stays the think time instead of panicking.
#[test]
fn jittered_pauses_spread_around_the_think_time() {
    use super::session::{jittered, Rng};
    use std::time::Duration;
    let think = Duration::from_millis(1500);
    let mut rng = Rng::new(7);
    let pauses: Vec<Duration> = (0..10_000).map(|_| jittered(think, rng.next())).collect();
    assert!(pauses.iter().all(|&p| p >= think / 2 && p <= think * 3 / 2));
    let mean = pauses.iter().sum::<Duration>() / pauses.len() as u32;
    assert!(mean > Duration::from_millis(1450) && mean < Duration::from_millis(1550));
    let (least, most) = (pauses.iter().min().unwrap(), pauses.iter().max().unwrap());
    assert!(*least < Duration::from_millis(800) && *most > Duration::from_millis(2200));
    assert_eq!(jittered(think, 0), think / 2);
    assert_eq!(jittered(Duration::MAX, u64::MAX), Duration::MAX);
}
