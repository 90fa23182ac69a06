//! `cowheap serve` processes for the crash and many-hosts tests: started on a fixed loopback
//! port, killed with SIGKILL, restarted on the same port and store.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a host may take to load its base and bind.
const START: Duration = Duration::from_secs(60);

/// One `cowheap serve` process and how to start it again.
pub struct Host {
    args: Vec<String>,
    child: Option<Child>,
    pub url: String,
    pub starts: u32,
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Host {
    /// Starts `cowheap serve --base IMAGE --listen 127.0.0.1:PORT EXTRA...` and waits for its
    /// `listening on` line.
    pub fn start(image: &str, port: u16, extra: &[String]) -> Host {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--base".into(),
            image.into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(extra.iter().cloned());
        let mut host = Host {
            args,
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            starts: 0,
        };
        host.restart();
        host
    }

    /// Starts the process (again), waiting for its `listening on` line.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the host is running");
        let deadline = Instant::now() + START;
        loop {
            let mut child = Command::new(env!("CARGO_BIN_EXE_cowheap"))
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("cowheap serve starts");
            let stdout = child.stdout.take().expect("stdout is piped");
            // The first line, read on a thread of its own so that a host that hangs cannot
            // hang the test past START.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = tx.send(lines.next());
                // Keep reading so the host never blocks on a full pipe.
                for _ in lines {}
            });
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Some(Ok(line))) if line.starts_with("listening on ") => {
                    self.child = Some(child);
                    self.starts += 1;
                    return;
                }
                // The port may still be held by the process just killed (its socket closing):
                // the new one exits; start it again while time is left.
                Ok(_) if Instant::now() < deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                other => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("cowheap {:?} did not start: {other:?}", self.args);
                }
            }
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until `progress` reaches `target` or `run` has finished; false on the latter.
pub fn wait_for(
    progress: &AtomicU64,
    target: u64,
    run: &std::thread::JoinHandle<impl Sized>,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    while progress.load(Ordering::Relaxed) < target {
        if run.is_finished() || Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A small xorshift for the kill points, seeded from the clock (printed, so a failure can be
/// replayed with COWHEAP_CRASH_SEED).
pub fn seed() -> u64 {
    match std::env::var("COWHEAP_CRASH_SEED") {
        Ok(s) => s.parse().expect("COWHEAP_CRASH_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        }
    }
}

pub fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
