//! The primitive table: the one place that says which primitive numbers this interpreter
//! has, and which function implements each. Every other number fails, so the method's
//! Smalltalk fallback runs, as on a real VM whose plugin is missing. A primitive that fails
//! leaves the stack as it found it.
//!
//! | numbers | family | what |
//! |---|---|---|
//! | 1, 2, 9-17 | arithmetic | SmallInteger `+ - * / \\ // quo: bitAnd: bitOr: bitXor: bitShift:`, in 31 bits |
//! | 3-8 | comparison | SmallInteger `< > <= >= = ~=` |
//! | 60-64 | indexing | `at:`, `at:put:`, `size`, String `at:`/`at:put:` with Characters from the character table |
//! | 68, 69 | indexing | CompiledMethod `objectAt:`, `objectAt:put:` (header and literals) |
//! | 70, 71 | objects | `basicNew`, `basicNew:` from the class's instance specification |
//! | 72, 128 | objects | `arrayBecomeOneWay:`, `elementsExchangeIdentityWith:` through this image's forwarders |
//! | 73-75 | objects | `instVarAt:`, `instVarAt:put:` (fixed fields only, as the real VM), `identityHash`/`asOop` |
//! | 79 | objects | `newMethod:header:` (a CompiledMethod with nil literals and zeroed bytecodes) |
//! | 80, 81, 82 | blocks | `blockCopy:`, `value`/`value:`..., `valueWithArguments:` (over `contexts.rs`) |
//! | 83, 84 | control | `perform:` (with up to its arguments), `perform:withArguments:`; a Symbol the receiver does not understand is a doesNotUnderstand |
//! | 85, 86 | control | Semaphore `signal`, `wait` with one process: excess signals count, a `wait` that would block stops the image |
//! | 89, 116, 119 | system | `flushCache`, `flushCacheByMethod:`, `flushCacheSelective:` (this image's method cache) |
//! | 105 | indexing | `replaceFrom:to:with:startingAt:` between objects of one kind |
//! | 110 | comparison | `==` |
//! | 111 | objects | `class` |
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
pub(crate) mod indexing;
pub(crate) mod objects;
pub(crate) mod system;

pub(crate) use common::Prim;
use common::{Call, IntOp, PrimFn};

use super::limits::RunError;
use super::state::Exec;

/// The family a primitive belongs to: the file that implements it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `arithmetic.rs`.
    Arithmetic,
    /// `comparison.rs`.
    Comparison,
    /// `indexing.rs`.
    Indexing,
    /// `objects.rs`.
    Objects,
    /// `blocks.rs`.
    Blocks,
    /// `control.rs`.
    Control,
    /// `system.rs`.
    System,
}

/// How the table runs a primitive.
#[derive(Clone, Copy)]
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

const ANY: u8 = u8::MAX;

const fn int_op(family: Family, name: &'static str, op: IntOp) -> Entry {
    Entry {
        family,
        name,
        min_args: 1,
        max_args: 1,
        run: Run::SmallInt(op),
    }
}

const fn call(family: Family, name: &'static str, args: (u8, u8), f: PrimFn) -> Entry {
    Entry {
        family,
        name,
        min_args: args.0,
        max_args: args.1,
        run: Run::Call(f),
    }
}

/// The primitives, as (first number, last number, entry). Building [`TABLE`] from this list
/// fails the build if two rows claim one number.
pub(crate) const ROWS: &[(u16, u16, Entry)] = {
    use Family::*;
    &[
        (1, 1, int_op(Arithmetic, "+", arithmetic::add)),
        (2, 2, int_op(Arithmetic, "-", arithmetic::subtract)),
        (3, 3, int_op(Comparison, "<", comparison::less)),
        (4, 4, int_op(Comparison, ">", comparison::greater)),
        (5, 5, int_op(Comparison, "<=", comparison::less_or_equal)),
        (6, 6, int_op(Comparison, ">=", comparison::greater_or_equal)),
        (7, 7, int_op(Comparison, "=", comparison::equal)),
        (8, 8, int_op(Comparison, "~=", comparison::not_equal)),
        (9, 9, int_op(Arithmetic, "*", arithmetic::multiply)),
        (10, 10, int_op(Arithmetic, "/", arithmetic::divide)),
        (11, 11, int_op(Arithmetic, "\\\\", arithmetic::modulo)),
        (12, 12, int_op(Arithmetic, "//", arithmetic::floor_divide)),
        (13, 13, int_op(Arithmetic, "quo:", arithmetic::quo)),
        (14, 14, int_op(Arithmetic, "bitAnd:", arithmetic::bit_and)),
        (15, 15, int_op(Arithmetic, "bitOr:", arithmetic::bit_or)),
        (16, 16, int_op(Arithmetic, "bitXor:", arithmetic::bit_xor)),
        (17, 17, int_op(Arithmetic, "bitShift:", arithmetic::bit_shift)),
        (60, 60, call(Indexing, "at:", (1, 1), indexing::at)),
        (61, 61, call(Indexing, "at:put:", (2, 2), indexing::at_put)),
        (62, 62, call(Indexing, "size", (0, 0), indexing::size)),
        (63, 63, call(Indexing, "String at:", (1, 1), indexing::string_at)),
        (64, 64, call(Indexing, "String at:put:", (2, 2), indexing::string_at_put)),
        (68, 68, call(Indexing, "objectAt:", (1, 1), indexing::object_at)),
        (69, 69, call(Indexing, "objectAt:put:", (2, 2), indexing::object_at)),
        (70, 70, call(Objects, "basicNew", (0, 0), objects::basic_new)),
        (71, 71, call(Objects, "basicNew:", (1, 1), objects::basic_new_sized)),
        (72, 72, call(Objects, "arrayBecomeOneWay:", (1, 1), objects::become_objects)),
        (73, 73, call(Objects, "instVarAt:", (1, 1), objects::inst_var_at)),
        (74, 74, call(Objects, "instVarAt:put:", (2, 2), objects::inst_var_at)),
        (75, 75, call(Objects, "identityHash", (0, 0), objects::identity_hash)),
        (79, 79, call(Objects, "newMethod:header:", (2, 2), objects::new_method)),
        (80, 80, call(Blocks, "blockCopy:", (1, 1), blocks::block_copy)),
        (81, 81, call(Blocks, "value", (0, ANY), blocks::value)),
        (82, 82, call(Blocks, "valueWithArguments:", (1, 1), blocks::value_with_arguments)),
        (83, 83, call(Control, "perform:", (1, ANY), control::perform)),
        (84, 84, call(Control, "perform:withArguments:", (2, 2), control::perform_with_arguments)),
        (85, 85, call(Control, "signal", (0, 0), control::semaphore)),
        (86, 86, call(Control, "wait", (0, 0), control::semaphore)),
        (89, 89, call(System, "flushCache", (0, 0), system::flush_cache)),
        (105, 105, call(Indexing, "replaceFrom:to:with:startingAt:", (4, 4), indexing::replace)),
        (110, 110, call(Comparison, "==", (1, 1), comparison::identical)),
        (111, 111, call(Objects, "class", (0, 0), objects::class)),
        (116, 116, call(System, "flushCacheByMethod:", (1, 1), system::flush_cache)),
        (119, 119, call(System, "flushCacheSelective:", (1, 1), system::flush_cache)),
        (128, 128, call(Objects, "elementsExchangeIdentityWith:", (1, 1), objects::become_objects)),
        (129, 129, call(System, "specialObjectsOop", (0, 0), system::special_objects)),
        (135, 135, call(System, "millisecondClock", (0, 0), system::millisecond_clock)),
        (137, 137, call(System, "secondsClock", (0, 0), system::seconds_clock)),
        (256, 519, call(Control, "quick return", (0, ANY), control::quick)),
    ]
};

/// [`ROWS`] indexed by primitive number.
pub(crate) static TABLE: [Option<Entry>; TABLE_SIZE] = build(ROWS);

const fn build(rows: &[(u16, u16, Entry)]) -> [Option<Entry>; TABLE_SIZE] {
    let mut table: [Option<Entry>; TABLE_SIZE] = [None; TABLE_SIZE];
    let mut r = 0;
    while r < rows.len() {
        let (first, last, entry) = rows[r];
        assert!(first >= 1 && first <= last && (last as usize) < TABLE_SIZE);
        let mut p = first as usize;
        while p <= last as usize {
            assert!(table[p].is_none(), "two rows of the primitive table claim one number");
            table[p] = Some(entry);
            p += 1;
        }
        r += 1;
    }
    table
}

/// The table's row for primitive `p`, if this interpreter has it.
pub(crate) fn entry(p: usize) -> Option<&'static Entry> {
    TABLE.get(p)?.as_ref()
}

/// Runs primitive `p` for the receiver at stack index `ri` and its `nargs` arguments.
pub(crate) fn primitive(
    x: &mut Exec<'_>,
    p: u16,
    ri: usize,
    nargs: usize,
) -> Result<Prim, RunError> {
    let Some(e) = entry(p as usize) else {
        return Ok(Prim::Fail);
    };
    if nargs < e.min_args as usize || nargs > e.max_args as usize {
        return Ok(Prim::Fail);
    }
    match e.run {
        Run::SmallInt(op) => {
            let (Some(a), Some(b)) = (x.stack[ri].as_small_int(), x.arg(ri, 0).as_small_int())
            else {
                return Ok(Prim::Fail);
            };
            common::answer(op(x.sh, a, b))
        }
        Run::Call(f) => f(x, Call { p, ri, nargs }),
    }
}
