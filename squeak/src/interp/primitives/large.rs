//! LargeIntegers of up to eight bytes (primitives 21-33: `+ - < > <= >= = ~= * / \\ // quo:`,
//! and 14-17, `bitAnd: bitOr: bitXor: bitShift:`, which Squeak 2.2's LargePositiveInteger
//! shares with SmallInteger),
//! as the real VM's `primitiveAddLargeIntegers` and its siblings run them: either operand a
//! SmallInteger or a LargePositiveInteger or LargeNegativeInteger of at most eight magnitude
//! bytes, the answer a SmallInteger where it fits and else a LargeInteger of as few bytes as
//! its magnitude needs (what the image's `normalize` leaves).
//!
//! Without them every step past SmallInteger's 31 bits ran the image's digit-by-digit
//! Smalltalk (`digitAdd:`, `digitCompare:`, `normalize`): a loop summing to 45 billion ran at
//! a thirteenth of the real VM's speed. The answers are the ones that code gives: where a
//! primitive fails here (an operand that is no integer, or longer than eight bytes, a
//! division by zero, a division that is not exact, a product past 127 bits), the image's
//! fallback runs as before.

use super::common::{Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{int_in_range, Exec};
use cowheap::Value;

/// The most magnitude bytes an operand has here, as in the real VM.
const MOST_BYTES: usize = 8;

impl Exec<'_> {
    /// `v` as an integer: a SmallInteger, or a LargePositiveInteger or LargeNegativeInteger
    /// of at most [`MOST_BYTES`] bytes (high zero bytes allowed, as the image's code allows
    /// them); `None` for anything else.
    fn integer_of(&mut self, v: Value) -> Result<Option<i128>, RunError> {
        if let Some(i) = v.as_small_int() {
            return Ok(Some(i as i128));
        }
        if !v.is_object() {
            return Ok(None);
        }
        let class = self.class_of(v)?;
        let negative = if self.same_class(class, self.sh.large_positive)? {
            false
        } else if let Some(negative) = self.sh.large_negative {
            if !self.same_class(class, negative)? {
                return Ok(None);
            }
            true
        } else {
            return Ok(None);
        };
        let n = self.image.size_of(v)?;
        if n > MOST_BYTES {
            return Ok(None);
        }
        let mut bytes = [0u8; MOST_BYTES];
        self.image.read_bytes(v, 0, &mut bytes[..n])?;
        let magnitude = u64::from_le_bytes(bytes) as i128;
        Ok(Some(if negative { -magnitude } else { magnitude }))
    }

    /// `n` as the image holds it: a SmallInteger where it fits, else a LargeInteger.
    fn integer(&mut self, n: i128) -> Result<Value, RunError> {
        match i64::try_from(n).ok().and_then(int_in_range) {
            Some(v) => Ok(v),
            None => {
                let v = self.large_integer(n)?;
                self.check_allocation()?;
                Ok(v)
            }
        }
    }
}

/// Primitives 21-33 on the receiver at `c.ri` and its argument.
pub(crate) fn primitive(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, arg) = (x.stack[c.ri], x.arg(c.ri, 0));
    let (Some(a), Some(b)) = (x.integer_of(rcvr)?, x.integer_of(arg)?) else {
        return Ok(Prim::Fail);
    };
    let r = match c.p {
        21 => a + b,
        22 => a - b,
        23..=28 => {
            let yes = match c.p {
                23 => a < b,
                24 => a > b,
                25 => a <= b,
                26 => a >= b,
                27 => a == b,
                _ => a != b,
            };
            return Ok(Prim::Answer(x.boolean(yes)));
        }
        29 => match a.checked_mul(b) {
            Some(r) => r,
            None => return Ok(Prim::Fail),
        },
        // `/` only where exact: otherwise the image makes a Fraction.
        30 if b != 0 && a % b == 0 => a / b,
        31 if b != 0 => floor_div_mod(a, b).1,
        32 if b != 0 => floor_div_mod(a, b).0,
        33 if b != 0 => a / b,
        _ => return Ok(Prim::Fail),
    };
    Ok(Prim::Answer(x.integer(r)?))
}

/// Primitives 14-17 (`bitAnd: bitOr: bitXor: bitShift:`) where an operand is a
/// LargeInteger (SmallInteger pairs are [`arithmetic`](super::arithmetic)'s): for operands that
/// are not negative, as the real VM's versions take them (`positive32BitValueOf:`; here up to
/// eight bytes), since Squeak 2.2's `digitLogic:op:length:` does not compute a negative
/// LargeInteger's bits in two's complement (`(2 raisedTo: 40) negated bitOr: 7` is -249
/// there), and a shift whose result fits 127 bits.
pub(crate) fn bits(x: &mut Exec<'_>, ri: usize, p: u16) -> Result<Prim, RunError> {
    let (rcvr, arg) = (x.stack[ri], x.arg(ri, 0));
    let (Some(a), Some(b)) = (x.integer_of(rcvr)?, x.integer_of(arg)?) else {
        return Ok(Prim::Fail);
    };
    if a < 0 || (b < 0 && p != 17) {
        return Ok(Prim::Fail);
    }
    let r = match p {
        14 => a & b,
        15 => a | b,
        16 => a ^ b,
        _ if b >= 0 => match u32::try_from(b).ok().and_then(|b| a.checked_shl(b)) {
            Some(r) if r >> b == a => r,
            _ => return Ok(Prim::Fail),
        },
        _ => a >> b.unsigned_abs().min(127),
    };
    Ok(Prim::Answer(x.integer(r)?))
}

/// `a // b` and `a \\ b`: the quotient rounded toward negative infinity and the remainder
/// with the divisor's sign, as SmallInteger's primitives 11 and 12 compute them (`b` is not 0).
fn floor_div_mod(a: i128, b: i128) -> (i128, i128) {
    let (q, r) = (a / b, a % b);
    if r != 0 && (r < 0) != (b < 0) {
        (q - 1, r + b)
    } else {
        (q, r)
    }
}
