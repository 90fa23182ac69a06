//! A host with a fixed pool of worker threads runs many more images than it has threads.
//!
//! Each image is a client session: a bank of accounts (a base Array) that the client
//! shuffles money around in, plus a private log of the steps it has run. The host hands each
//! session to a worker for one step at a time, and every step goes to the *next* worker in
//! the pool, so every image moves between threads many times during its life. That is legal,
//! and safe, because `Image: Send`: it is always owned by exactly one thread at a time.
//!
//! After every step the worker checks that the image sees exactly its own balances (a shadow
//! model kept beside it): 200 images write the same base objects, and none sees another's
//! writes. At the end the images are verified once more in parallel with rayon, then dropped.
//!
//! Run with `cargo run --release --example host_pool`.

use std::thread;
use std::time::Instant;

use crossbeam::channel;
use rayon::prelude::*;

use cowheap::{BaseBuilder, BaseHeap, Image, Kernel, Value};

const WORKERS: usize = 4;
const IMAGES: usize = 200;
const STEPS: usize = 24;
const ACCOUNTS: usize = 256;
const TRANSFERS_PER_STEP: usize = 40;
const OPENING_BALANCE: i64 = 1_000;

fn int(i: i64) -> Value {
    Value::small_int(i).expect("small enough for a SmallInteger")
}

/// One client session: the image and what the host knows about it.
struct Session {
    image: Image,
    client: usize,
    /// Steps run so far.
    step: usize,
    /// A private Array holding the step numbers run so far; allocated on the first step.
    log: Option<Value>,
    /// Bit w is set once worker w has run a step of this session.
    workers_seen: u32,
    /// What the image's accounts must hold: the shadow model.
    shadow: Vec<i64>,
    rng: u64,
}

impl Session {
    fn next_random(&mut self) -> usize {
        // xorshift64: deterministic per client, no dependencies.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng as usize
    }

    /// One unit of work for this client, run on whichever worker has the session now.
    fn step(&mut self, accounts: Value, kernel: &Kernel, worker: usize) -> cowheap::Result<()> {
        if self.log.is_none() {
            self.log = Some(
                self.image
                    .new_pointers(kernel.array, &[kernel.nil; STEPS])?,
            );
        }
        for _ in 0..TRANSFERS_PER_STEP {
            let from = self.next_random() % ACCOUNTS;
            let to = self.next_random() % ACCOUNTS;
            let amount = (self.next_random() % 50) as i64;
            let a = self
                .image
                .read(accounts, from)?
                .as_small_int()
                .expect("a balance");
            self.image.write(accounts, from, int(a - amount))?;
            let b = self
                .image
                .read(accounts, to)?
                .as_small_int()
                .expect("a balance");
            self.image.write(accounts, to, int(b + amount))?;
            self.shadow[from] -= amount;
            self.shadow[to] += amount;
        }
        let log = self.log.expect("allocated above");
        self.image.write(log, self.step, int(self.step as i64))?;
        self.step += 1;
        self.workers_seen |= 1 << worker;
        Ok(())
    }

    /// Checks the image's whole view against the shadow model and its private log.
    fn verify(&mut self, accounts: Value) -> cowheap::Result<()> {
        for (k, &expected) in self.shadow.iter().enumerate() {
            let seen = self.image.read(accounts, k)?.as_small_int();
            assert_eq!(
                seen,
                Some(expected),
                "client {} account {k}: isolation violated",
                self.client
            );
        }
        let log = self.log.expect("at least one step ran");
        for s in 0..self.step {
            assert_eq!(self.image.read(log, s)?, int(s as i64));
        }
        let total: i64 = self.shadow.iter().sum();
        assert_eq!(
            total,
            OPENING_BALANCE * ACCOUNTS as i64,
            "money was created"
        );
        Ok(())
    }
}

fn build_base() -> cowheap::Result<(BaseHeap, Kernel, Value)> {
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder)?;
    let accounts = kernel.new_array(&mut builder, &[int(OPENING_BALANCE); ACCOUNTS])?;
    builder.add_root("accounts", accounts)?;
    Ok((builder.seal()?, kernel, accounts))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (heap, kernel, accounts) = build_base()?;
    let checksum = heap.checksum();
    let started = Instant::now();

    // The pool: each worker owns an inbox and runs one step of whatever session arrives.
    let (done_tx, done_rx) = channel::unbounded::<(usize, Box<Session>)>();
    let mut inboxes = Vec::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (tx, rx) = channel::unbounded::<Box<Session>>();
        let done = done_tx.clone();
        inboxes.push(tx);
        workers.push(thread::Builder::new().name(format!("worker-{w}")).spawn(
            move || -> cowheap::Result<usize> {
                let mut steps = 0;
                // The loop ends when the host drops this worker's inbox.
                for mut session in rx {
                    session.step(accounts, &kernel, w)?;
                    session.verify(accounts)?;
                    steps += 1;
                    done.send((w, session))
                        .expect("the host outlives its workers");
                }
                Ok(steps)
            },
        )?);
    }
    drop(done_tx);

    // The host: open every session, then keep passing each one to the next worker.
    for client in 0..IMAGES {
        let session = Box::new(Session {
            image: heap.new_image()?,
            client,
            step: 0,
            log: None,
            workers_seen: 0,
            shadow: vec![OPENING_BALANCE; ACCOUNTS],
            rng: 0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1),
        });
        inboxes[client % WORKERS].send(session)?;
    }
    println!(
        "{IMAGES} images on {WORKERS} worker threads; {} images live",
        heap.live_images()
    );
    let mut finished = Vec::with_capacity(IMAGES);
    let mut moves = 0;
    while finished.len() < IMAGES {
        let (worker, session) = done_rx.recv()?;
        if session.step == STEPS {
            finished.push(session);
        } else {
            moves += 1;
            inboxes[(worker + 1) % WORKERS].send(session)?;
        }
    }
    drop(inboxes);
    let mut steps_per_worker = Vec::new();
    for worker in workers {
        steps_per_worker.push(worker.join().expect("worker panicked")?);
    }
    let elapsed = started.elapsed();
    assert_eq!(steps_per_worker.iter().sum::<usize>(), IMAGES * STEPS);

    // Every image ran on every worker, and kept its private objects across the moves.
    for session in &finished {
        assert_eq!(
            session.workers_seen,
            (1 << WORKERS) - 1,
            "client {}",
            session.client
        );
    }
    // Images are Send, so rayon can take them too: verify everything in parallel.
    finished
        .par_iter_mut()
        .try_for_each(|session| session.verify(accounts))?;
    let copies: u64 = finished.iter().map(|s| s.image.stats().copies).sum();
    // Economy: one copy of `accounts` per image, however many writes (the log is private).
    assert_eq!(copies, IMAGES as u64);

    // The base still holds the opening balances, whatever the clients did.
    assert_eq!(heap.checksum(), checksum);
    assert_eq!(heap.original_field(accounts, 0)?, int(OPENING_BALANCE));
    drop(finished);
    assert_eq!(heap.live_images(), 0);
    assert_eq!(heap.census().entries, 0);

    println!("steps per worker: {steps_per_worker:?}; {moves} moves between workers");
    println!(
        "{} steps ({} transfers) in {:.2?}; {copies} copies of the shared accounts object",
        IMAGES * STEPS,
        IMAGES * STEPS * TRANSFERS_PER_STEP,
        elapsed
    );
    println!("ok: every image ran on all {WORKERS} workers and saw only its own writes");
    Ok(())
}
