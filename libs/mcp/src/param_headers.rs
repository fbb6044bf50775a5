//! `Mcp-Param-*` headers (SEP-2243, protocol 2026-07-28): a tool parameter annotated with
//! `"x-mcp-header": "Name"` is mirrored by clients into an `Mcp-Param-Name` HTTP header on
//! `tools/call`, so that proxies can route on it without reading the body. A server must check
//! that each header matches its argument (a `=?base64?...?=` value is decoded first and must
//! be valid base64; anything else is literal), and that an argument present in the body has
//! its header; a mismatch is HTTP 400 with JSON-RPC error `-32020` (HeaderMismatch).
//!
//! Shared by the gateway edge (which checks what its clients send before relaying) and the
//! fixture server (which checks as an upstream would).

use base64::Engine as _;
use serde_json::Value;

/// JSON-RPC error code of a header/body mismatch.
pub const HEADER_MISMATCH: i64 = -32020;

/// The first protocol revision with `Mcp-Param-*` headers.
pub const SINCE: &str = "2026-07-28";

/// Whether an `MCP-Protocol-Version` header value is a revision that has these headers.
pub fn applies_to(protocol_version: Option<&str>) -> bool {
    protocol_version.is_some_and(|v| v.trim() >= SINCE)
}

/// The annotated parameters of a tool's `inputSchema`: `(parameter, header suffix)`.
pub fn annotated(input_schema: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let Some(Value::Object(properties)) = input_schema.get("properties") else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(name, schema)| {
            let header = schema.get("x-mcp-header")?.as_str()?;
            (!header.is_empty()).then(|| (name.clone(), header.to_owned()))
        })
        .collect()
}

/// A header value: `=?base64?X?=` is strict standard base64 (padding required) of UTF-8;
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

/// The header form of an argument (`None` for null and non-primitives).
fn argument_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks one `tools/call`'s headers against its arguments. `header` looks a header up by its
/// lower-case name and gives its raw bytes. `Err` is the message of the `-32020` error.
pub fn check(
    annotated: &[(String, String)],
    header: impl Fn(&str) -> Option<Vec<u8>>,
    arguments: &Value,
) -> Result<(), String> {
    for (param, suffix) in annotated {
        let header = header(&format!("mcp-param-{}", suffix.to_ascii_lowercase()));
        let expected = arguments.get(param).and_then(argument_text);
        match (expected, header) {
            (None, None) => {}
            (Some(_), None) => return Err(format!("missing header Mcp-Param-{suffix} for argument {param:?}")),
            (None, Some(_)) => return Err(format!("header Mcp-Param-{suffix} given but argument {param:?} is absent")),
            (Some(expected), Some(raw)) => {
                let Ok(raw) = String::from_utf8(raw) else {
                    return Err(format!("header Mcp-Param-{suffix} is not valid UTF-8"));
                };
                match decode_header_value(&raw) {
                    None => return Err(format!("header Mcp-Param-{suffix} is not valid base64")),
                    Some(actual) if actual != expected && actual != expected.trim() => {
                        return Err(format!("header Mcp-Param-{suffix} does not match argument {param:?}"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn checks_headers_against_arguments() {
        let schema = json!({
            "type": "object",
            "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
                "priority": { "type": "integer", "x-mcp-header": "Priority" },
                "q": { "type": "string" }
            }
        });
        let annotated = annotated(schema.as_object().unwrap());
        assert_eq!(annotated.len(), 2);
        let ok = |headers: &[(&str, &str)], args: Value| {
            let lookup = |name: &str| {
                headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_bytes().to_vec())
            };
            check(&annotated, lookup, &args).is_ok()
        };
        let args = json!({ "region": "us", "priority": 42, "q": "x" });
        assert!(ok(&[("Mcp-Param-Region", "us"), ("mcp-param-priority", "42")], args.clone()));
        assert!(ok(&[("Mcp-Param-Region", "=?base64?dXM=?="), ("Mcp-Param-Priority", "42")], args.clone()));
        assert!(!ok(&[("Mcp-Param-Priority", "42")], args.clone()), "missing header");
        assert!(!ok(&[("Mcp-Param-Region", "eu"), ("Mcp-Param-Priority", "42")], args.clone()), "mismatch");
        assert!(!ok(&[("Mcp-Param-Region", "=?base64?dXM?="), ("Mcp-Param-Priority", "42")], args), "bad base64");
        assert!(ok(&[], json!({ "q": "x" })));
        assert!(!ok(&[("Mcp-Param-Region", "us")], json!({})), "header without argument");
        assert!(applies_to(Some("2026-07-28")) && !applies_to(Some("2025-11-25")) && !applies_to(None));
    }
}
