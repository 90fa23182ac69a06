//! Literal arrays, `#( ... )`: their elements as Squeak's `Scanner>>scanLitVec` reads them.

use crate::interp::expr::{Expr, ParseError};
use crate::interp::lexer::Tok;
use crate::interp::parse::Parser;

impl Parser {
    /// A literal array after its `#(`, nested ones on an explicit stack.
    pub(super) fn literal_array(&mut self) -> Result<Expr, ParseError> {
        self.nest()?;
        let mut open: Vec<Vec<Expr>> = vec![Vec::new()];
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.error("expected ) to end the literal array"));
            };
            self.at += 1;
            let item = match t {
                Tok::Close => {
                    self.depth -= 1;
                    let items = open.pop().unwrap_or_default();
                    if open.is_empty() {
                        return Ok(Expr::Array(items));
                    }
                    Expr::Array(items)
                }
                Tok::Int(n) => Expr::Integer(n),
                Tok::Float(f) => Expr::Float(f),
                Tok::Str(s) => Expr::String(s),
                Tok::Sym(s) => Expr::Symbol(s),
                Tok::QuotedSym(s) => Expr::QuotedSymbol(s),
                Tok::Char(c) => Expr::Character(c),
                Tok::ImageNumber => Expr::ImageNumber,
                Tok::Ident(w) => match w.as_str() {
                    "nil" => Expr::Nil,
                    "true" => Expr::True,
                    "false" => Expr::False,
                    _ => Expr::Symbol(w),
                },
                Tok::Keyword(k) => Expr::Symbol(self.keywords_run_on(k)),
                Tok::Binary(b) => Expr::Symbol(b),
                Tok::ArrayOpen | Tok::Open => {
                    self.nest()?;
                    open.push(Vec::new());
                    continue;
                }
                _ => return Err(self.error("not a literal")),
            };
            if let Some(items) = open.last_mut() {
                items.push(item);
            }
        }
    }

    /// The keyword `first` (just taken) inside a literal array with the words and keywords
    /// written right after it, with no space between: one Symbol, as Squeak's
    /// `Scanner>>scanLitWord` makes `#(foo:bar: baz)` two elements and `#(a:b:c)` one.
    fn keywords_run_on(&mut self, first: String) -> String {
        let mut word = first;
        let Some(&(mut start, _)) = self.toks.get(self.at - 1) else {
            return word;
        };
        let mut len = word.chars().count();
        while let Some((next, Tok::Keyword(w) | Tok::Ident(w))) = self.toks.get(self.at) {
            if *next != start + len || !word.ends_with(':') {
                break;
            }
            (start, len) = (*next, w.chars().count());
            word.push_str(w);
            self.at += 1;
        }
        word
    }
}
