//! Leases, as the server keeps them over the `Store` trait (here two hosts over one SQLite
//! file, and "ghost" hosts that exist only as rows in the store): a session held by another
//! live host is redirected there; one whose holder's lease expired moves to the host asked;
//! a host whose lease was taken over cannot acknowledge an evaluation.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use common::{base, config, temp, Host, INCREMENT};
use cowheap_serve::store::{self, Acquired, NewSession, StoreError};
use serde_json::json;

const GHOST_URL: &str = "http://127.0.0.1:9";

fn ghost() -> store::Host {
    store::Host {
        id: "ghost".into(),
        url: GHOST_URL.into(),
    }
}

/// A host over a store of its own whose leases last a millisecond: they are always about to
/// expire, so the ghost can take one over whenever it asks (as after a long pause of this
/// host).
fn host_with_short_leases(
    base: &(cowheap::BaseHeap, cowheap_squeak::interp::Vm),
) -> (tempfile::TempDir, Arc<dyn store::Store>, Host) {
    host_with_short_leases_idle(base, config().idle)
}

/// [`host_with_short_leases`], its sessions leaving memory after `idle`.
fn host_with_short_leases_idle(
    base: &(cowheap::BaseHeap, cowheap_squeak::interp::Vm),
    idle: Duration,
) -> (tempfile::TempDir, Arc<dyn store::Store>, Host) {
    let (dir, db) = temp();
    let st = store::open(&format!("sqlite:{}", db.display())).unwrap();
    let config = cowheap_serve::Config {
        lease: Duration::from_millis(1),
        idle,
        ..config()
    };
    let host = Host::start_with(base, st.clone(), config);
    (dir, st, host)
}

/// The ghost takes session `id`'s lease, as soon as this host's lapses.
fn ghost_takes(st: &dyn store::Store, id: &str) -> store::SessionRecord {
    loop {
        match st.acquire(id, &ghost(), Duration::from_secs(3600)).unwrap() {
            Acquired::Mine(rec) => break rec,
            Acquired::Elsewhere { .. } => std::thread::yield_now(),
            Acquired::Missing => panic!("the session is stored"),
        }
    }
}

#[test]
fn a_session_another_host_holds_is_redirected_there_and_moves_when_released() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let a = Host::start(&base, &db, config());
    let b = Host::start(&base, &db, config());
    let (mut ca, mut cb) = (a.client(), b.client());
    let (id, token) = ca.create();
    assert_eq!(ca.answer(&id, &token, INCREMENT), "1");
    let path = format!("/sessions/{id}/eval");
    let r = cb.eval(&id, &token, &json!({"expression": INCREMENT}));
    assert_eq!(r.status, 307, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{}{path}", a.url).as_str())
    );
    let info = cb.get(&format!("/sessions/{id}"), Some(&token));
    assert_eq!(info.status, 307);
    // A wrong token learns nothing, not even where the session is.
    let wrong = cb.eval(&id, &"0".repeat(64), &json!({"expression": "1"}));
    assert_eq!(wrong.status, 401);
    // A stops (releasing its leases): B resumes the session where A left it.
    a.stop();
    assert_eq!(cb.answer(&id, &token, INCREMENT), "2");
    let info = cb.get(&format!("/sessions/{id}"), Some(&token)).json();
    assert_eq!(
        (info["live"].as_bool(), info["host"].as_str()),
        (Some(true), Some(b.host_id.as_str()))
    );
}

#[test]
fn an_expired_lease_moves_to_the_host_asked_and_a_live_one_redirects() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let st = store::open(&format!("sqlite:{}", db.display())).unwrap();
    let fresh = base.0.new_image().unwrap().delta_bytes().unwrap();
    let token = "a".repeat(64);
    let (dead, alive) = ("0".repeat(32), "1".repeat(32));
    // Leases end with their host's row: a dead ghost (at another URL) and a live one.
    let dead_ghost = store::Host {
        id: "dead-ghost".into(),
        url: "http://127.0.0.1:10".into(),
    };
    for (id, owner, ttl) in [
        (&dead, &dead_ghost, Duration::ZERO),
        (&alive, &ghost(), Duration::from_secs(3600)),
    ] {
        let new = NewSession {
            id,
            token_hash: cowheap_serve::token::hash(&token),
            base_hash: base.0.content_hash().0,
            delta: &fresh,
        };
        st.create(&new, owner, ttl).unwrap();
    }
    let host = Host::start_with(&base, st.clone(), config());
    let mut c = host.client();
    // The ghost's lease on `dead` has expired: the session moves here.
    assert_eq!(c.answer(&dead, &token, INCREMENT), "1");
    // Its lease on `alive` has not: redirected to the ghost.
    let r = c.eval(&alive, &token, &json!({"expression": INCREMENT}));
    assert_eq!(r.status, 307, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{GHOST_URL}/sessions/{alive}/eval").as_str())
    );
    let metrics = c.get("/metrics", None).body;
    assert!(metrics.contains("cowheap_redirects_total 1\n"), "{metrics}");
}

#[test]
fn a_host_whose_lease_was_taken_over_acknowledges_nothing_and_redirects_to_the_new_holder() {
    let Some(base) = base() else { return };
    let (_dir, st, host) = host_with_short_leases(&base);
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    let taken = ghost_takes(&*st, &id);
    // The host still has the session in memory, but its commit is fenced off.
    let r = c.eval(
        &id,
        &token,
        &json!({"expression": INCREMENT, "request_id": 5}),
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (409, "lease_lost"),
        "{}",
        r.body
    );
    let row = st.load(&id).unwrap().unwrap();
    assert_eq!(
        (row.evaluations, row.last_request_id),
        (1, None),
        "nothing written"
    );
    assert_eq!(row.lease.unwrap().epoch, taken.lease.unwrap().epoch);
    // The session left this host's memory; the next request goes to the holder.
    let r = c.eval(
        &id,
        &token,
        &json!({"expression": INCREMENT, "request_id": 5}),
    );
    assert_eq!(r.status, 307, "{}", r.body);
    let metrics = c.get("/metrics", None).body;
    assert!(
        metrics.contains("cowheap_store_errors_total 1\n"),
        "{metrics}"
    );
}

/// The host's count of evaluations answered without a commit.
fn unstored(c: &mut common::Client) -> u64 {
    let metrics = c.get("/metrics", None).body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("cowheap_evaluations_unstored_total "))
        .and_then(|n| n.parse().ok())
        .expect("the counter is exported")
}

#[test]
fn an_evaluation_that_changes_nothing_stored_commits_nothing_and_the_next_commit_counts_it() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let st = store::open(&format!("sqlite:{}", db.display())).unwrap();
    let host = Host::start_with(&base, st.clone(), config());
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    // Reads of the counter change nothing stored; once the host has renewed its leases (its
    // first renewal runs at start), they are answered without a commit. Until both reads of
    // one round are: on a loaded machine a renewal can run late, and an evaluation answered
    // while the host's hold on its leases is not known commits (`unstored.rs`).
    let read = "Smalltalk at: #LoadCounter";
    let mut before = unstored(&mut c);
    assert!(common::eventually(Duration::from_secs(30), || {
        assert_eq!(c.answer(&id, &token, read), "1");
        assert_eq!(c.answer(&id, &token, "3 + 4"), "7");
        let now = unstored(&mut c);
        let both = now >= before + 2;
        before = now;
        both
    }));
    let counted = |c: &mut common::Client| {
        c.get(&format!("/sessions/{id}"), Some(&token)).json()["evaluations"]
            .as_u64()
            .unwrap()
    };
    let in_memory = counted(&mut c);
    let row = st.load(&id).unwrap().unwrap();
    assert!(
        row.evaluations < in_memory,
        "{} stored, {in_memory} answered",
        row.evaluations
    );
    // A change is committed, with the count of every evaluation before it.
    let r = c.eval(
        &id,
        &token,
        &json!({"expression": INCREMENT, "request_id": 9}),
    );
    assert_eq!(r.json()["answer"], "2", "{}", r.body);
    let row = st.load(&id).unwrap().unwrap();
    assert_eq!(
        (row.evaluations, row.last_request_id),
        (in_memory + 1, Some(9))
    );
    // Another host resumes what was stored.
    host.stop();
    let other = Host::start_with(&base, st.clone(), config());
    let mut c = other.client();
    assert_eq!(c.answer(&id, &token, read), "2");
    assert_eq!(c.answer(&id, &token, INCREMENT), "3");
}

#[test]
fn a_host_whose_lease_was_taken_over_answers_no_evaluation_even_one_that_changes_nothing() {
    let Some(base) = base() else { return };
    let (_dir, st, host) = host_with_short_leases(&base);
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    ghost_takes(&*st, &id);
    // The ghost may have changed the counter: this host's image is stale, and a read of it
    // must not be answered from memory.
    let r = c.eval(
        &id,
        &token,
        &json!({"expression": "Smalltalk at: #LoadCounter"}),
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (409, "lease_lost"),
        "{}",
        r.body
    );
    assert_eq!(unstored(&mut c), 0);
}

/// Store calls that write, by kind, passed on to a store: what a host's resume costs.
struct Counting {
    inner: Arc<dyn store::Store>,
    acquires: AtomicU64,
    releases: AtomicU64,
    commits: AtomicU64,
    other_writes: AtomicU64,
}

impl Counting {
    fn over(inner: Arc<dyn store::Store>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            acquires: AtomicU64::new(0),
            releases: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            other_writes: AtomicU64::new(0),
        })
    }

    /// Acquisitions, releases and other writes but commits and renewals (an evaluation's
    /// commit is not the resume's; renewals run on their own clock).
    fn lease_writes(&self) -> u64 {
        self.acquires.load(Relaxed) + self.releases.load(Relaxed) + self.other_writes.load(Relaxed)
    }
}

impl store::Store for Counting {
    fn create(
        &self,
        new: &NewSession<'_>,
        host: &store::Host,
        ttl: Duration,
    ) -> Result<store::Lease, StoreError> {
        self.other_writes.fetch_add(1, Relaxed);
        self.inner.create(new, host, ttl)
    }
    fn acquire(&self, id: &str, host: &store::Host, ttl: Duration) -> Result<Acquired, StoreError> {
        self.acquires.fetch_add(1, Relaxed);
        self.inner.acquire(id, host, ttl)
    }
    fn read_kept(
        &self,
        id: &str,
        host: &str,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Option<store::SessionRecord>, StoreError> {
        self.inner.read_kept(id, host, epoch, now_ms)
    }
    fn commit(&self, commit: &store::Commit<'_>) -> Result<(), StoreError> {
        self.commits.fetch_add(1, Relaxed);
        self.inner.commit(commit)
    }
    fn renew(&self, host: &store::Host, ttl: Duration) -> Result<Option<i64>, StoreError> {
        self.inner.renew(host, ttl)
    }
    fn release(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        self.releases.fetch_add(1, Relaxed);
        self.inner.release(id, host, epoch)
    }
    fn release_all(&self, host: &str) -> Result<u64, StoreError> {
        self.other_writes.fetch_add(1, Relaxed);
        self.inner.release_all(host)
    }
    fn delete(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        self.other_writes.fetch_add(1, Relaxed);
        self.inner.delete(id, host, epoch)
    }
    fn load(&self, id: &str) -> Result<Option<store::SessionRecord>, StoreError> {
        self.inner.load(id)
    }
    fn count(&self) -> Result<store::Counts, StoreError> {
        self.inner.count()
    }
}

/// A counter of the host's `/metrics`.
fn counter(c: &mut common::Client, name: &str) -> u64 {
    let metrics = c.get("/metrics", None).body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} is exported: {metrics}"))
}

/// Waits until session `id` has left memory (idle).
fn evicted(c: &mut common::Client, id: &str, token: &str) -> bool {
    let path = format!("/sessions/{id}");
    common::eventually(Duration::from_secs(20), || {
        c.get(&path, Some(token)).json()["live"] == false
    })
}

#[test]
fn a_session_resumed_on_the_host_that_kept_its_lease_writes_nothing_to_the_store() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let counting = Counting::over(store::open(&format!("sqlite:{}", db.display())).unwrap());
    let config = cowheap_serve::Config {
        idle: Duration::from_millis(100),
        ..config()
    };
    let host = Host::start_with(&base, counting.clone(), config);
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    for round in 1..=3u64 {
        assert!(evicted(&mut c, &id, &token), "the idle session left memory");
        let (writes, commits) = (counting.lease_writes(), counting.commits.load(Relaxed));
        // Resumed by the next evaluation: its own commit, and no other write.
        assert_eq!(c.answer(&id, &token, INCREMENT), (round + 1).to_string());
        assert_eq!(
            counting.lease_writes(),
            writes,
            "round {round}: no lease written"
        );
        assert_eq!(counting.commits.load(Relaxed), commits + 1);
    }
    assert_eq!(counting.acquires.load(Relaxed), 0);
    assert_eq!(counting.releases.load(Relaxed), 0);
    assert_eq!(counter(&mut c, "cowheap_resumes_total"), 3);
    assert_eq!(counter(&mut c, "cowheap_resumes_kept_total"), 3);
    // Deleted: the kept lease goes with it, and nothing resumes it.
    let r = c.request("DELETE", &format!("/sessions/{id}"), Some(&token), None);
    assert_eq!(r.status, 204, "{}", r.body);
    let r = c.eval(&id, &token, &json!({"expression": "1"}));
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn a_kept_lease_sends_other_hosts_to_its_holder_while_it_renews() {
    let Some(base) = base() else { return };
    let (_dir, db) = temp();
    let quick = cowheap_serve::Config {
        idle: Duration::from_millis(100),
        ..config()
    };
    let a = Host::start(&base, &db, quick);
    let b = Host::start(&base, &db, config());
    let (mut ca, mut cb) = (a.client(), b.client());
    let (id, token) = ca.create();
    assert_eq!(ca.answer(&id, &token, INCREMENT), "1");
    assert!(evicted(&mut ca, &id, &token));
    // Out of A's memory, still A's: B redirects there, and A resumes it with a read.
    let r = cb.eval(&id, &token, &json!({"expression": INCREMENT}));
    assert_eq!(r.status, 307, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/sessions/{id}/eval", a.url).as_str())
    );
    assert_eq!(ca.answer(&id, &token, INCREMENT), "2");
    assert_eq!(counter(&mut ca, "cowheap_resumes_kept_total"), 1);
    // A stops (releasing every lease, kept ones too): B resumes it.
    assert!(evicted(&mut ca, &id, &token));
    a.stop();
    assert_eq!(cb.answer(&id, &token, INCREMENT), "3");
}

#[test]
fn a_kept_lease_whose_host_stopped_renewing_is_taken_and_its_host_redirects() {
    let Some(base) = base() else { return };
    let (_dir, st, host) = host_with_short_leases_idle(&base, Duration::from_millis(100));
    let mut c = host.client();
    let (id, token) = c.create();
    assert_eq!(c.answer(&id, &token, INCREMENT), "1");
    assert!(evicted(&mut c, &id, &token));
    let taken = ghost_takes(&*st, &id);
    // The host kept the lease at the old epoch: its resume reads the row, finds the ghost's,
    // and sends the client there.
    let r = c.eval(&id, &token, &json!({"expression": INCREMENT}));
    assert_eq!(r.status, 307, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{GHOST_URL}/sessions/{id}/eval").as_str())
    );
    let row = st.load(&id).unwrap().unwrap();
    assert_eq!(row.evaluations, 1);
    assert_eq!(row.lease.unwrap().epoch, taken.lease.unwrap().epoch);
    assert_eq!(counter(&mut c, "cowheap_resumes_kept_total"), 0);
}
