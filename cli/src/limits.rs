//! What the system allows a process, checked before a run spawns one thread per image, so
//! that a run too large for it is refused with advice (exit 4) instead of aborting.
//!
//! Linux caps the memory maps of a process at `vm.max_map_count` (65,530 by default). Each
//! thread takes [`MAPS_PER_THREAD`] of them (its stack and guard page, and the signal stack
//! and guard page the Rust runtime gives it); when they run out, the runtime aborts the
//! process ("failed to set up alternative stack guard page") rather than failing the spawn.

use crate::exit::Failure;

pub use cowheap::{MAPS_PER_THREAD, MAPS_SLACK, MAX_MAP_COUNT_VAR as LIMIT_VAR};

/// Refuses (exit 4) a run of `threads` image threads that would exhaust the process's memory
/// maps. Where the limit cannot be read (not Linux), nothing is checked.
pub fn check_threads(threads: usize) -> Result<(), Failure> {
    let limit = match std::env::var(LIMIT_VAR) {
        Ok(v) => v.trim().parse().ok(),
        Err(_) => std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|t| t.trim().parse().ok()),
    };
    let Some(limit) = limit else {
        return Ok(());
    };
    let current = std::fs::read_to_string("/proc/self/maps")
        .map(|t| t.lines().count())
        .unwrap_or(0);
    maps_fit(threads, current, limit).map_err(Failure::Run)
}

/// Whether `threads` more threads fit in `limit` maps with `current` in use; if not, the
/// message that says what to raise, or how many images would fit.
pub fn maps_fit(threads: usize, current: usize, limit: usize) -> Result<(), String> {
    let needed = threads
        .saturating_mul(MAPS_PER_THREAD)
        .saturating_add(current)
        .saturating_add(MAPS_SLACK);
    if needed <= limit {
        return Ok(());
    }
    let fit = limit.saturating_sub(current + MAPS_SLACK) / MAPS_PER_THREAD;
    let raise_to = needed.div_ceil(65_536).saturating_mul(65_536);
    Err(format!(
        "{threads} images need about {needed} memory maps ({MAPS_PER_THREAD} per image thread, \
         {current} in use), more than this system allows a process (vm.max_map_count = {limit}): \
         raise vm.max_map_count (sysctl -w vm.max_map_count={raise_to}) or use fewer images \
         (about {fit} fit)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_would_exhaust_the_maps_is_refused_with_what_to_raise() {
        // The default limit: 16,000 images fit, 17,000 do not.
        assert_eq!(maps_fit(16_000, 100, 65_530), Ok(()));
        let message = maps_fit(17_000, 100, 65_530).unwrap_err();
        assert!(message.contains("vm.max_map_count = 65530"), "{message}");
        assert!(
            message.contains("sysctl -w vm.max_map_count=131072"),
            "{message}"
        );
        assert!(message.contains("about 16101 fit"), "{message}");
        // A tiny limit against a tiny run.
        assert!(maps_fit(3, 10, 1_046).is_ok());
        assert!(maps_fit(3, 10, 1_045).is_err());
        assert!(maps_fit(usize::MAX, 10, 65_530).is_err());
        assert!(maps_fit(1, 2_000, 100).unwrap_err().contains("about 0 fit"));
    }
}
