//! The SQLite store against the `Store` contract every store keeps (`tests/store_contract`).

mod store_contract;

use cowheap_serve::store::sqlite::SqliteStore;

#[test]
fn create_then_commit_under_the_lease_is_read_back_after_reopening() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("s.db");
    store_contract::create_then_commit_under_the_lease_is_read_back_after_reopening(|| {
        SqliteStore::open(&path).expect("the store opens")
    });
}

#[test]
fn a_lease_held_elsewhere_is_refused_until_it_expires_and_then_fences_the_old_holder() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    store_contract::a_lease_held_elsewhere_is_refused_until_it_expires_and_then_fences_the_old_holder(
        SqliteStore::open(dir.path().join("s.db")).expect("the store opens"),
    );
}

#[test]
fn a_lease_at_the_asking_hosts_own_url_is_taken_at_once_and_fences_the_old_id() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    store_contract::a_lease_at_the_asking_hosts_own_url_is_taken_at_once_and_fences_the_old_id(
        SqliteStore::open(dir.path().join("s.db")).expect("the store opens"),
    );
}

#[test]
fn a_kept_lease_is_read_while_its_host_renews_and_taken_once_it_stops() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    store_contract::a_kept_lease_is_read_while_its_host_renews_and_taken_once_it_stops(
        SqliteStore::open(dir.path().join("s.db")).expect("the store opens"),
    );
}
