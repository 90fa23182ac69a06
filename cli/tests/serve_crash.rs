//! Crash safety of `cowheap serve` on its SQLite store: a thousand sessions each increment a
//! counter of their own while the server is killed with SIGKILL at random points and restarted
//! on the same store. The load generator retries every unanswered request with its request id
//! and checks every answer against the session's count, and at the end reads every counter
//! back: an acknowledged increment that was lost, or one applied twice, or a session that
//! vanished, fails the run.

mod common;
mod serve_common;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use cowheap_serve::load::{self, Config};
use serve_common::{free_port, next, seed, wait_for, Host};

const SESSIONS: u32 = 1000;
const INCREMENTS: u64 = 12;
const KILLS: u64 = 4;

#[test]
fn acknowledged_increments_survive_kill_9() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    let dir = common::TempDir::new("serve-crash");
    let store = format!("sqlite:{}", dir.file("store.db"));
    let port = free_port();
    // One host id across restarts, as a host keeps its identity: the restarted process holds
    // its predecessor's leases.
    let extra = [
        "--store".into(),
        store,
        "--host-id".into(),
        "crash-host".into(),
    ];
    let mut host = Host::start(&image, port, &extra);

    let progress = Arc::new(AtomicU64::new(0));
    let mut config = Config::new(vec![load::parse_url(&host.url).unwrap()], SESSIONS);
    config.requests = Some(INCREMENTS);
    config.timeout = Duration::from_secs(20);
    config.retry_for = Duration::from_secs(60);
    config.progress = Some(progress.clone());
    let run = std::thread::spawn(move || load::run(config).expect("the load starts"));

    // Kill points spread over the run's creations and evaluations, each at a random place in
    // its own share of it.
    let total = u64::from(SESSIONS) * (INCREMENTS + 2);
    let mut rng = seed();
    eprintln!("kill points seeded with COWHEAP_CRASH_SEED={rng}");
    let share = total / (KILLS + 1);
    let mut kills = 0;
    for k in 0..KILLS {
        let at = k * share + next(&mut rng) % share;
        if !wait_for(&progress, at, &run) {
            break;
        }
        host.kill9();
        kills += 1;
        host.restart();
    }
    let report = run.join().expect("the load thread");
    eprintln!("{kills} kills\n{}", report.text());
    assert_eq!(kills, KILLS, "the run ended before every kill");
    assert!(report.ok(), "{}", report.text());
    assert_eq!(report.sessions_created, u64::from(SESSIONS));
    assert_eq!(report.sessions_verified, u64::from(SESSIONS));
    assert_eq!(report.increments, u64::from(SESSIONS) * INCREMENTS);
}
