//! A TCP connector for hyper whose sockets re-arm TCP_QUICKACK after every read, so that an
//! upstream which leaves Nagle's algorithm on does not cost 40 ms per response on a reused
//! connection (see `http.rs`'s module doc for the mechanism and the measurements).
//!
//! Why after every read: Linux delays an ACK ("pingpong" mode) once the socket has sent data
//! shortly after receiving some, which is what a client does on a kept-alive connection. The
//! upstream's first write (headers) is then ACKed only when the delayed-ACK timer fires, ~40 ms
//! later, and its second write waits for that ACK. Setting TCP_QUICKACK leaves pingpong mode and
//! sends an ACK that is pending at once; the kernel re-enters the mode on the next request, so
//! the option is set again after each read that returned data (one `setsockopt` per read).
//!
//! reqwest gives no access to its sockets (its `connector_layer` sees only its sealed `Conn`),
//! so this connector is for a hyper-util client: the worker's Streamable HTTP client
//! (`streamable.rs`). The legacy SSE transport stays on reqwest, without keep-alive (see
//! `http.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that re-arms TCP_QUICKACK after each read that returned data.
#[derive(Debug)]
pub struct QuickAckStream(TcpStream);

impl QuickAckStream {
    pub fn new(stream: TcpStream) -> Self {
        quickack(&stream);
        Self(stream)
    }
}

/// Leaves delayed-ACK (pingpong) mode and sends a pending ACK now. A failure only means the
/// 40 ms delay may come back, so it is ignored.
#[cfg(target_os = "linux")]
fn quickack(stream: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor (borrowed from a live stream) and a c_int option value
    // of the size passed.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Other systems have no TCP_QUICKACK (nor, as far as measured, the 40 ms stall).
#[cfg(not(target_os = "linux"))]
fn quickack(_: &TcpStream) {}

impl AsyncRead for QuickAckStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            quickack(&self.0);
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

/// hyper-util's HTTP connector (DNS, happy eyeballs, TCP_NODELAY on the worker's side) whose
/// streams are [`QuickAckStream`]s.
#[derive(Clone, Debug)]
pub struct QuickAckConnector {
    http: HttpConnector,
}

impl QuickAckConnector {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // https:// is for a TLS connector wrapped around this one.
        http.enforce_http(false);
        // As reqwest's defaults: a peer that vanished is noticed on an idle connection (a
        // standalone SSE stream) after ~1 min, and with data unacknowledged after 30 s.
        http.set_keepalive(Some(std::time::Duration::from_secs(15)));
        http.set_keepalive_interval(Some(std::time::Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(target_os = "linux")]
        http.set_tcp_user_timeout(Some(std::time::Duration::from_secs(30)));
        Self { http }
    }
}

impl Default for QuickAckConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = TokioIo<QuickAckStream>;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.http.call(uri);
        Box::pin(async move { Ok(TokioIo::new(QuickAckStream::new(connecting.await?.into_inner()))) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// How the test upstream answers and when it closes a connection.
    #[derive(Clone, Copy)]
    enum Upstream {
        /// Keeps connections open; writes a response's headers and its body in two writes.
        TwoWrites,
        /// As `TwoWrites`, and closes a connection idle for this long.
        ClosesWhenIdle(Duration),
        /// Closes each connection right after its first response, without `Connection: close`.
        ClosesAfterResponse,
    }

    const BODY: &[u8] = b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";

    /// A tiny HTTP/1.1 upstream that leaves Nagle's algorithm on (no TCP_NODELAY, as
    /// `axum::serve` as it comes); returns its base URL and the count of accepted connections.
    async fn upstream(kind: Upstream) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, kind));
            }
        });
        (format!("http://{addr}/mcp"), accepted)
    }

    async fn serve(mut stream: TcpStream, kind: Upstream) {
        assert!(!stream.nodelay().unwrap(), "Nagle's algorithm stays on");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // Requests are GETs: read up to the end of the headers.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = match kind {
                    Upstream::ClosesWhenIdle(idle) => match tokio::time::timeout(idle, stream.read(&mut buf)).await {
                        Ok(read) => read,
                        Err(_) => return, // idle too long: dropped, closed
                    },
                    _ => stream.read(&mut buf).await,
                };
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            request.clear();
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n", BODY.len());
            // Two writes, as a server streaming a body does: the second one is what Nagle holds
            // until the first one is acknowledged.
            if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(BODY).await.is_err() {
                return;
            }
            if let Upstream::ClosesAfterResponse = kind {
                return;
            }
        }
    }

    fn quickack_client() -> hyper_util::client::legacy::Client<QuickAckConnector, http_body_util::Empty<bytes::Bytes>> {
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(4))
            .build(QuickAckConnector::new())
    }

    /// One GET through a hyper-util client, read to the end.
    async fn get_hyper<C>(
        client: &hyper_util::client::legacy::Client<C, http_body_util::Empty<bytes::Bytes>>,
        url: &str,
    ) where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        use http_body_util::BodyExt as _;
        let response = client.get(url.parse().unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), BODY);
    }

    /// One GET through a reqwest client, read to the end.
    async fn get_reqwest(client: &reqwest::Client, url: &str) {
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap(), BODY);
    }

    /// A reqwest client keeping idle connections (hyper's pool under reqwest's connector).
    fn reqwest_keep_alive() -> reqwest::Client {
        reqwest::Client::builder().pool_max_idle_per_host(32).build().unwrap()
    }

    fn median(mut times: Vec<Duration>) -> Duration {
        times.sort();
        times[times.len() / 2]
    }

    /// `requests` GETs one after the other; the median time of one.
    async fn timed<F: Future<Output = ()>>(requests: usize, mut get: impl FnMut() -> F) -> Duration {
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let start = Instant::now();
            get().await;
            times.push(start.elapsed());
        }
        median(times)
    }

    #[tokio::test]
    async fn reused_connections_to_a_nagle_upstream_answer_without_the_delayed_ack() {
        let (url, accepted) = upstream(Upstream::TwoWrites).await;
        let client = quickack_client();
        let median = timed(25, || get_hyper(&client, &url)).await;
        let connections = accepted.load(Ordering::SeqCst);
        eprintln!("with TCP_QUICKACK: median {median:?}, {connections} connection(s)");
        assert!(connections <= 2, "the requests one after the other share a connection: {connections}");
        // Guards the kernel's 40 ms delayed ACK, not a speed goal.
        assert!(median < Duration::from_millis(20), "median {median:?} over {connections} connection(s)");
    }

    /// The effect the connector exists for: the same upstream and requests over a client whose
    /// sockets do not re-arm TCP_QUICKACK (hyper-util's plain connector, and reqwest's with
    /// keep-alive). Depends on the kernel (Linux's delayed ACK) and takes ~1 s each: run it
    /// with `--run-ignored all`.
    #[tokio::test]
    #[ignore = "demonstrates Linux's 40 ms delayed ACK; slow and kernel-dependent"]
    async fn without_quickack_reused_connections_to_a_nagle_upstream_wait_40ms() {
        let (url, accepted) = upstream(Upstream::TwoWrites).await;
        let mut plain = HttpConnector::new();
        plain.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(plain);
        let median = timed(25, || get_hyper(&client, &url)).await;
        eprintln!(
            "hyper-util without TCP_QUICKACK: median {median:?}, {} connection(s)",
            accepted.load(Ordering::SeqCst)
        );
        assert!(median >= Duration::from_millis(35), "median {median:?}");

        let (url, accepted) = upstream(Upstream::TwoWrites).await;
        let reqwest = reqwest_keep_alive();
        let median = timed(25, || get_reqwest(&reqwest, &url)).await;
        eprintln!("reqwest with keep-alive: median {median:?}, {} connection(s)", accepted.load(Ordering::SeqCst));
        assert!(median >= Duration::from_millis(35), "median {median:?}");
    }

    /// 20 requests with a pause before each; every one must succeed.
    async fn survives(kind: Upstream, pause: Duration) -> (usize, usize) {
        let (url, accepted) = upstream(kind).await;
        let client = quickack_client();
        for _ in 0..20 {
            tokio::time::sleep(pause).await;
            get_hyper(&client, &url).await;
        }
        let hyper_connections = accepted.load(Ordering::SeqCst);

        let (url, accepted) = upstream(kind).await;
        let reqwest = reqwest_keep_alive();
        for _ in 0..20 {
            tokio::time::sleep(pause).await;
            get_reqwest(&reqwest, &url).await;
        }
        (hyper_connections, accepted.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn connections_the_upstream_closes_when_idle_are_not_reused() {
        let (hyper, reqwest) =
            survives(Upstream::ClosesWhenIdle(Duration::from_millis(40)), Duration::from_millis(150)).await;
        assert_eq!((hyper, reqwest), (20, 20), "each pause outlasts the upstream's idle timeout");
    }

    #[tokio::test]
    async fn connections_the_upstream_closes_after_a_response_are_not_reused() {
        let (hyper, reqwest) = survives(Upstream::ClosesAfterResponse, Duration::from_millis(10)).await;
        assert_eq!((hyper, reqwest), (20, 20), "a connection per request");
    }

    #[tokio::test]
    async fn connections_kept_by_the_upstream_are_reused_between_pauses() {
        let (hyper, reqwest) =
            survives(Upstream::ClosesWhenIdle(Duration::from_secs(5)), Duration::from_millis(10)).await;
        assert!(hyper <= 2 && reqwest <= 2, "{hyper} and {reqwest} connections");
    }
}
