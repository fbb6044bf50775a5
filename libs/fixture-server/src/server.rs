//! [`FixtureServer`]: the `rmcp` server handler (server info, capabilities, paginated
//! `tools/list`, `tools/call` dispatch into [`crate::tools`]; with
//! [`FixtureOptions::conformance`] also prompts, resources, resource templates, completion,
//! logging and resource subscriptions, from [`crate::prompts`] and [`crate::resources`]).
#![allow(deprecated)] // logging (SEP-2577) is deprecated in rmcp but still part of the suite.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, CompletionInfo, ErrorData,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
        ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, Reference, ServerCapabilities, ServerConfig,
        SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::{RequestContext, SubscriptionContext, SubscriptionSendError},
    RoleServer, ServerHandler,
};
use serde_json::Value;

use crate::{
    mrtr::{self, StateCodec},
    options::FixtureOptions,
    prompts, resources,
    tools::{self, FixtureTool, ToolCall},
};

/// Whether this request speaks protocol 2026-07-28 (or later).
pub(crate) fn is_2026(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version().is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// A change worth telling `subscriptions/listen` streams about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    ToolListChanged,
    PromptListChanged,
    ResourceUpdated(String),
}

/// Fan-out of [`Change`]s to every open `subscriptions/listen` stream of one server.
#[derive(Debug)]
pub struct Changes {
    tx: tokio::sync::broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self { tx: tokio::sync::broadcast::channel(64).0 }
    }
}

impl Changes {
    /// Tell every current listener (nobody listening is fine).
    pub fn announce(&self, change: Change) {
        let _ = self.tx.send(change);
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

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

/// Severity rank of a logging level (`debug` = 0 .. `emergency` = 7).
fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// What one MCP session of the fixture remembers: the `logging/setLevel` level and the
/// `resources/subscribe` URIs. (Without sessions, every request starts afresh.)
#[derive(Debug, Default)]
pub struct SessionState {
    log_level: Mutex<Option<LoggingLevel>>,
    subscriptions: Mutex<BTreeSet<String>>,
}

impl SessionState {
    /// The level set by `logging/setLevel`, if any.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        *self.log_level.lock().unwrap()
    }

    /// URIs subscribed with `resources/subscribe` (and not unsubscribed).
    pub fn subscriptions(&self) -> Vec<String> {
        self.subscriptions.lock().unwrap().iter().cloned().collect()
    }

    /// Send `notifications/message` for this request when `level` passes the filter: on
    /// session-era protocols the session's level (everything before `logging/setLevel`); on
    /// 2026-07-28 the request's `_meta` `io.modelcontextprotocol/logLevel` (nothing when
    /// absent).
    pub async fn log(&self, ctx: &RequestContext<RoleServer>, level: LoggingLevel, data: Value) {
        let threshold = if is_2026(ctx) {
            match ctx.meta.log_level() {
                Some(l) => l,
                None => return,
            }
        } else {
            self.log_level().unwrap_or(LoggingLevel::Debug)
        };
        if level_rank(level) < level_rank(threshold) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, data).with_logger(SERVER_NAME);
        if let Err(e) = ctx.peer.notify_logging_message(param).await {
            tracing::debug!("log notification not delivered: {e}");
        }
    }
}

struct Inner {
    options: FixtureOptions,
    tools: Vec<FixtureTool>,
    stats: Arc<FixtureStats>,
    codec: Arc<StateCodec>,
    changes: Arc<Changes>,
}

/// The fixture MCP server. Cheap to clone: clones share the tool catalogue, the
/// [`FixtureStats`] and the [`SessionState`]; [`FixtureServer::for_new_session`] gives a clone
/// with fresh session state (the HTTP service factory hands one to each session).
#[derive(Clone)]
pub struct FixtureServer {
    inner: Arc<Inner>,
    session: Arc<SessionState>,
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
                codec: Arc::new(StateCodec::new()),
                changes: Arc::new(Changes::default()),
            }),
            session: Arc::new(SessionState::default()),
        }
    }

    /// Announce a change to `subscriptions/listen` streams (2026-07-28).
    pub fn announce(&self, change: Change) {
        self.inner.changes.announce(change);
    }

    /// A handler for a new MCP session: same catalogue and stats, fresh [`SessionState`].
    pub fn for_new_session(&self) -> Self {
        Self { inner: self.inner.clone(), session: Arc::new(SessionState::default()) }
    }

    /// This handler's session state.
    pub fn session(&self) -> Arc<SessionState> {
        self.session.clone()
    }

    fn conformance(&self) -> bool {
        self.inner.options.conformance
    }

    fn require_conformance<M: rmcp::model::ConstString>(&self) -> Result<(), ErrorData> {
        if self.conformance() {
            Ok(())
        } else {
            Err(ErrorData::method_not_found::<M>())
        }
    }

    pub fn options(&self) -> &FixtureOptions {
        &self.inner.options
    }

    /// Every tool definition, in `tools/list` order, exactly as served (compare them with
    /// what a gateway relays).
    pub fn tool_definitions(&self) -> Vec<Tool> {
        self.inner.tools.iter().map(|t| t.definition.clone()).collect()
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
                .ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor: {cursor:?}"), None))?,
        };
        let end = match self.inner.options.effective_page_size() {
            Some(size) => start.saturating_add(size).min(all.len()),
            None => all.len(),
        };
        let tools = all[start..end].iter().map(|t| t.definition.clone()).collect();
        let mut result = ListToolsResult::with_all_items(tools);
        if end < all.len() {
            result.next_cursor = Some(format!("{CURSOR_PREFIX}{end}"));
        }
        Ok(result)
    }
}

impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = if self.conformance() {
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources_subscribe()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build()
        };
        let instructions = if self.conformance() {
            "Test fixture for Canopy: echo, add, fail, slow, whoami, extra_N, plus the MCP \
             conformance suite's test_* tools, prompts and test:// resources."
        } else {
            "Test fixture for Canopy: echo, add, fail, slow, whoami, extra_N."
        };
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")).with_title("Canopy fixture MCP server"),
            )
            .with_instructions(instructions)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.inner.stats.tools_list_requests.fetch_add(1, Ordering::SeqCst);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        self.tools_page(cursor)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let answered = self.inner.stats.tool_calls.fetch_add(1, Ordering::SeqCst);
        if self.inner.options.exit_after_calls.is_some_and(|limit| answered >= limit) {
            eprintln!("canopy-fixture: exiting after {answered} calls (--exit-after-calls)");
            std::process::exit(3);
        }
        let tool = self
            .find_tool(&request.name)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown tool: {}", request.name), None))?;
        let call = ToolCall {
            name: tool.definition.name.to_string(),
            args: request.arguments.unwrap_or_default(),
            ctx: context,
            stats: self.inner.stats.clone(),
            session: self.session.clone(),
            input_responses: request.input_responses,
            request_state: request.request_state,
            codec: self.inner.codec.clone(),
            changes: self.inner.changes.clone(),
        };
        (tool.handler)(call).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.require_conformance::<rmcp::model::SetLevelRequestMethod>()?;
        *self.session.log_level.lock().unwrap() = Some(request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.require_conformance::<rmcp::model::CompleteRequestMethod>()?;
        let argument = &request.argument;
        let candidates = match &request.r#ref {
            Reference::Prompt(p) => {
                if !prompts::catalogue().iter().any(|c| c.name == p.name) {
                    return Err(ErrorData::invalid_params(format!("unknown prompt: {}", p.name), None));
                }
                prompts::completion_candidates(&p.name, &argument.name)
            }
            Reference::Resource(r) => resources::completion_candidates(&r.uri, &argument.name),
            _ => None,
        };
        let values: Vec<String> = candidates
            .unwrap_or_default()
            .iter()
            .filter(|v| v.starts_with(argument.value.as_str()))
            .map(|v| v.to_string())
            .collect();
        let completion = CompletionInfo::with_all_values(values).map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(completion))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.require_conformance::<rmcp::model::ListPromptsRequestMethod>()?;
        Ok(ListPromptsResult::with_all_items(prompts::catalogue()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.require_conformance::<rmcp::model::GetPromptRequestMethod>()?;
        if request.name != prompts::INPUT_REQUIRED_PROMPT {
            return prompts::get(&request.name, request.arguments.as_ref()).map(Into::into);
        }
        let args = request.arguments.clone().unwrap_or_default();
        let outcome = mrtr::drive(
            &context,
            &self.inner.codec,
            prompts::INPUT_REQUIRED_PROMPT,
            &args,
            request.input_responses,
            request.request_state,
            prompts::input_required_step,
            |what| Err(ErrorData::invalid_request(format!("the client does not support {what}"), None)),
        )
        .await?;
        match outcome {
            mrtr::Outcome::Complete(result) => result.map(Into::into),
            mrtr::Outcome::InputRequired(result) => Ok(result.into()),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.require_conformance::<rmcp::model::ListResourcesRequestMethod>()?;
        Ok(ListResourcesResult::with_all_items(resources::catalogue()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.require_conformance::<rmcp::model::ListResourceTemplatesRequestMethod>()?;
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.require_conformance::<rmcp::model::ReadResourceRequestMethod>()?;
        resources::read(&request.uri).map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.require_conformance::<rmcp::model::SubscribeRequestMethod>()?;
        if !resources::exists(&request.uri) {
            return Err(ErrorData::resource_not_found(format!("resource not found: {}", request.uri), None));
        }
        self.session.subscriptions.lock().unwrap().insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.require_conformance::<rmcp::model::UnsubscribeRequestMethod>()?;
        self.session.subscriptions.lock().unwrap().remove(&request.uri);
        Ok(())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.find_tool(name).map(|t| t.definition.clone())
    }

    /// 2026-07-28 `subscriptions/listen`: accept what was asked for (rmcp intersects it with
    /// the advertised capabilities); the tool list never changes, so the default `listen`
    /// just waits for the subscription to end.
    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    /// Relay announced [`Change`]s (e.g. from `test_trigger_tool_change`) to the stream; the
    /// sink drops what the client did not ask for.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.inner.changes.subscribe();
        loop {
            let change = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let sent = match change {
                Ok(Change::ToolListChanged) => context.sink().notify_tool_list_changed().await,
                Ok(Change::PromptListChanged) => context.sink().notify_prompt_list_changed().await,
                Ok(Change::ResourceUpdated(uri)) => context.sink().notify_resource_updated(uri).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            };
            match sent {
                Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                Err(SubscriptionSendError::SubscriptionClosed) => return Ok(()),
                Err(e) => tracing::debug!("subscription notification not sent: {e}"),
            }
        }
    }
}
