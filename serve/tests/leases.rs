//! Leases, as the server keeps them over the `Store` trait (here two hosts over one SQLite
//! file, and "ghost" hosts that exist only as rows in the store): a session held by another
//! live host is redirected there; one whose holder's lease expired moves to the host asked;
//! a host whose lease was taken over cannot acknowledge an evaluation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{base, config, temp, Host, INCREMENT};
use cowheap_serve::store::{self, Acquired, NewSession};
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
    let (dir, db) = temp();
    let st = store::open(&format!("sqlite:{}", db.display())).unwrap();
    let config = cowheap_serve::Config {
        lease: Duration::from_millis(1),
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
    for (id, ttl) in [(&dead, Duration::ZERO), (&alive, Duration::from_secs(3600))] {
        let new = NewSession {
            id,
            token_hash: cowheap_serve::token::hash(&token),
            base_hash: base.0.content_hash().0,
            delta: &fresh,
        };
        st.create(&new, &ghost(), ttl).unwrap();
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
    // first renewal runs at start), they are answered without a commit.
    let read = "Smalltalk at: #LoadCounter";
    assert!(common::eventually(Duration::from_secs(30), || {
        assert_eq!(c.answer(&id, &token, read), "1");
        assert_eq!(c.answer(&id, &token, "3 + 4"), "7");
        unstored(&mut c) >= 2
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
