//! The MCP server each client session talks to: `tools/list` from the cache, `tools/call`
//! routed to a session-worker. Tool execution problems come back as tool results with
//! `isError: true` ("NAME failed: CODE: message"); protocol problems (unknown tool, an
//! upstream's own JSON-RPC error) stay JSON-RPC errors, as the upstream would have sent them.

use crate::EdgeState;
use canopy_domain::TenantId;
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest};
use canopy_mcp::names;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

#[derive(Clone)]
pub struct GatewayHandler {
    state: EdgeState,
    tenant: TenantId,
}

impl GatewayHandler {
    pub fn for_tenant(state: EdgeState, tenant: TenantId) -> Self {
        Self { state, tenant }
    }
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("canopy", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.state.cache.prefixed_tools(self.tenant.as_str());
        Ok(ListToolsResult::with_all_items(tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let unknown = || ErrorData::invalid_params(format!("unknown tool '{name}'"), None);
        let (server, tool) = names::split(&name).ok_or_else(unknown)?;
        let cached = self
            .state
            .cache
            .server(self.tenant.as_str(), server)
            .ok_or_else(unknown)?;
        if !cached.tools.iter().any(|t| t.name == tool) {
            return Err(unknown());
        }
        let call = CallRequest {
            tenant: self.tenant.to_string(),
            server: server.to_string(),
            server_id: cached.server_id.clone(),
            tool: tool.to_string(),
            arguments: request.arguments,
            principal: "anonymous".into(),
            timeout_ms: self.state.call_timeout.as_millis() as u64,
        };
        match canopy_bus::calls::request(&self.state.bus, &call).await {
            CallReply::Result { result } => serde_json::from_value::<CallToolResult>(result)
                .map(CallToolResponse::Complete)
                .map_err(|e| {
                    ErrorData::internal_error(
                        format!("upstream result for '{name}' is malformed: {e}"),
                        None,
                    )
                }),
            CallReply::Error {
                code: CallErrorCode::UpstreamError,
                message,
            } => Err(ErrorData::new(
                ErrorCode::INTERNAL_ERROR,
                format!("{name}: {message}"),
                None,
            )),
            CallReply::Error {
                code: CallErrorCode::NotFound,
                ..
            } => Err(unknown()),
            CallReply::Error { code, message } => {
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(format!("{name} failed: {}: {message}", code.as_str())),
                ])))
            }
        }
    }
}
