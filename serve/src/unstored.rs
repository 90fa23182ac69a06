//! When an evaluation needs no commit: a summary of the delta the store holds (`Stored`),
//! which tells a delta that only appended objects from one that changed what is stored, and
//! what the host knows of its leases' expiry ([`LeaseClock`]), without which a host that lost a
//! session could answer from a stale image.

use std::sync::atomic::{AtomicI64, Ordering, Ordering::Relaxed};

use crate::store::ttl_ms;

/// What this host knows of its leases' expiry, from its renewals: whether a session whose
/// lease it held at some time still holds it now. An evaluation that changed nothing stored
/// is answered without a commit only then: a host that lost a lease (paused past its expiry,
/// and another host took the session) must not answer from its stale image, and with no
/// commit no epoch check would stop it.
///
/// A lease can only change hands once its owner's host row has expired (`store::held_elsewhere`),
/// and every renewal (one write of that row, for all of this host's leases at once, every
/// third of the lease) moves the expiry to at least its start plus the lease. So from the
/// start of an unbroken run of renewals until the last one's start plus the lease less a
/// quarter of it, no lease held at the run's start was lost. A run breaks when a renewal
/// begins after the last one's margin ran out (this host was paused, or the store was
/// unreachable), or when the store reports that the host row it renewed had expired, or
/// would have by another host's clock (`Store::renew` answers the old expiry; a renewal slow
/// to reach the store can land after it): every takeover made on that expiry has committed
/// before the renewal returns, so the new run starts at its end. The quarter (at least
/// [`LEASE_MARGIN_MS`]) is the clock difference between hosts this allows (2.5 s with the
/// default 10 s lease); a lease of a second or less never counts as held, and every
/// evaluation is committed.
///
/// Leases kept for evicted sessions (`Registry`'s resume without a write) change nothing
/// here: a session resumed on a kept lease starts with no summary of what it stored
/// (`Session::stored` is `None`), so its first evaluation commits, fenced by owner and epoch,
/// and only a commit that succeeded gives a time (`held_at`, read before it was sent) at which
/// the lease was this host's. From there the argument above is the same whether the session
/// stayed in memory or left it and came back.
#[derive(Debug, Default)]
pub struct LeaseClock {
    /// Milliseconds (Unix) until which the leases held since `unbroken_since` are this host's.
    until: AtomicI64,
    /// Milliseconds (Unix) since which renewals were unbroken.
    unbroken_since: AtomicI64,
}

/// The least clock difference between hosts [`LeaseClock`] allows, in milliseconds.
pub const LEASE_MARGIN_MS: i64 = 1000;

impl LeaseClock {
    /// Records a renewal of this host's leases that began at `start` (milliseconds, Unix,
    /// read before the renewal was sent), succeeded, and returned at `end`, finding the host
    /// row's expiry at `before` (`None`: there was none). Only the renewal task calls this.
    pub fn renewed(&self, start: i64, end: i64, before: Option<i64>, lease: std::time::Duration) {
        let ttl = ttl_ms(lease);
        let margin = (ttl / 4).max(LEASE_MARGIN_MS);
        if before.is_none_or(|b| b <= end.saturating_add(margin)) {
            // The store's row had lapsed (or would have, by a clock up to the margin ahead):
            // a lease held before may have changed hands, each such takeover committed
            // before `end`.
            // Release: stored before the new `until` (below), which readers load first.
            self.unbroken_since.store(end, Ordering::Release);
        } else if self.until.load(Relaxed) < start {
            // A gap: a lease held before `start` may have expired and changed hands.
            // Release: as above.
            self.unbroken_since.store(start, Ordering::Release);
        }
        // Release: a reader that sees this `until` sees the `unbroken_since` stored above.
        self.until
            .store(start.saturating_add(ttl - margin), Ordering::Release);
    }

    /// True if a lease held at `held_at` (milliseconds, Unix) is still this host's at `now`.
    pub fn holds(&self, held_at: i64, now: i64) -> bool {
        // Acquire: pairs with `renewed`'s Release stores, so `unbroken_since` is at least as
        // new as the `until` read.
        let until = self.until.load(Ordering::Acquire);
        let since = self.unbroken_since.load(Ordering::Acquire);
        held_at >= since && now < until
    }
}

/// A summary of a delta: enough to tell whether another delta of the same image holds the
/// same state plus objects nothing reaches.
///
/// The delta's layout (`cowheap::delta::format`): an 80-byte header (the counts at byte 48:
/// private words W, forwarded objects F, entries R, root overrides O), W words of the private
/// space, then the forwarded extents, entries and root overrides, then an 8-byte checksum. An
/// evaluation only appends to the private space (a collection compacts it, which changes its
/// words). If the words stored are a prefix of the new delta's, and the rest (entries, root
/// overrides, forwarded objects) is the same, no object the store holds was written and no
/// base object or root was redirected, so nothing stored reaches the appended objects: the
/// stored delta holds the same state, and the evaluation needs no commit. Only the
/// identity-hash generator (header byte 40) may differ; it decides the hashes of objects not
/// yet made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    /// W.
    words: u64,
    /// XXH3-128 of the header before the generator (format, base) and its counts but W.
    head: u128,
    /// XXH3-128 of the W words.
    space: u128,
    /// XXH3-128 of what follows the words, less the checksum.
    rest: u128,
}

impl Stored {
    /// `delta`'s summary, with its words cut at `words` (its own count if `None`); `None` for
    /// a delta this does not read (another format version; too short), which is then always
    /// committed.
    pub(crate) fn of(delta: &[u8], words: Option<u64>) -> Option<Stored> {
        let parts = cowheap::delta::format::parts(delta)?;
        let w = parts.words.len() as u64 / 8;
        let cut = words.unwrap_or(w);
        if cut > w {
            return None;
        }
        let h = xxhash_rust::xxh3::xxh3_128;
        Some(Stored {
            words: cut,
            head: h(&parts.fixed.concat()),
            space: h(parts.words.get(..usize::try_from(cut).ok()? * 8)?),
            rest: h(parts.rest),
        })
    }

    /// True if `delta` holds this state plus objects nothing in it reaches.
    pub(crate) fn same_state(&self, delta: &[u8]) -> bool {
        Stored::of(delta, Some(self.words)).is_some_and(|s| s == *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Where the delta's header ends, where the generator and the counts start
    // (`cowheap::delta::format`'s table).
    const DELTA_HEADER: usize = 80;
    const DELTA_NEXT_HASH: usize = 40;
    const DELTA_COUNTS: usize = 48;

    /// A delta of `words` private words and `rest` after them, laid out as the format says.
    fn delta(words: &[u64], rest: &[u8], next_hash: u32) -> Vec<u8> {
        let mut d = vec![0u8; DELTA_HEADER];
        d[..8].copy_from_slice(b"COWDELTA");
        d[8..12].copy_from_slice(&cowheap::delta::FORMAT_VERSION.to_le_bytes());
        d[DELTA_NEXT_HASH..DELTA_NEXT_HASH + 4].copy_from_slice(&next_hash.to_le_bytes());
        d[DELTA_COUNTS..DELTA_COUNTS + 8].copy_from_slice(&(words.len() as u64).to_le_bytes());
        d[DELTA_COUNTS + 16..DELTA_COUNTS + 24].copy_from_slice(&3u64.to_le_bytes());
        for w in words {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(rest);
        d.extend_from_slice(&[0xAB; 8]);
        d
    }

    #[test]
    fn a_delta_holds_the_stored_state_only_if_it_appends_words_and_keeps_the_rest() {
        let stored = Stored::of(&delta(&[1, 2, 3], b"entries", 7), None).unwrap();
        // Objects appended, and the hash generator moved on: the same state.
        assert!(stored.same_state(&delta(&[1, 2, 3, 4, 5], b"entries", 9)));
        assert!(stored.same_state(&delta(&[1, 2, 3], b"entries", 7)));
        // A stored word written, a word less (a collection), or other entries or roots.
        assert!(!stored.same_state(&delta(&[1, 9, 3, 4], b"entries", 7)));
        assert!(!stored.same_state(&delta(&[1, 2], b"entries", 7)));
        assert!(!stored.same_state(&delta(&[1, 2, 3, 4], b"entrieS", 7)));
        assert!(!stored.same_state(&delta(&[1, 2, 3, 4], b"entries!", 7)));
        // Other counts (the same bytes read as other entries) or another format.
        let mut counts = delta(&[1, 2, 3, 4], b"entries", 7);
        counts[DELTA_COUNTS + 16] = 4;
        assert!(!stored.same_state(&counts));
        let mut version = delta(&[1, 2, 3, 4], b"entries", 7);
        version[8] = 99;
        assert!(!stored.same_state(&version));
        assert_eq!(Stored::of(&version, None), None);
        // Too short or truncated: never the same state.
        assert!(!stored.same_state(&delta(&[1, 2, 3, 4], b"entries", 7)[..100]));
        assert_eq!(Stored::of(b"COWDELTA", None), None);
    }

    #[test]
    fn leases_count_as_held_only_within_an_unbroken_run_of_renewals() {
        let lease = Duration::from_secs(10);
        let clock = LeaseClock::default();
        assert!(!clock.holds(0, 0), "never renewed");
        // The first renewal finds no row: the run starts at its end.
        clock.renewed(1_000_000, 1_000_010, None, lease);
        assert!(clock.holds(1_000_010, 1_005_000));
        assert!(
            !clock.holds(1_000_000, 1_005_000),
            "held before the run began"
        );
        assert!(!clock.holds(1_000_010, 1_007_500), "past the margin");
        // Renewed in time, the row unexpired: the run goes on.
        clock.renewed(1_003_000, 1_003_010, Some(1_010_010), lease);
        assert!(clock.holds(1_000_010, 1_010_000));
        // Renewed too late: what was held before may have changed hands.
        clock.renewed(1_020_000, 1_020_010, Some(1_013_010), lease);
        assert!(!clock.holds(1_003_000, 1_021_000));
        assert!(clock.holds(1_020_010, 1_021_000));
        // Begun in time, but the row had expired (or nearly, by another host's clock) when the
        // store wrote it: a break, from the renewal's end.
        clock.renewed(1_023_000, 1_028_000, Some(1_030_000), lease);
        assert!(!clock.holds(1_027_999, 1_029_000));
        assert!(clock.holds(1_028_000, 1_029_000));
        // A lease of a second or less never counts as held.
        let short = LeaseClock::default();
        short.renewed(5_000, 5_000, Some(100_000), Duration::from_millis(900));
        assert!(!short.holds(5_000, 5_000));
    }
}
