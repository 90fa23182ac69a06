//! The leases this process holds, by session id, bounded: past its most the least recently
//! used entry is dropped. An entry only saves a write: a session without one resumes by
//! `Store::acquire` (the lease is still this host's in the store, so the acquisition takes it
//! at once and raises its epoch), as every resume did before kept leases. Without a bound the
//! map grew by one entry for each session this process ever held, for as long as it lived.

use std::sync::Arc;

use hashlink::LruCache;

/// A lease this host holds: the epoch it was taken at, and the session's token hash (a
/// session's token never changes), so that a resume on it checks the token before making
/// room and goes to the store once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Kept {
    pub(super) epoch: u64,
    pub(super) token_hash: [u8; 32],
}

/// The entries, most recently used last: `hashlink`'s LRU map (already a dependency of the
/// SQLite store), whose insertion drops the least recently used entry past its capacity.
#[derive(Debug)]
pub(super) struct KeptLeases(LruCache<Arc<str>, Kept>);

impl KeptLeases {
    /// An empty map that keeps at most `most` entries.
    pub(super) fn new(most: usize) -> KeptLeases {
        KeptLeases(LruCache::new(most))
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The entry for `id`, marked as used.
    pub(super) fn get(&mut self, id: &str) -> Option<Kept> {
        self.0.get(id).copied()
    }

    /// Keeps `kept` for `id` (replacing what was kept), as its most recent use; answers how
    /// many least recently used entries were dropped to stay within the most.
    pub(super) fn put(&mut self, id: &str, kept: Kept) -> u64 {
        let before = self.0.len() + usize::from(!self.0.contains_key(id));
        self.0.insert(Arc::from(id), kept);
        (before - self.0.len()) as u64
    }

    /// Forgets `id`.
    pub(super) fn remove(&mut self, id: &str) {
        self.0.remove(id);
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.0.clear();
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
        let mut v: Vec<String> = k.0.iter().map(|(id, _)| id.to_string()).collect();
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
        // A removed entry leaves room.
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
}
