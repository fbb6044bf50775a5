//! Protocol answers the edge gives in front of rmcp (3.11), where rmcp's own are not what a
//! JSON-RPC client understands. rmcp decides these, so they are fixed here, in the middleware
//! closest to it, rather than in rmcp:
//!
//! - A POST body rmcp cannot deserialize as one JSON-RPC message (malformed JSON, invalid
//!   UTF-8, a batch, a JSON value that is not a JSON-RPC message) gets HTTP 415 with a plain-text
//!   body from rmcp (`expect_json`). It gets HTTP 400 with a JSON-RPC error instead: `-32700`
//!   (parse error) when the body is not JSON, `-32600` (invalid request) for a batch or a
//!   non-JSON-RPC value, `-32602` (invalid params) for a JSON-RPC 2.0 message whose params
//!   do not fit its method. A 415 for a `Content-Type` that is not `application/json` is
//!   rmcp's, and right, and stays.
//! - `DELETE` of a session nobody holds (not this edge, not Redis) gets 404 like every other
//!   request on an unknown session (rmcp answers 202 whatever the id).
//! - A session refused by a session cap ([`crate::session_caps`]) is HTTP 429 (the principal's
//!   cap) or 503 (the edge's) with `Retry-After`, a JSON-RPC error `-32030` naming the cap
//!   (rmcp would answer 500 with plain text).
//!
//! The hot path pays no second read or parse: a POST's body is handed to rmcp as it arrives,
//! its chunks only remembered (reference-counted, not copied), and looked at when rmcp has
//! refused it or a session cap has; only then is the body parsed again. (The rate-limit
//! middleware, [`crate::limits`], reads small session-era bodies before rmcp when limits are
//! on; it hands them on as one chunk, which this middleware remembers the same way.)
//! Answers rmcp gives after parsing, such as the 2026-07-28 era's header/body mismatch (400,
//! `-32020`), pass unchanged.

use crate::access::RequestPrincipal;
use crate::redis_store::RedisStores;
use crate::session_caps::{Opening, Refusal, OPENING, SESSION_CAP_REACHED};
use crate::sessions::SharedSessions;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// rmcp's limit on a POST body: more is refused (413) before it is parsed.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct Front {
    pub sessions: Arc<SharedSessions>,
    pub stores: RedisStores,
}

/// The middleware in front of rmcp on the MCP routes (innermost: after authentication, the
/// endpoint check and rate limits).
pub(crate) async fn front(State(front): State<Arc<Front>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == Method::DELETE {
        return delete(&front, request, next).await;
    }
    if method != Method::POST && method != Method::GET {
        return next.run(request).await;
    }
    let principal = request.extensions().get::<RequestPrincipal>().map(|p| {
        let tenant = p.0.tenant.as_ref().map(|t| t.as_str()).unwrap_or_default();
        Arc::<str>::from(format!("{tenant}/{}", p.0.subject))
    });
    let opening =
        Arc::new(Opening { principal: principal.unwrap_or_else(|| Arc::from("")), refused: Mutex::default() });
    let (request, seen) =
        if method == Method::POST && is_json(request.headers()) { remembered(request) } else { (request, None) };
    let response = OPENING.scope(opening.clone(), next.run(request)).await;
    let refused = opening.refused.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(refusal) = refused {
        let id = seen
            .and_then(|seen| serde_json::from_slice::<Value>(&seen.bytes()).ok())
            .and_then(|m| m.get("id").cloned());
        return cap_reached(refusal, id.unwrap_or(Value::Null), front.sessions.retry_after_secs());
    }
    match seen {
        Some(seen) if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            let detail = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
            malformed(&seen.bytes(), &String::from_utf8_lossy(&detail))
        }
        _ => response,
    }
}

/// A request body's chunks as rmcp reads them.
struct Seen(Arc<Mutex<Vec<Bytes>>>);

impl Seen {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).concat()
    }
}

/// The request with a body that remembers its chunks (up to rmcp's limit).
fn remembered(request: Request) -> (Request, Option<Seen>) {
    let chunks: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let (parts, body) = request.into_parts();
    let kept = chunks.clone();
    let mut size = 0usize;
    let stream = body.into_data_stream().inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            if size <= MAX_BODY {
                size += chunk.len();
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(chunk.clone());
            }
        }
    });
    (Request::from_parts(parts, Body::from_stream(stream)), Some(Seen(chunks)))
}

/// `Content-Type: application/json` (with parameters or not), as rmcp checks it.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|value| {
        let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
        essence.trim().eq_ignore_ascii_case("application/json")
    })
}

/// HTTP 400 with the JSON-RPC error for a body rmcp could not take (`detail`: rmcp's words).
fn malformed(body: &[u8], detail: &str) -> Response {
    let detail = detail.trim();
    let (code, message, id) = match serde_json::from_slice::<Value>(body) {
        Err(e) => (-32700, format!("Parse error: the request body is not JSON ({e})"), Value::Null),
        Ok(Value::Array(_)) => (
            -32600,
            "Invalid Request: JSON-RPC batches are not supported (MCP removed batching in 2025-06-18); \
             send one message per request"
                .to_string(),
            Value::Null,
        ),
        Ok(message) => {
            let id = message.get("id").filter(|id| id.is_string() || id.is_number()).cloned();
            let method = message.get("method").and_then(Value::as_str);
            let well_formed = message.get("jsonrpc") == Some(&json!("2.0"))
                && (id.is_some() || message.get("id").is_none())
                && method.is_some();
            match method.filter(|_| well_formed) {
                Some(method) => (-32602, format!("Invalid params for '{method}'"), id.unwrap_or(Value::Null)),
                None => (
                    -32600,
                    "Invalid Request: the body is not a JSON-RPC 2.0 request, notification or response".to_string(),
                    id.unwrap_or(Value::Null),
                ),
            }
        }
    };
    let mut error = json!({"code": code, "message": message});
    if !detail.is_empty() {
        error["data"] = json!({ "detail": detail });
    }
    rpc_error(StatusCode::BAD_REQUEST, id, error, None)
}

/// HTTP 429 or 503 with `Retry-After` and the JSON-RPC error naming the cap.
fn cap_reached(refusal: Refusal, id: Value, retry_after: u64) -> Response {
    let (status, cap, max) = match refusal {
        Refusal::Principal { max } => (StatusCode::TOO_MANY_REQUESTS, "principal", max),
        Refusal::Edge { max } => (StatusCode::SERVICE_UNAVAILABLE, "edge", max),
    };
    let error = json!({
        "code": SESSION_CAP_REACHED,
        "message": refusal.to_string(),
        "data": {"cap": cap, "maxSessions": max, "retryAfter": retry_after},
    });
    rpc_error(status, id, error, Some(retry_after))
}

fn rpc_error(status: StatusCode, id: Value, error: Value, retry_after: Option<u64>) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": error}).to_string();
    let mut response = (status, [(CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, http::HeaderValue::from(secs));
    }
    response
}

/// `DELETE` of a session-era session: 404 unless this edge holds it or Redis has it (where
/// another edge may hold it); rmcp itself answers 202 for any id. A 2026-07-28 request has no
/// session and goes on to rmcp (405), and so does a DELETE without a session id (400).
async fn delete(front: &Front, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let session_era = header("mcp-protocol-version").is_none_or(|version| version < "2026-07-28");
    let Some(session) = header("mcp-session-id").filter(|_| session_era).map(str::to_string) else {
        return next.run(request).await;
    };
    if front.sessions.holds(&session).await {
        return next.run(request).await;
    }
    let mut redis = front.stores.connection();
    let stored: Result<bool, _> =
        redis::cmd("EXISTS").arg(front.stores.session_key(&session)).query_async(&mut redis).await;
    match stored {
        Ok(false) => (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response(),
        // Stored, or Redis cannot tell: rmcp ends it as far as it can.
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(body: &[u8]) -> (StatusCode, Value) {
        let response = malformed(body, "fail to deserialize request body");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bodies_rmcp_refuses_get_json_rpc_errors() {
        let (status, body) = answer(b"{not json").await;
        assert_eq!(
            (status, &body["error"]["code"], &body["id"]),
            (StatusCode::BAD_REQUEST, &json!(-32700), &Value::Null)
        );
        assert_eq!(answer(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}").await.1["error"]["code"], -32700);
        assert_eq!(answer(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await.1["error"]["code"], -32600);
        let (_, body) = answer(br#"{"hello":"world","id":7}"#).await;
        assert_eq!((&body["error"]["code"], &body["id"]), (&json!(-32600), &json!(7)));
        let (_, body) = answer(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":5}"#).await;
        assert_eq!((&body["error"]["code"], &body["id"]), (&json!(-32602), &json!("a")));
    }
}
