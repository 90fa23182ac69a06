//! The do-its `cowheap run` takes, parsed in Rust (the image needs no compiler) and compiled
//! (`compile.rs`) into a private CompiledMethod that the interpreter runs with nil as `self`.
//!
//! ```text
//! doit       := temps? statements
//! temps      := | name* |
//! statements := (statement (. statement)* .?)?       a ^ statement comes last
//! statement  := ^? expr
//! expr       := (variable :=)* cascade
//! cascade    := keywords (; message)*
//! keywords   := binary (keyword binary)*
//! binary     := unary (binop unary)*
//! unary      := primary identifier*
//! primary    := literal | $i | Global | variable | self | thisContext | ( expr ) | block
//! block      := [ ((:argument)+ |)? temps? statements ]
//! literal    := number | 'string' | #symbol | $c | nil | true | false | #( literal* )
//! number     := -? digits (r digits)? (. digits)? (e -? digits)?   3 -7 16r1F 3.5 1.0e10 2e-3
//! ```
//!
//! Inside a literal array, bare words are symbols, as in Smalltalk. Variables are the
//! temporaries and block arguments in scope; capitalized names are globals, looked up in the
//! image's `Smalltalk` when the do-it is compiled. `self` is nil; `super` has no class to start
//! from and is refused. As in the V3 compilers, a block's temporaries live in the do-it's
//! context, so they are shared by every activation of the block and keep their values between
//! them.
//!
//! `$i` is the image's number where the host numbers its images
//! ([`Interpreter::set_image_number`](super::Interpreter::set_image_number)), so that each of
//! many images can write something different; elsewhere it is the Character `i`.
//!
//! No text can make the parser or the compiler overflow a thread's stack: they parse, compile
//! and drop an expression in loops over explicit stacks, never recursing per level, so neither
//! a chain of sends (`1 + 1 + 1 ...`, which nests its receivers as deep as it is long) nor
//! nesting costs Rust stack. Parentheses, blocks and literal arrays nest at most
//! [`MAX_NESTING`] deep ([`ParseError::TooDeep`] beyond). (The derived `Clone`, `Debug` and
//! `PartialEq` of [`Expr`] do recurse, once per level.)

use super::expr::{Expr, ParseError, MAX_NESTING};
use super::lexer::{lex, Tok};

mod literals;

struct Parser {
    toks: Vec<(usize, Tok)>,
    /// Temporaries and block arguments in scope, innermost last; `true` for an argument
    /// (which cannot be assigned).
    scope: Vec<(String, bool)>,
    at: usize,
    len: usize,
    /// Parentheses, blocks and literal arrays open around the current token.
    depth: usize,
}

/// A sequence of statements being parsed: the whole text's, or a block's.
struct Statements {
    /// The block's arguments; `None` for the whole text.
    block: Option<Vec<String>>,
    temps: Vec<String>,
    body: Vec<Expr>,
    /// The scope's length outside the block.
    scope: usize,
    /// The last statement was a `^`: nothing but the end may follow.
    returned: bool,
}

/// A cascade's message: selector and arguments.
type Message = (String, Vec<Expr>);

/// What an expression being parsed sits in.
enum Around {
    /// A sequence of statements: the whole text, or a block.
    Statements(Statements),
    /// `( ... )`.
    Parens,
}

/// One expression being parsed, `(name :=)* expr (; message)*` with `expr := binary
/// (keyword binary)*`, with what it sits in: the parser's explicit stack holds one per open
/// parenthesis or block (and one for the text), so that nesting costs no Rust stack.
struct Partial {
    around: Around,
    /// `^` before the statement.
    returns: bool,
    /// The variables assigned (`name :=`) before the expression, outermost first.
    assigns: Vec<String>,
    /// The cascade so far: its receiver and the messages before the one being parsed.
    cascade: Option<(Expr, Vec<Message>)>,
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
            returns: false,
            assigns: Vec::new(),
            cascade: None,
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

    /// The message expression so far, at a `;` or the end.
    fn take_message(&mut self) -> Expr {
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

    /// `| a b |` at the start of a sequence of statements: declared and put in scope.
    fn temporaries(&mut self) -> Result<Vec<String>, ParseError> {
        let mut temps = Vec::new();
        match self.peek() {
            Some(Tok::Binary(b)) if b == "||" => self.at += 1,
            Some(Tok::Binary(b)) if b == "|" => {
                self.at += 1;
                loop {
                    match self.peek() {
                        Some(Tok::Ident(name)) => {
                            let name = name.clone();
                            self.variable_name(&name)?;
                            // The image's own compiler's words for both (Squeak 2.2's
                            // `Encoder>>bindTemp:`): a name declared twice in one list, and
                            // one that an enclosing block or the do-it already declares.
                            if temps.contains(&name) {
                                return Err(self.error("Name is already defined"));
                            }
                            if self.in_scope(&name) {
                                return Err(self.error(ALREADY_USED));
                            }
                            self.scope.push((name.clone(), false));
                            temps.push(name);
                            self.at += 1;
                        }
                        Some(Tok::Binary(b)) if b == "|" => {
                            self.at += 1;
                            break;
                        }
                        _ => return Err(self.error("expected a temporary's name or |")),
                    }
                }
            }
            _ => {}
        }
        Ok(temps)
    }

    fn in_scope(&self, name: &str) -> bool {
        self.scope.iter().any(|(n, _)| n == name)
    }

    /// Refuses a name that cannot be a temporary or argument.
    fn variable_name(&self, name: &str) -> Result<(), ParseError> {
        if matches!(
            name,
            "nil" | "true" | "false" | "self" | "super" | "thisContext"
        ) || name.starts_with(|c: char| c.is_uppercase())
        {
            return Err(self.error(&format!("{name} cannot be a temporary's name")));
        }
        Ok(())
    }

    /// The start of an expression: `^` (at the start of a statement) and `name :=`.
    fn expression_start(&mut self, level: &mut Partial) -> Result<(), ParseError> {
        if matches!(level.around, Around::Statements(_)) && self.peek() == Some(&Tok::Caret) {
            self.at += 1;
            level.returns = true;
        }
        while let (Some(Tok::Ident(name)), Some((_, Tok::Assign))) =
            (self.peek(), self.toks.get(self.at + 1))
        {
            let name = name.clone();
            if !name.starts_with(|c: char| c.is_uppercase()) {
                match self.scope.iter().rev().find(|(n, _)| *n == name) {
                    Some((_, false)) => {}
                    Some((_, true)) => {
                        return Err(self.error(&format!(
                            "{name} is a block argument, which cannot be assigned"
                        )))
                    }
                    None => return Err(self.error(&undeclared(&name))),
                }
            }
            level.assigns.push(name);
            self.at += 2;
        }
        Ok(())
    }

    /// The whole text as a sequence of statements. A loop over an explicit stack of open
    /// parentheses and blocks: it alternates between wanting an operand (a primary, or an
    /// opening that pushes a level) and having one (unary sends, then a binary operator,
    /// keyword or `;` that wants the next operand, or the end of an expression: the next
    /// statement, or the end of a level, whose expression is an operand of the level around
    /// it).
    fn expression(&mut self) -> Result<Expr, ParseError> {
        let temps = self.temporaries()?;
        let mut open = vec![Partial::new(Around::Statements(Statements {
            block: None,
            temps,
            body: Vec::new(),
            scope: 0,
            returned: false,
        }))];
        if self.at == self.toks.len() && self.at > 0 {
            return Ok(Expr::Nil);
        }
        let mut at_start = true;
        loop {
            // Wanting an operand.
            if at_start {
                let Some(level) = open.last_mut() else {
                    return Err(self.error("unbalanced text"));
                };
                self.expression_start(level)?;
            }
            at_start = false;
            let mut operand = match self.primary()? {
                Some(e) => e,
                None => match self.toks[self.at - 1].1 {
                    Tok::Open => {
                        self.nest()?;
                        open.push(Partial::new(Around::Parens));
                        at_start = true;
                        continue;
                    }
                    _ => {
                        self.nest()?;
                        let args = self.block_arguments()?;
                        let scope = self.scope.len();
                        self.scope.extend(args.iter().map(|a| (a.clone(), true)));
                        let temps = self.temporaries()?;
                        if self.peek() == Some(&Tok::BlockClose) {
                            self.at += 1;
                            self.depth -= 1;
                            self.scope.truncate(scope);
                            Expr::Block {
                                args,
                                temps,
                                body: Vec::new(),
                            }
                        } else {
                            open.push(Partial::new(Around::Statements(Statements {
                                block: Some(args),
                                temps,
                                body: Vec::new(),
                                scope,
                                returned: false,
                            })));
                            at_start = true;
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
                let mut message = level.take_message();
                let cascading = self.peek() == Some(&Tok::Cascade);
                let e = match level.cascade.take() {
                    None if !cascading => Some(message),
                    // The first `;`: the message before it is the cascade's first.
                    None => {
                        let Expr::Send {
                            receiver,
                            selector,
                            args,
                        } = &mut message
                        else {
                            return Err(self.error("a cascade (;) must follow a message"));
                        };
                        let receiver = std::mem::replace(&mut **receiver, Expr::Nil);
                        let first = (std::mem::take(selector), std::mem::take(args));
                        level.cascade = Some((receiver, vec![first]));
                        None
                    }
                    // A later message of the cascade: one message to the placeholder
                    // receiver this loop started it with (`operand` below).
                    Some((receiver, mut messages)) => {
                        let Expr::Send {
                            receiver: to,
                            selector,
                            args,
                        } = &mut message
                        else {
                            return Err(self.error("expected a message after ;"));
                        };
                        if **to != Expr::Nil {
                            return Err(self.error("each part of a cascade is one message"));
                        }
                        messages.push((std::mem::take(selector), std::mem::take(args)));
                        if cascading {
                            level.cascade = Some((receiver, messages));
                            None
                        } else {
                            Some(Expr::Cascade {
                                receiver: Box::new(receiver),
                                messages,
                            })
                        }
                    }
                };
                let Some(mut e) = e else {
                    // After `;`, the next message's selector is sent to a placeholder.
                    self.at += 1;
                    operand = Expr::Nil;
                    continue;
                };
                for name in level.assigns.drain(..).rev() {
                    e = Expr::Assign {
                        variable: name,
                        value: Box::new(e),
                    };
                }
                if std::mem::take(&mut level.returns) {
                    e = Expr::Return(Box::new(e));
                }
                // The expression ends here.
                let st = match &mut level.around {
                    Around::Parens => {
                        if self.peek() != Some(&Tok::Close) {
                            return Err(self.error("expected )"));
                        }
                        self.at += 1;
                        self.depth -= 1;
                        open.pop();
                        operand = e;
                        continue;
                    }
                    Around::Statements(st) => st,
                };
                st.returned = matches!(e, Expr::Return(_));
                st.body.push(e);
                let end = if st.block.is_some() {
                    Some(Tok::BlockClose)
                } else {
                    None
                };
                if self.peek() == Some(&Tok::Period) {
                    self.at += 1;
                    if self.peek().cloned() != end {
                        if st.returned {
                            return Err(self.error("nothing may follow a ^ statement"));
                        }
                        // The next statement.
                        at_start = true;
                        break;
                    }
                }
                if self.peek().cloned() != end {
                    return Err(self.error(match end {
                        None => "unexpected text after the expression",
                        Some(_) => "expected . or ] in a block",
                    }));
                }
                let Some(Partial {
                    around: Around::Statements(st),
                    ..
                }) = open.pop()
                else {
                    return Err(self.error("unbalanced text"));
                };
                let Some(args) = st.block else {
                    return Ok(top_level(st.temps, st.body));
                };
                self.at += 1;
                self.depth -= 1;
                self.scope.truncate(st.scope);
                operand = Expr::Block {
                    args,
                    temps: st.temps,
                    body: st.body,
                };
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
            Tok::QuotedSym(s) => Expr::QuotedSymbol(s),
            Tok::Char(c) => Expr::Character(c),
            Tok::ImageNumber => Expr::ImageNumber,
            Tok::Ident(name) => match name.as_str() {
                "nil" => Expr::Nil,
                "true" => Expr::True,
                "false" => Expr::False,
                "thisContext" => Expr::ThisContext,
                "self" => Expr::Receiver,
                "super" => {
                    self.at -= 1;
                    return Err(self.error("super has no class to start from in an expression"));
                }
                _ if name.starts_with(|c: char| c.is_uppercase()) => Expr::Global(name),
                _ if self.in_scope(&name) => Expr::Variable(name),
                _ => {
                    self.at -= 1;
                    return Err(self.error(&undeclared(&name)));
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
        let mut args: Vec<String> = Vec::new();
        while let Some((column, Tok::BlockArg(a))) = self.toks.get(self.at) {
            // As the image's compiler: an argument may not take a name the block's other
            // arguments or anything around it declare (sibling blocks may share one).
            if args.contains(a) || self.in_scope(a) {
                return Err(ParseError::Syntax {
                    column: column + 2,
                    message: ALREADY_USED.to_owned(),
                });
            }
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
}

/// Squeak 2.2's compiler's message for a block argument or temporary that reuses a name in
/// scope (the real VM's notifier then fails; cowheap stops with it as a parse error).
const ALREADY_USED: &str = "Name already used in this method";

fn undeclared(name: &str) -> String {
    format!(
        "{name} is not declared: variables are temporaries (| {name} |), block arguments or \
         globals (capitalized names)"
    )
}

/// What the whole text parses to: its one statement alone, or else a [`Expr::Sequence`].
fn top_level(temps: Vec<String>, mut body: Vec<Expr>) -> Expr {
    if temps.is_empty() && body.len() == 1 {
        if let Some(e) = body.pop() {
            return e;
        }
    }
    Expr::Sequence { temps, body }
}

/// Parses a do-it: temporaries and statements, or one expression.
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
