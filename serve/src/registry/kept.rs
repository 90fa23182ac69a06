//! The leases this process holds, by session id, bounded: past its most the least recently
//! used entry is dropped. An entry only saves a write: a session without one resumes by
//! `Store::acquire` (the lease is still this host's in the store, so the acquisition takes it
//! at once and raises its epoch), as every resume did before kept leases. Without a bound the
//! map grew by one entry for each session this process ever held, for as long as it lived.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A lease this host holds: the epoch it was taken at, and the session's token hash (a
/// session's token never changes), so that a resume on it checks the token before making
/// room and goes to the store once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Kept {
    pub(super) epoch: u64,
    pub(super) token_hash: [u8; 32],
}

/// The entries, and their order of use.
///
/// The order is a queue of (stamp, id), one pushed at each use; an entry's stamp is that of
/// its last use, so a queued pair whose stamp is not its entry's is an older use, skipped
/// when it reaches the front and discarded when the queue is compacted. Stamps are only
/// compared for equality, so their counter may wrap: two uses of one id share a stamp only
/// if 2^64 uses fall between them.
#[derive(Debug)]
pub(super) struct KeptLeases {
    most: usize,
    entries: HashMap<Arc<str>, (Kept, u64)>,
    order: VecDeque<(u64, Arc<str>)>,
    next_stamp: u64,
}

/// Uses queued beyond twice the entries before the queue is compacted: compaction walks the
/// whole queue, so it runs once per as many uses as there are entries (and at least this
/// many), which keeps its cost per use constant.
const SLACK: usize = 1024;

impl KeptLeases {
    /// An empty map that keeps at most `most` entries.
    pub(super) fn new(most: usize) -> KeptLeases {
        KeptLeases::starting_at(most, 0)
    }

    /// [`new`](Self::new), its stamps counting from `stamp` (tests start near the wrap).
    pub(super) fn starting_at(most: usize, stamp: u64) -> KeptLeases {
        KeptLeases {
            most,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_stamp: stamp,
        }
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `id`, marked as used.
    pub(super) fn get(&mut self, id: &str) -> Option<Kept> {
        let stamp = self.stamp();
        let (key, &(kept, _)) = self.entries.get_key_value(id)?;
        let key = key.clone();
        if let Some(entry) = self.entries.get_mut(id) {
            entry.1 = stamp;
        }
        self.queue(stamp, key);
        Some(kept)
    }

    /// Keeps `kept` for `id` (replacing what was kept), as its most recent use; answers how
    /// many least recently used entries were dropped to stay within the most.
    pub(super) fn put(&mut self, id: &str, kept: Kept) -> u64 {
        let stamp = self.stamp();
        let key = self
            .entries
            .get_key_value(id)
            .map_or_else(|| Arc::from(id), |(key, _)| key.clone());
        // An existing key stays; its value is replaced.
        self.entries.insert(key.clone(), (kept, stamp));
        self.queue(stamp, key);
        let mut dropped = 0;
        while self.entries.len() > self.most {
            let Some((stamp, id)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&id)
                .is_some_and(|&(_, used)| used == stamp)
            {
                self.entries.remove(&id);
                dropped += 1;
            }
        }
        dropped
    }

    /// Forgets `id`.
    pub(super) fn remove(&mut self, id: &str) {
        self.entries.remove(id);
        self.compact_if_long();
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    fn stamp(&mut self) -> u64 {
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        stamp
    }

    fn queue(&mut self, stamp: u64, id: Arc<str>) {
        self.order.push_back((stamp, id));
        self.compact_if_long();
    }

    /// Drops the queued uses that are not their entry's last, once they outnumber the
    /// entries (and [`SLACK`]).
    fn compact_if_long(&mut self) {
        if self.order.len() <= self.entries.len().saturating_mul(2).saturating_add(SLACK) {
            return;
        }
        let entries = &self.entries;
        self.order
            .retain(|(stamp, id)| entries.get(id).is_some_and(|&(_, used)| used == *stamp));
    }

    /// Uses queued (tests: the queue stays bounded).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(epoch: u64) -> Kept {
        Kept {
            epoch,
            token_hash: [u8::try_from(epoch % 256).unwrap_or(0); 32],
        }
    }

    fn ids(k: &KeptLeases) -> Vec<String> {
        let mut v: Vec<String> = k.entries.keys().map(|id| id.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn past_the_most_the_least_recently_used_entry_is_dropped() {
        let mut k = KeptLeases::new(3);
        assert_eq!(k.put("a", kept(1)), 0);
        assert_eq!(k.put("b", kept(2)), 0);
        assert_eq!(k.put("c", kept(3)), 0);
        // A use of "a" makes "b" the least recent.
        assert_eq!(k.get("a"), Some(kept(1)));
        assert_eq!(k.put("d", kept(4)), 1);
        assert_eq!(ids(&k), ["a", "c", "d"]);
        assert_eq!(k.get("b"), None);
        // Kept again (a new epoch) counts as a use, and replaces the entry.
        assert_eq!(k.put("c", kept(30)), 0);
        assert_eq!(k.put("e", kept(5)), 1);
        assert_eq!(ids(&k), ["c", "d", "e"]);
        assert_eq!(k.get("c"), Some(kept(30)));
        // A removed entry leaves room; its queued uses are skipped.
        k.remove("d");
        assert_eq!(k.put("f", kept(6)), 0);
        assert_eq!(k.put("g", kept(7)), 1);
        assert_eq!(ids(&k), ["c", "f", "g"]);
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn a_most_of_zero_keeps_nothing() {
        let mut k = KeptLeases::new(0);
        assert_eq!(k.put("a", kept(1)), 1);
        assert_eq!(k.len(), 0);
        assert_eq!(k.get("a"), None);
    }

    #[test]
    fn stamps_wrap_without_confusing_the_order() {
        let mut k = KeptLeases::starting_at(2, u64::MAX - 2);
        assert_eq!(k.put("a", kept(1)), 0); // u64::MAX - 2
        assert_eq!(k.put("b", kept(2)), 0); // u64::MAX - 1
        assert_eq!(k.get("a"), Some(kept(1))); // u64::MAX
        assert_eq!(k.put("c", kept(3)), 1); // 0: "b" is the least recent
        assert_eq!(ids(&k), ["a", "c"]);
        assert_eq!(k.get("a"), Some(kept(1))); // 1
        assert_eq!(k.put("d", kept(4)), 1); // 2: "c"
        assert_eq!(ids(&k), ["a", "d"]);
    }

    #[test]
    fn the_queue_of_uses_stays_within_twice_the_entries() {
        let mut k = KeptLeases::new(10);
        for i in 0..10u64 {
            k.put(&i.to_string(), kept(i));
        }
        for round in 0..100_000u64 {
            assert!(k.get(&(round % 10).to_string()).is_some());
            assert!(k.queued() <= 2 * 10 + SLACK + 1, "round {round}");
        }
        // Dropping still finds the least recent after compactions: of the ten, "0" was used
        // longest ago (round 99,990).
        assert_eq!(k.put("new", kept(99)), 1);
        assert_eq!(k.get("0"), None);
        assert_eq!(k.len(), 10);
    }
}
