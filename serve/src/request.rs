//! An evaluation as it crosses the HTTP API: its request and limits (clamped to the host's
//! caps), its answer, and why a session could not give one.

use cowheap_squeak::interp::{Limits, StopKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::store::StoreError;

/// Server-wide caps: a request's own limits are clamped to these, and a request without
/// limits gets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Bytecodes one evaluation may execute.
    pub bytecodes: u64,
    /// Wall-clock milliseconds one evaluation may take.
    pub millis: u64,
    /// Bytes a session's private space may hold.
    pub memory: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            bytecodes: 1_000_000_000,
            millis: 10_000,
            memory: 64 << 20,
        }
    }
}

/// A request's own limits (each optional; clamped to [`Caps`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequestLimits {
    /// Bytecodes.
    pub bytecodes: Option<u64>,
    /// Milliseconds.
    pub millis: Option<u64>,
    /// Private bytes.
    pub memory: Option<u64>,
}

impl RequestLimits {
    /// The interpreter's limits: each asked-for limit, or the cap, whichever is smaller.
    pub fn clamp(self, caps: Caps) -> Limits {
        let pick = |asked: Option<u64>, cap: u64| asked.map_or(cap, |a| a.min(cap));
        Limits {
            bytecodes: pick(self.bytecodes, caps.bytecodes),
            private_bytes: usize::try_from(pick(self.memory, caps.memory)).unwrap_or(usize::MAX),
            time: Some(Duration::from_millis(pick(self.millis, caps.millis))),
            ..Limits::default()
        }
    }
}

/// `POST /sessions/{id}/eval`'s body.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// The do-it.
    pub expression: String,
    /// The client's id for this request: a retry with the same id is answered from the store
    /// without evaluating again.
    pub request_id: Option<u64>,
    /// Limits for this evaluation.
    #[serde(default)]
    pub limits: RequestLimits,
}

/// Why an evaluation stopped without an answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stop {
    /// [`StopKind`] in snake_case (`bytecode_limit`, `does_not_understand`, ...).
    pub kind: String,
    /// The interpreter's message.
    pub message: String,
}

/// The most characters of an answer's `printString` a response carries, as much as its
/// Transcript ([`cowheap_squeak::interp::TRANSCRIPT_LIMIT`]): every response is kept for a
/// retry of its request id, and an image can make its `printString` as long as its memory
/// allows.
pub const ANSWER_LIMIT: usize = cowheap_squeak::interp::TRANSCRIPT_LIMIT;

/// An evaluation's answer: the body of a 200 to `POST /sessions/{id}/eval`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalResponse {
    /// The answer's `printString`, made by the image's own code; `null` after a stop. At
    /// most [`ANSWER_LIMIT`] characters: the rest is cut, and `answer_truncated` says so.
    pub answer: Option<String>,
    /// True when `answer` was cut at [`ANSWER_LIMIT`] (absent otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer_truncated: bool,
    /// What the image wrote to its Transcript.
    pub transcript: String,
    /// Bytecodes the evaluation executed.
    pub bytecodes: u64,
    /// Seconds it ran.
    pub seconds: f64,
    /// Base objects this session's image has copied on write.
    pub copies: u64,
    /// Bytes of its private space.
    pub private_bytes: u64,
    /// Why it stopped, if it did.
    pub stopped: Option<Stop>,
    /// The request's id, if it had one.
    pub request_id: Option<u64>,
    /// True when this is the stored answer to a retried request id.
    pub replayed: bool,
}

/// Why a session could not answer an evaluation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The expression did not parse (or names a global the image lacks): nothing ran.
    #[error("{0}")]
    Parse(String),
    /// The request id is below the last acknowledged one.
    #[error("request id {asked} is older than the last acknowledged one, {last}")]
    Stale {
        /// The request's id.
        asked: u64,
        /// The last acknowledged id.
        last: u64,
    },
    /// The commit failed: the evaluation is not acknowledged, and the session left memory
    /// (its next request resumes what the store holds).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image could not be saved as a delta.
    #[error("cannot save the session: {0}")]
    Save(String),
}

/// `StopKind`'s camelCase name in snake_case.
pub fn snake(kind: StopKind) -> String {
    let mut out = String::new();
    for c in kind.name().chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
