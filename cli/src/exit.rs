//! The exit codes, one per way a command can end, so that scripts can tell a failed check
//! from a mistyped flag from a missing file.

use std::process::ExitCode;

/// The exit codes as `--help` lists them.
pub const HELP: &str = "\
Exit codes:
  0    success: every check passed
  1    verification failed: a violation was found (the report lists it)
  2    usage error: a bad argument or setting
  3    I/O error: a file could not be read or loaded, or the report could not be written
       (stdout on a full disk, or a pipe whose reader had gone)
  4    the run could not happen: the heap or the system refused (threads, memory, more
       images than vm.max_map_count allows threads for), or a delta was refused (saved over
       another base, damaged)
  130  interrupted by Ctrl-C: the partial report was printed";

/// `cowheap run`'s exit codes: the shared ones, then one per kind of stop.
pub const RUN_HELP: &str = "\
Exit codes:
  0    every image answered and the base is unchanged
  1    verification failed: the base changed
  2    usage error: a bad argument or setting, or an expression that does not parse (for
       the expression compiler, or with --eval for the image's own: its message and column)
  3    I/O error: the image file could not be read or loaded, or the report could not be
       written (stdout on a full disk, or a pipe whose reader had gone)
  4    the run could not happen: the base is not an image this interpreter runs (a Spur
       image loads but does not run), or a thread was refused (more images than
       vm.max_map_count allows threads for)
  5    an image stopped: doesNotUnderstand
  6    an image stopped: the bytecode limit
  7    an image stopped: the allocation limit
  8    an image stopped: the depth limit
  9    an image stopped: anything else (an error: or halt in the image, a debugger opening,
       an unimplemented feature, a block re-entered while it runs, a deadlock of the
       image's processes)
  10   an image stopped: the time limit (--time-limit)
  130  interrupted by Ctrl-C: the report of the images that had finished was printed";

/// How a command ended, when it got as far as an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 0.
    Success,
    /// 1: the run found a violation.
    VerificationFailed,
    /// 130: stopped by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted,
    /// 5-10 (2 for an expression that does not parse): `cowheap run` stopped an image (see
    /// [`RUN_HELP`]).
    Stopped(u8),
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(match code {
            Code::Success => 0,
            Code::VerificationFailed => 1,
            Code::Interrupted => 130,
            Code::Stopped(code) => code,
        })
    }
}

/// Why a command could not answer.
#[derive(Debug)]
pub enum Failure {
    /// A setting that parses but that the harness refuses (exit 2, in clap's style).
    Usage(String),
    /// A file that cannot be read or loaded, or output that cannot be written (exit 3).
    Io(String),
    /// The heap or the system refused the run (exit 4).
    Run(String),
}

impl Failure {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Io(_) => 3,
            Failure::Run(_) => 4,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Io(m) | Failure::Run(m) => f.write_str(m),
        }
    }
}

/// A file the loader could not read or load, named once: the loader's own I/O error already
/// names it, its format errors do not.
pub fn load_failure(path: &std::path::Path, e: cowheap_squeak::loader::LoadError) -> Failure {
    match e {
        e @ (cowheap_squeak::loader::LoadError::Io { .. }
        | cowheap_squeak::loader::LoadError::NotAFile { .. }
        | cowheap_squeak::loader::LoadError::TooLarge { .. }) => Failure::Io(e.to_string()),
        e => Failure::Io(format!("{}: {e}", path.display())),
    }
}
