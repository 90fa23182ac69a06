//! The PostgreSQL store against a real, throwaway PostgreSQL cluster (`tests/pg.sh`): the
//! `Store` contract as the SQLite store keeps it (fenced commits, leases taken in a
//! transaction), with many hosts racing for one session.

mod pg_common;
mod store_contract;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cowheap_serve::store::postgres::PostgresStore;
use cowheap_serve::store::{Acquired, Commit, Store, StoreError};
use store_contract::{host, new};

#[test]
fn create_then_commit_under_the_lease_is_read_back_after_reopening() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    store_contract::create_then_commit_under_the_lease_is_read_back_after_reopening(|| {
        PostgresStore::open(&pg.url).unwrap()
    });
}

#[test]
fn a_lease_held_elsewhere_is_refused_until_it_expires_and_then_fences_the_old_holder() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    store_contract::a_lease_held_elsewhere_is_refused_until_it_expires_and_then_fences_the_old_holder(
        PostgresStore::open(&pg.url).unwrap(),
    );
}

#[test]
fn a_lease_at_the_asking_hosts_own_url_is_taken_at_once_and_fences_the_old_id() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    store_contract::a_lease_at_the_asking_hosts_own_url_is_taken_at_once_and_fences_the_old_id(
        PostgresStore::open(&pg.url).unwrap(),
    );
}

#[test]
fn a_kept_lease_is_read_while_its_host_renews_and_taken_once_it_stops() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    store_contract::a_kept_lease_is_read_while_its_host_renews_and_taken_once_it_stops(
        PostgresStore::open(&pg.url).unwrap(),
    );
}

/// Hosts race for one session whose leases expire at once: each takes the lease, reads the
/// count it was given and commits count + 1 under its epoch. Fencing lets only the newest
/// holder's commit land, so the stored count is exactly the number of commits that succeeded:
/// a commit that ignored the epoch would let two holders write the same count (a lost
/// update, the mark of a session live on two hosts).
#[test]
fn hosts_racing_for_one_session_never_both_commit() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    let store = PostgresStore::open(&pg.url).unwrap();
    store
        .create(&new("hot"), &host("h0"), Duration::ZERO)
        .unwrap();
    let landed = AtomicU64::new(0);
    let fenced = AtomicU64::new(0);
    std::thread::scope(|s| {
        for h in 0..6 {
            let (store, landed, fenced) = (&store, &landed, &fenced);
            s.spawn(move || {
                let me = host(&format!("h{h}"));
                for _ in 0..60 {
                    // A zero lease: anyone may take it over at once.
                    let Acquired::Mine(rec) = store.acquire("hot", &me, Duration::ZERO).unwrap()
                    else {
                        continue;
                    };
                    let epoch = rec.lease.unwrap().epoch;
                    let next = rec.evaluations + 1;
                    let delta = next.to_string();
                    match store.commit(&Commit {
                        id: "hot",
                        host: &me.id,
                        epoch,
                        delta: delta.as_bytes(),
                        evaluations: next,
                        request: Some((next, &delta)),
                    }) {
                        Ok(()) => landed.fetch_add(1, Ordering::Relaxed),
                        Err(StoreError::LeaseLost { .. }) => fenced.fetch_add(1, Ordering::Relaxed),
                        Err(e) => panic!("{e}"),
                    };
                }
            });
        }
    });
    let rec = store.load("hot").unwrap().unwrap();
    let landed = landed.into_inner();
    assert_eq!(
        rec.evaluations, landed,
        "a commit under a lost lease landed"
    );
    assert_eq!(rec.delta, landed.to_string().as_bytes());
    assert!(landed > 0);
    // Not a proof that the race happened, but on two cores with six threads it does.
    eprintln!("{landed} commits landed, {} fenced", fenced.into_inner());
}

#[test]
fn hosts_opening_one_database_at_once_all_open_it() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    let stores: Vec<PostgresStore> = std::thread::scope(|s| {
        let opening: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PostgresStore::open(&pg.url)))
            .collect();
        opening
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    for (i, store) in stores.iter().enumerate() {
        store
            .create(&new(&format!("s{i}")), &host("a"), Duration::from_secs(5))
            .unwrap();
    }
    assert_eq!(stores[0].count().unwrap().stored, 4);
}

#[test]
fn a_bad_url_or_an_absent_server_is_a_typed_error() {
    assert!(matches!(
        PostgresStore::open("postgres://a:b@c:notaport/d"),
        Err(StoreError::Database(_))
    ));
    let port = pg_common::free_port();
    let err = PostgresStore::open(&format!("postgres://cowheap@127.0.0.1:{port}/cowheap"))
        .expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
}

/// A database of the layout before host rows (an expiry on each session row) is migrated
/// when a host opens it: rows, owners and epochs kept, each owner's leases lasting until its
/// rows' latest expiry, and the old column gone (a host of the older version fails its
/// renewals rather than renew what nobody reads).
#[test]
fn a_database_with_expiries_on_the_session_rows_is_migrated_to_host_rows() {
    let Some(pg) = pg_common::cluster() else {
        return;
    };
    let far = cowheap_serve::store::now_ms() + 3_600_000;
    let mut old = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    old.batch_execute(
        "CREATE TABLE cowheap_sessions (id TEXT PRIMARY KEY, token_hash BYTEA NOT NULL, \
         base_hash BYTEA NOT NULL, delta BYTEA NOT NULL, evaluations BIGINT NOT NULL, \
         last_request_id BIGINT, last_response TEXT, lease_owner TEXT, lease_url TEXT, \
         lease_epoch BIGINT NOT NULL DEFAULT 0, lease_expires BIGINT NOT NULL DEFAULT 0); \
         CREATE INDEX cowheap_sessions_lease_owner ON cowheap_sessions(lease_owner);",
    )
    .unwrap();
    for (id, owner, epoch, expires) in [
        ("s1", Some("a"), 3i64, far),
        ("s2", Some("a"), 5, 1),
        ("s3", Some("old"), 2, 1),
    ] {
        old.execute(
            "INSERT INTO cowheap_sessions VALUES ($1, $2, $3, $4, 7, NULL, NULL, $5, $6, $7, $8)",
            &[
                &id,
                &&[7u8; 32][..],
                &&[9u8; 16][..],
                &&b"d"[..],
                &owner,
                &owner.map(|o| format!("http://{o}")),
                &epoch,
                &expires,
            ],
        )
        .unwrap();
    }
    let store = PostgresStore::open(&pg.url).expect("the old database opens");
    let lease = store.load("s1").unwrap().unwrap().lease.unwrap();
    assert_eq!(
        (lease.owner.as_str(), lease.epoch, lease.expires_ms),
        ("a", 3, far)
    );
    let b = host("b");
    for id in ["s1", "s2"] {
        assert!(matches!(
            store.acquire(id, &b, Duration::from_secs(60)).unwrap(),
            Acquired::Elsewhere { .. }
        ));
    }
    match store.acquire("s3", &b, Duration::from_secs(60)).unwrap() {
        Acquired::Mine(rec) => assert_eq!(rec.lease.unwrap().epoch, 3),
        other => panic!("expected s3 taken, got {other:?}"),
    }
    assert!(old
        .execute("UPDATE cowheap_sessions SET lease_expires = 0", &[])
        .is_err());
    drop(store);
    PostgresStore::open(&pg.url).expect("the migrated database opens");
}
