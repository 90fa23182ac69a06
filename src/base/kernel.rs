//! A minimal Smalltalk kernel for built bases: the classes every base needs, nil, true and
//! false. Class objects follow Squeak's layout far enough that tools can find a class's name:
//! `[superclass, methodDict, format, instanceVariables, organization, subclasses, name]`.

use super::{BaseBuilder, BaseHeap};
use crate::{Format, Result, Value};

/// The field of a class object that holds its name (as in Squeak).
const CLASS_NAME_SLOT: usize = 6;
const CLASS_SLOTS: usize = 7;

/// The kernel classes and constants of a built base.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// `nil`, also the builder's filler.
    pub nil: Value,
    /// `true`.
    pub true_object: Value,
    /// `false`.
    pub false_object: Value,
    /// Object.
    pub object: Value,
    /// Class, the class of every kernel class.
    pub class: Value,
    /// UndefinedObject.
    pub undefined_object: Value,
    /// True.
    pub true_class: Value,
    /// False.
    pub false_class: Value,
    /// Array (pointers).
    pub array: Value,
    /// String (bytes).
    pub string: Value,
    /// Symbol (bytes).
    pub symbol: Value,
    /// ByteArray (bytes).
    pub byte_array: Value,
    /// WordArray (32-bit words).
    pub word_array: Value,
    /// CompiledMethod.
    pub compiled_method: Value,
    /// SmallInteger.
    pub small_integer: Value,
    /// Character.
    pub character: Value,
}

impl Kernel {
    /// The field of a kernel class object that holds its name (as in Squeak V3 and Spur).
    pub const CLASS_NAME_SLOT: usize = CLASS_NAME_SLOT;

    /// Creates the kernel in `builder`, sets nil as the filler, and names the roots
    /// `nil`, `true` and `false`.
    pub fn install(builder: &mut BaseBuilder) -> Result<Kernel> {
        let placeholder = Value::small_int(0).unwrap_or(Value::character('?'));
        let class = builder.new_object(placeholder, Format::Pointers, CLASS_SLOTS)?;
        builder.set_class(class, class)?;
        let undefined_object = builder.new_object(class, Format::Pointers, CLASS_SLOTS)?;
        let nil = builder.new_object(undefined_object, Format::Pointers, 0)?;
        builder.set_filler(nil)?;
        for i in 0..CLASS_SLOTS {
            builder.set_field(class, i, nil)?;
            builder.set_field(undefined_object, i, nil)?;
        }
        let mut kernel = Kernel {
            nil,
            true_object: nil,
            false_object: nil,
            object: nil,
            class,
            undefined_object,
            true_class: nil,
            false_class: nil,
            array: nil,
            string: nil,
            symbol: nil,
            byte_array: nil,
            word_array: nil,
            compiled_method: nil,
            small_integer: nil,
            character: nil,
        };
        kernel.string = kernel.define_class(builder, "String", nil)?;
        kernel.object = kernel.define_class(builder, "Object", nil)?;
        let object = kernel.object;
        for (obj, name) in [(class, "Class"), (undefined_object, "UndefinedObject")] {
            builder.set_field(obj, 0, object)?;
            let name = builder.new_bytes(kernel.string, name.as_bytes())?;
            builder.set_field(obj, CLASS_NAME_SLOT, name)?;
        }
        builder.set_field(kernel.string, 0, object)?;
        kernel.true_class = kernel.define_class(builder, "True", object)?;
        kernel.false_class = kernel.define_class(builder, "False", object)?;
        kernel.array = kernel.define_class(builder, "Array", object)?;
        kernel.symbol = kernel.define_class(builder, "Symbol", kernel.string)?;
        kernel.byte_array = kernel.define_class(builder, "ByteArray", object)?;
        kernel.word_array = kernel.define_class(builder, "WordArray", object)?;
        kernel.compiled_method = kernel.define_class(builder, "CompiledMethod", object)?;
        kernel.small_integer = kernel.define_class(builder, "SmallInteger", object)?;
        kernel.character = kernel.define_class(builder, "Character", object)?;
        kernel.true_object = builder.new_object(kernel.true_class, Format::Pointers, 0)?;
        kernel.false_object = builder.new_object(kernel.false_class, Format::Pointers, 0)?;
        builder.add_root("nil", nil)?;
        builder.add_root("true", kernel.true_object)?;
        builder.add_root("false", kernel.false_object)?;
        Ok(kernel)
    }

    /// A sealed base holding the minimal kernel alone, and its classes: the smallest base whose
    /// images can allocate.
    ///
    /// `BaseBuilder::new().seal()` seals an empty base, as asked: it holds no objects, so no
    /// class either, and an image of it cannot allocate anything (every class it could pass is
    /// an immediate, refused with [`Error::BadClass`](crate::Error::BadClass), or a foreign
    /// reference). The builder does not add a kernel behind the caller's back, because then
    /// "empty" would hold objects the caller has no handle on; this is the one call for a base
    /// to allocate in.
    ///
    /// ```
    /// # use cowheap::{Format, Kernel};
    /// let (heap, kernel) = Kernel::minimal_base()?;
    /// let mut image = heap.new_image()?;
    /// let s = image.new_bytes(kernel.string, b"hello")?;
    /// assert_eq!(image.class_of(s)?, kernel.string);
    /// let array = image.allocate(kernel.array, Format::Pointers, 1)?;
    /// assert_eq!(image.read(array, 0)?, kernel.nil);
    /// # Ok::<(), cowheap::Error>(())
    /// ```
    pub fn minimal_base() -> Result<(BaseHeap, Kernel)> {
        let mut builder = BaseBuilder::new();
        let kernel = Kernel::install(&mut builder)?;
        Ok((builder.seal()?, kernel))
    }

    /// Defines a class named `name` whose instances' class is Class.
    pub fn define_class(
        &self,
        builder: &mut BaseBuilder,
        name: &str,
        superclass: Value,
    ) -> Result<Value> {
        let class = builder.new_object(self.class, Format::Pointers, CLASS_SLOTS)?;
        builder.set_field(class, 0, superclass)?;
        if self.string != self.nil {
            let name = builder.new_bytes(self.string, name.as_bytes())?;
            builder.set_field(class, CLASS_NAME_SLOT, name)?;
        } else {
            // Defining String itself: its name is an instance of itself.
            let name = builder.new_bytes(class, name.as_bytes())?;
            builder.set_field(class, CLASS_NAME_SLOT, name)?;
        }
        Ok(class)
    }

    /// Allocates a String.
    pub fn new_string(&self, builder: &mut BaseBuilder, s: &str) -> Result<Value> {
        builder.new_bytes(self.string, s.as_bytes())
    }

    /// Allocates an Array holding `fields`.
    pub fn new_array(&self, builder: &mut BaseBuilder, slots: &[Value]) -> Result<Value> {
        builder.new_pointers(self.array, slots)
    }
}
