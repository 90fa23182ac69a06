//! Many hosts on one PostgreSQL store: three `cowheap serve` processes share a throwaway
//! cluster (`serve/tests/pg.sh`), a thousand sessions each increment a counter of their own
//! with requests sprayed across the hosts (307s followed to a session's owner), while hosts
//! are killed with SIGKILL and restarted, and paused (SIGSTOP) past their lease and resumed.
//!
//! A session live on two hosts at once would answer from two images: its counts would fork,
//! and the load generator, which checks every answer against the session's own count and
//! reads every counter back at the end, would see a count repeated or skipped. A paused host
//! that wakes up after its lease was taken over still holds the session in memory: only the
//! store's fencing (a commit names its lease epoch) keeps its next evaluation from landing.

mod common;
#[path = "../../serve/tests/pg_common/mod.rs"]
mod pg_common;
mod serve_common;

use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use cowheap_serve::load::{self, Config};
use serve_common::{free_port, next, seed, wait_for, Host};

const SESSIONS: u32 = 1000;
const INCREMENTS: u64 = 8;
const EVENTS: u64 = 6;
/// Short, so that a killed host's sessions move soon; renewed every third of it.
const LEASE: Duration = Duration::from_secs(1);

fn signal(host: &Host, sig: &str) {
    let pid = host.pid().expect("the host runs");
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn sessions_move_between_hosts_and_are_never_live_on_two() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    let mut hosts: Vec<Host> = (0..3)
        .map(|i| {
            let extra = [
                "--store".to_string(),
                pg.url.clone(),
                "--host-id".into(),
                format!("h{i}"),
                "--lease".into(),
                format!("{}ms", LEASE.as_millis()),
            ];
            Host::start(&image, free_port(), &extra)
        })
        .collect();

    let progress = Arc::new(AtomicU64::new(0));
    let urls = hosts
        .iter()
        .map(|h| load::parse_url(&h.url).unwrap())
        .collect();
    let mut config = Config::new(urls, SESSIONS);
    config.requests = Some(INCREMENTS);
    // An attempt stuck on a paused host is sent again, to another host, after this.
    config.timeout = Duration::from_secs(3);
    config.retry_for = Duration::from_secs(90);
    config.progress = Some(progress.clone());
    let run = std::thread::spawn(move || load::run(config).expect("the load starts"));

    let total = u64::from(SESSIONS) * (INCREMENTS + 2);
    let mut rng = seed();
    eprintln!("events seeded with COWHEAP_CRASH_SEED={rng}");
    let share = total / (EVENTS + 1);
    let (mut kills, mut pauses) = (0, 0);
    for k in 0..EVENTS {
        let at = k * share + next(&mut rng) % share;
        if !wait_for(&progress, at, &run) {
            break;
        }
        let victim = (next(&mut rng) % 3) as usize;
        if k % 2 == 0 {
            hosts[victim].kill9();
            hosts[victim].restart();
            kills += 1;
        } else {
            // A pause past the lease: the other hosts take its sessions over while it still
            // holds them in memory.
            signal(&hosts[victim], "STOP");
            std::thread::sleep(LEASE * 2);
            signal(&hosts[victim], "CONT");
            pauses += 1;
        }
    }
    let report = run.join().expect("the load thread");
    eprintln!("{kills} kills, {pauses} pauses\n{}", report.text());
    assert_eq!(kills + pauses, EVENTS, "the run ended before every event");
    assert!(report.ok(), "{}", report.text());
    assert_eq!(report.sessions_verified, u64::from(SESSIONS));
    assert_eq!(report.increments, u64::from(SESSIONS) * INCREMENTS);
    assert!(
        report.redirects > 0,
        "no request was sprayed to a host that did not own it"
    );
}
