//! One error type for a host that loads, runs and saves images, so that `?` works across the
//! steps: each step keeps its own precise error, and each converts into [`Error`].

use crate::interp::{BatchError, ParseError, RunError};
use crate::loader::LoadError;

/// Any of this crate's and the heap's errors, for a host function that does several steps:
///
/// ```no_run
/// use cowheap_squeak::{interp::{Limits, Vm}, loader, Error};
///
/// fn double(path: &str, n: u32) -> Result<String, Error> {
///     let loaded = loader::load_file(path)?; // LoadError
///     let vm = Vm::for_loaded(&loaded)?; // RunError
///     let mut image = loaded.heap.new_image()?; // cowheap::Error
///     let mut interp = vm.interpreter(Limits::default());
///     interp.set_image_number(n);
///     let answer = interp.evaluate(&mut image, "$i * 2")?; // RunError
///     image.save_delta_to("doubled.delta")?; // DeltaError
///     Ok(interp.print_string(&mut image, answer)?)
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An image file was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A run stopped, or the base is not one this interpreter runs.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A batch could not run to the end.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The heap refused an operation.
    #[error(transparent)]
    Heap(#[from] cowheap::Error),
    /// A delta could not be saved, read or resumed.
    #[error(transparent)]
    Delta(#[from] cowheap::DeltaError),
}

/// A parse error is a run that could not start: [`RunError::Parse`].
impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Run(RunError::Parse(e))
    }
}
