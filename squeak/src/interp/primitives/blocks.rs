//! Blocks: `blockCopy:` (80), `value`/`value:`... (81) and `valueWithArguments:` (82) of V3
//! BlockContexts, and of closure images' BlockClosures `value`... (201-205, and 221, 222
//! without a process switch, which is the same here) and `valueWithArguments:` (206). Each
//! checks its receiver and arguments and calls the layer below (`contexts.rs`,
//! `closures.rs`), which makes the BlockContext or pushes the frame.

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{Exec, Frame};
use cowheap::Value;

/// Primitive 80, `blockCopy: nargs`: a BlockContext whose home is the receiver's home and
/// whose code starts after the jump that follows this send.
pub(crate) fn block_copy(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let Some(nargs) = x.arg(c.ri, 0).as_small_int() else {
        return Ok(Prim::Fail);
    };
    answer(x.block_copy(rcvr, nargs)?)
}

/// Primitive 81, `value`, `value:`...: runs the block in a new frame whose temporaries are
/// its home's.
#[inline]
pub(crate) fn value(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let block = x.stack[c.ri];
    let class = x.class_of(block)?;
    let mut frames = std::mem::take(&mut x.frames);
    let entered = enter(x, &mut frames, class, block, c.ri, c.nargs());
    x.frames = frames;
    Ok(if entered? { Prim::Switched } else { Prim::Fail })
}

/// Bytecode 201 (`value`) or 202 (`value:`, `nargs` 1) in full: on a BlockContext, primitive
/// 81 with no look-up, as the real VM's `bytecodePrimValue` runs it (and the dispatch loop's
/// `Switch::Value`). True if the block's frame was pushed; false (nothing done) where the
/// receiver is no BlockContext or the primitive fails: the special selector's send.
pub(crate) fn value_bytecode(x: &mut Exec<'_>, nargs: usize) -> Result<bool, RunError> {
    let Some(ri) = x.stack.len().checked_sub(nargs + 1) else {
        return Ok(false);
    };
    let block = x.stack[ri];
    if !block.is_object() || x.class_of(block)? != x.sh.block_context {
        return Ok(false);
    }
    let call = Call {
        ri,
        p: 81,
        nargs: nargs as u16,
    };
    if matches!(value(x, call)?, Prim::Switched) {
        x.sends += 1;
        return Ok(true);
    }
    Ok(false)
}

/// Bytecode 200 (`blockCopy:`) in full: of a MethodContext or a BlockContext, primitive 80
/// with no look-up, as the real VM's `bytecodePrimBlockCopy` runs it (and the dispatch
/// loop's `Switch::BlockCopy`). True if the new block replaced the receiver and the argument;
/// false (nothing done) where the receiver is no context or the primitive fails: the special
/// selector's send.
pub(crate) fn block_copy_bytecode(x: &mut Exec<'_>) -> Result<bool, RunError> {
    let Some(ri) = x.stack.len().checked_sub(2) else {
        return Ok(false);
    };
    // The primitive fails on what is no context (`Exec::block_copy` looks at the class).
    let call = Call {
        ri,
        p: 80,
        nargs: 1,
    };
    let Prim::Answer(block) = block_copy(x, call)? else {
        return Ok(false);
    };
    x.stack.truncate(ri);
    x.stack.push(block);
    x.sends += 1;
    Ok(true)
}

/// Pushes the frame of `block` (of class `class`) on `frames`, sent `value...` with `nargs`
/// arguments from stack index `ri` (true), or fails (false, nothing done): all of primitive
/// 81 but the operand stack, which it never touches, so that the dispatch loop runs it with
/// the stack and the frames in its hands (`x.frames` is then empty, and holds them only
/// while the general path runs).
#[inline(never)]
pub(crate) fn enter(
    x: &mut Exec<'_>,
    frames: &mut Vec<Frame>,
    class: Value,
    block: Value,
    ri: usize,
    nargs: usize,
) -> Result<bool, RunError> {
    // The commonest case, a block this image made, with its fields checked once.
    if let Some(entered) = x.enter_block_fast(frames, class, block, ri, nargs) {
        return Ok(entered);
    }
    // A stale token would send every later entry of the block here.
    x.cache.forget_block_tokens();
    enter_in_full(x, frames, block, ri, nargs)
}

/// [`enter`]'s general path, out of line so that the fast one keeps its registers.
#[cold]
#[inline(never)]
fn enter_in_full(
    x: &mut Exec<'_>,
    frames: &mut Vec<Frame>,
    block: Value,
    ri: usize,
    nargs: usize,
) -> Result<bool, RunError> {
    std::mem::swap(&mut x.frames, frames);
    let entered = (|| {
        if !x.is_block(block)? || x.block_arg_count(block)? != Some(nargs as i64) {
            return Ok(false);
        }
        x.enter_block(block, ri)
    })();
    std::mem::swap(&mut x.frames, frames);
    entered
}

/// Primitive 82, `valueWithArguments: anArray`: `value:`... with the Array's elements.
pub(crate) fn value_with_arguments(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let ri = c.ri;
    let (block, args) = (x.stack[ri], x.arg(ri, 0));
    if !args.is_object()
        || !x.class_is(args, x.sh.array)?
        || !block.is_object()
        || !x.class_is(block, x.sh.block_context)?
    {
        return Ok(Prim::Fail);
    }
    let n = x.image.size_of(args)?;
    if x.block_arg_count(block)? != Some(n as i64) {
        return Ok(Prim::Fail);
    }
    x.spread_arguments(ri, args, n)?;
    let call = Call {
        ri,
        p: 81,
        nargs: n as u16,
    };
    match value(x, call)? {
        Prim::Fail => {
            // Leave the stack as it was found.
            x.stack.truncate(ri + 1);
            x.stack.push(args);
            Ok(Prim::Fail)
        }
        done => Ok(done),
    }
}

/// Primitives 201-205, 221 and 222, BlockClosure `value`, `value:`...: runs the closure in a
/// new frame with its arguments and copied values.
pub(crate) fn closure_value(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let closure = x.stack[c.ri];
    Ok(if x.enter_closure(closure, c.ri, c.nargs())? {
        Prim::Switched
    } else {
        Prim::Fail
    })
}

/// Primitive 206, BlockClosure `valueWithArguments: anArray`.
pub(crate) fn closure_value_with_arguments(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let ri = c.ri;
    let (closure, args) = (x.stack[ri], x.arg(ri, 0));
    if !args.is_object() || !x.class_is(args, x.sh.array)? || !x.is_closure(closure)? {
        return Ok(Prim::Fail);
    }
    let n = x.image.size_of(args)?;
    x.spread_arguments(ri, args, n)?;
    if x.enter_closure(closure, ri, n)? {
        return Ok(Prim::Switched);
    }
    // Leave the stack as it was found.
    x.stack.truncate(ri + 1);
    x.stack.push(args);
    Ok(Prim::Fail)
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::RunError;
    use crate::interp::tests::{int, Out, Run};
    use cowheap::Value;

    /// `[3 + 4] value`, `[:a | a * 2] value: 21` and `[:a :b | a - b] value: 10 value: 3`.
    fn three_blocks(r: &mut Run) -> [Result<Value, RunError>; 3] {
        let nil = r.nil();
        let vv = r.sym("value:value:");
        let one = [137, 117, 200, 164, 4, 32, 33, 176, 125, 201, 124];
        let two = [137, 118, 200, 164, 5, 104, 16, 119, 184, 125, 32, 202, 124];
        let three = [
            137, 119, 200, 164, 6, 105, 104, 16, 17, 177, 125, 32, 33, 242, 124,
        ];
        [
            r.run(nil, &[int(3), int(4)], 0, &one),
            r.run(nil, &[int(21)], 1, &two),
            r.run(nil, &[int(10), int(3), vv], 2, &three),
        ]
    }

    #[test]
    fn value_runs_a_block_and_its_arguments_land_in_the_home_temporaries() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        assert_eq!(three_blocks(&mut r), [Ok(int(7)), Ok(int(42)), Ok(int(7))]);
        // A block of one argument sent `value` fails into the fallback.
        let bar = r.sym("bar");
        let code = [137, 118, 200, 164, 3, 104, 16, 125, 201, 124];
        assert_eq!(r.run(nil, &[], 1, &code), Ok(bar));
    }

    /// `value` and `value:` as bytecodes (201, 202) run primitive 81 on a BlockContext with
    /// no look-up, as the real VM's `bytecodePrimValue` does: a BlockContext whose `value`
    /// and `value:` methods have no primitive (they answer `#bar`) still runs its blocks
    /// through them. `value:value:` has no bytecode of its own and takes the method found.
    #[test]
    fn value_bytecodes_run_a_block_context_without_the_look_up() {
        let mut r = Run::new();
        r.install_blocks();
        let (nil, bar) = (r.nil(), r.sym("bar"));
        let block = r.t.block_context;
        for (sel, args) in [("value", 0), ("value:", 1), ("value:value:", 2)] {
            r.define(block, sel, &[bar], args, args, 0, &[32, 124]);
        }
        // The third sends `value:value:`: the method, which answers #bar.
        assert_eq!(three_blocks(&mut r), [Ok(int(7)), Ok(int(42)), Ok(bar)]);
        // `value` to what is no BlockContext is the send it was: 3 does not understand it.
        let code = [32, 201, 124];
        assert!(matches!(
            r.run(nil, &[int(3)], 0, &code),
            Err(RunError::DoesNotUnderstand { .. })
        ));
    }

    /// `blockCopy:` (bytecode 200) of a context runs primitive 80 with no look-up, as the
    /// real VM's bytecode does: with the contexts' `blockCopy:` redefined without a
    /// primitive, the bytecode still makes blocks (in a method's frame and in a block's) and
    /// the full path runs the primitive too, while a literal send of
    /// `blockCopy:` runs the method; to what is no context it is the send it was.
    #[test]
    fn block_copy_bytecodes_make_a_block_without_the_look_up() {
        let mut r = Run::new();
        r.install_blocks();
        let (nil, bar, copy) = (r.nil(), r.sym("bar"), r.sym("blockCopy:"));
        for class in [r.t.method_context, r.t.block_context] {
            r.define(class, "blockCopy:", &[bar], 1, 1, 0, &[32, 124]);
        }
        assert_eq!(three_blocks(&mut r), [Ok(int(7)), Ok(int(42)), Ok(int(7))]);
        // [[2] value] value: the inner block made in the outer one's frame.
        let code = [
            137, 117, 200, 164, 9, 137, 117, 200, 164, 2, 119, 125, 201, 125, 201, 124,
        ];
        assert_eq!(r.run(nil, &[], 0, &code), Ok(int(2)));
        // ^thisContext blockCopy: 0, with no jump over a body after it: the full path's,
        // whose primitive refuses it (the method would answer #bar).
        assert!(matches!(
            r.run(nil, &[], 0, &[137, 117, 200, 124]),
            Err(RunError::Unimplemented(_))
        ));
        // The same as a literal send: the method.
        assert_eq!(r.run(nil, &[copy], 0, &[137, 117, 224, 124]), Ok(bar));
        assert!(matches!(
            r.run(nil, &[int(3)], 0, &[32, 117, 200, 124]),
            Err(RunError::DoesNotUnderstand { .. })
        ));
    }

    /// A block's last value returned to its caller (bytecode 125, which the dispatch loop
    /// runs inline) is an escape when it is a context made in the block's frame: that
    /// frame's contexts must not go back to the pool for the next block to reuse.
    #[test]
    fn a_block_that_a_block_answers_is_not_reused() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        // | a b | a := [[1]] value. b := [[2]] value. ^a value
        let code = [
            137, 117, 200, 164, 8, 137, 117, 200, 164, 2, 118, 125, 125, 201, 104, //
            137, 117, 200, 164, 8, 137, 117, 200, 164, 2, 119, 125, 125, 201, 105, //
            16, 201, 124,
        ];
        assert_eq!(r.run(nil, &[], 2, &code), Ok(int(1)));
    }

    /// A block still running fails its `value` into the fallback: in
    /// `| b | b := [b value]. b value. ^b value` the inner send answers the fallback's
    /// `bar`, which the block answers in turn. And a block that returned inline (bytecode
    /// 125) runs again: `[1] value` three times in a row.
    #[test]
    fn a_block_returned_inline_runs_again_and_a_running_one_does_not() {
        let mut r = Run::new();
        r.install_blocks();
        let (nil, bar) = (r.nil(), r.sym("bar"));
        let code = [
            137, 117, 200, 164, 3, 16, 201, 125, 104, 16, 201, 135, 16, 201, 124,
        ];
        assert_eq!(r.run(nil, &[], 1, &code), Ok(bar));
        // | b | b := [1]. b value. b value. ^b value
        let code = [
            137, 117, 200, 164, 2, 118, 125, 104, 16, 201, 135, 16, 201, 135, 16, 201, 124,
        ];
        assert_eq!(r.run(nil, &[], 1, &code), Ok(int(1)));
    }

    /// The dispatch loop keeps the token of the last block it entered, for its next entry:
    /// a collection between two entries (which takes a new layout epoch, and may move the
    /// block) leaves that token stale, and the block still runs, then and after.
    #[test]
    fn a_block_runs_again_after_a_collection_between_its_entries() {
        let mut r = Run::new();
        r.install_blocks();
        let (nil, foo) = (r.nil(), r.sym("foo"));
        // nil foo: a collection (primitive 130).
        r.define(r.t.k.undefined_object, "foo", &[], 0, 0, 130, &[115, 124]);
        // | b | b := [1]. b value. nil foo. b value. ^b value + (b value)
        let code = [
            137, 117, 200, 164, 2, 118, 125, 104, // b := [1]
            16, 201, 135, // b value
            115, 208, 135, // nil foo
            16, 201, 135, // b value
            16, 201, 16, 201, 176, 124, // ^b value + (b value)
        ];
        assert_eq!(r.run(nil, &[foo], 1, &code), Ok(int(2)));
        assert!(r.image.stats().collections > 0, "the collection ran");
    }

    #[test]
    fn value_with_arguments_spreads_an_array() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        let vwa = r.sym("valueWithArguments:");
        let two = r.array(&[int(10), int(3)]);
        // [:a :b | a - b] valueWithArguments: #(10 3)
        let code = [
            137, 119, 200, 164, 6, 105, 104, 16, 17, 177, 125, 32, 225, 124,
        ];
        assert_eq!(r.run(nil, &[two, vwa], 2, &code), Ok(int(7)));
        let one = r.array(&[int(10)]);
        assert_eq!(r.run(nil, &[one, vwa], 2, &code), Ok(r.sym("bar")));
    }

    #[test]
    fn a_running_block_cannot_be_entered_again_until_it_returns() {
        use crate::interp::contexts::{RUNNING, SENDER};
        use crate::interp::primitives::{primitive, Prim};
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        // ^[nil]
        let block = r
            .run(nil, &[], 0, &[137, 117, 200, 164, 2, 115, 125, 124])
            .unwrap();
        let mut x = r.interp.exec_for_test(&mut r.image);
        x.stack.push(block);
        assert!(matches!(primitive(&mut x, 81, 0, 0), Ok(Prim::Switched)));
        assert_eq!(x.image.read(block, SENDER).unwrap(), RUNNING);
        // Entered again from its own frame: the primitive fails, the stack untouched.
        x.stack.push(block);
        assert!(matches!(primitive(&mut x, 81, 1, 0), Ok(Prim::Fail)));
        assert_eq!(x.stack, [block, block]);
        let one = x.image.new_pointers(x.sh.array, &[]).unwrap();
        x.image.set_language_format(one, 2).unwrap();
        x.stack.push(one);
        assert!(matches!(primitive(&mut x, 82, 1, 1), Ok(Prim::Fail)));
        // A run that stops with the block running leaves it free to run again.
        assert!(x.finish(Ok(())).is_ok());
        assert_eq!(r.image.read(block, SENDER).unwrap(), nil);
        // And one that returns from it: [nil] value. [nil] value (the same block twice).
        let code = [
            137, 117, 200, 164, 2, 115, 125, 105, 17, 201, 135, 17, 201, 124,
        ];
        assert_eq!(r.run(nil, &[], 2, &code), Ok(nil));
    }

    #[test]
    fn the_primitives_fail_on_what_is_not_a_block_or_a_context() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        // A block that escapes its method: [nil]
        let block = r
            .run(nil, &[], 0, &[137, 117, 200, 164, 2, 115, 125, 124])
            .unwrap();
        assert_eq!(r.image.class_of(block).unwrap(), r.t.block_context);
        assert_eq!(r.prim(81, block, &[]), Ok(Out::Switched));
        r.fails(81, block, &[int(1)]);
        let one = r.array(&[int(1)]);
        r.fails(82, block, &[one]);
        r.fails(82, block, &[nil]);
        let a = r.array(&[]);
        r.fails(81, a, &[]);
        r.fails(81, int(3), &[]);
        // blockCopy: wants a context and a SmallInteger.
        r.fails(80, a, &[int(0)]);
        r.fails(80, block, &[nil]);
    }

    #[test]
    fn blocks_still_run_after_the_image_writes_their_classes() {
        // Writing a class (any field) gives this image a copy, which `class_of` answers from
        // then on; the primitives must still know a BlockContext, a MethodContext and an
        // Array for what they are.
        let mut r = Run::new();
        r.install_blocks();
        for class in [r.t.block_context, r.t.method_context, r.t.k.array] {
            let format = r.image.read(class, 2).unwrap();
            r.image.write(class, 2, format).unwrap();
            // The copy on write (a plain heap writes the class in place).
            #[cfg(not(feature = "plain-heap"))]
            assert_ne!(r.image.canonical(class).unwrap(), class);
        }
        let nil = r.nil();
        let vwa = r.sym("valueWithArguments:");
        let two = r.array(&[int(10), int(3)]);
        // [:a :b | a - b] valueWithArguments: #(10 3)
        let code = [
            137, 119, 200, 164, 6, 105, 104, 16, 17, 177, 125, 32, 225, 124,
        ];
        assert_eq!(r.run(nil, &[two, vwa], 2, &code), Ok(int(7)));
        // [1] value
        let code = [137, 117, 200, 164, 2, 118, 125, 201, 124];
        assert_eq!(r.run(nil, &[], 0, &code), Ok(int(1)));
    }
}
