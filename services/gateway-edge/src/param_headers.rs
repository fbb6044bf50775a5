//! `Mcp-Param-*` headers (SEP-2243) of 2026-07-28 `tools/call` requests, checked at the edge
//! before anything is relayed: the tool's `inputSchema` (from the catalog cache, under the
//! endpoint's names) says which arguments must be mirrored in which header, and a mismatch is
//! HTTP 400 with JSON-RPC error `-32020`. The edge is the server its clients talk to, so the
//! check is its job; upstreams are reached in their own protocol revision. The logic is
//! `canopy_mcp::param_headers`, shared with the fixture server.

use crate::access::{Access, RequestPrincipal};
use crate::EdgeState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use canopy_admission::Scope;
use canopy_mcp::param_headers::{self, HEADER_MISMATCH};
use canopy_policy::{Action, Target};
use http::{header::CONTENT_TYPE, Method, StatusCode};
use serde_json::{json, Value};

/// Largest request body the check reads; a larger one is refused (MCP requests are small).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub async fn check(State(state): State<std::sync::Arc<EdgeState>>, request: Request, next: Next) -> Response {
    let version = request.headers().get("mcp-protocol-version").and_then(|v| v.to_str().ok());
    if request.method() != Method::POST || !param_headers::applies_to(version) {
        return next.run(request).await;
    }
    let Some(scope) = Scope::from_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("request bodies are limited to {MAX_BODY} bytes"))
            .into_response();
    };
    if let Err(message) = validate(&state, &scope, &parts, &bytes) {
        let (id, message) = message;
        let body = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": HEADER_MISMATCH, "message": message } });
        return (StatusCode::BAD_REQUEST, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn validate(
    state: &EdgeState,
    scope: &Scope,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<(), (Value, String)> {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // not JSON: the MCP service answers it
    };
    if message["method"] != "tools/call" {
        return Ok(());
    }
    let Some(name) = message["params"]["name"].as_str() else { return Ok(()) };
    // An unknown tool, or one the principal may not use, is the MCP service's error to give.
    let Some((server, tool)) = scope.resolve(name) else { return Ok(()) };
    let principal = parts.extensions.get::<RequestPrincipal>().map(|p| p.0.clone());
    let Some(access) = principal.and_then(|p| Access::new(&state.cache, p)) else { return Ok(()) };
    if !access.decide(Action::Use, &Target::tool(server, tool)).is_allow() {
        return Ok(());
    }
    let Some(cached) = state.cache.server(access.tenant.as_str(), server) else { return Ok(()) };
    let Some(tool) = cached.tools.iter().find(|t| t.name == tool) else { return Ok(()) };
    let annotated = param_headers::annotated(&tool.input_schema);
    if annotated.is_empty() {
        return Ok(());
    }
    let header = |name: &str| parts.headers.get(name).map(|v| v.as_bytes().to_vec());
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    param_headers::check(&annotated, header, &message["params"]["arguments"]).map_err(|m| (id, m))
}
