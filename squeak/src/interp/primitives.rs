//! The primitives this interpreter has. Every other primitive number fails, so the method's
//! Smalltalk fallback runs, as on a real VM whose plugin is missing. A primitive that fails
//! leaves the stack as it found it.
//!
//! | numbers | what |
//! |---|---|
//! | 1-17 | SmallInteger `+ - < > <= >= = ~= * / \\ // quo: bitAnd: bitOr: bitXor: bitShift:`, in 31 bits |
//! | 60-64 | `at:`, `at:put:`, `size`, String `at:`/`at:put:` with Characters from the character table |
//! | 68, 69 | CompiledMethod `objectAt:`, `objectAt:put:` (header and literals) |
//! | 70, 71 | `basicNew`, `basicNew:` from the class's instance specification |
//! | 72, 128 | `arrayBecomeOneWay:`, `elementsExchangeIdentityWith:` through this image's forwarders (see `become`) |
//! | 73-75 | `instVarAt:`, `instVarAt:put:` (fixed fields only, as the real VM), `identityHash`/`asOop` |
//! | 79 | `newMethod:header:` (a CompiledMethod with nil literals and zeroed bytecodes) |
//! | 80, 81, 82 | `blockCopy:`, `value`/`value:`..., `valueWithArguments:` (see `contexts.rs`) |
//! | 83, 84 | `perform:` (with up to its arguments), `perform:withArguments:`; a Symbol the receiver does not understand is a doesNotUnderstand |
//! | 105 | `replaceFrom:to:with:startingAt:` between objects of one kind |
//! | 85, 86 | Semaphore `signal`, `wait` with one process: excess signals count, a `wait` that would block stops the image |
//! | 89, 116, 119 | `flushCache`, `flushCacheByMethod:`, `flushCacheSelective:` (this image's method cache) |
//! | 110, 111 | `==`, `class` |
//! | 129 | `specialObjectsOop` |
//! | 135, 137 | `millisecondClock`, `secondsClock` (UTC) |
//! | 256-519 | quick returns (in `execute.rs`) |

use std::sync::OnceLock;
use std::time::Instant;

use super::execute::{int, int_in_range, Exec, Flow, Prim, MAX_INT, MIN_INT};
use super::special::CLASS_FORMAT;
use super::RunError;
use cowheap::vm::Shape;
use cowheap::{Format, Value};

/// `\\`: the remainder of flooring division (its sign is the divisor's).
pub(crate) fn floor_mod(a: i64, b: i64) -> Option<Value> {
    if b == 0 {
        return None;
    }
    let r = a % b;
    Some(int(if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }))
}

/// `//`: division rounded toward negative infinity.
pub(crate) fn floor_div(a: i64, b: i64) -> Option<Value> {
    if b == 0 {
        return None;
    }
    let q = a / b;
    int_in_range(if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    })
}

/// `bitShift:` that fails where the result would leave the 31 bits, so that the image's
/// LargeInteger code takes over.
pub(crate) fn shift(a: i64, b: i64) -> Option<Value> {
    if b >= 0 {
        if a == 0 {
            return Some(int(0));
        }
        if b > 31 {
            return None;
        }
        int_in_range(a << b)
    } else {
        Some(int(a >> (-b).min(63)))
    }
}

/// What indexing an object means: its shape, and the fixed fields before its indexable ones
/// (`None` for an object that has no indexable part).
struct Indexable {
    shape: Shape,
    fixed: usize,
    /// For a CompiledMethod: the index of its first bytecode when indexed as bytes (its
    /// header and literals come first, four bytes each, as in the image file).
    first_byte: usize,
}

impl Indexable {
    fn size(&self) -> usize {
        self.shape.len.saturating_sub(self.fixed)
    }
}

impl Exec<'_> {
    #[inline]
    fn arg(&self, ri: usize, k: usize) -> Value {
        self.stack[ri + 1 + k]
    }

    /// The fixed-field count of instances of `class` (V3 class format word).
    pub(crate) fn inst_size(&mut self, class: Value) -> Result<usize, RunError> {
        let f = self.class_format(class)?;
        usize::try_from(((f >> 10) & 0xC0) + ((f >> 1) & 0x3F) - 1)
            .map_err(|_| RunError::Malformed("a class format with a negative size".into()))
    }

    fn class_format(&mut self, class: Value) -> Result<i64, RunError> {
        self.image
            .read(class, CLASS_FORMAT)?
            .as_small_int()
            .ok_or_else(|| RunError::Malformed("a class format that is not a SmallInteger".into()))
    }

    fn indexable(&mut self, obj: Value) -> Result<Option<Indexable>, RunError> {
        if !obj.is_object() {
            return Ok(None);
        }
        let mut shape = self.image.shape(obj)?;
        if shape.format == Format::Method {
            let first_byte = 4 * self.image.literal_count(obj)?;
            shape.len = first_byte + self.image.size_of(obj)?;
            return Ok(Some(Indexable {
                shape,
                fixed: 0,
                first_byte,
            }));
        }
        let fixed = match (shape.format, shape.language_format.min(4)) {
            (Format::Pointers, 2) => 0,
            (Format::Pointers, 3 | 4) => {
                let class = self.class_of(obj)?;
                self.inst_size(class)?
            }
            (Format::Words | Format::Bytes, _) => 0,
            _ => return Ok(None),
        };
        Ok(Some(Indexable {
            shape,
            fixed,
            first_byte: 0,
        }))
    }

    /// The 0-based element a 1-based Smalltalk index names, if it is in range.
    fn element(v: Value, size: usize) -> Option<usize> {
        let i = v.as_small_int()?;
        (1..=size as i64).contains(&i).then(|| i as usize - 1)
    }

    fn at(&mut self, obj: Value, ix: &Indexable, i: usize) -> Result<Option<Value>, RunError> {
        Ok(match ix.shape.format {
            Format::Pointers => Some(self.image.read(obj, ix.fixed + i)?),
            Format::Bytes => Some(int(self.image.read_byte(obj, i)? as i64)),
            Format::Words => int_in_range(self.image.read_word(obj, i)? as i64),
            Format::Method => match i.checked_sub(ix.first_byte) {
                Some(k) => Some(int(self.image.read_byte(obj, k)? as i64)),
                None => None,
            },
        })
    }

    /// Stores into an indexable element; `false` if the value does not fit the object.
    fn at_put(&mut self, obj: Value, ix: &Indexable, i: usize, v: Value) -> Result<bool, RunError> {
        match ix.shape.format {
            Format::Pointers => self.store(obj, ix.fixed + i, v)?,
            Format::Bytes => match v.as_small_int() {
                Some(b @ 0..=255) => self.image.write_byte(obj, i, b as u8)?,
                _ => return Ok(false),
            },
            Format::Words => match v.as_small_int() {
                Some(w @ 0..=MAX_INT) => self.image.write_word(obj, i, w as u32)?,
                _ => return Ok(false),
            },
            Format::Method => match (i.checked_sub(ix.first_byte), v.as_small_int()) {
                (Some(k), Some(b @ 0..=255)) => {
                    let obj = self.image.canonical(obj)?;
                    self.cache.before_store(obj);
                    self.image.write_byte(obj, k, b as u8)?
                }
                _ => return Ok(false),
            },
        }
        Ok(true)
    }

    /// Runs primitive `p` for the receiver at stack index `ri` and its `nargs` arguments.
    pub(crate) fn primitive(&mut self, p: u16, ri: usize, nargs: usize) -> Result<Prim, RunError> {
        let rcvr = self.stack[ri];
        let answer = |v: Option<Value>| Ok(v.map_or(Prim::Fail, Prim::Answer));
        match (p, nargs) {
            (1..=17, 1) => {
                let (Some(a), Some(b)) = (rcvr.as_small_int(), self.arg(ri, 0).as_small_int())
                else {
                    return Ok(Prim::Fail);
                };
                let v = match p {
                    1 => int_in_range(a + b),
                    2 => int_in_range(a - b),
                    3 => Some(self.boolean(a < b)),
                    4 => Some(self.boolean(a > b)),
                    5 => Some(self.boolean(a <= b)),
                    6 => Some(self.boolean(a >= b)),
                    7 => Some(self.boolean(a == b)),
                    8 => Some(self.boolean(a != b)),
                    9 => int_in_range(a * b),
                    10 => (b != 0 && a % b == 0)
                        .then(|| int_in_range(a / b))
                        .flatten(),
                    11 => floor_mod(a, b),
                    12 => floor_div(a, b),
                    13 => (b != 0).then(|| int_in_range(a / b)).flatten(),
                    14 => Some(int(a & b)),
                    15 => Some(int(a | b)),
                    16 => Some(int(a ^ b)),
                    _ => shift(a, b),
                };
                answer(v)
            }
            (60 | 63, 1) => {
                let Some(ix) = self.indexable(rcvr)? else {
                    return Ok(Prim::Fail);
                };
                let Some(i) = Self::element(self.arg(ri, 0), ix.size()) else {
                    return Ok(Prim::Fail);
                };
                if p == 63 {
                    if ix.shape.format != Format::Bytes {
                        return Ok(Prim::Fail);
                    }
                    let b = self.image.read_byte(rcvr, i)?;
                    let c = self.image.read(self.sh.character_table, b as usize)?;
                    return answer(Some(c));
                }
                answer(self.at(rcvr, &ix, i)?)
            }
            (61 | 64, 2) => {
                let Some(ix) = self.indexable(rcvr)? else {
                    return Ok(Prim::Fail);
                };
                let Some(i) = Self::element(self.arg(ri, 0), ix.size()) else {
                    return Ok(Prim::Fail);
                };
                let v = self.arg(ri, 1);
                let stored = if p == 64 {
                    if ix.shape.format != Format::Bytes
                        || !v.is_object()
                        || self.class_of(v)? != self.sh.character
                    {
                        return Ok(Prim::Fail);
                    }
                    let code = self.image.read(v, 0)?;
                    self.at_put(rcvr, &ix, i, code)?
                } else {
                    self.at_put(rcvr, &ix, i, v)?
                };
                answer(stored.then_some(v))
            }
            (62, 0) => match self.indexable(rcvr)? {
                Some(ix) => answer(Some(int(ix.size() as i64))),
                None if rcvr.is_object() && self.image.format_of(rcvr)? == Format::Pointers => {
                    answer(Some(int(0)))
                }
                None => Ok(Prim::Fail),
            },
            (68, 1) | (69, 2) => {
                // objectAt: / objectAt:put: on a CompiledMethod: 1 is the header, then the
                // literals, which is the heap's own numbering shifted by one.
                if !rcvr.is_object() || self.image.format_of(rcvr)? != Format::Method {
                    return Ok(Prim::Fail);
                }
                let n = self.image.literal_count(rcvr)?;
                let Some(i) = Self::element(self.arg(ri, 0), n) else {
                    return Ok(Prim::Fail);
                };
                if p == 68 {
                    answer(Some(self.image.read(rcvr, i)?))
                } else {
                    let v = self.arg(ri, 1);
                    if i == 0 && v.as_small_int().is_none() {
                        return Ok(Prim::Fail);
                    }
                    self.store(rcvr, i, v)?;
                    answer(Some(v))
                }
            }
            (70, 0) => self.instantiate(rcvr, 0, false),
            (71, 1) => match self.arg(ri, 0).as_small_int() {
                Some(n) if n >= 0 => self.instantiate(rcvr, n as usize, true),
                _ => Ok(Prim::Fail),
            },
            (73, 1) | (74, 2) => {
                // Fixed fields only, as the real VM's primitive: past them it fails, and the
                // image's fallback (`basicAt: index - self class instSize`) takes over.
                if !rcvr.is_object() {
                    return Ok(Prim::Fail);
                }
                let shape = self.image.shape(rcvr)?;
                let fixed = match (shape.format, shape.language_format.min(4)) {
                    (Format::Pointers, 0 | 1) => shape.len,
                    (Format::Pointers, 3 | 4) => {
                        let class = self.class_of(rcvr)?;
                        self.inst_size(class)?.min(shape.len)
                    }
                    _ => 0,
                };
                let Some(i) = Self::element(self.arg(ri, 0), fixed) else {
                    return Ok(Prim::Fail);
                };
                if p == 73 {
                    answer(Some(self.image.read(rcvr, i)?))
                } else {
                    let v = self.arg(ri, 1);
                    self.store(rcvr, i, v)?;
                    answer(Some(v))
                }
            }
            (75, 0) => {
                let h = self.image.identity_hash(rcvr)?;
                answer(Some(int(h as i64)))
            }
            (80, 1) => self.prim_block_copy(ri),
            (81, _) => self.prim_value(ri, nargs),
            (82, 1) => self.prim_value_with_arguments(ri),
            (83, 1..) => self.perform(ri, nargs),
            (84, 2) => self.perform_with_arguments(ri),
            (105, 4) => self.replace(ri),
            (110, 1) => {
                let same = self.identical(rcvr, self.arg(ri, 0))?;
                answer(Some(self.boolean(same)))
            }
            (111, 0) => {
                let c = self.class_of(rcvr)?;
                answer(Some(c))
            }
            (72, 1) | (128, 1) => self.prim_become(rcvr, self.arg(ri, 0), p == 128),
            (79, 2) => self.new_method(rcvr, self.arg(ri, 0), self.arg(ri, 1)),
            (85, 0) | (86, 0) => self.semaphore(rcvr, p == 85),
            (89, 0) | (116, 1) | (119, 1) => {
                // flushCache, flushCacheByMethod:, flushCacheSelective: the stores that
                // changed the methods already dropped this image's cache; drop it anyway.
                self.cache.flush();
                answer(Some(rcvr))
            }
            (129, 0) => {
                let specials = self.image.root("specialObjects")?;
                answer(Some(specials))
            }
            (137, 0) => {
                // secondsClock: seconds since 1 January 1901 (UTC here), a LargeInteger.
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let v = self.large_integer(unix as i128 + 2_177_452_800)?;
                answer(Some(v))
            }
            (135, 0) => {
                static START: OnceLock<Instant> = OnceLock::new();
                let ms = START.get_or_init(Instant::now).elapsed().as_millis() as i64;
                answer(Some(int(ms & MAX_INT)))
            }
            _ => Ok(Prim::Fail),
        }
    }

    /// `basicNew` and `basicNew:` from the class's instance specification.
    fn instantiate(&mut self, class: Value, n: usize, indexed: bool) -> Result<Prim, RunError> {
        if !class.is_object() || self.image.format_of(class)? != Format::Pointers {
            return Ok(Prim::Fail);
        }
        let Ok(f) = self.class_format(class) else {
            return Ok(Prim::Fail);
        };
        let spec = ((f >> 7) & 0xF) as u8;
        let fixed = self.inst_size(class)?;
        if indexed && spec < 2 {
            return Ok(Prim::Fail);
        }
        let (format, len, code) = match spec {
            0..=4 => (Format::Pointers, fixed + n, spec),
            6 => (Format::Words, n, 6),
            8..=11 => (Format::Bytes, n, 8 | ((4 - n % 4) % 4) as u8),
            _ => return Ok(Prim::Fail),
        };
        let room = self
            .limits
            .private_bytes
            .saturating_sub(self.image.private_bytes());
        let bytes = len.saturating_mul(match format {
            Format::Bytes => 1,
            Format::Words => 4,
            _ => 8,
        });
        if bytes > room {
            return Err(RunError::AllocationLimit {
                limit: self.limits.private_bytes,
                bytes: self.image.private_bytes().saturating_add(bytes),
            });
        }
        let obj = self.image.allocate(class, format, len)?;
        self.image.set_language_format(obj, code)?;
        self.check_allocation()?;
        Ok(Prim::Answer(obj))
    }

    /// Primitives 72 (one way) and 128 (two ways): `become:` for this image only. One way is
    /// cowheap's `become_forward`. Two ways cannot forward each object to the other (that is
    /// a cycle), so each object is forwarded to a private copy of the other, made with the
    /// other's header: every reference this image holds to `a` then reaches `b`'s contents
    /// and identity hash, and the other way round, as after a V3 `become:`.
    fn prim_become(&mut self, from: Value, to: Value, two_way: bool) -> Result<Prim, RunError> {
        let (Some(a), Some(b)) = (self.indexable(from)?, self.indexable(to)?) else {
            return Ok(Prim::Fail);
        };
        if a.shape.format != Format::Pointers
            || b.shape.format != Format::Pointers
            || a.size() != b.size()
        {
            return Ok(Prim::Fail);
        }
        // References change wholesale: no context may be reused after this.
        self.pool.escape_all();
        let mut pairs = Vec::with_capacity(a.size());
        for i in 0..a.size() {
            let x = self.image.read(from, i)?;
            let y = self.image.read(to, i)?;
            if !x.is_object() || !y.is_object() {
                return Ok(Prim::Fail);
            }
            pairs.push((x, y));
        }
        for (x, y) in pairs {
            if self.identical(x, y)? {
                continue;
            }
            if two_way {
                let x2 = self.image.clone_object(x)?;
                let y2 = self.image.clone_object(y)?;
                self.image.become_forward(x, y2)?;
                self.image.become_forward(y, x2)?;
            } else {
                self.image.become_forward(x, y)?;
            }
        }
        self.cache.flush();
        self.check_allocation()?;
        Ok(Prim::Answer(from))
    }

    /// Primitive 79: `CompiledMethod newMethod: bytecodeCount header: header`.
    fn new_method(&mut self, class: Value, bytes: Value, header: Value) -> Result<Prim, RunError> {
        let (Some(n), Some(h)) = (bytes.as_small_int(), header.as_small_int()) else {
            return Ok(Prim::Fail);
        };
        let Ok(n) = usize::try_from(n) else {
            return Ok(Prim::Fail);
        };
        if !class.is_object() || self.image.format_of(class)? != Format::Pointers {
            return Ok(Prim::Fail);
        }
        if n > self.limits.private_bytes {
            return Err(RunError::AllocationLimit {
                limit: self.limits.private_bytes,
                bytes: self.image.private_bytes().saturating_add(n),
            });
        }
        let lits = ((h >> 9) & 0xFF) as usize;
        let mut literals = vec![self.sh.nil; lits + 1];
        literals[0] = header;
        let m = self.image.new_method(class, &literals, &vec![0; n])?;
        self.image
            .set_language_format(m, 12 | ((4 - n % 4) % 4) as u8)?;
        self.check_allocation()?;
        Ok(Prim::Answer(m))
    }

    /// Primitives 85 and 86 for an image that has one process: `signal` with no waiting
    /// process adds an excess signal; `wait` takes one, or stops the image, since nothing
    /// could ever signal it.
    fn semaphore(&mut self, sem: Value, signal: bool) -> Result<Prim, RunError> {
        const FIRST_LINK: usize = 0;
        const EXCESS_SIGNALS: usize = 2;
        if !sem.is_object()
            || self.image.format_of(sem)? != Format::Pointers
            || self.image.shape(sem)?.len <= EXCESS_SIGNALS
        {
            return Ok(Prim::Fail);
        }
        let Some(excess) = self.image.read(sem, EXCESS_SIGNALS)?.as_small_int() else {
            return Ok(Prim::Fail);
        };
        if self.image.read(sem, FIRST_LINK)? != self.sh.nil {
            return Err(RunError::Unimplemented(
                "a Semaphore with waiting processes (processes are not run)".into(),
            ));
        }
        let excess = if signal {
            excess + 1
        } else if excess > 0 {
            excess - 1
        } else {
            return Err(RunError::Unimplemented(
                "Semaphore>>wait would block the only process".into(),
            ));
        };
        self.store(sem, EXCESS_SIGNALS, int(excess.min(MAX_INT)))?;
        Ok(Prim::Answer(sem))
    }

    /// Primitive 83: `perform: selector with: ...` sends the selector with the arguments
    /// after it.
    fn perform(&mut self, ri: usize, nargs: usize) -> Result<Prim, RunError> {
        let selector = self.arg(ri, 0);
        let rcvr = self.stack[ri];
        let class = self.class_of(rcvr)?;
        let Some(m) = self.cache.lookup(self.image, self.sh, class, selector)? else {
            return self.perform_not_understood(selector, rcvr);
        };
        if m.num_args != nargs - 1 {
            return Ok(Prim::Fail);
        }
        self.stack.remove(ri + 1);
        self.sends += 1;
        self.flow_to_prim(m, ri, nargs - 1)
    }

    /// Primitive 84: `perform: selector withArguments: anArray`.
    fn perform_with_arguments(&mut self, ri: usize) -> Result<Prim, RunError> {
        let (selector, args) = (self.arg(ri, 0), self.arg(ri, 1));
        if !args.is_object() || self.class_of(args)? != self.sh.array {
            return Ok(Prim::Fail);
        }
        let n = self.image.size_of(args)?;
        let rcvr = self.stack[ri];
        let class = self.class_of(rcvr)?;
        let Some(m) = self.cache.lookup(self.image, self.sh, class, selector)? else {
            return self.perform_not_understood(selector, rcvr);
        };
        if m.num_args != n {
            return Ok(Prim::Fail);
        }
        self.spread_arguments(ri, args, n)?;
        self.sends += 1;
        self.flow_to_prim(m, ri, n)
    }

    /// A `perform:` of a Symbol that the receiver does not understand is a
    /// doesNotUnderstand, as on a real VM; anything else as a selector (nil, a String) fails
    /// into the image's fallback, which says what is wrong with it.
    /// Replaces what lies above the receiver at `ri` with the `n` elements of the Array `args`:
    /// the arguments of `perform:withArguments:` and `valueWithArguments:`.
    pub(crate) fn spread_arguments(
        &mut self,
        ri: usize,
        args: Value,
        n: usize,
    ) -> Result<(), RunError> {
        let values = (0..n)
            .map(|i| self.image.read(args, i))
            .collect::<Result<Vec<_>, _>>()?;
        self.stack.truncate(ri + 1);
        self.stack.extend(values);
        Ok(())
    }

    fn perform_not_understood(&mut self, selector: Value, rcvr: Value) -> Result<Prim, RunError> {
        if selector.is_object() && self.class_of(selector)? == self.sh.symbol {
            Err(self.dnu(selector, rcvr))
        } else {
            Ok(Prim::Fail)
        }
    }

    fn flow_to_prim(
        &mut self,
        m: std::rc::Rc<super::method::Method>,
        ri: usize,
        nargs: usize,
    ) -> Result<Prim, RunError> {
        match self.invoke(m, ri, nargs)? {
            Flow::Same => Ok(Prim::Answer(self.pop()?)),
            Flow::Switched => Ok(Prim::Switched),
        }
    }

    /// Primitive 105: `replaceFrom: start to: stop with: replacement startingAt: repStart`.
    fn replace(&mut self, ri: usize) -> Result<Prim, RunError> {
        let rcvr = self.stack[ri];
        let repl = self.arg(ri, 2);
        let (Some(start), Some(stop), Some(rs)) = (
            self.arg(ri, 0).as_small_int(),
            self.arg(ri, 1).as_small_int(),
            self.arg(ri, 3).as_small_int(),
        ) else {
            return Ok(Prim::Fail);
        };
        let (Some(dst), Some(src)) = (self.indexable(rcvr)?, self.indexable(repl)?) else {
            return Ok(Prim::Fail);
        };
        if dst.shape.format != src.shape.format {
            return Ok(Prim::Fail);
        }
        let count = stop - start + 1;
        if start < 1
            || count < 0
            || stop > dst.size() as i64
            || rs < 1
            || rs - 1 + count > src.size() as i64
        {
            return Ok(Prim::Fail);
        }
        let (start, rs, count) = (start as usize - 1, rs as usize - 1, count as usize);
        let values = (0..count)
            .map(|k| self.at(repl, &src, rs + k))
            .collect::<Result<Option<Vec<_>>, _>>()?;
        let Some(values) = values else {
            return Ok(Prim::Fail);
        };
        for (k, v) in values.into_iter().enumerate() {
            if !self.at_put(rcvr, &dst, start + k, v)? {
                return Ok(Prim::Fail);
            }
        }
        Ok(Prim::Answer(rcvr))
    }
}

/// Keeps the range constants in one place for the arithmetic above.
const _: () = assert!(MIN_INT == -(1 << 30));
