//! `cowheap serve`: many Smalltalk sessions over one shared base, each session an image on its
//! own OS thread, reached over HTTP/JSON, every acknowledged evaluation durable in a
//! [`store::Store`] before its answer leaves.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use cowheap_serve::{Config, Server};
//! let loaded = cowheap_squeak::loader::load_file("../shared/images/mini-2.2-v3-le.image")?;
//! let vm = cowheap_squeak::interp::Vm::for_loaded(&loaded)?;
//! let store = cowheap_serve::store::open("sqlite:cowheap-serve.db")?;
//! let server = Server::bind(loaded.heap, vm, store, Config::default()).await?;
//! println!("listening on {}", server.url());
//! server.run(cowheap_serve::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! docs/SERVING.md has the API, the store's rules (durability, exactly-once request ids,
//! leases) and the flags.

#![forbid(unsafe_code)]

pub mod api;
pub mod listen;
pub mod load;
mod mailbox;
pub mod metrics;
pub mod page;
pub mod registry;
mod request;
pub mod session;
pub mod store;
pub mod threads;
pub mod token;
pub mod unstored;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cowheap::BaseHeap;
use cowheap_squeak::interp::Vm;

pub use request::ANSWER_LIMIT;
pub use session::{Caps, EvalRequest, EvalResponse, RequestLimits, Stop};

/// How a host serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// This host's id among the hosts of one store (`None`: a random one).
    pub host_id: Option<String>,
    /// The base URL other hosts redirect to (`None`: `http://` and the bound address).
    pub public_url: Option<String>,
    /// A session unused this long is dropped from memory (it stays in the store).
    pub idle: Duration,
    /// How long a lease lasts unless renewed (renewed every third of it).
    pub lease: Duration,
    /// Server-wide caps on each evaluation.
    pub caps: Caps,
    /// The most sessions in memory at once.
    pub max_sessions_live: usize,
    /// The most leases whose epoch this process keeps, so that the next resume of an evicted
    /// session is a read; past it the least recently used is dropped (that session's next
    /// resume here takes the lease with a write).
    pub max_kept_leases: usize,
    /// The largest request body, in bytes: a request that declares a longer one is refused
    /// (413) when its headers arrive.
    pub max_body: usize,
    /// How long a client may take to send a request's body, once its headers are in: past
    /// it the request is answered 408 and its connection closed.
    pub body_timeout: Duration,
    /// At shutdown, how long running evaluations may go on before they are stopped.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            host_id: None,
            public_url: None,
            idle: Duration::from_secs(30),
            lease: Duration::from_secs(10),
            caps: Caps::default(),
            max_sessions_live: 10_000,
            max_kept_leases: 100_000,
            max_body: 64 << 10,
            body_timeout: listen::HEADER_TIMEOUT,
            grace: Duration::from_secs(5),
        }
    }
}

/// Why a host could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The base cannot host sessions.
    #[error("{0}")]
    Setup(String),
}

/// A host, bound and ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<api::App>,
    config: Config,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.listen` and prepares to serve sessions of `base` from `store`.
    pub async fn bind(
        base: BaseHeap,
        vm: Vm,
        store: Arc<dyn store::Store>,
        config: Config,
    ) -> Result<Server, ServeError> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let host_id = match &config.host_id {
            Some(id) => id.clone(),
            None => token::new_host_id().map_err(|e| ServeError::Setup(e.to_string()))?,
        };
        let url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let env = Arc::new(session::Env {
            base_hash: base.content_hash().0,
            base,
            vm,
            store,
            host: store::Host { id: host_id, url },
            metrics: Arc::default(),
            interrupt: Arc::new(AtomicBool::new(false)),
            caps: config.caps,
            started: Instant::now(),
            leases: unstored::LeaseClock::default(),
            threads: threads::Threads::for_sessions(),
        });
        let policy = registry::Policy {
            idle: config.idle,
            lease: config.lease,
            max_live: config.max_sessions_live.max(1),
            max_kept: config.max_kept_leases,
        };
        let registry =
            registry::Registry::new(env, policy).map_err(|e| ServeError::Setup(e.to_string()))?;
        let app = Arc::new(api::App {
            registry: Arc::new(registry),
            history: Mutex::default(),
        });
        Ok(Server {
            listener,
            app,
            config,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// This host's base URL.
    pub fn url(&self) -> String {
        self.app.registry.env().host.url.clone()
    }

    /// This host's id.
    pub fn host_id(&self) -> String {
        self.app.registry.env().host.id.clone()
    }

    /// Serves until `shutdown` completes, then stops taking requests, lets running
    /// evaluations finish for the grace period (then stops them), takes every session out of
    /// memory (each is committed already) and releases this host's leases.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            app,
            config,
        } = self;
        let env = app.registry.env().clone();
        let mut tasks = tokio::task::JoinSet::new();
        let registry = app.registry.clone();
        let every = (config.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                registry.evict_idle().await;
                registry.trim_to(registry.most_live()).await;
            }
        });
        let renew_env = env.clone();
        let lease = config.lease;
        tasks.spawn(async move {
            let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(10)));
            loop {
                tick.tick().await;
                let env = renew_env.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let start = store::now_ms();
                    if let Ok(before) = env.store.renew(&env.host, lease) {
                        env.leases.renewed(start, store::now_ms(), before, lease);
                    }
                })
                .await;
            }
        });
        let sampler = app.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                sampler.sample();
            }
        });
        let interrupt = env.interrupt.clone();
        let grace = config.grace;
        let signal = async move {
            shutdown.await;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                interrupt.store(true, Relaxed);
            });
        };
        let router = api::router(app.clone(), config.max_body, config.body_timeout);
        listen::serve(listener, router, signal, grace).await;
        tasks.abort_all();
        // Evaluations still queued at a session's thread stop at once.
        env.interrupt.store(true, Relaxed);
        app.registry.close().await?;
        Ok(())
    }
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves on a runtime of its own until SIGTERM or SIGINT: what `cowheap serve` runs, for a
/// caller with no async runtime. `listening` is called with the host's URL once it is bound.
pub fn serve_blocking(
    base: BaseHeap,
    vm: Vm,
    store: Arc<dyn store::Store>,
    config: Config,
    listening: impl FnOnce(&Server),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = Server::bind(base, vm, store, config).await?;
        listening(&server);
        server.run(shutdown_signal()).await
    })
}
