//! The legacy HTTP+SSE client transport of MCP 2024-11-05, for upstreams registered with
//! `transport: "sse"` (rmcp has no client for it any more).
//!
//! The client GETs the SSE URL; the stream's first `endpoint` event names the URL (relative to
//! the SSE URL, and on its origin) that every client message is POSTed to; the server's messages
//! arrive as `message` events on the stream. Every request carries the registration's headers
//! (`Authorization: Bearer` and the custom ones). The stream ending, for whatever reason, ends
//! the transport: rmcp then sees it closed, so the pool reconnects on the next call.

use std::collections::VecDeque;
use std::future::Future;

use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderMap;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::RoleClient;
use tokio::sync::mpsc;

/// An event (its field lines together) larger than this ends the stream.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// How much of an error response's body is quoted in the error.
const MAX_ERROR_BODY: usize = 300;
/// Messages read from the stream but not yet taken by rmcp.
const INCOMING_BUFFER: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("'{url}' is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("GET {url} failed: {reason}")]
    Open { url: String, reason: String },
    #[error("GET {url} answered HTTP {status}{body}")]
    OpenStatus { url: String, status: reqwest::StatusCode, body: String },
    #[error(
        "GET {url} answered with content type '{content_type}', not an SSE stream (text/event-stream); \
         a Streamable HTTP server is registered with transport 'streamable_http'"
    )]
    NotEventStream { url: String, content_type: String },
    #[error("the SSE stream ended before its `endpoint` event")]
    NoEndpoint,
    #[error("the SSE stream failed: {0}")]
    Stream(String),
    #[error("the `endpoint` event's URL '{endpoint}' is not valid: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("the `endpoint` event names '{endpoint}', on another origin than the SSE stream; credentials are not sent there")]
    ForeignEndpoint { endpoint: String },
    #[error("POST {url} failed: {reason}")]
    Post { url: String, reason: String },
    #[error("POST {url} answered HTTP {status}{body}")]
    PostStatus { url: String, status: reqwest::StatusCode, body: String },
    #[error("cannot serialise the message: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// A connected legacy SSE upstream: the stream is open and its `endpoint` known.
pub struct SseClientTransport {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    /// Reads the stream into `incoming`; ends (closing `incoming`) when the stream does.
    reader: tokio::task::JoinHandle<()>,
}

impl SseClientTransport {
    /// Opens the SSE stream at `url` with `headers` (sent on every request) and waits for its
    /// `endpoint` event. `http` is the worker's SSE client (`UpstreamHttp::sse`: its TLS roots,
    /// redirects only on the stream's origin). The caller bounds how long this may take.
    pub async fn connect(http: &reqwest::Client, url: &str, headers: HeaderMap) -> Result<Self, SseError> {
        let sse_url =
            reqwest::Url::parse(url).map_err(|e| SseError::InvalidUrl { url: url.into(), reason: e.to_string() })?;
        let http = http.clone();
        let mut response = http
            .get(sse_url.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache")
            .send()
            .await
            .map_err(|e| SseError::Open { url: url.into(), reason: chain(&e) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(SseError::OpenStatus { url: url.into(), status, body: excerpt(response).await });
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.trim_start().to_ascii_lowercase().starts_with("text/event-stream") {
            return Err(SseError::NotEventStream { url: url.into(), content_type: content_type.into() });
        }

        let mut parser = SseParser::default();
        let mut events = VecDeque::<SseEvent>::new();
        let endpoint = loop {
            if let Some(event) = events.pop_front() {
                if event.event == "endpoint" {
                    break event.data;
                }
                tracing::debug!(event = %event.event, "ignoring an SSE event before `endpoint`");
                continue;
            }
            match response.chunk().await {
                Ok(Some(chunk)) => parser.feed(&chunk, &mut events)?,
                Ok(None) => return Err(SseError::NoEndpoint),
                Err(e) => return Err(SseError::Stream(chain(&e))),
            }
        };
        let endpoint = resolve_endpoint(&sse_url, &endpoint)?;
        tracing::debug!(%endpoint, "legacy SSE upstream connected");
        let (tx, incoming) = mpsc::channel(INCOMING_BUFFER);
        let reader = tokio::spawn(read_messages(response, parser, events, tx, sse_url));
        Ok(Self { http, endpoint, headers, incoming, reader })
    }
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl rmcp::transport::Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn send(&mut self, item: ClientJsonRpcMessage) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
        let url = self.endpoint.clone();
        let request = serde_json::to_vec(&item).map(|body| {
            self.http
                .post(url.clone())
                .headers(self.headers.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        });
        async move {
            let response =
                request?.send().await.map_err(|e| SseError::Post { url: url.to_string(), reason: chain(&e) })?;
            let status = response.status();
            if !status.is_success() {
                return Err(SseError::PostStatus { url: url.to_string(), status, body: excerpt(response).await });
            }
            // Read the (short) answer through, so the connection is reused.
            let _ = response.bytes().await;
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), SseError> {
        self.reader.abort();
        self.incoming.close();
        Ok(())
    }
}

/// Hands every `message` event's JSON-RPC message(s) to the transport until the stream ends.
async fn read_messages(
    mut response: reqwest::Response,
    mut parser: SseParser,
    mut events: VecDeque<SseEvent>,
    tx: mpsc::Sender<ServerJsonRpcMessage>,
    url: reqwest::Url,
) {
    let reason = loop {
        while let Some(event) = events.pop_front() {
            if event.event != "message" {
                tracing::debug!(event = %event.event, "ignoring an SSE event");
                continue;
            }
            // 2024-11-05 still allowed JSON-RPC batches.
            let messages = match event.data.trim_start().starts_with('[') {
                true => serde_json::from_str::<Vec<ServerJsonRpcMessage>>(&event.data),
                false => serde_json::from_str::<ServerJsonRpcMessage>(&event.data).map(|m| vec![m]),
            };
            match messages {
                Ok(messages) => {
                    for message in messages {
                        if tx.send(message).await.is_err() {
                            return; // the transport is gone
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ignoring an SSE `message` that is not JSON-RPC"),
            }
        }
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if let Err(e) = parser.feed(&chunk, &mut events) {
                    break e.to_string();
                }
            }
            Ok(None) => break "the upstream ended the stream".to_string(),
            Err(e) => break chain(&e),
        }
    };
    tracing::info!(%url, %reason, "legacy SSE stream closed");
}

/// The POST URL an `endpoint` event names, resolved against the SSE URL. Only the SSE URL's
/// origin is accepted: the registration's credentials go with every POST.
fn resolve_endpoint(sse_url: &reqwest::Url, endpoint: &str) -> Result<reqwest::Url, SseError> {
    let endpoint = endpoint.trim();
    let url = sse_url
        .join(endpoint)
        .map_err(|e| SseError::BadEndpoint { endpoint: endpoint.into(), reason: e.to_string() })?;
    if url.origin() != sse_url.origin() {
        return Err(SseError::ForeignEndpoint { endpoint: endpoint.into() });
    }
    Ok(url)
}

/// `: BODY` with the start of an error response's body, or nothing.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY);
    let body = String::from_utf8_lossy(&bytes);
    let body = body.trim().trim_end_matches('\u{FFFD}');
    match body.is_empty() {
        true => String::new(),
        false => format!(": {body}"),
    }
}

/// An error with its sources ("error sending request: connection refused").
fn chain(error: &reqwest::Error) -> String {
    canopy_domain::error_chain(error)
}

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SseEvent {
    /// The `event` field, `message` when absent.
    event: String,
    data: String,
}

/// An incremental `text/event-stream` parser (the HTML standard's rules): lines end in CRLF, LF
/// or CR, even when a chunk splits a CRLF; `data` lines of one event are joined with LF;
/// comments (`:` lines, used as keep-alives) and unknown fields are skipped; an event is
/// dispatched at a blank line, and only if it has data. `id` and `retry` serve reconnection,
/// which this transport does not do (the 2024-11-05 protocol has no resumption).
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    /// The last chunk ended in CR: a LF at the start of the next one ends no further line.
    after_cr: bool,
    /// A line was read (a byte-order mark is skipped on the first one only).
    started: bool,
    event: String,
    data: String,
}

impl SseParser {
    fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<SseEvent>) -> Result<(), SseError> {
        let mut rest = chunk;
        if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(rest);
        if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
            return Err(SseError::Stream(format!("an SSE event is larger than {MAX_EVENT_BYTES} bytes")));
        }
        Ok(())
    }

    fn line_done(&mut self, mut line: &[u8], out: &mut VecDeque<SseEvent>) {
        if !std::mem::replace(&mut self.started, true) {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let mut data = std::mem::take(&mut self.data);
            if data.pop().is_some() {
                let event = if event.is_empty() { "message".to_string() } else { event };
                out.push_back(SseEvent { event, data });
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).unwrap();
        }
        out.into()
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn events_data_lines_and_defaults() {
        let events = parse_chunks(&[b"event: endpoint\ndata: /messages?sessionId=1\n\ndata: {\"a\":\ndata:1}\n\n"]);
        assert_eq!(events, [ev("endpoint", "/messages?sessionId=1"), ev("message", "{\"a\":\n1}")]);
    }

    #[test]
    fn every_line_ending_even_split_across_chunks() {
        let events = parse_chunks(&[b"data: a\r\n\r\ndata: b\r", b"\r", b"data: c\r", b"\ndata: d\r\n", b"\r\n"]);
        assert_eq!(events, [ev("message", "a"), ev("message", "b"), ev("message", "c\nd")]);
        // Byte by byte, including a multi-byte character split across chunks.
        let text = "event: message\r\ndata: héllo\r\n\r\n".as_bytes();
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_chunks(&chunks), [ev("message", "héllo")]);
    }

    #[test]
    fn comments_unknown_fields_and_empty_events_are_skipped() {
        let events = parse_chunks(&[
            b"\xEF\xBB\xBF: keep-alive\n\n:\n\nid: 7\nretry: 100\nfoo: bar\n\nevent: x\n\ndata\n\ndata:no-space\n\n",
        ]);
        assert_eq!(events, [ev("message", ""), ev("message", "no-space")]);
        // An event with no blank line after it is never dispatched.
        assert_eq!(parse_chunks(&[b"data: incomplete\n"]), []);
    }

    #[test]
    fn oversized_events_end_the_stream() {
        let mut parser = SseParser::default();
        let mut out = VecDeque::new();
        let big = vec![b'x'; MAX_EVENT_BYTES / 2 + 1];
        parser.feed(b"data: ", &mut out).unwrap();
        parser.feed(&big, &mut out).unwrap();
        assert!(parser.feed(&big, &mut out).is_err());
    }

    #[test]
    fn endpoints_resolve_on_the_stream_origin_only() {
        let base = reqwest::Url::parse("http://up.example:8080/api/sse?x=1").unwrap();
        let resolve = |e: &str| resolve_endpoint(&base, e).map(|u| u.to_string());
        assert_eq!(resolve("/messages?sessionId=a").unwrap(), "http://up.example:8080/messages?sessionId=a");
        assert_eq!(resolve(" messages?sessionId=b\n").unwrap(), "http://up.example:8080/api/messages?sessionId=b");
        assert_eq!(resolve("http://up.example:8080/m").unwrap(), "http://up.example:8080/m");
        assert!(matches!(resolve_endpoint(&base, "http://evil.example/m"), Err(SseError::ForeignEndpoint { .. })));
        assert!(matches!(resolve_endpoint(&base, "//evil.example/m"), Err(SseError::ForeignEndpoint { .. })));
        assert!(matches!(resolve_endpoint(&base, "https://up.example:8080/m"), Err(SseError::ForeignEndpoint { .. })));
    }
}

#[cfg(test)]
mod against_servers {
    use super::*;
    use canopy_fixture_server::{serve_sse, FixtureOptions};
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::Transport as _;
    use rmcp::ServiceExt as _;
    use std::time::Duration;

    fn http() -> reqwest::Client {
        crate::http::UpstreamHttp::default().sse().clone()
    }

    #[tokio::test]
    async fn a_session_with_the_fixture_over_legacy_sse() {
        let fixture =
            serve_sse("127.0.0.1:0".parse().unwrap(), FixtureOptions::default(), Some("tok".into())).await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        headers.insert("x-fixture", "custom".parse().unwrap());
        let transport = SseClientTransport::connect(&http(), &fixture.url(), headers).await.unwrap();
        let client = ().serve(transport).await.unwrap();
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
        let who = client.call_tool(CallToolRequestParams::new("whoami")).await.unwrap();
        let who = who.structured_content.unwrap();
        assert_eq!((who["authorization"].as_str(), who["xFixture"].as_str()), (Some("Bearer tok"), Some("custom")));
        let streams = fixture.stream_requests();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0]["authorization"], "Bearer tok");
        assert_eq!(streams[0]["x-fixture"], "custom");

        // The server going away closes the transport, and so the rmcp service.
        fixture.shutdown().await.unwrap();
        let quit = tokio::time::timeout(Duration::from_secs(5), client.waiting()).await.expect("the service ends");
        assert!(matches!(quit, Ok(rmcp::service::QuitReason::Closed)), "{quit:?}");
    }

    #[tokio::test]
    async fn a_wrong_token_is_refused_at_the_stream() {
        let fixture =
            serve_sse("127.0.0.1:0".parse().unwrap(), FixtureOptions::default(), Some("tok".into())).await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        let Err(error) = SseClientTransport::connect(&http(), &fixture.url(), headers).await else {
            panic!("connected")
        };
        assert!(matches!(error, SseError::OpenStatus { status: reqwest::StatusCode::UNAUTHORIZED, .. }), "{error}");
        assert!(error.to_string().contains("401"), "{error}");
    }

    /// A hand-made server: `/short` sends its endpoint and ends the stream, `/silent` ends with
    /// no endpoint, `/json` is no SSE stream, `/moved` redirects to `/short` and `/away` to the
    /// same place under another origin (`localhost`); nothing accepts POSTs.
    async fn odd_server() -> String {
        use axum::response::Redirect;
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sse = |body: &'static str| move || async move { ([(CONTENT_TYPE, "text/event-stream")], body) };
        let away = format!("http://localhost:{}/short", addr.port());
        let router = axum::Router::new()
            .route("/moved", get(|| async { Redirect::temporary("/short") }))
            .route("/away", get(move || async move { Redirect::temporary(&away) }))
            .route("/short", get(sse(": hello\r\nevent: endpoint\r\ndata: /gone?sessionId=1\r\n\r\n")))
            .route("/silent", get(sse(": nothing here\n\n")))
            .route("/json", get(|| async { axum::Json(serde_json::json!({"jsonrpc": "2.0"})) }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn stream_ends_refused_posts_and_wrong_servers_are_errors() {
        let base = odd_server().await;
        let mut transport =
            SseClientTransport::connect(&http(), &format!("{base}/short"), HeaderMap::new()).await.unwrap();
        assert_eq!(transport.endpoint.as_str(), format!("{base}/gone?sessionId=1"));
        let ping = ClientJsonRpcMessage::request(
            rmcp::model::ClientRequest::PingRequest(Default::default()),
            rmcp::model::NumberOrString::Number(1),
        );
        let error = transport.send(ping).await.unwrap_err();
        assert!(matches!(error, SseError::PostStatus { status: reqwest::StatusCode::NOT_FOUND, .. }), "{error}");
        let next = tokio::time::timeout(Duration::from_secs(5), transport.receive()).await.unwrap();
        assert!(next.is_none(), "the stream ended, so does the transport");

        let error =
            SseClientTransport::connect(&http(), &format!("{base}/silent"), HeaderMap::new()).await.err().unwrap();
        assert!(matches!(error, SseError::NoEndpoint), "{error}");
        let error =
            SseClientTransport::connect(&http(), &format!("{base}/json"), HeaderMap::new()).await.err().unwrap();
        assert!(matches!(error, SseError::NotEventStream { .. }), "{error}");
        let error =
            SseClientTransport::connect(&http(), &format!("{base}/missing"), HeaderMap::new()).await.err().unwrap();
        assert!(error.to_string().contains("HTTP 404"), "{error}");

        // Redirects are followed on the stream's origin only.
        let moved = SseClientTransport::connect(&http(), &format!("{base}/moved"), HeaderMap::new()).await.unwrap();
        assert_eq!(moved.endpoint.as_str(), format!("{base}/gone?sessionId=1"));
        let error =
            SseClientTransport::connect(&http(), &format!("{base}/away"), HeaderMap::new()).await.err().unwrap();
        assert!(
            matches!(error, SseError::OpenStatus { status: reqwest::StatusCode::TEMPORARY_REDIRECT, .. }),
            "{error}"
        );
    }
}
