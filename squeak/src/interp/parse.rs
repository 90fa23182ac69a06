//! The one-line expressions `cowheap run` takes, parsed in Rust (the image needs no compiler)
//! and compiled (`compile.rs`) into a private CompiledMethod that the interpreter runs with nil
//! as `self`.
//!
//! ```text
//! expr    := binary (keyword binary)*
//! binary  := unary (binop unary)*
//! unary   := primary identifier*
//! primary := literal | $i | Global | thisContext | argument | ( expr ) | block
//! block   := [ (:argument)* |? (expr (. expr)*)? ]
//! literal := number | 'string' | #symbol | $c | nil | true | false | #( literal* )
//! number  := -? digits (r digits)? (. digits)? (e -? digits)?     3  -7  16r1F  3.5  1.0e10  2e-3
//! ```
//!
//! Inside a literal array, bare words are symbols, as in Smalltalk.
//!
//! `$i` is the image's number ([`Interpreter::set_image_number`](super::Interpreter::set_image_number)),
//! not the Character `i`: it lets each of many images write something different.
//!
//! No text can make the parser or the compiler overflow a thread's stack: they parse, compile
//! and drop an expression in loops over explicit stacks, never recursing per level, so neither
//! a chain of sends (`1 + 1 + 1 ...`, which nests its receivers as deep as it is long) nor
//! nesting costs Rust stack. Parentheses, blocks and literal arrays nest at most
//! [`MAX_NESTING`] deep ([`ParseError::TooDeep`] beyond). (The derived `Clone`, `Debug` and
//! `PartialEq` of [`Expr`] do recurse, once per level.)

/// How deeply parentheses, blocks and literal arrays may nest in one expression; deeper text
/// is refused with [`ParseError::TooDeep`]. Nothing recurses per level (see the module's
/// docs): the bound is on what a one-line expression needs, and on the derived traits' depth.
pub const MAX_NESTING: usize = 256;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An integer literal (LargeIntegers beyond 31 bits).
    Integer(i128),
    /// A Float literal, as the image's own reader computes it (see `number.rs`).
    Float(f64),
    /// A string literal.
    String(String),
    /// A symbol literal.
    Symbol(String),
    /// A character literal.
    Character(char),
    /// `$i`: the image's number.
    ImageNumber,
    /// `nil`.
    Nil,
    /// `true`.
    True,
    /// `false`.
    False,
    /// A literal array, `#(1 $a 'str' sym #(nested))`.
    Array(Vec<Expr>),
    /// A block argument.
    Argument(String),
    /// `thisContext`.
    ThisContext,
    /// A block: its argument names and statements.
    Block {
        /// Argument names.
        args: Vec<String>,
        /// Statements; the last one's value is the block's.
        body: Vec<Expr>,
    },
    /// A global variable, looked up in the image's `Smalltalk` when the expression runs.
    Global(String),
    /// A message send.
    Send {
        /// The receiver.
        receiver: Box<Expr>,
        /// The selector, such as `at:put:`.
        selector: String,
        /// The arguments.
        args: Vec<Expr>,
    },
}

impl Drop for Expr {
    /// An expression's parts are taken apart onto a list and dropped in a loop: the drop
    /// glue would recurse once per level, and a chain of sends (`1 + 1 + 1 ...`) is a level
    /// per send.
    fn drop(&mut self) {
        let mut parts = Vec::new();
        self.take_parts(&mut parts);
        while let Some(mut part) = parts.pop() {
            part.take_parts(&mut parts);
        }
    }
}

impl Expr {
    /// Moves the expressions this one is made of onto `into`, leaving it a leaf.
    fn take_parts(&mut self, into: &mut Vec<Expr>) {
        match self {
            Expr::Send { receiver, args, .. } => {
                into.push(std::mem::replace(&mut **receiver, Expr::Nil));
                into.append(args);
            }
            Expr::Block { body, .. } => into.append(body),
            Expr::Array(items) => into.append(items),
            _ => {}
        }
    }
}

/// Why an expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not an expression of the grammar.
    #[error("at column {column}: {message}")]
    Syntax {
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// No global has this name in the image.
    #[error("no global named {0}")]
    UnknownGlobal(String),
    /// More literals or arguments than one V3 method can hold.
    #[error("the expression needs more than 64 literals")]
    TooManyLiterals,
    /// Parentheses, blocks and literal arrays nest deeper than [`MAX_NESTING`].
    #[error(
        "at column {column}: parentheses, blocks and literal arrays nest more than {limit} deep"
    )]
    TooDeep {
        /// 1-based column of the opening that went too deep.
        column: usize,
        /// [`MAX_NESTING`].
        limit: usize,
    },
    /// More than one V3 method can hold besides literals: a block of 1024 bytes of code or
    /// more (its jump cannot reach past it), or more than 63 block arguments in all.
    #[error("the expression is too large for one method: {0}")]
    TooLarge(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    /// `2e-3`: numerator and denominator.
    Fraction(i128, i128),
    Str(String),
    Sym(String),
    Char(char),
    ImageNumber,
    Ident(String),
    Keyword(String),
    Binary(String),
    Open,
    /// `[`, `]`, `.`, and `:name` in a block header.
    BlockOpen,
    BlockClose,
    Period,
    BlockArg(String),
    /// `#(`.
    ArrayOpen,
    Close,
}

const BINARY_CHARS: &str = "+-*/\\<>=~@%|&?,";

use super::number::{self, Number};

/// The string whose opening quote is at `chars[at]`, with `''` for a quote, and the index
/// after its closing quote; `None` if it is not closed.
fn quoted(chars: &[char], at: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut i = at + 1;
    loop {
        match chars.get(i)? {
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                s.push('\'');
                i += 2;
            }
            '\'' => return Some((s, i + 1)),
            &ch => {
                s.push(ch);
                i += 1;
            }
        }
    }
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(usize, Tok)> = Vec::new();
    let mut i = 0;
    let err = |at: usize, m: &str| ParseError::Syntax {
        column: at + 1,
        message: m.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let operand_before = matches!(
            out.last(),
            Some((
                _,
                Tok::Int(_)
                    | Tok::Float(_)
                    | Tok::Fraction(..)
                    | Tok::Str(_)
                    | Tok::Sym(_)
                    | Tok::Char(_)
                    | Tok::ImageNumber
                    | Tok::Ident(_)
                    | Tok::Close
                    | Tok::BlockClose
            ))
        );
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let negative =
            c == '-' && !operand_before && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || negative {
            let (n, end) =
                number::read(&chars, i + negative as usize).map_err(|m| err(start, &m))?;
            i = end;
            // The sign applies last, as the image's parser applies it: `negated`, which is
            // `0 - x`, so that `-0.0` is the positive zero there too.
            out.push((
                start,
                match (n, negative) {
                    (Number::Integer(n), _) => Tok::Int(if negative { -n } else { n }),
                    (Number::Float(f), _) => Tok::Float(if negative { 0.0 - f } else { f }),
                    (Number::Fraction(n, d), _) => Tok::Fraction(if negative { -n } else { n }, d),
                },
            ));
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let mut s: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&':') && chars.get(i + 1) != Some(&'=') {
                i += 1;
                s.push(':');
                out.push((start, Tok::Keyword(s)));
            } else {
                out.push((start, Tok::Ident(s)));
            }
        } else if c == '\'' {
            let (s, end) = quoted(&chars, i).ok_or_else(|| err(start, "unterminated string"))?;
            i = end;
            out.push((start, Tok::Str(s)));
        } else if c == '$' {
            let Some(&ch) = chars.get(i + 1) else {
                return Err(err(start, "a character literal needs a character"));
            };
            i += 2;
            out.push((
                start,
                if ch == 'i' {
                    Tok::ImageNumber
                } else {
                    Tok::Char(ch)
                },
            ));
        } else if c == '#' {
            i += 1;
            if chars.get(i) == Some(&'(') {
                i += 1;
                out.push((start, Tok::ArrayOpen));
                continue;
            }
            if chars.get(i) == Some(&'\'') {
                let (s, end) = quoted(&chars, i).ok_or_else(|| err(i, "unterminated string"))?;
                i = end;
                out.push((start, Tok::Sym(s)));
                continue;
            }
            let from = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == ':' || chars[i] == '_')
            {
                i += 1;
            }
            if i == from {
                while i < chars.len() && BINARY_CHARS.contains(chars[i]) {
                    i += 1;
                }
            }
            if i == from {
                return Err(err(start, "a symbol needs a name"));
            }
            out.push((start, Tok::Sym(chars[from..i].iter().collect())));
        } else if c == '[' || c == ']' || c == '.' {
            i += 1;
            out.push((
                start,
                match c {
                    '[' => Tok::BlockOpen,
                    ']' => Tok::BlockClose,
                    _ => Tok::Period,
                },
            ));
        } else if c == ':' && chars.get(i + 1).is_some_and(|c| c.is_alphabetic()) {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Tok::BlockArg(chars[start + 1..i].iter().collect())));
        } else if c == '(' {
            i += 1;
            out.push((start, Tok::Open));
        } else if c == ')' {
            i += 1;
            out.push((start, Tok::Close));
        } else if BINARY_CHARS.contains(c) {
            while i < chars.len()
                && BINARY_CHARS.contains(chars[i])
                && !(i > start && chars[i] == '-')
            {
                i += 1;
            }
            out.push((start, Tok::Binary(chars[start..i].iter().collect())));
        } else {
            return Err(err(start, &format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    /// Block arguments in scope.
    scope: Vec<String>,
    at: usize,
    len: usize,
    /// Parentheses, blocks and literal arrays open around the current token.
    depth: usize,
}

/// What an expression being parsed sits in.
enum Around {
    /// Nothing: the whole text.
    Top,
    /// `( ... )`.
    Parens,
    /// `[ ... ]`: its arguments, the statements so far, and the scope's length outside it.
    Block {
        args: Vec<String>,
        body: Vec<Expr>,
        scope: usize,
    },
}

/// One expression being parsed, `expr := binary (keyword binary)*`, with what it sits in: the
/// parser's explicit stack holds one per open parenthesis or block (and one for the text),
/// so that nesting costs no Rust stack.
struct Partial {
    around: Around,
    /// The keyword message so far: receiver, selector, arguments but the last.
    keyword: Option<(Expr, String, Vec<Expr>)>,
    /// The binary expression so far.
    binary: Option<Expr>,
    /// A binary operator waiting for its argument.
    operator: Option<String>,
}

impl Partial {
    fn new(around: Around) -> Partial {
        Partial {
            around,
            keyword: None,
            binary: None,
            operator: None,
        }
    }

    /// Adds an operand (a unary expression) to the binary expression.
    fn operand(&mut self, e: Expr) {
        self.binary = Some(match (self.binary.take(), self.operator.take()) {
            (Some(receiver), Some(selector)) => send(receiver, selector, vec![e]),
            _ => e,
        });
    }

    /// The binary expression so far, which a keyword or the end completes.
    fn take_binary(&mut self) -> Expr {
        self.binary.take().unwrap_or(Expr::Nil)
    }

    /// The whole expression, at its end.
    fn finish(&mut self) -> Expr {
        let last = self.take_binary();
        match self.keyword.take() {
            Some((receiver, selector, mut args)) => {
                args.push(last);
                send(receiver, selector, args)
            }
            None => last,
        }
    }
}

fn send(receiver: Expr, selector: String, args: Vec<Expr>) -> Expr {
    Expr::Send {
        receiver: Box::new(receiver),
        selector,
        args,
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    /// Enters one more level of nesting, whose opening token was the one just taken.
    fn nest(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(ParseError::TooDeep {
                column: self.toks.get(self.at - 1).map_or(self.len, |(c, _)| *c) + 1,
                limit: MAX_NESTING,
            });
        }
        self.depth += 1;
        Ok(())
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError::Syntax {
            column: self.toks.get(self.at).map_or(self.len, |(c, _)| *c) + 1,
            message: message.to_owned(),
        }
    }

    /// The whole text as one expression. A loop over an explicit stack of open parentheses
    /// and blocks: it alternates between wanting an operand (a primary, or an opening that
    /// pushes a level) and having one (unary sends, then a binary operator or keyword that
    /// wants the next operand, or the end of a level, whose expression is an operand of the
    /// level around it).
    fn expression(&mut self) -> Result<Expr, ParseError> {
        let mut open = vec![Partial::new(Around::Top)];
        loop {
            // Wanting an operand.
            let mut operand = match self.primary()? {
                Some(e) => e,
                None => match self.toks[self.at - 1].1 {
                    Tok::Open => {
                        self.nest()?;
                        open.push(Partial::new(Around::Parens));
                        continue;
                    }
                    _ => {
                        self.nest()?;
                        let args = self.block_arguments()?;
                        let scope = self.scope.len();
                        self.scope.extend(args.iter().cloned());
                        if self.peek() == Some(&Tok::BlockClose) {
                            self.at += 1;
                            self.depth -= 1;
                            self.scope.truncate(scope);
                            Expr::Block {
                                args,
                                body: Vec::new(),
                            }
                        } else {
                            open.push(Partial::new(Around::Block {
                                args,
                                body: Vec::new(),
                                scope,
                            }));
                            continue;
                        }
                    }
                },
            };
            // Having one, until a token wants the next.
            loop {
                while let Some(Tok::Ident(name)) = self.peek() {
                    let selector = name.clone();
                    self.at += 1;
                    operand = send(operand, selector, Vec::new());
                }
                let Some(level) = open.last_mut() else {
                    return Err(self.error("unbalanced text"));
                };
                level.operand(operand);
                match self.peek() {
                    Some(Tok::Binary(op)) => {
                        level.operator = Some(op.clone());
                        self.at += 1;
                        break;
                    }
                    Some(Tok::Keyword(k)) => {
                        let k = k.clone();
                        let b = level.take_binary();
                        match &mut level.keyword {
                            None => level.keyword = Some((b, k, Vec::new())),
                            Some((_, selector, args)) => {
                                args.push(b);
                                selector.push_str(&k);
                            }
                        }
                        self.at += 1;
                        break;
                    }
                    _ => {}
                }
                // The level's expression ends here.
                let e = level.finish();
                match &mut level.around {
                    Around::Top => {
                        if self.at != self.toks.len() {
                            return Err(self.error("unexpected text after the expression"));
                        }
                        return Ok(e);
                    }
                    Around::Parens => {
                        if self.peek() != Some(&Tok::Close) {
                            return Err(self.error("expected )"));
                        }
                        self.at += 1;
                        self.depth -= 1;
                        open.pop();
                        operand = e;
                    }
                    Around::Block { body, .. } => {
                        body.push(e);
                        match self.peek() {
                            Some(Tok::Period) => {
                                self.at += 1;
                                if self.peek() != Some(&Tok::BlockClose) {
                                    // The next statement.
                                    break;
                                }
                            }
                            Some(Tok::BlockClose) => {}
                            _ => return Err(self.error("expected . or ] in a block")),
                        }
                        self.at += 1;
                        self.depth -= 1;
                        let Some(Partial {
                            around: Around::Block { args, body, scope },
                            ..
                        }) = open.pop()
                        else {
                            return Err(self.error("unbalanced text"));
                        };
                        self.scope.truncate(scope);
                        operand = Expr::Block { args, body };
                    }
                }
            }
        }
    }

    /// A primary that opens nothing, or `None` after taking a `(` or `[` (which
    /// [`expression`](Self::expression) opens a level for).
    fn primary(&mut self) -> Result<Option<Expr>, ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error("expected an expression"));
        };
        self.at += 1;
        Ok(Some(match t {
            Tok::Int(n) => Expr::Integer(n),
            Tok::Float(f) => Expr::Float(f),
            // The image's reader makes `m * (10 raisedTo: -k)`, the reduced Fraction that
            // `m / 10^k` is.
            Tok::Fraction(n, d) => Expr::Send {
                receiver: Box::new(Expr::Integer(n)),
                selector: "/".into(),
                args: vec![Expr::Integer(d)],
            },
            Tok::Str(s) => Expr::String(s),
            Tok::Sym(s) => Expr::Symbol(s),
            Tok::Char(c) => Expr::Character(c),
            Tok::ImageNumber => Expr::ImageNumber,
            Tok::Ident(name) => match name.as_str() {
                "nil" => Expr::Nil,
                "true" => Expr::True,
                "false" => Expr::False,
                "thisContext" => Expr::ThisContext,
                _ if name.starts_with(|c: char| c.is_uppercase()) => Expr::Global(name),
                _ if self.scope.contains(&name) => Expr::Argument(name),
                _ => {
                    self.at -= 1;
                    return Err(self.error(
                        "only globals (capitalized names) and block arguments are variables here",
                    ));
                }
            },
            Tok::ArrayOpen => self.literal_array()?,
            Tok::Open | Tok::BlockOpen => return Ok(None),
            _ => {
                self.at -= 1;
                return Err(self.error("expected an expression"));
            }
        }))
    }

    /// A block's arguments after its `[`, and the `|` after them.
    fn block_arguments(&mut self) -> Result<Vec<String>, ParseError> {
        let mut args = Vec::new();
        while let Some(Tok::BlockArg(a)) = self.peek() {
            args.push(a.clone());
            self.at += 1;
        }
        if !args.is_empty() {
            match self.peek() {
                Some(Tok::Binary(b)) if b == "|" => self.at += 1,
                Some(Tok::BlockClose) => {}
                _ => return Err(self.error("expected | after the block's arguments")),
            }
        }
        Ok(args)
    }

    /// A literal array after its `#(`, nested ones on an explicit stack.
    fn literal_array(&mut self) -> Result<Expr, ParseError> {
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
                Tok::Char(c) => Expr::Character(c),
                Tok::ImageNumber => Expr::ImageNumber,
                Tok::Ident(w) => match w.as_str() {
                    "nil" => Expr::Nil,
                    "true" => Expr::True,
                    "false" => Expr::False,
                    _ => Expr::Symbol(w),
                },
                Tok::Keyword(k) => Expr::Symbol(k),
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
}

/// Parses one expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        toks: lex(text)?,
        scope: Vec::new(),
        at: 0,
        len: text.chars().count(),
        depth: 0,
    };
    p.expression()
}
