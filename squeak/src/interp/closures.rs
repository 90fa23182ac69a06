//! BlockClosures, the blocks of closure images (formats 6504 and 6505): making one (bytecode
//! 143), the temp vectors that outer and inner blocks share (138, 140-142), entering a
//! closure's frame (primitives 201-206), and the home a `^` in it returns from.
//!
//! A closure's frame is a frame of its home method of its own, not a view of the home's
//! temporaries as a V3 block's is: its temporaries are its arguments, then its copied values,
//! then what its first bytecodes push (its own temporaries, nil or a new temp vector), all on
//! the frame's stack from `bp + 1` on, as a method frame's. The frame's `block` names the
//! closure, which is how the layers above tell it from a method frame: a `^` in it returns
//! from the home context, the end of the closure outer context chain (`outerContext`, then
//! that context's `closureOrNil`'s, until a context without one). Shared state is explicit in
//! closure code (copied values, temp vectors), so nothing but that identity needs the outer
//! context: it is made (`contexts.rs`) when the closure is, as on a real VM.
//!
//! This layer sits between the contexts below it (which make the outer context) and the
//! primitives and the dispatch loop above it.

use super::contexts::{CLOSURE, METHOD, RECEIVER};
use super::limits::RunError;
use super::state::{int, Exec, Frame};
use cowheap::Value;

/// BlockClosure fields: `outerContext`, `startpc`, `numArgs`, then the copied values.
pub(crate) const OUTER_CONTEXT: usize = 0;
pub(crate) const STARTPC: usize = 1;
pub(crate) const NUM_ARGS: usize = 2;
pub(crate) const FIRST_COPIED: usize = 3;

/// The longest outer context chain a `^` follows (a chain that loops is malformed).
const MAX_OUTER_CHAIN: usize = 1 << 16;

impl Exec<'_> {
    /// The image's BlockClosure class, or the stop that says the image has none.
    fn closure_class(&self) -> Result<Value, RunError> {
        self.sh.block_closure.ok_or_else(|| {
            RunError::Unsupported(
                "a closure bytecode in an image without a BlockClosure class (special object 36)"
                    .into(),
            )
        })
    }

    /// Bytecode 143 in frame `top`, whose pc is saved past the whole bytecode: a BlockClosure
    /// of `nargs` arguments whose code starts at bytecode index `start`, with the `ncopied`
    /// values on top of the stack (popped) as its copied values, and the frame's context as
    /// its outer context. Like a V3 block it is pushed on the frame's stack and tracked at
    /// its depth by the context pool.
    pub(crate) fn push_closure(
        &mut self,
        top: usize,
        nargs: usize,
        ncopied: usize,
        start: usize,
    ) -> Result<(), RunError> {
        let class = self.closure_class()?;
        let from = self
            .stack
            .len()
            .checked_sub(ncopied)
            .ok_or_else(super::state::underflow)?;
        let outer = self.this_context(top, false)?;
        let m = &self.frames[top].method;
        let mut slots = Vec::with_capacity(FIRST_COPIED + ncopied);
        slots.extend([outer, int(m.v3_pc(start)), int(nargs as i64)]);
        slots.extend_from_slice(&self.stack[from..]);
        self.stack.truncate(from);
        let closure = self.new_context(class, slots.len(), &slots, Some(top))?;
        self.check_allocation()?;
        self.stack.push(closure);
        Ok(())
    }

    /// Bytecode 138: a new Array of `n` nils, or of the `n` values on top of the stack
    /// (popped, the deepest first) when `pop`: a temp vector, or a brace array.
    pub(crate) fn push_new_array(&mut self, n: usize, pop: bool) -> Result<(), RunError> {
        let values = if pop {
            let from = self
                .stack
                .len()
                .checked_sub(n)
                .ok_or_else(super::state::underflow)?;
            self.stack.split_off(from)
        } else {
            vec![self.sh.nil; n]
        };
        let array = self.image.new_pointers(self.sh.array, &values)?;
        self.image.set_language_format(array, 2)?;
        self.note_held(array, &values);
        self.check_allocation()?;
        self.stack.push(array);
        Ok(())
    }

    /// Runs the BlockClosure `closure` (at stack index `ri`, its `nargs` arguments above it)
    /// in a new frame: its home method from the closure's start, its outer context's
    /// receiver, its copied values pushed after the arguments. `false` (nothing done) if it
    /// is no closure or was made for another number of arguments.
    pub(crate) fn enter_closure(
        &mut self,
        closure: Value,
        ri: usize,
        nargs: usize,
    ) -> Result<bool, RunError> {
        if !self.is_closure(closure)?
            || self.image.read(closure, NUM_ARGS)?.as_small_int() != Some(nargs as i64)
        {
            return Ok(false);
        }
        let outer = self.image.read(closure, OUTER_CONTEXT)?;
        if !outer.is_object() || !self.class_is(outer, self.sh.method_context)? {
            return Ok(false);
        }
        let method = self.image.read(outer, METHOD)?;
        let receiver = self.image.read(outer, RECEIVER)?;
        let start = self.image.read(closure, STARTPC)?;
        let (m, pc) = self.block_start(method, start, "closure")?;
        self.check_depth()?;
        let copied = self.image.size_of(closure)?.saturating_sub(FIRST_COPIED);
        for i in 0..copied {
            let v = self.image.read(closure, FIRST_COPIED + i)?;
            self.stack.push(v);
        }
        self.frames.push(Frame {
            method: m,
            pc,
            bp: ri,
            receiver,
            ctx: None,
            block: Some(closure),
        });
        Ok(true)
    }

    /// The home context of `closure`: the end of its outer context chain.
    pub(crate) fn closure_home(&mut self, closure: Value) -> Result<Value, RunError> {
        let mut ctx = self.image.read(closure, OUTER_CONTEXT)?;
        for _ in 0..MAX_OUTER_CHAIN {
            if !ctx.is_object() || !self.class_is(ctx, self.sh.method_context)? {
                return Err(RunError::Malformed(
                    "a closure's outer context is not a MethodContext".into(),
                ));
            }
            let inner = self.image.read(ctx, CLOSURE)?;
            if inner == self.sh.nil {
                return Ok(ctx);
            }
            ctx = self.image.read(inner, OUTER_CONTEXT)?;
        }
        Err(RunError::Malformed(
            "a closure's outer context chain does not end".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::tests::{int, Run};

    #[test]
    fn a_closure_gets_its_arguments_and_copied_values_in_a_frame_of_its_own() {
        let mut r = Run::new();
        r.install_closures();
        let nil = r.nil();
        // | k | k := 3. [:a | a + k] value: 4
        let code = [32, 104, 16, 143, 0x11, 0, 4, 16, 17, 176, 125, 33, 202, 124];
        assert_eq!(r.run(nil, &[int(3), int(4)], 1, &code), Ok(int(7)));
        // The same closure sent value: fails into the fallback; valueWithArguments: spreads.
        let bar = r.sym("bar");
        let code = [32, 104, 16, 143, 0x11, 0, 4, 16, 17, 176, 125, 201, 124];
        assert_eq!(r.run(nil, &[int(3)], 1, &code), Ok(bar));
        let vwa = r.sym("valueWithArguments:");
        let args = r.array(&[int(10)]);
        let code = [32, 104, 16, 143, 0x11, 0, 4, 16, 17, 176, 125, 34, 225, 124];
        assert_eq!(r.run(nil, &[int(3), vwa, args], 1, &code), Ok(int(13)));
        let two = r.array(&[int(1), int(2)]);
        assert_eq!(r.run(nil, &[int(3), vwa, two], 1, &code), Ok(bar));
    }

    #[test]
    fn a_temp_vector_is_shared_between_a_frame_and_its_closures() {
        let mut r = Run::new();
        r.install_closures();
        let nil = r.nil();
        // | v | v := Array new: 1. [v at: 1 put: 5] value. ^v at: 1   (remote temps)
        let code = [
            138, 1, 104, 16, 143, 0x10, 0, 5, 32, 141, 0, 0, 125, 201, 135, 140, 0, 0, 124,
        ];
        assert_eq!(r.run(nil, &[int(5)], 1, &code), Ok(int(5)));
        // Pop-and-store (142) leaves the value out; the vector's element holds it.
        let code = [
            138, 1, 104, 16, 143, 0x10, 0, 6, 32, 142, 0, 0, 115, 125, 201, 135, 140, 0, 0, 124,
        ];
        assert_eq!(r.run(nil, &[int(6)], 1, &code), Ok(int(6)));
        // {1. 2}: 138 with the pop bit takes the values off the stack, deepest first.
        let array = r.run(nil, &[], 0, &[118, 119, 138, 0x82, 124]).unwrap();
        assert_eq!(r.image.class_of(array).unwrap(), r.t.k.array);
        assert_eq!(r.image.read(array, 0).unwrap(), int(1));
        assert_eq!(r.image.read(array, 1).unwrap(), int(2));
        assert_eq!(r.image.size_of(array).unwrap(), 2);
    }

    #[test]
    fn a_return_in_a_closure_leaves_its_home_and_not_after_the_home_returned() {
        let mut r = Run::new();
        r.install_closures();
        let pair_class = r.t.pair;
        // answer  [:x | ^x] value: 42. ^7
        let code = [143, 0x01, 0, 2, 16, 124, 32, 202, 135, 33, 124];
        r.define(pair_class, "answer", &[int(42), int(7)], 0, 0, 0, &code);
        // escape  ^[:x | ^x]
        let code = [143, 0x01, 0, 2, 16, 124, 124];
        r.define(pair_class, "escape", &[], 0, 0, 0, &code);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(r.send(pair, "answer", &[]), Ok(int(42)));
        let closure = r.send(pair, "escape", &[]).unwrap();
        assert_eq!(r.image.class_of(closure).unwrap(), r.t.block_closure);
        assert_eq!(r.image.read(closure, NUM_ARGS).unwrap(), int(1));
        assert_eq!(
            r.send(closure, "value:", &[int(5)]),
            Err(RunError::CannotReturn)
        );
        // A block return (125) answers to the closure's caller, not the home's.
        let code = [143, 0x01, 0, 2, 16, 125, 32, 202, 135, 33, 124];
        r.define(pair_class, "answer", &[int(42), int(7)], 0, 0, 0, &code);
        assert_eq!(r.send(pair, "answer", &[]), Ok(int(7)));
    }

    #[test]
    fn this_context_in_a_closure_is_a_method_context_that_names_it() {
        let mut r = Run::new();
        r.install_closures();
        let (nil, object) = (r.nil(), r.t.k.object);
        let m = r.define(
            object,
            "foo",
            &[],
            0,
            0,
            0,
            &[143, 0, 0, 2, 137, 125, 201, 124],
        );
        let ctx = r.send(nil, "foo", &[]).unwrap();
        assert_eq!(r.image.class_of(ctx).unwrap(), r.t.method_context);
        assert_eq!(r.image.read(ctx, METHOD).unwrap(), m);
        let closure = r.image.read(ctx, CLOSURE).unwrap();
        assert_eq!(r.image.class_of(closure).unwrap(), r.t.block_closure);
        // Its outer context is the method's own, whose closureOrNil is nil.
        let outer = r.image.read(closure, OUTER_CONTEXT).unwrap();
        assert_eq!(r.image.read(outer, CLOSURE).unwrap(), nil);
        assert_eq!(r.image.read(outer, METHOD).unwrap(), m);
    }
}
