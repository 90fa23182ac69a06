//! Number literals as a Squeak 2.2 image reads them (`Number class>>readFrom:` and
//! `readRemainderOf:from:base:withSign:`), so that an expression's `1.1e300` is the very
//! Float the image's own compiler would make, last bit included, not the correctly rounded
//! one: `16r1F`, `2r1.1`, `1.5e2` (a Float), `2e3` (an Integer), `2e-3` (a Fraction).
//!
//! The image computes a Float literal in Floats: `intPart asFloat + (fraction asFloat /
//! (base raisedTo: digits))`, then `* (base raisedTo: exponent)`. Each step is done here as
//! the image does it, with its own `Integer>>asFloat` for LargeIntegers (the top eight bytes
//! summed, then scaled) and its own `Fraction>>asFloat` for a negative exponent.

/// A number literal's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    Integer(i128),
    Float(f64),
    /// A negative exponent on an integer: numerator and denominator, unreduced.
    Fraction(i128, i128),
}

/// The largest exponent read: past it every Float literal is 0 or infinite anyway, and the
/// integer ones are far beyond what a literal here holds.
const MAX_EXPONENT: u32 = 10_000;

/// A non-negative integer of any size: its bytes, least significant first, no high zero
/// bytes (a LargePositiveInteger's digits).
#[derive(Clone, Debug, PartialEq)]
struct Big(Vec<u8>);

/// The most bytes a [`Big`] grows to: past it a number stops changing, and stays at least
/// 2^4096, which is all that its readers can tell apart (as a Float it is infinite from 137
/// bytes on, and it is no `i128`). Without the bound a literal of 130,000 digits took
/// seconds to read (each digit a pass over all the bytes before it), out of reach of the
/// run's time limit, which the compiler does not look at.
const SATURATED: usize = 512;

impl Big {
    fn mul_add(&mut self, m: u32, a: u32) {
        if self.0.len() > SATURATED {
            return;
        }
        let mut carry = a as u64;
        for b in self.0.iter_mut() {
            let v = *b as u64 * m as u64 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while carry != 0 {
            self.0.push(carry as u8);
            carry >>= 8;
        }
    }

    fn pow(base: u32, k: u32) -> Big {
        let mut p = Big(vec![1]);
        for _ in 0..k {
            if p.0.len() > SATURATED {
                break;
            }
            p.mul_add(base, 0);
        }
        p
    }

    fn to_i128(&self) -> Option<i128> {
        if self.0.len() > 15 {
            return None;
        }
        Some(
            self.0
                .iter()
                .rev()
                .fold(0i128, |v, &b| (v << 8) | b as i128),
        )
    }

    /// The image's `Integer>>asFloat` (exact for a SmallInteger, as primitive 40 is): the
    /// top eight bytes summed in Floats, least significant first, then scaled.
    fn as_float(&self) -> f64 {
        let n = self.0.len();
        let from = n.saturating_sub(8);
        let (mut sum, mut weight) = (0.0f64, 1.0f64);
        for &b in &self.0[from..] {
            sum += b as f64 * weight;
            weight *= 256.0;
        }
        ldexp(sum, 8 * from as i64)
    }

    /// `(self / 2^k) rounded`: half away from zero, as `Fraction>>rounded`.
    fn shift_rounded(&self, k: usize) -> Big {
        // self + 2^(k-1), then shifted right k bits.
        let mut sum = self.0.clone();
        let (byte, bit) = ((k - 1) / 8, (k - 1) % 8);
        if sum.len() <= byte {
            sum.resize(byte + 1, 0);
        }
        let mut carry = 1u32 << bit;
        for b in sum[byte..].iter_mut() {
            let v = *b as u32 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        if carry != 0 {
            sum.push(carry as u8);
        }
        let (skip, bits) = (k / 8, k % 8);
        let mut out: Vec<u8> = (skip..sum.len())
            .map(|i| {
                let lo = sum[i] >> bits;
                let hi = sum
                    .get(i + 1)
                    .map_or(0, |&h| if bits == 0 { 0 } else { h << (8 - bits) });
                lo | hi
            })
            .collect();
        while out.last() == Some(&0) {
            out.pop();
        }
        Big(out)
    }
}

/// The image's `Fraction>>asFloat` of `1 / d`: `1.0 / d asFloat`, or, where that
/// denominator is infinite as a Float, `1.0 / 2^53 / (d / 2^53) rounded asFloat`.
fn reciprocal_as_float(d: &Big) -> f64 {
    let f = d.as_float();
    if f.is_infinite() {
        let two53 = 9_007_199_254_740_992.0;
        1.0 / two53 / d.shift_rounded(53).as_float()
    } else {
        1.0 / f
    }
}

/// `f * 2^e`, as C's `ldexp`: in steps small enough that no intermediate power of two
/// overflows or is subnormal (each at most 2^1022), so that only the last step rounds (into
/// the subnormals) or overflows.
pub(crate) fn ldexp(f: f64, e: i64) -> f64 {
    // Past these, every finite non-zero double overflows or underflows anyway.
    let e = e.clamp(-2200, 2200);
    let steps = ((e.unsigned_abs() as i64 + 1021) / 1022).clamp(1, 3);
    let mut r = f;
    for i in 0..steps {
        let k = (e + i).div_euclid(steps);
        r *= f64::from_bits(((k + 1023) as u64) << 52);
    }
    r
}

/// The value of digit `c` in `base` (`0-9`, then `A-Z`: lowercase letters are no digits, as
/// in the image).
fn digit(c: Option<&char>, base: u32) -> Option<u32> {
    let d = match *c? {
        c @ '0'..='9' => c as u32 - '0' as u32,
        c @ 'A'..='Z' => c as u32 - 'A' as u32 + 10,
        _ => return None,
    };
    (d < base).then_some(d)
}

/// The digits in `base` from `chars[i]`, and where they end.
fn digits(chars: &[char], mut i: usize, base: u32) -> (Big, usize) {
    let mut n = Big(Vec::new());
    while let Some(d) = digit(chars.get(i), base) {
        n.mul_add(base, d);
        i += 1;
    }
    (n, i)
}

/// Reads the unsigned number literal that starts with the decimal digit at `chars[at]`:
/// its value and the index after it, or what is wrong with it.
pub(crate) fn read(chars: &[char], at: usize) -> Result<(Number, usize), String> {
    let too_large = || "integer too large".to_owned();
    let (mut int_part, mut i) = digits(chars, at, 10);
    let mut base = 10;
    if chars.get(i) == Some(&'r') {
        base = match int_part.to_i128() {
            Some(b @ 2..=36) => b as u32,
            _ => return Err("a radix must be 2 to 36".into()),
        };
        let (n, end) = digits(chars, i + 1, base);
        if end == i + 1 {
            return Err(format!("expected a digit of base {base} after the radix"));
        }
        (int_part, i) = (n, end);
    }
    let mut float = None;
    if chars.get(i) == Some(&'.') && digit(chars.get(i + 1), base).is_some() {
        let (fraction, end) = digits(chars, i + 1, base);
        let scale = Big::pow(base, (end - i - 1) as u32);
        float = Some(int_part.as_float() + fraction.as_float() / scale.as_float());
        i = end;
    }
    let exponent_digit = |j: usize| chars.get(j).is_some_and(|c| c.is_ascii_digit());
    if chars.get(i) == Some(&'e')
        && (exponent_digit(i + 1) || (chars.get(i + 1) == Some(&'-') && exponent_digit(i + 2)))
    {
        let negative = chars[i + 1] == '-';
        let (e, end) = digits(chars, i + 1 + negative as usize, 10);
        i = end;
        let e = e
            .to_i128()
            .filter(|&e| e <= MAX_EXPONENT as i128)
            .ok_or("exponent too large")? as u32;
        let power = Big::pow(base, e);
        return Ok((
            match (float, negative) {
                (Some(f), false) => Number::Float(f * power.as_float()),
                (Some(f), true) => Number::Float(f * reciprocal_as_float(&power)),
                (None, false) => {
                    let (m, p) = (int_part.to_i128(), power.to_i128());
                    let n = m.zip(p).and_then(|(m, p)| m.checked_mul(p));
                    Number::Integer(n.ok_or_else(too_large)?)
                }
                (None, true) => match (int_part.to_i128(), power.to_i128()) {
                    (Some(m), Some(p)) => Number::Fraction(m, p),
                    _ => return Err(too_large()),
                },
            },
            i,
        ));
    }
    Ok((
        match float {
            Some(f) => Number::Float(f),
            None => Number::Integer(int_part.to_i128().ok_or_else(too_large)?),
        },
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Number {
        let chars: Vec<char> = text.chars().collect();
        let (n, end) = read(&chars, 0).unwrap();
        assert_eq!(end, chars.len(), "{text} read to its end");
        n
    }

    /// The bits the real VM's image gives each literal (`(f basicAt: 1)`, `(f basicAt: 2)` on
    /// Squeak 4.10 with the mini 2.2 image): where they are not the correctly rounded double
    /// (`1.1e300`), the reader follows the image.
    #[test]
    fn float_literals_are_the_images_bits() {
        let real_vm: [(&str, u32, u32); 10] = [
            ("0.1", 1069128089, 2576980378),
            ("0.2", 1070176665, 2576980378),
            ("0.3", 1070805811, 858993459),
            ("1.0e10", 1107468383, 536870912),
            ("3.5", 1074528256, 0),
            ("2.5e-3", 1063549665, 1202590843),
            ("123.456", 1079958831, 446676599),
            ("1.0e-10", 1037794527, 3654794683),
            ("0.7", 1072064102, 1717986918),
            ("1.1e300", 2117748700, 791917715),
        ];
        for (text, hi, lo) in real_vm {
            let Number::Float(f) = value(text) else {
                panic!("{text} is not a Float");
            };
            assert_eq!(f.to_bits(), ((hi as u64) << 32) | lo as u64, "{text}");
        }
        assert_ne!(1.1e300f64.to_bits(), (2117748700u64 << 32) | 791917715);
        assert_eq!(value("1.0e400"), Number::Float(f64::INFINITY));
        assert_eq!(value("1.0e-400"), Number::Float(0.0));
        assert_eq!(value("1.5e2"), Number::Float(150.0));
    }

    #[test]
    fn integers_radixes_and_exponents() {
        assert_eq!(value("2r101"), Number::Integer(5));
        assert_eq!(value("16r1F"), Number::Integer(31));
        // Lowercase letters are no digits: `e` is the exponent, in any base.
        assert_eq!(value("16r1e3"), Number::Integer(4096));
        assert_eq!(value("2r1e3"), Number::Integer(8));
        assert_eq!(value("2e3"), Number::Integer(2000));
        assert_eq!(value("2e-3"), Number::Fraction(2, 1000));
        assert_eq!(value("2r1.1"), Number::Float(1.5));
        assert_eq!(value("36rZ"), Number::Integer(35));
        // What is not part of the number is left to the lexer.
        let chars: Vec<char> = "3.foo".chars().collect();
        assert_eq!(read(&chars, 0), Ok((Number::Integer(3), 1)));
        let chars: Vec<char> = "2even".chars().collect();
        assert_eq!(read(&chars, 0), Ok((Number::Integer(2), 1)));
        for bad in [
            "1r0",
            "37r1",
            "2r2",
            "1e99999",
            "99999999999999999999999999999999999999999",
        ] {
            let chars: Vec<char> = bad.chars().collect();
            assert!(read(&chars, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn large_integers_become_floats_as_the_image_computes_it() {
        // Within 53 bits: exact.
        let n = Big::pow(2, 52);
        assert_eq!(n.as_float(), 2f64.powi(52));
        // 10^300: the top eight bytes summed, then scaled.
        let p = Big::pow(10, 300);
        assert!((p.as_float() / 1e300 - 1.0).abs() < 1e-15);
        assert_eq!(Big::pow(10, 400).as_float(), f64::INFINITY);
        assert_eq!(Big(vec![0x80, 1]).shift_rounded(8), Big(vec![2]));
        assert_eq!(Big(vec![0x7F, 1]).shift_rounded(8), Big(vec![1]));
        assert_eq!(Big(vec![0, 0, 3]).shift_rounded(9), Big(vec![0x80, 1]));
        assert_eq!(Big(vec![0, 1, 3]).shift_rounded(9), Big(vec![0x81, 1]));
    }

    /// A literal of any length is read in work that grows with its digits alone (a number
    /// stops growing at [`SATURATED`] bytes), with the answers of the image's arithmetic,
    /// which from there on sees only infinite Floats and no `i128`.
    #[test]
    fn long_literals_are_read_in_bounded_space_with_the_images_answers() {
        let read_all = |text: &str| {
            let chars: Vec<char> = text.chars().collect();
            read(&chars, 0).map(|(n, end)| {
                assert_eq!(end, chars.len(), "read to its end");
                n
            })
        };
        let ones = "1".repeat(130_000);
        let chars: Vec<char> = ones.chars().collect();
        let (n, end) = digits(&chars, 0, 10);
        assert_eq!(end, chars.len());
        assert!(n.0.len() <= SATURATED + 8, "{}", n.0.len());
        assert!(Big::pow(10, 130_000).0.len() <= SATURATED + 8);
        // Infinite over infinite.
        match read_all(&format!("1.{ones}")) {
            Ok(Number::Float(f)) => assert!(f.is_nan()),
            other => panic!("{other:?}"),
        }
        // A small fraction over an infinite scale: nothing.
        let zeros = "0".repeat(2000);
        assert_eq!(read_all(&format!("1.{zeros}1")), Ok(Number::Float(1.0)));
        assert_eq!(
            read_all(&format!("0.{zeros}{}", "7".repeat(100))),
            Ok(Number::Float(0.0))
        );
        assert_eq!(
            read_all(&format!("{}.5", "1".repeat(400))),
            Ok(Number::Float(f64::INFINITY))
        );
        assert_eq!(read_all("1.5e-5000"), Ok(Number::Float(0.0)));
        assert_eq!(read_all("1.5e5000"), Ok(Number::Float(f64::INFINITY)));
        assert!(read_all(&ones).is_err());
        assert!(read_all(&format!("36r{}", "Z".repeat(130_000))).is_err());
    }

    #[test]
    fn ldexp_rounds_once() {
        assert_eq!(ldexp(1.0, 2000), f64::INFINITY);
        assert_eq!(ldexp(1.0, -1074), 5e-324);
        assert_eq!(ldexp(1.0, -1023), f64::MIN_POSITIVE / 2.0);
        assert_eq!(ldexp(5e-324, 1074 + 1023), 2f64.powi(1023));
        assert_eq!(ldexp(1.5, -1075), 5e-324);
        assert_eq!(ldexp(3.0, 0), 3.0);
    }
}
