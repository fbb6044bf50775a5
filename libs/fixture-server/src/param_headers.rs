//! Server-side checks of `Mcp-Param-*` headers (SEP-2243, protocol 2026-07-28) for the
//! fixture: rmcp does the client side but not this server side, so [`check`] (an axum
//! middleware in front of the MCP service) applies `canopy_mcp::param_headers` to each
//! 2026-07-28 `tools/call` of a tool with annotated parameters. A mismatch is HTTP 400 with
//! JSON-RPC error `-32020` (HeaderMismatch).

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use canopy_mcp::param_headers::{self as shared, HEADER_MISMATCH};
use http::{header::CONTENT_TYPE, Method, StatusCode};
use rmcp::model::Tool;
use serde_json::{json, Value};

/// Largest request body the check buffers (bigger bodies pass through unchecked).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// For each tool with annotated parameters: `(parameter, header suffix)`.
#[derive(Debug, Default, Clone)]
pub struct ParamHeaders(Arc<HashMap<String, Vec<(String, String)>>>);

impl ParamHeaders {
    pub fn from_tools(tools: &[Tool]) -> Self {
        let map = tools
            .iter()
            .map(|tool| (tool.name.to_string(), shared::annotated(&tool.input_schema)))
            .filter(|(_, params)| !params.is_empty())
            .collect();
        Self(Arc::new(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn mismatch(id: &Value, message: String) -> Box<Response> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": HEADER_MISMATCH, "message": message }
    });
    Box::new((StatusCode::BAD_REQUEST, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}

/// Validate one request's `Mcp-Param-*` headers against its body; `Err` is the 400 response.
fn validate(params: &ParamHeaders, headers: &http::HeaderMap, body: &[u8]) -> Result<(), Box<Response>> {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // not JSON: rmcp answers it
    };
    if message["method"] != "tools/call" {
        return Ok(());
    }
    let Some(annotated) = message["params"]["name"].as_str().and_then(|name| params.0.get(name)) else {
        return Ok(());
    };
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes().to_vec());
    shared::check(annotated, header, &message["params"]["arguments"]).map_err(|m| mismatch(&id, m))
}

/// The middleware: only 2026-07-28 (or later) POSTs are checked.
pub async fn check(State(params): State<ParamHeaders>, request: Request, next: Next) -> Response {
    let version = request.headers().get("mcp-protocol-version").and_then(|v| v.to_str().ok());
    if params.is_empty() || request.method() != Method::POST || !shared::applies_to(version) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        }
    };
    if let Err(response) = validate(&params, &parts.headers, &bytes) {
        return *response;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_against_the_body() {
        let tool = Tool::new(
            "t",
            "d",
            rmcp::model::object(json!({
                "type": "object",
                "properties": {
                    "region": { "type": "string", "x-mcp-header": "Region" },
                    "priority": { "type": "integer", "x-mcp-header": "Priority" },
                    "q": { "type": "string" }
                }
            })),
        );
        let params = ParamHeaders::from_tools(&[tool]);
        let body = |args: Value| {
            serde_json::to_vec(&json!({
                "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": { "name": "t", "arguments": args }
            }))
            .unwrap()
        };
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), http::HeaderValue::from_str(v).unwrap());
            }
            h
        };
        let ok = |h: &http::HeaderMap, b: &[u8]| validate(&params, h, b).is_ok();
        let args = json!({ "region": "us", "priority": 42, "q": "x" });
        assert!(ok(&headers(&[("Mcp-Param-Region", "us"), ("mcp-param-priority", "42")]), &body(args.clone())));
        assert!(ok(
            &headers(&[("Mcp-Param-Region", "=?base64?dXM=?="), ("Mcp-Param-Priority", "42")]),
            &body(args.clone())
        ));
        assert!(!ok(&headers(&[("Mcp-Param-Priority", "42")]), &body(args.clone())));
        assert!(!ok(&headers(&[("Mcp-Param-Region", "eu"), ("Mcp-Param-Priority", "42")]), &body(args.clone())));
        assert!(ok(&headers(&[]), &body(json!({ "q": "x" }))));
        assert!(!ok(&headers(&[("Mcp-Param-Region", "us")]), &body(json!({}))));
        let rejected = validate(&params, &headers(&[]), &body(args)).unwrap_err();
        assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
        // Other methods and tools pass untouched.
        let list = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).unwrap();
        assert!(ok(&headers(&[]), &list));
    }
}
