//! `cowheap serve --base IMAGE`: the HTTP/JSON host of many sessions over one base
//! (docs/SERVING.md). The host is the `cowheap-serve` library; this is its command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cowheap_serve::{Caps, Config};
use cowheap_squeak::interp::Vm;

use crate::exit::{Code, Failure};
use crate::out::note;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The base: a Squeak V3 image file every session's image is over.
    #[arg(long, value_name = "IMAGE")]
    pub base: PathBuf,
    /// Where to listen; port 0 picks a free one. The first line on stdout is
    /// `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The store: `sqlite:PATH` (or a bare path), or `postgres://...` for many hosts on one
    /// database.
    #[arg(long, default_value = "sqlite:cowheap-serve.db")]
    pub store: String,
    /// This host's id among the hosts of one store (default: random).
    #[arg(long)]
    pub host_id: Option<String>,
    /// The base URL other hosts redirect this host's sessions to (default: http:// and the
    /// bound address).
    #[arg(long, value_parser = crate::parse::base_url)]
    pub public_url: Option<String>,
    /// A session unused this long is saved and dropped from memory (resumed on its next
    /// request).
    #[arg(long, default_value = "30s", value_parser = crate::parse::duration)]
    pub idle: Duration,
    /// How long a session's lease lasts unless renewed (renewed every third of it).
    #[arg(long, default_value = "10s", value_parser = crate::parse::duration)]
    pub lease: Duration,
    /// Bytecodes one evaluation may execute, at most (requests may ask for fewer).
    #[arg(long, default_value_t = Caps::default().bytecodes)]
    pub max_bytecodes: u64,
    /// Wall-clock milliseconds one evaluation may take, at most.
    #[arg(long, default_value_t = Caps::default().millis)]
    pub max_millis: u64,
    /// Private bytes a session's image may hold, at most (64k, 16m, 1g).
    #[arg(long, value_name = "BYTES", default_value = "64m", value_parser = crate::parse::bytes)]
    pub max_memory: usize,
    /// Sessions in memory at once, at most: one more evicts the least recently used.
    #[arg(long, default_value_t = Config::default().max_sessions_live,
          value_parser = crate::parse::at_least_one)]
    pub max_sessions_live: usize,
    /// Leases of evicted sessions kept, at most, so that their next resume here is a read
    /// (about 200 bytes each); past it the least recently used is dropped, and that session's
    /// next resume takes its lease with a write.
    #[arg(long, default_value_t = Config::default().max_kept_leases)]
    pub max_kept_leases: usize,
    /// The largest request body: a request that declares a longer one is refused (413) as
    /// its headers arrive.
    #[arg(long, value_name = "BYTES", default_value = "64k", value_parser = crate::parse::bytes)]
    pub max_body: usize,
    /// How long a request's body may take to arrive once its headers are in (408 past it).
    #[arg(long, default_value = "30s", value_parser = crate::parse::duration)]
    pub body_timeout: Duration,
    /// At SIGTERM, how long running evaluations may go on before they are stopped.
    #[arg(long, default_value = "5s", value_parser = crate::parse::duration)]
    pub grace: Duration,
}

pub fn run(args: Args) -> Result<Code, Failure> {
    let loaded = cowheap_squeak::loader::load_file(&args.base)
        .map_err(|e| crate::exit::load_failure(&args.base, e))?;
    let vm = Vm::for_loaded(&loaded).map_err(|e| Failure::Run(e.to_string()))?;
    let store = cowheap_serve::store::open(&args.store).map_err(|e| Failure::Io(e.to_string()))?;
    let config = Config {
        listen: args.listen,
        host_id: args.host_id,
        public_url: args.public_url,
        idle: args.idle,
        lease: args.lease,
        caps: Caps {
            bytecodes: args.max_bytecodes,
            millis: args.max_millis,
            memory: args.max_memory as u64,
        },
        max_sessions_live: args.max_sessions_live,
        max_kept_leases: args.max_kept_leases,
        max_body: args.max_body,
        body_timeout: args.body_timeout,
        grace: args.grace,
    };
    cowheap_serve::serve_blocking(loaded.heap, vm, store, config, |server| {
        // Tests and scripts read the address from this first line.
        println!("listening on {}", server.url());
        note(&format!("cowheap serve: host {}", server.host_id()));
    })
    .map_err(|e| Failure::Run(e.to_string()))?;
    note("cowheap serve: every session saved; leases released");
    Ok(Code::Success)
}
