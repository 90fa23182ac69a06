//! The SQLite store's own tests: group commit, the reader connections, migration.

use super::*;

fn host(id: &str) -> Host {
    Host {
        id: id.to_owned(),
        url: format!("http://{id}"),
    }
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = SqliteStore::open(dir.path().join("s.db")).expect("the store opens");
    (dir, store)
}

fn new(id: &str) -> NewSession<'_> {
    NewSession {
        id,
        token_hash: [7; 32],
        base_hash: [9; 16],
        delta: b"delta0",
    }
}

#[test]
fn many_threads_commit_in_groups_and_every_one_is_durable() {
    let (dir, store) = store();
    let a = host("a");
    let ids: Vec<String> = (0..64).map(|i| format!("s{i}")).collect();
    let epochs: Vec<u64> = ids
        .iter()
        .map(|id| {
            store
                .create(&new(id), &a, Duration::from_secs(60))
                .unwrap()
                .epoch
        })
        .collect();
    std::thread::scope(|s| {
        for (id, epoch) in ids.iter().zip(&epochs) {
            let store = &store;
            s.spawn(move || {
                for n in 1..=20u64 {
                    let body = format!("{n}");
                    store
                        .commit(&Commit {
                            id,
                            host: "a",
                            epoch: *epoch,
                            delta: body.as_bytes(),
                            evaluations: n,
                            request: Some((n, &body)),
                        })
                        .unwrap();
                }
            });
        }
    });
    drop(store);
    let reopened = SqliteStore::open(dir.path().join("s.db")).unwrap();
    for id in &ids {
        let rec = reopened.load(id).unwrap().unwrap();
        assert_eq!((rec.evaluations, rec.last_request_id), (20, Some(20)));
    }
    assert_eq!(reopened.release_all("a").unwrap(), 64);
}

/// A read does not wait for a reader connection another read holds (a holder the
/// scheduler put aside held every resume back, run S6), and every connection reads the
/// last commit.
#[test]
fn a_read_takes_a_free_connection_and_every_one_sees_the_last_commit() {
    let (_dir, store) = store();
    let a = host("a");
    let epoch = store
        .create(&new("s"), &a, Duration::from_secs(60))
        .unwrap()
        .epoch;
    let busy = store.readers[0].lock().unwrap();
    for n in 1..=3u64 {
        let body = format!("{n}");
        store
            .commit(&Commit {
                id: "s",
                host: "a",
                epoch,
                delta: body.as_bytes(),
                evaluations: n,
                request: Some((n, &body)),
            })
            .unwrap();
        for _ in 0..READERS {
            let rec = store.read_kept("s", "a", epoch, now_ms()).unwrap().unwrap();
            assert_eq!((rec.evaluations, rec.delta), (n, body.clone().into_bytes()));
        }
    }
    drop(busy);
    for _ in 0..READERS {
        assert_eq!(store.load("s").unwrap().unwrap().evaluations, 3);
    }
}

/// A store of the layout before host rows (an expiry on each session row) is migrated
/// when opened: its rows, owners and epochs kept, each owner's leases lasting as long as
/// their latest expiry, and the old column gone (a host of the older version still on the
/// file fails its renewals rather than renew what nobody reads).
#[test]
fn a_store_with_expiries_on_the_session_rows_is_migrated_to_host_rows() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("s.db");
    let far = now_ms() + 3_600_000;
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE sessions (id TEXT PRIMARY KEY, token_hash BLOB NOT NULL, \
             base_hash BLOB NOT NULL, delta BLOB NOT NULL, evaluations INTEGER NOT NULL, \
             last_request_id INTEGER, last_response TEXT, lease_owner TEXT, lease_url TEXT, \
             lease_epoch INTEGER NOT NULL DEFAULT 0, \
             lease_expires INTEGER NOT NULL DEFAULT 0); \
             CREATE INDEX sessions_lease_owner ON sessions(lease_owner);",
        )
        .unwrap();
        for (id, owner, epoch, expires) in [
            ("s1", Some("a"), 3, far),
            ("s2", Some("a"), 5, 1),
            ("s3", Some("old"), 2, 1),
            ("s4", None, 4, 0),
        ] {
            conn.execute(
                "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, 7, NULL, NULL, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    &[7u8; 32][..],
                    &[9u8; 16][..],
                    b"d".as_slice(),
                    owner,
                    owner.map(|o| format!("http://{o}")),
                    epoch,
                    expires
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).expect("the old store opens");
    let rec = store.load("s1").unwrap().unwrap();
    assert_eq!((rec.evaluations, rec.delta.as_slice()), (7, &b"d"[..]));
    let lease = rec.lease.unwrap();
    assert_eq!((lease.owner.as_str(), lease.epoch), ("a", 3));
    assert_eq!(lease.expires_ms, far, "the owner's latest expiry");
    // a's leases, s2's too, last until its latest expiry; "old"'s had lapsed.
    let b = host("b");
    for id in ["s1", "s2"] {
        assert!(matches!(
            store.acquire(id, &b, Duration::from_secs(60)).unwrap(),
            Acquired::Elsewhere { .. }
        ));
    }
    for (id, epoch) in [("s3", 3), ("s4", 5)] {
        match store.acquire(id, &b, Duration::from_secs(60)).unwrap() {
            Acquired::Mine(rec) => assert_eq!(rec.lease.unwrap().epoch, epoch),
            other => panic!("expected {id} taken, got {other:?}"),
        }
    }
    assert_eq!(
        store.read_kept("s1", "a", 3, now_ms()).unwrap().unwrap().id,
        "s1"
    );
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let old = conn.execute("UPDATE sessions SET lease_expires = 0", []);
    assert!(old.is_err(), "the old column is gone");
    // Opened again: nothing left to migrate.
    SqliteStore::open(&path).expect("the migrated store opens");
}

/// A new file gets the large pages (a 10 KB delta in one page); a file made before keeps its
/// own, and opens as before.
#[test]
fn a_new_store_has_large_pages_and_an_old_one_keeps_its_own() {
    let page_size = |path: &std::path::Path| -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let (dir, store) = store();
    store
        .create(&new("s"), &host("a"), Duration::from_secs(60))
        .unwrap();
    drop(store);
    assert_eq!(page_size(&dir.path().join("s.db")), PAGE_SIZE);

    let old = dir.path().join("old.db");
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t (x);")
            .unwrap();
    }
    let store = SqliteStore::open(&old).expect("an old file opens");
    store
        .create(&new("s"), &host("a"), Duration::from_secs(60))
        .unwrap();
    assert!(store.load("s").unwrap().is_some());
    drop(store);
    assert_eq!(page_size(&old), 4096);
}
