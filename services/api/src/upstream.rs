//! The REST side of reaching an upstream (invoke, render, read): admitted by the one admission
//! every MCP endpoint uses ([`canopy_admission`]: REST names things as `/mcp` does), then the
//! same session-worker path as MCP requests, with failures mapped into the error envelope.

use crate::error::ApiError;
use crate::principal::Principal;
use crate::ApiState;
use axum::Extension;
use canopy_admission::{Admitted, Ask, Catalog, ItemKind, Listed, Payload, Reason, Refused, Scope};
use canopy_api_types::ErrorCode;
use canopy_domain::group::GroupSpec;
use canopy_domain::ServerId;
use canopy_limits::Limiter;
use canopy_mcp::call::{CallErrorCode, CallReply};
use canopy_readmodels::ServerRow;
use std::sync::Arc;

/// The read-model rows of the one server a REST call's name resolves to: the admission's view
/// of the catalog for that call (REST has no group endpoint, so no groups).
#[derive(Default)]
struct ServerRows {
    server: Option<ServerRow>,
    kind: Option<ItemKind>,
    /// The server's items of `kind`: name (or URI, URI template) and whether it is enabled.
    items: Vec<(String, bool)>,
}

impl ServerRows {
    /// What the admission of `ask` reads: the server its name resolves to, and (when that
    /// server is registered and enabled) its items of the kind asked for.
    async fn of(state: &ApiState, principal: &Principal, ask: &Ask<'_>) -> Result<ServerRows, ApiError> {
        let Some((server, _)) = canopy_admission::resolve(&Scope::All, ask) else { return Ok(ServerRows::default()) };
        let (pool, tenant) = (state.pool(), &principal.tenant);
        let row = canopy_readmodels::get_server(pool, tenant, server).await?;
        if !row.as_ref().is_some_and(|r| r.enabled) {
            return Ok(ServerRows { server: row, ..Default::default() });
        }
        let kind = ask.method.item();
        let items = match kind {
            ItemKind::Tool => canopy_readmodels::list_tools(pool, tenant, Some(server))
                .await?
                .into_iter()
                .map(|r| (r.tool_name, r.enabled))
                .collect(),
            ItemKind::Prompt => canopy_readmodels::list_prompts(pool, tenant, Some(server))
                .await?
                .into_iter()
                .map(|r| (r.prompt_name, r.enabled))
                .collect(),
            ItemKind::Resource | ItemKind::Template => canopy_readmodels::list_resources(pool, tenant, Some(server))
                .await?
                .into_iter()
                .filter(|r| r.is_template == (kind == ItemKind::Template))
                .map(|r| (r.uri, r.enabled))
                .collect(),
        };
        Ok(ServerRows { server: row, kind: Some(kind), items })
    }
}

impl Catalog for ServerRows {
    fn enabled_server(&self, server: &str) -> Option<ServerId> {
        self.server.as_ref().filter(|r| r.name == server && r.enabled).map(|r| ServerId(r.server_id))
    }

    fn item(&self, server: &str, item: ItemKind, name: &str) -> Listed {
        if self.enabled_server(server).is_none() || self.kind != Some(item) {
            return Listed::Absent;
        }
        match self.items.iter().find(|(n, _)| n == name) {
            Some((_, true)) => Listed::Enabled,
            Some((_, false)) => Listed::Disabled,
            None => Listed::Absent,
        }
    }

    fn group(&self, _: &str) -> Option<Arc<GroupSpec>> {
        None
    }
}

/// Admits a REST call (`ask`, its name as on `/mcp`): decided as on every MCP endpoint, counted
/// against the same rate limits (`limiter` is the runtime's; absent: no limits) when admitted,
/// recorded for the audit log when refused. A refusal answers `not_found()` when the name is
/// unknown, disabled or hidden from the principal; the policy's other denials and the limits
/// say why. `arguments_sha256` is asked only for a refusal's record.
pub async fn admit(
    state: &ApiState,
    principal: &Principal,
    limiter: Option<&Extension<Limiter>>,
    ask: Ask<'_>,
    arguments_sha256: impl FnOnce() -> Option<String>,
    not_found: impl FnOnce() -> ApiError,
) -> Result<Admitted, ApiError> {
    let catalog = ServerRows::of(state, principal, &ask).await?;
    let decided = canopy_admission::decide(principal.who(), &Scope::All, ask, &catalog);
    let limiter = limiter.map(|Extension(l)| l);
    canopy_admission::settle(decided, limiter, &state.bus, arguments_sha256)
        .await
        .map_err(|refused| refusal(&refused, not_found))
}

/// A refused call as the REST answer.
fn refusal(refused: &Refused, not_found: impl FnOnce() -> ApiError) -> ApiError {
    match &refused.reason {
        Reason::NotFound => not_found(),
        Reason::Denied(denial) => crate::principal::denied(*denial, not_found),
        Reason::Limited(limited) => ApiError::limited(limited),
    }
}

/// Sends an admitted call to a worker, as it was admitted, and waits for its result (or the
/// worker's silence: a REST caller is not kept waiting for the timeout by a worker that died).
pub async fn request(
    state: &ApiState,
    admitted: Admitted,
    payload: Payload,
    shown_name: &str,
) -> Result<serde_json::Value, ApiError> {
    let request = admitted.into_request(payload, state.call_timeout, None);
    let span = tracing::info_span!(
        "rest_call",
        method = request.op.kind(),
        tenant = %request.tenant,
        client = %request.principal,
        server = %request.server,
        tool = request.op.label(),
    );
    match tracing::Instrument::instrument(canopy_bus::calls::request_unattended(&state.bus, request), span).await {
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
