//! Tool calls posted to a Streamable HTTP upstream by the worker itself, on the session rmcp's
//! client opened, instead of through that client.
//!
//! Why: rmcp's client hands every request through two tasks of its own (the service loop and
//! the transport's worker) and a third per response stream, and parses every message into
//! typed structs that the worker turns back into JSON; on a warm connection that is most of
//! what the worker adds to a call (the hot path's measurements, `loadtest/`). Here the call is
//! one HTTP request on the same pooled connection ([`crate::streamable`]), written from the
//! call's JSON and answered with the result's JSON as the upstream sent it.
//!
//! What still belongs to rmcp's client: the session (initialize, the GET stream, its end),
//! every other request, and everything on the GET stream. A call is posted directly only once
//! rmcp has posted on the connection ([`crate::streamable::Posted`]: the session id, the
//! credentials, the custom headers and the negotiated protocol version come from there), and
//! only to a protocol revision with `initialize` (2026-07-28 puts per-request metadata and
//! headers on each request, which rmcp's client adds). A call whose caller listens goes through
//! rmcp's client when the upstream declared `logging`: such a server may send the call's log
//! messages on its GET stream, and only rmcp's client, which reads both streams, keeps them
//! ahead of the result ([`crate::progress::Tally`]).
//!
//! What travels on the call's response stream is handled as rmcp's client handler does
//! ([`crate::upstream::UpstreamClient`]), in the upstream's order, before the result: progress
//! under the call's token and log messages go to the call's caller (a log message on the
//! call's own stream belongs to it, even with other calls in flight); the upstream's requests
//! (sampling, elicitation, roots) are asked of the caller and answered with a post of their
//! own, `ping` at once; list changes and resource updates as on the GET stream. The request's
//! id and progress token are `canopy-N`, which rmcp's numeric ids never are, so the
//! connection's other bookkeeping (cancellation by id, [`crate::progress::ActiveCalls`]) works
//! unchanged.

use crate::progress::{progress_message, send_to_client, ActiveCall};
use crate::streamable::{Posted, QuickAckHttpClient, RawResponse, Recorder};
use crate::upstream::{Connection, UpstreamClient};
use futures::StreamExt;
use rmcp::model::ErrorCode;
use rmcp::transport::streamable_http_client::{StreamableHttpError, StreamableHttpResponseLimits};
use rmcp::ErrorData;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One Streamable HTTP connection's way to post tool calls itself.
pub(crate) struct Direct {
    http: QuickAckHttpClient,
    posted: Arc<Recorder>,
}

/// Why a direct call failed.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The upstream answered with a JSON-RPC error.
    Rpc(ErrorData),
    /// The connection or session cannot carry the call (or lost it before its result): the
    /// connection is dropped, as for rmcp's transport errors.
    Connection(String),
    /// The upstream took the call but its answer was lost (its stream broke or ended first):
    /// whether the tool ran is unknown, so the call is not sent again.
    Lost(String),
}

impl From<rmcp::service::ServiceError> for Failed {
    fn from(error: rmcp::service::ServiceError) -> Self {
        match error {
            rmcp::service::ServiceError::McpError(e) => Failed::Rpc(e),
            other => Failed::Connection(other.to_string()),
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The id (and progress token) of the next direct request.
pub(crate) fn next_id() -> String {
    format!("canopy-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

#[derive(Serialize)]
struct Request<'a> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'static str,
    params: Params<'a>,
}

#[derive(Serialize)]
struct Params<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Map<String, Value>>,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<Meta<'a>>,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "progressToken")]
    progress_token: &'a str,
}

impl Direct {
    pub(crate) fn new(http: QuickAckHttpClient, posted: Arc<Recorder>) -> Self {
        Self { http, posted }
    }

    /// How to post a call on `connection` directly, when it can be (see the module's
    /// comment); `listening`: the call's caller hears what the upstream says meanwhile.
    pub(crate) fn ready(&self, connection: &Connection, listening: bool) -> Option<Posted> {
        let info = connection.peer().peer_info()?;
        if !info.protocol_version.has_initialize() {
            return None;
        }
        // A server that logs may send a call's log messages on its GET stream (rmcp's servers
        // send every notification but progress there), which nothing orders with the call's
        // result on its own response: rmcp's client reads both, and the call's reply waits
        // for what it read before the result (`crate::progress::Tally`).
        if listening && info.capabilities.logging.is_some() {
            return None;
        }
        self.posted.last()
    }

    /// Calls `tool` with `arguments` as request `id`, relaying what the upstream says
    /// meanwhile to `call`'s caller (none: nobody listens, and questions are refused).
    pub(crate) async fn call_tool(
        &self,
        posted: &Posted,
        client: &UpstreamClient,
        id: &str,
        tool: &str,
        arguments: Option<&Map<String, Value>>,
        call: Option<&ActiveCall>,
    ) -> Result<Value, Failed> {
        let meta = call.map(|_| Meta { progress_token: id });
        let request =
            Request { jsonrpc: "2.0", id, method: "tools/call", params: Params { name: tool, arguments, meta } };
        let body = serde_json::to_vec(&request).expect("tool calls serialise");
        let limits = StreamableHttpResponseLimits::default();
        let events = match self.http.post_raw(posted, body.into(), &limits).await {
            Ok(RawResponse::Json(raw)) => return response(&raw, id),
            Ok(RawResponse::Accepted) => {
                return Err(Failed::Connection("the upstream accepted the call without answering it".into()))
            }
            Ok(RawResponse::Events(events)) => events,
            Err(e) => return Err(connection_failed(e)),
        };
        let mut events = events;
        // The upstream's questions are answered concurrently (it may ask several at once, and
        // a 2026-07-28 caller answers them in one round); those still open when the call ends
        // are dropped with it.
        let mut answering = tokio::task::JoinSet::new();
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| Failed::Lost(format!("reading the upstream's response failed: {e}")))?;
            let Some(data) = event.data.filter(|data| !data.trim().is_empty()) else { continue };
            let Ok(message) = serde_json::from_str::<Value>(&data) else {
                tracing::debug!(server = %client.server(), "an event that is no JSON on a call's stream");
                continue;
            };
            match message.get("method").and_then(Value::as_str) {
                Some(method) if message.get("id").is_some() => {
                    let (http, posted, client) = (self.http.clone(), posted.clone(), client.clone());
                    let (call, method) = (call.cloned(), method.to_string());
                    answering
                        .spawn(async move { answer(&http, &posted, &client, call.as_ref(), &method, &message).await });
                }
                Some(method) => notification(client, call, id, method, &message).await,
                None if message.get("id").and_then(Value::as_str) == Some(id) => {
                    return result_of(message);
                }
                None => {}
            }
        }
        Err(Failed::Lost("the upstream's response stream ended before its result".into()))
    }
}

/// Answers the upstream's request `message` (asked of the caller of `call`) with a post.
async fn answer(
    http: &QuickAckHttpClient,
    posted: &Posted,
    client: &UpstreamClient,
    call: Option<&ActiveCall>,
    method: &str,
    message: &Value,
) {
    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    let answer = match method {
        "ping" => Ok(json!({})),
        "sampling/createMessage" | "elicitation/create" | "roots/list" => {
            crate::upstream::ask_caller(client.bus(), call, method, params).await
        }
        other => Err(ErrorData::new(ErrorCode::METHOD_NOT_FOUND, format!("method not found: {other}"), None)),
    };
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let reply = match answer {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e }),
    };
    let body = serde_json::to_vec(&reply).expect("answers serialise");
    let limits = StreamableHttpResponseLimits::default();
    if let Err(e) = http.post_raw(posted, body.into(), &limits).await {
        tracing::info!(server = %client.server(), error = %e, "an answer to the upstream could not be posted");
    }
}

/// A notification on the call's stream.
async fn notification(client: &UpstreamClient, call: Option<&ActiveCall>, id: &str, method: &str, message: &Value) {
    let params = &message["params"];
    match method {
        "notifications/progress" => {
            let mine = params.get("progressToken").and_then(Value::as_str) == Some(id);
            let (Some(call), Some(bus), true) = (call, client.bus(), mine) else { return };
            let Some(progress) = params.get("progress").and_then(Value::as_f64) else { return };
            let total = params.get("total").and_then(Value::as_f64);
            let text = params.get("message").and_then(Value::as_str).map(str::to_string);
            send_to_client(bus, &call.subject, &progress_message(progress, total, text)).await;
        }
        "notifications/message" => {
            let (Some(call), Some(bus)) = (call, client.bus()) else { return };
            let log = canopy_mcp::call::ToClient::Log { params: params.clone() };
            send_to_client(bus, &call.subject, &log).await;
        }
        "notifications/tools/list_changed"
        | "notifications/prompts/list_changed"
        | "notifications/resources/list_changed" => client.catalog_changed(),
        "notifications/resources/updated" => {
            if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                client.resource_updated(uri.to_string()).await;
            }
        }
        _ => {}
    }
}

/// The result of a JSON response to request `id`.
fn response(raw: &[u8], id: &str) -> Result<Value, Failed> {
    let message: Value = serde_json::from_slice(raw)
        .map_err(|e| Failed::Connection(format!("the upstream's response is no JSON: {e}")))?;
    match message.get("id") {
        Some(Value::String(answered)) if answered == id => result_of(message),
        // A JSON-RPC error the upstream could not tie to the request (e.g. its body was refused).
        Some(Value::Null) | None if message.get("error").is_some() => result_of(message),
        _ => Err(Failed::Connection("the upstream answered another request".into())),
    }
}

/// A JSON-RPC response's result, or its error.
fn result_of(mut message: Value) -> Result<Value, Failed> {
    if let Some(result) = message.get_mut("result") {
        return Ok(result.take());
    }
    match message.get_mut("error").map(Value::take) {
        Some(error) => match serde_json::from_value::<ErrorData>(error) {
            Ok(error) => Err(Failed::Rpc(error)),
            Err(e) => Err(Failed::Connection(format!("the upstream's error is malformed: {e}"))),
        },
        None => Err(Failed::Connection("the upstream's response has neither a result nor an error".into())),
    }
}

fn connection_failed(error: StreamableHttpError<crate::streamable::ClientError>) -> Failed {
    Failed::Connection(match error {
        StreamableHttpError::SessionExpired => "the upstream's session expired".to_string(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use std::sync::Mutex;

    fn direct() -> Direct {
        let (http, posted) = crate::http::UpstreamHttp::new(None, true).unwrap().streamable().recording();
        Direct::new(http, posted)
    }

    /// Serves `router`; its base URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    fn sse(events: &[Value]) -> axum::response::Response {
        // A priming event (no data) first, as rmcp's servers send.
        let mut body = String::from("id: 0\ndata: \n\n");
        for event in events {
            body.push_str(&format!("data: {event}\n\n"));
        }
        ([(http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }

    use axum::response::IntoResponse;

    /// An upstream at `/PATH` that answers a tools/call as `answer` says and notes every
    /// body posted to it (the calls, and the answers to its own requests, which get 202).
    fn upstream(seen: Arc<Mutex<Vec<Value>>>, answer: fn(&Value) -> axum::response::Response) -> axum::Router {
        axum::Router::new().route(
            "/mcp",
            post(move |body: axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body.0.clone());
                    match body.0.get("method") {
                        Some(_) => answer(&body.0),
                        None => http::StatusCode::ACCEPTED.into_response(),
                    }
                }
            }),
        )
    }

    #[tokio::test]
    async fn a_json_answer_is_the_result_as_the_upstream_sent_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let base = serve(upstream(seen.clone(), |call| {
            let result = json!({"content": [{"type": "text", "text": "hi"}], "x-not-in-any-schema": [1, 2]});
            axum::Json(json!({"jsonrpc": "2.0", "id": call["id"], "result": result})).into_response()
        }))
        .await;
        let client = UpstreamClient::detached("fx");
        let posted = Posted::at(&format!("{base}/mcp"), Some("s-1"));
        let arguments = json!({"message": "hi"}).as_object().cloned();
        let id = next_id();
        let result = direct().call_tool(&posted, &client, &id, "echo", arguments.as_ref(), None).await.unwrap();
        assert_eq!(result["x-not-in-any-schema"], json!([1, 2]), "fields rmcp does not know are kept");
        assert_eq!(result["content"][0]["text"], "hi");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0],
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"}}})
        );
    }

    #[tokio::test]
    async fn the_upstreams_requests_on_the_calls_stream_are_answered_before_its_result() {
        // The upstream asks three things at once and answers the call once all three are
        // answered, as a server waiting on its client does.
        let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
        let answers =
            |seen: &Mutex<Vec<Value>>| seen.lock().unwrap().iter().filter(|m| m.get("method").is_none()).count();
        let router = {
            let seen = seen.clone();
            axum::Router::new().route(
                "/mcp",
                post(move |body: axum::Json<Value>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(body.0.clone());
                        if body.0.get("method").is_none() {
                            return http::StatusCode::ACCEPTED.into_response();
                        }
                        let asks = [
                            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}),
                            json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
                            json!({"jsonrpc": "2.0", "id": 8, "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}),
                            json!({"jsonrpc": "2.0", "id": 9, "method": "tasks/unheard-of"}),
                        ];
                        let asks = asks.iter().map(|m| format!("data: {m}\n\n")).collect::<String>();
                        let result = json!({"jsonrpc": "2.0", "id": body.0["id"], "result": {"content": []}});
                        let rest = async move {
                            for _ in 0..1000 {
                                if answers(&seen) == 3 {
                                    break;
                                }
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            }
                            Ok::<_, std::convert::Infallible>(format!("data: {result}\n\n"))
                        };
                        let events = futures::stream::once(async move { Ok(asks) }).chain(futures::stream::once(rest));
                        ([(http::header::CONTENT_TYPE, "text/event-stream")], axum::body::Body::from_stream(events))
                            .into_response()
                    }
                }),
            )
        };
        let base = serve(router).await;
        let client = UpstreamClient::detached("fx");
        let posted = Posted::at(&format!("{base}/mcp"), None);
        let result = direct().call_tool(&posted, &client, &next_id(), "echo", None, None).await.unwrap();
        assert_eq!(result, json!({"content": []}));
        let seen = seen.lock().unwrap();
        let mut answers: Vec<&Value> = seen.iter().filter(|m| m.get("method").is_none()).collect();
        assert_eq!(answers.len(), 3, "{seen:?}");
        answers.sort_by_key(|a| a["id"].as_i64());
        assert_eq!(*answers[0], json!({"jsonrpc": "2.0", "id": 7, "result": {}}));
        // Nobody listens to this call: the question is refused, not sent to another caller.
        assert_eq!(answers[1]["id"], 8);
        assert!(answers[1]["error"]["message"].as_str().unwrap().contains("cannot tell"), "{}", answers[1]);
        assert_eq!(answers[2]["error"]["code"], -32601);
    }

    #[tokio::test]
    async fn an_upstream_error_a_lost_answer_and_an_expired_session_are_told_apart() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let error = serve(upstream(seen.clone(), |call| {
            let error = json!({"code": -32602, "message": "no such tool", "data": {"tool": "nope"}});
            axum::Json(json!({"jsonrpc": "2.0", "id": call["id"], "error": error})).into_response()
        }))
        .await;
        let lost = serve(upstream(seen.clone(), |_| sse(&[]))).await;
        let gone = serve(upstream(seen.clone(), |_| http::StatusCode::NOT_FOUND.into_response())).await;
        let client = UpstreamClient::detached("fx");
        let call = |base: String, session: Option<&'static str>| {
            let client = client.clone();
            async move {
                let posted = Posted::at(&format!("{base}/mcp"), session);
                direct().call_tool(&posted, &client, &next_id(), "nope", None, None).await
            }
        };
        match call(error, None).await {
            Err(Failed::Rpc(e)) => {
                assert_eq!((e.code.0, e.message.as_ref()), (-32602, "no such tool"));
                assert_eq!(e.data, Some(json!({"tool": "nope"})));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(call(lost, None).await, Err(Failed::Lost(_))));
        match call(gone, Some("s-1")).await {
            Err(Failed::Connection(message)) => assert!(message.contains("expired"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
