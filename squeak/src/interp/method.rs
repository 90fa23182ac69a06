//! CompiledMethods decoded once into Rust vectors, so that the dispatch loop indexes a `Vec<u8>`
//! and a `Vec<Value>` instead of going through the heap for every bytecode and literal.

use super::heap::Heap;
use super::limits::RunError;
use cowheap::{Format, Value};

/// A V3 CompiledMethod, decoded.
#[derive(Clone)]
pub(crate) struct Method {
    /// The method object itself (contexts name it).
    pub(crate) oop: Value,
    pub(crate) num_args: usize,
    /// Arguments plus temporaries.
    pub(crate) num_temps: usize,
    pub(crate) primitive: u16,
    pub(crate) large_frame: bool,
    /// The file's literals (the heap's literals 1..; literal 0 is the header).
    pub(crate) literals: Vec<Value>,
    pub(crate) code: Vec<u8>,
    /// Set for the few methods whose activation the interpreter does something about (see
    /// [`Hook`]); the dispatch loop's fast send leaves them all to the full path.
    pub(crate) hook: Option<Hook>,
}

/// What activating a method does besides running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// A method that would open a debugger (see `Shared::stop_methods`): activating it stops
    /// the image, with the message in this argument.
    Stop(Option<usize>),
    /// `TranscriptStream>>endEntry`: the text written since the last entry is taken for the
    /// image's transcript first, and then the method runs as it is (see `transcript.rs`).
    TranscriptEntry,
    /// The image's default `doesNotUnderstand:` (see `Shared::default_dnu`): activating it
    /// stops the image with the typed doesNotUnderstand of the Message in its argument.
    NotUnderstood,
}

impl Method {
    /// Decodes the method header (Squeak V3: primitive in bits 0-8 and 28-29, literal count in
    /// 9-16, large frame in 17, temps in 18-23, arguments in 24-27) and copies out the
    /// literals and bytecodes. A header that disagrees with the object is a typed error.
    pub(crate) fn decode(image: &mut Heap, oop: Value) -> Result<Method, RunError> {
        let malformed = |what: &str| RunError::Malformed(format!("{oop:?}: {what}"));
        if image.format_of(oop)? != Format::Method {
            return Err(malformed("not a CompiledMethod"));
        }
        let header = image
            .read(oop, 0)?
            .as_small_int()
            .ok_or_else(|| malformed("the method header is not a SmallInteger"))?;
        let num_lits = ((header >> 9) & 0xFF) as usize;
        let stored = image.literal_count(oop)?;
        if stored != num_lits + 1 {
            return Err(malformed(
                "the header's literal count does not match the method",
            ));
        }
        let prim_bits = header & 0x3000_01FF;
        let primitive = if prim_bits > 0x1FF {
            (prim_bits & 0x1FF) + (prim_bits >> 19)
        } else {
            prim_bits
        } as u16;
        let literals = (1..=num_lits)
            .map(|i| image.read(oop, i))
            .collect::<Result<Vec<_>, _>>()?;
        let num_args = ((header >> 24) & 0xF) as usize;
        let num_temps = ((header >> 18) & 0x3F) as usize;
        if num_args > num_temps {
            return Err(malformed("more arguments than temporaries"));
        }
        Ok(Method {
            oop,
            num_args,
            num_temps,
            primitive,
            large_frame: header & 0x20000 != 0,
            literals,
            code: image.bytes(oop)?,
            hook: None,
        })
    }

    /// True if a collection leaves this decoding true: the method and its literals are base
    /// objects (or immediates), whose references no collection changes. A literal this
    /// image had copied when it was read is its private reference, which one does.
    pub(crate) fn lasts(&self) -> bool {
        self.oop.is_base_reference()
            && self
                .literals
                .iter()
                .all(|l| !l.is_object() || l.is_base_reference())
    }

    /// The V3 context `pc` of bytecode `index`: 1-based, counted from the start of the
    /// method object (header and literals included), as the image's own code expects.
    pub(crate) fn v3_pc(&self, index: usize) -> i64 {
        (index + 4 * (self.literals.len() + 1) + 1) as i64
    }

    /// The bytecode index of a V3 context `pc`, if it lies inside the bytecodes.
    pub(crate) fn code_index(&self, pc: i64) -> Option<usize> {
        let first = 4 * (self.literals.len() as i64 + 1) + 1;
        let index = usize::try_from(pc - first).ok()?;
        (index < self.code.len()).then_some(index)
    }

    /// The indexable size a context for this method gets (`CompiledMethod>>frameSize`).
    pub(crate) fn frame_size(&self) -> usize {
        let size = if self.large_frame { 56 } else { 16 };
        size.max(self.num_temps)
    }
}
