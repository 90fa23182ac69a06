//! Processes: Semaphore `signal` (85) and `wait` (86), Process `resume` (87) and `suspend`
//! (88), `signal:atMilliseconds:` (136, the timer), `yield` (167) and
//! `relinquishProcessorForMicroseconds:` (230, the idle process). Each checks its receiver
//! and arguments and calls the scheduler below (`scheduler.rs`); one that switched processes
//! has put its answer on the stack of the process it left and answers [`Prim::Switched`].

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::Exec;

fn switched(done: bool, answer: Prim) -> Prim {
    if done {
        Prim::Switched
    } else {
        answer
    }
}

/// Primitive 85, `Semaphore>>signal`.
pub(crate) fn signal(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let sem = x.stack[c.ri];
    if !x.is_semaphore(sem)? {
        return Ok(Prim::Fail);
    }
    let done = x.signal_semaphore(sem, Some((c.ri, sem)), true)?;
    Ok(switched(done, Prim::Answer(sem)))
}

/// Primitive 86, `Semaphore>>wait`. The first wait of an image that would block runs the
/// image's `Delay startUp` first (see `scheduler.rs`), by a frame that then waits again.
pub(crate) fn wait(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let sem = x.stack[c.ri];
    if !x.is_semaphore(sem)? {
        return Ok(Prim::Fail);
    }
    if !x.has_excess_signals(sem)? && x.delays_need_resuming()? {
        x.resume_delays_then_wait(c.ri)?;
        return Ok(Prim::Switched);
    }
    let done = x.wait_on(sem, c.ri)?;
    Ok(switched(done, Prim::Answer(sem)))
}

/// Primitive 87, `Process>>resume`: a process of a higher priority than the active one runs
/// at once. Fails for anything that is not a process with a context to run.
pub(crate) fn resume(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let process = x.stack[c.ri];
    if !x.is_process(process)? {
        return Ok(Prim::Fail);
    }
    let done = x.resume_process(process, Some((c.ri, process)))?;
    Ok(switched(done, Prim::Answer(process)))
}

/// Primitive 88, `Process>>suspend`, of the active process (answering nil when it runs
/// again); for any other process it fails, as in the VMs of Squeak 2.2's time, and the
/// image's fallback takes the process off its list.
pub(crate) fn suspend(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let process = x.stack[c.ri];
    let active = x.active_process()?;
    if !x.identical(process, active)? {
        return Ok(Prim::Fail);
    }
    x.suspend_active(c.ri)?;
    Ok(Prim::Switched)
}

/// Primitive 136, `Delay class>>primSignal: aSemaphore atMilliseconds: time`: arms the
/// image's timer (anything but a Semaphore cancels it). Answers the receiver.
pub(crate) fn signal_at_milliseconds(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (sem, ms) = (x.arg(c.ri, 0), x.arg(c.ri, 1));
    let Some(ms) = ms.as_small_int() else {
        return Ok(Prim::Fail);
    };
    x.signal_at(sem, ms)?;
    Ok(Prim::Answer(x.stack[c.ri]))
}

/// Primitive 167, `ProcessorScheduler>>yield`.
pub(crate) fn yield_processor(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let done = x.yield_active(c.ri)?;
    Ok(switched(done, Prim::Answer(rcvr)))
}

/// Primitive 230, `relinquishProcessorForMicroseconds:`: the idle process's wait, for the
/// given time at most; with no timer pending and no other process ready, a deadlock.
pub(crate) fn relinquish(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let Some(micros) = x.arg(c.ri, 0).as_small_int().filter(|&m| m >= 0) else {
        return Ok(Prim::Fail);
    };
    let done = x.relinquish_processor(c.ri, micros as u64)?;
    Ok(switched(done, Prim::Answer(rcvr)))
}

#[cfg(test)]
mod tests {
    use crate::interp::tests::{int, Run};

    #[test]
    fn a_semaphore_counts_signals_and_a_wait_takes_one() {
        let mut r = Run::new();
        let (class, nil) = (r.t.semaphore, r.nil());
        let sem = r.instance(class, &[nil, nil, int(0)], 1);
        assert_eq!(r.answer(85, sem, &[]), sem);
        assert_eq!(r.answer(85, sem, &[]), sem);
        assert_eq!(r.image.read(sem, 2).unwrap(), int(2));
        assert_eq!(r.answer(86, sem, &[]), sem);
        assert_eq!(r.image.read(sem, 2).unwrap(), int(1));
        // Anything but a Semaphore fails, into the image's fallback.
        let pair_class = r.t.pair;
        let pair = r.instance(pair_class, &[nil, nil], 1);
        r.fails(85, pair, &[]);
        r.fails(86, pair, &[]);
        r.fails(136, int(0), &[pair, nil]);
    }
}
