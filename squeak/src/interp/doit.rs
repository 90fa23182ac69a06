//! The doit method as the compiler builds it, and the compiler's work list: below the
//! compiler's files (`compile.rs`, `inlining.rs`, `closure_scope.rs`) so that each of them
//! writes the one method without depending on another.

use super::expr::{Expr, ParseError};
use super::stack_depth::BlockEntry;
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
    /// Where the last store (a value left on the stack) starts, while it ends the code.
    pub(super) store: Option<usize>,
    /// V3 images: where each block's body starts, for the frame's size
    /// (`stack_depth.rs`).
    pub(super) blocks: Vec<BlockEntry>,
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
    /// Emits a store that leaves the value on the stack (129 and its operand, or 141 and
    /// two), remembering where it is for [`pop`](Self::pop).
    pub(super) fn store(&mut self, code: &[u8]) {
        self.store = Some(self.code.len());
        self.code.extend_from_slice(code);
    }

    /// A statement's pop (135). After a store, where no label stands between the two, the
    /// pair becomes the store's popping form (104-111, 130, 142), as Squeak's compilers
    /// emit an assignment for its effect: one bytecode fewer at every assignment statement,
    /// and the same bytecodes as the image's own compiler.
    pub(super) fn pop(&mut self) {
        let end = self.code.len();
        let labelled = self.labels.contains(&Some(end));
        match (self.store.take(), &self.code[..]) {
            (Some(at), [.., 129, ext]) if at + 2 == end && !labelled => {
                let ext = *ext;
                self.code.truncate(at);
                match (ext >> 6, ext & 63) {
                    (1, t @ 0..=7) => self.code.push(104 + t),
                    _ => self.code.extend([130, ext]),
                }
            }
            (Some(at), [.., 141, _, _]) if at + 3 == end && !labelled => self.code[at] = 142,
            _ => self.code.push(135),
        }
    }

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
    /// An expression whose value is dropped: a statement but the last, a loop's body.
    /// Compiled for its effect as Squeak's compilers do (`emitForEffect:`): an assignment
    /// pops as it stores, a one-armed `ifTrue:` or `ifFalse:` jumps over its arm and pushes
    /// no nil, a loop pushes no nil; anything else is its value, popped.
    Effect(&'e Expr),
    /// An inlined block's temporaries put in scope, then its statements, each for its
    /// effect (nothing for none): a loop's body, the arm of a conditional for effect.
    EffectBody(&'e [String], &'e [Expr]),
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
    if let Some((last, rest)) = body.split_last() {
        tasks.push(Task::Expr(last));
        tasks.extend(rest.iter().rev().map(Task::Effect));
    }
}

#[cfg(test)]
mod tests {
    use super::Doit;

    fn popped(store: &[u8], before_pop: impl FnOnce(&mut Doit)) -> Vec<u8> {
        let mut d = Doit::default();
        d.code.push(118);
        d.store(store);
        before_pop(&mut d);
        d.pop();
        d.code
    }

    /// A store then a statement's pop is the store's popping form, as the image's compilers
    /// emit it, for a temporary (short and extended), a global and a closure's remote
    /// temporary.
    #[test]
    fn a_store_then_a_pop_is_one_popping_store() {
        assert_eq!(popped(&[129, 0x43], |_| {}), [118, 107]);
        assert_eq!(popped(&[129, 0x49], |_| {}), [118, 130, 0x49]);
        assert_eq!(popped(&[129, 0xC2], |_| {}), [118, 130, 0xC2]);
        assert_eq!(popped(&[141, 1, 2], |_| {}), [118, 142, 1, 2]);
    }

    /// Where a label stands between the two (a jump from another branch lands on the pop),
    /// or other code follows the store, the pop stays.
    #[test]
    fn a_pop_a_jump_lands_on_or_after_other_code_stays() {
        let labelled = popped(&[129, 0x43], |d| {
            let l = d.label();
            d.labels[l] = Some(d.code.len());
        });
        assert_eq!(labelled, [118, 129, 0x43, 135]);
        assert_eq!(
            popped(&[129, 0x43], |d| d.code.push(118)),
            [118, 129, 0x43, 118, 135]
        );
        // A second pop after the fused one is a pop.
        let mut d = Doit::default();
        d.store(&[129, 0x40]);
        d.pop();
        d.pop();
        assert_eq!(d.code, [104, 135]);
    }
}
