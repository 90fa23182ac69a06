//! What one client cannot make the host do: keep a SIGTERMed host alive (and its sessions
//! unreachable on every host) by never finishing a request, or make it build, keep and send
//! an answer as large as a session's memory.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{base, config, temp, Host};
use cowheap_serve::ANSWER_LIMIT;
use serde_json::json;

/// A client that sent half a request's headers, or half its body, and then nothing, holds
/// no host past its grace period: shutdown drops such connections and finishes (every
/// session saved, the leases released).
#[test]
fn shutdown_finishes_within_the_grace_period_while_clients_hold_half_sent_requests() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let mut config = config();
    config.grace = Duration::from_millis(200);
    let host = Host::start(&base, &db, config);
    let (id, token) = host.client().create();
    let mut half_headers = TcpStream::connect(host.addr).unwrap();
    half_headers
        .write_all(b"POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();
    let mut half_body = TcpStream::connect(host.addr).unwrap();
    let head = format!(
        "POST /sessions/{id}/eval HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"expr"
    );
    half_body.write_all(head.as_bytes()).unwrap();
    // Both requests are in the server's hands before it is told to stop.
    std::thread::sleep(Duration::from_millis(200));
    let (done_tx, done) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        host.stop();
        let _ = done_tx.send(());
    });
    let stopped = done.recv_timeout(Duration::from_secs(10));
    // Let a host that still waits go (the test has failed by then).
    drop((half_headers, half_body));
    assert!(
        stopped.is_ok(),
        "the host still ran 10 s after shutdown began"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// An answer whose `printString` is longer than [`ANSWER_LIMIT`] is cut there, and the
/// response says so; a retry of its request id answers the same cut answer.
#[test]
fn a_huge_answer_is_cut_at_the_limit_and_said_so() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    // In this session only, a String prints as itself (its printString is otherwise at
    // most 50,000 characters, by the image's own code).
    c.answer(
        &id,
        &token,
        "String addSelector: #printString withMethod: (Object compiledMethodAt: #yourself)",
    );
    let big = ANSWER_LIMIT + 1000;
    for _ in 0..2 {
        let r = c.eval(
            &id,
            &token,
            &json!({"expression": format!("String new: {big} withAll: $a"), "request_id": 7}),
        );
        assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
        let j = r.json();
        assert_eq!(j["answer"].as_str().map(str::len), Some(ANSWER_LIMIT));
        assert_eq!(j["answer_truncated"], json!(true));
    }
    let small = c.eval(&id, &token, &json!({"expression": "3 + 4"})).json();
    assert_eq!(small["answer"], json!("7"));
    assert!(small.get("answer_truncated").is_none(), "{small}");
    host.stop();
}

/// A session id that does not decode to text names no session: a typed 404 on every route
/// that takes one, as for any other id that cannot be a session's.
#[test]
fn an_id_that_is_not_text_is_a_typed_404() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (_, token) = c.create();
    for id in ["%ff", "%C0%80", "a%ffb"] {
        for (method, path) in [
            ("GET", format!("/sessions/{id}")),
            ("DELETE", format!("/sessions/{id}")),
            ("POST", format!("/sessions/{id}/eval")),
        ] {
            let body = json!({"expression": "3 + 4"}).to_string();
            let r = c.request(method, &path, Some(&token), Some(&body));
            assert_eq!(
                (r.status, r.kind()),
                (404, "not_found".to_owned()),
                "{method} {path}: {}",
                r.body
            );
        }
    }
    host.stop();
}

/// A method a route does not have is a JSON `405 method_not_allowed`, as every other client
/// error is typed.
#[test]
fn a_wrong_method_is_a_typed_405() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    for (method, path) in [
        ("GET", "/sessions".to_owned()),
        ("PUT", format!("/sessions/{id}")),
        ("GET", format!("/sessions/{id}/eval")),
        ("POST", "/metrics".to_owned()),
    ] {
        let r = c.request(method, &path, Some(&token), None);
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(
            r.kind(),
            "method_not_allowed",
            "{method} {path}: {}",
            r.body
        );
    }
    host.stop();
}

/// Sends `head` (a request's line and headers, and any part of its body) on a new
/// connection and reads what the host answers, waiting at most `wait`: the status and the
/// JSON error's kind, or `None` where nothing came back in time.
fn answer_to(addr: std::net::SocketAddr, head: &str, wait: Duration) -> Option<(u16, String)> {
    use std::io::Read;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the body's end: the host answers with a Content-Length.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let kind = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["kind"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Some((status, kind))
}

/// A body declared longer than the host takes is refused when its headers arrive, with a
/// typed 413, not after the client has sent (or failed to send) all of it.
#[test]
fn a_body_declared_too_large_is_refused_before_it_is_sent() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let config = config();
    let max_body = config.max_body;
    let host = Host::start(&base, &db, config);
    let (id, token) = host.client().create();
    let head = format!(
        "POST /sessions/{id}/eval HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"expr",
        max_body + 1
    );
    let start = Instant::now();
    let got = answer_to(host.addr, &head, Duration::from_secs(5));
    assert_eq!(got, Some((413, "payload_too_large".to_owned())));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    host.stop();
}

/// A client that sends part of a body and then nothing is answered `408 body_timeout` once
/// `Config::body_timeout` has passed, and its connection closed: it holds no connection
/// (of the host's `MAX_CONNECTIONS`) for as long as it likes.
#[test]
fn a_body_that_stops_coming_times_out() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let mut config = config();
    config.body_timeout = Duration::from_millis(300);
    let host = Host::start(&base, &db, config);
    let mut c = host.client();
    let (id, token) = c.create();
    let head = format!(
        "POST /sessions/{id}/eval HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"expr"
    );
    let start = Instant::now();
    let got = answer_to(host.addr, &head, Duration::from_secs(10));
    assert_eq!(got, Some((408, "body_timeout".to_owned())));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // A whole request in time is answered as before.
    assert_eq!(c.answer(&id, &token, "3 + 4"), "7");
    host.stop();
}

/// The answer's printString runs the image's code: it counts in the evaluation's figures and
/// runs within what the evaluation left of its budget, whose stop names the budget asked for.
#[test]
fn printing_the_answer_counts_in_the_evaluation_and_its_budget() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let (id, token) = c.create();
    let eval = |c: &mut common::Client, expr: &str, bytecodes: u64| {
        c.eval(
            &id,
            &token,
            &json!({"expression": expr, "limits": {"bytecodes": bytecodes}}),
        )
        .json()
    };
    // 1000 factorial is about 35 M bytecodes, its printString about 38 M more.
    let small = eval(&mut c, "1000 factorial size", 100_000_000);
    assert_eq!(small["answer"], "1067");
    let printed = eval(&mut c, "1000 factorial", 100_000_000);
    assert_eq!(printed["answer"].as_str().map(str::len), Some(2568));
    let (s, p) = (
        small["bytecodes"].as_u64().unwrap(),
        printed["bytecodes"].as_u64().unwrap(),
    );
    assert!(p > s + 20_000_000, "{s} {p}");
    let cut = eval(&mut c, "1000 factorial", 50_000_000);
    assert_eq!(cut["stopped"]["kind"], "bytecode_limit", "{cut}");
    assert!(
        cut["stopped"]["message"]
            .as_str()
            .unwrap()
            .contains("50000000"),
        "{cut}"
    );
    let used = cut["bytecodes"].as_u64().unwrap();
    assert!(used > s && used <= 50_000_000 + (1 << 16), "{used}");
    host.stop();
}
