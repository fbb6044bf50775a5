//! Serving a [`FixtureServer`] over the legacy HTTP+SSE transport of MCP 2024-11-05
//! ([`serve_sse`]), for testing clients of servers that never moved to Streamable HTTP.
//!
//! * `GET /sse` opens a session: a `text/event-stream` whose first event is `endpoint`, with the
//!   (relative) URL `/messages?sessionId=ID`; every JSON-RPC message of the server then follows
//!   as a `message` event. Keep-alive comments are sent every second.
//! * `POST /messages?sessionId=ID` hands one JSON-RPC message to that session's server and
//!   answers `202 Accepted` (404 for an unknown or ended session, 400 for a malformed body).
//! * Closing the stream ends the session.
//!
//! With a required bearer token, both requests without `Authorization: Bearer TOKEN` are
//! refused with 401. The headers of every `GET /sse` are recorded for tests.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    extract::{Query, Request, State},
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
};
use futures::StreamExt as _;
use rmcp::{
    model::{ClientJsonRpcMessage, GetExtensions as _, ServerJsonRpcMessage},
    transport::Transport,
    RoleServer, ServiceExt as _,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    options::FixtureOptions,
    server::{FixtureServer, FixtureStats},
};

/// Path of the SSE stream.
pub const SSE_PATH: &str = "/sse";
/// Path clients POST their messages to (the `endpoint` event adds `?sessionId=`).
pub const MESSAGES_PATH: &str = "/messages";

/// Largest POST body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long [`SseFixtureHandle::shutdown`] waits for the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

type Sessions = Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>;

#[derive(Clone)]
struct AppState {
    server: FixtureServer,
    sessions: Sessions,
    next_session: Arc<AtomicU64>,
    bearer: Option<Arc<str>>,
    stream_requests: Arc<Mutex<Vec<HeaderMap>>>,
    ct: CancellationToken,
}

impl AppState {
    /// `None` when the request may proceed, else the 401 to send.
    fn refuse_unauthorized(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = self.bearer.as_ref()?;
        let given = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given == Some(format!("Bearer {expected}").as_str()) {
            return None;
        }
        Some((StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response())
    }
}

/// A running legacy-SSE fixture server. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct SseFixtureHandle {
    addr: SocketAddr,
    server: FixtureServer,
    stream_requests: Arc<Mutex<Vec<HeaderMap>>>,
    ct: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SseFixtureHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/sse`: the URL clients open the stream at.
    pub fn url(&self) -> String {
        format!("http://{}{SSE_PATH}", self.addr)
    }

    pub fn server(&self) -> &FixtureServer {
        &self.server
    }

    pub fn stats(&self) -> Arc<FixtureStats> {
        self.server.stats()
    }

    /// The headers of every `GET /sse` received so far (refused ones included), oldest first.
    pub fn stream_requests(&self) -> Vec<HeaderMap> {
        self.stream_requests.lock().expect("stream_requests lock").clone()
    }

    /// Stop accepting, end every stream and session, and wait (a few seconds at most) for the
    /// server task.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.ct.cancel();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(joined) => joined.context("fixture server task")?.context("fixture server"),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for SseFixtureHandle {
    fn drop(&mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serve the fixture over legacy HTTP+SSE at `http://LISTEN/sse`. The socket is bound before this
/// returns. With `bearer_token`, requests must carry `Authorization: Bearer TOKEN`.
pub async fn serve_sse(
    listen: SocketAddr,
    options: FixtureOptions,
    bearer_token: Option<String>,
) -> anyhow::Result<SseFixtureHandle> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr().context("local_addr")?;
    let server = FixtureServer::new(options);
    let ct = CancellationToken::new();
    let state = AppState {
        server: server.clone(),
        sessions: Arc::default(),
        next_session: Arc::default(),
        bearer: bearer_token.map(Arc::from),
        stream_requests: Arc::default(),
        ct: ct.clone(),
    };
    let stream_requests = state.stream_requests.clone();
    let router = axum::Router::new()
        .route(SSE_PATH, get(open_stream))
        .route(MESSAGES_PATH, post(post_message))
        .with_state(state);
    let shutdown = ct.clone();
    let task =
        tokio::spawn(
            async move { axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await },
        );
    tracing::info!(%addr, "fixture MCP server (legacy SSE) listening on http://{addr}{SSE_PATH}");
    Ok(SseFixtureHandle { addr, server, stream_requests, ct, task: Some(task) })
}

/// Removes its session when the SSE stream is dropped (the client went away or the server is
/// stopping), which ends the session's server: its input closes.
struct SessionGuard {
    sessions: Sessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().expect("sessions lock").remove(&self.id);
        tracing::debug!(session = %self.id, "legacy SSE session ended");
    }
}

async fn open_stream(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.stream_requests.lock().expect("stream_requests lock").push(headers.clone());
    if let Some(refused) = state.refuse_unauthorized(&headers) {
        return refused;
    }
    let id = format!("fixture-{}", state.next_session.fetch_add(1, Ordering::Relaxed));
    let (to_server, from_client) = mpsc::channel(64);
    let (to_client, mut outgoing) = mpsc::channel(64);
    state.sessions.lock().expect("sessions lock").insert(id.clone(), to_server);
    let guard = SessionGuard { sessions: state.sessions.clone(), id: id.clone() };

    let session = state.server.for_new_session();
    let session_ct = state.ct.child_token();
    tokio::spawn(async move {
        match session.serve_with_ct(ChannelTransport { to_client, from_client }, session_ct).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "legacy SSE session did not initialize"),
        }
    });

    let endpoint = Event::default().event("endpoint").data(format!("{MESSAGES_PATH}?sessionId={id}"));
    let messages = futures::stream::poll_fn(move |cx| outgoing.poll_recv(cx)).map(move |message| {
        let _keep = &guard;
        let json = serde_json::to_string(&message).expect("JSON-RPC messages serialise");
        Event::default().event("message").data(json)
    });
    let events = futures::stream::once(async { endpoint })
        .chain(messages)
        .take_until(state.ct.clone().cancelled_owned())
        .map(Ok::<_, Infallible>);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(1)).text("keep-alive")).into_response()
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

async fn post_message(State(state): State<AppState>, Query(query): Query<SessionQuery>, request: Request) -> Response {
    if let Some(refused) = state.refuse_unauthorized(request.headers()) {
        return refused;
    }
    let Some(session) = state.sessions.lock().expect("sessions lock").get(&query.session_id).cloned() else {
        return (StatusCode::NOT_FOUND, "unknown session").into_response();
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")).into_response(),
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a JSON-RPC message: {e}")).into_response(),
    };
    // Like rmcp's Streamable HTTP server: handlers see the HTTP request that carried the message.
    match &mut message {
        ClientJsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        _ => {}
    }
    match session.send(message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "session ended").into_response(),
    }
}

/// One session's rmcp transport: messages POSTed by the client in, messages for its SSE
/// stream out.
struct ChannelTransport {
    to_client: mpsc::Sender<ServerJsonRpcMessage>,
    from_client: mpsc::Receiver<ClientJsonRpcMessage>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let to_client = self.to_client.clone();
        async move {
            to_client
                .send(item)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the SSE stream is closed"))
        }
    }

    fn receive(&mut self) -> impl std::future::Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.from_client.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.from_client.close();
        Ok(())
    }
}
