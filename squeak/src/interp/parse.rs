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
//! literal := integer | 'string' | #symbol | $c | nil | true | false | #( literal* )
//! ```
//!
//! Inside a literal array, bare words are symbols, as in Smalltalk.
//!
//! `$i` is the image's number ([`Interpreter::set_image_number`](super::Interpreter::set_image_number)),
//! not the Character `i`: it lets each of many images write something different.

/// A parsed expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// An integer literal (LargeIntegers beyond 31 bits).
    Integer(i128),
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
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128),
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
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse().map_err(|_| err(start, "integer too large"))?;
            out.push((start, Tok::Int(n)));
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
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(start, "unterminated string")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
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
                let (_, tok) = lex(&chars[i..].iter().collect::<String>())?
                    .into_iter()
                    .next()
                    .ok_or_else(|| err(start, "a symbol needs a name"))?;
                let Tok::Str(s) = tok else {
                    return Err(err(start, "a symbol needs a name"));
                };
                i += s.chars().filter(|&c| c == '\'').count() + s.chars().count() + 2;
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
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError::Syntax {
            column: self.toks.get(self.at).map_or(self.len, |(c, _)| *c) + 1,
            message: message.to_owned(),
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let receiver = self.binary()?;
        let mut selector = String::new();
        let mut args = Vec::new();
        while let Some(Tok::Keyword(k)) = self.peek() {
            selector.push_str(&k.clone());
            self.at += 1;
            args.push(self.binary()?);
        }
        Ok(if args.is_empty() {
            receiver
        } else {
            Expr::Send {
                receiver: Box::new(receiver),
                selector,
                args,
            }
        })
    }

    fn binary(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        while let Some(Tok::Binary(op)) = self.peek() {
            let selector = op.clone();
            self.at += 1;
            let arg = self.unary()?;
            e = Expr::Send {
                receiver: Box::new(e),
                selector,
                args: vec![arg],
            };
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        while let Some(Tok::Ident(name)) = self.peek() {
            let selector = name.clone();
            self.at += 1;
            e = Expr::Send {
                receiver: Box::new(e),
                selector,
                args: Vec::new(),
            };
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error("expected an expression"));
        };
        self.at += 1;
        Ok(match t {
            Tok::Int(n) => Expr::Integer(n),
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
            Tok::BlockOpen => self.block()?,
            Tok::ArrayOpen => self.literal_array()?,
            Tok::Open => {
                let e = self.expr()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.error("expected )"));
                }
                self.at += 1;
                e
            }
            _ => {
                self.at -= 1;
                return Err(self.error("expected an expression"));
            }
        })
    }
}

impl Parser {
    /// A block after its `[`.
    fn block(&mut self) -> Result<Expr, ParseError> {
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
        let scope = self.scope.len();
        self.scope.extend(args.iter().cloned());
        let mut body = Vec::new();
        while self.peek() != Some(&Tok::BlockClose) {
            body.push(self.expr()?);
            match self.peek() {
                Some(Tok::Period) => self.at += 1,
                Some(Tok::BlockClose) => {}
                _ => return Err(self.error("expected . or ] in a block")),
            }
        }
        self.at += 1;
        self.scope.truncate(scope);
        Ok(Expr::Block { args, body })
    }

    /// The elements of `#( ... )` after the opening token.
    fn literal_array(&mut self) -> Result<Expr, ParseError> {
        let mut items = Vec::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.error("expected ) to end the literal array"));
            };
            self.at += 1;
            items.push(match t {
                Tok::Close => return Ok(Expr::Array(items)),
                Tok::Int(n) => Expr::Integer(n),
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
                Tok::ArrayOpen | Tok::Open => self.literal_array()?,
                _ => return Err(self.error("not a literal")),
            });
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
    };
    let e = p.expr()?;
    if p.at != p.toks.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(e)
}
