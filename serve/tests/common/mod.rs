//! What the server's tests share: the base image (skipping without it, as every image test
//! does), a host started in-process on a loopback port, and a small HTTP/1.1 client over a
//! plain TCP stream (keep-alive, Content-Length or chunked bodies).
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cowheap::BaseHeap;
use cowheap_serve::{store, Config, Server};
use cowheap_squeak::interp::Vm;

#[path = "../../../squeak/tests/images_common/mod.rs"]
pub mod images;

pub mod client;
pub use client::*;

/// The base every test serves.
pub const IMAGE: &str = "mini-2.2-v3-le.image";

/// The loaded base and its VM, once per test binary; `None` (the test's skip line printed)
/// without the image.
pub fn base() -> Option<(BaseHeap, Vm)> {
    let path = images::find(IMAGE)?;
    static BASE: OnceLock<(BaseHeap, Vm)> = OnceLock::new();
    Some(
        BASE.get_or_init(|| {
            let loaded = cowheap_squeak::loader::load_file(path).expect("the mini image loads");
            let vm = Vm::for_loaded(&loaded).expect("a V3 image");
            (loaded.heap, vm)
        })
        .clone(),
    )
}

/// A config for tests: any loopback port, short idle and lease times off unless asked.
pub fn config() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        idle: Duration::from_secs(3600),
        ..Config::default()
    }
}

/// A host running on its own runtime thread.
pub struct Host {
    pub addr: SocketAddr,
    pub url: String,
    pub host_id: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), cowheap_serve::ServeError>>>,
}

impl Host {
    /// Starts a host of `base` over the SQLite store at `db`.
    pub fn start(base: &(BaseHeap, Vm), db: &Path, config: Config) -> Host {
        let store = store::open(&format!("sqlite:{}", db.display())).expect("the store opens");
        Host::start_with(base, store, config)
    }

    pub fn start_with(base: &(BaseHeap, Vm), store: Arc<dyn store::Store>, config: Config) -> Host {
        let (heap, vm) = base.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let server = Server::bind(heap, vm, store, config).await?;
                ready_tx
                    .send((server.local_addr(), server.url(), server.host_id()))
                    .expect("the test waits");
                server
                    .run(async move {
                        let _ = stop_rx.await;
                    })
                    .await
            })
        });
        let (addr, url, host_id) = ready_rx.recv().expect("the host starts");
        Host {
            addr,
            url,
            host_id,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Shuts the host down as SIGTERM would, and waits for it.
    pub fn stop(mut self) {
        self.shutdown().expect("the host shuts down cleanly");
    }

    fn shutdown(&mut self) -> Result<(), cowheap_serve::ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("the host thread does not panic"),
            None => Ok(()),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A temporary folder with a store file in it.
pub fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("serve.db");
    (dir, db)
}
