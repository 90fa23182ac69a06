//! Blocks: `blockCopy:` (80), `value`/`value:`... (81) and `valueWithArguments:` (82). Each
//! checks its receiver and arguments and calls the contexts layer below (`contexts.rs`),
//! which makes the BlockContext or pushes its frame.

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::Exec;

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
    if !x.is_block(block)? || x.block_arg_count(block)? != Some(c.nargs() as i64) {
        return Ok(Prim::Fail);
    }
    Ok(if x.enter_block(block, c.ri)? {
        Prim::Switched
    } else {
        Prim::Fail
    })
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
