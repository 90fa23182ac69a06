//! What keeps the threads of a host bounded: a session whose handles are dropped without a
//! stop (a creation or resume whose client gave up between the thread's start and the
//! registry's map) leaves instead of waiting forever, its lease kept for the host's next
//! resume; sessions over the most live are trimmed to it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{base, eventually, temp};
use cowheap_serve::registry::{Found, Policy, Registry};
use cowheap_serve::session::{self, Caps, Env, Start};
use cowheap_serve::store::{self, Acquired, Host, NewSession};

#[test]
fn a_session_whose_handles_are_all_dropped_leaves_and_its_host_keeps_its_lease() {
    let Some((heap, vm)) = base() else { return };
    let (_dir, db) = temp();
    let store = store::open(&format!("sqlite:{}", db.display())).expect("the store opens");
    let here = Host {
        id: "here".into(),
        url: "http://127.0.0.1:1".into(),
    };
    let image = heap.new_image().expect("an image");
    let delta = image.delta_bytes().expect("a delta");
    let lease = store
        .create(
            &NewSession {
                id: "s",
                token_hash: [1; 32],
                base_hash: heap.content_hash().0,
                delta: &delta,
            },
            &here,
            Duration::from_secs(3600),
        )
        .expect("created");
    let env = Arc::new(Env {
        base_hash: heap.content_hash().0,
        base: heap,
        vm,
        store: store.clone(),
        host: here,
        metrics: Arc::default(),
        interrupt: Arc::new(AtomicBool::new(false)),
        caps: Caps::default(),
        started: Instant::now(),
        leases: Default::default(),
    });
    let live = session::spawn(
        &env,
        image,
        Start {
            id: "s".into(),
            token_hash: [1; 32],
            epoch: lease.epoch,
            evaluations: 0,
            last_request: None,
        },
    )
    .expect("the thread starts");
    assert!(live.alive.load(Relaxed));
    assert_eq!(env.metrics.abandoned.load(Relaxed), 0);
    drop(live);
    assert!(
        eventually(Duration::from_secs(20), || env
            .metrics
            .abandoned
            .load(Relaxed)
            == 1),
        "the thread saw its handles gone"
    );
    let other = Host {
        id: "other".into(),
        url: "http://127.0.0.1:2".into(),
    };
    // Kept, as an evicted session's: another host is sent here, and this host reads it back
    // at the epoch it took.
    assert!(matches!(
        store.acquire("s", &other, Duration::from_secs(60)).unwrap(),
        Acquired::Elsewhere { .. }
    ));
    let kept = store
        .read_kept("s", "here", lease.epoch, store::now_ms())
        .unwrap();
    assert_eq!(kept.map(|r| r.lease.unwrap().epoch), Some(lease.epoch));
}

#[test]
fn sessions_over_the_most_live_are_trimmed_least_recent_first_and_resume() {
    let Some((heap, vm)) = base() else { return };
    let (_dir, db) = temp();
    let store = store::open(&format!("sqlite:{}", db.display())).expect("the store opens");
    let env = Arc::new(Env {
        base_hash: heap.content_hash().0,
        base: heap,
        vm,
        store,
        host: Host {
            id: "here".into(),
            url: "http://127.0.0.1:1".into(),
        },
        metrics: Arc::default(),
        interrupt: Arc::new(AtomicBool::new(false)),
        caps: Caps::default(),
        started: Instant::now(),
        leases: Default::default(),
    });
    let policy = Policy {
        idle: Duration::from_secs(3600),
        lease: Duration::from_secs(3600),
        max_live: 4,
    };
    let registry = Arc::new(Registry::new(env.clone(), policy).expect("a registry"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut made = Vec::new();
        for _ in 0..4 {
            made.push(registry.create().await.expect("created"));
            // Distinct last-used times: least recent first.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(registry.live_count(), 4);
        assert_eq!(registry.trim_to(registry.most_live()).await, 0, "not over");
        assert_eq!(registry.trim_to(2).await, 2);
        assert_eq!(registry.live_count(), 2);
        assert_eq!(env.metrics.evictions.load(Relaxed), 2);
        // The two oldest left; they resume on their next request.
        for (i, (id, token)) in made.iter().enumerate() {
            let found = registry.find(id, token).await.expect("found");
            assert!(matches!(found, Found::Live(_)));
            let resumes = env.metrics.resumes.load(Relaxed);
            assert_eq!(resumes, if i < 2 { i as u64 + 1 } else { 2 }, "session {i}");
        }
        // Both resumed on the leases this host kept when it evicted them.
        assert_eq!(env.metrics.resumes_kept.load(Relaxed), 2);
    });
}
