//! The `Store` contract, one body for every store (`tests/sqlite_store.rs`,
//! `tests/postgres_store.rs`): what the server relies on from any database.
#![allow(dead_code)] // each test binary uses its own part

use std::time::Duration;

use cowheap_serve::store::{now_ms, Acquired, Commit, Counts, Host, NewSession, Store, StoreError};

pub fn host(id: &str) -> Host {
    Host {
        id: id.to_owned(),
        url: format!("http://{id}"),
    }
}

pub fn new(id: &str) -> NewSession<'_> {
    NewSession {
        id,
        token_hash: [7; 32],
        base_hash: [9; 16],
        delta: b"delta0",
    }
}

/// A session created, committed twice (with and without a request) and read back after the
/// store is opened again; deleted under its lease.
pub fn create_then_commit_under_the_lease_is_read_back_after_reopening<S: Store>(
    open: impl Fn() -> S,
) {
    let store = open();
    let a = host("a");
    let lease = store
        .create(&new("s1"), &a, Duration::from_secs(10))
        .unwrap();
    assert_eq!(lease.epoch, 1);
    assert_eq!(
        store.create(&new("s1"), &a, Duration::from_secs(10)),
        Err(StoreError::Exists { id: "s1".into() })
    );
    store
        .commit(&Commit {
            id: "s1",
            host: "a",
            epoch: lease.epoch,
            delta: b"delta1",
            evaluations: 1,
            request: Some((5, "{\"answer\":\"7\"}")),
        })
        .unwrap();
    let rec = store.load("s1").unwrap().unwrap();
    assert_eq!((rec.delta.as_slice(), rec.evaluations), (&b"delta1"[..], 1));
    assert_eq!(
        store.count().unwrap(),
        Counts {
            stored: 1,
            leased: 1
        }
    );
    // A commit without a request keeps the stored request and response.
    store
        .commit(&Commit {
            id: "s1",
            host: "a",
            epoch: lease.epoch,
            delta: b"delta2",
            evaluations: 2,
            request: None,
        })
        .unwrap();
    drop(store);
    let store = open();
    let rec = store.load("s1").unwrap().unwrap();
    assert_eq!(rec.delta, b"delta2");
    assert_eq!(rec.evaluations, 2);
    assert_eq!(rec.last_request_id, Some(5));
    assert_eq!(rec.last_response.as_deref(), Some("{\"answer\":\"7\"}"));
    assert_eq!((rec.token_hash, rec.base_hash), ([7; 32], [9; 16]));
    assert_eq!(rec.lease.unwrap().owner, "a");
    assert_eq!(store.count().unwrap().stored, 1);
    assert_eq!(store.load("nope").unwrap(), None);
    store.delete("s1", "a", lease.epoch).unwrap();
    assert_eq!(store.count().unwrap().stored, 0);
}

/// A lease that expired is taken over and fences its old holder (commit, delete, release);
/// a live one sends others to its holder; renewal and release of everything a host holds.
pub fn a_lease_held_elsewhere_is_refused_until_it_expires_and_then_fences_the_old_holder<
    S: Store,
>(
    store: S,
) {
    let (a, b) = (host("a"), host("b"));
    let old = store.create(&new("s"), &a, Duration::ZERO).unwrap();
    let Acquired::Mine(rec) = store.acquire("s", &b, Duration::from_secs(60)).unwrap() else {
        panic!("an expired lease is taken over");
    };
    let taken = rec.lease.unwrap();
    assert!(taken.epoch > old.epoch);
    assert_eq!(rec.delta, b"delta0");
    let stale = Commit {
        id: "s",
        host: "a",
        epoch: old.epoch,
        delta: b"x",
        evaluations: 1,
        request: None,
    };
    assert_eq!(
        store.commit(&stale),
        Err(StoreError::LeaseLost { id: "s".into() })
    );
    assert_eq!(
        store.delete("s", "a", old.epoch),
        Err(StoreError::LeaseLost { id: "s".into() })
    );
    assert_eq!(store.load("s").unwrap().unwrap().delta, b"delta0");
    match store.acquire("s", &a, Duration::from_secs(1)).unwrap() {
        Acquired::Elsewhere { lease, token_hash } => {
            assert_eq!((lease.url.as_str(), token_hash), ("http://b", [7; 32]));
        }
        other => panic!("expected Elsewhere, got {other:?}"),
    }
    // A stale release does nothing; the holder's own frees the session for a.
    store.release("s", "a", old.epoch).unwrap();
    assert!(matches!(
        store.acquire("s", &a, Duration::from_secs(1)).unwrap(),
        Acquired::Elsewhere { .. }
    ));
    store.release("s", "b", taken.epoch).unwrap();
    assert!(matches!(
        store.acquire("s", &a, Duration::from_secs(1)).unwrap(),
        Acquired::Mine(_)
    ));
    assert_eq!(
        store.acquire("nope", &a, Duration::from_secs(1)).unwrap(),
        Acquired::Missing
    );
    // Renewal and release of everything a host holds.
    assert!(store.renew(&a, Duration::from_secs(60)).unwrap().is_some());
    assert_eq!(store.release_all("a").unwrap(), 1);
    assert!(store.load("s").unwrap().unwrap().lease.is_none());
}

/// A live lease recorded at the asking host's own URL under another id (the host before a
/// kill -9, restarted under a new id) is taken at once, with a new epoch that fences the old
/// id's writes; a live lease at another URL is not.
pub fn a_lease_at_the_asking_hosts_own_url_is_taken_at_once_and_fences_the_old_id<S: Store>(
    store: S,
) {
    let before = host("a");
    let old = store
        .create(&new("s"), &before, Duration::from_secs(60))
        .unwrap();
    let elsewhere = host("b");
    assert!(matches!(
        store
            .acquire("s", &elsewhere, Duration::from_secs(60))
            .unwrap(),
        Acquired::Elsewhere { .. }
    ));
    let restarted = Host {
        id: "a-restarted".into(),
        url: before.url.clone(),
    };
    let Acquired::Mine(rec) = store
        .acquire("s", &restarted, Duration::from_secs(60))
        .unwrap()
    else {
        panic!("a lease at this host's own URL is this host's to take");
    };
    let taken = rec.lease.unwrap();
    assert!(taken.epoch > old.epoch);
    assert_eq!(taken.owner, "a-restarted");
    let stale = Commit {
        id: "s",
        host: "a",
        epoch: old.epoch,
        delta: b"x",
        evaluations: 1,
        request: None,
    };
    assert_eq!(
        store.commit(&stale),
        Err(StoreError::LeaseLost { id: "s".into() })
    );
    store
        .commit(&Commit {
            id: "s",
            host: "a-restarted",
            epoch: taken.epoch,
            delta: b"y",
            evaluations: 1,
            request: None,
        })
        .unwrap();
    assert_eq!(store.load("s").unwrap().unwrap().delta, b"y");
}

/// Leases live on the host's row: one renewal keeps every session a host holds, however
/// many; a kept lease is read back without a write while the host renews, and only at the
/// epoch and owner it was taken at; once the host stops renewing, another host takes its
/// sessions and fences it; an expired host row is extended by a renewal only (which reports
/// the lapse), never by a creation or an acquisition.
pub fn a_kept_lease_is_read_while_its_host_renews_and_taken_once_it_stops<S: Store>(store: S) {
    let (a, b) = (host("a"), host("b"));
    let ids: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    for id in &ids {
        // Created already expired: only the renewal below keeps them.
        assert_eq!(store.create(&new(id), &a, Duration::ZERO).unwrap().epoch, 1);
    }
    let lapsed = store.renew(&a, Duration::from_secs(3600)).unwrap();
    assert!(
        lapsed.is_some_and(|e| e <= now_ms()),
        "{lapsed:?}: reported lapsed"
    );
    for id in &ids {
        assert!(
            matches!(
                store.acquire(id, &b, Duration::from_secs(60)).unwrap(),
                Acquired::Elsewhere { .. }
            ),
            "{id} is kept by one renewal of a's row"
        );
    }
    let renewed = store.renew(&a, Duration::from_secs(3600)).unwrap();
    assert!(
        renewed.is_some_and(|e| e > now_ms()),
        "{renewed:?}: unbroken"
    );
    let now = now_ms();
    let kept = store.read_kept("s0", "a", 1, now).unwrap().expect("kept");
    assert_eq!(
        (kept.delta.as_slice(), kept.lease.unwrap().epoch),
        (&b"delta0"[..], 1)
    );
    assert_eq!(
        store.read_kept("s0", "a", 2, now).unwrap(),
        None,
        "another epoch"
    );
    assert_eq!(
        store.read_kept("s0", "b", 1, now).unwrap(),
        None,
        "another owner"
    );
    assert_eq!(store.read_kept("nope", "a", 1, now).unwrap(), None);
    // a stops renewing (its row expires now): b takes s0 at a new epoch, a is fenced.
    store.renew(&a, Duration::ZERO).unwrap();
    // Neither a creation nor an acquisition by a extends its expired row.
    store
        .create(&new("late"), &a, Duration::from_secs(3600))
        .unwrap();
    let Acquired::Mine(rec) = store.acquire("s0", &b, Duration::from_secs(60)).unwrap() else {
        panic!("a's lapsed lease is taken");
    };
    assert_eq!(rec.lease.unwrap().epoch, 2);
    assert_eq!(store.read_kept("s0", "a", 1, now_ms()).unwrap(), None);
    assert_eq!(
        store.commit(&Commit {
            id: "s0",
            host: "a",
            epoch: 1,
            delta: b"stale",
            evaluations: 1,
            request: None,
        }),
        Err(StoreError::LeaseLost { id: "s0".into() })
    );
    assert!(matches!(
        store.acquire("late", &b, Duration::from_secs(60)).unwrap(),
        Acquired::Mine(_)
    ));
    // a renews again: the lapse is reported, and what it still names is its own.
    let again = store.renew(&a, Duration::from_secs(3600)).unwrap();
    assert!(
        again.is_some_and(|e| e <= now_ms()),
        "{again:?}: reported lapsed"
    );
    assert!(store.read_kept("s1", "a", 1, now_ms()).unwrap().is_some());
    assert!(matches!(
        store.acquire("s1", &b, Duration::from_secs(60)).unwrap(),
        Acquired::Elsewhere { .. }
    ));
    // A host's first renewal finds no row.
    assert_eq!(
        store.renew(&host("c"), Duration::from_secs(60)).unwrap(),
        None
    );
    // Shutdown gives up the leases and the host row.
    assert_eq!(store.release_all("a").unwrap(), 299);
    assert_eq!(store.read_kept("s1", "a", 1, now_ms()).unwrap(), None);
    assert_eq!(store.renew(&a, Duration::from_secs(60)).unwrap(), None);
}
