//! Server-side checks of `Mcp-Param-*` headers (SEP-2243, protocol 2026-07-28).
//!
//! A tool parameter annotated with `"x-mcp-header": "Name"` is mirrored by clients into an
//! `Mcp-Param-Name` HTTP header on `tools/call`. rmcp does the client side but not this server
//! side, so [`check`] (an axum middleware in front of the MCP service) does it for the fixture:
//! for a 2026-07-28 `tools/call` of a tool with annotated parameters, each header must match
//! the body value (a `=?base64?...?=` value is decoded first and must be valid base64; anything
//! else is literal), and a value present in the body must have its header. A mismatch is
//! HTTP 400 with JSON-RPC error `-32020` (HeaderMismatch).

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use http::{header::CONTENT_TYPE, Method, StatusCode};
use rmcp::model::Tool;
use serde_json::{json, Value};

/// Largest request body the check buffers (bigger bodies pass through unchecked).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// JSON-RPC error code of a header/body mismatch.
pub const HEADER_MISMATCH: i64 = -32020;

/// For each tool with annotated parameters: `(parameter, header suffix)`.
#[derive(Debug, Default, Clone)]
pub struct ParamHeaders(Arc<HashMap<String, Vec<(String, String)>>>);

impl ParamHeaders {
    pub fn from_tools(tools: &[Tool]) -> Self {
        let mut map = HashMap::new();
        for tool in tools {
            let Some(Value::Object(props)) = tool.input_schema.get("properties") else {
                continue;
            };
            let params: Vec<(String, String)> = props
                .iter()
                .filter_map(|(name, schema)| {
                    let header = schema.get("x-mcp-header")?.as_str()?;
                    (!header.is_empty()).then(|| (name.clone(), header.to_owned()))
                })
                .collect();
            if !params.is_empty() {
                map.insert(tool.name.to_string(), params);
            }
        }
        Self(Arc::new(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Decode a header value: `=?base64?X?=` is strict standard base64 (padding required) of UTF-8;
/// anything else is the literal (trimmed) value. `None` when the base64 form is invalid.
pub fn decode_header_value(raw: &str) -> Option<String> {
    let raw = raw.trim();
    match raw.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(raw.to_owned()),
    }
}

/// The header form of a body value (`None` for null and non-primitives).
fn body_value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
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
    let args = &message["params"]["arguments"];
    for (param, suffix) in annotated {
        let header_name = format!("mcp-param-{}", suffix.to_ascii_lowercase());
        let header = headers.get(&header_name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let expected = args.get(param).and_then(body_value_text);
        match (expected, header) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(mismatch(&id, format!("missing header Mcp-Param-{suffix} for argument {param:?}")))
            }
            (None, Some(_)) => {
                return Err(mismatch(&id, format!("header Mcp-Param-{suffix} given but argument {param:?} is absent")))
            }
            (Some(expected), Some(raw)) => match decode_header_value(&raw) {
                None => return Err(mismatch(&id, format!("header Mcp-Param-{suffix} is not valid base64"))),
                Some(actual) if actual != expected && actual != expected.trim() => {
                    return Err(mismatch(&id, format!("header Mcp-Param-{suffix} does not match argument {param:?}")))
                }
                Some(_) => {}
            },
        }
    }
    Ok(())
}

/// The middleware: only 2026-07-28 (or later) POSTs are checked.
pub async fn check(State(params): State<ParamHeaders>, request: Request, next: Next) -> Response {
    let modern = request
        .headers()
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() >= "2026-07-28");
    if params.is_empty() || request.method() != Method::POST || !modern {
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
    fn decodes_header_values() {
        assert_eq!(decode_header_value("=?base64?SGVsbG8=?=").as_deref(), Some("Hello"));
        assert_eq!(decode_header_value("=?base64?SGVsbG8?="), None, "missing padding");
        assert_eq!(decode_header_value("=?base64?SGVs!!!bG8=?="), None, "bad chars");
        assert_eq!(decode_header_value("SGVsbG8=").as_deref(), Some("SGVsbG8="));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8=").as_deref(),
            Some("=?base64?SGVsbG8="),
            "no suffix: literal"
        );
        assert_eq!(decode_header_value("  us-west1 ").as_deref(), Some("us-west1"));
    }

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
