//! The protocol between gateway edge (or REST) and session-worker for requests that reach an
//! upstream (tool calls, prompt gets, resource reads), carried by NATS request/reply on
//! `PREFIX.calls.TENANT.SERVER`. Results travel as the upstream's JSON, untouched, so nothing
//! the upstream said is lost in between.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    pub tenant: String,
    pub server: String,
    /// The registration the caller saw; a worker holding another one reconnects first.
    pub server_id: uuid::Uuid,
    /// What to ask the upstream, in the upstream's own names (unprefixed, original URIs).
    pub op: UpstreamOp,
    /// Who called, for the call record.
    pub principal: String,
    /// Milliseconds the caller will wait; the worker gives up at the same time.
    pub timeout_ms: u64,
    /// Unique per call: a cancellation names it (`PREFIX.cancel.CALL_ID`).
    #[serde(default)]
    pub call_id: String,
    /// Where the worker sends what the upstream says to the caller while the call runs
    /// ([`ToClient`]: progress, log messages, sampling/elicitation/roots requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_subject: Option<String>,
    /// The caller as admission decided for it (a `canopy_policy::Principal`, as JSON: its kind,
    /// role or allow list, and its token's scopes), so a built-in server that asks the policy
    /// again (the `grid` tools, through canopy-jobs) decides for the same principal without a
    /// second authentication. Absent from older edges: a built-in then refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<serde_json::Value>,
}

/// What an upstream sends the caller of a call while it runs, on the call's client subject.
/// Requests (sampling, elicitation, roots) arrive as NATS requests and are answered with a
/// [`ClientAnswer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToClient {
    Progress(ProgressUpdate),
    /// A `notifications/message` (its params, as JSON).
    Log {
        params: serde_json::Value,
    },
    /// A server-to-client request: `sampling/createMessage`, `elicitation/create`, `roots/list`.
    Request {
        method: String,
        params: serde_json::Value,
    },
    /// The call's reply, sent here too when the call asked its client something: a 2026-07-28
    /// client answers with a new HTTP request (MRTR), possibly on another edge, which waits
    /// for the rest of the call on this subject and not on the first request's reply inbox.
    Reply {
        reply: CallReply,
    },
    /// The worker still runs the call: sent every [`ALIVE_EVERY`] while it does (a call that
    /// ends sooner sends none, so a quick call costs nothing). An edge that hears nothing of a
    /// call for [`SILENT_FOR`] gives it up as lost with its worker (`kill -9`, a crash, a cut
    /// connection) instead of waiting for the caller's timeout. Older edges ignore it.
    Alive,
}

/// How often a worker says a call it runs is still alive ([`ToClient::Alive`]).
pub const ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long an edge waits without hearing anything of a call before it gives it up as lost
/// with its worker: four missed signs of life.
pub const SILENT_FOR: std::time::Duration = std::time::Duration::from_secs(4);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClientAnswer {
    Result { result: serde_json::Value },
    Error { code: i32, message: String },
}

/// One `notifications/progress` of an upstream, on its way back to the caller, who puts its
/// own progress token on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressUpdate {
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UpstreamOp {
    CallTool {
        tool: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    },
    GetPrompt {
        prompt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    },
    ReadResource {
        uri: String,
    },
    /// `completion/complete`, its params already in the upstream's names.
    Complete {
        params: serde_json::Value,
    },
    /// `resources/subscribe`: the worker subscribes upstream and publishes the upstream's
    /// `notifications/resources/updated` on `PREFIX.updated.TENANT.SERVER`.
    Subscribe {
        uri: String,
    },
}

/// An upstream's `notifications/resources/updated`, on its way to the edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceUpdated {
    pub tenant: String,
    pub server: String,
    /// The upstream's own URI.
    pub uri: String,
}

impl UpstreamOp {
    /// The name the call record uses: the tool, prompt or resource.
    pub fn target(&self) -> &str {
        match self {
            UpstreamOp::CallTool { tool, .. } => tool,
            UpstreamOp::GetPrompt { prompt, .. } => prompt,
            UpstreamOp::ReadResource { uri } => uri,
            UpstreamOp::Complete { .. } => "completion",
            UpstreamOp::Subscribe { uri } => uri,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamOp::CallTool { .. } => "tools/call",
            UpstreamOp::GetPrompt { .. } => "prompts/get",
            UpstreamOp::ReadResource { .. } => "resources/read",
            UpstreamOp::Complete { .. } => "completion/complete",
            UpstreamOp::Subscribe { .. } => "resources/subscribe",
        }
    }

    /// The tool or prompt called, as a metric label (the `tool` of `{tenant, client, server,
    /// tool}`): `""` for resource URIs, which are open-ended, and for completions.
    pub fn label(&self) -> &str {
        match self {
            UpstreamOp::CallTool { tool, .. } => tool,
            UpstreamOp::GetPrompt { prompt, .. } => prompt,
            UpstreamOp::ReadResource { .. } | UpstreamOp::Complete { .. } | UpstreamOp::Subscribe { .. } => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CallReply {
    /// The upstream answered: a `CallToolResult`, `GetPromptResult` or `ReadResourceResult` as
    /// JSON (a tool result may itself have `isError`).
    Result { result: serde_json::Value },
    /// The call did not reach a result: the gateway reports this as a JSON-RPC / REST error.
    Error {
        code: CallErrorCode,
        message: String,
        /// With `UpstreamError`: the upstream's own JSON-RPC error, relayed as it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rpc: Option<RpcError>,
    },
}

/// A JSON-RPC error object as an upstream sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallErrorCode {
    /// The server or tool does not exist (any more).
    NotFound,
    /// The upstream could not be reached or failed the connection.
    UpstreamUnavailable,
    /// The upstream answered with a JSON-RPC error.
    UpstreamError,
    /// The call took longer than its timeout.
    Timeout,
    /// The caller cancelled the call.
    Cancelled,
    InvalidRequest,
    /// The call is larger than the message bus carries (its arguments, mostly): refused before
    /// it was sent.
    TooLarge,
    Internal,
}

impl CallErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            CallErrorCode::NotFound => "NOT_FOUND",
            CallErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            CallErrorCode::UpstreamError => "UPSTREAM_ERROR",
            CallErrorCode::Timeout => "TIMEOUT",
            CallErrorCode::Cancelled => "CANCELLED",
            CallErrorCode::InvalidRequest => "INVALID_REQUEST",
            CallErrorCode::TooLarge => "PAYLOAD_TOO_LARGE",
            CallErrorCode::Internal => "INTERNAL_ERROR",
        }
    }
}

/// One tool call, as recorded on the LOGS stream (high volume: not an aggregate), and what the
/// audit log keeps of it (`GET /api/v0/audit`): who, which tenant, server and name, a digest of
/// the arguments (never the arguments), the outcome and the latency.
/// What one message on the LOGS stream's `toolcalls` subjects holds: the records of one tenant's
/// calls that a process had to send at once (a JSON array), or one record (also what processes
/// before batching sent).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallRecords {
    Many(Vec<CallRecord>),
    One(CallRecord),
}

impl CallRecords {
    pub fn into_vec(self) -> Vec<CallRecord> {
        match self {
            CallRecords::Many(records) => records,
            CallRecords::One(record) => vec![record],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call's id ([`CallRequest::call_id`]): the audit log keeps each call once by it.
    #[serde(default)]
    pub call_id: String,
    pub tenant: String,
    pub server: String,
    /// `tools/call`, `prompts/get`, `resources/read`, `completion/complete` or `resources/subscribe`.
    pub method: String,
    /// The tool, prompt or resource URI.
    pub target: String,
    pub principal: String,
    /// `ok`, `tool_error` (the tool answered with `isError: true`) or `error` (no result; see
    /// `error_code`).
    pub outcome: String,
    /// With `outcome` `error`: the [`CallErrorCode`], e.g. `UPSTREAM_ERROR`, `TIMEOUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub is_error: bool,
    /// [`arguments_sha256`] of the call's arguments, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_sha256: Option<String>,
    pub latency_us: u64,
    /// When the call ended (RFC 3339).
    pub at: String,
}

/// Why a call was refused before any worker saw it: its record's `error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such item, or none this principal may know of (the caller got the same answer).
    NotFound,
    /// The principal may know it but not do this (a disabled item, a role's limit).
    Forbidden,
    /// The token lacks the scope.
    InsufficientScope,
    RateLimited,
    /// The call was larger than the message bus carries.
    TooLarge,
}

impl Refusal {
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "NOT_FOUND",
            Refusal::Forbidden => "FORBIDDEN",
            Refusal::InsufficientScope => "INSUFFICIENT_SCOPE",
            Refusal::RateLimited => "RATE_LIMITED",
            Refusal::TooLarge => "PAYLOAD_TOO_LARGE",
        }
    }
}

impl CallRecord {
    /// The record of a call refused before any worker saw it (an unknown name, one outside the
    /// caller's view or scopes, a rate limit): outcome `error`, `why` as its code, latency 0.
    pub fn refused(
        tenant: &str,
        principal: &str,
        server: &str,
        method: &str,
        target: &str,
        arguments_sha256: Option<String>,
        why: Refusal,
    ) -> Self {
        CallRecord {
            call_id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.to_string(),
            server: server.to_string(),
            method: method.to_string(),
            target: target.to_string(),
            principal: principal.to_string(),
            outcome: Self::ERROR.to_string(),
            error_code: Some(why.code().to_string()),
            is_error: true,
            arguments_sha256,
            latency_us: 0,
            at: chrono::Utc::now().to_rfc3339(),
        }
    }

    pub const OK: &'static str = "ok";
    pub const TOOL_ERROR: &'static str = "tool_error";
    pub const ERROR: &'static str = "error";

    /// The outcome, error code and `is_error` of a reply, as a record states them.
    pub fn outcome_of(reply: &CallReply) -> (&'static str, Option<&'static str>, bool) {
        match reply {
            CallReply::Result { result } => match result.get("isError").and_then(|v| v.as_bool()) {
                Some(true) => (Self::TOOL_ERROR, None, true),
                _ => (Self::OK, None, false),
            },
            CallReply::Error { code, .. } => (Self::ERROR, Some(code.as_str()), true),
        }
    }
}

/// The lowercase hex SHA-256 of an operation's arguments as canonical JSON ([`canonical_json`]):
/// a tool call's or prompt get's `arguments` (none: `{}`), a completion's params; `None` for
/// operations without arguments (resource reads, subscriptions). Equal arguments give equal
/// digests whatever the order of their keys, and the digest does not reveal them.
pub fn arguments_sha256(op: &UpstreamOp) -> Option<String> {
    let mut value = String::new();
    match op {
        UpstreamOp::CallTool { arguments, .. } | UpstreamOp::GetPrompt { arguments, .. } => {
            return Some(object_sha256(arguments.as_ref()))
        }
        UpstreamOp::Complete { params } => write_canonical(&mut value, params),
        UpstreamOp::ReadResource { .. } | UpstreamOp::Subscribe { .. } => return None,
    }
    Some(hex_sha256(&value))
}

/// [`arguments_sha256`] of a tool call's or prompt get's `arguments` (none: `{}`).
pub fn object_sha256(arguments: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    let mut value = String::new();
    write_object(&mut value, arguments.unwrap_or(&serde_json::Map::new()));
    hex_sha256(&value)
}

fn hex_sha256(text: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON in a canonical form, after RFC 8785 (JCS) for everything but the spelling of
/// non-integer numbers: no whitespace, object keys sorted by their UTF-16 code units, strings
/// and numbers as `serde_json` writes them.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => write_object(out, map),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_object(out: &mut String, map: &serde_json::Map<String, serde_json::Value>) {
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("strings serialise"));
        out.push(':');
        write_canonical(out, value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_wire_shape() {
        let r = CallReply::Error { code: CallErrorCode::Timeout, message: "x".into(), rpc: None };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"outcome": "error", "code": "TIMEOUT", "message": "x"})
        );
    }

    #[test]
    fn argument_digests_are_canonical() {
        let args = |v: serde_json::Value| v.as_object().cloned();
        let call = |arguments| UpstreamOp::CallTool { tool: "t".into(), arguments };
        let a = arguments_sha256(&call(args(serde_json::json!({"b": [1, {"y": 2, "x": "é"}], "a": null}))));
        let b = arguments_sha256(&call(args(serde_json::json!({"a": null, "b": [1, {"x": "é", "y": 2}]}))));
        assert_eq!(a, b);
        let text = canonical_json(&serde_json::json!({"b": [1, {"y": 2, "x": "é"}], "a": null}));
        assert_eq!(text, r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
        // sha256 of `{"message":"hi"}`, computed elsewhere; no arguments digest as `{}`.
        assert_eq!(
            arguments_sha256(&call(args(serde_json::json!({"message": "hi"})))).unwrap(),
            "adbd982b8fe0bbd8477f09262028d3ac264001dc36e3c7579905e72c0b718755"
        );
        assert_eq!(
            arguments_sha256(&call(None)).unwrap(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(arguments_sha256(&UpstreamOp::ReadResource { uri: "u".into() }), None);
    }
}
