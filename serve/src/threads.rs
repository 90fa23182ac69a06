//! Session threads, kept a while after their session leaves memory to run the next one.
//!
//! Every session runs on an OS thread of its own (its interpreter holds `Rc`s and is not
//! `Send`), and a session idle for `--idle` leaves memory, so a host whose clients come and go
//! starts a thread per resume. Starting and ending one cost 15 system calls (clone3, mmap and
//! mprotect of the stack, sigaltstack three times, prctl for its name, rseq, set_robust_list,
//! madvise and munmap at the end, ...), counted with `strace -c` under the resume benchmark.
//! A thread whose session has left instead waits up to [`KEEP_FOR`] for another; at most
//! [`MOST_IDLE`] wait at once.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a thread without a session waits for one before it ends.
pub const KEEP_FOR: Duration = Duration::from_secs(10);

/// The most threads kept waiting at once: a burst of resumes takes this many without starting
/// a thread, and the stacks kept cost at most this many times their touched pages.
pub const MOST_IDLE: usize = 256;

/// What a session thread runs: one session's whole life in memory.
pub type Work = Box<dyn FnOnce() + Send>;

/// The threads waiting for work, each by its number and the way to hand it some.
#[derive(Debug)]
pub struct Threads {
    stack: usize,
    idle: Mutex<Idle>,
}

#[derive(Debug, Default)]
struct Idle {
    waiting: Vec<(u64, Sender<Work>)>,
    /// Threads started so far; the last one's number.
    started: u64,
}

impl Threads {
    /// No threads yet; each started with a stack of `stack` bytes.
    pub fn new(stack: usize) -> Arc<Threads> {
        Arc::new(Threads {
            stack,
            idle: Mutex::default(),
        })
    }

    /// No threads yet; each started with the stack a session thread needs.
    pub fn for_sessions() -> Arc<Threads> {
        Threads::new(crate::session::STACK)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Threads started so far (the rest of the work ran on threads kept).
    pub fn started(&self) -> u64 {
        self.idle().started
    }

    /// Runs `work` on a waiting thread, or on a new one.
    pub fn run(self: &Arc<Threads>, work: Work) -> std::io::Result<()> {
        let mut work = work;
        loop {
            let Some((_, to)) = self.idle().waiting.pop() else {
                break;
            };
            // A thread taken off the list receives whatever is sent to it (see `wait`); one
            // that ended by a panic in its work is gone, and the work goes on to the next.
            match to.send(work) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(w)) => work = w,
            }
        }
        let number = {
            let mut idle = self.idle();
            idle.started += 1;
            idle.started
        };
        let threads = self.clone();
        std::thread::Builder::new()
            .name("session".into())
            .stack_size(self.stack)
            .spawn(move || {
                let (to, from) = mpsc::channel();
                loop {
                    work();
                    match threads.wait(number, &to, &from) {
                        Some(next) => work = next,
                        None => return,
                    }
                }
            })
            .map(drop)
    }

    /// Waits for the next work of thread `number`, or answers `None` if it is to end: none
    /// came within [`KEEP_FOR`], or [`MOST_IDLE`] threads wait already.
    fn wait(&self, number: u64, to: &Sender<Work>, from: &Receiver<Work>) -> Option<Work> {
        {
            let mut idle = self.idle();
            if idle.waiting.len() >= MOST_IDLE {
                return None;
            }
            idle.waiting.push((number, to.clone()));
        }
        match from.recv_timeout(KEEP_FOR) {
            Ok(work) => Some(work),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => self.after_timeout(number, from),
        }
    }

    /// Thread `number` waited [`KEEP_FOR`] for nothing: it ends, unless `run` took it off the
    /// list between the timeout and this look, when its work is on the way and is run.
    fn after_timeout(&self, number: u64, from: &Receiver<Work>) -> Option<Work> {
        let mut idle = self.idle();
        if let Some(i) = idle.waiting.iter().position(|(n, _)| *n == number) {
            idle.waiting.swap_remove(i);
            return None;
        }
        drop(idle);
        from.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // SeqCst: the tests' counters of work run, read after the fact; no order is at issue.
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    fn done_after(n: usize, count: &Arc<AtomicUsize>) {
        for _ in 0..10_000 {
            if count.load(SeqCst) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the work never ran");
    }

    #[test]
    fn work_runs_on_a_kept_thread_once_one_waits() {
        let threads = Threads::new(256 << 10);
        let count = Arc::new(AtomicUsize::new(0));
        for i in 1..=5 {
            let c = count.clone();
            threads
                .run(Box::new(move || {
                    c.fetch_add(1, SeqCst);
                }))
                .unwrap();
            done_after(i, &count);
            // The thread has run the work; wait until it is on the list again.
            while threads.idle().waiting.is_empty() {
                std::thread::yield_now();
            }
        }
        assert_eq!(threads.started(), 1, "one thread ran all five");
    }

    #[test]
    fn busy_threads_leave_new_work_to_new_threads() {
        let threads = Threads::new(256 << 10);
        let (release, hold) = mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let (c, h) = (count.clone(), hold.clone());
            threads
                .run(Box::new(move || {
                    c.fetch_add(1, SeqCst);
                    let _ = h.lock().unwrap().recv();
                }))
                .unwrap();
        }
        done_after(1, &count);
        assert_eq!(threads.started(), 3);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        done_after(3, &count);
    }

    #[test]
    fn a_thread_that_timed_out_ends_unless_it_was_taken() {
        let threads = Threads::new(256 << 10);
        let (to, from) = mpsc::channel();
        // Still on the list: it leaves it, and ends.
        threads.idle().waiting.push((7, to.clone()));
        assert!(threads.after_timeout(7, &from).is_none());
        assert!(threads.idle().waiting.is_empty());
        // Taken by `run` (off the list, the work sent) as it timed out: it runs the work.
        threads.idle().waiting.push((7, to.clone()));
        let (_, sender) = threads.idle().waiting.pop().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let work: Work = Box::new(move || {
            c.fetch_add(1, SeqCst);
        });
        sender.send(work).unwrap();
        let work = threads.after_timeout(7, &from).expect("the work sent");
        work();
        assert_eq!(count.load(SeqCst), 1);
    }
}
