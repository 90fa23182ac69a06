//! Floats: `asFloat` (40), the arithmetic and comparisons (41-50), `truncated` (51),
//! `fractionPart` (52), `exponent` (53), `timesTwoPower:` (54), `sqrt` (55), `sin` (56),
//! `arcTan` (57), `ln` (58) and `exp` (59), with IEEE double semantics, as the V3 VMs compute
//! them in C.
//!
//! A Float is a 2-word words object of the image's Float class. Every loaded heap holds it
//! high word first, whatever the file did (the loader swaps a 6505 image's platform-order
//! Floats), so one layout serves every image; the image's `basicAt:` sees the words in that
//! order, as the real VMs show them.
//!
//! As in the real VM, the arithmetic and comparisons take a SmallInteger for either operand
//! (`loadFloatOrIntFrom:`), the others a Float receiver only. What the C library cannot answer
//! in the image's terms fails, so that the image's own fallback speaks: a division by zero,
//! `sqrt` of a negative number, a `truncated` or `exponent` outside SmallInteger, a comparison
//! with something that is not a number.

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::number::ldexp;
use crate::interp::state::{int, Exec};
use cowheap::{Format, Value};

/// The V3 format code of a words object.
const WORDS_FORMAT: u8 = 6;

impl Exec<'_> {
    /// The value of `v` if it is a Float: an instance of the image's Float class with two
    /// words, high word first.
    #[inline(always)]
    pub(crate) fn float_of(&mut self, v: Value) -> Result<Option<f64>, RunError> {
        match self.own_float(v) {
            Some(f) => Ok(f),
            None => self.float_in_full(v),
        }
    }

    /// [`float_of`](Self::float_of) for one of this image's own words objects of two words
    /// whose class word is the base's Float (every result of Float arithmetic), in one look,
    /// inlined into the arithmetic; `None` where that look does not tell (another class word
    /// may still be Float: the image's own copy, once it wrote the class).
    #[inline(always)]
    fn own_float(&self, v: Value) -> Option<Option<f64>> {
        let float = self.sh.float?;
        let mut words = [0; 2];
        let class = self.image.private_words_of(v, &mut words)?;
        let [hi, lo] = words;
        (class == float).then(|| Some(f64::from_bits(((hi as u64) << 32) | lo as u64)))
    }

    #[inline(never)]
    fn float_in_full(&mut self, v: Value) -> Result<Option<f64>, RunError> {
        let Some(float) = self.sh.float else {
            return Ok(None);
        };
        // Through `identical`: an image that wrote Float (a method added) reads its copy.
        if !v.is_object() || !self.class_is(v, float)? {
            return Ok(None);
        }
        let shape = self.image.shape(v)?;
        if shape.format != Format::Words || shape.len != 2 {
            return Ok(None);
        }
        let mut words = [0; 2];
        self.image.read_words(v, 0, &mut words)?;
        let [hi, lo] = words;
        Ok(Some(f64::from_bits(((hi as u64) << 32) | lo as u64)))
    }

    /// A new Float of the image's class and layout; `None` in a base without a Float class.
    pub(crate) fn new_float(&mut self, f: f64) -> Result<Option<Value>, RunError> {
        let Some(class) = self.sh.float else {
            return Ok(None);
        };
        let bits = f.to_bits();
        let v = self.image.new_words_with_format(
            class,
            &[(bits >> 32) as u32, bits as u32],
            WORDS_FORMAT,
        )?;
        self.check_allocation()?;
        Ok(Some(v))
    }

    /// A Float or a SmallInteger as a double (the real VM's `loadFloatOrIntFrom:`).
    #[inline(always)]
    fn number_of(&mut self, v: Value) -> Result<Option<f64>, RunError> {
        match v.as_small_int() {
            Some(i) => Ok(Some(i as f64)),
            None => self.float_of(v),
        }
    }
}

/// Float primitive `p` (40-59) on `rcvr` and, for those of one argument, `arg`: the answer,
/// or `None` where it fails. On values, not the stack, so that the dispatch loop runs the
/// commonest (a cached method that is one of these, `sqrt` say) where it finds it, as it
/// runs `at:`, without leaving for the full send: the full path's Float primitive took
/// about 600 instructions besides its own work.
pub(crate) fn value(
    x: &mut Exec<'_>,
    p: u16,
    rcvr: Value,
    arg: Value,
) -> Result<Option<Value>, RunError> {
    // As in the real VM, the arithmetic and comparisons take a SmallInteger for either
    // operand (`loadFloatOrIntFrom:`), the others a Float receiver only.
    if (41..=50).contains(&p) {
        let (Some(a), Some(b)) = (x.number_of(rcvr)?, x.number_of(arg)?) else {
            return Ok(None);
        };
        let r = match p {
            41 => a + b,
            42 => a - b,
            49 => a * b,
            50 if b == 0.0 => return Ok(None),
            50 => a / b,
            _ => {
                let yes = match p {
                    43 => a < b,
                    44 => a > b,
                    45 => a <= b,
                    46 => a >= b,
                    47 => a == b,
                    _ => a != b,
                };
                return Ok(Some(x.boolean(yes)));
            }
        };
        return x.new_float(r);
    }
    if p == 40 {
        return match rcvr.as_small_int() {
            Some(i) => x.new_float(i as f64),
            None => Ok(None),
        };
    }
    let Some(f) = x.float_of(rcvr)? else {
        return Ok(None);
    };
    let r = match p {
        51 => {
            // Towards zero, if that is a SmallInteger (else the image builds the
            // LargeInteger itself); NaN and the infinities fail here too: they are in no
            // range.
            let t = f.trunc();
            return Ok((-1_073_741_824.0..=1_073_741_823.0)
                .contains(&t)
                .then(|| int(t as i64)));
        }
        // C's `modf`, so with the receiver's sign (`-2.5` gives `-0.5`) and zero for an
        // infinity.
        52 if f.is_infinite() => 0.0f64.copysign(f),
        52 => f - f.trunc(),
        53 => return Ok(Some(int(exponent_of(f)))),
        54 => match arg.as_small_int() {
            Some(e) => ldexp(f, e),
            None => return Ok(None),
        },
        // `rcvr >= 0.0` in the VM: NaN and negatives fail, -0.0 passes.
        55 if f >= 0.0 => f.sqrt(),
        55 => return Ok(None),
        56 => f.sin(),
        57 => f.atan(),
        58 => f.ln(),
        _ => f.exp(),
    };
    x.new_float(r)
}

/// Primitives 40-59 on the stack: [`value`]'s answer, or the fallback.
pub(crate) fn primitive(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    let arg = if c.nargs() == 1 {
        x.arg(c.ri, 0)
    } else {
        x.sh.nil
    };
    answer(value(x, c.p, rcvr, arg)?)
}

/// Bytecodes 176-181, 184 and 185 (`+ - < > <= >= * /`) whose operands are not two
/// SmallIntegers, as the real VM's bytecodes run them (`bytecodePrimAdd` and its siblings):
/// a Float with a Float or a SmallInteger is computed in floating point there and then,
/// without a look-up; the answer, or `None` for the send (two SmallIntegers, whose own case
/// did not hold, anything not a number, a division by zero). The same values as the send
/// of the selector, whose method's primitive is the Float primitive (or, for a SmallInteger
/// receiver, [`beside_small_int`]), at a fraction of the cost: a Float operation was a send,
/// a look-up and a primitive call at the full path's level, about 960 instructions in a
/// loop, and is now one read of each operand and one allocation.
pub(crate) fn bytecode(
    x: &mut Exec<'_>,
    b: u8,
    rcvr: Value,
    arg: Value,
) -> Result<Option<Value>, RunError> {
    if rcvr.as_small_int().is_some() && arg.as_small_int().is_some() {
        return Ok(None);
    }
    // The Float primitive of the selector: + - < > <= >= * / (176-181, 184, 185) are 41-46,
    // 49 and 50.
    value(x, b as u16 - 135, rcvr, arg)
}

/// SmallInteger primitive `p` (1-10: `+ - < > <= >= = ~= * /`) with an argument that is
/// not a SmallInteger: a Float argument is computed with, as Float primitive `p + 40` would,
/// anything else fails. The real VM's bytecodes for these selectors take a SmallInteger and
/// a Float together and compute in floating point (`bytecodePrimMultiply` and its siblings),
/// never reaching SmallInteger's methods, whose fallback answers otherwise in places
/// (`0 * 1.5` is 0 there and 0.0 on the VM); every send of these selectors but a `perform:`
/// is such a bytecode.
#[cold]
#[inline(never)]
pub(crate) fn beside_small_int(x: &mut Exec<'_>, ri: usize, p: u16) -> Result<Prim, RunError> {
    // The argument is no SmallInteger here, so the float primitive takes only a Float.
    let (rcvr, arg) = (x.stack[ri], x.arg(ri, 0));
    answer(value(x, p + 40, rcvr, arg)?)
}

/// The binary exponent of `f` as C's `frexp` gives it, less one: the `e` of
/// `f = m * 2^e` with `1 <= |m| < 2`. Zero, the infinities and NaN give -1 (`frexp` answers
/// 0 for them).
fn exponent_of(f: f64) -> i64 {
    if f == 0.0 || !f.is_finite() {
        return -1;
    }
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7FF) as i64;
    if biased == 0 {
        // Subnormal: the exponent of its highest set bit.
        let mantissa = bits & ((1 << 52) - 1);
        return -1074 + (63 - mantissa.leading_zeros() as i64);
    }
    biased - 1023
}

#[cfg(test)]
mod tests {
    use super::exponent_of;
    use crate::interp::tests::{int, Out, Run};
    use cowheap::Value;

    fn float(r: &mut Run, f: f64) -> Value {
        let mut x = r.interp.exec_for_test(&mut r.image);
        let v = x
            .new_float(f)
            .unwrap()
            .expect("the tiny base has a Float class");
        x.finish(Ok(v)).unwrap()
    }

    fn value(r: &mut Run, v: Value) -> Option<f64> {
        let mut x = r.interp.exec_for_test(&mut r.image);
        let f = x.float_of(v).unwrap();
        x.finish(Ok(f)).unwrap()
    }

    /// The Float primitive `p` answers, bit for bit.
    fn answers(r: &mut Run, p: u16, rcvr: Value, args: &[Value]) -> f64 {
        let v = r.answer(p, rcvr, args);
        value(r, v).unwrap_or_else(|| panic!("primitive {p} answered {v:?}, not a Float"))
    }

    #[test]
    fn a_float_is_two_words_high_word_first() {
        let mut r = Run::new();
        let f = float(&mut r, 3.5);
        assert_eq!(r.image.words(f).unwrap(), [0x400C_0000, 0]);
        assert_eq!(r.image.class_of(f).unwrap(), r.t.float);
        assert_eq!(value(&mut r, f), Some(3.5));
        // Two words of another class are no Float.
        let words = r.t.k.word_array;
        let w = r.answer(71, words, &[int(2)]);
        assert_eq!(value(&mut r, w), None);
        assert_eq!(value(&mut r, int(3)), None);
    }

    #[test]
    fn arithmetic_takes_floats_and_small_integers() {
        let mut r = Run::new();
        let a = float(&mut r, 3.5);
        assert_eq!(answers(&mut r, 41, a, &[int(1)]), 4.5);
        assert_eq!(answers(&mut r, 42, a, &[int(1)]), 2.5);
        assert_eq!(answers(&mut r, 49, a, &[a]), 12.25);
        assert_eq!(answers(&mut r, 50, int(7), &[a]), 2.0);
        let (p1, p2) = (float(&mut r, 0.1), float(&mut r, 0.2));
        assert_eq!(answers(&mut r, 41, p1, &[p2]), 0.1 + 0.2);
        assert_eq!(answers(&mut r, 40, int(-7), &[]), -7.0);
        // Division by zero fails (the image says so); so does anything not a number.
        let zero = float(&mut r, 0.0);
        r.fails(50, a, &[zero]);
        r.fails(50, a, &[int(0)]);
        let nil = r.nil();
        r.fails(41, a, &[nil]);
        r.fails(40, a, &[]);
    }

    #[test]
    fn comparisons_are_ieee() {
        let mut r = Run::new();
        let (a, nan) = (float(&mut r, 2.5), float(&mut r, f64::NAN));
        let (t, f) = (r.boolean(true), r.boolean(false));
        assert_eq!(r.prim(43, a, &[int(3)]), Ok(Out::Answer(t)));
        assert_eq!(r.prim(44, a, &[int(3)]), Ok(Out::Answer(f)));
        assert_eq!(r.prim(45, a, &[a]), Ok(Out::Answer(t)));
        assert_eq!(r.prim(46, int(2), &[a]), Ok(Out::Answer(f)));
        assert_eq!(r.prim(47, nan, &[nan]), Ok(Out::Answer(f)));
        assert_eq!(r.prim(48, nan, &[nan]), Ok(Out::Answer(t)));
        assert_eq!(r.prim(43, nan, &[a]), Ok(Out::Answer(f)));
        let nil = r.nil();
        r.fails(47, a, &[nil]);
    }

    #[test]
    fn truncated_answers_small_integers_only() {
        let mut r = Run::new();
        for (f, t) in [
            (2.5, 2),
            (-2.5, -2),
            (1073741823.9, 1073741823),
            (-1073741824.5, -1073741824),
        ] {
            let v = float(&mut r, f);
            assert_eq!(r.answer(51, v, &[]), int(t), "{f} truncated");
        }
        for f in [1073741824.0, -1073741825.0, f64::NAN, f64::INFINITY, 1e300] {
            let v = float(&mut r, f);
            r.fails(51, v, &[]);
        }
        r.fails(51, int(3), &[]);
    }

    #[test]
    fn fraction_part_exponent_and_times_two_power() {
        let mut r = Run::new();
        let v = float(&mut r, -2.5);
        assert_eq!(answers(&mut r, 52, v, &[]), -0.5);
        let inf = float(&mut r, f64::INFINITY);
        assert_eq!(answers(&mut r, 52, inf, &[]), 0.0);
        assert_eq!(r.answer(53, v, &[]), int(1));
        for (f, e) in [
            (1.0, 0),
            (0.75, -1),
            (0.0, -1),
            (1e300, 996),
            (5e-324, -1074),
            (f64::MIN_POSITIVE, -1022),
        ] {
            assert_eq!(exponent_of(f), e, "{f} exponent");
        }
        assert_eq!(answers(&mut r, 54, v, &[int(3)]), -20.0);
        let tiny = float(&mut r, 1.5);
        assert_eq!(answers(&mut r, 54, tiny, &[int(-1075)]), 5e-324);
        assert_eq!(answers(&mut r, 54, tiny, &[int(1 << 29)]), f64::INFINITY);
        r.fails(54, v, &[v]);
    }

    #[test]
    fn the_functions_are_the_c_librarys_and_sqrt_fails_below_zero() {
        let mut r = Run::new();
        let two = float(&mut r, 2.0);
        assert_eq!(answers(&mut r, 55, two, &[]), 2f64.sqrt());
        assert_eq!(answers(&mut r, 56, two, &[]), 2f64.sin());
        assert_eq!(answers(&mut r, 57, two, &[]), 2f64.atan());
        assert_eq!(answers(&mut r, 58, two, &[]), 2f64.ln());
        assert_eq!(answers(&mut r, 59, two, &[]), 2f64.exp());
        let zero = float(&mut r, 0.0);
        assert_eq!(answers(&mut r, 58, zero, &[]), f64::NEG_INFINITY);
        let minus = float(&mut r, -4.0);
        r.fails(55, minus, &[]);
        assert!(answers(&mut r, 58, minus, &[]).is_nan());
        r.fails(55, int(4), &[]);
    }
}
