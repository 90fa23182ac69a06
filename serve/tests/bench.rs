//! Measurements, not checks (`#[ignore]`; run with
//! `cargo test --release -p cowheap-serve --test bench -- --ignored --nocapture`):
//! `3 + 4` evaluations per second and their latency percentiles over many live sessions, and
//! the latency of resuming an idle session. `BENCH_SESSIONS`, `BENCH_CLIENTS`, `BENCH_SECONDS`
//! change the sizes.

mod common;

use std::time::{Duration, Instant};

use common::{base, config, temp, Client, Host};
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn report(what: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    println!(
        "{what}: {} in {:.2} s = {:.0}/s; p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.9).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
fn eval_throughput_and_resume_latency() {
    let Some(base) = base() else { return };
    let sessions = env("BENCH_SESSIONS", 1000);
    let clients = env("BENCH_CLIENTS", 32);
    let seconds = env("BENCH_SECONDS", 5) as u64;
    let (_dir, db) = temp();
    let host = Host::start(
        &base,
        &db,
        cowheap_serve::Config {
            max_sessions_live: sessions.max(1),
            ..config()
        },
    );
    let addr = host.addr;
    let t = Instant::now();
    // Created by all the clients at once, as a crowd arriving.
    let all: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                s.spawn(move || {
                    let mut c = Client::new(addr);
                    (k..sessions)
                        .step_by(clients)
                        .map(|_| c.create())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a client"))
            .collect()
    });
    println!(
        "{sessions} sessions created in {:.2} s; rss {} MB",
        t.elapsed().as_secs_f64(),
        cowheap_serve::metrics::rss_bytes().unwrap_or(0) >> 20
    );
    let body = json!({"expression": "3 + 4"});
    let until = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let all = &all;
                let body = &body;
                s.spawn(move || {
                    let mut c = Client::new(addr);
                    let mut lat = Vec::new();
                    let mut i = k;
                    while Instant::now() < until {
                        let (id, token) = &all[i % all.len()];
                        let t = Instant::now();
                        let r = c.eval(id, token, body);
                        lat.push(t.elapsed());
                        assert_eq!(r.status, 200, "{}", r.body);
                        i += clients;
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a client"))
            .collect()
    });
    report(
        &format!("'3 + 4' over {sessions} live sessions, {clients} clients"),
        lat,
        start.elapsed(),
    );
    println!(
        "rss {} MB with {} sessions live",
        cowheap_serve::metrics::rss_bytes().unwrap_or(0) >> 20,
        sessions
    );
    // Resume: restart the host, so that every session is in the store only, then time each
    // session's first request (the lease, the delta, a thread, the evaluation and its commit).
    host.stop();
    let host = Host::start(&base, &db, config());
    let mut c = host.client();
    let start = Instant::now();
    let mut lat = Vec::new();
    for (id, token) in all.iter().take(1000) {
        let t = Instant::now();
        let r = c.eval(id, token, &body);
        lat.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    report(
        "first request of a stored session (resume + eval + commit)",
        lat,
        start.elapsed(),
    );
    let metrics = c.get("/metrics", None).body;
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("cowheap_resume_seconds"))
    {
        println!("{line}");
    }
    // The delta alone: resuming one of about 10 KB.
    let (heap, vm) = base.clone();
    let mut image = heap.new_image().unwrap();
    let mut interp = vm.interpreter(Default::default());
    interp
        .evaluate(&mut image, "Smalltalk at: #Blob put: (Array new: 1200)")
        .unwrap();
    let delta = image.delta_bytes().unwrap();
    let mut lat = Vec::new();
    let start = Instant::now();
    for _ in 0..1000 {
        let t = Instant::now();
        let resumed = heap.resume_delta_bytes(&delta).unwrap();
        lat.push(t.elapsed());
        drop(resumed);
    }
    report(
        &format!("resume_delta_bytes of a {} byte delta", delta.len()),
        lat,
        start.elapsed(),
    );
    // The other parts of a resume, alone: the lease (a write at the store's writer, not made
    // durable on its own), and the session's thread.
    let st = cowheap_serve::store::open(&format!("sqlite:{}", db.display())).unwrap();
    let me = cowheap_serve::store::Host {
        id: "bench".into(),
        url: "http://127.0.0.1:1".into(),
    };
    let id = "b".repeat(32);
    st.create(
        &cowheap_serve::store::NewSession {
            id: &id,
            token_hash: [0; 32],
            base_hash: heap.content_hash().0,
            delta: &delta,
        },
        &me,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut lat = Vec::new();
    let start = Instant::now();
    for _ in 0..1000 {
        let t = Instant::now();
        st.acquire(&id, &me, Duration::from_secs(60)).unwrap();
        lat.push(t.elapsed());
    }
    report("store acquire (SQLite, quiet)", lat, start.elapsed());
    let mut lat = Vec::new();
    let start = Instant::now();
    for _ in 0..1000 {
        let t = Instant::now();
        let h = std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(|| ())
            .unwrap();
        lat.push(t.elapsed());
        h.join().unwrap();
    }
    report(
        "a session thread's spawn (512 KiB stack)",
        lat,
        start.elapsed(),
    );
}
