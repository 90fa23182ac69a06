//! How many sessions this host keeps in memory: a place made for each on its way in, the
//! least recently used idle session evicted to make it at the most, and the evictions of the
//! idle and of those past the most.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{LookupError, Registry, PATIENCE};
use crate::session::Live;

/// A place made for a session on its way into memory; given back when dropped (the session
/// is in the map by then, or did not come).
pub(super) struct Room<'a>(&'a AtomicUsize);

impl Drop for Room<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// The `k` sessions of `all` used least recently, oldest first, cloning only those.
fn least_recent<'a>(all: impl Iterator<Item = &'a Arc<Live>>, k: usize) -> Vec<Arc<Live>> {
    let mut all: Vec<&Arc<Live>> = all.collect();
    if all.len() > k {
        all.select_nth_unstable_by_key(k, |l| l.last_used.load(Relaxed));
        all.truncate(k);
    }
    all.sort_by_key(|l| l.last_used.load(Relaxed));
    all.into_iter().cloned().collect()
}

impl Registry {
    /// Makes room for one more session in memory: at the most live sessions (counting those
    /// on their way in), evicts the least recently used idle one, and answers a place held
    /// until the caller's session is in the map (or given up).
    ///
    /// Many tasks make room at once (a thousand creations in flight): each claims a victim of
    /// its own (`Live::leaving`), so that they evict one session each rather than all try the
    /// same few and, finding them taken, let the host grow past its most. `holding` is the id
    /// whose stripe the caller holds: a victim's stripe is only tried, never waited for, so that
    /// two tasks making room cannot wait for each other. After [`PATIENCE`] without a victim
    /// the request is refused (`Full`) rather than take a place over the most.
    pub(super) async fn make_room(&self, holding: Option<&str>) -> Result<Room<'_>, LookupError> {
        /// Candidates looked at per round.
        const CANDIDATES: usize = 32;
        let held = holding.map(Self::stripe_of);
        let give_up = Instant::now() + PATIENCE;
        let mut round = 0u32;
        while Instant::now() < give_up {
            round += 1;
            let candidates = {
                let map = self.map();
                if map.len() + self.coming.load(Relaxed) < self.policy.max_live {
                    return Ok(self.room(&map));
                }
                let mut idle = 0;
                let candidates = least_recent(
                    map.values().filter(|l| {
                        let free = l.in_flight.load(Relaxed) == 0;
                        idle += usize::from(free);
                        free && !l.leaving.load(Relaxed)
                    }),
                    CANDIDATES,
                );
                // Sessions on their way in become candidates once in: wait for them.
                if idle == 0 && self.coming.load(Relaxed) == 0 {
                    return Err(LookupError::Full(self.policy.max_live));
                }
                candidates
            };
            // Tasks start at different candidates, so that fewer find theirs claimed.
            let first = self.turn.fetch_add(1, Relaxed) % candidates.len().max(1);
            let (late, early) = candidates.split_at(first.min(candidates.len()));
            for victim in early.iter().chain(late) {
                if held == Some(Self::stripe_of(&victim.id)) || victim.leaving.swap(true, Relaxed) {
                    continue;
                }
                match self.stripe(&victim.id).try_lock() {
                    Ok(_one_at_a_time) => {
                        // The victim's place passes to this task in one step under the map's
                        // lock: before, another task could take it between the eviction and
                        // this task's next look, and a creation could miss its turn for
                        // seconds while others took the places it freed.
                        match self.take_place(victim) {
                            Some(room) => {
                                victim.stop().await;
                                self.env.metrics.evictions.fetch_add(1, Relaxed);
                                return Ok(room);
                            }
                            None => break, // it had left already: look again
                        }
                    }
                    Err(_) => victim.leaving.store(false, Relaxed),
                }
            }
            // Every candidate is being evicted by another task, or its stripe is busy: their
            // evictions make room too.
            if round < 16 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Err(LookupError::Full(self.policy.max_live))
    }

    /// Takes `victim` out of the map and its place for the caller's session, in one step under
    /// the map's lock; `None` if it had left the map already.
    fn take_place(&self, victim: &Arc<Live>) -> Option<Room<'_>> {
        let mut map = self.map();
        if !map.get(&victim.id).is_some_and(|l| Arc::ptr_eq(l, victim)) {
            return None;
        }
        map.remove(&victim.id);
        Some(self.room(&map))
    }

    /// A place for one more session, taken under the map's lock (`map` is its guard).
    fn room(&self, _map: &std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>>) -> Room<'_> {
        self.coming.fetch_add(1, Relaxed);
        Room(&self.coming)
    }

    /// Evicts every session unused for the idle time; answers how many.
    pub async fn evict_idle(self: &Arc<Self>) -> usize {
        let now = u64::try_from(self.env.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let idle = u64::try_from(self.policy.idle.as_millis()).unwrap_or(u64::MAX);
        let victims: Vec<Arc<Live>> = self
            .map()
            .values()
            .filter(|l| {
                l.in_flight.load(Relaxed) == 0
                    && now.saturating_sub(l.last_used.load(Relaxed)) >= idle
            })
            .cloned()
            .collect();
        self.evict_all(victims).await
    }

    /// The most sessions in memory at once.
    pub fn most_live(&self) -> usize {
        self.policy.max_live
    }

    /// Evicts the least recently used idle sessions past `most` (the host's most live). Creations
    /// and resumes that ran out of `PATIENCE` used to put the host over it, and the excess
    /// stayed until the idle time: 100,000 creations 1,000 at a time at a most of 10,000
    /// reached 12,925 live and kept growing, each a thread with four memory maps, until the
    /// process ran out of them (`vm.max_map_count`). They are refused now; this stays as the
    /// guard of the most. Answers how many it evicted.
    pub async fn trim_to(self: &Arc<Self>, most: usize) -> usize {
        let victims = {
            let map = self.map();
            let over = map.len().saturating_sub(most);
            if over == 0 {
                return 0;
            }
            least_recent(
                map.values()
                    .filter(|l| l.in_flight.load(Relaxed) == 0 && !l.leaving.load(Relaxed)),
                over,
            )
        };
        self.evict_all(victims).await
    }

    /// Evicts `victims` at once, each in a task of its own; answers how many.
    async fn evict_all(self: &Arc<Self>, victims: Vec<Arc<Live>>) -> usize {
        let n = victims.len();
        let mut tasks = tokio::task::JoinSet::new();
        for victim in victims {
            let me = self.clone();
            tasks.spawn(async move { me.evict(victim).await });
        }
        while tasks.join_next().await.is_some() {}
        n
    }
}
