//! Everything the command prints on stdout goes through here: the report is built as text,
//! then written at once with [`emit`], whose failure is an I/O failure (exit 3).
//!
//! That covers a full disk (`>/dev/full`) and a pipe whose reader has gone (`| true`) alike: a
//! report that did not reach its reader is not a success, so a script sees exit 3 and the
//! reason on stderr rather than a silent 0 or a panic (Rust ignores SIGPIPE, so a closed pipe
//! is a write error here, not a signal). Diagnostics on stderr never fail the command: where
//! stderr is gone there is no one to tell.

use std::io::Write as _;

use crate::exit::Failure;

/// Appends a line to a report being built in a `String`.
macro_rules! outln {
    ($out:expr) => {{
        $out.push('\n');
    }};
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use outln;

/// Writes `text` to stdout and flushes it. Any error, a closed pipe included, is
/// [`Failure::Io`].
pub fn emit(text: &str) -> Result<(), Failure> {
    emit_to(&mut std::io::stdout().lock(), text)
}

/// [`emit`] to any writer.
pub fn emit_to(w: &mut impl std::io::Write, text: &str) -> Result<(), Failure> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| Failure::Io(format!("cannot write the report to stdout: {e}")))
}

/// A line on stderr that cannot fail the command (`eprintln!` panics when stderr is gone).
pub fn note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose every write fails as a full disk or a closed pipe does.
    struct Broken(std::io::ErrorKind);

    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(self.0.into())
        }
    }

    #[test]
    fn every_write_error_is_an_io_failure() {
        for kind in [
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::Other,
        ] {
            let failure = emit_to(&mut Broken(kind), "report\n").unwrap_err();
            assert_eq!(failure.code(), 3, "{kind:?}");
            assert!(failure.to_string().contains("cannot write"), "{failure}");
        }
        let mut ok = Vec::new();
        emit_to(&mut ok, "report\n").unwrap();
        assert_eq!(ok, b"report\n");
        let mut text = String::new();
        outln!(text, "a {}", 1);
        outln!(text);
        assert_eq!(text, "a 1\n\n");
    }
}
