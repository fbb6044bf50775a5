//! [`FixtureServer`]: the `rmcp` server handler (server info, capabilities, paginated
//! `tools/list`, `tools/call` dispatch into [`crate::tools`]).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
    },
    service::RequestContext,
    RoleServer, ServerHandler,
};

use crate::{
    options::FixtureOptions,
    tools::{self, FixtureTool, ToolCall},
};

/// `serverInfo.name` of the fixture.
pub const SERVER_NAME: &str = "canopy-fixture";

/// Prefix of the opaque `tools/list` cursors this server mints.
const CURSOR_PREFIX: &str = "fixture-offset:";

/// Counters shared by every session of one fixture server, so tests can check what reached
/// the upstream.
#[derive(Debug, Default)]
pub struct FixtureStats {
    tools_list_requests: AtomicU64,
    tool_calls: AtomicU64,
    cancelled_calls: AtomicU64,
}

impl FixtureStats {
    /// Number of `tools/list` requests received (every page counts).
    pub fn tools_list_requests(&self) -> u64 {
        self.tools_list_requests.load(Ordering::SeqCst)
    }

    /// Number of `tools/call` requests received (including unknown tools).
    pub fn tool_calls(&self) -> u64 {
        self.tool_calls.load(Ordering::SeqCst)
    }

    /// Number of tool calls that stopped early because their request was cancelled
    /// (`notifications/cancelled`, or a closed response stream in stateless HTTP).
    pub fn cancelled_calls(&self) -> u64 {
        self.cancelled_calls.load(Ordering::SeqCst)
    }

    pub(crate) fn record_cancelled(&self) {
        self.cancelled_calls.fetch_add(1, Ordering::SeqCst);
    }
}

struct Inner {
    options: FixtureOptions,
    tools: Vec<FixtureTool>,
    stats: Arc<FixtureStats>,
}

/// The fixture MCP server. Cheap to clone: clones share the tool catalogue and the
/// [`FixtureStats`] (the HTTP service factory hands one clone to each session).
#[derive(Clone)]
pub struct FixtureServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FixtureServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureServer")
            .field("options", &self.inner.options)
            .field("tools", &self.inner.tools.len())
            .finish()
    }
}

impl FixtureServer {
    pub fn new(options: FixtureOptions) -> Self {
        let tools = tools::catalogue(&options);
        Self {
            inner: Arc::new(Inner {
                options,
                tools,
                stats: Arc::new(FixtureStats::default()),
            }),
        }
    }

    pub fn options(&self) -> &FixtureOptions {
        &self.inner.options
    }

    /// Every tool definition, in `tools/list` order, exactly as served (compare them with
    /// what a gateway relays).
    pub fn tool_definitions(&self) -> Vec<Tool> {
        self.inner
            .tools
            .iter()
            .map(|t| t.definition.clone())
            .collect()
    }

    pub fn stats(&self) -> Arc<FixtureStats> {
        self.inner.stats.clone()
    }

    fn find_tool(&self, name: &str) -> Option<&FixtureTool> {
        self.inner.tools.iter().find(|t| t.definition.name == name)
    }

    /// One page of `tools/list`. Cursors are opaque strings minted here; an unknown cursor is
    /// `-32602 Invalid params`.
    fn tools_page(&self, cursor: Option<&str>) -> Result<ListToolsResult, ErrorData> {
        let all = &self.inner.tools;
        let start = match cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n <= all.len())
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("invalid cursor: {cursor:?}"), None)
                })?,
        };
        let end = match self.inner.options.effective_page_size() {
            Some(size) => start.saturating_add(size).min(all.len()),
            None => all.len(),
        };
        let tools = all[start..end]
            .iter()
            .map(|t| t.definition.clone())
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        if end < all.len() {
            result.next_cursor = Some(format!("{CURSOR_PREFIX}{end}"));
        }
        Ok(result)
    }
}

impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(
            Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION"))
                .with_title("Canopy fixture MCP server"),
        )
        .with_instructions("Test fixture for Canopy: echo, add, fail, slow, whoami, extra_N.")
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.inner
            .stats
            .tools_list_requests
            .fetch_add(1, Ordering::SeqCst);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        self.tools_page(cursor)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.inner.stats.tool_calls.fetch_add(1, Ordering::SeqCst);
        let tool = self.find_tool(&request.name).ok_or_else(|| {
            ErrorData::invalid_params(format!("unknown tool: {}", request.name), None)
        })?;
        let call = ToolCall {
            name: tool.definition.name.to_string(),
            args: request.arguments.unwrap_or_default(),
            ctx: context,
            stats: self.inner.stats.clone(),
        };
        (tool.handler)(call).await.map(CallToolResponse::from)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.find_tool(name).map(|t| t.definition.clone())
    }

    /// 2026-07-28 `subscriptions/listen`: accept what was asked for (rmcp intersects it with
    /// the advertised capabilities); the tool list never changes, so the default `listen`
    /// just waits for the subscription to end.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }
}
