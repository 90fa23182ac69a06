//! A host talks to its image threads over crossbeam channels.
//!
//! Each client is an image on its own thread that serves requests from an inbox: store a
//! text under a key, fetch one, or ask for something invalid. Replies (plain Rust data, and
//! typed errors, which are `Send`) go back to the host on one shared channel. The host keeps
//! a shadow of what each client stored and checks every reply against it.
//!
//! A client ends cleanly when the host drops its inbox: its `for request in inbox` loop ends,
//! the closure returns, and the image is dropped with its copies and slots. Halfway through,
//! the host disconnects one client and connects a new one, which must see none of the old
//! client's data, even if it gets the same image id.
//!
//! Run with `cargo run --release --example host_channels`.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam::channel::{self, Receiver, Sender};

use cowheap::{BaseBuilder, BaseHeap, Error, Image, ImageStats, Kernel, Value};

const CLIENTS: usize = 32;
const KEYS: usize = 64;
const ROUNDS: usize = 200;

enum Request {
    /// Store `text` under `key`.
    Put { key: usize, text: String },
    /// Fetch the text under `key`.
    Get { key: usize },
}

struct Reply {
    client: usize,
    image_id: u32,
    key: usize,
    /// For a `Get`: the text, or why the image refused.
    result: Result<Option<String>, Error>,
}

fn default_text(key: usize) -> String {
    format!("default-{key}")
}

/// A base with a table of `KEYS` Strings, the defaults every client starts from.
fn build_base() -> cowheap::Result<(BaseHeap, Kernel, Value)> {
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder)?;
    let texts = (0..KEYS)
        .map(|k| kernel.new_string(&mut builder, &default_text(k)))
        .collect::<cowheap::Result<Vec<_>>>()?;
    let table = kernel.new_array(&mut builder, &texts)?;
    builder.add_root("table", table)?;
    Ok((builder.seal()?, kernel, table))
}

/// The body of one client thread: serve requests until the host closes the inbox.
fn serve(
    image: &mut Image,
    client: usize,
    kernel: Kernel,
    inbox: Receiver<Request>,
    replies: Sender<Reply>,
) -> ImageStats {
    let table = image.root("table").expect("the base has a table");
    for request in inbox {
        let (key, result) = match request {
            Request::Put { key, text } => {
                // A private String, stored into the shared table: the table is copied for
                // this image on its first Put.
                let stored = image
                    .new_bytes(kernel.string, text.as_bytes())
                    .and_then(|s| image.write(table, key, s));
                (key, stored.map(|()| None))
            }
            Request::Get { key } => {
                let text = image
                    .read(table, key)
                    .and_then(|s| image.bytes(s))
                    .map(|b| Some(String::from_utf8_lossy(&b).into_owned()));
                (key, text)
            }
        };
        let reply = Reply {
            client,
            image_id: image.id(),
            key,
            result,
        };
        if replies.send(reply).is_err() {
            break; // the host has gone away
        }
    }
    // The inbox is closed and drained: return, and the image is dropped on this thread.
    image.stats()
}

struct Client {
    inbox: Sender<Request>,
    thread: JoinHandle<ImageStats>,
}

fn connect(
    heap: &BaseHeap,
    client: usize,
    kernel: Kernel,
    replies: &Sender<Reply>,
) -> cowheap::Result<Client> {
    let (inbox, rx) = channel::bounded(16);
    let replies = replies.clone();
    let thread = heap
        .image_thread()
        .name(format!("client-{client}"))
        .stack_size(256 * 1024)
        .spawn(move |image| serve(image, client, kernel, rx, replies))?;
    Ok(Client { inbox, thread })
}

/// What the host knows: each client's stored texts, and what came back.
#[derive(Default)]
struct Tally {
    /// What each client has stored, by key; a key not here holds its default.
    shadow: Vec<HashMap<usize, String>>,
    /// The image id each client's replies came from, last seen.
    image_ids: Vec<Option<u32>>,
    gets_checked: usize,
    errors_seen: usize,
}

impl Tally {
    fn check(&mut self, reply: Reply) -> Result<(), Error> {
        self.image_ids[reply.client] = Some(reply.image_id);
        match reply.result {
            Ok(Some(text)) => {
                let want = self.shadow[reply.client]
                    .get(&reply.key)
                    .cloned()
                    .unwrap_or_else(|| default_text(reply.key));
                assert_eq!(
                    text, want,
                    "client {} key {}: isolation violated",
                    reply.client, reply.key
                );
                self.gets_checked += 1;
            }
            Ok(None) => {}
            // Out-of-range keys are refused with a typed error, sent back like any result.
            Err(Error::IndexOutOfRange { index, len }) => {
                assert!(index >= KEYS && len == KEYS);
                self.errors_seen += 1;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (heap, kernel, table) = build_base()?;
    let started = Instant::now();
    let (reply_tx, reply_rx) = channel::unbounded::<Reply>();

    let mut clients: Vec<Option<Client>> = (0..CLIENTS)
        .map(|c| connect(&heap, c, kernel, &reply_tx).map(Some))
        .collect::<cowheap::Result<_>>()?;
    assert_eq!(heap.live_images(), CLIENTS);
    let mut tally = Tally {
        shadow: vec![HashMap::new(); CLIENTS],
        image_ids: vec![None; CLIENTS],
        ..Tally::default()
    };
    let mut bad_gets = 0;
    let mut reconnected = None;

    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            // Disconnect client 0: dropping its inbox ends its loop, then its image.
            let old = clients[0].take().expect("connected");
            drop(old.inbox);
            let stats = old.thread.join().expect("client thread panicked");
            assert!(
                stats.copies == 1,
                "one copy of the table, however many Puts"
            );
            // It sent all its replies before returning; check them before forgetting it.
            while let Ok(reply) = reply_rx.try_recv() {
                tally.check(reply)?;
            }
            let old_id = tally.image_ids[0];
            let old_keys: Vec<usize> = tally.shadow[0].drain().map(|(k, _)| k).collect();
            assert!(!old_keys.is_empty());
            let new = connect(&heap, 0, kernel, &reply_tx)?;
            // The new client must see the defaults under every key the old one stored.
            for key in old_keys {
                new.inbox.send(Request::Get { key })?;
            }
            clients[0] = Some(new);
            reconnected = Some(old_id);
        }
        for (c, client) in clients.iter().enumerate() {
            let inbox = &client.as_ref().expect("connected").inbox;
            let key = (round * 7 + c * 13) % KEYS;
            if (round + c) % 3 == 0 {
                let text = format!("client-{c}-round-{round}");
                tally.shadow[c].insert(key, text.clone());
                inbox.send(Request::Put { key, text })?;
            } else if round % 50 == 49 {
                // Now and then, ask for a key that does not exist.
                inbox.send(Request::Get { key: KEYS + c })?;
                bad_gets += 1;
            } else {
                inbox.send(Request::Get { key })?;
            }
        }
        // Collect what has arrived so far, without waiting.
        while let Ok(reply) = reply_rx.try_recv() {
            tally.check(reply)?;
        }
    }

    // Close every inbox: each client drains its queue, replies, and ends.
    let mut total = ImageStats::default();
    for client in clients.into_iter().flatten() {
        drop(client.inbox);
        total += client.thread.join().expect("client thread panicked");
    }
    drop(reply_tx);
    // Every sender is gone now, so this loop ends after the last reply.
    for reply in reply_rx {
        tally.check(reply)?;
    }
    let elapsed = started.elapsed();

    assert_eq!(tally.errors_seen, bad_gets);
    assert_eq!(
        heap.live_images(),
        0,
        "every client ended when its inbox closed"
    );
    assert_eq!(heap.census().entries, 0);
    let first = heap.original_field(table, 0)?;
    assert_eq!(heap.original_bytes(first)?, default_text(0).into_bytes());
    let old_id = reconnected.flatten().map_or("?".into(), |i| i.to_string());
    let new_id = tally.image_ids[0].map_or("?".into(), |i| i.to_string());
    println!("client 0 reconnected: image id {old_id} -> {new_id}, and saw none of its old data");
    println!(
        "{CLIENTS} clients x {ROUNDS} rounds: {} gets checked, {} typed errors returned, \
         {} copies, {} private KiB, in {:.2?}",
        tally.gets_checked,
        tally.errors_seen,
        total.copies,
        total.private_bytes / 1024,
        elapsed
    );
    println!(
        "ok: every reply matched its own client's data; every image ended when its inbox closed"
    );
    Ok(())
}
