//! Blocks: `blockCopy:` (80), `value`/`value:`... (81) and `valueWithArguments:` (82). Each
//! checks its receiver and arguments and calls the contexts layer below (`contexts.rs`),
//! which makes the BlockContext or pushes its frame.

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::Exec;
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
    Ok(if enter(x, block, c.ri, c.nargs())? {
        Prim::Switched
    } else {
        Prim::Fail
    })
}

/// Pushes the frame of `block`, sent `value...` with `nargs` arguments from stack index
/// `ri` (true), or fails (false, nothing done): all of primitive 81 but the operand stack,
/// which it never touches, so that the dispatch loop runs it with the stack in its hands.
#[inline(never)]
pub(crate) fn enter(
    x: &mut Exec<'_>,
    block: Value,
    ri: usize,
    nargs: usize,
) -> Result<bool, RunError> {
    // The commonest case, a block this image made, with its fields checked once.
    if let Some(entered) = x.enter_block_fast(block, ri, nargs)? {
        return Ok(entered);
    }
    if !x.is_block(block)? || x.block_arg_count(block)? != Some(nargs as i64) {
        return Ok(false);
    }
    x.enter_block(block, ri)
}

/// Primitive 82, `valueWithArguments: anArray`: `value:`... with the Array's elements.
pub(crate) fn value_with_arguments(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let ri = c.ri;
    let (block, args) = (x.stack[ri], x.arg(ri, 0));
    if !args.is_object()
        || x.class_of(args)? != x.sh.array
        || !block.is_object()
        || x.class_of(block)? != x.sh.block_context
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

#[cfg(test)]
mod tests {
    use crate::interp::tests::{int, Out, Run};

    #[test]
    fn value_runs_a_block_and_its_arguments_land_in_the_home_temporaries() {
        let mut r = Run::new();
        r.install_blocks();
        let nil = r.nil();
        // [3 + 4] value
        let code = [137, 117, 200, 164, 4, 32, 33, 176, 125, 201, 124];
        assert_eq!(r.run(nil, &[int(3), int(4)], 0, &code), Ok(int(7)));
        // [:a | a * 2] value: 21
        let code = [137, 118, 200, 164, 5, 104, 16, 119, 184, 125, 32, 202, 124];
        assert_eq!(r.run(nil, &[int(21)], 1, &code), Ok(int(42)));
        // [:a :b | a - b] value: 10 value: 3
        let vv = r.sym("value:value:");
        let code = [
            137, 119, 200, 164, 6, 105, 104, 16, 17, 177, 125, 32, 33, 242, 124,
        ];
        assert_eq!(r.run(nil, &[int(10), int(3), vv], 2, &code), Ok(int(7)));
        // A block of one argument sent `value` fails into the fallback.
        let bar = r.sym("bar");
        let code = [137, 118, 200, 164, 3, 104, 16, 125, 201, 124];
        assert_eq!(r.run(nil, &[], 1, &code), Ok(bar));
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
}
