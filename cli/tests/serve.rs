//! `cowheap serve` as a process: the first line names the address, SIGTERM saves every
//! session and exits 0, and a restart on the same store finds every session where it was.

mod common;
mod serve_common;

#[path = "../../serve/tests/common/client.rs"]
mod client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use client::{Client, INCREMENT};
use serde_json::json;

/// Starts `cowheap serve` on a free loopback port over the store at `db`; answers the child and
/// its address (read from its first line).
fn serve(image: &str, db: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args([
            "serve",
            "--base",
            image,
            "--listen",
            "127.0.0.1:0",
            "--store",
        ])
        .arg(format!("sqlite:{db}"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cowheap serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped"))
        .read_line(&mut first)
        .expect("its first line");
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"))
        .parse()
        .expect("an address");
    (child, addr)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) on the child's own pid, which it cannot have reused before `wait`.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    child.wait().expect("the server exits")
}

#[test]
fn sigterm_saves_every_session_and_a_restart_finds_them() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let dir = common::TempDir::new("serve-sigterm");
    let db = dir.file("serve.db");
    let (mut child, addr) = serve(&image, &db, &[]);
    let mut c = Client::new(addr);
    let sessions: Vec<(String, String)> = (0..5).map(|_| c.create()).collect();
    for (n, (id, token)) in sessions.iter().enumerate() {
        for _ in 0..=n {
            c.answer(id, token, INCREMENT);
        }
    }
    drop(c);
    let status = terminate(&mut child);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let (mut child, addr) = serve(&image, &db, &[]);
    let mut c = Client::new(addr);
    for (n, (id, token)) in sessions.iter().enumerate() {
        let info = c.get(&format!("/sessions/{id}"), Some(token)).json();
        assert_eq!(info["live"], false, "not yet resumed after the restart");
        assert_eq!(
            info["host"],
            serde_json::Value::Null,
            "SIGTERM released the lease"
        );
        assert_eq!(c.answer(id, token, INCREMENT), (n + 2).to_string());
    }
    let stale = c.eval(
        &sessions[0].0,
        &sessions[0].1,
        &json!({"expression": "3 +"}),
    );
    assert_eq!(stale.status, 400);
    drop(c);
    assert!(terminate(&mut child).success());
}

/// A host killed with SIGKILL and restarted on its address under a new random id (no
/// `--host-id`) finds its sessions leased to its old id at its own URL: it serves them at once
/// rather than redirect clients to itself until the old leases expire (10 s), and every
/// acknowledged increment is there.
#[test]
fn a_host_restarted_after_kill_9_under_a_new_id_serves_its_sessions_at_once() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let dir = common::TempDir::new("serve-newid");
    let store = format!("sqlite:{}", dir.file("serve.db"));
    let port = serve_common::free_port();
    let mut host = serve_common::Host::start(&image, port, &["--store".into(), store]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut c = Client::new(addr);
    let sessions: Vec<(String, String)> = (0..3).map(|_| c.create()).collect();
    for (id, token) in &sessions {
        assert_eq!(c.answer(id, token, INCREMENT), "1");
        assert_eq!(c.answer(id, token, INCREMENT), "2");
    }
    host.kill9();
    host.restart();
    let mut c = Client::new(addr);
    for (id, token) in &sessions {
        let r = c.eval(id, token, &json!({ "expression": INCREMENT }));
        assert_eq!(
            r.status,
            200,
            "served after the restart, not redirected to itself: {:?} {}",
            r.header("location"),
            r.body
        );
        assert_eq!(r.json()["answer"], "3", "every acknowledged increment kept");
    }
}

#[test]
fn serve_refuses_a_base_it_cannot_load() {
    let dir = common::TempDir::new("serve-nobase");
    let out = common::cowheap(&[
        "serve",
        "--base",
        &dir.file("missing.image"),
        "--listen",
        "127.0.0.1:0",
        "--store",
        &format!("sqlite:{}", dir.file("s.db")),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", common::text(&out.stderr));
}
