//! The primitive table: the one place that says which primitive numbers this interpreter
//! has, and which function implements each. Every other number fails, so the method's
//! Smalltalk fallback runs, as on a real VM whose plugin is missing. A primitive that fails
//! leaves the stack as it found it.
//!
//! | numbers | family | what |
//! |---|---|---|
//! | 1, 2, 9-17 | arithmetic | SmallInteger `+ - * / \\ // quo: bitAnd: bitOr: bitXor: bitShift:`, in 31 bits |
//! | 3-8 | comparison | SmallInteger `< > <= >= = ~=` |
//! | 21-33 | large | LargeInteger `+ - < > <= >= = ~= * / \\ // quo:` with operands of up to eight bytes (either may be a SmallInteger); and 14-17 where an operand is a LargeInteger and neither is negative |
//! | 40-59 | float | SmallInteger `asFloat`; Float `+ - < > <= >= = ~= * /` (either operand a SmallInteger too), `truncated`, `fractionPart`, `exponent`, `timesTwoPower:`, `sqrt`, `sin`, `arcTan`, `ln`, `exp` |
//! | 60-64 | indexing | `at:`, `at:put:`, `size`, String `at:`/`at:put:` with Characters from the character table |
//! | 65-67 | streams | PositionableStream `next`, `nextPut:`, `atEnd`, as their Smalltalk fallbacks read, through the collection's own indexing primitive |
//! | 68, 69 | indexing | CompiledMethod `objectAt:`, `objectAt:put:` (header and literals) |
//! | 70, 71 | objects | `basicNew`, `basicNew:` from the class's instance specification |
//! | 72, 128 | objects | `arrayBecomeOneWay:`, `elementsExchangeIdentityWith:` through this image's forwarders |
//! | 73-75 | objects | `instVarAt:`, `instVarAt:put:` (fixed fields only, as the real VM), `identityHash`/`asOop` |
//! | 79 | objects | `newMethod:header:` (a CompiledMethod with nil literals and zeroed bytecodes) |
//! | 80, 81, 82 | blocks | `blockCopy:`, `value`/`value:`..., `valueWithArguments:` (over `contexts.rs`) |
//! | 201-206, 221, 222 | blocks | BlockClosure `value`/`value:`..., `valueWithArguments:`, `valueNoContextSwitch`... (over `closures.rs`) |
//! | 83, 84 | control | `perform:` (with up to its arguments), `perform:withArguments:`; a Symbol the receiver does not understand is a doesNotUnderstand |
//! | 85-88, 136, 167, 230 | processes | Semaphore `signal`, `wait`; Process `resume`, `suspend` (the active one); the timer `signal:atMilliseconds:`; `yield`; the idle process's `relinquishProcessorForMicroseconds:` (over `scheduler.rs`) |
//! | 89, 116, 119 | system | `flushCache` of everything, of a CompiledMethod, of a Symbol (the receiver, or an argument) (this image's method cache) |
//! | 105 | indexing | `replaceFrom:to:with:startingAt:` between objects of one kind |
//! | 110 | comparison | `==` |
//! | 111 | objects | `class` |
//! | 18, 148 | objects | `@` (a Point), `shallowCopy`/`clone` (a new object of the receiver's class, format and contents) |
//! | 129 | system | `specialObjectsOop` |
//! | 135, 137 | system | `millisecondClock`, `secondsClock` (UTC) |
//! | 256-519 | control | quick returns: self, true, false, nil, -1, 0, 1, 2, a receiver field |
//!
//! Each family's functions live in its own file, below this one; they call the layers below
//! them (`contexts.rs`, `state.rs`, `lookup.rs`), never the sends above. The dispatch loop's
//! SmallInteger fast paths call [`arithmetic`] and [`comparison`] functions, and the send
//! layer runs the quick returns through [`control::quick_return`], so that nothing is
//! written twice.

pub(crate) mod arithmetic;
pub(crate) mod blocks;
pub(crate) mod common;
pub(crate) mod comparison;
pub(crate) mod control;
pub(crate) mod float;
pub(crate) mod indexing;
pub(crate) mod large;
pub(crate) mod objects;
pub(crate) mod processes;
pub(crate) mod streams;
pub(crate) mod strings;
pub(crate) mod system;

pub(crate) use common::Prim;
use common::{Call, IntOp, PrimFn};

use super::limits::RunError;
use super::state::Exec;
use cowheap::Value;

/// The family a primitive belongs to: the file that implements it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `arithmetic.rs`.
    Arithmetic,
    /// `comparison.rs`.
    Comparison,
    /// `float.rs`.
    Float,
    /// `large.rs`.
    Large,
    /// `indexing.rs`.
    Indexing,
    /// `streams.rs`.
    Streams,
    /// `strings.rs`.
    Strings,
    /// `objects.rs`.
    Objects,
    /// `blocks.rs`.
    Blocks,
    /// `control.rs`.
    Control,
    /// `processes.rs`.
    Processes,
    /// `system.rs`.
    System,
}

/// How the table runs a primitive.
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Run {
    /// Two SmallIntegers in, the function's answer out; anything else fails.
    SmallInt(IntOp),
    /// The function gets the call and does the rest.
    Call(PrimFn),
}

/// One row of the table. The family and name say where the row's function lives and what it
/// serves (the tests read them).
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Entry {
    pub(crate) family: Family,
    /// The selector it usually serves, for reports and tests.
    pub(crate) name: &'static str,
    /// The argument counts it accepts (with any other it fails).
    pub(crate) min_args: u8,
    pub(crate) max_args: u8,
    pub(crate) run: Run,
}

/// Numbers at or past this are never primitives here.
pub(crate) const TABLE_SIZE: usize = 520;

/// No upper bound on the argument count.
const ANY: u8 = u8::MAX;

/// Whether a row that takes `min..=max` arguments accepts `nargs`.
#[inline(always)]
const fn takes(nargs: usize, min: u8, max: u8) -> bool {
    nargs >= min as usize && nargs <= max as usize
}

/// Runs SmallInteger primitive `p`: two SmallIntegers in, `op`'s answer out.
#[inline(always)]
fn small_int(x: &mut Exec<'_>, ri: usize, p: u16, op: IntOp) -> Result<Prim, RunError> {
    match (x.stack[ri].as_small_int(), x.arg(ri, 0).as_small_int()) {
        (Some(a), Some(b)) => common::answer(op(x.sh, a, b)),
        (Some(_), None) if p <= 10 => float::beside_small_int(x, ri, p),
        _ if p >= 14 => large::bits(x, ri, p),
        _ => Ok(Prim::Fail),
    }
}

/// Makes, from one list of rows, both [`ROWS`] (the table as data, which the tests enumerate
/// and a constant checks for numbers claimed twice) and [`primitive`] (the same rows as one
/// `match`, so that each row's function is called directly and can be inlined, as the hot
/// ones are).
macro_rules! primitive_table {
    ($(
        $first:literal $(..= $last:literal)? => $family:ident, $name:literal,
        $min:literal ..= $max:expr, $kind:ident($f:path);
    )*) => {
        /// The primitives, as (first number, last number, entry).
        pub(crate) const ROWS: &[(u16, u16, Entry)] = &[$(
            (
                $first,
                primitive_table!(@last $first $(, $last)?),
                Entry {
                    family: Family::$family,
                    name: $name,
                    min_args: $min,
                    max_args: $max,
                    run: Run::$kind($f),
                },
            ),
        )*];

        /// Runs primitive `p` for the receiver at stack index `ri` and its `nargs`
        /// arguments: the row's function if the table has `p` and the row takes `nargs`
        /// arguments, else a failure.
        pub(crate) fn primitive(
            x: &mut Exec<'_>,
            p: u16,
            ri: usize,
            nargs: usize,
        ) -> Result<Prim, RunError> {
            match p {
                $(
                    $first $(..= $last)? if takes(nargs, $min, $max) => {
                        primitive_table!(@run $kind, $f, x, p, ri, nargs)
                    }
                )*
                _ => Ok(Prim::Fail),
            }
        }
    };
    (@last $first:literal) => { $first };
    (@last $first:literal, $last:literal) => { $last };
    (@run SmallInt, $f:path, $x:ident, $p:ident, $ri:ident, $nargs:ident) => {
        small_int($x, $ri, $p, $f)
    };
    (@run Call, $f:path, $x:ident, $p:ident, $ri:ident, $nargs:ident) => {
        $f($x, Call { ri: $ri, p: $p, nargs: $nargs as u16 })
    };
}

primitive_table! {
    1 => Arithmetic, "+", 1..=1, SmallInt(arithmetic::add);
    2 => Arithmetic, "-", 1..=1, SmallInt(arithmetic::subtract);
    3 => Comparison, "<", 1..=1, SmallInt(comparison::less);
    4 => Comparison, ">", 1..=1, SmallInt(comparison::greater);
    5 => Comparison, "<=", 1..=1, SmallInt(comparison::less_or_equal);
    6 => Comparison, ">=", 1..=1, SmallInt(comparison::greater_or_equal);
    7 => Comparison, "=", 1..=1, SmallInt(comparison::equal);
    8 => Comparison, "~=", 1..=1, SmallInt(comparison::not_equal);
    9 => Arithmetic, "*", 1..=1, SmallInt(arithmetic::multiply);
    10 => Arithmetic, "/", 1..=1, SmallInt(arithmetic::divide);
    11 => Arithmetic, "\\\\", 1..=1, SmallInt(arithmetic::modulo);
    12 => Arithmetic, "//", 1..=1, SmallInt(arithmetic::floor_divide);
    13 => Arithmetic, "quo:", 1..=1, SmallInt(arithmetic::quo);
    14 => Arithmetic, "bitAnd:", 1..=1, SmallInt(arithmetic::bit_and);
    15 => Arithmetic, "bitOr:", 1..=1, SmallInt(arithmetic::bit_or);
    16 => Arithmetic, "bitXor:", 1..=1, SmallInt(arithmetic::bit_xor);
    17 => Arithmetic, "bitShift:", 1..=1, SmallInt(arithmetic::bit_shift);
    18 => Objects, "@", 1..=1, Call(objects::make_point);
    21..=33 => Large, "LargeInteger + - < > <= >= = ~= * / \\\\ // quo:", 1..=1, Call(large::primitive);
    40 => Float, "asFloat", 0..=0, Call(float::primitive);
    41 => Float, "Float +", 1..=1, Call(float::primitive);
    42 => Float, "Float -", 1..=1, Call(float::primitive);
    43 => Float, "Float <", 1..=1, Call(float::primitive);
    44 => Float, "Float >", 1..=1, Call(float::primitive);
    45 => Float, "Float <=", 1..=1, Call(float::primitive);
    46 => Float, "Float >=", 1..=1, Call(float::primitive);
    47 => Float, "Float =", 1..=1, Call(float::primitive);
    48 => Float, "Float ~=", 1..=1, Call(float::primitive);
    49 => Float, "Float *", 1..=1, Call(float::primitive);
    50 => Float, "Float /", 1..=1, Call(float::primitive);
    51 => Float, "truncated", 0..=0, Call(float::primitive);
    52 => Float, "fractionPart", 0..=0, Call(float::primitive);
    53 => Float, "exponent", 0..=0, Call(float::primitive);
    54 => Float, "timesTwoPower:", 1..=1, Call(float::primitive);
    55..=59 => Float, "sqrt sin arcTan ln exp", 0..=0, Call(float::primitive);
    60 => Indexing, "at:", 1..=1, Call(indexing::at);
    61 => Indexing, "at:put:", 2..=2, Call(indexing::at_put);
    62 => Indexing, "size", 0..=0, Call(indexing::size);
    63 => Indexing, "String at:", 1..=1, Call(indexing::string_at);
    64 => Indexing, "String at:put:", 2..=2, Call(indexing::string_at_put);
    65 => Streams, "next", 0..=0, Call(streams::next);
    66 => Streams, "nextPut:", 1..=1, Call(streams::next_put);
    67 => Streams, "atEnd", 0..=0, Call(streams::at_end);
    68 => Indexing, "objectAt:", 1..=1, Call(indexing::object_at);
    69 => Indexing, "objectAt:put:", 2..=2, Call(indexing::object_at);
    70 => Objects, "basicNew", 0..=0, Call(objects::basic_new);
    71 => Objects, "basicNew:", 1..=1, Call(objects::basic_new_sized);
    72 => Objects, "arrayBecomeOneWay:", 1..=1, Call(objects::become_objects);
    73 => Objects, "instVarAt:", 1..=1, Call(objects::inst_var_at);
    74 => Objects, "instVarAt:put:", 2..=2, Call(objects::inst_var_at);
    75 => Objects, "identityHash", 0..=0, Call(objects::identity_hash);
    77 => Objects, "someInstance", 0..=0, Call(objects::some_instance);
    78 => Objects, "nextInstance", 0..=0, Call(objects::next_instance);
    79 => Objects, "newMethod:header:", 2..=2, Call(objects::new_method);
    80 => Blocks, "blockCopy:", 1..=1, Call(blocks::block_copy);
    81 => Blocks, "value", 0..=ANY, Call(blocks::value);
    82 => Blocks, "valueWithArguments:", 1..=1, Call(blocks::value_with_arguments);
    201..=205 => Blocks, "BlockClosure value", 0..=4, Call(blocks::closure_value);
    206 => Blocks, "BlockClosure valueWithArguments:", 1..=1, Call(blocks::closure_value_with_arguments);
    221..=222 => Blocks, "valueNoContextSwitch", 0..=1, Call(blocks::closure_value);
    83 => Control, "perform:", 1..=ANY, Call(control::perform);
    84 => Control, "perform:withArguments:", 2..=2, Call(control::perform_with_arguments);
    85 => Processes, "signal", 0..=0, Call(processes::signal);
    86 => Processes, "wait", 0..=0, Call(processes::wait);
    87 => Processes, "resume", 0..=0, Call(processes::resume);
    88 => Processes, "suspend", 0..=0, Call(processes::suspend);
    89 => System, "flushCache", 0..=0, Call(system::flush_cache);
    105 => Indexing, "replaceFrom:to:with:startingAt:", 4..=4, Call(indexing::replace);
    110 => Comparison, "==", 1..=1, Call(comparison::identical);
    111 => Objects, "class", 0..=0, Call(objects::class);
    116 => System, "flushCacheByMethod", 0..=1, Call(system::flush_cache);
    119 => System, "flushCacheSelective", 0..=1, Call(system::flush_cache);
    128 => Objects, "elementsExchangeIdentityWith:", 1..=1, Call(objects::become_objects);
    129 => System, "specialObjectsOop", 0..=0, Call(system::special_objects);
    130 => System, "garbageCollect", 0..=0, Call(system::garbage_collect);
    131 => System, "incrementalGarbageCollect", 0..=0, Call(system::garbage_collect);
    132 => Objects, "pointsTo:", 1..=1, Call(objects::points_to);
    135 => System, "millisecondClock", 0..=0, Call(system::millisecond_clock);
    136 => Processes, "signal:atMilliseconds:", 2..=2, Call(processes::signal_at_milliseconds);
    137 => System, "secondsClock", 0..=0, Call(system::seconds_clock);
    148 => Objects, "shallowCopy", 0..=0, Call(objects::shallow_copy);
    167 => Processes, "yield", 0..=0, Call(processes::yield_processor);
    230 => Processes, "relinquishProcessorForMicroseconds:", 1..=1, Call(processes::relinquish);
    235 => Strings, "compare:with:collated:", 3..=3, Call(strings::compare_collated);
    243 => Strings, "translate:from:to:table:", 4..=4, Call(strings::translate);
    245 => Strings, "indexOfAscii:inString:startingAt:", 3..=3, Call(strings::index_of_ascii);
    256..=519 => Control, "quick return", 0..=ANY, Call(control::quick);
}

// Building the table from the rows fails the build if two rows claim one number (or a row is
// out of range).
const _: () = {
    build(ROWS);
};

const fn build(rows: &[(u16, u16, Entry)]) -> [Option<Entry>; TABLE_SIZE] {
    let mut table: [Option<Entry>; TABLE_SIZE] = [None; TABLE_SIZE];
    let mut r = 0;
    while r < rows.len() {
        let (first, last, entry) = rows[r];
        assert!(first >= 1 && first <= last && (last as usize) < TABLE_SIZE);
        let mut p = first as usize;
        while p <= last as usize {
            assert!(
                table[p].is_none(),
                "two rows of the primitive table claim one number"
            );
            table[p] = Some(entry);
            p += 1;
        }
        r += 1;
    }
    table
}

/// The primitives the dispatch loop's send runs on values (`rcvr` and, for one of one
/// argument, `arg`), not on the stack, without leaving for the full send
/// ([`on_values_runs`]). `Ok(None)` where the primitive fails or its case is the full path's.
#[inline(never)]
pub(crate) fn on_values(
    x: &mut Exec<'_>,
    p: u16,
    rcvr: Value,
    arg: Value,
) -> Result<Option<Value>, RunError> {
    match p {
        65 => streams::next_value(x, rcvr),
        66 => streams::next_put_value(x, rcvr, arg),
        110 => Ok(comparison::identical_value(x, rcvr, arg)),
        _ => float::value(x, p, rcvr, arg),
    }
}

/// Which primitives, with how many arguments, [`on_values`] runs: the Floats' (40-59, where
/// `float::value` checks the count), a stream's `next` and `nextPut:` (65, 66: every
/// character a `printString` writes) and `==` (110, Object's `=`, which `=` of a Character
/// or a Symbol finds). The full send of any of them cost about 300 instructions besides the
/// primitive's own work.
#[inline(always)]
pub(crate) fn on_values_runs(p: u16, nargs: usize) -> bool {
    matches!((p, nargs), (40..=59, _) | (65, 0) | (66 | 110, 1))
}

/// The table's row for primitive `p`, if this interpreter has it.
#[cfg(test)]
pub(crate) fn entry(p: usize) -> Option<&'static Entry> {
    static INDEXED: [Option<Entry>; TABLE_SIZE] = build(ROWS);
    INDEXED.get(p)?.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowheap::Value;

    /// The numbers a `1-17, 60-64, 89 and the quick returns 256-519` list names.
    fn numbers_in(list: &str) -> Vec<usize> {
        let mut out = Vec::new();
        for word in list.split(|c: char| c == ',' || c.is_whitespace()) {
            let mut ends = word.split('-').map(str::parse::<usize>);
            match (ends.next(), ends.next(), ends.next()) {
                (Some(Ok(a)), None, None) => out.push(a),
                (Some(Ok(a)), Some(Ok(b)), None) => out.extend(a..=b),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn every_number_is_implemented_by_exactly_one_row_and_function() {
        let mut implemented = Vec::new();
        for p in 0..=1023usize {
            let rows: Vec<_> = ROWS
                .iter()
                .filter(|(first, last, _)| (*first as usize..=*last as usize).contains(&p))
                .collect();
            assert!(rows.len() <= 1, "primitive {p} has {} rows", rows.len());
            match (entry(p), rows.first()) {
                (None, None) => {}
                (Some(e), Some((_, _, row))) => {
                    assert_eq!(
                        (e.family, e.name, e.min_args, e.max_args),
                        (row.family, row.name, row.min_args, row.max_args),
                        "primitive {p}"
                    );
                    implemented.push(p);
                }
                (e, row) => panic!(
                    "primitive {p}: table {:?}, rows {:?}",
                    e.map(|e| e.name),
                    row.map(|r| r.2.name)
                ),
            }
        }
        // What the guide says runs is what the table has.
        let readme = include_str!("../../../README.md")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let what_runs = &readme[readme.find("**What runs:**").expect("a What runs line")..];
        let list = &what_runs[what_runs.find("; primitives ").unwrap() + 13..];
        let list = &list[..list.find(" (the table is in").unwrap()];
        assert_eq!(numbers_in(list), implemented, "README's What runs: {list}");
        let line = &what_runs[..what_runs.find("every other primitive").unwrap()];
        assert!(
            line.contains("(the table is in `squeak/src/interp/primitives/mod.rs`)"),
            "README's What runs names the table's file: {line}"
        );
    }

    #[test]
    fn the_small_integer_rows_are_seventeen_different_functions() {
        use crate::interp::tests::Run as Bench;
        let r = Bench::new();
        let mut image = crate::interp::heap::new_heap(&r.t.heap).unwrap();
        let mut interp = r.t.vm.interpreter(Default::default());
        let x = interp.exec_for_test(&mut image);
        // What each function answers over a few pairs: no two rows may answer alike.
        let probes = [
            (7, 2),
            (-7, 2),
            (6, 3),
            (3, 3),
            (3, 0),
            (1 << 29, 4),
            (5, -1),
            (0, 40),
        ];
        let mut seen: Vec<(usize, Vec<Option<Value>>)> = Vec::new();
        for p in 1..=17 {
            let Run::SmallInt(op) = entry(p).unwrap().run else {
                panic!("primitive {p} is not a SmallInteger row");
            };
            let answers: Vec<_> = probes.iter().map(|&(a, b)| op(x.sh, a, b)).collect();
            if let Some((q, _)) = seen.iter().find(|(_, v)| *v == answers) {
                panic!("primitives {q} and {p} answer alike: {answers:?}");
            }
            seen.push((p, answers));
        }
        assert!(x.finish(Ok(())).is_ok());
        assert!((18..=1023).all(|p| entry(p).is_none_or(|e| !matches!(e.run, Run::SmallInt(_)))));
    }

    #[test]
    fn a_rows_function_answers_what_the_dispatcher_answers() {
        use crate::interp::tests::{int, Run as Bench};
        let mut r = Bench::new();
        let a = r.array(&[int(4), int(5)]);
        let cases: [(u16, &[Value]); 7] = [
            (60, &[int(2)]),
            (62, &[]),
            (75, &[]),
            (110, &[int(3)]),
            (111, &[]),
            (257, &[]),
            (264, &[]),
        ];
        let mut x = r.interp.exec_for_test(&mut r.image);
        for (p, args) in cases {
            let Run::Call(f) = entry(p as usize).unwrap().run else {
                panic!("primitive {p} is a SmallInteger row");
            };
            let mut answers = Vec::new();
            for through_row in [true, false] {
                x.stack.clear();
                x.stack.push(a);
                x.stack.extend_from_slice(args);
                let nargs = args.len();
                let call = Call {
                    ri: 0,
                    p,
                    nargs: nargs as u16,
                };
                let got = if through_row {
                    f(&mut x, call)
                } else {
                    primitive(&mut x, p, 0, nargs)
                };
                match got {
                    Ok(Prim::Answer(v)) => answers.push(v),
                    _ => panic!("primitive {p} did not answer"),
                }
            }
            assert_eq!(answers[0], answers[1], "primitive {p}");
        }
        assert!(x.finish(Ok(())).is_ok());
    }

    #[test]
    fn a_row_refuses_argument_counts_outside_its_range() {
        use crate::interp::tests::{int, Run as Bench};
        let mut r = Bench::new();
        for p in 0..TABLE_SIZE {
            let Some(e) = entry(p) else { continue };
            for n in 0..=4u8 {
                if n < e.min_args || n > e.max_args {
                    r.fails(p as u16, int(3), &vec![int(1); n as usize]);
                }
            }
        }
    }

    #[test]
    fn the_families_are_the_files_that_implement_them() {
        use Family::*;
        let in_family = |f: Family| -> Vec<usize> {
            (0..TABLE_SIZE)
                .filter(|&p| entry(p).is_some_and(|e| e.family == f))
                .collect()
        };
        assert_eq!(
            in_family(Arithmetic),
            [1, 2, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        );
        assert_eq!(in_family(Comparison), [3, 4, 5, 6, 7, 8, 110]);
        assert_eq!(in_family(Float), (40..=59).collect::<Vec<_>>());
        assert_eq!(in_family(Indexing), [60, 61, 62, 63, 64, 68, 69, 105]);
        assert_eq!(
            in_family(Objects),
            [18, 70, 71, 72, 73, 74, 75, 77, 78, 79, 111, 128, 132, 148]
        );
        assert_eq!(
            in_family(Blocks),
            [80, 81, 82, 201, 202, 203, 204, 205, 206, 221, 222]
        );
        let control: Vec<usize> = [83, 84].into_iter().chain(256..=519).collect();
        assert_eq!(in_family(Control), control);
        assert_eq!(in_family(Processes), [85, 86, 87, 88, 136, 167, 230]);
        assert_eq!(in_family(System), [89, 116, 119, 129, 130, 131, 135, 137]);
    }

    #[test]
    fn a_wrong_argument_count_or_an_unknown_number_fails() {
        use crate::interp::tests::{int, Out, Run};
        let mut r = Run::new();
        // `+` takes one argument; with two, or none, it fails rather than reading past them.
        assert_eq!(r.prim(1, int(3), &[int(4)]), Ok(Out::Answer(int(7))));
        r.fails(1, int(3), &[int(4), int(5)]);
        r.fails(1, int(3), &[]);
        // Numbers the table does not have, inside it and past it.
        for p in [0, 19, 65, 100, 255, 520, 1023] {
            r.fails(p, int(3), &[int(4)]);
        }
    }
}
