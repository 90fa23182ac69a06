//! The surface for a language VM: what an interpreter needs beyond reading and writing
//! fields, as another language's VM would need it too. `cowheap-squeak`, the Squeak VM in
//! this workspace, uses nothing else: it has no access to the heap's internals.
//!
//! | need | call |
//! |---|---|
//! | an object's format, language format code and element count in one resolve | [`Image::shape`](crate::Image::shape) |
//! | allocation with the language's own format code | [`Image::allocate`](crate::Image::allocate), then [`Image::set_language_format`](crate::Image::set_language_format); in a base, [`BaseBuilder::set_language_format`](crate::BaseBuilder::set_language_format) |
//! | fields of the VM's own objects (its activation records) without the general path | [`Image::private_field`](crate::Image::private_field), [`Image::set_private_field`](crate::Image::set_private_field), [`Image::refill_private`](crate::Image::refill_private) |
//! | a twin for a two-way `become:` | [`Image::clone_object`](crate::Image::clone_object), then [`Image::become_forward`](crate::Image::become_forward) |
//! | a dispatch loop's reads without a call: a field, a class, where the heap's fast path answers them (`None` sends the caller to `read`, `class_of`) | [`Image::read_fast`](crate::Image::read_fast), [`Image::class_fast`](crate::Image::class_fast) |
//! | refusing a value from another image or heap before keeping it | [`Image::check_value`](crate::Image::check_value) |
//! | charging memory | [`Image::private_bytes`](crate::Image::private_bytes) |
//!
//! # The fix-up rule on the fast path
//!
//! [`Image::read`](crate::Image::read) follows a reference to a base object that this image has
//! since copied (or made `become` another) and rewrites the field it read it from, so the next
//! read is direct (lazy become). [`Image::private_field`](crate::Image::private_field) does
//! neither: it answers the field as stored. The answer is still the same object for this
//! image ([`Image::identical`](crate::Image::identical) agrees, and every other call follows
//! it), so a VM that compares with `identical` and hands references back to the heap loses
//! nothing; one that compares raw bits must read through `read`.
//!
//! # What a fast path still checks
//!
//! Every fast path checks the owner and the object start of the reference it is given and
//! bounds-checks the index; a reference it cannot serve answers `None` or `false`, and the
//! caller takes the general path, which answers a typed [`Error`](crate::Error). Nothing is
//! skipped, only done once.

use crate::Format;

/// An object's shape as one image sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// cowheap's format.
    pub format: Format,
    /// The language's own 4-bit format code, as a loader or the VM recorded it (a Squeak V3
    /// image: 0-4 pointers, 6 words, 8-11 bytes, 12-15 methods); 0 if nobody did.
    pub language_format: u8,
    /// Fields, 32-bit words or bytes; a method's bytecodes.
    pub len: usize,
}
