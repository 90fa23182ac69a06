//! Where sessions live when they are not in memory, and what makes an answer durable: the
//! [`Store`] trait. The server keeps every rule (tokens, request ids, leases and their
//! fencing, the base hash) in terms of this trait, so that a store only has to keep rows and
//! honour the conditions written in each method's contract. Two implementations: SQLite
//! ([`sqlite::SqliteStore`], one host, the default) and PostgreSQL (many hosts).
//!
//! Every method is synchronous: the server calls them from a session's own thread or from
//! `spawn_blocking`, never on the async executor.
//!
//! **Leases live on two tables.** A session's row names its holder (host id and URL) and the
//! epoch; how long the holder's leases last is one row per host (`hosts`: id, URL, expiry). A
//! session's lease is valid while its owner's host row is unexpired. So a renewal is one row
//! written however many sessions the host holds (with every lease on the session rows, a host
//! keeping 100,000 stored sessions leased wrote 100,000 rows a renewal), and a host may keep
//! the leases of sessions it evicted: its next resume of one is a read of the row
//! ([`Store::read_kept`]), not a write queued behind other sessions' fsyncs.
//!
//! Why keeping changes nothing of the rules: a lease still changes hands only through
//! [`Store::acquire`], only once [`held_elsewhere`] is false (the owner's host row expired, or
//! it is at the asker's URL), and always with a new epoch; every commit and delete still names
//! its owner and epoch in its `WHERE`. A host that stopped renewing (paused, dead) loses all its
//! leases at once when its host row expires, kept or live, exactly as each row's expiry lapsed
//! before.

pub mod postgres;
pub mod sqlite;

use std::time::Duration;

/// One stored session: a row of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's id (what the client names it by).
    pub id: String,
    /// SHA-256 of the session's token: the store never holds the token itself.
    pub token_hash: [u8; 32],
    /// The content hash of the base the delta was saved over
    /// ([`cowheap::BaseHeap::content_hash`]).
    pub base_hash: [u8; 16],
    /// The image's delta over its base, as of the last acknowledged evaluation.
    pub delta: Vec<u8>,
    /// Acknowledged evaluations.
    pub evaluations: u64,
    /// The request id of the last acknowledged evaluation that carried one.
    pub last_request_id: Option<u64>,
    /// That evaluation's response body, answered again (as a replay) to a retry of it.
    pub last_response: Option<String>,
    /// The lease: which host holds the session live, if any.
    pub lease: Option<Lease>,
}

/// A host's hold on a session: while it lasts, only that host runs the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The holding host's id.
    pub owner: String,
    /// Its base URL (`http://127.0.0.1:8080`), where other hosts redirect requests.
    pub url: String,
    /// The fencing number: it grows with every acquisition, and a commit or release names the
    /// one it holds, so that a host whose lease was taken over cannot write.
    pub epoch: u64,
    /// When the lease ends unless renewed, in milliseconds since the Unix epoch: the owner's
    /// host row's expiry (every lease of one host ends together); 0 if it has none.
    pub expires_ms: i64,
}

/// Who is asking: the host's id and its base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// A host's id, unique among the hosts of one store.
    pub id: String,
    /// Where other hosts send this host's sessions' requests.
    pub url: String,
}

/// A session to create: its row, with the lease the creating host takes on it.
#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    /// Its id.
    pub id: &'a str,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// Its base's content hash.
    pub base_hash: [u8; 16],
    /// Its first delta (a fresh image's).
    pub delta: &'a [u8],
}

/// An acknowledged evaluation, written with the lease it was made under.
#[derive(Clone, Debug)]
pub struct Commit<'a> {
    /// The session.
    pub id: &'a str,
    /// The host that evaluated, and the lease epoch it holds.
    pub host: &'a str,
    /// See [`Lease::epoch`].
    pub epoch: u64,
    /// The image's new delta.
    pub delta: &'a [u8],
    /// The session's acknowledged evaluations, this one counted.
    pub evaluations: u64,
    /// The request's id and the response body to replay for it; `None` leaves the stored
    /// ones as they are.
    pub request: Option<(u64, &'a str)>,
}

/// What [`Store::acquire`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lease is now this host's (it was free, expired, or already this host's): the row,
    /// with the new lease.
    Mine(SessionRecord),
    /// Another host holds an unexpired lease.
    Elsewhere {
        /// The session's token hash, so that the asking host can refuse a wrong token before
        /// it says where the session is.
        token_hash: [u8; 32],
        /// The holder's lease.
        lease: Lease,
    },
    /// No such session.
    Missing,
}

/// What [`Store::count`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sessions in the store.
    pub stored: u64,
    /// Of those, sessions with a lease owner.
    pub leased: u64,
}

/// Why the store did not do what it was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The fenced write found the lease no longer this host's at this epoch: another host took
    /// it over (after it expired), or the session was deleted. Nothing was written.
    #[error("the lease on session {id} was lost (another host took it over, or it was deleted)")]
    LeaseLost {
        /// The session.
        id: String,
    },
    /// A session with this id exists already.
    #[error("session {id} exists already")]
    Exists {
        /// The session.
        id: String,
    },
    /// The database refused or failed (I/O, corruption, a lost connection): nothing of the
    /// call is known to have been written.
    #[error("store: {0}")]
    Database(String),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
}

/// The sessions' durable home, shared by every thread of a host (and, for a store that allows
/// it, by many hosts).
///
/// Writes are durable when a method returns `Ok`: a crash after that loses none of them.
/// Lease conditions are checked in the same transaction as the write they guard.
///
/// `create` and `acquire` also make sure `host`'s row lasts at least half of `ttl` from now,
/// writing now + `ttl` (and the URL) when it is missing, or unexpired and lasting less, so
/// that a lease just taken does not lapse before the host's next renewal. They never extend
/// an expired host row: only [`renew`](Store::renew) does, and it reports the lapse (some of
/// the host's leases may have changed hands), which the host's `LeaseClock` must hear of. A
/// store with row locks must not take the host row's lock when it has nothing to write
/// (every acquisition of one host would wait for the one before it to commit).
pub trait Store: Send + Sync + 'static {
    /// Inserts a session, leased to `host` at epoch 1. Fails with [`StoreError::Exists`] if the
    /// id is taken.
    fn create(&self, new: &NewSession<'_>, host: &Host, ttl: Duration)
        -> Result<Lease, StoreError>;

    /// Takes the lease on `id` for `host` unless [`held_elsewhere`] (it is free, its owner's
    /// host row expired, it is `host`'s own, or recorded at `host`'s own URL), raising its
    /// epoch, and answers the row; answers who holds it otherwise.
    fn acquire(&self, id: &str, host: &Host, ttl: Duration) -> Result<Acquired, StoreError>;

    /// The row of `id` if `host` holds its lease at `epoch` and `host`'s row has not expired
    /// at `now_ms`, read without writing anything; `None` otherwise (then the caller
    /// acquires).
    ///
    /// A host resumes a session whose lease it kept with this alone. The row at this owner
    /// and epoch is the newest acknowledged state: no other host can have written it since,
    /// for a takeover raises the epoch and every commit is fenced by owner and epoch; this
    /// host's own commits were all answered before its session left memory. Were the lease to
    /// expire and be taken right after the read, the resumed session's first commit is fenced
    /// (the [`crate::unstored`] rule makes it commit; see `LeaseClock`), as after an
    /// `acquire` followed by a pause.
    fn read_kept(
        &self,
        id: &str,
        host: &str,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Writes an evaluation's effect if `commit.host` still holds the lease at `commit.epoch`;
    /// [`StoreError::LeaseLost`] otherwise, writing nothing.
    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError>;

    /// Extends every lease `host` holds to now + `ttl` by writing its host row (made if
    /// missing): one row written, whatever the number of sessions it holds. Answers the row's
    /// expiry before this write (`None` if it had none), read in the same transaction: if it
    /// had passed, another host may have taken some of the leases (those it still names are
    /// this host's again), and every acquisition that read it so has committed before this
    /// renewal returns.
    fn renew(&self, host: &Host, ttl: Duration) -> Result<Option<i64>, StoreError>;

    /// Gives up `host`'s lease on `id` at `epoch` (the session stays stored); does nothing if
    /// the lease is not that.
    fn release(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError>;

    /// Gives up every lease `host` holds, and its host row (a host shutting down); answers the
    /// sessions released.
    fn release_all(&self, host: &str) -> Result<u64, StoreError>;

    /// Deletes the session if `host` holds its lease at `epoch`; [`StoreError::LeaseLost`]
    /// otherwise.
    fn delete(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError>;

    /// Reads a row as it is, taking nothing (tests and tools).
    fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Sessions stored, and how many of them some host holds a lease on (expired or not).
    fn count(&self) -> Result<Counts, StoreError>;
}

/// Whether a lease recorded as `owner` at `url`, ending at `expires_ms`, keeps `host` out at
/// `now_ms`: it is another host's, unexpired, and at another URL.
///
/// A lease recorded at this host's own URL is taken over at once (with an epoch bump, as any
/// acquisition), whoever's id it names. Its holder was a process listening on this host's
/// address: this process holds that socket now, so the holder is dead (typically this host
/// before a kill -9 and a restart under a new random id), and every request a redirect sends
/// there comes back here — honouring the lease would redirect clients to this host in a loop
/// until it expired. Were the holder somehow alive (two hosts misconfigured with one
/// `--public-url`), the epoch bump still fences it: its next commit finds the lease lost and is
/// never acknowledged, so the takeover cannot lose or double an acknowledged evaluation; the
/// sessions would only move back and forth.
pub fn held_elsewhere(owner: &str, url: &str, expires_ms: i64, host: &Host, now_ms: i64) -> bool {
    owner != host.id && expires_ms > now_ms && url != host.url
}

/// The columns of a session row as both stores read it (their `record` functions take them
/// by position), its owner's host row's expiry last (0 without one), from the session row
/// `s` joined to its owner's host row `h`.
pub(crate) const COLUMNS: &str = "s.id, s.token_hash, s.base_hash, s.delta, s.evaluations, \
                                  s.last_request_id, s.last_response, s.lease_owner, s.lease_url, \
                                  s.lease_epoch, coalesce(h.expires, 0)";

/// Milliseconds since the Unix epoch, by this machine's clock: lease expiries.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ttl` in milliseconds, saturated.
pub fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Opens the store a `--store` argument names: `postgres://...` (or `postgresql://...`), else
/// `sqlite:PATH` (or a bare path).
pub fn open(spec: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(postgres::PostgresStore::open(spec)?));
    }
    let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
    Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path)?))
}
