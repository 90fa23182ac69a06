//! Control: `perform:` (83, with up to its arguments) and `perform:withArguments:` (84),
//! Semaphore `signal` (85) and `wait` (86) for an image with one process, and the quick
//! returns (256-519), which the send layer runs inline through [`quick_return`] before it
//! looks at the table.
//!
//! A `perform:` finds the method, puts the arguments in place and answers [`Prim::Perform`]:
//! the send layer above invokes it. A Symbol the receiver does not understand is a doesNotUnderstand, as a send is;
//! anything else as a selector (nil, a String) fails into the image's fallback, which says
//! what is wrong with it.

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{int, Exec, MAX_INT};
use cowheap::{Format, Value};

/// A quick-return method's answer (primitives 256-519): self, true, false, nil, -1, 0, 1,
/// 2, or one of the receiver's first 256 fields. `None` for any other primitive number.
#[inline(always)]
pub(crate) fn quick_return(x: &mut Exec<'_>, p: u16, ri: usize) -> Result<Option<Value>, RunError> {
    let receiver = x.stack[ri];
    Ok(match p {
        256 => Some(receiver),
        257 => Some(x.sh.true_object),
        258 => Some(x.sh.false_object),
        259 => Some(x.sh.nil),
        260..=263 => Some(int(p as i64 - 261)),
        264..=519 => Some(x.image.read(receiver, p as usize - 264)?),
        _ => None,
    })
}

/// Primitives 256-519 through the table: [`quick_return`].
pub(crate) fn quick(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    Ok(quick_return(x, c.p, c.ri)?.map_or(Prim::Fail, Prim::Answer))
}

/// Primitive 83: `perform: selector with: ...` sends the selector with the arguments after
/// it.
pub(crate) fn perform(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let selector = x.arg(c.ri, 0);
    let rcvr = x.stack[c.ri];
    let class = x.class_of(rcvr)?;
    let Some(m) = x.cache.lookup(x.image, x.sh, class, selector)? else {
        return not_understood(x, selector, rcvr);
    };
    if m.num_args != c.nargs() - 1 {
        return Ok(Prim::Fail);
    }
    x.stack.remove(c.ri + 1);
    x.sends += 1;
    Ok(Prim::Perform(m, c.nargs() - 1))
}

/// Primitive 84: `perform: selector withArguments: anArray`.
pub(crate) fn perform_with_arguments(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (selector, args) = (x.arg(c.ri, 0), x.arg(c.ri, 1));
    if !args.is_object() || x.class_of(args)? != x.sh.array {
        return Ok(Prim::Fail);
    }
    let n = x.image.size_of(args)?;
    let rcvr = x.stack[c.ri];
    let class = x.class_of(rcvr)?;
    let Some(m) = x.cache.lookup(x.image, x.sh, class, selector)? else {
        return not_understood(x, selector, rcvr);
    };
    if m.num_args != n {
        return Ok(Prim::Fail);
    }
    x.spread_arguments(c.ri, args, n)?;
    x.sends += 1;
    Ok(Prim::Perform(m, n))
}

/// A `perform:` of a Symbol that the receiver does not understand is a doesNotUnderstand;
/// anything else as a selector fails.
fn not_understood(x: &mut Exec<'_>, selector: Value, rcvr: Value) -> Result<Prim, RunError> {
    if selector.is_object() && x.class_of(selector)? == x.sh.symbol {
        Err(x.dnu(selector, rcvr))
    } else {
        Ok(Prim::Fail)
    }
}

/// Primitives 85 (`signal`) and 86 (`wait`) for an image that has one process: `signal`
/// with no waiting process adds an excess signal; `wait` takes one, or stops the image, since
/// nothing could ever signal it.
pub(crate) fn semaphore(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    const FIRST_LINK: usize = 0;
    const EXCESS_SIGNALS: usize = 2;
    let sem = x.stack[c.ri];
    let signal = c.p == 85;
    if !sem.is_object()
        || x.image.format_of(sem)? != Format::Pointers
        || x.image.shape(sem)?.len <= EXCESS_SIGNALS
    {
        return Ok(Prim::Fail);
    }
    let Some(excess) = x.image.read(sem, EXCESS_SIGNALS)?.as_small_int() else {
        return Ok(Prim::Fail);
    };
    if x.image.read(sem, FIRST_LINK)? != x.sh.nil {
        return Err(RunError::Unimplemented(
            "a Semaphore with waiting processes (processes are not run)".into(),
        ));
    }
    let excess = if signal {
        excess + 1
    } else if excess > 0 {
        excess - 1
    } else {
        return Err(RunError::Unimplemented(
            "Semaphore>>wait would block the only process".into(),
        ));
    };
    x.store(sem, EXCESS_SIGNALS, int(excess.min(MAX_INT)))?;
    Ok(Prim::Answer(sem))
}
