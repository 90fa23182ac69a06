//! Running one expression in many images at once, each on its own OS thread: what
//! `cowheap run --images N` reports. Lives in the library so that hosts (and tests) get the
//! same report the command prints.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::heap::Heap;
use super::interpreter::Vm;
use super::limits::{Limits, RunError, StopKind};
use cowheap::BaseHeap;

/// Why a batch could not run to the end. A stop inside an image is not one: it is that
/// image's [`ImageRun::stopped`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The heap or the OS refused an image or its thread ([`cowheap::Error::TooManyImages`],
    /// [`cowheap::Error::Spawn`]); the images already started were joined.
    #[error(transparent)]
    Heap(#[from] cowheap::Error),
    /// An image thread panicked; the message is the panic's, when it was a string.
    #[error("an image thread panicked: {0}")]
    ImagePanicked(String),
}

/// How to run a batch.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    /// Images, one thread each unless `workers` says otherwise.
    pub images: usize,
    /// `None`: every image on its own thread (the heap's model, and the default). `Some(t)`:
    /// a pool of `t` worker threads (at least one) that run the images one after another,
    /// each image made before any runs, so that all of them are live at once as with a
    /// thread each: what a host does that serves more images than it has cores, and what
    /// leaves out the cost of starting a thread per image (a tenth to a third of a crowd of
    /// short runs, see BENCHMARKS.md).
    pub workers: Option<usize>,
    /// Limits for each image's run.
    pub limits: Limits,
    /// Stack size of each image (or worker) thread: the interpreter keeps its frames on the heap, so a
    /// small stack lets thousands of images start.
    pub stack_size: usize,
    /// Whether to ask each image for its answer's `printString` (a second run).
    pub print: bool,
    /// Whether the expression is Smalltalk source for the image's own compiler
    /// ([`Interpreter::evaluate_with_compiler`](super::Interpreter::evaluate_with_compiler))
    /// rather than the one-line grammar parsed here. In a batch of more than one image, `$i`
    /// is replaced by the image's number first, textually.
    pub compiler: bool,
    /// Whether every image waits until all have started before it runs, so that all of them
    /// are live and running at once (the wall time then covers the whole crowd).
    pub start_together: bool,
    /// Set from any thread (a Ctrl-C handler) to stop the batch: no more image threads are
    /// started, images that have not run yet do not, and running ones stop within about a
    /// millisecond, each with [`StopKind::Interrupted`]; the report says
    /// [`interrupted`](BatchReport::interrupted).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Counters the batch keeps up to date as images finish, for a front end's progress.
    pub progress: Option<Arc<BatchProgress>>,
}

/// How far a batch has got, updated by its image threads as they go (see
/// [`BatchConfig::progress`]).
#[derive(Debug, Default)]
pub struct BatchProgress {
    /// Image threads started.
    pub started: AtomicUsize,
    /// Images that answered or stopped.
    pub finished: AtomicUsize,
    /// Of those, images that stopped.
    pub stopped: AtomicUsize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            images: 1,
            workers: None,
            limits: Limits::default(),
            stack_size: 256 << 10,
            print: true,
            compiler: false,
            start_together: true,
            interrupt: None,
            progress: None,
        }
    }
}

/// Why an image stopped, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stopped {
    /// [`RunError::kind`].
    pub kind: StopKind,
    /// The full message.
    pub message: String,
}

impl From<&RunError> for Stopped {
    fn from(e: &RunError) -> Self {
        Stopped {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// One image's run.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ImageRun {
    /// The image's number (what `$i` stood for).
    pub image: usize,
    /// The answer's `printString`, made by the image's own code.
    pub answer: Option<String>,
    /// Why it stopped without an answer.
    pub stopped: Option<Stopped>,
    /// What the image wrote to its Transcript during both runs (CRs as `\n`).
    pub transcript: String,
    /// Bytecodes of the expression's run (not the `printString`).
    pub bytecodes: u64,
    /// Sends of the expression's run.
    pub sends: u64,
    /// Seconds of the expression's run.
    pub seconds: f64,
    /// Base objects this image copied on write (both runs).
    pub copies: u64,
    /// Bytes of this image's private space at the end (copies, contexts, new objects).
    pub private_bytes: u64,
    /// The most bytes its private space held.
    pub peak_private_bytes: u64,
    /// Collections of its private space.
    pub collections: u64,
    /// Bytes its collections gave back.
    pub collected_bytes: u64,
    /// Its longest collection pause, in seconds.
    pub longest_pause_seconds: f64,
}

impl ImageRun {
    /// An image whose heap could not be made: it ran nothing.
    #[cfg(feature = "plain-heap")]
    fn refused(image: usize, e: &RunError) -> ImageRun {
        ImageRun {
            image,
            answer: None,
            stopped: Some(Stopped::from(e)),
            transcript: String::new(),
            bytecodes: 0,
            sends: 0,
            seconds: 0.0,
            copies: 0,
            private_bytes: 0,
            peak_private_bytes: 0,
            collections: 0,
            collected_bytes: 0,
            longest_pause_seconds: 0.0,
        }
    }
}

/// A whole batch.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BatchReport {
    /// The expression.
    pub expression: String,
    /// Every image's run, by number.
    pub runs: Vec<ImageRun>,
    /// Wall-clock seconds from the first thread's start to the last one's end.
    pub wall_seconds: f64,
    /// Live images of the heap once every image's thread was spawned (with `start_together`,
    /// before any of them ran, so all of them, plus any the host holds); with
    /// [`workers`](BatchConfig::workers), once every image was made, before any ran (with the
    /// `plain-heap` feature, whose heaps are no images of the base, those heaps too).
    pub live_at_start: usize,
    /// Sum of bytecodes over the images.
    pub bytecodes: u64,
    /// Sum of sends over the images.
    pub sends: u64,
    /// The base's checksum before and after: equal, since no image can change the base.
    pub checksum_before: u64,
    /// See `checksum_before`.
    pub checksum_after: u64,
    /// Whether [`BatchConfig::interrupt`] stopped the batch: `runs` then holds the images
    /// started, those that had not finished stopped with [`StopKind::Interrupted`].
    pub interrupted: bool,
}

impl BatchReport {
    /// True if the base heap is bit-for-bit what it was.
    pub fn base_unchanged(&self) -> bool {
        self.checksum_before == self.checksum_after
    }

    /// Aggregate bytecodes per second of wall-clock time.
    pub fn bytecodes_per_sec(&self) -> f64 {
        self.bytecodes as f64 / self.wall_seconds.max(1e-9)
    }

    /// Aggregate sends per second of wall-clock time.
    pub fn sends_per_sec(&self) -> f64 {
        self.sends as f64 / self.wall_seconds.max(1e-9)
    }

    /// The first stop, if any image stopped (an interruption is not one).
    pub fn first_stop(&self) -> Option<&Stopped> {
        self.runs
            .iter()
            .filter_map(|r| r.stopped.as_ref())
            .find(|s| s.kind != StopKind::Interrupted)
    }

    /// The runs that finished, answered or stopped, before any interruption.
    pub fn finished(&self) -> impl Iterator<Item = &ImageRun> {
        self.runs.iter().filter(|r| {
            r.stopped
                .as_ref()
                .is_none_or(|s| s.kind != StopKind::Interrupted)
        })
    }
}

/// Runs `expression` in `config.images` fresh images of `heap`, each on its own thread (or
/// on [`workers`](BatchConfig::workers)), and waits for all of them. An image that stops is
/// reported; the others are not affected.
pub fn run_batch(
    heap: &BaseHeap,
    vm: &Vm,
    expression: &str,
    config: &BatchConfig,
) -> Result<BatchReport, BatchError> {
    let checksum_before = heap.checksum();
    let start = Instant::now();
    let (runs, live_at_start) = match config.workers {
        None => on_own_threads(heap, vm, expression, config)?,
        Some(workers) => on_workers(heap, vm, expression, config, workers.max(1))?,
    };
    let wall_seconds = start.elapsed().as_secs_f64();
    Ok(BatchReport {
        expression: expression.to_owned(),
        bytecodes: runs.iter().map(|r| r.bytecodes).sum(),
        sends: runs.iter().map(|r| r.sends).sum(),
        runs,
        wall_seconds,
        live_at_start,
        checksum_before,
        checksum_after: heap.checksum(),
        interrupted: interrupted(config),
    })
}

/// What every image's run needs of the batch, owned, for its thread.
#[derive(Clone)]
struct Job {
    vm: Vm,
    expression: String,
    limits: Limits,
    print: bool,
    compiler: bool,
    images: usize,
    interrupt: Option<Arc<AtomicBool>>,
    progress: Option<Arc<BatchProgress>>,
}

impl Job {
    fn new(vm: &Vm, expression: &str, config: &BatchConfig) -> Job {
        Job {
            vm: vm.clone(),
            expression: expression.to_owned(),
            limits: config.limits,
            print: config.print,
            compiler: config.compiler,
            images: config.images,
            interrupt: config.interrupt.clone(),
            progress: config.progress.clone(),
        }
    }

    /// Image `n`'s run, in `image`.
    fn run(&self, n: usize, image: &mut Heap) -> ImageRun {
        let mut interp = self.vm.interpreter(self.limits);
        // At most as many images as the heap has ids (u32). One image alone is not
        // numbered: its `$i` is the Character, as in Smalltalk.
        if self.images > 1 {
            interp.set_image_number(n as u32);
        }
        interp.set_interrupt(self.interrupt.clone());
        if let Some(p) = &self.progress {
            p.started.fetch_add(1, Ordering::Relaxed);
        }
        let result = if self
            .interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
        {
            Err(RunError::Interrupted)
        } else if self.compiler {
            interp.evaluate_with_compiler(image, &self.expression)
        } else {
            interp.evaluate(image, &self.expression)
        };
        let stats = interp.stats();
        let (answer, stopped) = match result {
            Ok(v) if self.print => match interp.print_string(image, v) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(Stopped::from(&e))),
            },
            Ok(v) => (Some(format!("{v:?}")), None),
            Err(e) => (None, Some(Stopped::from(&e))),
        };
        let transcript = interp.take_transcript();
        let image_stats = image.stats();
        if let Some(p) = &self.progress {
            if stopped.is_some() {
                p.stopped.fetch_add(1, Ordering::Relaxed);
            }
            p.finished.fetch_add(1, Ordering::Relaxed);
        }
        ImageRun {
            image: n,
            answer,
            stopped,
            transcript,
            bytecodes: stats.bytecodes,
            sends: stats.sends,
            seconds: stats.elapsed.as_secs_f64(),
            copies: image_stats.copies,
            private_bytes: image_stats.private_bytes,
            peak_private_bytes: image.peak_private_bytes() as u64,
            collections: image_stats.collections,
            collected_bytes: image_stats.collected_bytes,
            longest_pause_seconds: image.longest_pause().as_secs_f64(),
        }
    }
}

/// A thread per image, every one waiting until all are spawned (`start_together`). Answers
/// the runs and the live images once all were spawned.
fn on_own_threads(
    heap: &BaseHeap,
    vm: &Vm,
    expression: &str,
    config: &BatchConfig,
) -> Result<(Vec<ImageRun>, usize), BatchError> {
    // The images wait at this gate until every thread is spawned (or one failed to spawn, when
    // the others must not wait forever): the spawning thread holds it shut meanwhile.
    let gate = Arc::new(RwLock::new(()));
    let shut = config.start_together.then(|| gate.write());
    let mut handles = Vec::with_capacity(config.images);
    for n in 0..config.images {
        let job = Job::new(vm, expression, config);
        let gate = gate.clone();
        let handle = heap
            .image_thread()
            .stack_size(config.stack_size)
            .name(format!("image-{n}"))
            .spawn(move |image| {
                // With the plain heap, the image thread runs a plain copy of the base instead.
                #[cfg(feature = "plain-heap")]
                let mut plain = super::heap::new_heap(image.heap());
                #[cfg(feature = "plain-heap")]
                let image = match plain.as_mut() {
                    Ok(plain) => plain,
                    Err(e) => return ImageRun::refused(n, &RunError::from(e.clone())),
                };
                drop(gate.read());
                job.run(n, image)
            });
        match handle {
            Ok(handle) => {
                handles.push(handle);
                // Interrupted while spawning: the images spawned stop at once, no more start.
                if interrupted(config) {
                    break;
                }
            }
            Err(e) => {
                drop(shut);
                for h in handles {
                    let _ = h.join();
                }
                return Err(e.into());
            }
        }
    }
    // Every image was created before its thread started, and none has run yet.
    let live_at_start = heap.live_images();
    drop(shut);
    let mut runs = Vec::with_capacity(handles.len());
    for h in handles {
        runs.push(h.join().map_err(panicked)?);
    }
    Ok((runs, live_at_start))
}

/// `workers` threads that take the images, all made first, one at a time (each dropped once
/// it ran). Answers the runs, by image number, and the live images once all were made.
fn on_workers(
    heap: &BaseHeap,
    vm: &Vm,
    expression: &str,
    config: &BatchConfig,
    workers: usize,
) -> Result<(Vec<ImageRun>, usize), BatchError> {
    let mut images = Vec::with_capacity(config.images);
    for n in 0..config.images {
        if interrupted(config) {
            break;
        }
        images.push((n, super::heap::new_heap(heap)?));
    }
    // A plain heap (the `plain-heap` feature) is no image of the base: the heaps made count.
    let plain = if cfg!(feature = "plain-heap") {
        images.len()
    } else {
        0
    };
    let live_at_start = heap.live_images() + plain;
    // Taken once an image (a lock per run of thousands of bytecodes, not on the image's path).
    let queue = Mutex::new(images.into_iter());
    let next = || queue.lock().ok()?.next();
    // After a failure the workers finish the image each runs and take no more.
    let stop = || {
        if let Ok(mut q) = queue.lock() {
            q.by_ref().for_each(drop);
        }
    };
    let mut runs = std::thread::scope(|s| {
        let mut failed = None;
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let job = Job::new(vm, expression, config);
            let next = &next;
            let spawned = std::thread::Builder::new()
                .stack_size(config.stack_size)
                .name(format!("worker-{w}"))
                .spawn_scoped(s, move || {
                    let mut runs = Vec::new();
                    while let Some((n, mut image)) = next() {
                        runs.push(job.run(n, &mut image));
                    }
                    runs
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop();
                    failed = Some(BatchError::Heap(cowheap::Error::Spawn(Arc::new(e))));
                    break;
                }
            }
        }
        // Every worker joined, also past one that panicked (a bug).
        let mut runs = Vec::with_capacity(config.images);
        for h in handles {
            match h.join() {
                Ok(done) => runs.extend(done),
                Err(p) => {
                    stop();
                    failed.get_or_insert(panicked(p));
                }
            }
        }
        failed.map_or(Ok(runs), Err)
    })?;
    runs.sort_unstable_by_key(|r| r.image);
    Ok((runs, live_at_start))
}

/// A panicked image thread's payload, when it was a string.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> BatchError {
    BatchError::ImagePanicked(
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned()),
    )
}

fn interrupted(config: &BatchConfig) -> bool {
    config
        .interrupt
        .as_ref()
        .is_some_and(|i| i.load(Ordering::Relaxed))
}
