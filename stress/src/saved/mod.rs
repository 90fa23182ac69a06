//! Saving each image's delta with its shadow model at the end of a run, and resuming and
//! verifying them in a later run (`cowheap stress --save-deltas DIR`, `--resume-deltas DIR`).
//!
//! A shadow model is in logical identities already, except for the references it learned
//! (process-specific `Value`s). Those are written as identities: a base object by its oracle
//! number, a private object by its ordinal among the image's private objects
//! ([`Image::private_objects`](cowheap::Image::private_objects)), which a delta preserves
//! (a collection renumbers them, so the ordinals are taken when saving, after the last one);
//! a private object a collection freed is written `-`, and one whose reference a collection
//! rewrote to a base object's (it became that object) by the base object's number.
//! The text format is this module's own, line by line, one record a line.
//!
//! **A save is all-or-nothing per image.** The two files cannot be replaced together, so the
//! shadow, written second, names its delta by length and content hash (its second line,
//! `delta LEN XXH3`): resuming uses only a pair whose delta is the one its shadow names, and
//! reports any other image as not resumed (a save killed between the two files leaves a new
//! delta beside an old shadow), never as violations. Each file is written to a temporary file
//! beside it, synced, and renamed over it (`cowheap::delta::atomic_write`), and the
//! directory synced; the temporary files a killed save leaves (`.image-N.*.tmp-*`) are removed
//! by the next save and never read.

mod text;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cowheap::DeltaError;

use crate::life::{Life, LifeResult};
use crate::rng::{Rng, Zipf};
use crate::{StressConfig, Workload};
use text::{pairing, read_shadow, shadow_text};

/// What saving wrote (`run_saving_deltas`), for the command's summary.
#[derive(Clone, Debug, Default)]
pub struct SavedDeltas {
    /// Images saved.
    pub images: usize,
    /// Bytes of every delta file together.
    pub delta_bytes: u64,
    /// Private bytes of those images together (what the deltas hold, before framing).
    pub private_bytes: u64,
    /// Time spent writing the deltas (not the shadows).
    pub save_time: Duration,
    /// Temporary files a save killed part-way had left in the directory, removed first.
    pub stale_files_removed: usize,
}

/// What resuming found.
#[derive(Clone, Debug, Default)]
pub struct ResumedDeltas {
    /// Images resumed and verified.
    pub images: usize,
    /// Bytes of every delta file together.
    pub delta_bytes: u64,
    /// Time spent resuming (reading, checking, building), not verifying.
    pub resume_time: Duration,
    /// Objects the verification checked.
    pub objects_checked: u64,
    /// Every disagreement with a saved shadow model, in words.
    pub violations: Vec<String>,
    /// Images not resumed because their delta is not the one their shadow was saved with
    /// (a save interrupted between the two files), or their shadow is missing: one line each.
    pub incomplete: Vec<String>,
}

/// Why saved deltas could not be saved or resumed.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A delta was refused.
    #[error("{path}: {source}")]
    Delta {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DeltaError,
    },
    /// A shadow file is not one this harness wrote.
    #[error("{path}: line {line}: {reason}")]
    Shadow {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl SavedError {
    /// True if the files were readable but refused (a wrong base, damage): not an I/O error.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, SavedError::Io { .. })
            && !matches!(
                self,
                SavedError::Delta {
                    source: DeltaError::Io(_),
                    ..
                }
            )
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SavedError + '_ {
    move |source| SavedError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Saves the delta and shadow of every image in `lives` into `dir` (created if missing), as
/// `image-N.delta` and `image-N.shadow`: each file crash-safely, and the pair all-or-nothing
/// (see the module's docs). Temporary files an interrupted save left are removed first.
pub(crate) fn save(dir: &Path, lives: &[Life<'_>]) -> Result<SavedDeltas, SavedError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut saved = SavedDeltas {
        stale_files_removed: remove_stale_temporaries(dir)?,
        ..SavedDeltas::default()
    };
    for life in lives {
        let path = dir.join(format!("image-{}.delta", life.slot));
        let t = Instant::now();
        let bytes = life.img.delta_bytes().map_err(|source| SavedError::Delta {
            path: path.clone(),
            source,
        })?;
        replace_file(&path, &bytes)?;
        saved.save_time += t.elapsed();
        saved.delta_bytes += bytes.len() as u64;
        saved.private_bytes += life.img.stats().private_bytes;
        saved.images += 1;
        // Second, naming the delta: until it is in place, the old shadow names the old delta
        // (or there is none), and resuming skips the image.
        let shadow = dir.join(format!("image-{}.shadow", life.slot));
        replace_file(&shadow, shadow_text(life, &bytes).as_bytes())?;
    }
    Ok(saved)
}

/// Whether `name` is a temporary file of a save into a directory of saved deltas:
/// `cowheap::delta::atomic_write`'s (`.image-N.delta.tmp-XXXXXX`), or the `.tmp-PID-K` names
/// of earlier versions.
fn is_temporary(name: &str) -> bool {
    name.starts_with(".image-") && name.contains(".tmp-")
}

/// Removes the temporary files that a save killed part-way left in `dir`; answers how many.
fn remove_stale_temporaries(dir: &Path) -> Result<usize, SavedError> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && entry.file_name().to_str().is_some_and(is_temporary) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Replaces `path` with `bytes` crash-safely: a temporary file beside it (same file system),
/// synced, renamed over it, then the directory synced so that the rename survives a power
/// cut. A crash at any point leaves the old file or the whole new one, and perhaps the
/// temporary file, which the next save removes.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), SavedError> {
    use std::io::Write as _;
    cowheap::delta::atomic_write(path, |f| f.write_all(bytes)).map_err(io(path))
}

/// The length and XXH3 of the file at `delta`, streamed, so that a delta of any size is
/// hashed in constant memory.
fn delta_identity(delta: &Path) -> Result<(u64, u64), SavedError> {
    let mut file = std::fs::File::open(delta).map_err(io(delta))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(io(delta))?;
        if n == 0 {
            break;
        }
        len += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((len, hasher.digest()))
}

/// One resumed image checked against its saved shadow `text` (at `path`), where `delta` is
/// the resumed delta's length and XXH3: `Err(why)` in words (following the delta's path) if
/// the shadow was saved with another delta, else the image's verification.
pub(crate) fn verify_resumed(
    w: &Workload,
    cfg: &StressConfig,
    slot: usize,
    img: cowheap::Image,
    path: &Path,
    text: &str,
    delta: (u64, u64),
) -> Result<Result<LifeResult, String>, SavedError> {
    // A delta the reader accepted may still not be the one this shadow describes: a save
    // killed between the two files leaves a whole new delta beside the old shadow.
    if pairing(path, text)? != delta {
        return Ok(Err(format!(
            "is not the delta {} was saved with (a save interrupted between the two files?)",
            path.display()
        )));
    }
    let sh = read_shadow(path, text, w, &img.private_objects())?;
    let mut life = Life {
        w,
        cfg,
        img,
        sh,
        rng: Rng::derive(cfg.seed, slot as u64),
        zipf: Zipf::new(w.population.len(), cfg.skew),
        slot,
        ticket: slot as u64,
        out: LifeResult::default(),
        resumed: true,
    };
    life.verify();
    Ok(Ok(life.out))
}

/// Resumes every `image-N.delta` in `dir` over `w`'s base and verifies each against its
/// saved shadow model, as the run that saved it verified the original. An image whose delta
/// is not the one its shadow names, or that has no shadow, is not resumed: it is listed in
/// [`ResumedDeltas::incomplete`].
pub fn resume(w: &Workload, cfg: &StressConfig, dir: &Path) -> Result<ResumedDeltas, SavedError> {
    let mut names: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name
                .strip_prefix("image-")?
                .strip_suffix(".delta")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    names.sort();
    let mut out = ResumedDeltas::default();
    for (slot, path) in names {
        let shadow_path = path.with_extension("shadow");
        let text = match std::fs::read_to_string(&shadow_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.incomplete.push(format!(
                    "image {slot}: not resumed: {} has no {} beside it (a save interrupted \
                     between the two files?)",
                    path.display(),
                    shadow_path.display()
                ));
                continue;
            }
            Err(e) => return Err(io(&shadow_path)(e)),
        };
        let t = Instant::now();
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        // The stream reader, as a host would use it: it reads no further than the delta's
        // header allows, so a damaged or hostile file cannot make it allocate without bound.
        let img = w
            .heap
            .resume_delta(file)
            .map_err(|source| SavedError::Delta {
                path: path.clone(),
                source,
            })?;
        out.resume_time += t.elapsed();
        let identity = delta_identity(&path)?;
        let life = match verify_resumed(w, cfg, slot, img, &shadow_path, &text, identity)? {
            Ok(life) => life,
            Err(why) => {
                out.incomplete.push(format!(
                    "image {slot}: not resumed: {} {why}",
                    path.display()
                ));
                continue;
            }
        };
        out.delta_bytes += len;
        out.objects_checked += life.objects_checked;
        out.violations.extend(life.violations.iter().map(|v| {
            format!(
                "image {slot}: {} {}: expected {}, saw {}",
                v.object, v.what, v.expected, v.seen
            )
        }));
        if life.violation_count > life.violations.len() as u64 {
            out.violations.push(format!(
                "image {slot}: {} more violations",
                life.violation_count - life.violations.len() as u64
            ));
        }
        out.images += 1;
    }
    Ok(out)
}
