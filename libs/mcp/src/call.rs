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
    pub server_id: String,
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
}

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
            CallErrorCode::Internal => "INTERNAL_ERROR",
        }
    }
}

/// One tool call, as recorded on the LOGS stream (high volume: not an aggregate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub tenant: String,
    pub server: String,
    /// `tools/call`, `prompts/get` or `resources/read`.
    pub method: String,
    /// The tool, prompt or resource URI.
    pub target: String,
    pub principal: String,
    pub outcome: String,
    pub is_error: bool,
    pub latency_us: u64,
    pub at: String,
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
}
