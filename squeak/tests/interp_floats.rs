//! Floats through the image's own code, on both byte orders: the primitives (40-59), the
//! expression compiler's Float literals, and the image's printing. Every expected answer is
//! what the real VM (Squeak 4.10 on the same mini image, `../shared/realvm`) printed.

mod images_common;
mod interp_common;

use cowheap_squeak::interp::{new_heap, Interpreter, Limits, RunError};
use interp_common::{mini, IMAGES};

/// The printString of `expr` on image `which`, or the stop.
fn answer(which: usize, expr: &str, compiler: bool) -> Result<String, RunError> {
    let (loaded, vm) = mini(which);
    let mut image = new_heap(&loaded.heap).unwrap();
    let mut interp: Interpreter = vm.interpreter(Limits::default());
    let v = if compiler {
        interp.evaluate_with_compiler(&mut image, expr)?
    } else {
        interp.evaluate(&mut image, expr)?
    };
    interp.print_string(&mut image, v)
}

/// Each expression answers as the real VM printed it, through both the expression compiler
/// and the image's own (`Compiler evaluate:`), on both byte orders.
fn check(cases: &[(&str, &str)]) {
    for (which, file) in IMAGES.iter().enumerate() {
        for &(expr, want) in cases {
            for compiler in [false, true] {
                let got = answer(which, expr, compiler)
                    .unwrap_or_else(|e| panic!("{expr} on {file} (compiler {compiler}): {e}"));
                assert_eq!(got, want, "{expr} on {file} (compiler {compiler})");
            }
        }
    }
}

#[test]
fn arithmetic_and_printing_answer_as_the_real_vm() {
    if interp_common::skip() {
        return;
    }
    check(&[
        ("3.5 + 1", "4.5"),
        ("3 + 0.5", "3.5"),
        ("7 / 2.0", "3.5"),
        ("2 sqrt printString", "'1.414213562373095'"),
        ("(1/3) asFloat printString", "'0.3333333333333333'"),
        ("(1/3) + 0.5", "0.833333333333333"),
        ("1.0e10 printString", "'1.0e10'"),
        ("0.1 + 0.2", "0.3"),
        ("(0.1 + 0.2) = 0.3", "false"),
        ("0.1 + 0.2 - 0.3", "5.55111512312578e-17"),
        ("2.5 truncated", "2"),
        ("-2.5 rounded", "-3"),
        ("-2.5 fractionPart", "-0.5"),
        ("100 factorial asFloat", "9.33262154439441e157"),
        ("2.0 raisedTo: 100", "1.267650600228232e30"),
        ("1.0e15 truncated", "1000000000000000"),
        ("1.0e10 truncated class", "LargePositiveInteger"),
        ("0.0 exponent", "-1"),
        ("2.5 exponent", "1"),
        ("1.0 timesTwoPower: 2000", "Infinity"),
        ("0.5 sin", "0.479425538604203"),
        ("1.0 arcTan", "0.785398163397448"),
        ("1.0 exp", "2.718281828459045"),
        ("2.0 ln", "0.693147180559945"),
        ("0.0 ln", "-Infinity"),
        ("-1.0 ln", "NaN"),
        ("3.0 = 3", "true"),
        ("3 = 3.0", "true"),
        ("3.0 < 4", "true"),
        ("1.5 hash", "63488"),
        ("3.5 basicAt: 1", "1074528256"),
        ("0.1 basicAt: 2", "2576980378"),
    ]);
}

#[test]
fn literals_are_the_images_own() {
    if interp_common::skip() {
        return;
    }
    check(&[
        ("2r101", "5"),
        ("16r1F", "31"),
        ("16r1e3", "4096"),
        ("2r1.1", "1.5"),
        ("2e3", "2000"),
        ("2e-3", "(1/500)"),
        ("1.5e-3", "0.0015"),
        ("1.5e2 class", "Float"),
        ("-2.5 class", "Float"),
        ("-0.0", "0.0"),
        ("1.0e400", "Infinity"),
        ("1.0e-400", "0.0"),
        ("123456789012.5", "1.234567890125e11"),
        ("0.1234567890123456789 printString", "'0.1234567890123457'"),
        ("#(1 2.5 $a)", "(1 2.5 $a )"),
        // The last bit of a literal is the image's reader's, not the correctly rounded one.
        ("1.1e300 basicAt: 2", "791917715"),
    ]);
}

#[test]
fn what_the_primitives_refuse_the_image_reports() {
    if interp_common::skip() {
        return;
    }
    for (expr, message) in [
        ("1/0.0", "division by 0"),
        ("3.0 / 0", "attempt to divide by zero"),
        ("-4.0 sqrt", "sqrt is invalid for x < 0"),
    ] {
        for which in 0..IMAGES.len() {
            for compiler in [false, true] {
                match answer(which, expr, compiler) {
                    Err(RunError::SmalltalkError { message: m }) if m.starts_with(message) => {}
                    other => panic!("{expr} (compiler {compiler}): {other:?}"),
                }
            }
        }
    }
}

/// The real VM's bytecodes for `+ - < > <= >= = ~= * /` compute in floating point when a
/// SmallInteger meets a Float, without SmallInteger's fallback code, which answers otherwise
/// in places: `0 * 1.5` is 0.0 on the VM (and 0 in that code), and so are the remainders and
/// roundings built on it. The real VM's answers.
#[test]
fn a_small_integer_beside_a_float_is_computed_as_the_vm_s_bytecodes_compute_it() {
    if interp_common::skip() {
        return;
    }
    check(&[
        ("0 * 1.5", "0.0"),
        ("0 * -0.5", "-0.0"),
        ("0 \\\\ 1.5", "0.0"),
        ("(1/3) \\\\ 1.5", "0.3333333333333333"),
        ("0.0 roundTo: -0.5", "-0.0"),
        ("3 * 2.5", "7.5"),
        ("3 < 2.5", "false"),
        ("3 = 3.0", "true"),
        ("0 * (1/2)", "0"),
    ]);
}

/// An image that wrote Float or LargePositiveInteger (a method added, or any field of the
/// class stored, so that it reads its own copy of the class) still computes with them: the primitives recognise the class
/// through `identical`, not only by the base's reference. Before, every Float primitive failed
/// there and the fallback stopped with 'My subclass should have overridden one of my
/// messages.', and a Bitmap refused a word past 30 bits.
#[test]
fn floats_and_words_compute_after_the_image_adds_a_method_to_their_class() {
    if interp_common::skip() {
        return;
    }
    check(&[
        (
            "Float addSelector: #foo withMethod: (Object compiledMethodAt: #yourself). Float instVarAt: 1 put: Float superclass. Array with: 1.5 + 2.5 with: 2.0 sqrt with: (3 * 0.5) with: 1.5 foo",
            "(4.0 1.414213562373095 1.5 1.5 )",
        ),
        (
            "Float instVarAt: 1 put: Float superclass. ((Float basicNew: 2) basicAt: 1 put: 1073741824; yourself) + 1.0",
            "3.0",
        ),
        (
            "LargePositiveInteger instVarAt: 1 put: LargePositiveInteger superclass. (Bitmap new: 2) at: 1 put: 4000000000; at: 1",
            "4000000000",
        ),
    ]);
}
