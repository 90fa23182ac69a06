//! The doit method as the compiler builds it, and the compiler's work list: below the
//! compiler's files (`compile.rs`, `inlining.rs`, `closure_scope.rs`) so that each of them
//! writes the one method without depending on another.

use super::expr::{Expr, ParseError};
use cowheap::Value;

/// A doit method under construction.
#[derive(Default)]
pub(super) struct Doit {
    pub(super) literals: Vec<Value>,
    pub(super) code: Vec<u8>,
    /// Temporaries of the doit: its own, and every block argument and temporary (V3 blocks
    /// keep theirs in their home context).
    pub(super) temps: usize,
    /// Variable names in scope, innermost last, with their temporary indices.
    pub(super) scope: Vec<(String, usize)>,
    /// Closure images: the names the current frame (the doit's, or a block's) sees,
    /// innermost last.
    pub(super) env: Vec<(String, Loc)>,
    /// Closure images: the blocks around the current one, each its outer frame's `env` and
    /// `temps`.
    pub(super) outer: Vec<(Vec<(String, Loc)>, usize)>,
    /// Closure images: temp vectors made so far (for their names).
    pub(super) vectors: usize,
    /// Inlined control structures: each label's code position, once reached.
    pub(super) labels: Vec<Option<usize>>,
    /// Inlined control structures: the jumps to patch, `(position, label, first opcode)`.
    pub(super) jumps: Vec<(usize, usize, u8)>,
    /// The string literals made so far, by their characters: one object each.
    pub(super) strings: Vec<(String, Value)>,
}

/// Where a variable of a closure image's frame is.
#[derive(Clone)]
pub(super) enum Loc {
    /// An argument of the block (it cannot be stored into), at this temporary index.
    Argument(usize),
    /// A temporary of the frame (or a value copied into it).
    Temp(usize),
    /// Element `.1` of the temp vector named `.0` (a variable of the frame's `env`).
    Remote(String, usize),
}

impl Doit {
    pub(super) fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    /// Writes every inlined jump's offset, now that every label is placed: the long forms,
    /// 164 + offset / 256 backward or forward (-1024..1023), and the conditional 168 (on
    /// true) or 172 (on false) + offset / 256, forward only (0..1023).
    pub(super) fn patch_jumps(&mut self) -> Result<(), ParseError> {
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

    pub(super) fn literal(&mut self, v: Value) -> Result<usize, ParseError> {
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
    pub(super) fn declare(&mut self, names: &[String]) -> Result<(), ParseError> {
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
    pub(super) fn temporary(&self, name: &str) -> Option<usize> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|&(_, t)| t)
    }

    pub(super) fn push_literal(&mut self, v: Value, variable: bool) -> Result<(), ParseError> {
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
pub(super) enum Task<'e> {
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

/// The most temporaries a frame (the doit's, a block's) may have here.
pub(super) const MAX_TEMPS: usize = 63;

/// Statements on `tasks`, a pop between two, nil for none (last in, first out).
pub(super) fn statements<'e>(body: &'e [Expr], doit: &mut Doit, tasks: &mut Vec<Task<'e>>) {
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
