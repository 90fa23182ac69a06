//! What every primitive family shares, below all of them: what a primitive answers
//! ([`Prim`]), how it is called ([`Call`], [`PrimFn`], [`IntOp`]), and the object views that
//! several families read (argument access, class formats, indexable shapes and their
//! elements, spreading an Array of arguments onto the stack).

use std::rc::Rc;

use crate::interp::contexts::STACKP;
use crate::interp::limits::RunError;
use crate::interp::lookup::AtShape;
use crate::interp::method::Method;
use crate::interp::special::{Shared, CLASS_FORMAT};
use crate::interp::state::{int, int_in_range, underflow, Exec};
use cowheap::vm::Shape;
use cowheap::{Format, Value};

/// What a primitive did. One that fails leaves the stack as it found it.
pub(crate) enum Prim {
    /// The method's Smalltalk fallback runs.
    Fail,
    /// The answer replaces the receiver and arguments.
    Answer(Value),
    /// A frame was pushed (a block's, for `value`).
    Switched,
    /// `perform:`: the stack now holds the receiver and `.1` arguments for the method `.0`,
    /// which the send layer invokes (primitives sit below sends, so they do not call them).
    Perform(Rc<Method>, usize),
}

/// How a primitive is called: the stack index of the receiver, its number (one function may
/// serve several), and the argument count. Two words, so that it travels in registers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub(crate) ri: usize,
    pub(crate) p: u16,
    pub(crate) nargs: u16,
}

impl Call {
    /// The argument count.
    #[inline(always)]
    pub(crate) fn nargs(self) -> usize {
        self.nargs as usize
    }
}

/// A primitive's implementation.
pub(crate) type PrimFn = for<'a, 'b> fn(&'b mut Exec<'a>, Call) -> Result<Prim, RunError>;

/// A SmallInteger primitive (1-17) as a function of two 31-bit integers: `None` fails. The
/// dispatch loop's fast paths for bytecodes 176-191 call the same functions.
pub(crate) type IntOp = fn(&Shared, i64, i64) -> Option<Value>;

/// `Ok(Prim::Answer(v))`, or `Ok(Prim::Fail)` for `None`.
#[inline]
pub(crate) fn answer(v: Option<Value>) -> Result<Prim, RunError> {
    Ok(v.map_or(Prim::Fail, Prim::Answer))
}

/// What indexing an object means: its shape, and the fixed fields before its indexable ones
/// (`None` for an object that has no indexable part).
pub(crate) struct Indexable {
    pub(crate) shape: Shape,
    pub(crate) fixed: usize,
    /// For a CompiledMethod: the index of its first bytecode when indexed as bytes (its
    /// header and literals come first, four bytes each, as in the image file).
    pub(crate) first_byte: usize,
}

impl Indexable {
    pub(crate) fn size(&self) -> usize {
        self.shape.len.saturating_sub(self.fixed)
    }
}

/// The 0-based element a 1-based Smalltalk index names, if it is in range.
pub(crate) fn element(v: Value, size: usize) -> Option<usize> {
    let i = v.as_small_int()?;
    (1..=size as i64).contains(&i).then(|| i as usize - 1)
}

impl Exec<'_> {
    /// Argument `k` of the receiver at stack index `ri`.
    #[inline]
    pub(crate) fn arg(&self, ri: usize, k: usize) -> Value {
        self.stack[ri + 1 + k]
    }

    /// A send of `selector` that no class from `class` up understands, its receiver at `ri`
    /// and its `nargs` arguments above: as the real VM does, the arguments become a Message
    /// and the answer is `doesNotUnderstand:` looked up from the same class, so a class that
    /// implements it handles the miss. The stack is left as that send wants it (the
    /// receiver, the Message). The image's own default stops the run when it is activated
    /// (`Hook::NotUnderstood`); a base without Message or the selector stops here.
    #[inline(never)]
    pub(crate) fn not_understood(
        &mut self,
        class: Value,
        selector: Value,
        ri: usize,
        nargs: usize,
    ) -> Result<Rc<Method>, RunError> {
        let receiver = self.stack[ri];
        let (Some(message), Some(dnu)) = (self.sh.message, self.sh.does_not_understand) else {
            return Err(self.dnu(selector, receiver));
        };
        let m = match self.cache.lookup(self.image, self.sh, class, dnu)? {
            Some(m) if m.num_args == 1 => m,
            _ => return Err(self.dnu(selector, receiver)),
        };
        let values = self.stack.split_off(ri + 1);
        if values.len() != nargs {
            return Err(underflow());
        }
        let spec = (self.class_format(message)? >> 7) & 0xF;
        if spec > 1 {
            return Err(self.dnu(selector, receiver));
        }
        let args = self.image.new_pointers(self.sh.array, &values)?;
        self.image.set_language_format(args, 2)?;
        // Message: selector, args and, in images whose Message has it, lookupClass.
        let mut fields = vec![self.sh.nil; self.inst_size(message)?.max(2)];
        fields[0] = selector;
        fields[1] = args;
        if let Some(slot) = fields.get_mut(2) {
            *slot = class;
        }
        let msg = self.image.new_pointers(message, &fields)?;
        self.image.set_language_format(msg, spec as u8)?;
        self.note_held(args, &values);
        self.check_allocation()?;
        self.stack.push(msg);
        Ok(m)
    }

    /// The fixed-field count of instances of `class` (V3 class format word).
    pub(crate) fn inst_size(&mut self, class: Value) -> Result<usize, RunError> {
        inst_size_of(self.class_format(class)?)
    }

    /// A class's V3 format word.
    pub(crate) fn class_format(&mut self, class: Value) -> Result<i64, RunError> {
        self.image
            .read(class, CLASS_FORMAT)?
            .as_small_int()
            .ok_or_else(|| RunError::Malformed("a class format that is not a SmallInteger".into()))
    }

    /// How `obj` is indexed, if it is: from the `at:` cache, else found out (and remembered,
    /// but for a CompiledMethod, which is indexed past its literals).
    #[inline(always)]
    pub(crate) fn indexable(&mut self, obj: Value) -> Result<Option<Indexable>, RunError> {
        match self.cache.at_shape(obj) {
            Some(AtShape { shape, fixed }) => Ok(Some(Indexable {
                shape,
                fixed,
                first_byte: 0,
            })),
            None => self.indexable_uncached(obj),
        }
    }

    #[inline(never)]
    fn indexable_uncached(&mut self, obj: Value) -> Result<Option<Indexable>, RunError> {
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
        let (fixed, class) = match (shape.format, shape.language_format.min(4)) {
            (Format::Pointers, 2) => (0, None),
            (Format::Pointers, 3 | 4) => {
                let class = self.class_of(obj)?;
                (self.inst_size(class)?, Some(class))
            }
            (Format::Words | Format::Bytes, _) => (0, None),
            _ => return Ok(None),
        };
        if class.is_some_and(|c| c == self.sh.method_context || c == self.sh.block_context) {
            // A context is indexed up to its stack pointer, as on the real VM (`basicSize`
            // answers it), which differs from one context to the next: never remembered.
            if let Some(sp) = self.image.read(obj, STACKP)?.as_small_int() {
                shape.len = shape.len.min(fixed + usize::try_from(sp).unwrap_or(0));
            }
            return Ok(Some(Indexable {
                shape,
                fixed,
                first_byte: 0,
            }));
        }
        self.cache
            .remember_at_shape(obj, class, AtShape { shape, fixed });
        Ok(Some(Indexable {
            shape,
            fixed,
            first_byte: 0,
        }))
    }

    /// Indexable element `i` (0-based) of `obj`; `None` where it is not a value here (a word
    /// past 31 bits, a CompiledMethod's header or literal bytes).
    pub(crate) fn at(
        &mut self,
        obj: Value,
        ix: &Indexable,
        i: usize,
    ) -> Result<Option<Value>, RunError> {
        Ok(match ix.shape.format {
            Format::Pointers => Some(self.image.read(obj, ix.fixed + i)?),
            Format::Bytes => Some(int(self.image.read_byte(obj, i)? as i64)),
            Format::Words => {
                // A word past 30 bits is a LargePositiveInteger, as the real VM's
                // `positive32BitIntegerFor:` makes it (a Float's words, a Bitmap's pixels).
                let w = self.image.read_word(obj, i)? as i64;
                match int_in_range(w) {
                    Some(v) => Some(v),
                    None => Some(self.large_integer(w as i128)?),
                }
            }
            Format::Method => match i.checked_sub(ix.first_byte) {
                Some(k) => Some(int(self.image.read_byte(obj, k)? as i64)),
                // The header's bytes (and a SmallInteger literal's), as the real VM reads
                // them from memory on a little-endian machine: `endPC` looks at them in a
                // method without bytecodes. A reference has no bytes here: that fails.
                None => self
                    .image
                    .read(obj, i / 4)?
                    .as_small_int()
                    .map(|v| int(((v << 1) | 1) >> (8 * (i % 4)) & 0xFF)),
            },
        })
    }

    /// Stores into an indexable element; `false` if the value does not fit the object.
    pub(crate) fn at_put(
        &mut self,
        obj: Value,
        ix: &Indexable,
        i: usize,
        v: Value,
    ) -> Result<bool, RunError> {
        match ix.shape.format {
            Format::Pointers => self.store(obj, ix.fixed + i, v)?,
            Format::Bytes => match v.as_small_int() {
                Some(b @ 0..=255) => self.image.write_byte(obj, i, b as u8)?,
                _ => return Ok(false),
            },
            Format::Words => match self.positive_32(v)? {
                Some(w) => self.image.write_word(obj, i, w)?,
                None => return Ok(false),
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

    /// `v` as an unsigned 32-bit word (the real VM's `positive32BitValueOf:`): a
    /// non-negative SmallInteger, or a LargePositiveInteger of at most four bytes.
    pub(crate) fn positive_32(&mut self, v: Value) -> Result<Option<u32>, RunError> {
        if let Some(i) = v.as_small_int() {
            return Ok(u32::try_from(i).ok());
        }
        if !v.is_object() || !self.class_is(v, self.sh.large_positive)? {
            return Ok(None);
        }
        let bytes = self.image.bytes(v)?;
        if bytes.len() > 4 {
            return Ok(None);
        }
        Ok(Some(
            bytes.iter().rev().fold(0u32, |w, &b| (w << 8) | b as u32),
        ))
    }

    /// Replaces what lies above the receiver at `ri` with the `n` elements of the Array
    /// `args`: the arguments of `perform:withArguments:` and `valueWithArguments:`.
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
}

/// The fixed fields of a class's instances, from its V3 format word.
pub(crate) fn inst_size_of(format: i64) -> Result<usize, RunError> {
    usize::try_from(((format >> 10) & 0xC0) + ((format >> 1) & 0x3F) - 1)
        .map_err(|_| RunError::Malformed("a class format with a negative size".into()))
}
