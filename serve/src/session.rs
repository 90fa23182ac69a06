//! One session: an [`Image`] and its [`Interpreter`] on an OS thread of their own (an
//! interpreter is not `Send`), reached over a channel. The thread evaluates one request at a
//! time and commits each evaluation's effect (the image's delta, its request id and its
//! answer) to the store before it answers: an answer that leaves the host is durable.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};

use cowheap::{BaseHeap, Image};
use cowheap_squeak::interp::{Interpreter, Limits, RunError, Vm};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::mailbox::{self, RecvError};
use crate::metrics::Metrics;
use crate::request::ANSWER_LIMIT;
use crate::store::{now_ms, Commit, Host, Store, StoreError};
use crate::threads::Threads;
use crate::unstored::{LeaseClock, Stored};

pub use crate::request::{snake, Caps, EvalError, EvalRequest, EvalResponse, RequestLimits, Stop};

/// What every session thread of a host shares.
pub struct Env {
    /// The base every session's image is over.
    pub base: BaseHeap,
    /// The interpreter's view of it.
    pub vm: Vm,
    /// Its content hash, as stored with every session.
    pub base_hash: [u8; 16],
    /// Where sessions are committed.
    pub store: Arc<dyn Store>,
    /// This host.
    pub host: Host,
    /// The host's counters.
    pub metrics: Arc<Metrics>,
    /// Set at shutdown (after the grace period) to stop running evaluations.
    pub interrupt: Arc<AtomicBool>,
    /// Server-wide caps.
    pub caps: Caps,
    /// When the host started: `Live::last_used` counts from here.
    pub started: Instant,
    /// Until when this host's leases are known to be its own.
    pub leases: LeaseClock,
    /// The session threads, kept between sessions.
    pub threads: Arc<Threads>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

enum Job {
    Eval(EvalRequest, oneshot::Sender<Result<String, EvalError>>),
    Delete(oneshot::Sender<Result<(), StoreError>>),
    /// Leave memory; what is committed stays, and so does the lease (the registry keeps it
    /// for the session's next resume, and `Store::release_all` gives it up at shutdown).
    Stop {
        done: oneshot::Sender<()>,
    },
}

/// A live session as the rest of the host sees it: its channel and figures its thread keeps
/// up to date.
pub struct Live {
    /// The session's id.
    pub id: String,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// The token, once a request's matched `token_hash` ([`crate::token::matches_remembered`]).
    verified: OnceLock<Box<[u8]>>,
    /// The lease epoch this host holds it at.
    pub epoch: u64,
    jobs: mailbox::Sender<Job>,
    /// Milliseconds after [`Env::started`] of its last request.
    pub last_used: AtomicU64,
    /// Requests sent and not yet answered.
    pub in_flight: AtomicU32,
    /// False once its thread has left (evicted, deleted, or a failed commit).
    pub alive: AtomicBool,
    /// Claimed by the one task that evicts it: tasks making room at once pick distinct
    /// victims instead of all trying the same least recently used ones.
    pub leaving: AtomicBool,
    /// Acknowledged evaluations.
    pub evaluations: AtomicU64,
    /// Its image's private bytes after its last evaluation.
    pub private_bytes: AtomicU64,
    /// Its image's copies of base objects.
    pub copies: AtomicU64,
}

impl Live {
    /// Whether `token` is this session's, in time independent of where it differs.
    pub fn token_matches(&self, token: &str) -> bool {
        crate::token::matches_remembered(token, &self.token_hash, &self.verified)
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("id", &self.id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Why a request did not reach a session's thread: it has left (the caller looks the
/// session up again, which resumes it from the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl Live {
    /// Marks a request's start.
    pub fn touch(&self, env: &Env) {
        let ms = u64::try_from(env.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_used.store(ms, Relaxed);
    }

    async fn ask<T>(&self, job: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, Gone> {
        let (tx, rx) = oneshot::channel();
        self.in_flight.fetch_add(1, Relaxed);
        let sent = self.jobs.send(job(tx));
        let answer = match sent {
            Ok(()) => rx.await.map_err(|_| Gone),
            Err(_) => Err(Gone),
        };
        self.in_flight.fetch_sub(1, Relaxed);
        answer
    }

    /// Evaluates `req`: the answer's JSON body.
    pub async fn eval(&self, req: EvalRequest) -> Result<Result<String, EvalError>, Gone> {
        self.ask(|tx| Job::Eval(req, tx)).await
    }

    /// Deletes the session from the store and memory.
    pub async fn delete(&self) -> Result<Result<(), StoreError>, Gone> {
        self.ask(Job::Delete).await
    }

    /// Makes the thread leave once the requests before this one are answered.
    pub async fn stop(&self) {
        let _ = self.ask(|done| Job::Stop { done }).await;
    }
}

/// The session's thread's own state.
struct Session {
    env: Arc<Env>,
    /// Weak: the channel's sender is in [`Live`], so a thread holding it strongly would keep
    /// its own channel open. A handle dropped without a stop (a creation or resume whose
    /// request was given up between the thread's start and the registry's map: the client
    /// timed out) would leave the thread waiting forever, with its stack and four memory maps
    /// (a process has 65,530). Weak, the channel closes with the last handle and the thread
    /// leaves.
    live: Weak<Live>,
    id: String,
    epoch: u64,
    image: Image,
    interp: Interpreter,
    evaluations: u64,
    last_request: Option<(u64, String)>,
    /// Private bytes the last collection kept: the next one runs once the space has grown past
    /// it by a quarter (at least [`COLLECT_SLACK`]), so that the stored delta carries little garbage and
    /// collections cost in proportion to what the evaluations allocate.
    kept: u64,
    /// Figures last added to the host's totals.
    reported: (i64, i64, u64),
    /// What the store holds of this image, as last committed from this thread, and when (a
    /// time before the commit was sent, at which the lease was this host's); `None` until
    /// this thread's first commit.
    stored: Option<(Stored, i64)>,
    /// Acknowledged evaluations whose count and answer the store does not hold yet (each
    /// changed nothing stored, so none was committed): committed when the session leaves
    /// memory ([`save_unstored`](Session::save_unstored)).
    unsaved: bool,
}

/// The least growth that makes a collection. Every commit encodes the whole delta, garbage
/// included, so the slack is paid at each evaluation, and a collection costs little since
/// the interpreter keeps its base lookups through it ([`Interpreter::collect`]). Server
/// instructions per `3 + 4` under callgrind (50 sessions, 40 evaluations each): 168 k at
/// 16 KiB (a collection every dozen), 132 k at 4 KiB, 130 k at 1 KiB (about one per
/// evaluation); 4 KiB keeps most of the gain with a collection every third.
const COLLECT_SLACK: u64 = 4 << 10;

/// Stack of a session thread: the interpreter keeps its frames on the heap.
pub(crate) const STACK: usize = 512 << 10;

/// How long a live session waits for its next request before it drops its interpreter's
/// caches (`Interpreter::release_caches`): 10,000 idle live sessions after one evaluation
/// each held 1,056,096 KiB with them and 684,588 KiB without (BENCHMARKS.md, run S3). A
/// session in use keeps them, as its next evaluation would build them again.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// What a session starts from.
pub struct Start {
    /// Its id.
    pub id: String,
    /// Its token's hash.
    pub token_hash: [u8; 32],
    /// The lease epoch held.
    pub epoch: u64,
    /// Acknowledged evaluations so far.
    pub evaluations: u64,
    /// The last acknowledged request id and its response.
    pub last_request: Option<(u64, String)>,
}

/// Starts a session's thread with `image`.
pub fn spawn(env: &Arc<Env>, image: Image, start: Start) -> std::io::Result<Arc<Live>> {
    let (tx, rx) = mailbox::channel();
    let live = Arc::new(Live {
        id: start.id.clone(),
        token_hash: start.token_hash,
        verified: OnceLock::new(),
        epoch: start.epoch,
        jobs: tx,
        last_used: AtomicU64::new(0),
        in_flight: AtomicU32::new(0),
        alive: AtomicBool::new(true),
        leaving: AtomicBool::new(false),
        evaluations: AtomicU64::new(start.evaluations),
        private_bytes: AtomicU64::new(0),
        copies: AtomicU64::new(0),
    });
    live.touch(env);
    let (env2, live2) = (env.clone(), Arc::downgrade(&live));
    env.threads.run(Box::new(move || {
        let mut interp = env2.vm.interpreter(Limits::default());
        interp.set_interrupt(Some(env2.interrupt.clone()));
        let mut session = Session {
            env: env2,
            live: live2,
            id: start.id,
            epoch: start.epoch,
            image,
            interp,
            evaluations: start.evaluations,
            last_request: start.last_request,
            kept: 0,
            reported: (0, 0, 0),
            stored: None,
            unsaved: false,
        };
        session.report();
        session.serve(&rx);
    }))?;
    Ok(live)
}

impl Session {
    fn serve(&mut self, jobs: &mailbox::Receiver<Job>) {
        let mut cached = false;
        loop {
            let job = match jobs.recv(cached.then_some(RELEASE_AFTER)) {
                Ok(job) => job,
                Err(RecvError::Timeout) => {
                    self.interp.release_caches();
                    self.env.metrics.caches_released.fetch_add(1, Relaxed);
                    cached = false;
                    continue;
                }
                Err(RecvError::Disconnected) => {
                    self.save_unstored();
                    self.abandoned();
                    break;
                }
            };
            match job {
                Job::Eval(req, reply) => {
                    cached = true;
                    let answer = self.eval(req);
                    let fatal = matches!(answer, Err(EvalError::Store(_) | EvalError::Save(_)));
                    if fatal {
                        // What is in memory is not what the store acknowledged: drop it, and
                        // let the next request resume what the store holds.
                        self.env.metrics.store_errors.fetch_add(1, Relaxed);
                        self.set(|l| l.alive.store(false, Relaxed));
                    }
                    let _ = reply.send(answer);
                    if fatal {
                        break;
                    }
                }
                Job::Delete(reply) => {
                    let deleted = self
                        .env
                        .store
                        .delete(&self.id, &self.env.host.id, self.epoch);
                    self.set(|l| l.alive.store(false, Relaxed));
                    let _ = reply.send(deleted);
                    break;
                }
                Job::Stop { done } => {
                    self.save_unstored();
                    self.set(|l| l.alive.store(false, Relaxed));
                    // The lease stays this host's: the next request resumes the session with
                    // a read of its row (`Registry::find`), not a write queued at the store.
                    let _ = done.send(());
                    break;
                }
            }
        }
        self.set(|l| l.alive.store(false, Relaxed));
        // The image leaves memory: its figures leave the host's totals.
        let m = &self.env.metrics;
        m.private_bytes.fetch_sub(self.reported.0, Relaxed);
        m.forwarders.fetch_sub(self.reported.1, Relaxed);
    }

    /// Updates the figures the rest of the host sees, while anyone can see them.
    fn set(&self, f: impl FnOnce(&Live)) {
        if let Some(live) = self.live.upgrade() {
            f(&live);
        }
    }

    /// Commits the count and the last answer of the evaluations acknowledged without a
    /// commit, as the session leaves memory (an eviction, a shutdown): else its next resume,
    /// here or on another host, would count fewer evaluations and evaluate again a request
    /// id already answered. The state is the one the store holds, so the commit writes the
    /// same delta. Where it fails (the lease went to another host, which fences it) the
    /// store keeps what it had, as after a crash.
    fn save_unstored(&mut self) {
        if !self.unsaved {
            return;
        }
        let Ok(delta) = self.image.delta_bytes() else {
            return;
        };
        let last = self.last_request.take();
        let request = last.as_ref().map(|(r, b)| (*r, b.as_str()));
        if self.commit(&delta, self.evaluations, request).is_err() {
            self.env.metrics.store_errors.fetch_add(1, Relaxed);
        }
        self.last_request = last;
    }

    /// Commits `delta` with the count of `evaluations` and the last `request` (its id and
    /// response), fenced by this session's lease, and notes what the store now holds.
    fn commit(
        &mut self,
        delta: &[u8],
        evaluations: u64,
        request: Option<(u64, &str)>,
    ) -> Result<(), StoreError> {
        let held_at = now_ms();
        self.env.store.commit(&Commit {
            id: &self.id,
            host: &self.env.host.id,
            epoch: self.epoch,
            delta,
            evaluations,
            request,
        })?;
        self.stored = Stored::of(delta, None).map(|s| (s, held_at));
        self.unsaved = false;
        Ok(())
    }

    /// Every handle is gone without a stop (a creation or resume whose client gave up before
    /// the registry's map had it): nobody can reach this session here, and it leaves. Its
    /// lease stays this host's, as an evicted session's does: the registry kept it when it was
    /// taken, and the next request resumes what the session committed with a read.
    fn abandoned(&self) {
        self.env.metrics.abandoned.fetch_add(1, Relaxed);
    }

    /// Adds the change of this image's figures to the host's totals.
    fn report(&mut self) {
        let stats = self.image.stats();
        let private = i64::try_from(stats.private_bytes).unwrap_or(i64::MAX);
        let forwarders = i64::try_from(stats.forwarders_installed).unwrap_or(i64::MAX);
        let m = &self.env.metrics;
        m.private_bytes
            .fetch_add(private - self.reported.0, Relaxed);
        m.forwarders
            .fetch_add(forwarders - self.reported.1, Relaxed);
        m.collections
            .fetch_add(stats.collections.saturating_sub(self.reported.2), Relaxed);
        self.reported = (private, forwarders, stats.collections);
        self.set(|l| {
            l.private_bytes.store(stats.private_bytes, Relaxed);
            l.copies.store(stats.copies, Relaxed);
        });
    }

    fn eval(&mut self, req: EvalRequest) -> Result<String, EvalError> {
        if let (Some(asked), Some((last, response))) = (req.request_id, &self.last_request) {
            if asked == *last {
                self.env.metrics.replays.fetch_add(1, Relaxed);
                return Ok(replayed(response));
            }
            if asked < *last {
                return Err(EvalError::Stale { asked, last: *last });
            }
        }
        let limits = req.limits.clamp(self.env.caps);
        self.interp.set_limits(limits);
        let result = self.interp.evaluate(&mut self.image, &req.expression);
        if let Err(RunError::Parse(e)) = &result {
            return Err(EvalError::Parse(e.to_string()));
        }
        // The answer's printString runs the image's code too: within what the evaluation
        // left of the budgets, and counted in its figures.
        let mut stats = self.interp.stats();
        let printed = result.and_then(|v| {
            self.interp.set_limits(Limits {
                bytecodes: limits.bytecodes.saturating_sub(stats.bytecodes),
                time: limits.time.map(|t| t.saturating_sub(stats.elapsed)),
                ..limits
            });
            let printed = self
                .interp
                .print_string_within(&mut self.image, v, ANSWER_LIMIT);
            let print = self.interp.stats();
            stats.bytecodes = stats.bytecodes.saturating_add(print.bytecodes);
            stats.sends = stats.sends.saturating_add(print.sends);
            stats.elapsed += print.elapsed;
            // A stop names the evaluation's budget, not what was left of it.
            printed.map_err(|e| match e {
                RunError::BytecodeLimit { .. } => RunError::BytecodeLimit {
                    limit: limits.bytecodes,
                },
                RunError::TimeLimit { limit } => RunError::TimeLimit {
                    limit: limits.time.unwrap_or(limit),
                },
                e => e,
            })
        });
        let (answer, answer_truncated, stopped) = match printed {
            Ok((s, cut)) => (Some(s), cut, None),
            Err(e) => {
                let kind = snake(e.kind());
                self.env.metrics.stop(&kind);
                (
                    None,
                    false,
                    Some(Stop {
                        kind,
                        message: e.to_string(),
                    }),
                )
            }
        };
        let transcript = self.interp.take_transcript();
        self.collect();
        let image_stats = self.image.stats();
        let response = EvalResponse {
            answer,
            answer_truncated,
            transcript,
            bytecodes: stats.bytecodes,
            seconds: stats.elapsed.as_secs_f64(),
            copies: image_stats.copies,
            private_bytes: image_stats.private_bytes,
            stopped,
            request_id: req.request_id,
            replayed: false,
        };
        let body = serde_json::to_string(&response).map_err(|e| EvalError::Save(e.to_string()))?;
        let delta = self
            .image
            .delta_bytes()
            .map_err(|e| EvalError::Save(e.to_string()))?;
        let evaluations = self.evaluations + 1;
        let unchanged = self.stored.is_some_and(|(stored, held_at)| {
            stored.same_state(&delta) && self.env.leases.holds(held_at, now_ms())
        });
        if unchanged {
            // Nothing to make durable: the store holds this state. A retry of this request
            // after a crash evaluates it again, against the same state. The count of
            // evaluations and the request's answer are stored with the next commit.
            self.env.metrics.unstored.fetch_add(1, Relaxed);
            self.unsaved = true;
        } else {
            self.commit(
                &delta,
                evaluations,
                req.request_id.map(|r| (r, body.as_str())),
            )?;
        }
        self.evaluations = evaluations;
        self.set(|l| l.evaluations.store(evaluations, Relaxed));
        if let Some(r) = req.request_id {
            self.last_request = Some((r, body.clone()));
        }
        self.env.metrics.evaluations.fetch_add(1, Relaxed);
        self.report();
        Ok(body)
    }

    /// Collects the private space once it has grown by a quarter (and [`COLLECT_SLACK`]) past
    /// what the last collection kept: a `3 + 4` leaves its compiled do-it behind, and a delta that kept every one would
    /// grow by a kilobyte with each evaluation, and so would each commit. Between evaluations the interpreter holds no reference into the
    /// image that the collection must keep, so the image's own roots are all the roots; the
    /// interpreter collects, so that it keeps the lookups and decoded methods of base objects
    /// (each made again after every collection cost about a fifth of a session thread's work).
    fn collect(&mut self) {
        let private = self.image.stats().private_bytes;
        if private <= self.kept + (self.kept / 4).max(COLLECT_SLACK) {
            return;
        }
        if let Ok(c) = self.interp.collect(&mut self.image, &mut []) {
            self.kept = c.live_bytes;
            self.env.metrics.collection_pause_seconds.observe(c.pause);
        }
    }
}

/// A stored answer, marked as a replay.
fn replayed(body: &str) -> String {
    match serde_json::from_str::<EvalResponse>(body) {
        Ok(mut r) => {
            r.replayed = true;
            serde_json::to_string(&r).unwrap_or_else(|_| body.to_owned())
        }
        Err(_) => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowheap_squeak::interp::StopKind;
    #[test]
    fn stop_kinds_are_snake_case() {
        assert_eq!(snake(StopKind::DoesNotUnderstand), "does_not_understand");
        assert_eq!(snake(StopKind::BytecodeLimit), "bytecode_limit");
        assert_eq!(snake(StopKind::Error), "error");
    }

    #[test]
    fn request_limits_are_clamped_to_the_caps() {
        let caps = Caps {
            bytecodes: 1000,
            millis: 50,
            memory: 1 << 20,
        };
        let asked = RequestLimits {
            bytecodes: Some(10),
            millis: Some(1_000_000),
            memory: None,
        };
        let l = asked.clamp(caps);
        assert_eq!(l.bytecodes, 10);
        assert_eq!(l.time, Some(Duration::from_millis(50)));
        assert_eq!(l.private_bytes, 1 << 20);
        assert_eq!(RequestLimits::default().clamp(caps).bytecodes, 1000);
    }
}
