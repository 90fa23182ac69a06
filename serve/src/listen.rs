//! The HTTP/1 accept loop: hyper's connections with the bounds `axum::serve` leaves out.
//!
//! `axum::serve` gives hyper no timer, so a client that sends its headers a byte at a time
//! holds a connection (and a file descriptor) for as long as it likes; and its graceful
//! shutdown waits for every connection to finish, so one client that never finishes its
//! request kept a SIGTERMed host alive, renewing its leases, with its sessions reachable on
//! no host. Here:
//!
//! - headers must arrive within [`HEADER_TIMEOUT`];
//! - at most [`MAX_CONNECTIONS`] connections are open at once; past that a new one is closed
//!   at once (before the process runs out of descriptors for the store and its sessions);
//! - at shutdown the listener closes, every connection is asked to finish its request in
//!   flight, and after the grace period and [`DRAIN`] whatever is still open is dropped.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a client may take to send a request's headers; also how long a kept-alive
/// connection may wait idle for its next request (hyper's own default, which it applies
/// only with a timer).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections open at once, at most.
pub const MAX_CONNECTIONS: usize = 4096;

/// How long past the grace period shutdown waits for connections to answer.
pub const DRAIN: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then as above.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    let (close, closing) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    // Out of descriptors, or a connection reset before it was taken: the
                    // others go on; a short pause lets descriptors come back.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if connections.len() >= MAX_CONNECTIONS {
                    continue;
                }
                let service = TowerToHyperService::new(router.clone());
                let mut closing = closing.clone();
                connections.spawn(async move {
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        _ = closing.changed() => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = close.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(grace + DRAIN, drained).await;
    connections.abort_all();
}
