//! What an image writes to its Transcript, kept for the host: `Transcript show: 'x'; cr`
//! reaches the host through [`Interpreter::take_transcript`](super::Interpreter) and the
//! batch report, one image's text never mixed with another's (each interpreter keeps its
//! own image's).
//!
//! The mini image's `Transcript` is a TranscriptStream, a WriteStream with no window here:
//! `show:` appends to its buffer and calls `endEntry`, which tells the dependents (none) and
//! resets the buffer. So the text is taken where it would be displayed: when `endEntry` is
//! activated (a hook on that one method, see `Hook::TranscriptEntry`), the buffer's contents
//! up to its position are appended to the image's transcript, and the method then runs as
//! it is, the image's own code unchanged. What is written but not yet ended (`cr` after
//! `show:`) is taken at the end of each run from the global Transcript (the part taken is
//! remembered, so that the next `endEntry` does not take it twice). Squeak's line ends
//! (CR) become `\n`; bytes are Latin-1.

use super::limits::RunError;
use super::special::ASSOCIATION_VALUE;
use super::state::Exec;
use cowheap::{Format, Value};

/// PositionableStream: `collection`, `position`.
const COLLECTION: usize = 0;
const POSITION: usize = 1;
/// The most bytes of text kept for one image until the host takes it; what comes after is dropped,
/// with a note, so that a loop printing forever cannot grow the host's memory.
pub const TRANSCRIPT_LIMIT: usize = 1 << 20;
const TRUNCATED: &str = "\n[transcript truncated]\n";

impl Exec<'_> {
    /// `TranscriptStream>>endEntry` is about to run for the stream at stack index `ri`: takes
    /// what was written since the last entry.
    pub(crate) fn transcript_entry(&mut self, ri: usize) -> Result<(), RunError> {
        let stream = self.stack[ri];
        let from = if self.is_global_transcript(stream)? {
            std::mem::take(self.transcript_taken)
        } else {
            0
        };
        self.take_pending(stream, from)?;
        Ok(())
    }

    /// At the end of a run: takes what the global Transcript holds but has not ended yet.
    pub(crate) fn transcript_flush(&mut self) -> Result<(), RunError> {
        let Some(assoc) = self.sh.transcript else {
            return Ok(());
        };
        let stream = self.image.read(assoc, ASSOCIATION_VALUE)?;
        if !self.is_transcript_stream(stream)? {
            return Ok(());
        }
        let from = *self.transcript_taken;
        *self.transcript_taken = self.take_pending(stream, from)?;
        Ok(())
    }

    fn is_transcript_stream(&mut self, v: Value) -> Result<bool, RunError> {
        Ok(v.is_object() && Some(self.class_of(v)?) == self.sh.transcript_stream)
    }

    fn is_global_transcript(&mut self, stream: Value) -> Result<bool, RunError> {
        let Some(assoc) = self.sh.transcript else {
            return Ok(false);
        };
        let global = self.image.read(assoc, ASSOCIATION_VALUE)?;
        self.identical(global, stream)
    }

    /// Appends the stream's buffer from `from` (a position already taken; one past the
    /// position starts again from 0) to its position; answers the position. A stream that is
    /// not over a String gives nothing.
    fn take_pending(&mut self, stream: Value, from: usize) -> Result<usize, RunError> {
        let position = self.image.read(stream, POSITION)?.as_small_int();
        let collection = self.image.read(stream, COLLECTION)?;
        let Some(position) = position.and_then(|p| usize::try_from(p).ok()) else {
            return Ok(0);
        };
        if !collection.is_object() || self.image.format_of(collection)? != Format::Bytes {
            return Ok(position);
        }
        let from = if from > position { 0 } else { from };
        if self.transcript.len() >= TRANSCRIPT_LIMIT {
            return Ok(position);
        }
        // Only the bytes not taken yet: every run ends here, and reading the whole buffer (as
        // `Image::bytes` does, byte by byte into a new Vec) was a tenth of a `3 + 4`'s time
        // in `cowheap serve`, most runs having written nothing.
        let end = position.min(self.image.size_of(collection)?);
        if from >= end {
            return Ok(position);
        }
        let out = &mut *self.transcript;
        for i in from..end {
            if out.len() >= TRANSCRIPT_LIMIT {
                out.push_str(TRUNCATED);
                break;
            }
            let b = self.image.read_byte(collection, i)?;
            out.push(if b == b'\r' { '\n' } else { char::from(b) });
        }
        Ok(position)
    }
}
