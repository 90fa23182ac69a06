//! What a do-it parses to and why one is refused: the types the parser, the compiler and the
//! API share, apart from the grammar, so that the files below the front end (`limits.rs`'s
//! `RunError` wraps a [`ParseError`]) need not sit above the parser.

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
    /// A quoted symbol literal, `#'hello world'`: a Symbol, or the String where the image's
    /// compiler reads it so (Squeak 2.2's does).
    QuotedSymbol(String),
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
    /// A temporary or a block argument.
    Variable(String),
    /// `self`: nil, the receiver of a do-it.
    Receiver,
    /// `thisContext`.
    ThisContext,
    /// A block: its argument names, temporaries and statements.
    Block {
        /// Argument names.
        args: Vec<String>,
        /// Temporaries declared in the block (`[:x | | t | ...]`).
        temps: Vec<String>,
        /// Statements; the last one's value is the block's.
        body: Vec<Expr>,
    },
    /// A global variable, looked up in the image's `Smalltalk` when the expression runs.
    Global(String),
    /// `variable := value`: a temporary, or a global's Association.
    Assign {
        /// The temporary's or global's name.
        variable: String,
        /// The value stored, which is also the expression's.
        value: Box<Expr>,
    },
    /// `^value`: returns from the do-it, also from inside a block.
    Return(Box<Expr>),
    /// `receiver m1; m2; ...`: each message sent to the same receiver; the last one's answer
    /// is the cascade's.
    Cascade {
        /// The receiver.
        receiver: Box<Expr>,
        /// Selector and arguments of each message, in order.
        messages: Vec<(String, Vec<Expr>)>,
    },
    /// A do-it of temporaries and several statements; the last one's value is its answer.
    Sequence {
        /// Temporaries declared (`| a b |`).
        temps: Vec<String>,
        /// Statements.
        body: Vec<Expr>,
    },
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
            Expr::Block { body, .. } | Expr::Sequence { body, .. } => into.append(body),
            Expr::Assign { value: e, .. } | Expr::Return(e) => {
                into.push(std::mem::replace(&mut **e, Expr::Nil));
            }
            Expr::Cascade { receiver, messages } => {
                into.push(std::mem::replace(&mut **receiver, Expr::Nil));
                for (_, args) in messages {
                    into.append(args);
                }
            }
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
