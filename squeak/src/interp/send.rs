//! Sends, activations and returns: what a send bytecode does after the dispatch loop has
//! named the selector (look the method up, run its primitive from the table, else push its
//! frame), and how a frame gives its answer back. A `perform:` comes back from the table as
//! [`Prim::Perform`] and is invoked here, so that the primitives below never call a send.

use std::rc::Rc;

use super::limits::RunError;
use super::method::{Hook, Method};
use super::primitives::{self, control, Prim};
use super::special::{ASSOCIATION_VALUE, CLASS_SUPERCLASS};
use super::state::{underflow, Exec, Frame};
use cowheap::Value;

/// What a send did to the frame stack.
pub(crate) enum Flow {
    /// A primitive answered; the same frame goes on.
    Same,
    /// A frame was pushed or popped.
    Switched,
}

impl Exec<'_> {
    /// Where a super send in `m` starts looking: the superclass of the class in the method's
    /// last literal (an Association `#Name -> Class`, as the V3 compiler leaves it).
    pub(crate) fn super_class(&mut self, m: &Method) -> Result<Value, RunError> {
        let assoc = *m.literals.last().ok_or_else(|| {
            RunError::Malformed("a super send in a method without literals".into())
        })?;
        let class = self.image.read(assoc, ASSOCIATION_VALUE)?;
        Ok(self.image.read(class, CLASS_SUPERCLASS)?)
    }

    /// Sends `selector` to the receiver under its `nargs` arguments on the stack.
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        selector: Value,
        nargs: usize,
        lookup_class: Option<Value>,
    ) -> Result<Flow, RunError> {
        self.sends += 1;
        let ri = self
            .stack
            .len()
            .checked_sub(nargs + 1)
            .ok_or_else(underflow)?;
        let receiver = self.stack[ri];
        let class = match lookup_class {
            Some(c) => c,
            None => self.class_of(receiver)?,
        };
        let Some(m) = self.cache.lookup(self.image, self.sh, class, selector)? else {
            let m = self.not_understood(class, selector, ri, nargs)?;
            return self.invoke(m, ri, 1);
        };
        self.invoke(m, ri, nargs)
    }

    /// The stop of the image's default `doesNotUnderstand:`, activated with its receiver at
    /// `ri`: the typed doesNotUnderstand of its Message's selector (or of the argument
    /// itself, for an explicit send with something else).
    #[inline(never)]
    fn default_not_understood(&mut self, ri: usize) -> RunError {
        let receiver = self.stack[ri];
        let Some(&arg) = self.stack.get(ri + 1) else {
            return underflow();
        };
        let is_message = match self.sh.message {
            Some(message) => arg.is_object() && self.class_is(arg, message).unwrap_or(false),
            None => false,
        };
        let selector = if is_message {
            self.image.read(arg, 0).unwrap_or(arg)
        } else {
            arg
        };
        self.dnu(selector, receiver)
    }

    /// Runs a looked-up method: its primitive if it has one and that succeeds, else its code.
    #[inline(always)]
    pub(crate) fn invoke(
        &mut self,
        m: Rc<Method>,
        ri: usize,
        nargs: usize,
    ) -> Result<Flow, RunError> {
        if m.num_args != nargs {
            return Err(RunError::Malformed(format!(
                "a method of {} arguments sent with {nargs}",
                m.num_args
            )));
        }
        if m.primitive != 0 {
            let answer = match control::quick_return(self, m.primitive, ri)? {
                Some(v) => Prim::Answer(v),
                None => primitives::primitive(self, m.primitive, ri, nargs)?,
            };
            match answer {
                Prim::Answer(v) => {
                    self.stack.truncate(ri);
                    self.stack.push(v);
                    return Ok(Flow::Same);
                }
                Prim::Switched => return Ok(Flow::Switched),
                Prim::Perform(performed, n) => return self.invoke_performed(performed, ri, n),
                Prim::Fail => self.last_failed_primitive = m.primitive,
            }
        }
        match m.hook {
            None => {}
            Some(Hook::Stop(arg)) => return Err(self.smalltalk_error(ri, arg, m.oop)),
            Some(Hook::TranscriptEntry) => self.transcript_entry(ri)?,
            Some(Hook::NotUnderstood) => return Err(self.default_not_understood(ri)),
        }
        self.activate(m, ri)?;
        Ok(Flow::Switched)
    }

    /// Invokes the method a `perform:` found, its receiver at `ri` and its arguments in
    /// place: out of line, so that the send's own path stays as it was.
    #[inline(never)]
    fn invoke_performed(
        &mut self,
        m: Rc<Method>,
        ri: usize,
        nargs: usize,
    ) -> Result<Flow, RunError> {
        self.invoke(m, ri, nargs)
    }

    /// Pushes a frame for `m` with its receiver at stack index `ri` and its arguments above.
    #[inline(always)]
    pub(crate) fn activate(&mut self, m: Rc<Method>, ri: usize) -> Result<(), RunError> {
        self.check_depth()?;
        let extra = m.num_temps - m.num_args;
        if extra != 0 {
            let nil = self.sh.nil;
            self.stack.resize(self.stack.len() + extra, nil);
        }
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

    /// Returns `v` from frame `from` to its sender, dropping every frame above it. Answers the
    /// value when the bottom frame returned.
    #[inline(always)]
    pub(crate) fn return_from(&mut self, from: usize, v: Value) -> Result<Option<Value>, RunError> {
        let mut frames = std::mem::take(&mut self.frames);
        let popped = self.pop_frames(&mut frames, from, v);
        self.frames = frames;
        if let Some(bp) = popped? {
            self.stack.truncate(bp);
        }
        if self.frames.is_empty() {
            // Only the evaluating process's bottom frame answers the run (see
            // `scheduler.rs`); another process's has no sender to return to.
            if self.foreign {
                return Err(RunError::CannotReturn);
            }
            return Ok(Some(v));
        }
        self.stack.push(v);
        Ok(None)
    }

    /// [`return_from`](Exec::return_from)'s frames: pops those of `frames` above `from`, each
    /// context marked returned and each BlockContext able to run again, the context pool
    /// told, and answers the stack index of the last one popped (where the answer goes), if
    /// any. The dispatch loop calls it with its own frames.
    pub(crate) fn pop_frames(
        &mut self,
        frames: &mut Vec<Frame>,
        from: usize,
        v: Value,
    ) -> Result<Option<usize>, RunError> {
        if v.is_object() && !self.pool.idle() {
            self.pool.note_return(v, from.checked_sub(1));
        }
        let mut bp = None;
        while frames.len() > from {
            let f = frames.pop().ok_or_else(underflow)?;
            match f.block {
                None => {
                    if let Some(c) = f.ctx {
                        self.context_returned(c)?;
                    }
                }
                // A BlockContext may run again; a BlockClosure's first field is its outer
                // context, not a caller, and a closure is never marked running.
                Some(b) => {
                    if self.sh.block_closure.is_none() || !self.is_closure(b)? {
                        self.block_returned(b)?;
                    }
                }
            }
            if !self.pool.idle() {
                self.pool.release(frames.len());
            }
            bp = Some(f.bp);
        }
        Ok(bp)
    }

    /// The frame a `^` in block frame `top` returns from: its home context's (a V3 block
    /// frame's context, the end of a closure's outer context chain).
    pub(crate) fn home_frame(&mut self, top: usize) -> Result<usize, RunError> {
        let f = &self.frames[top];
        let home = self.block_home(f.block, f.ctx)?;
        frame_of(&self.frames, top, home)
    }

    /// The context whose frame a `^` in a block frame returns from, from the frame's block
    /// and context.
    pub(crate) fn block_home(
        &mut self,
        block: Option<Value>,
        ctx: Option<Value>,
    ) -> Result<Option<Value>, RunError> {
        Ok(match block {
            Some(b) if self.is_closure(b)? => Some(self.closure_home(b)?),
            _ => ctx,
        })
    }
}

/// The method frame below `top` of `frames` whose context is `home` (the run's frames, or the
/// dispatch loop's own).
pub(crate) fn frame_of(
    frames: &[Frame],
    top: usize,
    home: Option<Value>,
) -> Result<usize, RunError> {
    (0..top)
        .rev()
        .find(|&i| frames[i].block.is_none() && frames[i].ctx == home)
        .ok_or(RunError::CannotReturn)
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::RunError;
    use crate::interp::tests::{int, Run};

    const MAX: i64 = (1 << 30) - 1;

    #[test]
    fn a_send_binds_arguments_and_nils_the_temporaries() {
        let mut r = Run::new();
        let pair_class = r.t.pair;
        // with: a with: b  | t |  t := a - b. ^t
        r.define(
            pair_class,
            "with:with:",
            &[],
            3,
            2,
            0,
            &[16, 17, 177, 106, 18, 124],
        );
        // answer  | t |  ^t
        r.define(pair_class, "answer", &[], 1, 0, 0, &[16, 124]);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        let ww = r.sym("with:with:");
        assert_eq!(
            r.run(pair, &[int(10), int(3), ww], 0, &[112, 32, 33, 242, 124]),
            Ok(int(7))
        );
        assert_eq!(r.send(pair, "with:with:", &[int(1), int(5)]), Ok(int(-4)));
        assert_eq!(r.send(pair, "answer", &[]), Ok(r.nil()));
        // The returns: self, true, false, nil.
        let returns = [(120, pair), (121, r.boolean(true)), (122, r.boolean(false))];
        for (b, want) in returns {
            r.define(pair_class, "foo", &[], 0, 0, 0, &[b]);
            assert_eq!(r.send(pair, "foo", &[]), Ok(want));
        }
        // A method sent with the wrong number of arguments makes no sense.
        r.define(pair_class, "foo", &[], 1, 1, 0, &[120]);
        assert!(matches!(
            r.send(pair, "foo", &[]),
            Err(RunError::Malformed(_))
        ));
    }

    #[test]
    fn super_starts_above_the_method_class_and_misses_are_not_understood() {
        let mut r = Run::new();
        let (object, pair_class) = (r.t.k.object, r.t.pair);
        r.define(object, "foo", &[], 0, 0, 0, &[118, 124]);
        r.define(pair_class, "foo", &[], 0, 0, 0, &[119, 124]);
        let foo = r.sym("foo");
        let class_assoc = r.association("Pair", pair_class);
        r.define(
            pair_class,
            "bar",
            &[foo, class_assoc],
            0,
            0,
            0,
            &[112, 133, 0, 124],
        );
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(r.send(pair, "foo", &[]), Ok(int(2)));
        assert_eq!(r.send(pair, "bar", &[]), Ok(int(1)));
        assert_eq!(
            r.send(pair, "unknown", &[]),
            Err(RunError::DoesNotUnderstand {
                selector: "unknown".into(),
                class: "Pair".into()
            })
        );
    }

    #[test]
    fn a_failed_primitive_runs_the_fallback_and_error_stops_the_image() {
        let mut r = Run::new();
        let small_integer = r.t.k.small_integer;
        let message = r.string("overflow");
        let error = r.sym("error:");
        // SmallInteger>>+ aNumber <primitive: 1> ^self error: 'overflow'
        r.define(
            small_integer,
            "+",
            &[message, error],
            1,
            1,
            1,
            &[112, 32, 225, 124],
        );
        assert_eq!(r.send(int(3), "+", &[int(4)]), Ok(int(7)));
        let stop = Err(RunError::SmalltalkError {
            message: "overflow (the last primitive that failed was 1)".into(),
        });
        assert_eq!(r.send(int(MAX), "+", &[int(1)]), stop);
        // The bytecode's fast path gives up at the same place, and sends.
        assert_eq!(r.run(int(MAX), &[], 0, &[112, 118, 176, 124]), stop);
        // halt.
        let pair_class = r.t.pair;
        let halt = r.sym("halt");
        r.define(pair_class, "foo", &[halt], 0, 0, 0, &[112, 208, 124]);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(
            r.send(pair, "foo", &[]),
            Err(RunError::SmalltalkError {
                message: "halt".into()
            })
        );
    }

    #[test]
    fn recursion_meets_the_depth_limit() {
        let mut r = Run::new();
        let pair_class = r.t.pair;
        let deep = r.sym("deep");
        r.define(pair_class, "deep", &[deep], 0, 0, 0, &[112, 208, 124]);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(
            r.send(pair, "deep", &[]),
            Err(RunError::DepthLimit { limit: 1000 })
        );
    }

    #[test]
    fn a_block_returns_from_its_home_and_not_after_it_returned() {
        let mut r = Run::new();
        r.install_blocks();
        let pair_class = r.t.pair;
        // answer  [^42] value. ^7
        let code = [137, 117, 200, 164, 3, 32, 124, 125, 201, 135, 33, 124];
        r.define(pair_class, "answer", &[int(42), int(7)], 0, 0, 0, &code);
        // escape  ^[^42]
        let code = [137, 117, 200, 164, 2, 32, 124, 124];
        r.define(pair_class, "escape", &[int(42)], 0, 0, 0, &code);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(r.send(pair, "answer", &[]), Ok(int(42)));
        let block = r.send(pair, "escape", &[]).unwrap();
        assert_eq!(r.send(block, "value", &[]), Err(RunError::CannotReturn));
    }
}
