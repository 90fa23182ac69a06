//! The SQLite store's one writer: group commit. It takes the writes waiting, runs them in one
//! transaction, commits once (with an fsync if any must be durable), then tells each caller.

use std::sync::mpsc;

use rusqlite::Connection;

use super::db;
use crate::store::StoreError;

/// What the writer does with a job's outcome once the transaction has committed (or failed).
pub(super) type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write: run inside the batch's transaction (`None`: the transaction could not begin, run
/// nothing), answering how to report it once the batch commits.
pub(super) type Run = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

/// A write, and whether it must be on disk before its caller hears back.
pub(super) struct Job {
    pub(super) durable: bool,
    pub(super) run: Run,
}

/// The most jobs one transaction takes.
const BATCH: usize = 1024;

/// The writer: takes what is waiting (up to [`BATCH`]), runs it in one transaction, commits
/// (with an fsync if any of it must be durable), then tells each caller.
pub(super) fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
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
