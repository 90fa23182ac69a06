//! Where a closure image's variables live, as the closure compiler places them: which outer
//! variables a block copies, which temporaries go into a temp vector. Apart from the V3 path
//! of `compile.rs`, which keeps every variable in the doit's own context.

use super::doit::{Doit, Loc, MAX_TEMPS};
use super::expr::{Expr, ParseError};

/// Where `name` is in the current frame of a closure image, and for a remote variable the
/// temporary index of its vector.
pub(super) fn lookup(doit: &Doit, name: &str) -> Result<Option<(Loc, Option<usize>)>, ParseError> {
    let find = |n: &str| doit.env.iter().rev().find(|(k, _)| k == n).map(|(_, l)| l);
    Ok(match find(name) {
        None => None,
        Some(Loc::Remote(vector, i)) => match find(vector) {
            Some(&Loc::Temp(v)) => Some((Loc::Remote(vector.clone(), *i), Some(v))),
            _ => {
                return Err(ParseError::TooLarge(format!(
                    "the temp vector of {name} is out of reach"
                )))
            }
        },
        Some(l) => Some((l.clone(), None)),
    })
}

/// Pushes the variable `name` of a closure image's frame.
pub(super) fn push_variable(doit: &mut Doit, name: &str) -> Result<(), ParseError> {
    match lookup(doit, name)? {
        Some((Loc::Argument(t) | Loc::Temp(t), _)) => match t {
            0..=15 => doit.code.push(16 + t as u8),
            _ => doit.code.extend([128, 0x40 | t as u8]),
        },
        Some((Loc::Remote(_, i), Some(v))) => doit.code.extend([140, i as u8, v as u8]),
        _ => return Err(ParseError::UnknownGlobal(name.to_owned())),
    }
    Ok(())
}

/// Every variable name `body` reads or stores, in nested blocks too (`inner`: only those in
/// nested blocks). Shadowing is ignored: a name too many costs a copy or a vector slot.
fn names_used(body: &[Expr], inner: bool) -> std::collections::HashSet<&str> {
    let mut used = std::collections::HashSet::new();
    let mut todo: Vec<(&Expr, bool)> = body.iter().map(|e| (e, false)).collect();
    while let Some((e, nested)) = todo.pop() {
        match e {
            Expr::Variable(name) if nested || !inner => {
                used.insert(name.as_str());
            }
            Expr::Assign { variable, value } => {
                if nested || !inner {
                    used.insert(variable.as_str());
                }
                todo.push((value, nested));
            }
            Expr::Return(value) => todo.push((value, nested)),
            Expr::Send { receiver, args, .. } => {
                todo.push((receiver, nested));
                todo.extend(args.iter().map(|a| (a, nested)));
            }
            Expr::Cascade { receiver, messages } => {
                todo.push((receiver, nested));
                for (_, args) in messages {
                    todo.extend(args.iter().map(|a| (a, nested)));
                }
            }
            Expr::Block { body, .. } => todo.extend(body.iter().map(|b| (b, true))),
            Expr::Sequence { body, .. } => todo.extend(body.iter().map(|b| (b, nested))),
            _ => {}
        }
    }
    used
}

/// Gives the temporaries `temps` of a scope whose statements are `body` their places in the
/// current frame: those that inner blocks use in a new temp vector, the others in
/// temporaries of their own. `push` (a block's frame): their initial values are pushed
/// (the frame's stack is its temporaries); else (the doit's) they are the method's
/// temporaries, and the vector is stored into its own.
fn declare_closure_temps(
    doit: &mut Doit,
    temps: &[String],
    body: &[Expr],
    push: bool,
) -> Result<(), ParseError> {
    let inner = names_used(body, true);
    let (shared, own): (Vec<&String>, Vec<&String>) =
        temps.iter().partition(|t| inner.contains(t.as_str()));
    for name in own {
        doit.env.push((name.clone(), Loc::Temp(doit.temps)));
        doit.temps += 1;
        if push {
            doit.code.push(115);
        }
    }
    if !shared.is_empty() {
        if shared.len() > 127 {
            return Err(ParseError::TooLarge(
                "more than 127 shared temporaries".into(),
            ));
        }
        let vector = format!("\0vector{}", doit.vectors);
        doit.vectors += 1;
        let v = doit.temps;
        doit.temps += 1;
        doit.code.extend([138, shared.len() as u8]);
        if !push {
            doit.code.extend([130, 0x40 | v as u8]);
        }
        doit.env.push((vector.clone(), Loc::Temp(v)));
        for (i, name) in shared.into_iter().enumerate() {
            doit.env
                .push((name.clone(), Loc::Remote(vector.clone(), i)));
        }
    }
    if doit.temps > MAX_TEMPS {
        return Err(ParseError::TooLarge(format!(
            "more than {MAX_TEMPS} temporaries in a frame"
        )));
    }
    Ok(())
}

/// The doit's own temporaries, in a closure image.
pub(super) fn declare_method_temps(
    doit: &mut Doit,
    temps: &[String],
    body: &[Expr],
) -> Result<(), ParseError> {
    declare_closure_temps(doit, temps, body, false)
}

/// The start of a closure with `args`, `temps` and `body`: the outer variables it uses
/// pushed (a remote one's vector, once), bytecode 143 with its size left to patch, then its
/// frame's names and temporaries. Answers where the closure's code starts.
pub(super) fn closure(
    doit: &mut Doit,
    args: &[String],
    temps: &[String],
    body: &[Expr],
) -> Result<usize, ParseError> {
    let used = names_used(body, false);
    let mut copied: Vec<String> = Vec::new();
    for (name, loc) in doit.env.iter().rev() {
        if !used.contains(name.as_str()) || args.contains(name) || temps.contains(name) {
            continue;
        }
        let copy = match loc {
            Loc::Remote(vector, _) => vector.clone(),
            _ => name.clone(),
        };
        if !copied.contains(&copy) {
            copied.push(copy);
        }
    }
    copied.reverse();
    if copied.len() > 15 || args.len() > 15 {
        return Err(ParseError::TooLarge(
            "a block of more than 15 arguments or outer variables".into(),
        ));
    }
    for name in &copied {
        push_variable(doit, name)?;
    }
    doit.code
        .extend([143, (copied.len() << 4 | args.len()) as u8, 0, 0]);
    let start = doit.code.len();
    // The block's names: the outer remote variables whose vectors it copies, then its
    // arguments and copies.
    let mut env: Vec<(String, Loc)> = doit
        .env
        .iter()
        .filter(|(_, l)| matches!(l, Loc::Remote(v, _) if copied.contains(v)))
        .cloned()
        .collect();
    env.extend(args.iter().cloned().zip((0..).map(Loc::Argument)));
    for (j, name) in copied.iter().enumerate() {
        // A copied argument stays one: nothing may store into it.
        let t = args.len() + j;
        let loc = match lookup(doit, name)? {
            Some((Loc::Argument(_), _)) => Loc::Argument(t),
            _ => Loc::Temp(t),
        };
        env.push((name.clone(), loc));
    }
    let outer_env = std::mem::replace(&mut doit.env, env);
    doit.outer.push((outer_env, doit.temps));
    doit.temps = args.len() + copied.len();
    declare_closure_temps(doit, temps, body, true)?;
    Ok(start)
}
