//! A throwaway PostgreSQL cluster for a test (`serve/tests/pg.sh`), or the test's skip.
//!
//! Without PostgreSQL's binaries a test that needs them skips with one line on stderr (and in
//! `target/skipped-tests.txt`, as tests without their images do); with
//! `COWHEAP_REQUIRE_POSTGRES=1` (CI sets it) it fails instead.
#![allow(dead_code)] // each test binary uses its own part

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "COWHEAP_REQUIRE_POSTGRES";

/// A running cluster with a `cowheap` database; stopped and removed when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// `postgres://cowheap@127.0.0.1:PORT/cowheap`.
    pub url: String,
}

/// `serve/tests/pg.sh`: every crate that includes this file is one folder below the
/// workspace root.
fn script() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .unwrap_or(crate_dir)
        .join("serve/tests/pg.sh")
}

fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "this test".to_owned(),
    }
}

fn skip(why: &str) -> Option<Cluster> {
    let message = format!("{}: {why}", test_name());
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!("{message}; {REQUIRE_VAR}=1 makes a missing PostgreSQL a failure");
    }
    let line = format!("skipped: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let record = tmp.parent().unwrap_or(tmp).join("skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
    {
        let _ = f.write_all(line.as_bytes());
    }
    None
}

/// A free loopback port (bound and released: another process could take it in between, which
/// the start then reports).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts a cluster, or skips (`None`) when PostgreSQL is not installed.
pub fn cluster() -> Option<Cluster> {
    let found = Command::new("bash").arg(script()).arg("bin").output();
    match found {
        Ok(out) if out.status.success() => {}
        Ok(out) if out.status.code() == Some(3) => {
            return skip("no PostgreSQL binaries (install postgresql, or set PG_BIN)")
        }
        Ok(out) => panic!("pg.sh bin: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => return skip(&format!("cannot run bash for pg.sh: {e}")),
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Two tries: the free port may be taken between its release and the server's bind.
    let mut last = String::new();
    for _ in 0..2 {
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path().join("pg"))
            .arg(free_port().to_string())
            .output()
            .expect("pg.sh runs");
        if out.status.success() {
            let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            return Some(Cluster { dir, url });
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(dir.path().join("pg"))
            .output();
    }
    panic!("the PostgreSQL cluster did not start: {last}");
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .output();
    }
}
