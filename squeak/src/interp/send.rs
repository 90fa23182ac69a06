//! Sends, activations and returns: what a send bytecode does after the dispatch loop has
//! named the selector, and how a frame gives its answer back. Also the image's way out when
//! a method would open a debugger, and the class names that reports use.

use std::rc::Rc;

use super::execute::{int, underflow, Exec, Flow, Frame, Prim};
use super::method::Method;
use super::special::ASSOCIATION_VALUE;
use super::RunError;
use cowheap::{Image, Value};

impl Exec<'_> {
    /// Where a super send in `m` starts looking: the superclass of the class in the method's
    /// last literal (an Association `#Name -> Class`, as the V3 compiler leaves it).
    pub(crate) fn super_class(&mut self, m: &Method) -> Result<Value, RunError> {
        let assoc = *m.literals.last().ok_or_else(|| {
            RunError::Malformed("a super send in a method without literals".into())
        })?;
        let class = self.image.read(assoc, ASSOCIATION_VALUE)?;
        Ok(self.image.read(class, super::special::CLASS_SUPERCLASS)?)
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
            return Err(self.dnu(selector, receiver));
        };
        self.invoke(m, ri, nargs)
    }

    pub(crate) fn dnu(&mut self, selector: Value, receiver: Value) -> RunError {
        let selector = self
            .image
            .bytes(selector)
            .map(|b| b.into_iter().map(char::from).collect())
            .unwrap_or_else(|_| format!("{selector:?}"));
        RunError::DoesNotUnderstand {
            selector,
            class: self.class_name_of(receiver),
        }
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
            let receiver = self.stack[ri];
            let quick = match m.primitive {
                256 => Some(receiver),
                257 => Some(self.sh.true_object),
                258 => Some(self.sh.false_object),
                259 => Some(self.sh.nil),
                260..=263 => Some(int(m.primitive as i64 - 261)),
                264..=519 => Some(self.image.read(receiver, m.primitive as usize - 264)?),
                _ => None,
            };
            let answer = match quick {
                Some(v) => Prim::Answer(v),
                None => self.primitive(m.primitive, ri, nargs)?,
            };
            match answer {
                Prim::Answer(v) => {
                    self.stack.truncate(ri);
                    self.stack.push(v);
                    return Ok(Flow::Same);
                }
                Prim::Switched => return Ok(Flow::Switched),
                Prim::Fail => self.last_failed_primitive = m.primitive,
            }
        }
        if let Some(arg) = m.stop {
            return Err(self.smalltalk_error(ri, arg));
        }
        self.activate(m, ri)?;
        Ok(Flow::Switched)
    }

    pub(crate) fn smalltalk_error(&mut self, ri: usize, arg: Option<usize>) -> RunError {
        let message = if let Some(&arg) = arg.and_then(|k| self.stack.get(ri + 1 + k)) {
            match self.image.bytes(arg) {
                Ok(b) => b.into_iter().map(char::from).collect(),
                Err(_) => format!("{arg:?}"),
            }
        } else {
            "halt".to_owned()
        };
        let message = match self.last_failed_primitive {
            0 => message,
            p => format!("{message} (the last primitive that failed was {p})"),
        };
        RunError::SmalltalkError { message }
    }

    /// Pushes a frame for `m` with its receiver at stack index `ri` and its arguments above.
    #[inline(always)]
    pub(crate) fn activate(&mut self, m: Rc<Method>, ri: usize) -> Result<(), RunError> {
        if self.frames.len() >= self.limits.depth {
            return Err(RunError::DepthLimit {
                limit: self.limits.depth,
            });
        }
        let extra = m.num_temps - m.num_args;
        let nil = self.sh.nil;
        self.stack.extend(std::iter::repeat_n(nil, extra));
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
        if v.is_object() && !self.pool.idle() {
            self.pool.note_return(v, from.checked_sub(1));
        }
        while self.frames.len() > from {
            let f = self.frames.pop().ok_or_else(underflow)?;
            if f.block.is_none() {
                if let Some(c) = f.ctx {
                    self.context_returned(c)?;
                }
            }
            if !self.pool.idle() {
                self.pool.release(self.frames.len());
            }
            if self.frames.len() == from {
                self.stack.truncate(f.bp);
            }
        }
        if self.frames.is_empty() {
            return Ok(Some(v));
        }
        self.stack.push(v);
        Ok(None)
    }

    /// The frame a `^` in block frame `top` returns from: its home context's.
    pub(crate) fn home_frame(&mut self, top: usize) -> Result<usize, RunError> {
        let home = self.frames[top].ctx;
        (0..top)
            .rev()
            .find(|&i| self.frames[i].block.is_none() && self.frames[i].ctx == home)
            .ok_or(RunError::CannotReturn)
    }

    /// The class name of an object, for reports.
    pub(crate) fn class_name_of(&mut self, v: Value) -> String {
        match self.class_of(v) {
            Ok(c) => self.class_name(c),
            Err(e) => format!("<{e}>"),
        }
    }

    pub(crate) fn class_name(&mut self, class: Value) -> String {
        let name = |image: &mut Image, c: Value, slot: usize| -> Option<String> {
            let n = image.read(c, slot).ok()?;
            let b = image.bytes(n).ok()?;
            Some(b.into_iter().map(char::from).collect())
        };
        if let Some(n) = name(self.image, class, self.sh.class_name_slot) {
            return n;
        }
        if let Ok(this) = self.image.read(class, self.sh.this_class_slot) {
            if let Some(n) = name(self.image, this, self.sh.class_name_slot) {
                return n + " class";
            }
        }
        format!("{class:?}")
    }

    /// Stops the image if its private space outgrew the cap.
    pub(crate) fn check_allocation(&self) -> Result<(), RunError> {
        let bytes = self.image.private_bytes();
        if bytes > self.limits.private_bytes {
            Err(RunError::AllocationLimit {
                limit: self.limits.private_bytes,
                bytes,
            })
        } else {
            Ok(())
        }
    }
}
