//! What the fuzz targets (`fuzz/`, nightly `cargo fuzz`) and their bounded property tests on
//! stable share: the shadow-file reader's target, and the two rules every target checks.
//!
//! The property of every target: any input gives `Ok` or a typed error, never a panic, within
//! [`TIME_BOUND`]. A panic or an overrun is the failure; the fuzzer and the property test
//! both report it with the input.
//!
//! Bodies of the targets whose parsers live in other crates are beside those crates' tests
//! (`tests/fuzz_common`, `squeak/tests/fuzz_common`), so that they use only public API; this
//! one needs the harness's own shadow reader.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{GenConfig, Progress, StressConfig, Workload};

/// The most one input may take, in a release build (a fuzzer's sanitizers are slower: run it
/// with `-timeout` instead). Generous: it is there to catch a parser that loops or grows
/// without bound, not to measure.
pub const TIME_BOUND: Duration = Duration::from_secs(10);

/// Runs `body` on one input and fails if it took longer than [`TIME_BOUND`].
pub fn within<T>(what: &str, body: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = body();
    let took = start.elapsed();
    assert!(
        took <= TIME_BOUND,
        "{what}: one input took {took:?}, past the bound of {TIME_BOUND:?}"
    );
    out
}

/// One edit of a seed input, for property tests that start from real inputs: `(at, byte,
/// kind)`, where `at` is taken modulo the input's length.
pub type Edit = (usize, u8, u8);

/// Bytes at the edges of the formats' encodings (a varint's end and continuation, a field's
/// separator, a sign, a digit), which edits use half the time, as fuzzers' dictionaries do:
/// a uniformly random byte rarely lands on the one value a check is about.
const EDGE_BYTES: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b' ', b'\n', b'-', b'0', b'9'];

/// `seed` with `edits` applied in turn: kind 0 sets a byte, 1 flips one of its bits, 2 cuts
/// the input there, 3 inserts a byte, 4 deletes one; a kind of 128 or more uses one of the
/// edge bytes instead of the edit's own.
pub fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(at, byte, kind) in edits {
        let byte = if kind >= 128 {
            EDGE_BYTES[byte as usize % EDGE_BYTES.len()]
        } else {
            byte
        };
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let at = at % out.len();
        match kind % 5 {
            0 => out[at] = byte,
            1 => out[at] ^= 1 << (byte % 8),
            2 => out.truncate(at),
            3 => out.insert(at, byte),
            _ => {
                out.remove(at);
            }
        }
    }
    out
}

/// A generated base, one image's delta saved by a run with allocations, becomes and
/// collections, and that delta's shadow file: the shadow target's fixture.
struct ShadowFixture {
    w: Workload,
    cfg: StressConfig,
    delta: Vec<u8>,
    shadow: String,
}

fn shadow_fixture() -> &'static ShadowFixture {
    static FIXTURE: OnceLock<ShadowFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let w = Workload::generated(&GenConfig {
            seed: 11,
            objects: 1500,
            ..GenConfig::default()
        })
        .expect("the generated base");
        // Collections, so that the file has collected objects (`-`) too.
        let cfg = StressConfig {
            images: 3,
            ops: 1000,
            seed: 11,
            alloc_ratio: 0.05,
            forget_ratio: 0.05,
            collect_ratio: 0.005,
            ..StressConfig::default()
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (report, saved) = crate::run_saving_deltas(&w, &cfg, &Progress::default(), dir.path())
            .expect("the fixture's run");
        assert_eq!(report.verdict, crate::Verdict::Pass);
        saved.expect("the fixture's save");
        let delta = std::fs::read(dir.path().join("image-0.delta")).expect("the saved delta");
        let shadow =
            std::fs::read_to_string(dir.path().join("image-0.shadow")).expect("the saved shadow");
        ShadowFixture {
            w,
            cfg,
            delta,
            shadow,
        }
    })
}

/// The shadow target's seed: a real shadow file (its delta is the fixture's).
pub fn shadow_seed() -> &'static str {
    &shadow_fixture().shadow
}

/// The shadow target: `text` read as the saved shadow of the fixture's delta, then the
/// resumed image verified against it, as `cowheap stress --resume-deltas` does. Non-UTF-8
/// input is what reading the file refuses first, so it is refused here.
///
/// Answers whether the text was accepted (paired with the delta and read); a refusal must be
/// a typed refusal, never an I/O error, and the verification of an accepted text may report
/// violations but must not panic.
pub fn shadow(input: &[u8]) -> bool {
    let fx = shadow_fixture();
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    within("the shadow reader", || {
        let img =
            fx.w.heap
                .resume_delta_bytes(&fx.delta)
                .expect("the fixture's delta resumes");
        let identity = (fx.delta.len() as u64, xxhash_rust::xxh3::xxh3_64(&fx.delta));
        let path = Path::new("image-0.shadow");
        match crate::saved::verify_resumed(&fx.w, &fx.cfg, 0, img, path, text, identity) {
            Ok(Ok(_)) => true,
            Ok(Err(_)) => false,
            Err(e) => {
                assert!(e.is_refusal(), "a refusal that is not one: {e}");
                assert!(!e.to_string().is_empty());
                false
            }
        }
    })
}
