//! Control: `perform:` (83, with up to its arguments) and `perform:withArguments:` (84),
//! and the quick returns (256-519), which the send layer runs inline through [`quick_return`] before it
//! looks at the table.
//!
//! A `perform:` finds the method, puts the arguments in place and answers [`Prim::Perform`]:
//! the send layer above invokes it. A Symbol the receiver does not understand is a
//! doesNotUnderstand, as a send is; anything else as a selector (nil, a String) fails into the
//! image's fallback, which says what is wrong with it.

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::special::Shared;
use crate::interp::state::{int, Exec};
use cowheap::Value;

/// What a quick-return method (primitives 256-519) answers.
pub(crate) enum Quick {
    /// self, true, false, nil, -1, 0, 1 or 2.
    Answer(Value),
    /// One of the receiver's first 256 fields.
    Field(usize),
    /// Not a quick return.
    Not,
}

/// What quick-return primitive `p` answers for `receiver`, without reading anything: the
/// dispatch loop's fast path and [`quick_return`] both start here.
#[inline(always)]
pub(crate) fn quick_kind(sh: &Shared, p: u16, receiver: Value) -> Quick {
    match p {
        256 => Quick::Answer(receiver),
        257 => Quick::Answer(sh.true_object),
        258 => Quick::Answer(sh.false_object),
        259 => Quick::Answer(sh.nil),
        260..=263 => Quick::Answer(int(p as i64 - 261)),
        264..=519 => Quick::Field(p as usize - 264),
        _ => Quick::Not,
    }
}

/// A quick-return method's answer (primitives 256-519): self, true, false, nil, -1, 0, 1,
/// 2, or one of the receiver's first 256 fields. `None` for any other primitive number.
#[inline(always)]
pub(crate) fn quick_return(x: &mut Exec<'_>, p: u16, ri: usize) -> Result<Option<Value>, RunError> {
    let receiver = x.stack[ri];
    Ok(match quick_kind(x.sh, p, receiver) {
        Quick::Answer(v) => Some(v),
        Quick::Field(i) => Some(x.image.read(receiver, i)?),
        Quick::Not => None,
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
        x.stack.remove(c.ri + 1);
        let m = x.not_understood(class, selector, c.ri, c.nargs() - 1)?;
        return Ok(Prim::Perform(m, 1));
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
    if !args.is_object() || !x.class_is(args, x.sh.array)? {
        return Ok(Prim::Fail);
    }
    let n = x.image.size_of(args)?;
    let rcvr = x.stack[c.ri];
    let class = x.class_of(rcvr)?;
    let Some(m) = x.cache.lookup(x.image, x.sh, class, selector)? else {
        x.spread_arguments(c.ri, args, n)?;
        let m = x.not_understood(class, selector, c.ri, n)?;
        return Ok(Prim::Perform(m, 1));
    };
    if m.num_args != n {
        return Ok(Prim::Fail);
    }
    x.spread_arguments(c.ri, args, n)?;
    x.sends += 1;
    Ok(Prim::Perform(m, n))
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::RunError;
    use crate::interp::tests::{int, Out, Run};

    #[test]
    fn quick_returns_answer_constants_and_fields() {
        let mut r = Run::new();
        let pair_class = r.t.pair;
        let pair = r.instance(pair_class, &[int(11), int(12)], 1);
        let (t, f, nil) = (r.boolean(true), r.boolean(false), r.nil());
        let bar = r.sym("bar");
        let expected = [
            (256, pair),
            (257, t),
            (258, f),
            (259, nil),
            (260, int(-1)),
            (261, int(0)),
            (262, int(1)),
            (263, int(2)),
            (264, int(11)),
            (265, int(12)),
        ];
        for (p, want) in expected {
            assert_eq!(r.answer(p, pair, &[]), want, "primitive {p}");
            r.define(pair_class, "foo", &[bar], 0, 0, p, &[32, 124]);
            assert_eq!(
                r.send(pair, "foo", &[]),
                Ok(want),
                "a method with primitive {p}"
            );
        }
        // A field the receiver does not have stops the image rather than answering junk.
        r.define(pair_class, "foo", &[bar], 0, 0, 264 + 5, &[32, 124]);
        assert!(matches!(r.send(pair, "foo", &[]), Err(RunError::Heap(_))));
    }

    #[test]
    fn perform_sends_the_selector_with_the_arguments() {
        let mut r = Run::new();
        let (object, pair_class) = (r.t.k.object, r.t.pair);
        let bar = r.sym("bar");
        r.define(object, "perform:", &[bar], 1, 1, 83, &[32, 124]);
        r.define(object, "perform:with:", &[bar], 2, 2, 83, &[32, 124]);
        r.define(
            object,
            "perform:withArguments:",
            &[bar],
            2,
            2,
            84,
            &[32, 124],
        );
        let foo_method = r.define(pair_class, "foo", &[int(5)], 0, 0, 0, &[32, 124]);
        r.define(pair_class, "bar:", &[], 1, 1, 0, &[16, 124]);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        let (foo, bar_colon) = (r.sym("foo"), r.sym("bar:"));
        assert_eq!(r.send(pair, "perform:", &[foo]), Ok(int(5)));
        // The perform: send and the send it makes.
        assert_eq!(r.interp.stats().sends, 2);
        assert_eq!(
            r.send(pair, "perform:with:", &[bar_colon, int(9)]),
            Ok(int(9))
        );
        let nine = r.array(&[int(9)]);
        let args = r.send(pair, "perform:withArguments:", &[bar_colon, nine]);
        assert_eq!(args, Ok(int(9)));
        // The wrong number of arguments, arguments that are not an Array: the fallback runs.
        assert_eq!(r.send(pair, "perform:", &[bar_colon]), Ok(bar));
        let nil = r.nil();
        assert_eq!(
            r.send(pair, "perform:withArguments:", &[bar_colon, nil]),
            Ok(bar)
        );
        // A Symbol nobody understands is a doesNotUnderstand, as a send is; so is a selector
        // that is not a Symbol (as on the real VM, whose lookup compares keys by identity and
        // finds none), with what it prints as.
        let unknown = r.sym("unknown");
        assert_eq!(
            r.send(pair, "perform:", &[unknown]),
            Err(RunError::DoesNotUnderstand {
                selector: "unknown".into(),
                class: "Pair".into()
            })
        );
        let string = r.string("foo");
        assert!(matches!(
            r.send(pair, "perform:", &[string]),
            Err(RunError::DoesNotUnderstand { .. })
        ));
        // The table answers the method for the send layer, with the arguments in place.
        assert_eq!(r.prim(83, pair, &[foo]), Ok(Out::Perform(foo_method, 0)));
    }
}
