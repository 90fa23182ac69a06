//! A report that cannot reach its reader ends the command with exit 3 (I/O error) and one line
//! on stderr, never a panic (exit 101) and never a silent success: stdout on a full disk
//! (`>/dev/full`), and stdout a pipe whose reader is gone (`| true`), for every subcommand and
//! both report forms.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use common::{saving_run, stress, text, TempDir, SMALL};

/// Where stdout goes: `/dev/full` or a pipe with no reader.
#[derive(Clone, Copy, Debug)]
enum Sink {
    Full,
    ClosedPipe,
}

impl Sink {
    /// The sinks this system has: a pipe everywhere, `/dev/full` on Linux.
    fn all() -> Vec<Sink> {
        let mut sinks = vec![Sink::ClosedPipe];
        if std::path::Path::new("/dev/full").exists() {
            sinks.push(Sink::Full);
        }
        sinks
    }

    fn stdio(self) -> Stdio {
        match self {
            Sink::Full => Stdio::from(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .expect("open /dev/full"),
            ),
            Sink::ClosedPipe => {
                let mut fds = [0; 2];
                // SAFETY: pipe(2) writes two new descriptors into the array it is given.
                assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
                // SAFETY: both descriptors are new and owned by nothing else.
                let (read, write) =
                    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
                // No reader: the command's first write fails with EPIPE.
                drop(read);
                Stdio::from(write)
            }
        }
    }
}

/// Runs `cowheap ARGS` with stdout into `sink`, and checks the ending: exit 3, a message that
/// says the report could not be written, no panic.
fn assert_unwritten(args: &[&str], sink: Sink) {
    let out = Command::new(env!("CARGO_BIN_EXE_cowheap"))
        .args(args)
        .stdout(sink.stdio())
        .stderr(Stdio::piped())
        .output()
        .expect("the cowheap binary runs");
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{args:?} into {sink:?}: {stderr}"
    );
    assert!(
        stderr.contains("cannot write the report"),
        "{args:?} into {sink:?}: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "{args:?} into {sink:?}: {stderr}"
    );
}

#[test]
fn a_stress_report_that_cannot_be_written_is_3() {
    let mut json = SMALL.to_vec();
    json.push("--json");
    for sink in Sink::all() {
        let mut args = vec!["stress"];
        args.extend_from_slice(SMALL);
        assert_unwritten(&args, sink);
        let mut args = vec!["stress"];
        args.extend_from_slice(&json);
        assert_unwritten(&args, sink);
    }
}

#[test]
fn a_resume_or_delta_report_that_cannot_be_written_is_3() {
    let dir = TempDir::new("unwritten");
    let mut args = saving_run("5");
    args.extend(["--save-deltas", dir.path()]);
    let out = stress(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let delta = dir.file("image-0.delta");
    for sink in Sink::all() {
        let mut args = vec!["stress"];
        args.extend(saving_run("5"));
        args.extend(["--resume-deltas", dir.path()]);
        assert_unwritten(&args, sink);
        assert_unwritten(&["inspect", &delta], sink);
        assert_unwritten(&["inspect", &delta, "--json"], sink);
    }
}

#[test]
fn an_image_report_that_cannot_be_written_is_3() {
    let Some(image) = common::image("mini-2.2-v3-le.image") else {
        return;
    };
    for sink in Sink::all() {
        assert_unwritten(&["inspect", &image], sink);
        assert_unwritten(&["inspect", &image, "--json"], sink);
        // The answer would be lost: not a success.
        assert_unwritten(&["run", &image, "3 + 4"], sink);
        assert_unwritten(&["run", &image, "--json", "3 + 4"], sink);
    }
}
