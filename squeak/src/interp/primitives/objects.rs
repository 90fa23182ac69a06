//! Objects: `basicNew` (70) and `basicNew:` (71) from the class's instance specification,
//! `become:` one way (72) and two ways (128) through this image's forwarders, `instVarAt:`
//! (73) and `instVarAt:put:` (74) on fixed fields only, `identityHash`/`asOop` (75),
//! `newMethod:header:` (79) and `class` (111).

use super::common::{answer, element, Call, Prim};
use crate::interp::limits::RunError;
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

/// `basicNew` and `basicNew:` from the class's instance specification.
fn instantiate(x: &mut Exec<'_>, class: Value, n: usize, indexed: bool) -> Result<Prim, RunError> {
    if !class.is_object() || x.image.format_of(class)? != Format::Pointers {
        return Ok(Prim::Fail);
    }
    let Ok(f) = x.class_format(class) else {
        return Ok(Prim::Fail);
    };
    let spec = ((f >> 7) & 0xF) as u8;
    let fixed = x.inst_size(class)?;
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
    let obj = x.image.allocate(class, format, len)?;
    x.image.set_language_format(obj, code)?;
    x.check_allocation()?;
    Ok(Prim::Answer(obj))
}

/// Primitives 72 (`arrayBecomeOneWay:`) and 128 (`elementsExchangeIdentityWith:`):
/// `become:` for this image only. One way is cowheap's `become_forward`. Two ways cannot
/// forward each object to the other (that is a cycle), so each object is forwarded to a
/// private copy of the other, made with the other's header: every reference this image holds
/// to `a` then reaches `b`'s contents and identity hash, and the other way round, as after a
/// V3 `become:`.
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
        if !p.is_object() || !q.is_object() {
            return Ok(Prim::Fail);
        }
        pairs.push((p, q));
    }
    for (p, q) in pairs {
        if x.identical(p, q)? {
            continue;
        }
        if two_way {
            let p2 = x.image.clone_object(p)?;
            let q2 = x.image.clone_object(q)?;
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

/// Primitive 111, `class`.
pub(crate) fn class(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    let class = x.class_of(x.stack[c.ri])?;
    answer(Some(class))
}
