//! Compiling a parsed expression into a private CompiledMethod, as the image's own compiler
//! would: literals in the literal frame, globals as Associations from the image's own
//! `Smalltalk`. In a V3 image, blocks are `thisContext blockCopy: n` followed by a jump over
//! the block's code, and block arguments and temporaries are temporaries of the doit (V3
//! blocks keep theirs in their home context), and the literal blocks of `ifTrue:`, `whileTrue:`,
//! `to:do:` and the rest are inlined as jumps, as V3 compilers inline them. In a closure image (see `closures.rs`) blocks
//! are closures (bytecode 143) with frames of their own, as the closure compiler makes them:
//! a block's temporaries are its arguments, then the outer variables it reads, copied in when
//! it is made, then its own; a temporary that an inner block uses lives in its scope's temp
//! vector (an Array made when the scope starts), which the inner blocks copy, so that a store
//! on either side is seen on the other.

use super::limits::RunError;
use super::method::Method;
use super::parse::{Expr, ParseError};
use super::special::ASSOCIATION_VALUE;
use super::state::{int_in_range, Exec};
use cowheap::{Format, Value};

/// A doit method under construction.
#[derive(Default)]
struct Doit {
    literals: Vec<Value>,
    code: Vec<u8>,
    /// Temporaries of the doit: its own, and every block argument and temporary (V3 blocks
    /// keep theirs in their home context).
    temps: usize,
    /// Variable names in scope, innermost last, with their temporary indices.
    scope: Vec<(String, usize)>,
    /// Closure images: the names the current frame (the doit's, or a block's) sees,
    /// innermost last.
    env: Vec<(String, Loc)>,
    /// Closure images: the blocks around the current one, each its outer frame's `env` and
    /// `temps`.
    outer: Vec<(Vec<(String, Loc)>, usize)>,
    /// Closure images: temp vectors made so far (for their names).
    vectors: usize,
    /// Inlined control structures: each label's code position, once reached.
    labels: Vec<Option<usize>>,
    /// Inlined control structures: the jumps to patch, `(position, label, first opcode)`.
    jumps: Vec<(usize, usize, u8)>,
}

/// Where a variable of a closure image's frame is.
#[derive(Clone)]
enum Loc {
    /// An argument of the block (it cannot be stored into), at this temporary index.
    Argument(usize),
    /// A temporary of the frame (or a value copied into it).
    Temp(usize),
    /// Element `.1` of the temp vector named `.0` (a variable of the frame's `env`).
    Remote(String, usize),
}

impl Doit {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    /// Writes every inlined jump's offset, now that every label is placed: the long forms,
    /// 164 + offset / 256 backward or forward (-1024..1023), and the conditional 168 (on
    /// true) or 172 (on false) + offset / 256, forward only (0..1023).
    fn patch_jumps(&mut self) -> Result<(), ParseError> {
        for &(at, label, op) in &self.jumps {
            let target = self.labels[label].ok_or_else(|| {
                ParseError::TooLarge("an inlined jump to a label never placed".into())
            })?;
            let offset = target as i64 - (at as i64 + 2);
            let range = if op == 164 { -1024..=1023 } else { 0..=1023 };
            if !range.contains(&offset) {
                return Err(ParseError::TooLarge(format!(
                    "an inlined control structure jumps {offset} bytes (at most 1023)"
                )));
            }
            self.code[at] = (op as i64 + offset.div_euclid(256)) as u8;
            self.code[at + 1] = offset.rem_euclid(256) as u8;
        }
        Ok(())
    }

    fn literal(&mut self, v: Value) -> Result<usize, ParseError> {
        let i = match self.literals.iter().position(|&l| l == v) {
            Some(i) => i,
            None => {
                self.literals.push(v);
                self.literals.len() - 1
            }
        };
        if i < 64 {
            Ok(i)
        } else {
            Err(ParseError::TooManyLiterals)
        }
    }

    /// Gives each name a new temporary and puts it in scope.
    fn declare(&mut self, names: &[String]) -> Result<(), ParseError> {
        for name in names {
            self.scope.push((name.clone(), self.temps));
            self.temps += 1;
        }
        if self.temps > 63 {
            return Err(ParseError::TooLarge(
                "more than 63 temporaries and block arguments".into(),
            ));
        }
        Ok(())
    }

    /// The temporary `name` is in, innermost scope first.
    fn temporary(&self, name: &str) -> Option<usize> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|&(_, t)| t)
    }

    fn push_literal(&mut self, v: Value, variable: bool) -> Result<(), ParseError> {
        let i = self.literal(v)?;
        match (i, variable) {
            (0..=31, false) => self.code.push(32 + i as u8),
            (0..=31, true) => self.code.push(64 + i as u8),
            (_, false) => self.code.extend([128, 0x80 | i as u8]),
            (_, true) => self.code.extend([128, 0xC0 | i as u8]),
        }
        Ok(())
    }
}

/// What is left to compile, on the compiler's explicit stack.
enum Task<'e> {
    /// An expression.
    Expr(&'e Expr),
    /// The send of a selector with this many arguments, once they and the receiver are
    /// pushed.
    Send(&'e str, usize),
    /// One bytecode: a pop between two statements, a cascade's dup and pop, a `^`.
    Byte(u8),
    /// A store into a temporary or a global, leaving the value on the stack.
    Store(&'e str),
    /// A block's return, and the jump over its code (at `jump`) patched; its arguments leave
    /// the scope (truncated to `scope`).
    EndBlock {
        jump: usize,
        scope: usize,
    },
    /// A closure's return, and its size (the two bytes before `start`) patched; the outer
    /// frame's names are back.
    EndClosure {
        start: usize,
    },
    /// An inlined block's temporaries put in scope, then its statements (nil for none).
    Body(&'e [String], &'e [Expr]),
    /// The scope back to this length, after an inlined block.
    Scope(usize),
    /// A name in scope for an inlined block's argument (`to:do:`'s), at this temporary.
    Bind(&'e str, usize),
    /// A jump (first opcode 164, 168 on true, 172 on false) to a label, patched at the end.
    Jump(u8, usize),
    /// A label's place: the next bytecode.
    Label(usize),
    /// Push or pop-and-store a temporary.
    PushTemp(usize),
    PopTemp(usize),
}

/// A literal block with `n` arguments, whose code a V3 compiler inlines into the method.
fn inlinable(e: &Expr, n: usize) -> Option<(&[String], &[Expr])> {
    match e {
        Expr::Block { args, temps, body } if args.len() == n => Some((temps, body)),
        _ => None,
    }
}

/// The most temporaries a frame (the doit's, a block's) may have here.
const MAX_TEMPS: usize = 63;

/// Where `name` is in the current frame of a closure image, and for a remote variable the
/// temporary index of its vector.
fn lookup(doit: &Doit, name: &str) -> Result<Option<(Loc, Option<usize>)>, ParseError> {
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
fn push_variable(doit: &mut Doit, name: &str) -> Result<(), ParseError> {
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
fn declare_method_temps(
    doit: &mut Doit,
    temps: &[String],
    body: &[Expr],
) -> Result<(), ParseError> {
    declare_closure_temps(doit, temps, body, false)
}

/// The start of a closure with `args`, `temps` and `body`: the outer variables it uses
/// pushed (a remote one's vector, once), bytecode 143 with its size left to patch, then its
/// frame's names and temporaries. Answers where the closure's code starts.
fn closure(
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

/// Statements on `tasks`, a pop between two, nil for none (last in, first out).
fn statements<'e>(body: &'e [Expr], doit: &mut Doit, tasks: &mut Vec<Task<'e>>) {
    if body.is_empty() {
        doit.code.push(115);
    }
    for (k, e) in body.iter().enumerate().rev() {
        tasks.push(Task::Expr(e));
        if k > 0 {
            tasks.push(Task::Byte(135));
        }
    }
}

impl Exec<'_> {
    /// Compiles `expr` into a private CompiledMethod and runs it with nil as `self`.
    pub(crate) fn evaluate(&mut self, expr: &Expr) -> Result<Value, RunError> {
        let mut doit = Doit::default();
        // The doit's literals are held here, in Rust, across the runs `intern` makes.
        self.may_collect = false;
        let compiled = self.compile(expr, &mut doit);
        self.may_collect = true;
        compiled?;
        doit.patch_jumps()?;
        doit.code.push(124);
        let header = ((doit.literals.len() as i64) << 9) | (1 << 17) | ((doit.temps as i64) << 18);
        let mut literals = vec![int_in_range(header).ok_or(ParseError::TooManyLiterals)?];
        literals.extend(&doit.literals);
        let method = self
            .image
            .new_method(self.sh.compiled_method, &literals, &doit.code)?;
        self.image.set_language_format(method, 12)?;
        // Decoded here rather than through the cache: a host that evaluates many expressions
        // would otherwise keep every doit it ever ran.
        let m = std::rc::Rc::new(Method::decode(self.image, method)?);
        let nil = self.sh.nil;
        self.run_method(m, nil)
    }

    /// Compiles `expr` in a loop over an explicit list of what is left to do, so that no
    /// depth of nesting and no length of a chain of sends costs Rust stack.
    fn compile(&mut self, expr: &Expr, doit: &mut Doit) -> Result<(), RunError> {
        let mut tasks = vec![Task::Expr(expr)];
        while let Some(task) = tasks.pop() {
            match task {
                Task::Expr(e) => self.compile_one(e, doit, &mut tasks)?,
                Task::Send(selector, n) => self.compile_send(selector, n, doit)?,
                Task::Byte(b) => doit.code.push(b),
                Task::Store(name) => self.compile_store(name, doit)?,
                Task::EndBlock { jump, scope } => {
                    doit.code.push(125);
                    doit.scope.truncate(scope);
                    let len = doit.code.len() - jump;
                    if len >= 1024 {
                        return Err(ParseError::TooLarge(format!(
                            "a block of {len} bytes of code (at most 1023)"
                        ))
                        .into());
                    }
                    doit.code[jump - 2] = 164 + (len >> 8) as u8;
                    doit.code[jump - 1] = len as u8;
                }
                Task::Body(temps, body) => {
                    tasks.push(Task::Scope(doit.scope.len()));
                    doit.declare(temps)?;
                    statements(body, doit, &mut tasks);
                }
                Task::Scope(len) => doit.scope.truncate(len),
                Task::Bind(name, t) => doit.scope.push((name.to_owned(), t)),
                Task::Jump(op, label) => {
                    doit.jumps.push((doit.code.len(), label, op));
                    doit.code.extend([op, 0]);
                }
                Task::Label(label) => doit.labels[label] = Some(doit.code.len()),
                Task::PushTemp(t) => match t {
                    0..=15 => doit.code.push(16 + t as u8),
                    _ => doit.code.extend([128, 0x40 | t as u8]),
                },
                Task::PopTemp(t) => match t {
                    0..=7 => doit.code.push(104 + t as u8),
                    _ => doit.code.extend([130, 0x40 | t as u8]),
                },
                Task::EndClosure { start } => {
                    doit.code.push(125);
                    let len = doit.code.len() - start;
                    if len > 0xFFFF {
                        return Err(ParseError::TooLarge(format!(
                            "a block of {len} bytes of code (at most 65535)"
                        ))
                        .into());
                    }
                    doit.code[start - 2] = (len >> 8) as u8;
                    doit.code[start - 1] = len as u8;
                    let (env, temps) = doit.outer.pop().unwrap_or_default();
                    doit.env = env;
                    doit.temps = temps;
                }
            }
        }
        Ok(())
    }

    /// Compiles a leaf, or the start of a send or a block, with what follows its parts
    /// left on `tasks`.
    fn compile_one<'e>(
        &mut self,
        expr: &'e Expr,
        doit: &mut Doit,
        tasks: &mut Vec<Task<'e>>,
    ) -> Result<(), RunError> {
        match expr {
            Expr::Nil => doit.code.push(115),
            Expr::ThisContext => doit.code.push(137),
            Expr::Receiver => doit.code.push(112),
            Expr::Variable(name) if self.sh.closures => push_variable(doit, name)?,
            Expr::Block { args, temps, body } if self.sh.closures => {
                let start = closure(doit, args, temps, body)?;
                tasks.push(Task::EndClosure { start });
                statements(body, doit, tasks);
            }
            Expr::Sequence { temps, body } if self.sh.closures => {
                if !doit.outer.is_empty() {
                    return Err(RunError::Unsupported(
                        "temporaries declared inside a block's statements".into(),
                    ));
                }
                declare_method_temps(doit, temps, body)?;
                statements(body, doit, tasks);
            }
            Expr::Variable(name) => {
                let t = doit
                    .temporary(name)
                    .ok_or_else(|| ParseError::UnknownGlobal(name.clone()))?;
                match t {
                    0..=15 => doit.code.push(16 + t as u8),
                    _ => doit.code.extend([128, 0x40 | t as u8]),
                }
            }
            Expr::Block { args, temps, body } => {
                // thisContext blockCopy: n, a jump over the body, then the body: it pops its
                // arguments into the home's temporaries and ends with a block return.
                doit.code.push(137);
                let n = self.literal_of(&Expr::Integer(args.len() as i128))?;
                doit.push_literal(n, false)?;
                doit.code.extend([200, 164, 0]);
                let jump = doit.code.len();
                let scope = doit.scope.len();
                doit.declare(args)?;
                for &(_, t) in doit.scope[scope..].iter().rev() {
                    match t {
                        0..=7 => doit.code.push(104 + t as u8),
                        _ => doit.code.extend([130, 0x40 | t as u8]),
                    }
                }
                doit.declare(temps)?;
                tasks.push(Task::EndBlock { jump, scope });
                statements(body, doit, tasks);
            }
            Expr::Sequence { temps, body } => {
                doit.declare(temps)?;
                statements(body, doit, tasks);
            }
            Expr::Assign { variable, value } => {
                tasks.push(Task::Store(variable));
                tasks.push(Task::Expr(value));
            }
            Expr::Return(value) => {
                tasks.push(Task::Byte(124));
                tasks.push(Task::Expr(value));
            }
            Expr::Cascade { receiver, messages } => {
                // The receiver, then each message to a copy of it, the answers but the
                // last popped (last in, first out).
                for (k, (selector, args)) in messages.iter().enumerate().rev() {
                    let last = k + 1 == messages.len();
                    if !last {
                        tasks.push(Task::Byte(135));
                    }
                    tasks.push(Task::Send(selector, args.len()));
                    tasks.extend(args.iter().rev().map(Task::Expr));
                    if !last {
                        tasks.push(Task::Byte(136));
                    }
                }
                tasks.push(Task::Expr(receiver));
            }
            Expr::True => doit.code.push(113),
            Expr::False => doit.code.push(114),
            Expr::ImageNumber => {
                let v = int_in_range(self.image_number)
                    .map_or_else(|| self.large_integer(self.image_number as i128), Ok)?;
                doit.push_literal(v, false)?;
            }
            Expr::Integer(n) => {
                let v = match i64::try_from(*n).ok().and_then(int_in_range) {
                    Some(v) => v,
                    None => self.large_integer(*n)?,
                };
                doit.push_literal(v, false)?;
            }
            Expr::Float(f) => {
                let v = self.new_float(*f)?.ok_or_else(|| {
                    RunError::Unsupported("a Float literal in an image without Float".into())
                })?;
                doit.push_literal(v, false)?;
            }
            Expr::String(s) => {
                let v = self.new_string(self.sh.string, s)?;
                doit.push_literal(v, false)?;
            }
            Expr::Symbol(s) => {
                let v = self.intern(s)?;
                doit.push_literal(v, false)?;
            }
            Expr::Character(c) => {
                let code = u8::try_from(*c as u32).map_err(|_| ParseError::Syntax {
                    column: 1,
                    message: format!("{c:?} is not a Latin-1 character"),
                })?;
                let v = self.image.read(self.sh.character_table, code as usize)?;
                doit.push_literal(v, false)?;
            }
            Expr::Array(items) => {
                let v = self.literal_array(items)?;
                doit.push_literal(v, false)?;
            }
            Expr::Global(name) => {
                let assoc = self
                    .global_association(name)?
                    .ok_or_else(|| ParseError::UnknownGlobal(name.clone()))?;
                doit.push_literal(assoc, true)?;
            }
            Expr::Send {
                receiver,
                selector,
                args,
            } if !self.sh.closures && self.inline(receiver, selector, args, doit, tasks)? => {}
            Expr::Send {
                receiver,
                selector,
                args,
            } => {
                // The receiver, the arguments, then the send.
                tasks.push(Task::Send(selector, args.len()));
                tasks.extend(args.iter().rev().map(Task::Expr));
                tasks.push(Task::Expr(receiver));
            }
        }
        Ok(())
    }

    /// The control structures a V3 compiler inlines, where their blocks are literal:
    /// `ifTrue:`, `ifFalse:` and their pairs, `and:`, `or:`, `whileTrue:`, `whileFalse:`,
    /// `whileTrue`, `whileFalse` and `to:do:`, as conditional and backward jumps, with the
    /// values those compilers give them (nil for a missing branch and for loops). The
    /// blocks' temporaries and arguments are the do-it's, as every V3 block's are. `false`
    /// for anything else, which is sent.
    fn inline<'e>(
        &mut self,
        receiver: &'e Expr,
        selector: &str,
        args: &'e [Expr],
        doit: &mut Doit,
        tasks: &mut Vec<Task<'e>>,
    ) -> Result<bool, RunError> {
        const JUMP: u8 = 164;
        const ON_TRUE: u8 = 168;
        const ON_FALSE: u8 = 172;
        let block = |i: usize, n: usize| args.get(i).and_then(|a| inlinable(a, n));
        let (l1, l2) = (doit.label(), doit.label());
        let mut seq: Vec<Task<'e>> = Vec::new();
        // `rcv` then, on `skip`, to `l1`; the first branch; over the second to `l2`.
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
        };
        match (selector, block(0, 0), block(1, 0)) {
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
                    let Some(body) = block(0, 0) else {
                        return Ok(false);
                    };
                    seq.extend([Task::Body(body.0, body.1), Task::Byte(135)]);
                }
                seq.extend([Task::Jump(JUMP, l1), Task::Label(l2), Task::Byte(115)]);
            }
            ("to:do:", _, _) => {
                let Some(Expr::Block {
                    args: names,
                    temps,
                    body,
                }) = args.get(1).filter(|b| inlinable(b, 1).is_some())
                else {
                    return Ok(false);
                };
                // The index and the limit (evaluated once) are two more temporaries.
                let (i, limit) = (doit.temps, doit.temps + 1);
                doit.temps += 2;
                if doit.temps > MAX_TEMPS {
                    return Err(ParseError::TooLarge(format!(
                        "more than {MAX_TEMPS} temporaries and block arguments"
                    ))
                    .into());
                }
                seq.extend([
                    Task::Expr(receiver),
                    Task::PopTemp(i),
                    Task::Expr(&args[0]),
                    Task::PopTemp(limit),
                    Task::Label(l1),
                    Task::PushTemp(i),
                    Task::PushTemp(limit),
                    Task::Byte(180), // <=
                    Task::Jump(ON_FALSE, l2),
                    // The argument is in scope for the body alone, not for the bounds.
                    Task::Bind(&names[0], i),
                    Task::Body(temps, body),
                    Task::Scope(doit.scope.len()),
                    Task::Byte(135),
                    Task::PushTemp(i),
                    Task::Byte(118), // 1
                    Task::Byte(176), // +
                    Task::PopTemp(i),
                    Task::Jump(JUMP, l1),
                    Task::Label(l2),
                    Task::Byte(115),
                ]);
            }
            _ => return Ok(false),
        }
        tasks.extend(seq.into_iter().rev());
        Ok(true)
    }

    /// Stores the top of the stack into the temporary or global `name`, leaving it there.
    fn compile_store(&mut self, name: &str, doit: &mut Doit) -> Result<(), RunError> {
        if self.sh.closures {
            match lookup(doit, name)? {
                Some((Loc::Argument(_), _)) => {
                    return Err(ParseError::Syntax {
                        column: 1,
                        message: format!("cannot store into the block argument {name}"),
                    }
                    .into())
                }
                Some((Loc::Temp(t), _)) => {
                    doit.code.extend([129, 0x40 | t as u8]);
                    return Ok(());
                }
                Some((Loc::Remote(_, i), Some(v))) => {
                    doit.code.extend([141, i as u8, v as u8]);
                    return Ok(());
                }
                _ => {}
            }
        }
        if let Some(t) = doit.temporary(name) {
            doit.code.extend([129, 0x40 | t as u8]);
            return Ok(());
        }
        let assoc = self
            .global_association(name)?
            .ok_or_else(|| ParseError::UnknownGlobal(name.to_owned()))?;
        let i = doit.literal(assoc)?;
        doit.code.extend([129, 0xC0 | i as u8]);
        Ok(())
    }

    /// The send of `selector` with `n` arguments, whose receiver and arguments are pushed.
    fn compile_send(&mut self, selector: &str, n: usize, doit: &mut Doit) -> Result<(), RunError> {
        let sel = self.intern(selector)?;
        if let Some(i) = self.sh.special_selector(sel, n) {
            doit.code.push(176 + i as u8);
        } else {
            let k = doit.literal(sel)?;
            match (k, n) {
                (0..=15, 0..=2) => doit.code.push(208 + 16 * n as u8 + k as u8),
                (0..=31, 0..=7) => doit.code.extend([131, (n as u8) << 5 | k as u8]),
                (_, 0..=31) => doit.code.extend([132, n as u8, k as u8]),
                _ => return Err(ParseError::TooManyLiterals.into()),
            }
        }
        Ok(())
    }

    /// The value of a literal expression.
    fn literal_of(&mut self, e: &Expr) -> Result<Value, RunError> {
        let mut one = Doit::default();
        self.compile(e, &mut one)?;
        one.literals
            .first()
            .copied()
            .ok_or_else(|| RunError::Malformed("a literal without a value".into()))
    }

    /// The Symbol named `name` in this image: the base's, or else the image's own `asSymbol`
    /// (which finds a Symbol the image made, say for a method its compiler installed, or
    /// makes one), so that the expression's selectors and symbols are the image's.
    pub(crate) fn intern(&mut self, name: &str) -> Result<Value, RunError> {
        if let Some(&v) = self.sh.symbols.get(name.as_bytes()) {
            return Ok(v);
        }
        let as_symbol = *self
            .sh
            .symbols
            .get(&b"asSymbol"[..])
            .ok_or_else(|| RunError::Unsupported("the image has no #asSymbol".into()))?;
        let string = self.new_string(self.sh.string, name)?;
        self.send_top(string, as_symbol, &[])
    }

    /// A private Array holding the literals `items`: nested arrays are made innermost first,
    /// on an explicit stack of arrays being filled.
    fn literal_array(&mut self, items: &[Expr]) -> Result<Value, RunError> {
        let mut open = vec![(items.iter(), Vec::with_capacity(items.len()))];
        loop {
            let Some((rest, values)) = open.last_mut() else {
                return Err(RunError::Malformed("an empty literal array stack".into()));
            };
            match rest.next() {
                Some(Expr::Array(inner)) => {
                    open.push((inner.iter(), Vec::with_capacity(inner.len())));
                }
                Some(item) => {
                    let v = match item {
                        Expr::Nil => self.sh.nil,
                        Expr::True => self.sh.true_object,
                        Expr::False => self.sh.false_object,
                        _ => self.literal_of(item)?,
                    };
                    values.push(v);
                }
                None => {
                    let values = std::mem::take(values);
                    open.pop();
                    let v = self.image.new_pointers(self.sh.array, &values)?;
                    self.image.set_language_format(v, 2)?;
                    match open.last_mut() {
                        Some((_, outer)) => outer.push(v),
                        None => return Ok(v),
                    }
                }
            }
        }
    }

    /// The Association of the global `name` in this image's `Smalltalk` (which this image may
    /// have changed).
    fn global_association(&mut self, name: &str) -> Result<Option<Value>, RunError> {
        if self.sh.smalltalk == self.sh.nil {
            return Ok(self.sh.bindings.get(name.as_bytes()).copied());
        }
        let Some(&key) = self.sh.symbols.get(name.as_bytes()) else {
            return Ok(None);
        };
        let array = self.image.read(self.sh.smalltalk, 1)?;
        for i in 0..self.image.size_of(array)? {
            let assoc = self.image.read(array, i)?;
            if assoc.is_object()
                && assoc != self.sh.nil
                && self.image.format_of(assoc)? == Format::Pointers
                && self.image.read(assoc, 0)? == key
            {
                self.image.read(assoc, ASSOCIATION_VALUE)?;
                return Ok(Some(assoc));
            }
        }
        Ok(None)
    }

    fn new_string(&mut self, class: Value, s: &str) -> Result<Value, RunError> {
        let bytes = s
            .chars()
            .map(|c| u8::try_from(c as u32))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| ParseError::Syntax {
                column: 1,
                message: "strings must be Latin-1".into(),
            })?;
        let v = self.image.new_bytes(class, &bytes)?;
        self.image
            .set_language_format(v, 8 | ((4 - bytes.len() % 4) % 4) as u8)?;
        Ok(v)
    }
}
