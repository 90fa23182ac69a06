//! Objects: `basicNew` (70) and `basicNew:` (71) from the class's instance specification,
//! `become:` one way (72) and two ways (128) through this image's forwarders, `instVarAt:`
//! (73) and `instVarAt:put:` (74) on fixed fields only, `identityHash`/`asOop` (75),
//! `newMethod:header:` (79), `class` (111), `pointsTo:` (132), `@` (18, a Point) and
//! `shallowCopy` (148).

use super::common::{answer, element, inst_size_of, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::special::CLASS_FORMAT;
use crate::interp::state::{int, Exec};
use cowheap::{Format, Value};

/// Primitive 70, `basicNew`.
pub(crate) fn basic_new(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let class = x.stack[c.ri];
    instantiate(x, class, 0, false)
}

/// Primitive 71, `basicNew: n`.
pub(crate) fn basic_new_sized(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let class = x.stack[c.ri];
    match x.arg(c.ri, 0).as_small_int() {
        Some(n) if n >= 0 => instantiate(x, class, n as usize, true),
        _ => Ok(Prim::Fail),
    }
}

/// Primitives 70 and 71 for the dispatch loop, which holds the operand stack: `basicNew` of
/// `class` (`nargs` 0), or `basicNew: arg` (`nargs` 1). `None` where the primitive fails
/// (nothing done).
#[inline(never)]
pub(crate) fn new_value(
    x: &mut Exec<'_>,
    p: u16,
    nargs: usize,
    class: Value,
    arg: Value,
) -> Result<Option<Value>, RunError> {
    let made = match (p, nargs, arg.as_small_int()) {
        (70, 0, _) => instantiate(x, class, 0, false)?,
        (71, 1, Some(n)) if n >= 0 => instantiate(x, class, n as usize, true)?,
        _ => Prim::Fail,
    };
    Ok(match made {
        Prim::Answer(v) => Some(v),
        _ => None,
    })
}

/// `basicNew` and `basicNew:` from the class's instance specification.
fn instantiate(x: &mut Exec<'_>, class: Value, n: usize, indexed: bool) -> Result<Prim, RunError> {
    // The format field read once, with one look at the class where the fast read answers
    // (it answers only for a pointers object).
    let f = match x.image.read_fast(class, CLASS_FORMAT) {
        Some(f) => f.as_small_int(),
        None if !class.is_object() || x.image.format_of(class)? != Format::Pointers => None,
        None => x.class_format(class).ok(),
    };
    let Some(f) = f else {
        return Ok(Prim::Fail);
    };
    let spec = ((f >> 7) & 0xF) as u8;
    let fixed = inst_size_of(f)?;
    if indexed && spec < 2 {
        return Ok(Prim::Fail);
    }
    let (format, len, code) = match spec {
        0..=4 => (Format::Pointers, fixed + n, spec),
        6 => (Format::Words, n, 6),
        8..=11 => (Format::Bytes, n, 8 | ((4 - n % 4) % 4) as u8),
        _ => return Ok(Prim::Fail),
    };
    let room = x
        .limits
        .private_bytes
        .saturating_sub(x.image.private_bytes());
    let bytes = len.saturating_mul(match format {
        Format::Bytes => 1,
        Format::Words => 4,
        _ => 8,
    });
    if bytes > room {
        return Err(RunError::AllocationLimit {
            limit: x.limits.private_bytes,
            bytes: x.image.private_bytes().saturating_add(bytes),
        });
    }
    // A pointers object (every `new` and `new:` of an ordinary class) in one pass with its
    // format code; the others' code set after.
    let obj = if format == Format::Pointers {
        x.image.new_pointers_with_format(class, len, &[], code)?
    } else {
        let obj = x.image.allocate(class, format, len)?;
        x.image.set_language_format(obj, code)?;
        obj
    };
    x.check_allocation()?;
    // Making (and filling) an object is work that grows with its size, charged as a copy's
    // is: a loop of large allocations runs few bytecodes, and would otherwise look at the
    // clock (and the host's interrupt) once in thousands of them.
    x.charge(bytes as u64 / 16)?;
    Ok(Prim::Answer(obj))
}

/// What one pair of a `become:` is charged against the run's budgets, in bytecodes: about
/// what a pair costs where the image has made many becomes since its last collection (the
/// heap's forwarding chains are then long).
const BECOME_COST: u64 = 1024;

/// Primitives 72 (`arrayBecomeOneWay:`) and 128 (`elementsExchangeIdentityWith:`):
/// `become:` for this image only. One way is cowheap's `become_forward`. Two ways cannot
/// forward each object to the other (that is a cycle), so each object is forwarded to a
/// private copy of the other: every reference this image holds to `a` then reaches `b`'s
/// contents, and the other way round. Each reference keeps its identity hash, as after the
/// real V3 VM's `become:` (which copies the hash with the reference): an IdentitySet or a
/// method dictionary holding `a` still finds it. A pair with nil, true or false fails: the
/// interpreter knows those three by their references (every `ifTrue:`, every BlockContext's
/// caller), which a `become:` here would make name other objects (the real VM swaps their
/// contents, and nil's class is then another's).
pub(crate) fn become_objects(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (from, to) = (x.stack[c.ri], x.arg(c.ri, 0));
    let two_way = c.p == 128;
    let (Some(a), Some(b)) = (x.indexable(from)?, x.indexable(to)?) else {
        return Ok(Prim::Fail);
    };
    if a.shape.format != Format::Pointers
        || b.shape.format != Format::Pointers
        || a.size() != b.size()
    {
        return Ok(Prim::Fail);
    }
    // References change wholesale: no context may be reused after this.
    x.pool.escape_all();
    let mut pairs = Vec::with_capacity(a.size());
    for i in 0..a.size() {
        let p = x.image.read(from, i)?;
        let q = x.image.read(to, i)?;
        if !p.is_object() || !q.is_object() || is_constant(x, p)? || is_constant(x, q)? {
            return Ok(Prim::Fail);
        }
        pairs.push((p, q));
    }
    for (p, q) in pairs {
        // A pair's cost is not a size the primitive knows (the heap follows forwarding
        // chains, copies bodies), so each is charged as many bytecodes.
        x.charge(BECOME_COST)?;
        if x.identical(p, q)? {
            continue;
        }
        if two_way {
            let (hp, hq) = (x.image.identity_hash(p)?, x.image.identity_hash(q)?);
            let p2 = x.image.clone_object(p, hq)?;
            let q2 = x.image.clone_object(q, hp)?;
            x.image.become_forward(p, q2)?;
            x.image.become_forward(q, p2)?;
        } else {
            x.image.become_forward(p, q)?;
        }
    }
    x.cache.flush();
    x.check_allocation()?;
    Ok(Prim::Answer(from))
}

/// True if `v` is nil, true or false (by identity).
fn is_constant(x: &mut Exec<'_>, v: Value) -> Result<bool, RunError> {
    let sh = x.sh;
    for c in [sh.nil, sh.true_object, sh.false_object] {
        if x.identical(v, c)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Primitives 73 and 74, `instVarAt:` and `instVarAt:put:`: fixed fields only, as the real
/// VM's primitive. Past them it fails, and the image's fallback (`basicAt: index - self class
/// instSize`) takes over.
pub(crate) fn inst_var_at(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    if !rcvr.is_object() {
        return Ok(Prim::Fail);
    }
    let shape = x.image.shape(rcvr)?;
    let fixed = match (shape.format, shape.language_format.min(4)) {
        (Format::Pointers, 0 | 1) => shape.len,
        (Format::Pointers, 3 | 4) => {
            let class = x.class_of(rcvr)?;
            x.inst_size(class)?.min(shape.len)
        }
        _ => 0,
    };
    let Some(i) = element(x.arg(c.ri, 0), fixed) else {
        return Ok(Prim::Fail);
    };
    if c.p == 73 {
        answer(Some(x.image.read(rcvr, i)?))
    } else {
        let v = x.arg(c.ri, 1);
        x.store(rcvr, i, v)?;
        answer(Some(v))
    }
}

/// Primitive 132, `pointsTo: anObject`: whether one of the receiver's pointer fields holds
/// `anObject`, as the real VM's `primitiveObjectPointsTo` looks: every field of a pointers
/// object, a method's header and literals, nothing in a bytes or words object (whose
/// fallback, comparing each `basicAt:` with `==`, can answer true for a SmallInteger).
/// MethodDictionary's `includesKey:`, under every `respondsTo:` and `canUnderstand:`,
/// is `super pointsTo:`; without the primitive its fallback's loop over the dictionary ran
/// about 1,000 bytecodes a class (`respondsTo:` 0.021 of the real VM's speed). A context
/// fails, for its fallback: its live fields are its frame's.
pub(crate) fn points_to(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (rcvr, thing) = (x.stack[c.ri], x.arg(c.ri, 0));
    if !rcvr.is_object() {
        return answer(Some(x.boolean(false)));
    }
    if x.class_is(rcvr, x.sh.method_context)? || x.class_is(rcvr, x.sh.block_context)? {
        return Ok(Prim::Fail);
    }
    // Reads answer canonical references: the argument's is the one they can equal.
    let thing = if thing.is_object() {
        x.image.canonical(thing)?
    } else {
        thing
    };
    let fields = match x.image.format_of(rcvr)? {
        Format::Pointers => x.image.size_of(rcvr)?,
        // The header word and the literals (the heap counts both as literals).
        Format::Method => x.image.literal_count(rcvr)?,
        Format::Words | Format::Bytes => 0,
    };
    // A look at each field, charged as a copy's elements are.
    x.charge(fields as u64 / 16)?;
    let found = match x.image.points_to_fast(rcvr, thing) {
        Some(found) => found,
        None => {
            let mut found = false;
            for i in 0..fields {
                let v = match x.image.read_fast(rcvr, i) {
                    Some(v) => v,
                    None => x.image.read(rcvr, i)?,
                };
                if v == thing {
                    found = true;
                    break;
                }
            }
            found
        }
    };
    answer(Some(x.boolean(found)))
}

/// Primitive 77, `someInstance`: the receiver's first instance in the image's object order
/// (`next_object`); fails, so that the image answers nil, where there is none.
pub(crate) fn some_instance(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let class = x.stack[c.ri];
    instance_after(x, class, None)
}

/// Primitive 78, `nextInstance`: the next instance of the receiver's class after it.
pub(crate) fn next_instance(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    if !rcvr.is_object() {
        return Ok(Prim::Fail);
    }
    let class = x.class_of(rcvr)?;
    instance_after(x, class, Some(rcvr))
}

/// The first instance of `class` after `after`. A walk can hand the image any object, dead
/// contexts and contexts still tracked among them, so the context pool lets go of all of them
/// first: they stay as they are until the collector decides. The walk is charged a bytecode
/// per 16 objects it passes.
fn instance_after(x: &mut Exec<'_>, class: Value, after: Option<Value>) -> Result<Prim, RunError> {
    x.pool.forget_all();
    let (mut at, mut passed) = (after, 0u64);
    let found = loop {
        let Some(obj) = x.image.next_object(at)? else {
            break None;
        };
        passed += 1;
        if x.class_is(obj, class)? {
            break Some(obj);
        }
        at = Some(obj);
    };
    x.charge(passed / 16)?;
    Ok(found.map_or(Prim::Fail, Prim::Answer))
}

/// Primitive 75, `identityHash` / `asOop`.
pub(crate) fn identity_hash(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let h = x.image.identity_hash(x.stack[c.ri])?;
    answer(Some(int(h as i64)))
}

/// Primitive 79: `CompiledMethod newMethod: bytecodeCount header: header`, with nil literals
/// and zeroed bytecodes.
pub(crate) fn new_method(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let (class, bytes, header) = (x.stack[c.ri], x.arg(c.ri, 0), x.arg(c.ri, 1));
    let (Some(n), Some(h)) = (bytes.as_small_int(), header.as_small_int()) else {
        return Ok(Prim::Fail);
    };
    let Ok(n) = usize::try_from(n) else {
        return Ok(Prim::Fail);
    };
    if !class.is_object() || x.image.format_of(class)? != Format::Pointers {
        return Ok(Prim::Fail);
    }
    if n > x.limits.private_bytes {
        return Err(RunError::AllocationLimit {
            limit: x.limits.private_bytes,
            bytes: x.image.private_bytes().saturating_add(n),
        });
    }
    let lits = ((h >> 9) & 0xFF) as usize;
    let mut literals = vec![x.sh.nil; lits + 1];
    literals[0] = header;
    let m = x.image.new_method(class, &literals, &vec![0; n])?;
    x.image
        .set_language_format(m, 12 | ((4 - n % 4) % 4) as u8)?;
    x.check_allocation()?;
    Ok(Prim::Answer(m))
}

/// Primitive 18, `x @ y`: a Point of the receiver and the argument, whatever they are (the
/// image's `Number>>@` is its only sender).
pub(crate) fn make_point(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let Some(point) = x.sh.point else {
        return Ok(Prim::Fail);
    };
    if x.inst_size(point)? != 2 {
        return Ok(Prim::Fail);
    }
    let fields = [x.stack[c.ri], x.arg(c.ri, 0)];
    let p = x.image.new_pointers(point, &fields)?;
    x.image.set_language_format(p, 1)?;
    x.note_held(p, &fields);
    x.check_allocation()?;
    answer(Some(p))
}

/// Primitive 148, `shallowCopy`/`clone`: a new object (with its own identity hash) of the
/// receiver's class, format and contents. An immediate is its own copy.
pub(crate) fn shallow_copy(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let rcvr = x.stack[c.ri];
    if !rcvr.is_object() {
        return answer(Some(rcvr));
    }
    let shape = x.image.shape(rcvr)?;
    let class = x.class_of(rcvr)?;
    let bytes = shape.len.saturating_mul(match shape.format {
        Format::Pointers => 8,
        Format::Words => 4,
        Format::Bytes | Format::Method => 1,
    });
    let room = x
        .limits
        .private_bytes
        .saturating_sub(x.image.private_bytes());
    if bytes > room {
        return Err(RunError::AllocationLimit {
            limit: x.limits.private_bytes,
            bytes: x.image.private_bytes().saturating_add(bytes),
        });
    }
    // Copying is work that grows with the size: charged as a bytecode per 16 bytes.
    x.charge(bytes as u64 / 16)?;
    let copy = match shape.format {
        Format::Pointers => {
            let fields = (0..shape.len)
                .map(|i| x.image.read(rcvr, i))
                .collect::<Result<Vec<_>, _>>()?;
            let copy = x.image.new_pointers(class, &fields)?;
            x.note_held(copy, &fields);
            copy
        }
        Format::Words => {
            let words = x.image.words(rcvr)?;
            x.image.new_words(class, &words)?
        }
        Format::Bytes => {
            let bytes = x.image.bytes(rcvr)?;
            x.image.new_bytes(class, &bytes)?
        }
        Format::Method => {
            let literals = (0..x.image.literal_count(rcvr)?)
                .map(|i| x.image.read(rcvr, i))
                .collect::<Result<Vec<_>, _>>()?;
            let bytes = x.image.bytes(rcvr)?;
            let copy = x.image.new_method(class, &literals, &bytes)?;
            x.note_held(copy, &literals);
            copy
        }
    };
    x.image.set_language_format(copy, shape.language_format)?;
    x.check_allocation()?;
    answer(Some(copy))
}

/// Primitive 111, `class`.
pub(crate) fn class(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let class = x.class_of(x.stack[c.ri])?;
    answer(Some(class))
}

#[cfg(test)]
mod tests {
    use crate::interp::limits::{Limits, RunError};
    use crate::interp::tests::{int, Out, Run};
    use cowheap::Format;

    #[test]
    fn basic_new_follows_the_class_format() {
        let mut r = Run::new();
        let (pair, array, string, words) = (r.t.pair, r.t.k.array, r.t.k.string, r.t.k.word_array);
        let p = r.answer(70, pair, &[]);
        assert_eq!(r.image.class_of(p).unwrap(), pair);
        assert_eq!(r.image.shape(p).unwrap().len, 2);
        assert_eq!(r.image.read(p, 1).unwrap(), r.nil());
        let a = r.answer(71, array, &[int(3)]);
        assert_eq!(r.image.class_of(a).unwrap(), array);
        assert_eq!(r.answer(62, a, &[]), int(3));
        let s = r.answer(71, string, &[int(5)]);
        assert_eq!(r.image.format_of(s).unwrap(), Format::Bytes);
        assert_eq!(r.image.bytes(s).unwrap(), [0; 5]);
        let w = r.answer(71, words, &[int(2)]);
        assert_eq!(r.image.format_of(w).unwrap(), Format::Words);
        // A class with fixed fields only has no basicNew:; a negative size, or a non-class,
        // fails.
        r.fails(71, pair, &[int(1)]);
        r.fails(71, array, &[int(-1)]);
        r.fails(70, int(3), &[]);
        let nil = r.nil();
        r.fails(71, array, &[nil]);
    }

    #[test]
    fn basic_new_stops_at_the_allocation_limit() {
        let mut r = Run::new();
        r.set_limits(Limits {
            private_bytes: 1 << 16,
            ..Limits::default()
        });
        let array = r.t.k.array;
        assert!(matches!(
            r.prim(71, array, &[int(1 << 20)]),
            Err(RunError::AllocationLimit { .. })
        ));
    }

    #[test]
    fn inst_var_at_reads_and_writes_fixed_fields_only() {
        let mut r = Run::new();
        let (pair_class, row_class) = (r.t.pair, r.t.row);
        let pair = r.instance(pair_class, &[int(1), int(2)], 1);
        assert_eq!(r.answer(73, pair, &[int(2)]), int(2));
        assert_eq!(r.answer(74, pair, &[int(1), int(9)]), int(9));
        assert_eq!(r.image.read(pair, 0).unwrap(), int(9));
        r.fails(73, pair, &[int(3)]);
        r.fails(73, pair, &[int(0)]);
        let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
        assert_eq!(r.answer(73, row, &[int(1)]), int(1));
        r.fails(73, row, &[int(2)]);
        let a = r.array(&[int(1)]);
        r.fails(73, a, &[int(1)]);
        r.fails(73, int(3), &[int(1)]);
    }

    #[test]
    fn identity_hash_and_class() {
        let mut r = Run::new();
        let a = r.array(&[]);
        let h = r.image.identity_hash(a).unwrap();
        assert_eq!(r.answer(75, a, &[]), int(h as i64));
        let (small_integer, array, character) = (r.t.k.small_integer, r.t.k.array, r.t.k.character);
        assert_eq!(r.answer(111, int(3), &[]), small_integer);
        assert_eq!(r.answer(111, a, &[]), array);
        let c = r.character(b'a');
        assert_eq!(r.answer(111, c, &[]), character);
    }

    /// `pointsTo:` looks where the real VM's primitive looks: every field of a pointers
    /// object, a method's header and literals, none of a bytes object's (a byte equal to a
    /// SmallInteger is no pointer to it), nothing of an immediate.
    #[test]
    fn points_to_looks_at_pointer_fields_only() {
        let mut r = Run::new();
        let (yes, no) = (r.boolean(true), r.boolean(false));
        let row_class = r.t.row;
        let inner = r.array(&[]);
        let row = r.instance(row_class, &[int(1), inner, int(3)], 3);
        assert_eq!(r.answer(132, row, &[inner]), yes);
        assert_eq!(r.answer(132, row, &[int(3)]), yes);
        assert_eq!(r.answer(132, row, &[int(2)]), no);
        let other = r.array(&[]);
        assert_eq!(r.answer(132, row, &[other]), no);
        let s = r.string("abc");
        assert_eq!(r.answer(132, s, &[int(97)]), no);
        let selector = r.sym("value:");
        let m = r.method(&[selector], 0, 0, 0, &[32, 124]);
        assert_eq!(r.answer(132, m, &[selector]), yes);
        assert_eq!(r.answer(132, m, &[int(32)]), no);
        assert_eq!(r.answer(132, int(3), &[int(3)]), no);
        // A base object this image wrote: the copy's fields.
        let table = r.t.character_table;
        let a = r.character(b'a');
        assert_eq!(r.answer(132, table, &[a]), yes);
        r.image.write(table, 97, int(7)).unwrap();
        assert_eq!(r.answer(132, table, &[a]), no);
        assert_eq!(r.answer(132, table, &[int(7)]), yes);
    }

    #[test]
    fn become_one_way_and_two_ways() {
        let mut r = Run::new();
        let pair_class = r.t.pair;
        let p = r.instance(pair_class, &[int(1), int(2)], 1);
        let q = r.instance(pair_class, &[int(3), int(4)], 1);
        let from = r.array(&[p]);
        let to = r.array(&[q]);
        assert_eq!(r.prim(72, from, &[to]), Ok(Out::Answer(from)));
        assert!(r.image.identical(p, q).unwrap());
        assert_eq!(r.image.read(p, 0).unwrap(), int(3));
        // Two ways: each reference reaches the other's contents.
        let a = r.instance(pair_class, &[int(5), int(6)], 1);
        let b = r.instance(pair_class, &[int(7), int(8)], 1);
        let from = r.array(&[a]);
        let to = r.array(&[b]);
        assert_eq!(r.prim(128, from, &[to]), Ok(Out::Answer(from)));
        assert_eq!(r.image.read(a, 0).unwrap(), int(7));
        assert_eq!(r.image.read(b, 0).unwrap(), int(5));
        // Arrays of different sizes, or of immediates, fail.
        let short = r.array(&[]);
        r.fails(72, from, &[short]);
        let ints = r.array(&[int(1)]);
        r.fails(128, ints, &[to]);
    }

    #[test]
    fn shallow_copy_is_a_new_object_of_the_same_class_format_and_contents() {
        let mut r = Run::new();
        let (pair_class, row_class) = (r.t.pair, r.t.row);
        let row = r.instance(row_class, &[int(1), int(2), int(3)], 3);
        let copy = r.answer(148, row, &[]);
        assert!(!r.image.identical(row, copy).unwrap());
        assert_eq!(r.image.class_of(copy).unwrap(), row_class);
        assert_eq!(r.image.shape(copy).unwrap(), r.image.shape(row).unwrap());
        assert_ne!(
            r.image.identity_hash(copy).unwrap(),
            r.image.identity_hash(row).unwrap()
        );
        r.image.write(copy, 0, int(9)).unwrap();
        assert_eq!(r.image.read(row, 0).unwrap(), int(1));
        let s = r.string("abc");
        let copy = r.answer(148, s, &[]);
        assert_eq!(r.image.bytes(copy).unwrap(), b"abc");
        let m = r.method(&[int(42)], 0, 0, 0, &[32, 124]);
        let copy = r.answer(148, m, &[]);
        assert_eq!(r.image.read(copy, 1).unwrap(), int(42));
        assert_eq!(r.image.bytes(copy).unwrap(), [32, 124]);
        // An immediate is its own copy; a point is made of anything.
        assert_eq!(r.answer(148, int(3), &[]), int(3));
        let nil = r.nil();
        let p = r.answer(18, int(3), &[nil]);
        assert_eq!(r.image.class_of(p).unwrap(), pair_class);
        assert_eq!(r.image.read(p, 0).unwrap(), int(3));
        assert_eq!(r.image.read(p, 1).unwrap(), nil);
    }

    #[test]
    fn new_method_makes_a_compiled_method() {
        let mut r = Run::new();
        let class = r.t.k.compiled_method;
        let header = int((2 << 9) | (1 << 18));
        let m = r.answer(79, class, &[int(5), header]);
        assert_eq!(r.image.format_of(m).unwrap(), Format::Method);
        assert_eq!(r.image.literal_count(m).unwrap(), 3);
        assert_eq!(r.image.read(m, 0).unwrap(), header);
        assert_eq!(r.image.read(m, 2).unwrap(), r.nil());
        assert_eq!(r.image.bytes(m).unwrap(), [0; 5]);
        let nil = r.nil();
        r.fails(79, class, &[int(-1), header]);
        r.fails(79, class, &[int(5), nil]);
    }
}
