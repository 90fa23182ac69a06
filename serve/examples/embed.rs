//! Sessions without the HTTP server, for a host that brings its own: what `cowheap serve`
//! does under its routes, in one file. One base loaded once; each session an `Image` with
//! its `Interpreter` on a thread of its own, reached over a channel; every evaluation
//! committed to the store (delta, request id, answer) before it is answered; a session
//! dropped from memory and resumed from the store, its state intact.
//!
//! `cargo run --release -p cowheap-serve --example embed [SESSIONS]`

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cowheap::{BaseHeap, Image};
use cowheap_serve::store::{sqlite::SqliteStore, Acquired, Commit, Host, NewSession, Store};
use cowheap_squeak::interp::{Limits, Vm};

/// What a session's thread is asked: an expression and its request id, and where to answer.
type Request = (String, u64, mpsc::Sender<Result<String, String>>);

const LEASE: Duration = Duration::from_secs(10);

/// Starts a session's thread over `image`, committing as `host` under lease `epoch`.
fn spawn_session(
    id: String,
    image: Image,
    vm: Vm,
    store: Arc<dyn Store>,
    host: Host,
    epoch: u64,
    mut evaluations: u64,
) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::spawn(move || {
        let mut image = image;
        // An interpreter is not Send: it is made on, and stays on, its image's thread.
        let mut interp = vm.interpreter(Limits {
            bytecodes: 10_000_000,
            time: Some(Duration::from_secs(5)),
            ..Limits::default()
        });
        for (expr, request_id, reply) in rx {
            let answer = interp
                .evaluate(&mut image, &expr)
                .and_then(|v| interp.print_string(&mut image, v))
                .map_err(|stop| format!("stopped: {stop}"));
            // Garbage between evaluations (the do-it itself) need not be stored.
            let _ = image.collect(&mut []);
            let delta = match image.delta_bytes() {
                Ok(d) => d,
                Err(e) => {
                    let _ = reply.send(Err(e.to_string()));
                    break;
                }
            };
            let body = format!("{answer:?}");
            // Durable before the answer leaves; refused if another host took the lease.
            let committed = store.commit(&Commit {
                id: &id,
                host: &host.id,
                epoch,
                delta: &delta,
                evaluations: evaluations + 1,
                request: Some((request_id, &body)),
            });
            match committed {
                Ok(()) => {
                    evaluations += 1;
                    let _ = reply.send(answer);
                }
                Err(e) => {
                    // What is in memory is not what the store holds: leave.
                    let _ = reply.send(Err(e.to_string()));
                    break;
                }
            }
        }
    });
    tx
}

fn ask(session: &mpsc::Sender<Request>, expr: &str, request_id: u64) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    session
        .send((expr.to_owned(), request_id, tx))
        .map_err(|_| "the session has left".to_owned())?;
    rx.recv().map_err(|_| "the session has left".to_owned())?
}

/// Resumes a stored session: takes its lease, checks its base, resumes its delta.
fn resume(
    id: &str,
    base: &BaseHeap,
    vm: &Vm,
    store: &Arc<dyn Store>,
    host: &Host,
) -> Result<mpsc::Sender<Request>, Box<dyn std::error::Error>> {
    let rec = match store.acquire(id, host, LEASE)? {
        Acquired::Mine(rec) => rec,
        Acquired::Elsewhere { lease, .. } => return Err(format!("held by {}", lease.url).into()),
        Acquired::Missing => return Err(format!("no session {id}").into()),
    };
    if rec.base_hash != base.content_hash().0 {
        return Err("the session was saved over another base".into());
    }
    let image = base.resume_delta_bytes(&rec.delta)?;
    let epoch = rec.lease.map_or(0, |l| l.epoch);
    let (store, host) = (store.clone(), host.clone());
    Ok(spawn_session(
        id.to_owned(),
        image,
        vm.clone(),
        store,
        host,
        epoch,
        rec.evaluations,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100);
    let dir = match std::env::var_os("COWHEAP_IMAGES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/images"),
    };
    let loaded = cowheap_squeak::loader::load_file(dir.join("mini-2.2-v3-le.image"))
        .map_err(|e| format!("{e} (set COWHEAP_IMAGES to the shared images' folder)"))?;
    let vm = Vm::for_loaded(&loaded)?;
    let base = loaded.heap;
    let folder = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(folder.path().join("embed.db"))?);
    let host = Host {
        id: "embed".into(),
        url: "in-process".into(),
    };
    let fresh = base.new_image()?.delta_bytes()?;

    let started = Instant::now();
    let mut live = Vec::new();
    for n in 0..sessions {
        let id = format!("session-{n}");
        let new = NewSession {
            id: &id,
            token_hash: [0; 32], // a server keeps the hash of the client's token here
            base_hash: base.content_hash().0,
            delta: &fresh,
        };
        let lease = store.create(&new, &host, LEASE)?;
        let s = spawn_session(
            id.clone(),
            base.new_image()?,
            vm.clone(),
            store.clone(),
            host.clone(),
            lease.epoch,
            0,
        );
        live.push((id, s));
    }
    let counter = "Smalltalk at: #Counter put: (Smalltalk at: #Counter ifAbsent: [0]) + 1";
    for round in 1..=3u64 {
        for (_, s) in &live {
            assert_eq!(ask(s, counter, round)?, round.to_string());
        }
    }
    println!(
        "{sessions} sessions, 3 committed evaluations each, in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Drop every session from memory (closing its channel ends its thread; its last state
    // is in the store), then resume each from the store and go on counting.
    let ids: Vec<String> = live.drain(..).map(|(id, _)| id).collect();
    for id in &ids {
        let rec = store.load(id)?.ok_or("stored")?;
        store.release(id, &host.id, rec.lease.map_or(0, |l| l.epoch))?;
    }
    let started = Instant::now();
    for id in &ids {
        let s = resume(id, &base, &vm, &store, &host)?;
        assert_eq!(ask(&s, counter, 4)?, "4", "{id} resumed where it was");
    }
    println!(
        "{sessions} sessions resumed from the store and evaluated in {:.2} s; {} stored",
        started.elapsed().as_secs_f64(),
        store.count()?.stored
    );
    Ok(())
}
