//! The REST side of reaching an upstream (invoke, render, read): the same session-worker path
//! as MCP requests, with failures mapped into the error envelope.

use crate::error::ApiError;
use crate::principal::Principal;
use crate::ApiState;
use axum::Extension;
use canopy_api_types::ErrorCode;
use canopy_limits::{Call, Limiter};
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest, Refusal, UpstreamOp};

/// Counts a REST call (invoke, render, read) against the rate limits, the same budgets MCP calls
/// count against; `limiter` is the runtime's (absent: no limits). `tool` only for tool calls.
pub async fn count(
    limiter: Option<&Extension<Limiter>>,
    principal: &Principal,
    server: &str,
    tool: Option<&str>,
) -> Result<(), ApiError> {
    let Some(Extension(limiter)) = limiter else { return Ok(()) };
    let call = Call { tenant: principal.tenant.as_str(), principal: principal.subject(), server, tool };
    limiter.check(&call).await.map_err(|limited| ApiError::limited(&limited))
}

/// Notes a REST call refused before any worker saw it (unknown or denied name, disabled item,
/// rate limit) for the tenant's audit log, as the edge does for MCP calls. Other errors (a
/// malformed request) are not call attempts and are not recorded.
pub fn refused(
    state: &ApiState,
    principal: &Principal,
    server: &str,
    method: &str,
    name: &str,
    arguments_sha256: Option<String>,
    error: &ApiError,
) {
    let why = match error.code {
        ErrorCode::NotFound => Refusal::NotFound,
        ErrorCode::Forbidden if error.challenge.is_some() => Refusal::InsufficientScope,
        ErrorCode::Forbidden => Refusal::Forbidden,
        ErrorCode::RateLimited => Refusal::RateLimited,
        _ => return,
    };
    let record = canopy_mcp::call::CallRecord::refused(
        principal.tenant.as_str(),
        principal.subject(),
        server,
        method,
        name,
        arguments_sha256,
        why,
    );
    canopy_bus::calls::record_later(&state.bus, record);
}

/// `server__item` as (server, item); an unprefixed name has no server.
pub fn split_name(name: &str) -> (&str, &str) {
    name.split_once("__").unwrap_or(("", name))
}

pub async fn request(
    state: &ApiState,
    principal: &Principal,
    server: &str,
    op: UpstreamOp,
    shown_name: &str,
) -> Result<serde_json::Value, ApiError> {
    let row = canopy_readmodels::get_server(state.pool(), &principal.tenant, server)
        .await?
        .ok_or_else(|| crate::servers::server_not_found(server))?;
    let request = CallRequest {
        tenant: principal.tenant.to_string(),
        server: server.to_string(),
        server_id: row.server_id.to_string(),
        op,
        principal: principal.subject().to_string(),
        timeout_ms: state.call_timeout.as_millis() as u64,
        call_id: uuid::Uuid::now_v7().to_string(),
        client_subject: None,
    };
    let span = tracing::info_span!(
        "rest_call",
        method = request.op.kind(),
        tenant = %request.tenant,
        client = %request.principal,
        server = %request.server,
        tool = request.op.label(),
    );
    match tracing::Instrument::instrument(canopy_bus::calls::request(&state.bus, &request), span).await {
        CallReply::Result { result } => Ok(result),
        CallReply::Error { code, message, .. } => {
            Err(ApiError::new(error_code(code), format!("{shown_name} failed: {message}")))
        }
    }
}

fn error_code(code: CallErrorCode) -> ErrorCode {
    match code {
        CallErrorCode::NotFound => ErrorCode::NotFound,
        CallErrorCode::UpstreamUnavailable => ErrorCode::UpstreamUnavailable,
        CallErrorCode::UpstreamError => ErrorCode::UpstreamError,
        CallErrorCode::Timeout | CallErrorCode::Cancelled => ErrorCode::Timeout,
        CallErrorCode::InvalidRequest | CallErrorCode::TooLarge => ErrorCode::InvalidRequest,
        CallErrorCode::Internal => ErrorCode::InternalError,
    }
}
