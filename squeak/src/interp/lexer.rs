//! The do-it's tokens, apart from the grammar: what a token is depends only on the text and
//! the token before it (and on being inside a literal array, where `-1` is a number even after
//! a literal), never on what the parser expects.

use super::expr::ParseError;
use super::number::{self, Number};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Int(i128),
    Float(f64),
    /// `2e-3`: numerator and denominator.
    Fraction(i128, i128),
    Str(String),
    Sym(String),
    QuotedSym(String),
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
    /// `:=`.
    Assign,
    /// `^`.
    Caret,
    /// `;`.
    Cascade,
}

const BINARY_CHARS: &str = "+-*/\\<>=~@%|&?,";

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

pub(super) fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(usize, Tok)> = Vec::new();
    let mut i = 0;
    let err = |at: usize, m: &str| ParseError::Syntax {
        column: at + 1,
        message: m.to_owned(),
    };
    // For each open `(`: whether it is (inside) a literal array, where `-1` is a number
    // even after another literal (`#(7 -1)`), not a binary operator as in `7 -1`.
    let mut parens: Vec<bool> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let in_array = parens.last() == Some(&true);
        let operand_before = !in_array
            && matches!(
                out.last(),
                Some((
                    _,
                    Tok::Int(_)
                        | Tok::Float(_)
                        | Tok::Fraction(..)
                        | Tok::Str(_)
                        | Tok::Sym(_)
                        | Tok::QuotedSym(_)
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
        // A comment, `"..."`, is whitespace (a doubled quote has no meaning inside one).
        if c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '"')
                .ok_or_else(|| err(start, "unterminated comment"))?;
            i += end + 2;
            continue;
        }
        let negative =
            c == '-' && !operand_before && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || negative {
            let (n, end) =
                number::read(&chars, i + negative as usize).map_err(|m| err(start, &m))?;
            i = end;
            // A letter run into the number is no part of it here (`2even`): refused, rather
            // than read as a number and a unary send.
            if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
                return Err(err(start, "a number runs into a letter"));
            }
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
                parens.push(true);
                out.push((start, Tok::ArrayOpen));
                continue;
            }
            if chars.get(i) == Some(&'\'') {
                let (s, end) = quoted(&chars, i).ok_or_else(|| err(i, "unterminated string"))?;
                i = end;
                out.push((start, Tok::QuotedSym(s)));
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
        } else if c == ':' && chars.get(i + 1) == Some(&'=') {
            i += 2;
            out.push((start, Tok::Assign));
        } else if c == '^' || c == ';' {
            i += 1;
            out.push((start, if c == '^' { Tok::Caret } else { Tok::Cascade }));
        } else if c == ':' && chars.get(i + 1).is_some_and(|c| c.is_alphabetic()) {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Tok::BlockArg(chars[start + 1..i].iter().collect())));
        } else if c == '(' {
            i += 1;
            parens.push(in_array);
            out.push((start, Tok::Open));
        } else if c == ')' {
            i += 1;
            parens.pop();
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
