//! The HTTP clients of upstream connections: TLS by rustls, trusting the platform's root
//! certificates (rustls-platform-verifier; on Linux the system's bundle, e.g. Debian's
//! `ca-certificates`) plus the CA certificates of `worker.upstream_ca_file`. Built once per
//! worker and shared by every connection.
//! - Streamable HTTP: the worker's own rmcp client (`streamable.rs`) on hyper-util and
//!   hyper-rustls, whose TCP connections are `quickack.rs`'s. With `worker.upstream_keep_alive`
//!   (on by default) it keeps idle connections to reuse; off, like rmcp's own client, it keeps
//!   none and every request opens a TCP (and TLS) connection. Unlike reqwest, it does not
//!   read `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`: Streamable HTTP upstreams are reached
//!   directly (legacy SSE ones still through such a proxy).
//! - Legacy SSE (`sse.rs`): reqwest, always a connection per request. reqwest gives no access to
//!   its sockets (`connector_layer` sees only its sealed `Conn`: no descriptor, no hook on
//!   reads), so it cannot avoid the delayed-ACK stall below; moving that transport onto the
//!   own client too is not done.
//!
//! Reusing connections is correct:
//! - hyper hands a connection back to the pool only once its response was read to the end: a
//!   POST's SSE stream that rmcp drops after the response (it drains the rest for at most
//!   50 ms), a standalone GET stream, or anything cut short is closed, never reused; and a
//!   connection busy with a stream is never handed out. Session termination (DELETE) is a plain
//!   request.
//! - A connection the server closes while idle is dropped from the pool; the idle timeout
//!   below stays under the keep-alive timeouts servers commonly use (5 s: Node, uvicorn), so
//!   the worker does not send a request on a connection the server is closing at that moment.
//!   Tested (`quickack.rs`): upstreams that close a connection idle for 40 ms (the client
//!   pausing 150 ms), or right after each response without `Connection: close`, answer 20
//!   requests with pauses, none failing.
//!
//! The cost it avoids, and rmcp's reason for keeping none: an upstream that leaves Nagle's
//! algorithm on (no TCP_NODELAY; `axum::serve` as it comes, so many Rust MCP servers) holds the
//! write of a response's event until its earlier write (headers, priming event) is
//! acknowledged, and on a reused connection Linux delays that ACK by 40 ms. The worker cannot
//! tell such an upstream apart, but it avoids the delay: re-arming TCP_QUICKACK on its socket
//! after each read makes it ACK at once (`quickack.rs`). Measured on Linux 6.18 with the
//! fixture's rmcp server on plain `axum::serve`, 20 tool calls one after the other through
//! rmcp's transport (`streamable.rs`'s tests): median 2.6 ms on 2 connections with the own
//! client, 47 ms through reqwest with keep-alive. Against any upstream, reuse saves a TCP
//! connection per call, on loopback ~80 µs of the worker's CPU and ~50 µs of the upstream's
//! (see `loadtest/`), and for https:// upstreams a TLS handshake too. On other systems than
//! Linux TCP_QUICKACK does not exist; keep-alive there would stall against such upstreams.

use std::path::Path;
use std::sync::Arc;

use crate::streamable::{QuickAckHttpClient, MAX_REDIRECTS};

/// With keep-alive: idle connections kept per upstream host (busy ones are not counted), and
/// how long one stays idle before it is closed.
const IDLE_PER_HOST: usize = 32;
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// The clients upstream connections use; cheap to clone (clones share the connection pools).
#[derive(Clone)]
pub struct UpstreamHttp {
    streamable: QuickAckHttpClient,
    sse: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM bundle of certificates: {reason}")]
    NotPem { path: String, reason: String },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("the certificates of {path} cannot be used: {reason}")]
    BadCertificate { path: String, reason: String },
}

impl UpstreamHttp {
    /// Clients that trust the platform's roots and, with `ca_file`, the certificates of that
    /// PEM bundle too; with `keep_alive`, the Streamable HTTP one reuses connections (see the
    /// module's comment).
    pub fn new(ca_file: Option<&Path>, keep_alive: bool) -> Result<Self, HttpSetupError> {
        let Some(path) = ca_file else { return Ok(Self::without_ca_file(keep_alive)) };
        let name = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| HttpSetupError::Read { path: name.clone(), source })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| HttpSetupError::NotPem { path: name.clone(), reason: chain(&e) })?;
        if roots.is_empty() {
            return Err(HttpSetupError::NoCertificate { path: name });
        }
        // A certificate that is no valid X.509 is found here, when the reqwest client is built.
        let sse = client(sse_redirects, &roots)
            .map_err(|reason| HttpSetupError::BadCertificate { path: name.clone(), reason })?;
        use rustls_pki_types::pem::PemObject as _;
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HttpSetupError::NotPem { path: name.clone(), reason: e.to_string() })?;
        let tls = tls_config(der).map_err(|reason| HttpSetupError::BadCertificate { path: name.clone(), reason })?;
        Ok(Self { streamable: streamable_client(tls, keep_alive), sse })
    }

    /// The client for Streamable HTTP upstreams (handed to rmcp's transport).
    pub fn streamable(&self) -> QuickAckHttpClient {
        self.streamable.clone()
    }

    /// The client for legacy SSE upstreams.
    pub fn sse(&self) -> &reqwest::Client {
        &self.sse
    }
}

impl UpstreamHttp {
    fn without_ca_file(keep_alive: bool) -> Self {
        let sse = client(sse_redirects, &[]).expect("an HTTP client with no extra roots builds");
        let tls = tls_config(Vec::new()).expect("a TLS configuration with no extra roots builds");
        Self { streamable: streamable_client(tls, keep_alive), sse }
    }
}

impl Default for UpstreamHttp {
    /// Clients that trust the platform's roots only and open a connection per request.
    fn default() -> Self {
        Self::without_ca_file(false)
    }
}

fn streamable_client(tls: rustls::ClientConfig, keep_alive: bool) -> QuickAckHttpClient {
    QuickAckHttpClient::new(tls, if keep_alive { IDLE_PER_HOST } else { 0 }, IDLE_TIMEOUT)
}

/// rustls (aws-lc-rs) trusting the platform's roots plus `extra`, as reqwest's
/// `tls_certs_merge`; on a system whose roots cannot be used (a bare container image), `extra`
/// only: https:// upstreams then fail with an unknown-issuer error (the reqwest client built
/// before has warned).
fn tls_config(extra: Vec<rustls_pki_types::CertificateDer<'static>>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    match rustls_platform_verifier::Verifier::new_with_extra_roots(extra.clone(), provider) {
        Ok(verifier) => {
            Ok(builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth())
        }
        Err(_) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in extra {
                roots.add(certificate).map_err(|e| e.to_string())?;
            }
            Ok(builder.with_root_certificates(roots).with_no_client_auth())
        }
    }
}

/// The legacy SSE client, trusting the platform's roots plus `extra`: a connection per request
/// (see the module's comment). A system with no root certificates at all (a bare container
/// image) still gets a client, trusting `extra` only: http:// and stdio upstreams keep working,
/// and https:// ones fail with an unknown-issuer error.
fn client(
    redirect: fn() -> reqwest::redirect::Policy,
    extra: &[reqwest::Certificate],
) -> Result<reqwest::Client, String> {
    let builder = || reqwest::Client::builder().pool_max_idle_per_host(0).redirect(redirect());
    let platform = match builder().tls_certs_merge(extra.iter().cloned()).build() {
        Ok(client) => return Ok(client),
        Err(e) => chain(&e),
    };
    let only_extra = builder().tls_certs_only(extra.iter().cloned()).build().map_err(|e| chain(&e))?;
    tracing::warn!(
        error = %platform,
        "the platform's root certificates cannot be used: https upstreams are trusted only through \
         worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE); install the system's CA bundle (Debian: \
         ca-certificates) to trust the public ones"
    );
    Ok(only_extra)
}

/// Legacy SSE: the stream's GET follows any redirect on the stream's origin, like the endpoint
/// it names (the credentials go with them).
fn sse_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        match same_origin && attempt.previous().len() < MAX_REDIRECTS {
            true => attempt.follow(),
            false => attempt.stop(),
        }
    })
}

/// Why an rmcp client could not start. rmcp does not link the HTTP client's error as the source
/// of its own, so its text would end at "error sending request for url (...)": for Streamable
/// HTTP, the client's error is dug out and told with its causes ("...: invalid peer
/// certificate: UnknownIssuer").
pub(crate) fn initialize_error(error: &rmcp::service::ClientInitializeError) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    if let rmcp::service::ClientInitializeError::TransportError { error: transport, context } = error {
        if let Some(StreamableHttpError::Client(cause)) =
            transport.error.downcast_ref::<StreamableHttpError<crate::streamable::ClientError>>()
        {
            return format!("{}, when {context}", chain(cause));
        }
    }
    chain(error)
}

/// An error with its sources ("error sending request: ...: invalid peer certificate: UnknownIssuer").
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        // Some errors repeat their source's text in their own.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("canopy-http-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn ca_files_that_cannot_be_used_are_errors_naming_the_file() {
        let missing = std::env::temp_dir().join("canopy-http-no-such-file.pem");
        let error = UpstreamHttp::new(Some(&missing), false).err().unwrap();
        assert!(matches!(error, HttpSetupError::Read { .. }), "{error}");
        assert!(error.to_string().contains("canopy-http-no-such-file.pem"), "{error}");

        let empty = write("empty.pem", "no certificates here\n");
        let error = UpstreamHttp::new(Some(&empty), false).err().unwrap();
        assert!(matches!(error, HttpSetupError::NoCertificate { .. }), "{error}");

        let garbled = write("garbled.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let error = UpstreamHttp::new(Some(&garbled), false).err().unwrap();
        assert!(matches!(error, HttpSetupError::NotPem { .. }), "{error}");

        // Valid base64, but no X.509 certificate inside.
        let bogus = write("bogus.pem", "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n");
        let error = UpstreamHttp::new(Some(&bogus), false).err().unwrap();
        assert!(matches!(error, HttpSetupError::BadCertificate { .. }), "{error}");
        for path in [empty, garbled, bogus] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn without_a_ca_file_the_platform_roots_are_used() {
        assert!(UpstreamHttp::new(None, false).is_ok());
    }

    /// A TCP relay to `target` that counts the connections made through it.
    async fn counting_relay(target: std::net::SocketAddr) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                    let _ = inbound.set_nodelay(true).and(outbound.set_nodelay(true));
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        (format!("http://{addr}/mcp"), count)
    }

    /// Connections opened for a Streamable HTTP session with the fixture that makes `calls`
    /// tool calls one after the other and then ends (DELETE).
    async fn connections_for(http: &UpstreamHttp, calls: usize) -> usize {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::ServiceExt as _;
        let fixture =
            canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), Default::default()).await.unwrap();
        let (url, count) = counting_relay(fixture.addr()).await;
        let config = StreamableHttpClientTransportConfig::with_uri(url);
        let client = ().serve(StreamableHttpClientTransport::with_client(http.streamable(), config)).await.unwrap();
        for i in 0..calls {
            let mut params = rmcp::model::CallToolRequestParams::new("echo");
            params.arguments = serde_json::json!({ "message": format!("m{i}") }).as_object().cloned();
            let result = client.call_tool(params).await.unwrap();
            assert_eq!(result.content[0].as_text().map(|t| t.text.as_str()), Some(format!("m{i}").as_str()));
        }
        client.cancel().await.unwrap();
        let opened = count.load(Ordering::SeqCst);
        fixture.shutdown().await.unwrap();
        opened
    }

    #[tokio::test]
    async fn with_keep_alive_requests_share_connections() {
        // initialize, initialized, 10 calls and the DELETE are 13 POSTs and DELETEs; the
        // standalone GET stream holds a connection of its own while the session lasts.
        let fresh = connections_for(&UpstreamHttp::new(None, false).unwrap(), 10).await;
        assert!(fresh >= 13, "a connection per request: {fresh}");
        let reused = connections_for(&UpstreamHttp::new(None, true).unwrap(), 10).await;
        assert!(reused <= 3, "the requests one after the other share a connection: {reused}");
    }

    /// A CA and a certificate it signed for 127.0.0.1 and localhost (`canopy_testkit::tls`):
    /// the CA's PEM, the server's chain and key.
    fn test_pki(
    ) -> (std::path::PathBuf, Vec<rustls_pki_types::CertificateDer<'static>>, rustls_pki_types::PrivateKeyDer<'static>)
    {
        use rustls_pki_types::pem::PemObject as _;
        let dir = std::env::temp_dir().join(format!("canopy-http-pki-{}", std::process::id()));
        let pki = canopy_testkit::tls::ca_and_server(&dir, "Canopy worker test CA");
        let chain =
            rustls_pki_types::CertificateDer::pem_file_iter(&pki.cert).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&pki.key).unwrap();
        (pki.ca, chain, key)
    }

    /// Accepts TLS connections (failed handshakes are skipped).
    struct TlsListener(tokio::net::TcpListener, tokio_rustls::TlsAcceptor);

    impl axum::serve::Listener for TlsListener {
        type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
        type Addr = std::net::SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                let Ok((tcp, addr)) = self.0.accept().await else { continue };
                if let Ok(tls) = self.1.accept(tcp).await {
                    return (tls, addr);
                }
            }
        }

        fn local_addr(&self) -> std::io::Result<Self::Addr> {
            self.0.local_addr()
        }
    }

    #[tokio::test]
    async fn https_upstreams_are_trusted_through_the_ca_file_only() {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
        use rmcp::transport::{StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService};
        use rmcp::ServiceExt as _;
        let (ca, chain, key) = test_pki();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let fixture = canopy_fixture_server::FixtureServer::new(Default::default());
        let service = StreamableHttpService::new(
            move || Ok(fixture.for_new_session()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().disable_allowed_hosts(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let listener = TlsListener(listener, tokio_rustls::TlsAcceptor::from(Arc::new(tls)));
        let versions = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = versions.clone();
        let router = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                seen.lock().unwrap().push(request.version());
                next.run(request)
            },
        ));
        tokio::spawn(async move { axum::serve(listener, router).await });

        let trusting = UpstreamHttp::new(Some(&ca), true).unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let config = StreamableHttpClientTransportConfig::with_uri(format!("https://{host}:{port}/mcp"));
            let client =
                ().serve(StreamableHttpClientTransport::with_client(trusting.streamable(), config)).await.unwrap();
            let mut params = rmcp::model::CallToolRequestParams::new("echo");
            params.arguments = serde_json::json!({ "message": host }).as_object().cloned();
            let result = client.call_tool(params).await.unwrap();
            assert_eq!(result.content[0].as_text().map(|t| t.text.as_str()), Some(host));
            client.cancel().await.unwrap();
        }
        let versions = versions.lock().unwrap().clone();
        assert!(versions.len() >= 8 && versions.iter().all(|v| *v == http::Version::HTTP_2), "{versions:?}");

        let config = StreamableHttpClientTransportConfig::with_uri(format!("https://127.0.0.1:{port}/mcp"));
        let untrusting = UpstreamHttp::new(None, true).unwrap();
        let error =
            ().serve(StreamableHttpClientTransport::with_client(untrusting.streamable(), config)).await.err().unwrap();
        let why = initialize_error(&error);
        eprintln!("without the CA: {why}");
        assert!(why.contains("certificate") && why.contains("UnknownIssuer"), "{why}");
        let _ = std::fs::remove_dir_all(ca.parent().unwrap());
    }
}
