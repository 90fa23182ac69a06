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
