//! Live counters of a run, for a progress display on another thread, and the stop request
//! that Ctrl-C sends the other way.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Live counters of a running stress run, for a progress display on another thread. All
/// Relaxed: they are statistics, read while they move.
#[derive(Debug, Default)]
pub struct Progress {
    /// Image lifetimes running now.
    pub running: AtomicUsize,
    /// Image lifetimes finished.
    pub finished: AtomicU64,
    /// Ops performed so far (updated every 1024 ops per image).
    pub ops: AtomicU64,
    /// COW copies made so far (updated with `ops`).
    pub copies: AtomicU64,
    /// Images whose final verification is done.
    pub verified: AtomicUsize,
    /// Lifetimes the run will have, 0 when a duration decides.
    pub planned_lifetimes: AtomicU64,
    phase: AtomicU8,
    stop: AtomicBool,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building the base, starting threads.
    Setup,
    /// Images running.
    Running,
    /// Final verification.
    Verifying,
    /// Finished.
    Done,
}

impl Progress {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Setup,
            1 => Phase::Running,
            2 => Phase::Verifying,
            _ => Phase::Done,
        }
    }

    pub(crate) fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }

    /// Asks the run to stop early: image threads finish the op they are in (they look every
    /// 1024 ops), no new lifetime starts, and the run then verifies what ran and reports it as
    /// [`Verdict::Interrupted`](crate::Verdict::Interrupted). Callable from a signal handler's
    /// thread: it only stores a flag.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether [`request_stop`](Progress::request_stop) was called.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
