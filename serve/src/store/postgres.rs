//! The shared store: one PostgreSQL database for many `serve` hosts (`--store
//! postgres://...`), with the SQLite store's semantics (`store/sqlite/mod.rs`).
//!
//! A session's lease is its row's owner, URL and epoch, valid while the owner's row in
//! `cowheap_hosts` is unexpired; it is taken in a transaction that locks the session's row
//! (`SELECT ... FOR UPDATE`), so two hosts asking at once are served one after the other: the
//! second sees the first's unexpired lease and is told where the session is.
//! Every write that acts for a lease (commit, release, delete) names the epoch it holds in its
//! `WHERE`, in the same statement as the write, so a host whose lease was taken over after
//! it expired writes nothing: the fencing that keeps a session from being live on two hosts.
//! A transaction is durable when its COMMIT returns (the server's `synchronous_commit`, on by
//! default), which is when the server may answer.
//!
//! The client is the synchronous `postgres` crate (the store is called off the async
//! executor); connections are pooled, a few per host, and a connection that broke is dropped
//! and made anew on the next call.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls, Row};

use crate::store::{
    now_ms, ttl_ms, Acquired, Commit, Counts, Host, Lease, NewSession, SessionRecord, Store,
    StoreError, COLUMNS,
};

/// Connections one host keeps at most: PostgreSQL's default allows 100 in all, and a few
/// hosts share it.
pub const POOL: usize = 16;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cowheap_sessions (
    id TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    base_hash BYTEA NOT NULL,
    delta BYTEA NOT NULL,
    evaluations BIGINT NOT NULL,
    last_request_id BIGINT,
    last_response TEXT,
    lease_owner TEXT,
    lease_url TEXT,
    lease_epoch BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cowheap_sessions_lease_owner ON cowheap_sessions(lease_owner);
CREATE TABLE IF NOT EXISTS cowheap_hosts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    expires BIGINT NOT NULL
);
";

/// A database made before leases moved to the host rows (an expiry on each session row),
/// migrated as the SQLite store's (`store/sqlite/mod.rs`, `MIGRATE`, has the argument): each owner
/// gets a host row at its rows' latest expiry, and the old column goes, so that a host of the
/// older version fails its renewals rather than renew what nobody reads.
const MIGRATE: &str = "
CREATE TABLE IF NOT EXISTS cowheap_hosts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    expires BIGINT NOT NULL
);
INSERT INTO cowheap_hosts (id, url, expires)
    SELECT lease_owner, max(coalesce(lease_url, '')), max(lease_expires) FROM cowheap_sessions
    WHERE lease_owner IS NOT NULL GROUP BY lease_owner
    ON CONFLICT (id) DO NOTHING;
ALTER TABLE cowheap_sessions DROP COLUMN lease_expires;
";

/// A lock key of the schema's creation, so that hosts starting together do not race on
/// `CREATE TABLE IF NOT EXISTS` (which PostgreSQL does not make atomic).
const SCHEMA_LOCK: i64 = 0x636f_7768_6561_7001;

/// The rows [`COLUMNS`](crate::store::COLUMNS) reads from.
const FROM: &str = "cowheap_sessions s LEFT JOIN cowheap_hosts h ON h.id = s.lease_owner";

/// The PostgreSQL store.
pub struct PostgresStore {
    config: postgres::Config,
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    idle: Vec<Client>,
    /// Connections out of the pool, in use.
    busy: usize,
    closed: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn db(e: postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`, or any form the `postgres` crate
    /// reads) and creates the table if it is missing.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Database(format!("{url}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let store = PostgresStore {
            config,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                busy: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        };
        store.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            let old = tx.query_opt(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = 'cowheap_sessions' AND column_name = 'lease_expires'",
                &[],
            )?;
            if old.is_some() {
                tx.batch_execute(MIGRATE)?;
            }
            tx.batch_execute(SCHEMA)?;
            tx.commit()
        })?;
        Ok(store)
    }

    /// Stops handing out connections and closes the idle ones.
    pub fn close(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.closed = true;
            pool.idle.clear();
        }
        self.freed.notify_all();
    }

    /// Runs `f` on a pooled connection (waiting for one when [`POOL`] are in use).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = {
            let mut pool = self.pool.lock().map_err(|_| StoreError::Closed)?;
            loop {
                if pool.closed {
                    return Err(StoreError::Closed);
                }
                if let Some(c) = pool.idle.pop() {
                    pool.busy += 1;
                    break Some(c);
                }
                if pool.busy < POOL {
                    pool.busy += 1;
                    break None;
                }
                pool = self.freed.wait(pool).map_err(|_| StoreError::Closed)?;
            }
        };
        let result = match client.as_mut().filter(|c| !c.is_closed()) {
            Some(c) => f(c),
            None => match self.config.connect(NoTls) {
                Ok(c) => {
                    client = Some(c);
                    f(client.as_mut().ok_or(StoreError::Closed)?)
                }
                Err(e) => {
                    client = None;
                    Err(e)
                }
            },
        };
        if let Ok(mut pool) = self.pool.lock() {
            pool.busy -= 1;
            // A connection that failed may be broken mid-protocol: only a clean one goes back.
            if let (Some(c), Ok(_), false) = (client, &result, pool.closed) {
                if !c.is_closed() {
                    pool.idle.push(c);
                }
            }
        }
        self.freed.notify_one();
        result.map_err(db)
    }
}

/// Makes sure `host`'s row lasts until at least now + `ttl` / 2, writing now + `ttl` (and its
/// URL) when it is missing, or unexpired and lasts less (never extending an expired one: the
/// `Store` trait's contract); answers its expiry. Outside the caller's transaction, and the
/// `UPDATE` only locks the row when it writes: an upsert would lock it every time, and every
/// acquisition of this host would wait for the one before it to commit.
fn ensure_host(c: &mut Client, host: &Host, ttl: Duration) -> Result<i64, postgres::Error> {
    let now = now_ms();
    let ttl = ttl_ms(ttl);
    let (until, half) = (now.saturating_add(ttl), now.saturating_add(ttl / 2));
    if let Some(row) = c.query_opt(
        "UPDATE cowheap_hosts SET url = $2, expires = $3 \
         WHERE id = $1 AND expires > $5 AND (expires < $4 OR url <> $2) RETURNING expires",
        &[&host.id, &host.url, &until, &half, &now],
    )? {
        return row.try_get(0);
    }
    c.execute(
        "INSERT INTO cowheap_hosts (id, url, expires) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
        &[&host.id, &host.url, &until],
    )?;
    c.query_one(
        "SELECT expires FROM cowheap_hosts WHERE id = $1",
        &[&host.id],
    )?
    .try_get(0)
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn hash<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], StoreError> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| StoreError::Database(format!("a stored hash of {len} bytes, not {N}")))
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn record(row: &Row) -> Result<SessionRecord, StoreError> {
    let get = |e: postgres::Error| db(e);
    let owner: Option<String> = row.try_get(7).map_err(get)?;
    let lease = match owner {
        Some(owner) => Some(Lease {
            owner,
            url: row
                .try_get::<_, Option<String>>(8)
                .map_err(get)?
                .unwrap_or_default(),
            epoch: unsigned(row.try_get(9).map_err(get)?),
            expires_ms: row.try_get(10).map_err(get)?,
        }),
        None => None,
    };
    Ok(SessionRecord {
        id: row.try_get(0).map_err(get)?,
        token_hash: hash(row.try_get(1).map_err(get)?)?,
        base_hash: hash(row.try_get(2).map_err(get)?)?,
        delta: row.try_get(3).map_err(get)?,
        evaluations: unsigned(row.try_get(4).map_err(get)?),
        last_request_id: row.try_get::<_, Option<i64>>(5).map_err(get)?.map(unsigned),
        last_response: row.try_get(6).map_err(get)?,
        lease,
    })
}

/// What a transaction found, before it is turned into the store's answer (row decoding
/// happens outside the closure, whose errors are the driver's).
enum Found {
    Missing,
    /// Held elsewhere: the row, and its owner's expiry as read under lock.
    Elsewhere(Row, i64),
    Mine(Row, i64, i64),
}

impl Store for PostgresStore {
    fn create(
        &self,
        new: &NewSession<'_>,
        host: &Host,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let (inserted, expires_ms) = self.with(|c| {
            let expires = ensure_host(c, host, ttl)?;
            let inserted = c.execute(
                "INSERT INTO cowheap_sessions (id, token_hash, base_hash, delta, evaluations, \
                 lease_owner, lease_url, lease_epoch) \
                 VALUES ($1, $2, $3, $4, 0, $5, $6, 1) ON CONFLICT (id) DO NOTHING",
                &[
                    &new.id,
                    &&new.token_hash[..],
                    &&new.base_hash[..],
                    &new.delta,
                    &host.id,
                    &host.url,
                ],
            )?;
            Ok((inserted, expires))
        })?;
        match inserted {
            0 => Err(StoreError::Exists {
                id: new.id.to_owned(),
            }),
            _ => Ok(Lease {
                owner: host.id.clone(),
                url: host.url.clone(),
                epoch: 1,
                expires_ms,
            }),
        }
    }

    fn acquire(&self, id: &str, host: &Host, ttl: Duration) -> Result<Acquired, StoreError> {
        let found = self.with(|c| {
            // Before the session's transaction: this host's row is written (rarely) on its
            // own, never locked while the session's row is.
            let until = ensure_host(c, host, ttl)?;
            let mut tx = c.transaction()?;
            let Some(row) = tx.query_opt(
                &format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1 FOR UPDATE OF s"),
                &[&id],
            )?
            else {
                return Ok(Found::Missing);
            };
            let now = now_ms();
            let owner: Option<String> = row.try_get(7)?;
            let url: Option<String> = row.try_get(8)?;
            let mut expires: i64 = row.try_get(10)?;
            if let Some(o) = owner.as_deref().filter(|o| *o != host.id) {
                // Read again, now that the session's row is locked, and under a share lock
                // held until this transaction ends: the owner's renewal (which locks its row
                // to read its old expiry) then either came first, and this reads its new
                // expiry, or comes after this takeover has committed, and reports the lapse
                // to its host (`Store::renew`). The join's read above may predate the
                // renewal, and a takeover on it could commit after the renewal reported
                // nothing.
                expires = tx
                    .query_opt(
                        "SELECT expires FROM cowheap_hosts WHERE id = $1 FOR SHARE",
                        &[&o],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?
                    .unwrap_or(0);
            }
            if owner.as_deref().is_some_and(|o| {
                super::held_elsewhere(o, url.as_deref().unwrap_or(""), expires, host, now)
            }) {
                return Ok(Found::Elsewhere(row, expires));
            }
            let epoch: i64 = tx
                .query_one(
                    "UPDATE cowheap_sessions SET lease_owner = $2, lease_url = $3, \
                     lease_epoch = lease_epoch + 1 WHERE id = $1 RETURNING lease_epoch",
                    &[&id, &host.id, &host.url],
                )?
                .try_get(0)?;
            tx.commit()?;
            Ok(Found::Mine(row, epoch, until))
        })?;
        match found {
            Found::Missing => Ok(Acquired::Missing),
            Found::Elsewhere(row, expires_ms) => {
                let rec = record(&row)?;
                match rec.lease {
                    Some(lease) => Ok(Acquired::Elsewhere {
                        token_hash: rec.token_hash,
                        lease: Lease {
                            expires_ms,
                            ..lease
                        },
                    }),
                    None => Err(StoreError::Database("a lease without an owner".into())),
                }
            }
            Found::Mine(row, epoch, until) => {
                let mut rec = record(&row)?;
                rec.lease = Some(Lease {
                    owner: host.id.clone(),
                    url: host.url.clone(),
                    epoch: unsigned(epoch),
                    expires_ms: until,
                });
                Ok(Acquired::Mine(rec))
            }
        }
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let epoch = signed(commit.epoch);
        let evaluations = signed(commit.evaluations);
        let changed = self.with(|c| match commit.request {
            Some((request_id, response)) => c.execute(
                "UPDATE cowheap_sessions SET delta = $4, evaluations = $5, \
                 last_request_id = $6, last_response = $7 \
                 WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
                &[
                    &commit.id,
                    &commit.host,
                    &epoch,
                    &commit.delta,
                    &evaluations,
                    &signed(request_id),
                    &response,
                ],
            ),
            None => c.execute(
                "UPDATE cowheap_sessions SET delta = $4, evaluations = $5 \
                 WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
                &[
                    &commit.id,
                    &commit.host,
                    &epoch,
                    &commit.delta,
                    &evaluations,
                ],
            ),
        })?;
        match changed {
            0 => Err(StoreError::LeaseLost {
                id: commit.id.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// The old expiry is read under the host row's lock, in the transaction that writes the
    /// new one. An acquisition of one of this host's sessions reads the host row under a
    /// share lock held until it commits (`acquire`), so it either committed before this
    /// read, or reads the new expiry.
    fn renew(&self, host: &Host, ttl: Duration) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(ttl_ms(ttl));
        self.with(|c| {
            let mut tx = c.transaction()?;
            let before: Option<i64> = tx
                .query_opt(
                    "SELECT expires FROM cowheap_hosts WHERE id = $1 FOR UPDATE",
                    &[&host.id],
                )?
                .map(|row| row.try_get(0))
                .transpose()?;
            tx.execute(
                "INSERT INTO cowheap_hosts (id, url, expires) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, expires = EXCLUDED.expires",
                &[&host.id, &host.url, &until],
            )?;
            tx.commit()?;
            Ok(before)
        })
    }

    fn release(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE cowheap_sessions SET lease_owner = NULL, lease_url = NULL \
                 WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
                &[&id, &host, &signed(epoch)],
            )
        })
        .map(drop)
    }

    fn release_all(&self, host: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let released = tx.execute(
                "UPDATE cowheap_sessions SET lease_owner = NULL, lease_url = NULL \
                 WHERE lease_owner = $1",
                &[&host],
            )?;
            tx.execute("DELETE FROM cowheap_hosts WHERE id = $1", &[&host])?;
            tx.commit()?;
            Ok(released)
        })
    }

    fn delete(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        let deleted = self.with(|c| {
            c.execute(
                "DELETE FROM cowheap_sessions \
                 WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
                &[&id, &host, &signed(epoch)],
            )
        })?;
        match deleted {
            0 => Err(StoreError::LeaseLost { id: id.to_owned() }),
            _ => Ok(()),
        }
    }

    /// A plain read: no transaction, no lock.
    fn read_kept(
        &self,
        id: &str,
        host: &str,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1 AND s.lease_owner = $2 \
                     AND s.lease_epoch = $3 AND h.expires > $4"
                ),
                &[&id, &host, &signed(epoch), &now_ms],
            )
        })?;
        row.as_ref().map(record).transpose()
    }

    fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = self.with(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1"),
                &[&id],
            )
        })?;
        row.as_ref().map(record).transpose()
    }

    fn count(&self) -> Result<Counts, StoreError> {
        let row = self.with(|c| {
            c.query_one(
                "SELECT count(*), count(lease_owner) FROM cowheap_sessions",
                &[],
            )
        })?;
        let stored: i64 = row.try_get(0).map_err(db)?;
        let leased: i64 = row.try_get(1).map_err(db)?;
        Ok(Counts {
            stored: unsigned(stored),
            leased: unsigned(leased),
        })
    }
}
