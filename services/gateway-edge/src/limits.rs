//! Rate limits and quotas at the MCP edge ([`canopy_limits`]): `tools/call`, `prompts/get` and
//! `resources/read` count against their tenant's, principal's and (tool calls) tool's budgets in
//! Redis, shared by every edge. The [`Limiter`] travels in the request's extensions (the runtime
//! layers it on the edge's router); without one, or with every limit off, nothing here runs a
//! Redis command or reads a body.
//!
//! Where the edge can tell what a request calls before rmcp gets it, the call is admitted here
//! ([`canopy_admission`]: decided, then counted if admitted) and a call over a limit is answered
//! with HTTP 429 and `Retry-After` (seconds), its body the JSON-RPC error of
//! [`crate::admission::refusal`]: a 2026-07-28 request names its method and target in
//! `Mcp-Method`/`Mcp-Name` (rmcp checks them against the body); a session-era POST is read when
//! it declares a `Content-Length` of at most [`PEEK_LIMIT`] bytes, and handed on to rmcp intact.
//! The decision travels on to the handler in the request's extensions
//! ([`crate::admission::Decided`]), which uses it as it is; anything the middleware could not
//! read (a larger or chunked body, a batch) the handler admits itself, where a limit's refusal
//! can only be a JSON-RPC error: code [`crate::admission::RATE_LIMITED`], a message saying when
//! to retry, and `data` `{"retryAfter": SECONDS, "limit": "tenant"|"principal"|"tool"|"quota"|
//! "unavailable"}`.
//!
//! Only admitted calls are counted: an unknown, disabled or hidden name is refused by the one
//! decision, counts nothing (nor adds a metric label), and is recorded once, by the handler.

use crate::access::{Access, RequestPrincipal};
use crate::admission::{Decided, TenantCatalog};
use crate::EdgeState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use canopy_admission::{Ask, Method as CallMethod, Reason, Scope};
pub use canopy_limits::Limiter;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Session-era bodies up to this size are read to find what they call.
pub const PEEK_LIMIT: usize = 64 * 1024;

/// The middleware of the MCP routes, after authentication and the endpoint check.
pub(crate) async fn check(State(state): State<std::sync::Arc<EdgeState>>, request: Request, next: Next) -> Response {
    let limiter = match request.extensions().get::<Limiter>() {
        Some(limiter) if limiter.is_on() && request.method() == Method::POST => limiter.clone(),
        _ => return next.run(request).await,
    };
    let Some(scope) = Scope::from_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (method_header, name_header) = (header("mcp-method"), header("mcp-name"));
    let declared = header(CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<usize>().ok());
    let (mut request, id, method, name) = match method_header {
        Some(method) => {
            let name = name_header.and_then(|raw| canopy_mcp::param_headers::decode_header_value(&raw));
            (request, None, method, name)
        }
        None => {
            if declared.is_none_or(|length| length > PEEK_LIMIT) {
                return next.run(request).await; // counted by the handler
            }
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, PEEK_LIMIT).await else {
                return (StatusCode::BAD_REQUEST, "the request body does not match its Content-Length").into_response();
            };
            let message = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
            let method = message["method"].as_str().unwrap_or_default().to_string();
            let name = message["params"]["name"].as_str().or_else(|| message["params"]["uri"].as_str());
            let name = name.map(str::to_string);
            let id = message.get("id").cloned();
            (Request::from_parts(parts, Body::from(bytes)), id, method, name)
        }
    };
    let Some(name) = name else { return next.run(request).await };
    let Some(method) = CallMethod::counted_by_name(&method) else { return next.run(request).await };
    let principal = request.extensions().get::<RequestPrincipal>().map(|p| p.0.clone());
    let Some(access) = principal.and_then(|p| Access::new(&state.cache, p)) else {
        return next.run(request).await;
    };
    let catalog = TenantCatalog { cache: &state.cache, tenant: access.tenant.as_str() };
    let decided = canopy_admission::decide(access.who(), &scope, Ask { method, name: &name }, &catalog);
    drop(access); // not held across the Redis call
    let outcome = match decided {
        Ok(admitted) => canopy_admission::count(admitted, Some(&limiter)).await,
        // Refused by the decision: the handler answers (and records) it as for any call.
        Err(refused) => Err(refused),
    };
    let limited = match &outcome {
        Err(refused @ canopy_admission::Refused { reason: Reason::Limited(limited), .. }) => {
            // For the tenant's audit log: a refused call is a call too.
            canopy_admission::record(&state.bus, refused, None);
            limited.clone()
        }
        _ => {
            request.extensions_mut().insert(Decided { method: method.as_str().to_string(), name, outcome });
            return next.run(request).await;
        }
    };
    // A 2026-07-28 request was not read: its id is in the body, read now that it will not go on
    // (small bodies only).
    let id = match id {
        Some(id) => id,
        None if declared.is_some_and(|length| length <= PEEK_LIMIT) => {
            let bytes = axum::body::to_bytes(request.into_body(), PEEK_LIMIT).await.unwrap_or_default();
            serde_json::from_slice::<Value>(&bytes).ok().and_then(|m| m.get("id").cloned()).unwrap_or_default()
        }
        None => Value::Null,
    };
    too_many(&limited, id)
}

/// HTTP 429 (503 when the limits cannot be checked and the deployment fails closed) with
/// `Retry-After`, the body a JSON-RPC error for request `id`.
fn too_many(limited: &canopy_limits::Limited, id: Value) -> Response {
    let status = StatusCode::from_u16(limited.http_status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": rpc_error(limited) });
    let headers = [(RETRY_AFTER, limited.retry_after_secs().to_string()), (CONTENT_TYPE, "application/json".into())];
    (status, headers, body.to_string()).into_response()
}

fn rpc_error(limited: &canopy_limits::Limited) -> Value {
    let refused = crate::admission::refusal_of_limit(limited);
    json!({ "code": refused.code.0, "message": refused.message, "data": refused.data })
}
