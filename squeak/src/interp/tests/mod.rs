//! The unit tests' own Squeak V3 base, so that no test in the crate needs an image file: a
//! few dozen objects built with [`BaseBuilder`] over cowheap's [`Kernel`] — the special
//! objects, the 32 special selectors, a character table, a `Smalltalk` with the globals,
//! classes with real V3 format words, and `Object>>error:` and `halt` (the methods that stop
//! an image). Tests add methods to classes in their own image ([`Run::define`]) and run
//! hand-assembled bytecodes ([`Run::run`]), or call one primitive from the table
//! ([`Run::prim`]).
//!
//! Also here: the test that the files keep the layering `mod.rs` describes.

#[cfg(not(feature = "plain-heap"))]
mod base_table;
mod caches;
mod contexts;
mod dispatch;
mod doits;
mod layering;
mod run;

pub(crate) use run::{Out, Run};

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::interp::heap::Heap;
use cowheap::{BaseBuilder, BaseHeap, Format, Kernel, Value};

use super::interpreter::{Interpreter, Vm};
use super::limits::{Limits, RunError};
use super::primitives::{self, Prim};
use crate::interp::heap::new_heap;

/// A SmallInteger.
pub(crate) fn int(i: i64) -> Value {
    Value::small_int(i).unwrap()
}

/// A V3 CompiledMethod header: literal count, temporaries (arguments included), arguments,
/// primitive number.
pub(crate) fn header(lits: usize, temps: usize, args: usize, prim: u16) -> Value {
    let p = prim as i64;
    int((p & 0x1FF)
        | ((p >> 9) << 28)
        | ((lits as i64) << 9)
        | ((temps as i64) << 18)
        | ((args as i64) << 24))
}

/// A V3 class format word: instance specification (0 no fields, 1 fixed, 2 indexable
/// pointers, 3 both, 6 words, 8 bytes, 12 a method) and fixed-field count.
fn format_word(spec: i64, fixed: i64) -> Value {
    int((spec << 7) | ((fixed + 1) << 1))
}

/// The V3 format code of a bytes object of `n` bytes (8 plus the padding).
fn bytes_code(base: u8, n: usize) -> u8 {
    base | ((4 - n % 4) % 4) as u8
}

/// The special selectors in V3 order, with their argument counts.
pub(crate) const SPECIAL_SELECTORS: [(&str, usize); 32] = [
    ("+", 1),
    ("-", 1),
    ("<", 1),
    (">", 1),
    ("<=", 1),
    (">=", 1),
    ("=", 1),
    ("~=", 1),
    ("*", 1),
    ("/", 1),
    ("\\\\", 1),
    ("@", 1),
    ("bitShift:", 1),
    ("//", 1),
    ("bitAnd:", 1),
    ("bitOr:", 1),
    ("at:", 1),
    ("at:put:", 2),
    ("size", 0),
    ("next", 0),
    ("nextPut:", 1),
    ("atEnd", 0),
    ("==", 1),
    ("class", 0),
    ("blockCopy:", 1),
    ("value", 0),
    ("value:", 1),
    ("do:", 1),
    ("new", 0),
    ("new:", 1),
    ("x", 0),
    ("y", 0),
];

/// Symbols besides the special selectors and the globals' names, for tests to send.
const MORE_SYMBOLS: &[&str] = &[
    "error:",
    "halt",
    "doesNotUnderstand:",
    "cannotReturn:",
    "foo",
    "bar",
    "bar:",
    "with:with:",
    "twice",
    "answer",
    "deep",
    "value:value:",
    "valueWithArguments:",
    "perform:",
    "perform:with:",
    "perform:withArguments:",
    "unknown",
    "escape",
    "sum",
    "instVarAt:",
    "yourself",
    "globalPair",
    "pairBinding",
];

/// The room of each class's method dictionary: a power of two, as in a real image, whose
/// less one masks a selector's hash into it.
const DICT_ROOM: usize = 32;

/// The identity hash the tiny base gives the Symbol `name` (FNV-1a, twelve bits as in V3).
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    }) & 0xFFF
}

/// Puts `sel` (of hash `hash`) and `m` into the method dictionary `dict` where the real VM
/// looks for it: the first nil from the hash masked by the room less one (see
/// `lookup::selector_field`).
fn install(
    b: &mut BaseBuilder,
    dict: Value,
    hash: u32,
    sel: Value,
    m: Value,
    nil: Value,
) -> Result<(), cowheap::Error> {
    let mut i = hash as usize & (DICT_ROOM - 1);
    while b.field(dict, 2 + i)? != nil {
        i = (i + 1) % DICT_ROOM;
    }
    b.set_field(dict, 2 + i, sel)?;
    let methods = b.field(dict, 1)?;
    b.set_field(methods, i, m)?;
    let tally = b.field(dict, 0)?.as_small_int().unwrap_or(0);
    b.set_field(dict, 0, int(tally + 1))
}

/// The tiny base and what the tests name in it.
pub(crate) struct Tiny {
    pub(crate) heap: BaseHeap,
    pub(crate) vm: Vm,
    pub(crate) k: Kernel,
    pub(crate) method_context: Value,
    pub(crate) block_context: Value,
    /// BlockClosure, special object 36 (the base is no closure image: its do-its compile V3
    /// blocks, but hand-assembled closure bytecodes run).
    pub(crate) block_closure: Value,
    pub(crate) large_positive: Value,
    /// Float: a words class, special object 9.
    pub(crate) float: Value,
    pub(crate) association: Value,
    pub(crate) semaphore: Value,
    /// Two fixed fields (`x`, `y`), not indexable.
    pub(crate) pair: Value,
    /// One fixed field and indexable pointers.
    pub(crate) row: Value,
    pub(crate) specials: Value,
    pub(crate) character_table: Value,
    symbols: HashMap<String, Value>,
}

impl Tiny {
    /// The base, built once per test binary.
    pub(crate) fn get() -> &'static Tiny {
        static TINY: OnceLock<Tiny> = OnceLock::new();
        TINY.get_or_init(|| Tiny::build().expect("build the tiny base"))
    }

    fn build() -> Result<Tiny, Box<dyn std::error::Error>> {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b)?;
        let nil = k.nil;
        let object = k.object;
        let define = |b: &mut BaseBuilder, name: &str, sup: Value| k.define_class(b, name, sup);
        let method_context = define(&mut b, "MethodContext", object)?;
        let block_context = define(&mut b, "BlockContext", object)?;
        let block_closure = define(&mut b, "BlockClosure", object)?;
        let large_positive = define(&mut b, "LargePositiveInteger", object)?;
        let large_negative = define(&mut b, "LargeNegativeInteger", large_positive)?;
        let float = define(&mut b, "Float", object)?;
        let association = define(&mut b, "Association", object)?;
        let method_dictionary = define(&mut b, "MethodDictionary", object)?;
        let system_dictionary = define(&mut b, "SystemDictionary", object)?;
        let semaphore = define(&mut b, "Semaphore", object)?;
        let pair = define(&mut b, "Pair", object)?;
        let row = define(&mut b, "Row", object)?;
        let formats = [
            (object, 0, 0),
            (k.class, 1, 7),
            (k.undefined_object, 0, 0),
            (k.true_class, 0, 0),
            (k.false_class, 0, 0),
            (k.array, 2, 0),
            (k.string, 8, 0),
            (k.symbol, 8, 0),
            (k.byte_array, 8, 0),
            (k.word_array, 6, 0),
            (k.compiled_method, 12, 0),
            (k.small_integer, 0, 0),
            (k.character, 1, 1),
            (method_context, 3, 6),
            (block_context, 3, 6),
            (block_closure, 3, 3),
            (large_positive, 8, 0),
            (large_negative, 8, 0),
            (float, 6, 0),
            (association, 1, 2),
            (method_dictionary, 3, 2),
            (system_dictionary, 1, 2),
            (semaphore, 1, 3),
            (pair, 1, 2),
            (row, 3, 1),
        ];
        for (class, spec, fixed) in formats {
            b.set_field(class, 2, format_word(spec, fixed))?;
        }

        let mut symbols = HashMap::new();
        let mut symbol = |b: &mut BaseBuilder, name: &str| -> Result<Value, cowheap::Error> {
            if let Some(&s) = symbols.get(name) {
                return Ok(s);
            }
            let s = b.new_bytes(k.symbol, name.as_bytes())?;
            b.set_language_format(s, bytes_code(8, name.len()))?;
            b.set_hash(s, name_hash(name))?;
            symbols.insert(name.to_owned(), s);
            Ok(s)
        };
        let array = |b: &mut BaseBuilder, slots: &[Value]| -> Result<Value, cowheap::Error> {
            let a = b.new_pointers(k.array, slots)?;
            b.set_language_format(a, 2)?;
            Ok(a)
        };

        // The special selectors: the first one's class is Symbol for the interpreter.
        let mut pairs = Vec::new();
        for (name, n) in SPECIAL_SELECTORS {
            pairs.push(symbol(&mut b, name)?);
            pairs.push(int(n as i64));
        }
        let special_selectors = array(&mut b, &pairs)?;
        for name in MORE_SYMBOLS {
            symbol(&mut b, name)?;
        }

        let mut characters = Vec::new();
        for code in 0..256 {
            let c = b.new_pointers(k.character, &[int(code)])?;
            b.set_language_format(c, 1)?;
            characters.push(c);
        }
        let character_table = array(&mut b, &characters)?;

        // Every class gets a MethodDictionary with room for tests' methods, which they store
        // into it (the class object itself is never written: see `Run::define`).
        let classes = [
            object,
            k.class,
            k.undefined_object,
            k.true_class,
            k.false_class,
            k.array,
            k.string,
            k.symbol,
            k.byte_array,
            k.word_array,
            k.compiled_method,
            k.small_integer,
            k.character,
            method_context,
            block_context,
            block_closure,
            large_positive,
            large_negative,
            float,
            association,
            method_dictionary,
            system_dictionary,
            semaphore,
            pair,
            row,
        ];
        for class in classes {
            let methods = array(&mut b, &[nil; DICT_ROOM])?;
            let mut slots = vec![int(0), methods];
            slots.extend([nil; DICT_ROOM]);
            let dict = b.new_pointers(method_dictionary, &slots)?;
            b.set_language_format(dict, 3)?;
            b.set_field(class, 1, dict)?;
        }
        // Object>>error: and Object>>halt: the methods whose activation stops an image.
        let stop = |b: &mut BaseBuilder, args: usize| -> Result<Value, cowheap::Error> {
            let m = b.new_method(k.compiled_method, 1, 1)?;
            b.set_field(m, 0, header(0, args, args, 0))?;
            b.set_bytes(m, 0, &[120])?;
            b.set_language_format(m, 15)?;
            Ok(m)
        };
        let object_dict = b.field(object, 1)?;
        for (name, args) in [("error:", 1), ("halt", 0)] {
            let m = stop(&mut b, args)?;
            let sel = symbol(&mut b, name)?;
            install(&mut b, object_dict, name_hash(name), sel, m, nil)?;
        }

        let smalltalk = b.new_object(system_dictionary, Format::Pointers, 2)?;
        b.set_language_format(smalltalk, 1)?;
        let globals = [
            ("Object", object),
            ("Array", k.array),
            ("String", k.string),
            ("Symbol", k.symbol),
            ("ByteArray", k.byte_array),
            ("WordArray", k.word_array),
            ("CompiledMethod", k.compiled_method),
            ("SmallInteger", k.small_integer),
            ("Character", k.character),
            ("MethodContext", method_context),
            ("BlockContext", block_context),
            ("LargePositiveInteger", large_positive),
            ("LargeNegativeInteger", large_negative),
            ("Float", float),
            ("Association", association),
            ("Semaphore", semaphore),
            ("Pair", pair),
            ("Row", row),
            ("Smalltalk", smalltalk),
        ];
        let mut assocs = Vec::new();
        for (name, value) in globals {
            let key = symbol(&mut b, name)?;
            let a = b.new_pointers(association, &[key, value])?;
            b.set_language_format(a, 1)?;
            assocs.push(a);
        }
        // Object>>yourself (`^self`), Object>>globalPair (`^Pair`, through the global's
        // association) and Object>>pairBinding (that association itself): base methods that
        // are not stop methods, two with a literal.
        let pair_assoc = assocs[globals.iter().position(|g| g.0 == "Pair").unwrap_or(0)];
        for (name, lits, code) in [
            ("yourself", &[][..], &[120u8][..]),
            ("globalPair", &[pair_assoc][..], &[0x40, 124][..]),
            ("pairBinding", &[pair_assoc][..], &[0x20, 124][..]),
        ] {
            let m = b.new_method(k.compiled_method, 1 + lits.len(), code.len())?;
            b.set_field(m, 0, header(lits.len(), 0, 0, 0))?;
            for (j, &lit) in lits.iter().enumerate() {
                b.set_field(m, 1 + j, lit)?;
            }
            b.set_bytes(m, 0, code)?;
            b.set_language_format(m, bytes_code(12, code.len()))?;
            let sel = symbol(&mut b, name)?;
            install(&mut b, object_dict, name_hash(name), sel, m, nil)?;
        }
        let assocs = array(&mut b, &assocs)?;
        b.set_field(smalltalk, 0, int(globals.len() as i64))?;
        b.set_field(smalltalk, 1, assocs)?;

        let mut specials = vec![nil; 40];
        specials[0] = nil;
        specials[1] = k.false_object;
        specials[2] = k.true_object;
        specials[5] = k.small_integer;
        specials[6] = k.string;
        specials[7] = k.array;
        specials[8] = smalltalk;
        specials[9] = float;
        specials[10] = method_context;
        specials[11] = block_context;
        specials[12] = pair;
        specials[13] = large_positive;
        specials[16] = k.compiled_method;
        specials[18] = semaphore;
        specials[19] = k.character;
        specials[20] = symbol(&mut b, "doesNotUnderstand:")?;
        specials[21] = symbol(&mut b, "cannotReturn:")?;
        specials[23] = special_selectors;
        specials[24] = character_table;
        specials[36] = block_closure;
        let specials = array(&mut b, &specials)?;
        b.add_root("specialObjects", specials)?;

        let heap = b.seal()?;
        let vm = Vm::new(&heap)?;
        Ok(Tiny {
            heap,
            vm,
            k,
            method_context,
            block_context,
            block_closure,
            large_positive,
            float,
            association,
            semaphore,
            pair,
            row,
            specials,
            character_table,
            symbols,
        })
    }

    /// A Symbol of the base (the test's list names every one there is).
    pub(crate) fn sym(&self, name: &str) -> Value {
        *self
            .symbols
            .get(name)
            .unwrap_or_else(|| panic!("no Symbol #{name} in the tiny base"))
    }
}

#[test]
fn the_tiny_base_is_a_v3_base_the_interpreter_accepts() {
    let mut r = Run::new();
    // The compiler's path too: literals, a special send, the answer.
    assert_eq!(r.interp.evaluate(&mut r.image, "3 + 4"), Ok(int(7)));
    assert_eq!(r.interp.evaluate(&mut r.image, "Pair"), Ok(r.t.pair));
    let s = r.interp.evaluate(&mut r.image, "#foo").unwrap();
    assert_eq!(s, r.sym("foo"));
    // The special objects are the ones built.
    assert_eq!(r.image.root("specialObjects").unwrap(), r.t.specials);
    // A selector nobody defines is a doesNotUnderstand, with the class's name.
    assert_eq!(
        r.send(int(3), "foo", &[]),
        Err(RunError::DoesNotUnderstand {
            selector: "foo".into(),
            class: "SmallInteger".into()
        })
    );
}
