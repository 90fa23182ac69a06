//! The control structures that V3 compilers compile as jumps instead of sends; apart from
//! `compile.rs` because they are the one part of the doit that needs labels and patched jumps.

use super::doit::{Doit, Task, MAX_TEMPS};
use super::expr::{Expr, ParseError};
use super::limits::RunError;
use super::state::Exec;

/// A literal block with `n` arguments, whose code a V3 compiler inlines into the method.
fn inlinable(e: &Expr, n: usize) -> Option<(&[String], &[Expr])> {
    match e {
        Expr::Block { args, temps, body } if args.len() == n => Some((temps, body)),
        _ => None,
    }
}

/// A variable, as Squeak's compiler sees one (`isVariableReference`): a control structure
/// takes one in place of a block and sends itself.
fn is_variable(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Variable(_)
            | Expr::Global(_)
            | Expr::Receiver
            | Expr::ThisContext
            | Expr::Nil
            | Expr::True
            | Expr::False
    )
}

/// The conditionals Squeak inlines where their arguments are literal blocks.
fn conditional(selector: &str) -> bool {
    matches!(
        selector,
        "ifTrue:" | "ifFalse:" | "ifTrue:ifFalse:" | "ifFalse:ifTrue:" | "and:" | "or:"
    )
}

/// The loops Squeak inlines where their receiver (and argument) are literal blocks.
fn looping(selector: &str) -> bool {
    matches!(
        selector,
        "whileTrue:" | "whileFalse:" | "whileTrue" | "whileFalse"
    )
}

/// For a `to:by:do:` step that Squeak inlines, a number literal other than zero: whether it
/// counts up.
fn literal_step(step: Option<&Expr>) -> Option<bool> {
    match step? {
        Expr::Integer(n) if *n != 0 => Some(*n > 0),
        Expr::Float(f) if *f != 0.0 => Some(*f > 0.0),
        _ => None,
    }
}

fn not_inlinable(selector: &str) -> RunError {
    ParseError::Syntax {
        column: 1,
        message: format!("the image's compiler does not compile this {selector}"),
    }
    .into()
}

/// True for a send the compiler inlines, which a cascade may not begin with (Squeak 2.2:
/// "Cascading not expected").
pub(super) fn inlined(selector: &str, receiver: &Expr, args: &[Expr]) -> bool {
    match selector {
        _ if conditional(selector) => args.iter().all(|a| inlinable(a, 0).is_some()),
        _ if looping(selector) => inlinable(receiver, 0).is_some(),
        "to:do:" => args.last().is_some_and(|b| inlinable(b, 1).is_some()),
        "to:by:do:" => {
            literal_step(args.get(1)).is_some()
                && args.last().is_some_and(|b| inlinable(b, 1).is_some())
        }
        _ => false,
    }
}

impl Exec<'_> {
    /// The control structures a V3 compiler inlines, where their blocks are literal:
    /// `ifTrue:`, `ifFalse:` and their pairs, `and:`, `or:`, `whileTrue:`, `whileFalse:`,
    /// `whileTrue`, `whileFalse` and `to:do:`, as conditional and backward jumps, with the
    /// values those compilers give them (nil for a missing branch and for loops). The
    /// blocks' temporaries and arguments are the do-it's, as every V3 block's are. `false`
    /// for anything else, which is sent. For `effect` (a value dropped, see
    /// [`Task::Effect`]), as Squeak's compilers emit them then: a loop without the nil it
    /// answers, its body for effect; `ifTrue:` or `ifFalse:` alone without the nil of the
    /// missing arm, its arm for effect; the others (two arms, `and:`, `or:`) for their
    /// value, popped (`MessageNode>>emitIf:on:value:`, `emitWhile:`, `emitToDo:`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn inline<'e>(
        &mut self,
        receiver: &'e Expr,
        selector: &str,
        args: &'e [Expr],
        effect: bool,
        doit: &mut Doit,
        tasks: &mut Vec<Task<'e>>,
    ) -> Result<bool, RunError> {
        const JUMP: u8 = 164;
        const ON_TRUE: u8 = 168;
        const ON_FALSE: u8 = 172;
        let block = |i: usize, n: usize| args.get(i).and_then(|a| inlinable(a, n));
        // What Squeak 2.2's compiler refuses to compile (`MessageNode>>checkBlock:as:from:`):
        // an argument of these that is neither a block of no arguments nor a variable (which
        // it sends), and a loop's block of arguments. Refused here as a syntax error, so that
        // `Interpreter::evaluate` hands the text to the image's compiler, which says why.
        let (conditional, looping) = (conditional(selector), looping(selector));
        let misfit = |e: &Expr| match e {
            Expr::Block { args, .. } => !args.is_empty(),
            _ => conditional && !is_variable(e),
        };
        if (conditional || looping) && args.iter().any(misfit)
            || looping && matches!(receiver, Expr::Block { args, .. } if !args.is_empty())
        {
            return Err(not_inlinable(selector));
        }
        let (l1, l2) = (doit.label(), doit.label());
        let mut seq: Vec<Task<'e>> = Vec::new();
        // `rcv` then, on `skip`, to `l1`; the first branch; over the second to `l2`; for
        // effect, the value popped.
        let mut branch = |skip: u8, first: (&'e [String], &'e [Expr]), second: Task<'e>| {
            seq.extend([
                Task::Expr(receiver),
                Task::Jump(skip, l1),
                Task::Body(first.0, first.1),
                Task::Jump(JUMP, l2),
                Task::Label(l1),
                second,
                Task::Label(l2),
            ]);
            seq.extend(effect.then_some(Task::Byte(135)));
        };
        // The value a loop answers (nil), or nothing for effect.
        let nil = (!effect).then_some(Task::Byte(115));
        match (selector, block(0, 0), block(1, 0)) {
            ("ifTrue:" | "ifFalse:", Some(a), _) if effect => {
                let skip = if selector == "ifTrue:" {
                    ON_FALSE
                } else {
                    ON_TRUE
                };
                seq.extend([
                    Task::Expr(receiver),
                    Task::Jump(skip, l1),
                    Task::EffectBody(a.0, a.1),
                    Task::Label(l1),
                ]);
            }
            ("ifTrue:", Some(a), _) => branch(ON_FALSE, a, Task::Byte(115)),
            ("ifFalse:", Some(a), _) => branch(ON_TRUE, a, Task::Byte(115)),
            ("and:", Some(a), _) => branch(ON_FALSE, a, Task::Byte(114)),
            ("or:", Some(a), _) => branch(ON_TRUE, a, Task::Byte(113)),
            ("ifTrue:ifFalse:", Some(a), Some(b)) => branch(ON_FALSE, a, Task::Body(b.0, b.1)),
            ("ifFalse:ifTrue:", Some(a), Some(b)) => branch(ON_TRUE, a, Task::Body(b.0, b.1)),
            ("whileTrue:" | "whileFalse:" | "whileTrue" | "whileFalse", _, _) => {
                let Some(cond) = inlinable(receiver, 0) else {
                    return Ok(false);
                };
                let exit = if selector.starts_with("whileTrue") {
                    ON_FALSE
                } else {
                    ON_TRUE
                };
                seq.extend([
                    Task::Label(l1),
                    Task::Body(cond.0, cond.1),
                    Task::Jump(exit, l2),
                ]);
                if selector.ends_with(':') {
                    let Some(b) = block(0, 0) else {
                        return Ok(false);
                    };
                    seq.push(Task::EffectBody(b.0, b.1));
                }
                seq.extend([Task::Jump(JUMP, l1), Task::Label(l2)]);
                seq.extend(nil);
            }
            ("to:do:" | "to:by:do:", _, _) => {
                // `to:by:do:` only with a literal step other than zero, as Squeak inlines it.
                let (step, up) = match selector {
                    "to:do:" => (None, true),
                    _ => match literal_step(args.get(1)) {
                        Some(up) => (args.get(1), up),
                        None => return Ok(false),
                    },
                };
                let Some(Expr::Block {
                    args: names,
                    temps,
                    body,
                }) = args.last().filter(|b| inlinable(b, 1).is_some())
                else {
                    return Ok(false);
                };
                // As Squeak's `MessageNode>>transformToDo:`, a limit that is a variable or
                // a number is read again at every test (a body that assigns the variable
                // changes how far the loop goes); any other is evaluated once, before the
                // start, into a temporary of its own. The index is one more temporary.
                let read_each_time = is_variable(&args[0])
                    || matches!(
                        args[0],
                        Expr::Integer(_) | Expr::Float(_) | Expr::ImageNumber
                    );
                let i = doit.temps;
                doit.temps += if read_each_time { 1 } else { 2 };
                if doit.temps > MAX_TEMPS {
                    return Err(ParseError::TooLarge(format!(
                        "more than {MAX_TEMPS} temporaries and block arguments"
                    ))
                    .into());
                }
                let limit = if read_each_time {
                    Task::Expr(&args[0])
                } else {
                    seq.extend([Task::Expr(&args[0]), Task::PopTemp(i + 1)]);
                    Task::PushTemp(i + 1)
                };
                seq.extend([
                    Task::Expr(receiver),
                    Task::PopTemp(i),
                    Task::Label(l1),
                    Task::PushTemp(i),
                    limit,
                    Task::Byte(if up { 180 } else { 181 }), // <= or >=
                    Task::Jump(ON_FALSE, l2),
                    // The argument is in scope for the body alone, not for the bounds.
                    Task::Bind(&names[0], i),
                    Task::EffectBody(temps, body),
                    Task::Scope(doit.scope.len()),
                    Task::PushTemp(i),
                    match step {
                        Some(e) => Task::Expr(e),
                        None => Task::Byte(118), // 1
                    },
                    Task::Byte(176), // +
                    Task::PopTemp(i),
                    Task::Jump(JUMP, l1),
                    Task::Label(l2),
                ]);
                seq.extend(nil);
            }
            _ => return Ok(false),
        }
        tasks.extend(seq.into_iter().rev());
        Ok(true)
    }
}
