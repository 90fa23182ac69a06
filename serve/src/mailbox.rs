//! The channel from the handlers to a session's thread: one sender (the session's `Live`), one
//! receiver (its thread).
//!
//! `std::sync::mpsc` wakes the receiver while it holds the channel's waker lock. On a busy
//! host the woken session thread preempts the sending executor thread right there, evaluates,
//! answers, and on its next receive blocks on that same lock, still held by the preempted
//! sender; the sender then unlocks and wakes it a second time. A profile of `3 + 4` at 1,000
//! live sessions (32 requests in flight) had the executor threads spend about 45% of their
//! samples in those wakes and switches. Here the sender pushes under the lock and wakes the
//! receiver after unlocking, so the receiver never finds the lock held by its waker.
//! crossbeam-channel is no way out: its `SyncWaker::notify` also unparks the receiver while
//! holding its waker's lock (`crossbeam-channel` 0.5, `waker.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct State<T> {
    queue: VecDeque<T>,
    /// The sender was dropped: once the queue is empty, a receive answers `Disconnected`.
    sender_gone: bool,
    /// The receiver was dropped: a send is refused, handing its message back.
    receiver_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Each change under the lock is one push, pop or flag: a panic elsewhere cannot leave
        // the state half made.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending half.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The receiving half.
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

/// Why a receive answered nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvError {
    /// Nothing came within the time given.
    Timeout,
    /// The sender is gone and nothing is queued.
    Disconnected,
}

/// A new channel.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        ready: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `message`, or hands it back if the receiver is gone.
    pub(crate) fn send(&self, message: T) -> Result<(), T> {
        {
            let mut state = self.0.lock();
            if state.receiver_gone {
                return Err(message);
            }
            state.queue.push_back(message);
        }
        // After the unlock: the receiver, woken, takes the lock without waiting for us.
        self.0.ready.notify_one();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.lock().sender_gone = true;
        self.0.ready.notify_one();
    }
}

impl<T> Receiver<T> {
    /// The next message, waiting for it as long as it takes (`None`) or at most `timeout`.
    pub(crate) fn recv(&self, timeout: Option<Duration>) -> Result<T, RecvError> {
        // A timeout too long to add to now is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.0.lock();
        loop {
            if let Some(message) = state.queue.pop_front() {
                return Ok(message);
            }
            if state.sender_gone {
                return Err(RecvError::Disconnected);
            }
            state = match deadline {
                None => self.0.ready.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RecvError::Timeout);
                    }
                    self.0
                        .ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Messages still queued are dropped with the receiver (a request's reply sender among
        // them: its caller hears that the session left), outside the lock.
        let queued = {
            let mut state = self.0.lock();
            state.receiver_gone = true;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_a_receive_with_nothing_queued_times_out() {
        let (tx, rx) = channel();
        assert_eq!(rx.recv(Some(Duration::ZERO)), Err(RecvError::Timeout));
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.recv(Some(Duration::ZERO)), Ok(1));
        assert_eq!(rx.recv(None), Ok(2));
        assert_eq!(rx.recv(Some(Duration::ZERO)), Err(RecvError::Timeout));
        // A timeout past what an instant can hold waits like none.
        tx.send(3).unwrap();
        assert_eq!(rx.recv(Some(Duration::MAX)), Ok(3));
    }

    #[test]
    fn a_dropped_sender_disconnects_once_the_queue_is_empty() {
        let (tx, rx) = channel();
        tx.send("a").unwrap();
        drop(tx);
        assert_eq!(rx.recv(None), Ok("a"));
        assert_eq!(rx.recv(None), Err(RecvError::Disconnected));
        assert_eq!(rx.recv(Some(Duration::ZERO)), Err(RecvError::Disconnected));
    }

    #[test]
    fn a_dropped_receiver_refuses_sends_and_drops_what_was_queued() {
        let (tx, rx) = channel();
        let (reply, answer) = std::sync::mpsc::channel::<()>();
        tx.send(Some(reply)).unwrap();
        drop(rx);
        // The queued reply sender is gone: its caller hears so.
        assert!(answer.recv().is_err());
        assert!(matches!(tx.send(None), Err(None)));
    }

    #[test]
    fn a_receiver_waiting_on_another_thread_is_woken_by_a_send() {
        let (tx, rx) = channel();
        let (back, answers) = channel();
        let thread = std::thread::spawn(move || {
            while let Ok(n) = rx.recv(None) {
                back.send(n * 2).unwrap();
            }
        });
        for n in 0..1000u64 {
            tx.send(n).unwrap();
            assert_eq!(answers.recv(None), Ok(n * 2));
        }
        drop(tx);
        thread.join().unwrap();
        assert_eq!(answers.recv(None), Err(RecvError::Disconnected));
    }
}
