//! The HTTP listener: serves the process's router over HTTP/1.1 (hyper) with the defences
//! `axum::serve` lacks against clients that hold connections without using them.
//!
//! - A request's line and headers must arrive within `header_read_timeout` (hyper's
//!   `http1::Builder::header_read_timeout`; its timer also runs while a kept-alive connection
//!   waits for its next request, so idle connections are closed after as long), else the
//!   connection is closed.
//! - A request's body must arrive within `body_read_timeout` after its headers ([`TimedBody`]):
//!   a slower one fails the request (its handler sees a body error) and the connection closes.
//! - At most `max_connections` connections are served at once (a semaphore): further ones are
//!   not accepted but wait in the kernel's listen backlog until a served one closes, so the
//!   process never runs out of file descriptors for its own sockets (PostgreSQL, NATS, Redis,
//!   upstreams). [`raise_file_limit`] lifts the soft open-file limit to the hard one at start and
//!   [`connection_cap`] keeps the cap at half of it.
//!
//! - With TLS (`crate::tls`), the handshake must also finish within `header_read_timeout`, and
//!   holds its connection's place under the cap while it runs.
//!
//! Every accepted socket gets TCP_NODELAY (responses go out in more than one write: headers,
//! SSE events; without it a kept-alive client waits for a delayed ACK, ~40 ms, on every call).
//! On shutdown the listener stops accepting, idle connections close, in-flight requests finish,
//! and [`serve`] returns once every connection is closed.

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The listener's limits (`[http]` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The configured limits, the connection cap kept under the process's open-file limit
    /// (`file_limit`, after [`raise_file_limit`]).
    pub fn from_config(http: &canopy_config::HttpConfig, file_limit: Option<u64>) -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(http.body_read_timeout_secs),
            max_connections: connection_cap(http.max_connections, file_limit),
        }
    }
}

/// The connections served at once: the configured number, at most half the open-file limit
/// (the other half is for the process's own sockets and files), at least 1.
pub fn connection_cap(configured: u64, file_limit: Option<u64>) -> usize {
    let cap = match file_limit {
        Some(limit) => configured.min(limit / 2),
        None => configured,
    };
    // A semaphore's permits are taken all at once on shutdown (u32).
    cap.clamp(1, u64::from(u32::MAX >> 4)) as usize
}

/// Raises the soft limit on open files to the hard limit and returns the soft limit in force
/// (`None` where it cannot be read).
#[cfg(unix)]
pub fn raise_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_file_limit() -> Option<u64> {
    None
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` is cancelled and
/// every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            _ = shutdown.cancelled() => break,
        };
        let (tcp, _remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = tcp.set_nodelay(true);
        let body_timeout = limits.body_read_timeout;
        // One router for every connection: cloning it is cheap (it is shared), unlike serving
        // a `Router` as a make-service, which rebuilds its routes for each connection.
        let service = app
            .clone()
            .map_request(move |request: http::Request<Incoming>| request.map(|b| TimedBody::wrap(b, body_timeout)));
        let hyper_service = TowerToHyperService::new(service);
        let (builder, shutdown, tls) = (builder.clone(), shutdown.clone(), tls.clone());
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(&builder, TokioIo::new(tcp), hyper_service, &shutdown).await,
                Some(acceptor) => match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_connection(&builder, TokioIo::new(stream), hyper_service, &shutdown).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake did not finish within the header read timeout"),
                },
            }
        });
    }
    // Every connection holds a permit until it closes.
    let _ = permits.acquire_many(limits.max_connections as u32).await;
}

/// Serves one connection until it ends, or until `shutdown` and the request in flight ends.
async fn serve_connection<I, S>(
    builder: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    shutdown: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: 'static + Send,
    <S::ResBody as http_body::Body>::Data: Send,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = builder.serve_connection(io, service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.cancelled() => {}
    }
    // Stop after the request in flight (an idle connection closes at once).
    connection.as_mut().graceful_shutdown();
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// An accept that failed: a connection reset before it was accepted is nothing; anything else
/// (EMFILE, ENFILE, ENOBUFS) is waited out, as the connections in the backlog stay there.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A request body that must arrive within a deadline counted from its headers. The timer is
/// only armed when the body is not all there when first read (most are).
pub struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn wrap(inner: Incoming, timeout: Duration) -> Body {
        if http_body::Body::is_end_stream(&inner) {
            return Body::new(inner);
        }
        Body::new(TimedBody { inner, deadline: Instant::now() + timeout, timeout, sleep: None })
    }
}

/// The error a body that came too slowly ends with.
#[derive(Debug)]
pub struct BodyTimedOut(Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not arrive within {} s", self.0.as_secs())
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::connection_cap;

    #[test]
    fn the_connection_cap_stays_under_half_the_file_limit() {
        assert_eq!(connection_cap(10_000, Some(1024)), 512);
        assert_eq!(connection_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(connection_cap(100, None), 100);
        assert_eq!(connection_cap(0, Some(1)), 1);
    }
}
