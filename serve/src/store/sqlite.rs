//! The embedded store: one SQLite file beside the server, in WAL mode with
//! `synchronous=FULL`, so that a write is on disk before its call returns.
//!
//! Every write goes through one writer thread that groups what is waiting into one
//! transaction (group commit): a thousand sessions' evaluations cost one fsync, not a
//! thousand, and each caller still hears back only once its own write is durable. Reads use a
//! connection of their own (WAL lets them run beside the writer).

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    now_ms, ttl_ms, Acquired, Commit, Counts, Host, Lease, NewSession, SessionRecord, Store,
    StoreError,
};

/// What the writer does with a job's outcome once the transaction has committed (or failed).
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write: run inside the batch's transaction (`None`: the transaction could not begin, run
/// nothing), answering how to report it once the batch commits.
type Run = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

/// A write, and whether it must be on disk before its caller hears back.
struct Job {
    durable: bool,
    run: Run,
}

/// The most jobs one transaction takes.
const BATCH: usize = 1024;

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
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    lease_expires INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_lease_owner ON sessions(lease_owner);
";

const COLUMNS: &str = "id, token_hash, base_hash, delta, evaluations, last_request_id, \
                       last_response, lease_owner, lease_url, lease_epoch, lease_expires";

/// The SQLite store. Dropping it finishes the writes already asked for and closes the file.
pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropped to stop the checkpointer.
    checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

/// A lease given up: `release` and `release_detached`.
const RELEASE: &str = "UPDATE sessions SET lease_owner = NULL, lease_url = NULL, \
                       lease_expires = 0 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3";

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

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
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
        writer_conn.execute_batch(SCHEMA).map_err(db)?;
        // The writer never checkpoints: a checkpoint (copying the log into the database file
        // and an fsync of it) inside a commit held every answer of that group back. The
        // checkpointer does it beside the writer, on a connection of its own.
        writer_conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db)?;
        let checkpoint_conn = connect(path)?;
        let reader = connect(path)?;
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
            reader: Mutex::new(reader),
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
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
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

/// The writer: takes what is waiting (up to [`BATCH`]), runs it in one transaction, commits
/// (with an fsync if any of it must be durable), then tells each caller.
fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    let mut synchronous = "FULL";
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let wanted = if batch.iter().any(|j| j.durable) {
            "FULL"
        } else {
            "NORMAL"
        };
        if wanted != synchronous && conn.pragma_update(None, "synchronous", wanted).is_ok() {
            synchronous = wanted;
        }
        let (finishers, outcome) = match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                let finishers: Vec<Finish> =
                    batch.into_iter().map(|job| (job.run)(Some(conn))).collect();
                let outcome = conn.execute_batch("COMMIT").map_err(db);
                if outcome.is_err() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                (finishers, outcome)
            }
            Err(e) => (
                batch.into_iter().map(|job| (job.run)(None)).collect(),
                Err(db(e)),
            ),
        };
        for finish in finishers {
            finish(outcome.clone());
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

fn select(conn: &Connection, id: &str) -> Result<Option<SessionRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
        params![id],
        record,
    )
    .optional()
    .map_err(db)
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
        let lease = Lease {
            owner: host.id.clone(),
            url: host.url.clone(),
            epoch: 1,
            expires_ms: now_ms().saturating_add(ttl_ms(ttl)),
        };
        let written = lease.clone();
        self.write(true, move |conn| {
            let inserted = conn.execute(
                "INSERT INTO sessions (id, token_hash, base_hash, delta, evaluations, \
                 lease_owner, lease_url, lease_epoch, lease_expires) \
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING",
                params![
                    id,
                    &token_hash[..],
                    &base_hash[..],
                    delta,
                    written.owner,
                    written.url,
                    signed(written.epoch),
                    written.expires_ms
                ],
            );
            match inserted.map_err(db)? {
                0 => Err(StoreError::Exists { id }),
                _ => Ok(()),
            }
        })?;
        Ok(lease)
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
            let epoch: i64 = conn
                .query_row(
                    "UPDATE sessions SET lease_owner = ?2, lease_url = ?3, \
                     lease_epoch = lease_epoch + 1, lease_expires = ?4 WHERE id = ?1 \
                     RETURNING lease_epoch",
                    params![id, host.id, host.url, now.saturating_add(ttl_ms(ttl))],
                    |row| row.get(0),
                )
                .map_err(db)?;
            rec.lease = Some(Lease {
                owner: host.id,
                url: host.url,
                epoch: unsigned(epoch),
                expires_ms: now.saturating_add(ttl_ms(ttl)),
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
                Some((request_id, response)) => conn.execute(
                    "UPDATE sessions SET delta = ?4, evaluations = ?5, last_request_id = ?6, \
                     last_response = ?7 WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                    params![id, host, epoch, delta, evaluations, request_id, response],
                ),
                None => conn.execute(
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

    fn renew(&self, host: &str, ttl: Duration) -> Result<u64, StoreError> {
        let host = host.to_owned();
        self.write(false, move |conn| {
            conn.execute(
                "UPDATE sessions SET lease_expires = ?2 WHERE lease_owner = ?1",
                params![host, now_ms().saturating_add(ttl_ms(ttl))],
            )
            .map(|n| n as u64)
            .map_err(db)
        })
    }

    fn release(&self, id: &str, host: &str, epoch: u64) -> Result<(), StoreError> {
        let (id, host, epoch) = (id.to_owned(), host.to_owned(), signed(epoch));
        self.write(false, move |conn| {
            conn.execute(RELEASE, params![id, host, epoch])
                .map(drop)
                .map_err(db)
        })
    }

    /// Queued behind the writes already asked for, and not waited for: the writer runs its
    /// jobs in order, so any later write (a resume's `acquire`) sees the lease released.
    fn release_detached(&self, id: &str, host: &str, epoch: u64) {
        let (id, host, epoch) = (id.to_owned(), host.to_owned(), signed(epoch));
        let _ = self.submit(false, move |conn| {
            conn.execute(RELEASE, params![id, host, epoch])
                .map(drop)
                .map_err(db)
        });
    }

    /// Durable, unlike [`release`](Store::release): it is the last write of a host shutting
    /// down, and no later commit would carry it to disk. One fsync per shutdown.
    fn release_all(&self, host: &str) -> Result<u64, StoreError> {
        let host = host.to_owned();
        self.write(true, move |conn| {
            conn.execute(
                "UPDATE sessions SET lease_owner = NULL, lease_url = NULL, lease_expires = 0 \
                 WHERE lease_owner = ?1",
                params![host],
            )
            .map(|n| n as u64)
            .map_err(db)
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
mod tests {
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
}
