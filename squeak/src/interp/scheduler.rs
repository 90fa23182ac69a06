//! The image's own processes, scheduled as the real VM schedules them: the image's
//! `ProcessorScheduler` (the value of the special objects' `Processor` association) keeps a
//! ready list per priority and the active process; a Semaphore is a list of waiting
//! processes and a count of excess signals; the timer (primitive 136) signals one semaphore
//! once the millisecond clock passes a time. Everything lives in the image's heap, so it
//! outlives a run and stays the image's own. The primitives (`primitives/processes.rs`) and
//! the dispatch loop's timer check call this file; it calls the contexts below it.
//!
//! **When a switch happens**, as in the real VM (`interp.st`, SqueakJS `vm.primitives.js`):
//! a process of a higher priority than the active one becomes ready (a `signal`, a
//! `resume`, the timer), or the active process waits on a semaphore without excess signals,
//! suspends itself, or yields to a ready process of its own priority. Nothing else switches,
//! and nothing is checked per bytecode: the timer is looked at where the run looks at the
//! clock anyway (`Exec::checkpoint`), and at every switch.
//!
//! **How a switch works** with frames that are native, not contexts: the active process's
//! frames become a context chain (`Exec::suspend_frames`), stored as its `suspendedContext`;
//! the new process's chain becomes frames (`Exec::resume_frames`), its `suspendedContext` is
//! nilled, as VMs since 3.x do. Correctness rests on `suspend_frames` ∘ `resume_frames` being
//! the identity on what the dispatch loop reads (method, pc, receiver, temporaries through the
//! context, operand stack), which their comments show, and on the switch happening only
//! between bytecodes: the primitive has put its answer on the stack and the top frame's pc
//! is past the send, or the timer check stopped the dispatch loop before a bytecode.
//!
//! **The run's end.** The process active when a run starts evaluates it; the run answers
//! when that process's bottom frame returns, as a do-it returns to the real VM's user
//! interface: the evaluating process simply goes on (to the next run), and processes of its
//! priority or lower that are ready have not run unless it waited, yielded or suspended. They
//! stay ready in the image's lists and run when a later run lets them. Another process's
//! bottom context returning is a `cannotReturn:` (a forked block ends in `terminate`, which
//! suspends, and never returns). A run that stops while another process is active leaves
//! that one active: it evaluates the image's next run, and the process that evaluated the
//! stopped one is on no list any more and is not resumed.
//!
//! **Waiting.** When no process is ready, the image waits for its timer: its thread sleeps
//! until the timer is due (only that thread: other images run on), within the run's time
//! budget. The image's idle process (priority 1, `relinquishProcessorForMicroseconds:`,
//! primitive 230) does the same. With no timer pending nothing can ever wake a waiting
//! process (an image here has no input, no other source of signals): the run stops with
//! [`RunError::Deadlock`].
//!
//! **Resuming a snapshot.** The image is run as its snapshot left it, without the real VM's
//! startup (`processStartUpList`), and `Delay shutDown` left the Delay machinery held
//! (`AccessProtect` waited on). So the first time a process of the image would block on a
//! semaphore, it first runs the image's own `Delay startUp` (see `resume_delays`), as the
//! real VM did before any of the image's code ran; an image that never blocks never pays
//! for it, nor copies anything for it.

use super::limits::RunError;
use super::special::ASSOCIATION_VALUE;
use super::state::{instant_after_ms, int, millisecond_clock, Exec, Frame, MAX_INT};
use cowheap::{Format, Value};
use std::time::{Duration, Instant};

/// Indices into the special objects array.
const SCHEDULER_ASSOCIATION: usize = 3;
const CLASS_SEMAPHORE: usize = 18;
pub(crate) const THE_TIMER_SEMAPHORE: usize = 29;
/// ProcessorScheduler: `quiescentProcessLists`, `activeProcess`.
const PROCESS_LISTS: usize = 0;
const ACTIVE_PROCESS: usize = 1;
/// Link: `nextLink`; Process (a Link): `suspendedContext`, `priority`, `myList`.
const NEXT_LINK: usize = 0;
const SUSPENDED_CONTEXT: usize = 1;
const PRIORITY: usize = 2;
const MY_LIST: usize = 3;
/// LinkedList: `firstLink`, `lastLink`; Semaphore (a LinkedList): `excessSignals`.
const FIRST_LINK: usize = 0;
const LAST_LINK: usize = 1;
const EXCESS_SIGNALS: usize = 2;
/// The root that records that the image ran `Delay startUp` (see `resume_delays`).
const DELAYS_RESUMED: &str = "squeak.delaysResumed";

impl Exec<'_> {
    /// The special object `i`, read through this image (which may have changed the array).
    pub(crate) fn special_object(&mut self, i: usize) -> Result<Value, RunError> {
        let specials = self.image.root("specialObjects")?;
        Ok(self.image.read(specials, i)?)
    }

    /// The image's ProcessorScheduler.
    fn scheduler(&mut self) -> Result<Value, RunError> {
        let assoc = self.special_object(SCHEDULER_ASSOCIATION)?;
        let sched = self.image.read(assoc, ASSOCIATION_VALUE)?;
        if !sched.is_object() || self.image.format_of(sched)? != Format::Pointers {
            return Err(RunError::Unsupported(
                "the image has no ProcessorScheduler (special object 3's value)".into(),
            ));
        }
        Ok(sched)
    }

    /// `Processor activeProcess`.
    pub(crate) fn active_process(&mut self) -> Result<Value, RunError> {
        let sched = self.scheduler()?;
        Ok(self.image.read(sched, ACTIVE_PROCESS)?)
    }

    /// True for an instance of the special objects' Semaphore class.
    pub(crate) fn is_semaphore(&mut self, v: Value) -> Result<bool, RunError> {
        Ok(v.is_object() && self.class_of(v)? == self.special_object(CLASS_SEMAPHORE)?)
    }

    /// True if `sem` has an excess signal to take.
    pub(crate) fn has_excess_signals(&mut self, sem: Value) -> Result<bool, RunError> {
        Ok(self
            .image
            .read(sem, EXCESS_SIGNALS)?
            .as_small_int()
            .is_some_and(|n| n > 0))
    }

    /// True for a process whose fields say it can run: a context to resume and a priority.
    pub(crate) fn is_process(&mut self, v: Value) -> Result<bool, RunError> {
        if !v.is_object()
            || self.image.format_of(v)? != Format::Pointers
            || self.image.shape(v)?.len <= MY_LIST
        {
            return Ok(false);
        }
        let ctx = self.image.read(v, SUSPENDED_CONTEXT)?;
        let ok = ctx.is_object() && {
            let class = self.class_of(ctx)?;
            class == self.sh.method_context || class == self.sh.block_context
        };
        Ok(ok && self.priority(v).is_ok())
    }

    /// A process's priority, checked against the scheduler's lists.
    fn priority(&mut self, process: Value) -> Result<usize, RunError> {
        let lists = self.process_lists()?;
        let n = self.image.size_of(lists)?;
        match self.image.read(process, PRIORITY)?.as_small_int() {
            Some(p) if p >= 1 && p as usize <= n => Ok(p as usize),
            _ => Err(RunError::Malformed(
                "a process's priority is not one of the scheduler's".into(),
            )),
        }
    }

    fn process_lists(&mut self) -> Result<Value, RunError> {
        let sched = self.scheduler()?;
        Ok(self.image.read(sched, PROCESS_LISTS)?)
    }

    fn is_empty_list(&mut self, list: Value) -> Result<bool, RunError> {
        Ok(self.image.read(list, FIRST_LINK)? == self.sh.nil)
    }

    /// Appends `process` to `list` and makes it the process's list.
    fn link_to_list(&mut self, process: Value, list: Value) -> Result<(), RunError> {
        if self.is_empty_list(list)? {
            self.store(list, FIRST_LINK, process)?;
        } else {
            let last = self.image.read(list, LAST_LINK)?;
            self.store(last, NEXT_LINK, process)?;
        }
        self.store(list, LAST_LINK, process)?;
        self.store(process, MY_LIST, list)
    }

    /// Takes the first process off a list that is not empty.
    fn remove_first(&mut self, list: Value) -> Result<Value, RunError> {
        let (first, last) = (
            self.image.read(list, FIRST_LINK)?,
            self.image.read(list, LAST_LINK)?,
        );
        let nil = self.sh.nil;
        if self.identical(first, last)? {
            self.store(list, FIRST_LINK, nil)?;
            self.store(list, LAST_LINK, nil)?;
        } else {
            let next = self.image.read(first, NEXT_LINK)?;
            self.store(list, FIRST_LINK, next)?;
        }
        self.store(first, NEXT_LINK, nil)?;
        Ok(first)
    }

    /// Puts a process on the ready list of its priority.
    fn put_to_sleep(&mut self, process: Value) -> Result<(), RunError> {
        let p = self.priority(process)?;
        let lists = self.process_lists()?;
        let list = self.image.read(lists, p - 1)?;
        self.link_to_list(process, list)
    }

    /// Puts `answer` in place of the receiver and arguments from stack index `ri`: what the
    /// primitive answers, set before a switch saves the stack.
    fn answer_at(&mut self, ri: usize, answer: Value) {
        self.stack.truncate(ri);
        self.stack.push(answer);
    }

    /// Makes `process` the active one: the active process's frames become its
    /// `suspendedContext`, and `process`'s become the frames.
    fn transfer_to(&mut self, process: Value) -> Result<(), RunError> {
        let sched = self.scheduler()?;
        let old = self.image.read(sched, ACTIVE_PROCESS)?;
        let suspended = self.suspend_frames()?;
        self.store(old, SUSPENDED_CONTEXT, suspended)?;
        self.store(sched, ACTIVE_PROCESS, process)?;
        let ctx = self.image.read(process, SUSPENDED_CONTEXT)?;
        let nil = self.sh.nil;
        self.store(process, SUSPENDED_CONTEXT, nil)?;
        let run_process = *self.run_process.get_or_insert(old);
        self.foreign = !self.identical(process, run_process)?;
        self.resume_frames(ctx)
    }

    /// The ready process of the highest priority, taken off its list. With none, the image
    /// waits for its timer (which readies a process or not); with no timer pending either,
    /// nothing can ever run again: [`RunError::Deadlock`].
    fn wake_highest(&mut self, waiting: &str) -> Result<Value, RunError> {
        loop {
            if self.wakeup.is_some_and(|ms| millisecond_clock() > ms) {
                self.fire_timer(false)?;
            }
            let lists = self.process_lists()?;
            for p in (0..self.image.size_of(lists)?).rev() {
                let list = self.image.read(lists, p)?;
                if !self.is_empty_list(list)? {
                    return self.remove_first(list);
                }
            }
            match self.wakeup {
                Some(ms) => self.sleep_until(instant_after_ms(ms))?,
                None => {
                    return Err(RunError::Deadlock {
                        waiting: waiting.into(),
                    })
                }
            }
        }
    }

    /// Makes `process` ready: it runs now if its priority is above the active process's
    /// (which goes back to its ready list), else it joins its own ready list. `answer`, if
    /// any, is the primitive's answer to leave on the stack first. True if it switched.
    pub(crate) fn resume_process(
        &mut self,
        process: Value,
        answer: Option<(usize, Value)>,
    ) -> Result<bool, RunError> {
        let active = self.active_process()?;
        if self.priority(process)? > self.priority(active)? {
            if let Some((ri, v)) = answer {
                self.answer_at(ri, v);
            }
            self.put_to_sleep(active)?;
            self.transfer_to(process)?;
            Ok(true)
        } else {
            self.put_to_sleep(process)?;
            Ok(false)
        }
    }

    /// `sem signal`: wakes its first waiting process (see [`resume_process`](Exec::resume_process)) or
    /// counts an excess signal. `switch` false only readies the process (when there is no
    /// active process to compare with, in the middle of a switch). True if it switched.
    pub(crate) fn signal_semaphore(
        &mut self,
        sem: Value,
        answer: Option<(usize, Value)>,
        switch: bool,
    ) -> Result<bool, RunError> {
        if self.is_empty_list(sem)? {
            let excess = self
                .image
                .read(sem, EXCESS_SIGNALS)?
                .as_small_int()
                .unwrap_or(0);
            self.store(sem, EXCESS_SIGNALS, int((excess + 1).min(MAX_INT)))?;
            return Ok(false);
        }
        let process = self.remove_first(sem)?;
        if switch {
            self.resume_process(process, answer)
        } else {
            self.put_to_sleep(process)?;
            Ok(false)
        }
    }

    /// `sem wait`, its answer `sem` at stack index `ri`: takes an excess signal, or the active
    /// process waits on `sem` and the highest ready process runs. True if it switched.
    pub(crate) fn wait_on(&mut self, sem: Value, ri: usize) -> Result<bool, RunError> {
        let excess = self.image.read(sem, EXCESS_SIGNALS)?.as_small_int();
        if let Some(n) = excess.filter(|&n| n > 0) {
            self.store(sem, EXCESS_SIGNALS, int(n - 1))?;
            return Ok(false);
        }
        self.answer_at(ri, sem);
        let active = self.active_process()?;
        self.link_to_list(active, sem)?;
        let next = self.wake_highest("the evaluating process waits on a Semaphore")?;
        self.transfer_to(next)?;
        Ok(true)
    }

    /// `Processor activeProcess suspend`, answering nil at `ri`: the highest ready process
    /// runs.
    pub(crate) fn suspend_active(&mut self, ri: usize) -> Result<(), RunError> {
        let nil = self.sh.nil;
        self.answer_at(ri, nil);
        let next = self.wake_highest("the last running process suspended itself")?;
        self.transfer_to(next)
    }

    /// `Processor yield` (primitive 167), answering the receiver at `ri`: the active process
    /// goes to the back of its ready list if another process of its priority is ready. True
    /// if it switched.
    pub(crate) fn yield_active(&mut self, ri: usize) -> Result<bool, RunError> {
        let active = self.active_process()?;
        let p = self.priority(active)?;
        let lists = self.process_lists()?;
        let list = self.image.read(lists, p - 1)?;
        if self.is_empty_list(list)? {
            return Ok(false);
        }
        let rcvr = self.stack[ri];
        self.answer_at(ri, rcvr);
        self.put_to_sleep(active)?;
        let next = self.wake_highest("yield")?;
        self.transfer_to(next)?;
        Ok(true)
    }

    /// Primitive 136's effect: `sem` (a Semaphore, else the timer is cancelled) is signalled
    /// once the clock has passed `ms`.
    pub(crate) fn signal_at(&mut self, sem: Value, ms: i64) -> Result<(), RunError> {
        let specials = self.image.root("specialObjects")?;
        if self.is_semaphore(sem)? {
            self.store(specials, THE_TIMER_SEMAPHORE, sem)?;
            self.set_timer(Some(ms));
        } else {
            let nil = self.sh.nil;
            self.store(specials, THE_TIMER_SEMAPHORE, nil)?;
            self.set_timer(None);
        }
        Ok(())
    }

    /// The timer is due: it is disarmed and its semaphore signalled (`switch`: as a running
    /// process would, which may switch; else the woken process only becomes ready). True if
    /// it switched.
    pub(crate) fn fire_timer(&mut self, switch: bool) -> Result<bool, RunError> {
        self.set_timer(None);
        let sem = self.special_object(THE_TIMER_SEMAPHORE)?;
        if self.is_semaphore(sem)? {
            self.signal_semaphore(sem, None, switch)
        } else {
            Ok(false)
        }
    }

    /// `relinquishProcessorForMicroseconds:` (primitive 230), what the idle process calls
    /// when every other process waits: the thread sleeps for `micros` at most, or until the
    /// timer is due, which it then signals (a process waiting on it runs, being of a higher
    /// priority). With no timer pending and no other process ready, nothing could ever run
    /// again. True if it switched.
    pub(crate) fn relinquish_processor(
        &mut self,
        ri: usize,
        micros: u64,
    ) -> Result<bool, RunError> {
        let until = Instant::now() + Duration::from_micros(micros);
        let wakeup = self.wakeup;
        let until = match wakeup {
            Some(ms) => until.min(instant_after_ms(ms)),
            None if self.any_ready()? => until,
            None => {
                return Err(RunError::Deadlock {
                    waiting: "only the idle process is left to run".into(),
                })
            }
        };
        self.sleep_until(until)?;
        if self.wakeup.is_none_or(|ms| millisecond_clock() <= ms) {
            return Ok(false);
        }
        let rcvr = self.stack[ri];
        self.answer_at(ri, rcvr);
        self.fire_timer(true)
    }

    /// True if some process is on a ready list.
    fn any_ready(&mut self) -> Result<bool, RunError> {
        let lists = self.process_lists()?;
        for p in 0..self.image.size_of(lists)? {
            let list = self.image.read(lists, p)?;
            if !self.is_empty_list(list)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The first time a process of this image would block, the image first runs its own
    /// `Delay startUp`, which the real VM ran when it resumed the snapshot (see the module's
    /// comment): true if it must now (the image has a `Delay` that understands `startUp` and
    /// did not run it yet), and from then on false for this image.
    pub(crate) fn delays_need_resuming(&mut self) -> Result<bool, RunError> {
        if self.sh.delay_startup.is_none() || self.image.root(DELAYS_RESUMED).is_ok() {
            return Ok(false);
        }
        let t = self.sh.true_object;
        self.image.set_root(DELAYS_RESUMED, t)?;
        Ok(true)
    }

    /// Runs `Delay startUp` and then `sem wait` again, in place of the `wait` whose receiver
    /// is at `ri`: pushes the frame of a method `[Delay startUp. ^self wait]` for `sem`, made
    /// here, whose answer becomes the `wait` send's. (Primitives sit below the dispatch loop,
    /// so they cannot run Smalltalk and come back; a frame does it.)
    pub(crate) fn resume_delays_then_wait(&mut self, ri: usize) -> Result<(), RunError> {
        let Some((delay, startup, wait)) = self.sh.delay_startup else {
            return Err(RunError::Unsupported(
                "the image has no Delay startUp".into(),
            ));
        };
        // push Delay; send startUp; pop; push self; send wait; return top.
        let code = [64, 209, 135, 112, 210, 124];
        let header = int(3 << 9);
        let m = self.image.new_method(
            self.sh.compiled_method,
            &[header, delay, startup, wait],
            &code,
        )?;
        self.image
            .set_language_format(m, 12 | ((4 - code.len() % 4) % 4) as u8)?;
        self.check_allocation()?;
        let m = self.cache.method(self.image, self.sh, m)?;
        self.stack.truncate(ri + 1);
        self.check_depth()?;
        self.frames.push(Frame {
            receiver: self.stack[ri],
            method: m,
            pc: 0,
            bp: ri,
            ctx: None,
            block: None,
        });
        Ok(())
    }
}
