//! The short route of a session-era `tools/call`: answered by the edge in the HTTP request's own
//! task, without rmcp's session machinery. Through rmcp, a call crosses five tasks and as many
//! typed conversions (the connection, the session's worker, its service loop, a task per
//! request, a forwarder of progress) before the worker is even asked; here the call is read,
//! admitted ([`crate::admission::admit_request`], the same decision and counting as every
//! other path), sent ([`crate::relay::reply_of`], the same route as the handler's) and answered
//! on one SSE response whose body drives it: what the upstream says meanwhile (progress under
//! the client's token, log messages at the session's level, [`crate::relay::notification`])
//! goes out as it comes, then the result, built by the handler's own rule
//! ([`crate::handler::tool_reply`]) and shaped for the session's protocol revision as rmcp
//! shapes it.
//!
//! It takes only what it can answer exactly as the handler would, and hands anything else to
//! rmcp untouched: a POST of a session this edge holds and whose `initialized` it has seen
//! ([`FastSessions`], registered by the handler), on the endpoint the session belongs to, of a
//! client that declared none of sampling, elicitation and roots (nothing can be asked of it in
//! the middle of a call), with a small JSON body that is a well-formed `tools/call` of the
//! session era (no task, no `input_responses`). Its cancellation (`notifications/cancelled`
//! for a call in flight here) is taken here too; a client that goes away cancels its call.
//!
//! What differs from rmcp's answer: the response's events carry no ids, so a client that loses
//! the stream cannot resume it (as with a JSON response) and its call is cancelled; and a call
//! taken here does not count as activity of rmcp's session, so a session used only for tool
//! calls is closed in process after the idle time and restored from Redis by its next other
//! request (its state stays in Redis).

use crate::access::{Access, RequestPrincipal};
use crate::admission::{self, admit_request};
use crate::relay::{self, Heard, LogFilter, SessionLogLevel};
use crate::sessions::SharedSessions;
use crate::EdgeState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use canopy_admission::{Ask, Method, Payload, Scope};
use canopy_mcp::call::{CallReply, ClientAnswer, ToClient};
use futures::Stream;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use rmcp::model::{JsonObject, ProgressToken, RequestId, ServerJsonRpcMessage, ServerResult};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Bodies up to this size are read to see whether they are a call taken here.
const READ_LIMIT: usize = crate::limits::PEEK_LIMIT;
/// How long a call's response waits for its first event before its headers go out alone.
const FIRST_EVENT_WITHIN: Duration = Duration::from_secs(1);
/// A comment on a call's stream this often while it runs, as rmcp keeps its streams alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How many times a call answered over NATS lets the edge's subscription deliver what its
/// worker sent just before the reply (a worker of this process delivers it first).
const STRAGGLER_ROUNDS: u8 = 4;

/// A session whose tool calls this edge answers itself: registered by its handler when the
/// client says `initialized` (also on a session restored here), gone with the handler.
pub(crate) struct FastSession {
    pub scope: Scope,
    pub log_level: SessionLogLevel,
    /// This session's calls in flight here, by JSON-RPC id (as JSON), for its cancellations.
    calls: Mutex<HashMap<String, CancellationToken>>,
}

impl FastSession {
    pub(crate) fn new(scope: Scope, log_level: SessionLogLevel) -> Self {
        FastSession { scope, log_level, calls: Mutex::default() }
    }
}

/// The sessions of this edge whose calls take the short route, by session id. Held weakly: a
/// session closed in process (idle, or to make room) drops its handler, and with it its entry.
#[derive(Default)]
pub struct FastSessions {
    sessions: Mutex<HashMap<String, Weak<FastSession>>>,
}

impl FastSessions {
    pub(crate) fn register(&self, id: &str, session: &Arc<FastSession>) {
        let mut sessions = self.sessions.lock().expect("fast sessions lock");
        if sessions.len() >= 1024 && sessions.len().is_power_of_two() {
            sessions.retain(|_, s| s.strong_count() > 0);
        }
        sessions.insert(id.to_string(), Arc::downgrade(session));
    }

    fn get(&self, id: &str) -> Option<Arc<FastSession>> {
        let mut sessions = self.sessions.lock().expect("fast sessions lock");
        let session = sessions.get(id)?.upgrade();
        if session.is_none() {
            sessions.remove(id);
        }
        session
    }
}

#[derive(Clone)]
pub(crate) struct Fast {
    pub state: EdgeState,
    pub sessions: Arc<FastSessions>,
    pub shared: Arc<SharedSessions>,
}

/// A JSON-RPC message as the short route reads it.
#[derive(Deserialize)]
struct Incoming {
    jsonrpc: String,
    id: Option<RequestId>,
    method: String,
    #[serde(default)]
    params: Option<Value>,
}

/// `tools/call`'s parameters, when they are only what the session era sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(default, rename = "_meta")]
    meta: Option<JsonObject>,
}

/// The middleware in front of rmcp (after rate limits, before [`crate::protocol::front`]).
pub(crate) async fn fast(State(fast): State<Arc<Fast>>, request: Request, next: Next) -> Response {
    let Some((session_id, session)) = candidate(&fast, &request) else { return next.run(request).await };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, READ_LIMIT).await else {
        return (StatusCode::BAD_REQUEST, "the request body does not match its Content-Length").into_response();
    };
    let rebuilt = |parts, bytes| Request::from_parts(parts, Body::from(bytes));
    let Ok(message) = serde_json::from_slice::<Incoming>(&bytes) else { return next.run(rebuilt(parts, bytes)).await };
    if message.jsonrpc != "2.0" {
        return next.run(rebuilt(parts, bytes)).await;
    }
    match (message.method.as_str(), message.id) {
        ("tools/call", Some(id)) => {
            let params = message.params.map(serde_json::from_value::<CallParams>);
            let Some(Ok(params)) = params else { return next.run(rebuilt(parts, bytes)).await };
            match call(&fast, &parts, &session_id, session, id, params).await {
                Ok(response) => response,
                Err(()) => next.run(rebuilt(parts, bytes)).await,
            }
        }
        ("notifications/cancelled", None) => {
            let cancelled = message.params.as_ref().and_then(|p| p.get("requestId")).map(Value::to_string);
            let token = cancelled.and_then(|id| session.calls.lock().expect("calls lock").get(&id).cloned());
            match token {
                Some(token) => {
                    token.cancel();
                    StatusCode::ACCEPTED.into_response()
                }
                None => next.run(rebuilt(parts, bytes)).await,
            }
        }
        _ => next.run(rebuilt(parts, bytes)).await,
    }
}

/// The session of a POST the short route may take, before its body is read.
fn candidate(fast: &Fast, request: &Request) -> Option<(String, Arc<FastSession>)> {
    let headers = request.headers();
    let json = crate::protocol::is_json(headers);
    if request.method() != http::Method::POST || !session_era(headers) || !json || !takes_sse(headers) {
        return None;
    }
    let length = header(headers, CONTENT_LENGTH.as_str())?.parse::<usize>().ok()?;
    if length > READ_LIMIT {
        return None;
    }
    let id = header(headers, "mcp-session-id")?;
    let session = fast.sessions.get(id)?;
    (Scope::from_path(request.uri().path()).as_ref() == Some(&session.scope)).then(|| (id.to_string(), session))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A revision with sessions: the header of a known one before 2026-07-28, or none (2025-03-26).
fn session_era(headers: &HeaderMap) -> bool {
    match header(headers, "mcp-protocol-version") {
        None => true,
        Some(version) => {
            version < rmcp::model::ProtocolVersion::V_2026_07_28.as_str()
                && rmcp::model::ProtocolVersion::KNOWN_VERSIONS.iter().any(|v| v.as_str() == version)
        }
    }
}

/// The client takes both answers a POST may get, as rmcp requires.
fn takes_sse(headers: &HeaderMap) -> bool {
    header(headers, ACCEPT.as_str()).is_some_and(|v| v.contains("text/event-stream") && v.contains("application/json"))
}

/// Takes the call, or `Err` when rmcp must (the request's principal or admission cannot be
/// read here).
async fn call(
    fast: &Fast,
    parts: &http::request::Parts,
    session_id: &str,
    session: Arc<FastSession>,
    id: RequestId,
    params: CallParams,
) -> Result<Response, ()> {
    let state = &fast.state;
    let principal = parts.extensions.get::<RequestPrincipal>().ok_or(())?.0.clone();
    let access = Access::new(&state.cache, principal).ok_or(())?;
    let CallParams { name, arguments, meta } = params;
    let token = meta
        .as_ref()
        .and_then(|m| m.get("progressToken"))
        .and_then(|t| serde_json::from_value::<ProgressToken>(t.clone()).ok());
    let ask = Ask { method: Method::CallTool, name: &name };
    let digest = || Some(canopy_mcp::call::object_sha256(arguments.as_ref()));
    let admitted = admit_request(state, &access, &session.scope, ask, Some(&parts.extensions), digest).await;
    drop(access);
    let request = match admitted {
        Ok(admitted) => crate::handler::call_request(state, admitted, Payload::Arguments(arguments)),
        Err(refused) => {
            let error = admission::refusal(&refused, || crate::handler::unknown("tool", &name));
            let message = ServerJsonRpcMessage::error(error, Some(id));
            return Ok(sse_response(Body::from(event(&message))));
        }
    };
    let bus = state.bus.clone();
    let local = canopy_bus::calls::runs_here(&bus);
    let (channel, messages) = state.channels.open(&request.call_id, local);
    let heard = Heard::now();
    let cancelled = CancellationToken::new();
    let key = serde_json::to_string(&id).unwrap_or_default();
    session.calls.lock().expect("calls lock").insert(key.clone(), cancelled.clone());
    fast.shared.started(session_id);
    let span = crate::handler::call_span("tools/call", &request);
    let call_id = request.call_id.clone();
    let reply = {
        let (heard, cancelled) = (heard.clone(), cancelled.clone());
        let bus = bus.clone();
        tracing::Instrument::instrument(
            async move { relay::reply_of(&bus, &request, &cancelled, &heard, local).await },
            span,
        )
    };
    let logs = LogFilter::Session(session.log_level.clone());
    let finish = Finish { name, id };
    let guard = InFlight {
        session,
        key,
        session_id: session_id.to_string(),
        shared: fast.shared.clone(),
        bus,
        call_id,
        done: false,
        _channel: channel,
    };
    let mut stream = CallStream {
        reply: Box::pin(reply),
        messages,
        heard,
        token,
        logs,
        finish: Some(finish),
        local,
        ready: VecDeque::new(),
        draining: None,
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        guard,
    };
    // The response starts with its first event: a call answered within FIRST_EVENT_WITHIN goes
    // out whole, headers and result in one write; a longer one streams from then on.
    let first = tokio::time::timeout(FIRST_EVENT_WITHIN, futures::StreamExt::next(&mut stream)).await;
    Ok(match first {
        Ok(Some(Ok(first))) if stream.is_over() => sse_response(Body::from(first)),
        Ok(Some(first)) => {
            sse_response(Body::from_stream(futures::StreamExt::chain(futures::stream::iter([first]), stream)))
        }
        Ok(None) | Err(_) => sse_response(Body::from_stream(stream)),
    })
}

/// An SSE response as rmcp sends one.
fn sse_response(body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    response
}

/// One SSE event holding `message`.
fn event(message: &ServerJsonRpcMessage) -> Bytes {
    let mut frame = b"data: ".to_vec();
    serde_json::to_writer(&mut frame, message).expect("messages serialise");
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

/// How the reply becomes the response.
struct Finish {
    name: String,
    id: RequestId,
}

impl Finish {
    fn message(self, reply: CallReply) -> ServerJsonRpcMessage {
        match crate::handler::tool_reply(&self.name, reply) {
            Ok(result) => {
                // As rmcp shapes a result for a client of a revision before 2026-07-28.
                let mut result = ServerResult::CallToolResult(result);
                result.strip_result_type_for_legacy_peer();
                result.strip_non_object_output_for_legacy_peer();
                ServerJsonRpcMessage::response(result, self.id)
            }
            Err(error) => ServerJsonRpcMessage::error(error, Some(self.id)),
        }
    }
}

/// What a call in flight here holds: its cancellation by id, its session's in-flight count, its
/// channel; a call whose client went away before its result is cancelled.
struct InFlight {
    session: Arc<FastSession>,
    key: String,
    session_id: String,
    shared: Arc<SharedSessions>,
    bus: canopy_bus::Bus,
    call_id: String,
    done: bool,
    _channel: relay::ChannelGuard,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session.calls.lock().expect("calls lock").remove(&self.key);
        self.shared.finished(&self.session_id);
        if !self.done {
            // As when the client cancels: the worker running the call (this process's, or one
            // over NATS) drops it and tells the upstream.
            let (bus, call_id) = (self.bus.clone(), std::mem::take(&mut self.call_id));
            tokio::spawn(async move { canopy_bus::calls::cancel(&bus, &call_id).await });
        }
    }
}

/// A call's response body: it drives the call and relays what comes meanwhile, then the result.
struct CallStream<F> {
    reply: Pin<Box<F>>,
    messages: UnboundedReceiver<async_nats::Message>,
    heard: Heard,
    token: Option<ProgressToken>,
    logs: LogFilter,
    finish: Option<Finish>,
    local: bool,
    /// Events ready to go out, in order.
    ready: VecDeque<Bytes>,
    /// The reply, while what was sent before it may still be on its way (over NATS).
    draining: Option<(CallReply, u8)>,
    keep_alive: tokio::time::Interval,
    guard: InFlight,
}

impl<F: Future<Output = CallReply>> CallStream<F> {
    /// A message of the call's channel, as what goes to the client (if anything).
    fn take(&mut self, message: async_nats::Message) {
        self.heard.hear();
        let Ok(item) = serde_json::from_slice::<ToClient>(&message.payload) else { return };
        if let ToClient::Request { method, .. } = &item {
            // Only sessions of clients that declared none of these take this route.
            let answer = ClientAnswer::Error {
                code: rmcp::model::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY.0,
                message: format!("the client did not declare the capability {method} needs"),
            };
            relay::answer_unasked(&self.guard.bus.client, &message, answer);
            return;
        }
        if let Some(notification) = relay::notification(item, self.token.as_ref(), &self.logs) {
            self.ready.push_back(event(&ServerJsonRpcMessage::notification(notification)));
        }
    }

    /// Nothing more to send.
    fn is_over(&self) -> bool {
        self.guard.done && self.ready.is_empty()
    }

    fn take_waiting(&mut self) {
        while let Ok(message) = self.messages.try_recv() {
            self.take(message);
        }
    }
}

impl<F: Future<Output = CallReply>> Stream for CallStream<F> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(ready) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(ready)));
            }
            if this.guard.done {
                return Poll::Ready(None);
            }
            if this.draining.is_some() {
                this.take_waiting();
                if !this.ready.is_empty() {
                    continue;
                }
                let rounds = &mut this.draining.as_mut().expect("draining").1;
                if *rounds > 0 {
                    *rounds -= 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let (reply, _) = this.draining.take().expect("draining");
                let finish = this.finish.take().expect("finished once");
                this.ready.push_back(event(&finish.message(reply)));
                this.guard.done = true;
                continue;
            }
            // What the upstream said before its result goes first.
            while let Poll::Ready(Some(message)) = this.messages.poll_recv(cx) {
                this.take(message);
            }
            if !this.ready.is_empty() {
                continue;
            }
            if let Poll::Ready(reply) = this.reply.as_mut().poll(cx) {
                // A worker of this process put everything in the channel before its reply.
                this.take_waiting();
                let rounds = if this.local { 0 } else { STRAGGLER_ROUNDS };
                this.draining = Some((reply, rounds));
                continue;
            }
            if this.keep_alive.poll_tick(cx).is_ready() {
                return Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))));
            }
            return Poll::Pending;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_session_era_revisions_and_well_formed_calls_take_the_short_route() {
        let mut headers = HeaderMap::new();
        assert!(session_era(&headers), "no header: 2025-03-26");
        for (version, session) in
            [("2025-06-18", true), ("2025-11-25", true), ("2026-07-28", false), ("1999-01-01", false)]
        {
            headers.insert("mcp-protocol-version", version.parse().unwrap());
            assert_eq!(session_era(&headers), session, "{version}");
        }
        let params = |v: Value| serde_json::from_value::<CallParams>(v).ok();
        assert!(
            params(serde_json::json!({"name": "a__b", "arguments": {"x": 1}, "_meta": {"progressToken": 3}})).is_some()
        );
        assert!(params(serde_json::json!({"name": "a__b"})).is_some());
        assert!(params(serde_json::json!({"name": "a__b", "task": {}})).is_none(), "a task-augmented call is rmcp's");
        assert!(params(serde_json::json!({"name": "a__b", "arguments": [1]})).is_none());
        assert!(params(serde_json::json!({"arguments": {}})).is_none());
    }
}
