//! The sessions this host holds in memory, and the moves between memory and the store:
//! creating, resuming on a request (taking the lease, or reading the row of one it kept),
//! evicting the idle or the least recently used (keeping the lease), and letting everything go
//! at shutdown.
//!
//! One session id is resumed or evicted by one task at a time (a lock per stripe of ids), so
//! a session is never in memory twice; an eviction waits until the session's thread has
//! answered what was sent to it, so a resume after it reads what the last evaluation
//! committed.
//!
//! **Kept leases.** An evicted session's lease stays this host's (`Registry::held`: id ->
//! epoch of the leases this process took, the least recently used dropped past
//! `Policy::max_kept`), renewed with all the others by one write of the
//! host's row. Its next resume here reads the row (`Store::read_kept`): if the row still
//! names this host at that epoch, the session resumes with no write at all; the lease at an
//! unchanged epoch proves nothing else wrote it (see `read_kept`). Anything else (no entry, or
//! one dropped past the most, the epoch moved on, another owner, this host's row expired) goes through
//! `Store::acquire`, as every resume did before. Another host asking meanwhile is redirected
//! here while this host renews, and takes the session over once it stops (its host row
//! expires): the rules of `store::held_elsewhere`, unchanged. Run S4 (BENCHMARKS.md) found
//! resumes waiting for the lease's write behind other sessions' fsyncs: only 38% finished
//! within 2 ms under load, though each part took under 0.1 ms alone.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::session::{self, Env, Live, Start};
use crate::store::{now_ms, Acquired, NewSession, SessionRecord, StoreError};
use crate::token;

mod kept;
mod room;

use kept::{Kept, KeptLeases};

/// How long making room may look for a victim (every candidate busy or claimed) before the
/// creation or resume is refused as `full` (503, which a client retries). The host never goes
/// over its most live sessions: run S3 (BENCHMARKS.md) let it, for a moment each time, and
/// 1,000 creations at once kept it 24-32% over for minutes, close to the process's limit of
/// memory maps.
const PATIENCE: Duration = Duration::from_secs(2);

/// Stripes of the per-id locks. Two sessions on one stripe wait for each other's resume or
/// eviction: with 256, 100 sessions resumed in one burst had about 20 such pairs, and the one
/// that waited took up to 15 ms (run S6, BENCHMARKS.md). 4,096 empty locks cost a few hundred
/// KB at most.
const STRIPES: usize = 4096;

/// How the registry keeps sessions.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// A session unused this long leaves memory.
    pub idle: Duration,
    /// Leases last this long unless renewed.
    pub lease: Duration,
    /// The most sessions in memory at once: one more evicts the least recently used.
    pub max_live: usize,
    /// The most leases whose epoch and token hash this process keeps (live sessions' and
    /// evicted ones'): one more drops the least recently used entry, whose session's next
    /// resume here then takes its lease with a write instead of reading it.
    pub max_kept: usize,
}

/// Where a session is.
#[derive(Debug)]
pub enum Found {
    /// In memory here.
    Live(Arc<Live>),
    /// Held by another host, at this base URL.
    Elsewhere(String),
}

/// Why a session could not be found or started.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No session has this id.
    #[error("no such session")]
    NotFound,
    /// The token is not the session's.
    #[error("the token does not open this session")]
    Unauthorized,
    /// The session was saved over another base.
    #[error("the session was saved over base {found}, and this host serves base {expected}")]
    WrongBase {
        /// The stored session's base hash.
        found: String,
        /// This host's.
        expected: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored delta could not be resumed, or the session's thread could not start.
    #[error("cannot resume the session: {0}")]
    Resume(String),
    /// Every session in memory is busy and the host holds its most.
    #[error("the host holds its most live sessions ({0}), all of them busy")]
    Full(usize),
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
}

/// The live sessions.
pub struct Registry {
    env: Arc<Env>,
    policy: Policy,
    map: Mutex<HashMap<String, Arc<Live>>>,
    /// Sessions on their way into memory (room made, not yet in the map): counted against the
    /// most live, so that many creations at once cannot all pass one free slot. Raised only
    /// under the map's lock.
    coming: AtomicUsize,
    /// Spreads the tasks making room over the candidates (`make_room`).
    turn: AtomicUsize,
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// A fresh image's delta, the first one of every new session.
    fresh_delta: Vec<u8>,
    closing: std::sync::atomic::AtomicBool,
    /// The leases this process took (created or acquired), live or kept, by session id, at
    /// most [`Policy::max_kept`]. An entry may be stale (the lease was taken over, or lost
    /// with a failed commit): a resume checks it against the row and drops it if so.
    held: Mutex<KeptLeases>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.live_count())
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs blocking store or heap work off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LookupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LookupError::Resume(format!("a blocking task failed: {e}")))
}

impl Registry {
    /// A registry over `env`.
    pub fn new(env: Arc<Env>, policy: Policy) -> Result<Registry, LookupError> {
        let fresh_delta = env
            .base
            .new_image()
            .map_err(|e| LookupError::Resume(e.to_string()))?
            .delta_bytes()
            .map_err(|e| LookupError::Resume(e.to_string()))?;
        Ok(Registry {
            env,
            policy,
            map: Mutex::new(HashMap::new()),
            coming: AtomicUsize::new(0),
            turn: AtomicUsize::new(0),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            fresh_delta,
            closing: std::sync::atomic::AtomicBool::new(false),
            held: Mutex::new(KeptLeases::new(policy.max_kept)),
        })
    }

    /// The environment the sessions share.
    pub fn env(&self) -> &Arc<Env> {
        &self.env
    }

    fn stripe_of(id: &str) -> usize {
        id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % STRIPES
    }

    fn stripe(&self, id: &str) -> &tokio::sync::Mutex<()> {
        &self.stripes[Self::stripe_of(id)]
    }

    /// Puts a session in memory, into the place its caller's `Room` (`room.rs`) holds, and keeps the
    /// most seen at once.
    fn insert(&self, id: String, live: Arc<Live>) {
        let mut map = self.map();
        map.insert(id, live);
        self.env
            .metrics
            .most_live
            .fetch_max(map.len() as u64, Relaxed);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, KeptLeases> {
        // Nothing done under it panics (hashing and comparing `str`s; allocation failure
        // aborts), so a poisoned lock still guards a whole map.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the lease of `id`, dropping the least recently used entries past the most.
    fn keep(&self, id: &str, kept: Kept) {
        let dropped = self.held().put(id, kept);
        if dropped > 0 {
            self.env.metrics.kept_dropped.add(dropped);
        }
    }

    /// Forgets a deleted session: out of memory, and its lease no longer this host's to keep.
    pub fn deleted(&self, live: &Arc<Live>) {
        self.forget(live);
        self.held().remove(&live.id);
    }

    /// Leases this process holds, live or kept.
    pub fn held_count(&self) -> usize {
        self.held().len()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>> {
        // A panic while the map was held cannot leave it inconsistent (each change is one
        // insert or remove): go on with it.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions in memory.
    pub fn live_count(&self) -> usize {
        self.map().len()
    }

    fn alive(&self, id: &str) -> Option<Arc<Live>> {
        let mut map = self.map();
        match map.get(id) {
            Some(live) if live.alive.load(Relaxed) => Some(live.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// The live session `id` if it is in memory here, its token checked.
    pub fn local(&self, id: &str, token: &str) -> Result<Option<Arc<Live>>, LookupError> {
        match self.alive(id) {
            Some(live) if live.token_matches(token) => Ok(Some(live)),
            Some(_) => Err(LookupError::Unauthorized),
            None => Ok(None),
        }
    }

    /// Creates a session: its id and token.
    pub async fn create(&self) -> Result<(String, String), LookupError> {
        if self.closing.load(Relaxed) {
            return Err(LookupError::ShuttingDown);
        }
        let _room = self.make_room(None).await?;
        let id = token::new_id().map_err(|e| LookupError::Resume(e.to_string()))?;
        let token = token::new_token().map_err(|e| LookupError::Resume(e.to_string()))?;
        let token_hash = token::hash(&token);
        let env = self.env.clone();
        let (id2, delta, ttl) = (id.clone(), self.fresh_delta.clone(), self.policy.lease);
        let lease = blocking(move || {
            env.store.create(
                &NewSession {
                    id: &id2,
                    token_hash,
                    base_hash: env.base_hash,
                    delta: &delta,
                },
                &env.host,
                ttl,
            )
        })
        .await??;
        self.keep(
            &id,
            Kept {
                epoch: lease.epoch,
                token_hash,
            },
        );
        let env = self.env.clone();
        let id2 = id.clone();
        let live = blocking(move || {
            let image = env
                .base
                .new_image()
                .map_err(|e| LookupError::Resume(e.to_string()))?;
            let start = Start {
                id: id2,
                token_hash,
                epoch: lease.epoch,
                evaluations: 0,
                last_request: None,
            };
            session::spawn(&env, image, start).map_err(|e| LookupError::Resume(e.to_string()))
        })
        .await??;
        self.insert(id.clone(), live);
        self.env.metrics.created.fetch_add(1, Relaxed);
        Ok((id, token))
    }

    /// Finds session `id` for a request with `token`: in memory, or resumed from the store
    /// (on the lease this host kept, or taking it), or held by another host.
    pub async fn find(&self, id: &str, token: &str) -> Result<Found, LookupError> {
        if let Some(live) = self.local(id, token)? {
            return Ok(Found::Live(live));
        }
        if self.closing.load(Relaxed) {
            return Err(LookupError::ShuttingDown);
        }
        let started = Instant::now();
        let _one_at_a_time = self.stripe(id).lock().await;
        if let Some(live) = self.local(id, token)? {
            return Ok(Found::Live(live));
        }
        let kept = self.held().get(id);
        if let Some(kept) = kept {
            // A session's token never changes: a wrong one is refused before anything else.
            if !token::matches(token, &kept.token_hash) {
                return Err(LookupError::Unauthorized);
            }
            if let Some(live) = self.resume_kept(id, kept.epoch).await? {
                self.env.metrics.resumes.fetch_add(1, Relaxed);
                self.env.metrics.resumes_kept.fetch_add(1, Relaxed);
                self.env.metrics.resume_seconds.observe(started.elapsed());
                return Ok(Found::Live(live));
            }
            self.held().remove(id);
        }
        let found = self.resume_acquired(id, token).await?;
        if let Found::Live(_) = found {
            self.env.metrics.resumes.fetch_add(1, Relaxed);
            self.env.metrics.resume_seconds.observe(started.elapsed());
        }
        Ok(found)
    }

    /// Deletes session `id`, not in memory here, for a request with `token`, without resuming
    /// it (so without room in memory: a host full of busy sessions still deletes): on the
    /// lease this host kept, else by taking it, or says which host holds it. `None` where the
    /// session is in memory after all (the caller deletes it through its thread).
    pub async fn delete_stored(&self, id: &str, token: &str) -> Result<Option<Found>, LookupError> {
        if self.closing.load(Relaxed) {
            return Err(LookupError::ShuttingDown);
        }
        let _one_at_a_time = self.stripe(id).lock().await;
        if let Some(live) = self.local(id, token)? {
            return Ok(Some(Found::Live(live)));
        }
        let kept = self.held().get(id);
        if let Some(kept) = kept {
            if !token::matches(token, &kept.token_hash) {
                return Err(LookupError::Unauthorized);
            }
            let env = self.env.clone();
            let id2 = id.to_owned();
            let deleted =
                blocking(move || env.store.delete(&id2, &env.host.id, kept.epoch)).await?;
            self.held().remove(id);
            match deleted {
                Ok(()) => return Ok(None),
                // Taken over since (or deleted): acquire, as any host would.
                Err(StoreError::LeaseLost { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let rec = match self.acquire(id, token).await? {
            Ok(rec) => rec,
            Err(url) => return Ok(Some(Found::Elsewhere(url))),
        };
        let epoch = rec.lease.as_ref().map_or(0, |l| l.epoch);
        let env = self.env.clone();
        let id2 = id.to_owned();
        if !token::matches(token, &rec.token_hash) {
            blocking(move || env.store.release(&id2, &env.host.id, epoch)).await??;
            return Err(LookupError::Unauthorized);
        }
        blocking(move || env.store.delete(&id2, &env.host.id, epoch)).await??;
        Ok(None)
    }

    /// Resumes `id` on the lease this host kept at `epoch`, its token checked by the caller
    /// (who holds the id's stripe): room first, then one hop to the blocking pool for the
    /// row's read, the image's resumption and its thread. `None` if the row is no longer this
    /// host's at that epoch (or this host's row expired): then the caller acquires.
    ///
    /// Nothing is written: the lease is still this host's at the epoch it took, which
    /// `Store::read_kept` checks in the read. Under load each hop between the executor and
    /// the blocking pool waits for a core; this path has one, where an acquisition has two
    /// (run S5, BENCHMARKS.md).
    async fn resume_kept(&self, id: &str, epoch: u64) -> Result<Option<Arc<Live>>, LookupError> {
        let _room = self.make_room(Some(id)).await?;
        let env = self.env.clone();
        let id2 = id.to_owned();
        let live = blocking(move || -> Result<Option<Arc<Live>>, LookupError> {
            let Some(rec) = env.store.read_kept(&id2, &env.host.id, epoch, now_ms())? else {
                return Ok(None);
            };
            if rec.base_hash != env.base_hash {
                // Not from this host, which took the lease: refused as any other host would.
                return Err(LookupError::WrongBase {
                    found: hex(&rec.base_hash),
                    expected: hex(&env.base_hash),
                });
            }
            let image = env
                .base
                .resume_delta_bytes(&rec.delta)
                .map_err(|e| LookupError::Resume(e.to_string()))?;
            let start = Start {
                id: rec.id,
                token_hash: rec.token_hash,
                epoch,
                evaluations: rec.evaluations,
                last_request: rec.last_request_id.zip(rec.last_response),
            };
            session::spawn(&env, image, start)
                .map(Some)
                .map_err(|e| LookupError::Resume(e.to_string()))
        })
        .await??;
        if let Some(live) = &live {
            self.insert(id.to_owned(), live.clone());
        }
        Ok(live)
    }

    /// Takes `id`'s lease (the caller holds the id's stripe): its row, now this host's (whose
    /// token the caller checks, releasing the lease on a wrong one), or the URL of the host
    /// that holds it, for a request whose `token` is the session's.
    async fn acquire(
        &self,
        id: &str,
        token: &str,
    ) -> Result<Result<SessionRecord, String>, LookupError> {
        let env = self.env.clone();
        let (id2, ttl) = (id.to_owned(), self.policy.lease);
        match blocking(move || env.store.acquire(&id2, &env.host, ttl)).await?? {
            Acquired::Missing => Err(LookupError::NotFound),
            Acquired::Elsewhere { token_hash, lease } => {
                if !token::matches(token, &token_hash) {
                    return Err(LookupError::Unauthorized);
                }
                self.env.metrics.redirects.fetch_add(1, Relaxed);
                Ok(Err(lease.url))
            }
            Acquired::Mine(rec) => Ok(Ok(rec)),
        }
    }

    /// Resumes `id` by taking its lease (the caller holds the id's stripe), or says where it
    /// is.
    async fn resume_acquired(&self, id: &str, token: &str) -> Result<Found, LookupError> {
        let rec = match self.acquire(id, token).await? {
            Ok(rec) => rec,
            Err(url) => return Ok(Found::Elsewhere(url)),
        };
        let epoch = rec.lease.as_ref().map_or(0, |l| l.epoch);
        let refuse = if !token::matches(token, &rec.token_hash) {
            Some(LookupError::Unauthorized)
        } else if rec.base_hash != self.env.base_hash {
            Some(LookupError::WrongBase {
                found: hex(&rec.base_hash),
                expected: hex(&self.env.base_hash),
            })
        } else {
            None
        };
        // Room is made only for a session that will come into memory: a request for an
        // unknown or foreign session evicts nothing.
        let (refuse, _room) = match refuse {
            Some(refused) => (Some(refused), None),
            None => match self.make_room(Some(id)).await {
                Ok(room) => (None, Some(room)),
                Err(e) => (Some(e), None),
            },
        };
        if let Some(refused) = refuse {
            let env = self.env.clone();
            let id2 = id.to_owned();
            blocking(move || env.store.release(&id2, &env.host.id, epoch)).await??;
            return Err(refused);
        }
        let token_hash = rec.token_hash;
        let env = self.env.clone();
        let live = blocking(move || {
            let image = env
                .base
                .resume_delta_bytes(&rec.delta)
                .map_err(|e| LookupError::Resume(e.to_string()))?;
            let last_request = rec.last_request_id.zip(rec.last_response);
            let start = Start {
                id: rec.id,
                token_hash: rec.token_hash,
                epoch,
                evaluations: rec.evaluations,
                last_request,
            };
            session::spawn(&env, image, start).map_err(|e| LookupError::Resume(e.to_string()))
        })
        .await?;
        let live = match live {
            Ok(live) => live,
            Err(e) => {
                let env = self.env.clone();
                let id2 = id.to_owned();
                let _ = blocking(move || env.store.release(&id2, &env.host.id, epoch)).await;
                return Err(e);
            }
        };
        self.keep(id, Kept { epoch, token_hash });
        self.insert(id.to_owned(), live.clone());
        Ok(Found::Live(live))
    }

    /// Forgets a session whose thread has left by itself (deleted); answers whether it was
    /// still in memory.
    fn forget(&self, live: &Arc<Live>) -> bool {
        let mut map = self.map();
        if map.get(&live.id).is_some_and(|l| Arc::ptr_eq(l, live)) {
            map.remove(&live.id);
            true
        } else {
            false
        }
    }

    /// Takes `live` out of memory once what was sent to it is answered; its lease stays this
    /// host's (kept, for the next resume here).
    pub async fn evict(&self, live: Arc<Live>) {
        if live.leaving.swap(true, Relaxed) {
            return; // another task is evicting it
        }
        let _one_at_a_time = self.stripe(&live.id).lock().await;
        self.evict_held(live).await;
    }

    /// [`evict`](Self::evict), its id's stripe held and the session claimed (`leaving`) by
    /// the caller. A session that already left memory is not counted again.
    async fn evict_held(&self, live: Arc<Live>) {
        if self.forget(&live) {
            live.stop().await;
            self.env.metrics.evictions.fetch_add(1, Relaxed);
        }
    }

    /// Shutdown: refuses new sessions and resumes, lets every live session finish what was
    /// sent to it and leave memory (committing what it acknowledged without a commit), and
    /// releases this host's leases.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.closing.store(true, Relaxed);
        let all: Vec<Arc<Live>> = self.map().drain().map(|(_, l)| l).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for live in all {
            tasks.spawn(async move { live.stop().await });
        }
        while tasks.join_next().await.is_some() {}
        self.held().clear();
        let env = self.env.clone();
        tokio::task::spawn_blocking(move || env.store.release_all(&env.host.id))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
            .map(drop)
    }
}
