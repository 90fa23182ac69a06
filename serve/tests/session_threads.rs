//! What keeps the threads of a host bounded: a session whose handles are dropped without a
//! stop (a creation or resume whose client gave up between the thread's start and the
//! registry's map) leaves instead of waiting forever, its lease kept for the host's next
//! resume; sessions over the most live are trimmed to it; the kept leases are bounded, and a
//! session whose kept lease was dropped resumes by taking its lease again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cowheap::BaseHeap;
use cowheap_squeak::interp::Vm;

use common::{base, eventually, temp, INCREMENT};
use cowheap_serve::registry::{Found, LookupError, Policy, Registry};
use cowheap_serve::session::{self, Caps, Env, EvalRequest, Live, Start};
use cowheap_serve::store::{self, Acquired, Host, NewSession, Store};
use cowheap_serve::threads::Threads;

/// The host these tests run as.
fn here() -> Host {
    Host {
        id: "here".into(),
        url: "http://127.0.0.1:1".into(),
    }
}

/// A host's environment over `store`, as `here`.
fn env(heap: BaseHeap, vm: Vm, store: Arc<dyn Store>) -> Arc<Env> {
    Arc::new(Env {
        base_hash: heap.content_hash().0,
        base: heap,
        vm,
        store,
        host: here(),
        metrics: Arc::default(),
        interrupt: Arc::new(AtomicBool::new(false)),
        caps: Caps::default(),
        started: Instant::now(),
        leases: Default::default(),
        threads: Threads::for_sessions(),
    })
}

/// A registry over `env` whose idle eviction and leases outlast any test, with `max_live`
/// sessions live and `max_kept` leases kept at most, and a runtime to drive it.
fn registry(
    env: &Arc<Env>,
    max_live: usize,
    max_kept: usize,
) -> (Arc<Registry>, tokio::runtime::Runtime) {
    let policy = Policy {
        idle: Duration::from_secs(3600),
        lease: Duration::from_secs(3600),
        max_live,
        max_kept,
    };
    let registry = Arc::new(Registry::new(env.clone(), policy).expect("a registry"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    (registry, runtime)
}

#[test]
fn a_session_whose_handles_are_all_dropped_leaves_and_its_host_keeps_its_lease() {
    let Some((heap, vm)) = base() else { return };
    let (_dir, db) = temp();
    let store = store::open(&format!("sqlite:{}", db.display())).expect("the store opens");
    let here = here();
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
    let env = env(heap, vm, store.clone());
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
    let env = env(heap, vm, store);
    let (registry, runtime) = registry(&env, 4, 100);
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

/// The answer of `INCREMENT` in `live`: its counter.
async fn increment(live: &Live) -> String {
    let body = live
        .eval(EvalRequest {
            expression: INCREMENT.into(),
            request_id: None,
            limits: Default::default(),
        })
        .await
        .expect("the session is in memory")
        .expect("evaluated and committed");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    answer["answer"].as_str().expect("an answer").to_owned()
}

#[test]
fn past_the_most_kept_leases_the_least_recently_used_is_dropped_and_its_session_resumes_by_acquiring(
) {
    let Some((heap, vm)) = base() else { return };
    let (_dir, db) = temp();
    let store = store::open(&format!("sqlite:{}", db.display())).expect("the store opens");
    let env = env(heap, vm, store.clone());
    let (registry, runtime) = registry(&env, 10, 2);
    let live = |found: Found| match found {
        Found::Live(live) => live,
        Found::Elsewhere(url) => panic!("sent to {url}"),
    };
    let epoch = |id: &str| {
        store
            .load(id)
            .expect("the store reads")
            .and_then(|r| r.lease)
            .map(|l| (l.owner, l.epoch))
    };
    runtime.block_on(async {
        let (a, a_token) = registry.create().await.expect("created");
        let first = live(registry.find(&a, &a_token).await.expect("found"));
        assert_eq!(increment(&first).await, "1");
        let a_epoch = first.epoch;
        drop(first);
        let b = registry.create().await.expect("created");
        // The third lease drops "a"'s entry, the least recently used: two are kept.
        let c = registry.create().await.expect("created");
        assert_eq!(registry.held_count(), 2);
        assert_eq!(env.metrics.kept_dropped.get(), 1);
        assert_eq!(registry.trim_to(0).await, 3);
        assert_eq!(registry.live_count(), 0);
        // The store still names this host at "a"'s epoch: dropping an entry writes nothing.
        assert_eq!(epoch(&a), Some(("here".into(), a_epoch)));
        // A wrong token is still refused, now by the acquisition.
        assert!(matches!(
            registry.find(&a, &b.1).await,
            Err(LookupError::Unauthorized)
        ));
        // "a" resumes by taking its lease again, at a new epoch, where it left off, and its
        // commits (fenced by the new epoch) go through.
        let again = live(registry.find(&a, &a_token).await.expect("found"));
        assert_eq!(env.metrics.resumes.load(Relaxed), 1);
        assert_eq!(env.metrics.resumes_kept.load(Relaxed), 0);
        assert!(again.epoch > a_epoch, "{} after {a_epoch}", again.epoch);
        assert_eq!(epoch(&a), Some(("here".into(), again.epoch)));
        assert_eq!(increment(&again).await, "2");
        assert_eq!(increment(&again).await, "3");
        drop(again);
        // Keeping "a" again dropped "b", now the least recently used entry.
        assert_eq!(env.metrics.kept_dropped.get(), 2);
        assert_eq!(registry.held_count(), 2);
        // "c" is still kept: it resumes with a read.
        let c_live = live(registry.find(&c.0, &c.1).await.expect("found"));
        assert_eq!(env.metrics.resumes_kept.load(Relaxed), 1);
        assert_eq!(increment(&c_live).await, "1");
        drop(c_live);
        // "b" resumes by acquiring, and its entry drops "a"'s (used before "c"'s resume).
        let b_live = live(registry.find(&b.0, &b.1).await.expect("found"));
        assert_eq!(increment(&b_live).await, "1");
        drop(b_live);
        assert_eq!(env.metrics.resumes.load(Relaxed), 3);
        assert_eq!(env.metrics.resumes_kept.load(Relaxed), 1);
        assert_eq!(env.metrics.kept_dropped.get(), 3);
        assert_eq!(registry.held_count(), 2);
    });
}
