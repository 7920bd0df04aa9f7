//! The accept loop: a bounded number of connections, each served by hyper's HTTP/1 with a time limit
//! and a size limit on the request head.
//!
//! * At most `KYC_MAX_CONNECTIONS` connections are kept alive. Past that, a few more ([`overflow`]:
//!   1/16 of the limit, at least 16) are served one request each (`Connection: close`, and a tenth of
//!   the head time limit), so that while long-lived connections hold every permit a new client (a
//!   kubelet probe among them) still gets its turn. Past both, the loop stops accepting: further
//!   clients wait in the kernel's accept queue (bounded by the listen backlog) and cost this process no
//!   memory. A permit comes back when its connection closes.
//! * A request head (request line and headers) must arrive within `KYC_HEADER_READ_TIMEOUT_MS`,
//!   counted from the connection's start or the end of the previous answer: slow-header clients
//!   (slowloris) and idle connections are closed, so they cannot hold the permits for ever.
//! * A head larger than `KYC_MAX_HEADER_BYTES` is answered 431 by hyper, and the connection closed.
//!
//! Shutdown keeps `axum::serve`'s semantics: when `shutdown` completes, the listener is closed, every
//! connection is told to finish its request in flight and close, and the loop returns once all have.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::configuration::ServerLimits;

/// hyper's smallest read buffer; the buffer never grows past the head limit or this, whichever is
/// larger (hyper's default is ~400 KB).
const MIN_READ_BUFFER: usize = 8192;

/// How long to wait before accepting again after an error such as EMFILE (too many open files).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(500);

/// Connections served one request each once `KYC_MAX_CONNECTIONS` are held.
pub fn overflow(max_connections: usize) -> usize {
    (max_connections / 16).max(16)
}

/// The HTTP/1 settings connections are served with: kept alive, or (`one_shot`, past the limit) one
/// request with a tenth of the time to send its head.
fn http1_builder(limits: &ServerLimits, one_shot: bool) -> http1::Builder {
    let mut builder = http1::Builder::new();
    let header_read_timeout = if one_shot {
        limits.header_read_timeout / 10
    } else {
        limits.header_read_timeout
    };
    builder
        .timer(TokioTimer::new())
        .keep_alive(!one_shot)
        .header_read_timeout(header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(MIN_READ_BUFFER));
    builder
}

/// Errors of one incoming connection (it went away before it was accepted): accept the next one.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then closes the listener and
/// waits for the connections to finish their requests in flight.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    limits: &ServerLimits,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let kept_alive = http1_builder(limits, false);
    let one_shot = http1_builder(limits, true);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(overflow(limits.max_connections)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A kept-alive permit if there is one, else whichever of the two frees first.
        let (permit, builder) = match permits.clone().try_acquire_owned() {
            Ok(permit) => (permit, &kept_alive),
            Err(_) => tokio::select! {
                biased;
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => (permit, &kept_alive),
                    Err(_) => break, // the semaphores are never closed
                },
                permit = overflow.clone().acquire_owned() => match permit {
                    Ok(permit) => (permit, &one_shot),
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            },
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; pausing before the next accept");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        // Small answers go out at once; an error here only costs latency.
        let _ = stream.set_nodelay(true);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that went away, a head too slow or too large: the client's problem.
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_never_goes_below_hypers_minimum() {
        // hyper panics below its minimum buffer: the smallest allowed head limit must not get there.
        let limits = ServerLimits {
            max_connections: 1,
            max_concurrent_requests: 1,
            header_read_timeout: Duration::from_millis(1),
            max_header_bytes: 1024,
        };
        let _kept_alive = http1_builder(&limits, false);
        let _one_shot = http1_builder(&limits, true);
        assert_eq!(overflow(1), 16);
        assert_eq!(overflow(1024), 64);
    }
}
