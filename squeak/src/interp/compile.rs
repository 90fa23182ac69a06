//! Compiling a parsed expression into a private CompiledMethod, as the image's own compiler
//! would: literals in the literal frame, globals as Associations from the image's own
//! `Smalltalk`. In a V3 image, blocks are `thisContext blockCopy: n` followed by a jump over
//! the block's code, and block arguments and temporaries are temporaries of the doit (V3
//! blocks keep theirs in their home context), and the literal blocks of `ifTrue:`,
//! `whileTrue:`, `to:do:` and the rest are inlined as jumps, as V3 compilers inline them
//! (`inlining.rs`). In a closure image (see `closures.rs`) blocks are closures (bytecode 143)
//! with frames of their own, as the closure compiler makes them: a block's temporaries are its
//! arguments, then the outer variables it reads, copied in when it is made, then its own; a
//! temporary that an inner block uses lives in its scope's temp vector (an Array made when the
//! scope starts), which the inner blocks copy, so that a store on either side is seen on the
//! other (`closure_scope.rs`).

use super::closure_scope::{closure, declare_method_temps, lookup, push_variable};
use super::doit::{statements, Doit, Loc, Task};
use super::expr::{Expr, ParseError};
use super::inlining;
use super::limits::RunError;
use super::method::Method;
use super::special::ASSOCIATION_VALUE;
use super::stack_depth::{max_depth, BlockEntry};
use super::state::{int, int_in_range, Exec};
use cowheap::{Format, Value};

/// `$i` where the host has not numbered the image: the Character, as in Smalltalk.
static LETTER_I: Expr = Expr::Character('i');

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
        // Squeak's compilers: a large frame where temporaries and stack exceed SmallFrame
        // (12 in Squeak 2.2, 16 later; the smaller serves both), and where the walk cannot
        // tell.
        let large = max_depth(&doit.code, &doit.blocks).is_none_or(|d| doit.temps + d > 12);
        let header = ((doit.literals.len() as i64) << 9)
            | ((large as i64) << 17)
            | ((doit.temps as i64) << 18);
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
                Task::Byte(135) => doit.pop(),
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
                Task::EffectBody(temps, body) => {
                    tasks.push(Task::Scope(doit.scope.len()));
                    doit.declare(temps)?;
                    tasks.extend(body.iter().rev().map(Task::Effect));
                }
                Task::Effect(e) => match e {
                    Expr::Send {
                        receiver,
                        selector,
                        args,
                    } if !self.sh.closures
                        && self.inline(receiver, selector, args, true, doit, &mut tasks)? => {}
                    _ => tasks.extend([Task::Byte(135), Task::Expr(e)]),
                },
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
                match args.len() {
                    n @ 0..=2 => doit.code.push(117 + n as u8),
                    n => doit.push_literal(int(n as i64), false)?,
                }
                doit.code.extend([200, 164, 0]);
                let jump = doit.code.len();
                doit.blocks.push(BlockEntry {
                    start: jump,
                    args: args.len(),
                });
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
                match doit.scope[scope..args.len() + scope].last() {
                    // As Squeak's V3 compilers make it: an empty block with arguments
                    // answers its last argument.
                    Some(&(_, t)) if body.is_empty() => match t {
                        0..=15 => doit.code.push(16 + t as u8),
                        _ => doit.code.extend([128, 0x40 | t as u8]),
                    },
                    _ => statements(body, doit, tasks),
                }
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
            Expr::Cascade { receiver, messages }
                if !self.sh.closures
                    && messages
                        .first()
                        .is_some_and(|(sel, args)| inlining::inlined(sel, receiver, args)) =>
            {
                return Err(ParseError::Syntax {
                    column: 1,
                    message: "Cascading not expected".into(),
                }
                .into());
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
            Expr::ImageNumber => match self.image_number {
                Some(n) => {
                    let v = int_in_range(n).map_or_else(|| self.large_integer(n as i128), Ok)?;
                    doit.push_literal(v, false)?;
                }
                None => tasks.push(Task::Expr(&LETTER_I)),
            },
            // -1, 0, 1 and 2 by the bytecodes that push them (116-119), as the image's
            // compilers emit them: no literal to read.
            Expr::Integer(n @ -1..=2) => doit.code.push((117 + n) as u8),
            Expr::Integer(n) => {
                let v = match i64::try_from(*n).ok().and_then(int_in_range) {
                    Some(v) => v,
                    None => {
                        let v = self.large_integer(*n)?;
                        self.equal_literal(v, doit)?
                    }
                };
                doit.push_literal(v, false)?;
            }
            Expr::Float(f) => {
                let v = self.new_float(*f)?.ok_or_else(|| {
                    RunError::Unsupported("a Float literal in an image without Float".into())
                })?;
                let v = self.equal_literal(v, doit)?;
                doit.push_literal(v, false)?;
            }
            Expr::QuotedSymbol(s) if self.sh.quoted_symbols_are_strings => {
                self.string_literal(s, doit)?
            }
            Expr::String(s) => self.string_literal(s, doit)?,
            Expr::Symbol(s) | Expr::QuotedSymbol(s) => {
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
                let v = self.equal_literal(v, doit)?;
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
            } if !self.sh.closures
                && self.inline(receiver, selector, args, false, doit, tasks)? => {}
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
                    doit.store(&[129, 0x40 | t as u8]);
                    return Ok(());
                }
                Some((Loc::Remote(_, i), Some(v))) => {
                    doit.store(&[141, i as u8, v as u8]);
                    return Ok(());
                }
                _ => {}
            }
        }
        if let Some(t) = doit.temporary(name) {
            doit.store(&[129, 0x40 | t as u8]);
            return Ok(());
        }
        let assoc = self
            .global_association(name)?
            .ok_or_else(|| ParseError::UnknownGlobal(name.to_owned()))?;
        let i = doit.literal(assoc)?;
        doit.store(&[129, 0xC0 | i as u8]);
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

    /// `v`, or a literal of the do-it before it of the same class that `=` it, asked of the
    /// image: Squeak's compiler makes equal literals one (`#(1 2) == #(1 2)`, `3.5 == 3.5`
    /// and `#(1 2) == #(1 2.0)` are true there; `7 == 7.0` is not).
    fn equal_literal(&mut self, v: Value, doit: &Doit) -> Result<Value, RunError> {
        let class = self.class_of(v)?;
        let mut equal = None;
        for &l in &doit.literals {
            if l.is_object() && l != v && self.class_of(l)? == class {
                let eq = *equal.get_or_insert(self.intern("=")?);
                if self.send_top(l, eq, &[v])? == self.sh.true_object {
                    return Ok(l);
                }
            }
        }
        Ok(v)
    }

    /// Pushes the String literal `s`: equal strings are one literal of the method, as the
    /// image's compiler makes them (`'a' == 'a'` is true).
    fn string_literal(&mut self, s: &str, doit: &mut Doit) -> Result<(), RunError> {
        let v = match doit.strings.iter().find(|(t, _)| t == s) {
            Some(&(_, v)) => v,
            None => {
                let v = self.new_string(self.sh.string, s)?;
                doit.strings.push((s.to_owned(), v));
                v
            }
        };
        doit.push_literal(v, false)?;
        Ok(())
    }

    /// The value of a literal expression.
    fn literal_of(&mut self, e: &Expr) -> Result<Value, RunError> {
        if let Expr::Integer(n @ -1..=2) = e {
            return Ok(int(*n as i64));
        }
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
                        Expr::Nil | Expr::True | Expr::False
                            if self.sh.literal_words_as_symbols =>
                        {
                            let word = match item {
                                Expr::Nil => "nil",
                                Expr::True => "true",
                                _ => "false",
                            };
                            self.intern(word)?
                        }
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
    /// have changed). Looked for first where the image's own `Dictionary>>scanFor:` puts it
    /// (from the key's hash, a Symbol's identity hash in the V3 images, modulo the size,
    /// forward to the first nil), then in every slot: a key is in a dictionary once, so both
    /// find the same association, and the first reads a few slots where the second read
    /// hundreds (79,000 instructions per do-it naming `Smalltalk`).
    fn global_association(&mut self, name: &str) -> Result<Option<Value>, RunError> {
        if self.sh.smalltalk == self.sh.nil {
            return Ok(self.sh.bindings.get(name.as_bytes()).copied());
        }
        let Some(&key) = self.sh.symbols.get(name.as_bytes()) else {
            return Ok(None);
        };
        let array = self.image.read(self.sh.smalltalk, 1)?;
        let n = self.image.size_of(array)?;
        if n > 0 {
            let start = self.image.identity_hash(key)? as usize % n;
            for i in (start..n).chain(0..start) {
                match self.association_at(array, i, key)? {
                    Slot::Empty => break,
                    Slot::Other => {}
                    Slot::Key(assoc) => return Ok(Some(assoc)),
                }
            }
        }
        for i in 0..n {
            if let Slot::Key(assoc) = self.association_at(array, i, key)? {
                return Ok(Some(assoc));
            }
        }
        Ok(None)
    }

    /// What slot `i` of a dictionary's `array` holds, for a look for `key`.
    fn association_at(&mut self, array: Value, i: usize, key: Value) -> Result<Slot, RunError> {
        let assoc = self.image.read(array, i)?;
        if assoc == self.sh.nil {
            return Ok(Slot::Empty);
        }
        if assoc.is_object()
            && self.image.format_of(assoc)? == Format::Pointers
            && self.image.read(assoc, 0)? == key
        {
            self.image.read(assoc, ASSOCIATION_VALUE)?;
            return Ok(Slot::Key(assoc));
        }
        Ok(Slot::Other)
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

/// A dictionary slot, as a look for one key sees it.
enum Slot {
    Empty,
    Other,
    Key(Value),
}
