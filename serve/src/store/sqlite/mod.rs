//! The embedded store: one SQLite file beside the server, in WAL mode with
//! `synchronous=FULL`, so that a write is on disk before its call returns.
//!
//! Every write goes through one writer thread that groups what is waiting into one
//! transaction (group commit): a thousand sessions' evaluations cost one fsync, not a
//! thousand, and each caller still hears back only once its own write is durable. Reads use
//! connections of their own, four, a read taking a free one (WAL lets them run beside the writer
//! and each other).
//!
//! Statements on the paths a request takes (create, acquire, commit, read, release) come from
//! each connection's statement cache (`prepare_cached`): preparing the SQL again each time
//! cost about 4,000 instructions per commit and 134,000 per resume (the read's join).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Params};

use super::{
    now_ms, ttl_ms, Acquired, Commit, Counts, Host, Lease, NewSession, SessionRecord, Store,
    StoreError, COLUMNS,
};
use writer::{write_loop, Job, Run};

mod writer;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL,
    base_hash BLOB NOT NULL,
    delta BLOB NOT NULL,
    evaluations INTEGER NOT NULL,
    last_request_id INTEGER,
    last_response TEXT,
    lease_owner TEXT,
    lease_url TEXT,
    lease_epoch INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_lease_owner ON sessions(lease_owner);
CREATE TABLE IF NOT EXISTS hosts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    expires INTEGER NOT NULL
);
";

/// A store made before leases moved to the host rows: each session row had its own expiry
/// (`lease_expires`). Migrated in one transaction when opened: every owner gets a host row at
/// the latest expiry of its rows (so its leases last exactly as long as before, and no other
/// host takes them early), and the column is dropped, so that a host of the older version
/// still running on the file fails its next lease write (its renewal, which named the column)
/// instead of renewing what nobody reads any more: its leases then lapse, and with them what
/// its `LeaseClock` lets it answer without a commit.
const MIGRATE: &str = "
CREATE TABLE IF NOT EXISTS hosts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    expires INTEGER NOT NULL
);
INSERT INTO hosts (id, url, expires)
    SELECT lease_owner, max(coalesce(lease_url, '')), max(lease_expires) FROM sessions
    WHERE lease_owner IS NOT NULL GROUP BY lease_owner
    ON CONFLICT(id) DO NOTHING;
ALTER TABLE sessions DROP COLUMN lease_expires;
";

/// The rows [`COLUMNS`](crate::store::COLUMNS) reads from.
const FROM: &str = "sessions s LEFT JOIN hosts h ON h.id = s.lease_owner";

/// Makes sure `host`'s row lasts until at least `half` (?4), writing `until` (?3) and its URL
/// if it is missing or unexpired at `now` (?5) and lasts less; never extends an expired one.
/// See the `Store` trait's contract.
const ENSURE_HOST: &str = "INSERT INTO hosts (id, url, expires) VALUES (?1, ?2, ?3) \
                           ON CONFLICT(id) DO UPDATE SET url = excluded.url, \
                           expires = excluded.expires WHERE hosts.expires > ?5 \
                           AND (hosts.expires < ?4 OR hosts.url <> excluded.url)";

/// The SQLite store. Dropping it finishes the writes already asked for and closes the file.
pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropped to stop the checkpointer.
    checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// Connections for reads, beside the writer. One connection shared by every read was a
    /// queue: in a burst of resumes (run S6, BENCHMARKS.md) each read waited for the ones
    /// before it, and for a holder the scheduler had put aside, up to 8 ms for a 0.1 ms
    /// query. WAL lets each connection read the last commit without the others.
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free connection. Relaxed: it only spreads
    /// reads over the connections; any value is correct.
    next_reader: AtomicUsize,
}

/// Reader connections: more than the cores that can run reads at once, so that a read
/// whose holder was preempted is not waited for.
const READERS: usize = 4;

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The page size of a new store file (an existing one keeps its own).
const PAGE_SIZE: i64 = 16 << 10;

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // Before WAL, which fixes it: a new file's pages hold a 10 KB delta whole (with 4 KiB
    // pages it spans an overflow chain, read and written a page at a time).
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db)?;
    // FULL: a transaction is durable when COMMIT returns, which is when the answer may leave.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let writer_conn = connect(path)?;
        let old: i64 = writer_conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'lease_expires'",
                [],
                |row| row.get(0),
            )
            .map_err(db)?;
        if old > 0 {
            writer_conn
                .execute_batch(&format!("BEGIN IMMEDIATE; {MIGRATE} COMMIT;"))
                .map_err(|e| StoreError::Database(format!("migrating the leases: {e}")))?;
        }
        writer_conn.execute_batch(SCHEMA).map_err(db)?;
        // The writer never checkpoints: a checkpoint (copying the log into the database file
        // and an fsync of it) inside a commit held every answer of that group back. The
        // checkpointer does it beside the writer, on a connection of its own.
        writer_conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db)?;
        let checkpoint_conn = connect(path)?;
        let readers = (0..READERS)
            .map(|_| connect(path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_loop(&writer_conn, &rx))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE: never waits for the writer; what it could not copy now, the
                    // next one does.
                    let _ = checkpoint_conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the checkpointer: {e}")))?;
        Ok(SqliteStore {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            checkpoints: Mutex::new(Some(stop)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` in the writer's next transaction and answers its result once that transaction
    /// has committed: on disk if `durable`. A write that is not durable (a lease taken,
    /// renewed or released: a crash that loses one loses nothing acknowledged) skips the
    /// fsync; the write-ahead log is sequential, so the next durable commit makes it durable
    /// too, and no later write is ever on disk without it.
    fn write<T: Send + 'static>(
        &self,
        durable: bool,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(durable, f)?
            .recv()
            .map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` for the writer's next transaction and answers at once: the receiver gets
    /// its result once that transaction has committed.
    fn submit<T: Send + 'static>(
        &self,
        durable: bool,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T, StoreError>>, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let run: Run = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Closed),
            };
            Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.and(result));
            })
        });
        let job = Job { durable, run };
        {
            let jobs = self.jobs.lock().map_err(|_| StoreError::Closed)?;
            jobs.as_ref()
                .ok_or(StoreError::Closed)?
                .send(job)
                .map_err(|_| StoreError::Closed)?;
        }
        Ok(rx)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let first = self.next_reader.fetch_add(1, Relaxed);
        for i in 0..READERS {
            match self.readers[(first + i) % READERS].try_lock() {
                Ok(conn) => return f(&conn),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => return Err(StoreError::Closed),
            }
        }
        let conn = self.readers[first % READERS]
            .lock()
            .map_err(|_| StoreError::Closed)?;
        f(&conn)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = writer.join();
        }
        if let Ok(mut stop) = self.checkpoints.lock() {
            stop.take();
        }
        if let Some(c) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            let _ = c.join();
        }
    }
}

fn hash<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], rusqlite::Error> {
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            len,
            rusqlite::types::Type::Blob,
            format!("a hash of {len} bytes, not {N}").into(),
        )
    })
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn record(row: &rusqlite::Row<'_>) -> Result<SessionRecord, rusqlite::Error> {
    let owner: Option<String> = row.get(7)?;
    let lease = match owner {
        Some(owner) => Some(Lease {
            owner,
            url: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
            epoch: unsigned(row.get(9)?),
            expires_ms: row.get(10)?,
        }),
        None => None,
    };
    Ok(SessionRecord {
        id: row.get(0)?,
        token_hash: hash(row.get(1)?)?,
        base_hash: hash(row.get(2)?)?,
        delta: row.get(3)?,
        evaluations: unsigned(row.get(4)?),
        last_request_id: row.get::<_, Option<i64>>(5)?.map(unsigned),
        last_response: row.get(6)?,
        lease,
    })
}

/// `sql` run with `params` through the connection's statement cache: the rows it changed.
fn cached_execute(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// The first row of `sql` with `params`, through the connection's statement cache.
fn cached_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, row)
}

fn select(conn: &Connection, id: &str) -> Result<Option<SessionRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = ?1");
    cached_row(conn, &sql, params![id], record)
        .optional()
        .map_err(db)
}

/// [`ENSURE_HOST`] for `host` at `now`: answers the host row's expiry.
fn ensure_host(conn: &Connection, host: &Host, now: i64, ttl: Duration) -> Result<i64, StoreError> {
    let ttl = ttl_ms(ttl);
    let expires = now.saturating_add(ttl);
    let params = params![host.id, host.url, expires, now.saturating_add(ttl / 2), now];
    cached_execute(conn, ENSURE_HOST, params).map_err(db)?;
    let sql = "SELECT expires FROM hosts WHERE id = ?1";
    cached_row(conn, sql, params![host.id], |row| row.get(0)).map_err(db)
}

impl Store for SqliteStore {
    fn create(
        &self,
        new: &NewSession<'_>,
        host: &Host,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let (id, token_hash, base_hash, delta) = (
            new.id.to_owned(),
            new.token_hash,
            new.base_hash,
            new.delta.to_vec(),
        );
        let host = host.clone();
        self.write(true, move |conn| {
            let inserted = cached_execute(
                conn,
                "INSERT INTO sessions (id, token_hash, base_hash, delta, evaluations, \
                 lease_owner, lease_url, lease_epoch) \
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, 1) ON CONFLICT(id) DO NOTHING",
                params![
                    id,
                    &token_hash[..],
                    &base_hash[..],
                    delta,
                    host.id,
                    host.url
                ],
            );
            if inserted.map_err(db)? == 0 {
                return Err(StoreError::Exists { id });
            }
            let expires_ms = ensure_host(conn, &host, now_ms(), ttl)?;
            Ok(Lease {
                owner: host.id,
                url: host.url,
                epoch: 1,
                expires_ms,
            })
        })
    }

    fn acquire(&self, id: &str, host: &Host, ttl: Duration) -> Result<Acquired, StoreError> {
        let (id, host) = (id.to_owned(), host.clone());
        self.write(false, move |conn| {
            let Some(mut rec) = select(conn, &id)? else {
                return Ok(Acquired::Missing);
            };
            let now = now_ms();
            if let Some(lease) = &rec.lease {
                if super::held_elsewhere(&lease.owner, &lease.url, lease.expires_ms, &host, now) {
                    return Ok(Acquired::Elsewhere {
                        token_hash: rec.token_hash,
                        lease: lease.clone(),
                    });
                }
            }
            let epoch: i64 = cached_row(
                conn,
                "UPDATE sessions SET lease_owner = ?2, lease_url = ?3, \
                 lease_epoch = lease_epoch + 1 WHERE id = ?1 RETURNING lease_epoch",
                params![id, host.id, host.url],
                |row| row.get(0),
            )
            .map_err(db)?;
            let expires_ms = ensure_host(conn, &host, now, ttl)?;
            rec.lease = Some(Lease {
                owner: host.id,
                url: host.url,
                epoch: unsigned(epoch),
                expires_ms,
            });
            Ok(Acquired::Mine(rec))
        })
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let (id, host, epoch, delta, evaluations) = (
            commit.id.to_owned(),
            commit.host.to_owned(),
            signed(commit.epoch),
            commit.delta.to_vec(),
            signed(commit.evaluations),
        );
        let request = commit.request.map(|(r, body)| (signed(r), body.to_owned()));
        self.write(true, move |conn| {
            let changed = match request {
                Some((request_id, response)) => cached_execute(
                    conn,
                    "UPDATE sessions SET delta = ?4, evaluations = ?5, last_request_id = ?6, \
                     last_response = ?7 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                    params![id, host, epoch, delta, evaluations, request_id, response],
                ),
                None => cached_execute(
                    conn,
                    "UPDATE sessions SET delta = ?4, evaluations = ?5 \
                     WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                    params![id, host, epoch, delta, evaluations],
                ),
            }
            .map_err(db)?;
            match changed {
                0 => Err(StoreError::LeaseLost { id }),
                _ => Ok(()),
            }
        })
    }

    /// The read of the old expiry and the write are one transaction of the single writer:
    /// no acquisition comes between them, and those before it have committed.
    fn renew(&self, host: &Host, ttl: Duration) -> Result<Option<i64>, StoreError> {
        let host = host.clone();
        self.write(false, move |conn| {
            let now = now_ms();
            let before: Option<i64> = conn
                .query_row(
                    "SELECT expires FROM hosts WHERE id = ?1",
                    params![host.id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db)?;
            conn.execute(
                "INSERT INTO hosts (id, url, expires) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(id) DO UPDATE SET url = excluded.url, expires = excluded.expires",
                params![host.id, host.url, now.saturating_add(ttl_ms(ttl))],
            )
            .map_err(db)?;
            Ok(before)
        })
    }

    fn release(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        let (id, host, epoch) = (id.to_owned(), host.to_owned(), signed(epoch));
        self.write(false, move |conn| {
            cached_execute(
                conn,
                "UPDATE sessions SET lease_owner = NULL, lease_url = NULL \
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                params![id, host, epoch],
            )
            .map(drop)
            .map_err(db)
        })
    }

    /// Durable, unlike [`release`](Store::release): it is the last write of a host shutting
    /// down, and no later commit would carry it to disk. One fsync per shutdown.
    fn release_all(&self, host: &str) -> Result<u64, StoreError> {
        let host = host.to_owned();
        self.write(true, move |conn| {
            let released = conn
                .execute(
                    "UPDATE sessions SET lease_owner = NULL, lease_url = NULL \
                     WHERE lease_owner = ?1",
                    params![host],
                )
                .map_err(db)?;
            conn.execute("DELETE FROM hosts WHERE id = ?1", params![host])
                .map_err(db)?;
            Ok(released as u64)
        })
    }

    fn delete(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        let (id, host, epoch) = (id.to_owned(), host.to_owned(), signed(epoch));
        self.write(true, move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM sessions WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                    params![id, host, epoch],
                )
                .map_err(db)?;
            match deleted {
                0 => Err(StoreError::LeaseLost { id }),
                _ => Ok(()),
            }
        })
    }

    /// On the reader's connection, beside the writer: WAL gives it the last committed state,
    /// so it never waits for a batch's fsync.
    fn read_kept(
        &self,
        id: &str,
        host: &str,
        epoch: u64,
        now_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE s.id = ?1 AND s.lease_owner = ?2 \
                 AND s.lease_epoch = ?3 AND h.expires > ?4"
            );
            cached_row(conn, &sql, params![id, host, signed(epoch), now_ms], record)
                .optional()
                .map_err(db)
        })
    }

    fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|conn| select(conn, id))
    }

    fn count(&self) -> Result<Counts, StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT count(*), count(lease_owner) FROM sessions",
                [],
                |row| {
                    Ok(Counts {
                        stored: unsigned(row.get(0)?),
                        leased: unsigned(row.get(1)?),
                    })
                },
            )
            .map_err(db)
        })
    }
}

#[cfg(test)]
mod tests;
