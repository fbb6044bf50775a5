//! Rate limits and quotas at the MCP edge ([`canopy_limits`]): `tools/call`, `prompts/get` and
//! `resources/read` count against their tenant's, principal's and (tool calls) tool's budgets in
//! Redis, shared by every edge. The [`Limiter`] travels in the request's extensions (the runtime
//! layers it on the edge's router); without one, or with every limit off, nothing here runs a
//! Redis command or reads a body.
//!
//! Where the edge can tell what a request calls before rmcp gets it, a call over a limit is
//! answered with HTTP 429 and `Retry-After` (seconds), its body the JSON-RPC error below: a
//! 2026-07-28 request names its method and target in `Mcp-Method`/`Mcp-Name` (rmcp checks them
//! against the body); a session-era POST is read when it declares a `Content-Length` of at most
//! [`PEEK_LIMIT`] bytes, and handed on to rmcp intact. A call that is counted is marked
//! ([`Counted`]), so the handler does not count it again. Anything else (a larger or chunked
//! body, a batch) is counted by the handler ([`in_stream`]), where a refusal can only be a
//! JSON-RPC error: code [`RATE_LIMITED`], a message saying when to retry, and `data`
//! `{"retryAfter": SECONDS, "limit": "tenant"|"principal"|"tool"|"quota"|"unavailable"}`.
//!
//! Only calls of items the principal may use and the catalog has are counted: an unknown or
//! hidden name is the handler's error to give, and counts nothing (nor adds a metric label).

use crate::access::{Access, RequestPrincipal};
use crate::scope::Scope;
use crate::EdgeState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use canopy_domain::server::FeatureKind;
pub use canopy_limits::Limiter;
use canopy_limits::{Call, Limited};
use canopy_mcp::call::{CallRecord, Refusal};
use canopy_policy::Target;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, StatusCode};
use rmcp::model::ErrorCode;
use rmcp::ErrorData;
use serde_json::{json, Value};

/// The JSON-RPC error code of a refused call (implementation-defined server error range;
/// "429").
pub const RATE_LIMITED: i32 = -32029;

/// Session-era bodies up to this size are read to find what they call.
pub const PEEK_LIMIT: usize = 64 * 1024;

/// A request whose call the middleware counted: its method and the name it calls.
#[derive(Debug, Clone)]
pub(crate) struct Counted {
    method: String,
    name: String,
}

/// The middleware of the MCP routes, after authentication and the endpoint check.
pub(crate) async fn check(State(state): State<EdgeState>, request: Request, next: Next) -> Response {
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
    let principal = request.extensions().get::<RequestPrincipal>().map(|p| p.0.clone());
    // (tenant, subject, server, item, tool), owned: `Access` is not held across the Redis call.
    let counted = principal.and_then(|p| Access::new(&state.cache, p)).and_then(|access| {
        let (server, item, tool) = counted_target(&state, &scope, &access, &method, &name)?;
        Some((access.tenant.to_string(), access.principal.subject.clone(), server, item, tool))
    });
    let Some((tenant, subject, server, item, tool)) = counted else {
        return next.run(request).await;
    };
    let call = Call { tenant: &tenant, principal: &subject, server: &server, tool: tool.as_deref() };
    match limiter.check(&call).await {
        Ok(()) => {
            request.extensions_mut().insert(Counted { method, name });
            next.run(request).await
        }
        Err(limited) => {
            // For the tenant's audit log: a refused call is a call too.
            let refused = CallRecord::refused(&tenant, &subject, &server, &method, &item, None, Refusal::RateLimited);
            canopy_bus::calls::record_later(&state.bus, refused);
            // A 2026-07-28 request was not read: its id is in the body, read now that it will
            // not go on (small bodies only).
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
    }
}

/// The server, the item (in the upstream's names) and (for tool calls) the tool a request calls,
/// when it is a counted method naming an item this principal may use through this endpoint and
/// the catalog has, enabled.
fn counted_target(
    state: &EdgeState,
    scope: &Scope,
    access: &Access,
    method: &str,
    name: &str,
) -> Option<(String, String, Option<String>)> {
    let tenant = access.tenant.as_str();
    let (kind, (server, item)) = match method {
        "tools/call" => (FeatureKind::Tool, scope.resolve(name)?),
        "prompts/get" => (FeatureKind::Prompt, scope.resolve(name)?),
        "resources/read" => (FeatureKind::Resource, scope.resolve_uri(name)?),
        _ => return None,
    };
    let target = match kind {
        FeatureKind::Tool => Target::tool(server, item),
        FeatureKind::Prompt => Target::prompt(server, item),
        _ => Target::resource(server, item),
    };
    if !access.decide(canopy_policy::Action::Use, &target).is_allow() {
        return None;
    }
    let cached = state.cache.server(tenant, server).filter(|s| s.state.enabled)?;
    let known = match kind {
        FeatureKind::Tool => cached.has_tool(item),
        FeatureKind::Prompt => cached.has_prompt(item),
        _ => true, // templates make resource URIs open-ended
    };
    let group = match scope {
        Scope::Group(group) => state.cache.group(tenant, group),
        _ => None,
    };
    if !known || !scope.admits(group.as_deref(), kind, server, item) {
        return None;
    }
    let tool = (kind == FeatureKind::Tool).then(|| item.to_string());
    Some((server.to_string(), item.to_string(), tool))
}

/// HTTP 429 (503 when the limits cannot be checked and the deployment fails closed) with
/// `Retry-After`, the body a JSON-RPC error for request `id`.
fn too_many(limited: &Limited, id: Value) -> Response {
    let status = StatusCode::from_u16(limited.http_status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": rpc_error(limited) });
    let headers = [(RETRY_AFTER, limited.retry_after_secs().to_string()), (CONTENT_TYPE, "application/json".into())];
    (status, headers, body.to_string()).into_response()
}

fn rpc_error(limited: &Limited) -> Value {
    json!({
        "code": RATE_LIMITED,
        "message": limited.message(),
        "data": { "retryAfter": limited.retry_after_secs(), "limit": limited.limit.as_str() },
    })
}

/// Counts a call the middleware did not count (it arrived in a way the edge could not read
/// before rmcp). `method` and `name` are the request's own (`tools/call` and the name the client
/// used); `call` says whose budget it is.
pub(crate) async fn in_stream(
    extensions: &rmcp::model::Extensions,
    method: &str,
    name: &str,
    call: Call<'_>,
) -> Result<(), ErrorData> {
    let Some(parts) = extensions.get::<http::request::Parts>() else { return Ok(()) };
    let Some(limiter) = parts.extensions.get::<Limiter>().filter(|l| l.is_on()) else { return Ok(()) };
    if parts.extensions.get::<Counted>().is_some_and(|c| c.method == method && c.name == name) {
        return Ok(());
    }
    limiter.check(&call).await.map_err(|limited| {
        let data = json!({ "retryAfter": limited.retry_after_secs(), "limit": limited.limit.as_str() });
        ErrorData::new(ErrorCode(RATE_LIMITED), limited.message(), Some(data))
    })
}
