//! The MCP server each client session talks to. Lists come from the cache, in the scope of the
//! endpoint the session was opened on; calls, prompt gets and resource reads go to a
//! session-worker. Tool execution problems come back as tool results with `isError: true`
//! ("NAME failed: CODE: message"); protocol problems (unknown name, an upstream's own JSON-RPC
//! error) stay JSON-RPC errors, as the upstream would have sent them.
//!
//! One rmcp service serves every endpoint (`/mcp`, `/servers/{server}/mcp`,
//! `/groups/{group}/mcp`, `/v0/groups/{group}/mcp`); each session is bound to the endpoint it
//! was opened on (`GatewayHandler::scope`: a request on another endpoint is refused), whose
//! names are `canopy_admission::Scope`'s.

// Logging and completion capabilities of the earlier revisions are deprecated in 2026-07-28.
#![allow(deprecated)]

use crate::access::Access;
use crate::admission::{self, admit};
use crate::cache::CachedServer;
use crate::fast::{FastSession, FastSessions};
use crate::mrtr::{self, Pending};
use crate::relay::{self, Relayed};
use crate::EdgeState;
use canopy_admission::{Admitted, Ask, ItemKind, Method, Payload, Scope};
use canopy_domain::server::FeatureKind;
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest, ClientAnswer, UpstreamOp};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::model::{InputRequiredResult, InputResponses, ProtocolVersion};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::{Arc, OnceLock};
use tokio::time::Instant;

/// One per MCP session (rmcp's factory makes it before any request is seen). The tenant and
/// what may be seen come from each request's principal ([`Access`]), not from the handler.
#[derive(Clone)]
pub struct GatewayHandler {
    state: EdgeState,
    /// The endpoint this session belongs to, fixed by its first request.
    scope: Arc<OnceLock<Scope>>,
    log_level: crate::relay::SessionLogLevel,
    /// Where this session's tool calls may take the short route ([`crate::fast`]), and its
    /// entry there, which lives as long as this handler.
    fast: Option<Arc<FastSessions>>,
    fast_session: Arc<OnceLock<Arc<FastSession>>>,
}

/// The MCP session a request or notification belongs to (rmcp's `Mcp-Session-Id`).
fn session_id(extensions: &rmcp::model::Extensions) -> Option<String> {
    let parts = extensions.get::<http::request::Parts>()?;
    parts.headers.get("mcp-session-id")?.to_str().ok().map(str::to_string)
}

impl GatewayHandler {
    pub fn new(state: EdgeState) -> Self {
        Self { state, scope: Arc::default(), log_level: Arc::default(), fast: None, fast_session: Arc::default() }
    }

    /// A handler whose session's tool calls the edge may answer on the short route.
    pub(crate) fn with_fast_sessions(state: EdgeState, fast: Arc<FastSessions>) -> Self {
        Self { fast: Some(fast), ..Self::new(state) }
    }

    /// The request's principal and what it may see.
    fn access(&self, extensions: &rmcp::model::Extensions) -> Result<Access, ErrorData> {
        Access::of_request(&self.state.cache, extensions)
    }

    fn scope(&self, extensions: &rmcp::model::Extensions) -> Result<Scope, ErrorData> {
        let path = extensions.get::<http::request::Parts>().map(|p| p.uri.path().to_string()).unwrap_or_default();
        let requested = Scope::from_path(&path)
            .ok_or_else(|| ErrorData::invalid_request(format!("{path} is not an MCP endpoint"), None))?;
        let bound = self.scope.get_or_init(|| requested.clone());
        if *bound != requested {
            return Err(ErrorData::invalid_request("this session belongs to another MCP endpoint", None));
        }
        Ok(requested)
    }

    /// The group's current membership rule, for group endpoints.
    fn group_of(&self, access: &Access, scope: &Scope) -> Option<Arc<canopy_domain::group::GroupSpec>> {
        match scope {
            Scope::Group(name) => self.state.cache.group(access.tenant.as_str(), name),
            _ => None,
        }
    }

    /// One list of this endpoint: each visible server's enabled items that the scope admits,
    /// renamed for the client (`server__name`, `canopy://server/<uri>`, or as they are), then
    /// the principal may discover, then the page `cursor` asks for.
    #[allow(clippy::too_many_arguments)]
    fn visible<T>(
        &self,
        access: &Access,
        scope: &Scope,
        listed: ItemKind,
        cursor: Option<&str>,
        items: impl Fn(&CachedServer) -> Vec<T>,
        key: impl Fn(&T) -> &str,
        rename: impl Fn(&mut T, String),
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        let group = self.group_of(access, scope);
        let mut visible = Vec::new();
        for server in admission::servers(scope, &self.state.cache, access.tenant.as_str()) {
            let name = server.state.name.as_str();
            for mut item in items(&server) {
                if !scope.admits(group.as_deref(), listed.kind(), name, key(&item))
                    || !access.may_discover(&listed.target(name, key(&item)))
                {
                    continue;
                }
                let exposed = match listed.kind() {
                    FeatureKind::Resource => scope.expose_uri(name, key(&item)),
                    _ => scope.expose(name, key(&item)),
                };
                rename(&mut item, exposed);
                visible.push(item);
            }
        }
        crate::paging::page(visible, cursor, self.state.page_size)
    }

    fn request(&self, admitted: Admitted, payload: Payload) -> CallRequest {
        call_request(&self.state, admitted, payload)
    }

    async fn upstream(&self, request: CallRequest, context: &RequestContext<RoleServer>) -> CallReply {
        crate::relay::relay(&self.state, request, context, &self.log_level).await
    }

    /// [`Self::call_in_span`] in a span labelled by who calls what (never the arguments or the
    /// session).
    async fn call_upstream(
        &self,
        request: CallRequest,
        context: &RequestContext<RoleServer>,
        target: (&str, &str),
        responses: Option<InputResponses>,
        request_state: Option<String>,
    ) -> Result<Staged, ErrorData> {
        let span = call_span(target.0, &request);
        let call = self.call_in_span(request, context, target, responses, request_state);
        tracing::Instrument::instrument(call, span).await
    }

    /// A tool call, prompt get or resource read sent upstream. Session-era clients are asked
    /// what the upstream asks on their session; 2026-07-28 clients get `input_required`
    /// rounds instead ([`crate::mrtr`]), and `target` (method and name) binds their
    /// `requestState` to this request and to the principal.
    async fn call_in_span(
        &self,
        request: CallRequest,
        context: &RequestContext<RoleServer>,
        target: (&str, &str),
        responses: Option<InputResponses>,
        request_state: Option<String>,
    ) -> Result<Staged, ErrorData> {
        let stateless =
            context.protocol_version().is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if !stateless {
            return Ok(Staged::Reply(self.upstream(request, context).await));
        }
        let path =
            context.extensions.get::<http::request::Parts>().map(|p| p.uri.path().to_string()).unwrap_or_default();
        let who = (&request.tenant, &request.principal);
        let binding = format!("{}\0{}\0{path}\0{}\0{}", who.0, who.1, target.0, target.1);
        let codec = &self.state.mrtr;
        let (relayed, deadline) = match request_state {
            // Answers without a state have no question of this gateway's to answer: the
            // request starts afresh.
            None => {
                let deadline = Instant::now() + self.state.call_timeout;
                (relay::relay_stateless(&self.state, request, context, deadline).await, deadline)
            }
            Some(sealed) => {
                let mut pending = codec.open(&binding, &sealed)?;
                let Some(left) = pending.remaining() else {
                    return Err(ErrorData::invalid_params(
                        "requestState has expired: its request ran out of time; send the request again without it",
                        None,
                    ));
                };
                let deadline = Instant::now() + left;
                // Keys the gateway did not ask for are ignored.
                for (key, value) in responses.unwrap_or_default() {
                    if pending.asks.contains_key(&key) {
                        pending.answers.insert(key, value);
                    }
                }
                if pending.asks.keys().any(|k| !pending.answers.contains_key(k)) {
                    return Ok(Staged::InputRequired(mrtr::input_required(codec, &binding, &pending)?));
                }
                let answers = pending
                    .asks
                    .iter()
                    .map(|(key, ask)| {
                        (ask.reply.clone(), ClientAnswer::Result { result: pending.answers[key].clone() })
                    })
                    .collect();
                (relay::resume(&self.state, &pending.call, answers, context, deadline).await, deadline)
            }
        };
        match relayed {
            Relayed::Reply(reply) => Ok(Staged::Reply(reply)),
            Relayed::Asks { call_id, asks } => {
                let pending = Pending::new(call_id, deadline, asks);
                Ok(Staged::InputRequired(mrtr::input_required(codec, &binding, &pending)?))
            }
            Relayed::MissingCapability(needed) => Err(ErrorData::missing_required_client_capability(needed)),
        }
    }
}

/// The worker's request for an admitted call: the call as admitted, `payload`, this edge's
/// timeout, and the call's own subject for what the upstream says to the client meanwhile.
pub(crate) fn call_request(state: &EdgeState, admitted: Admitted, payload: Payload) -> CallRequest {
    let subject = state.bus.subjects.call_client(&admitted.call_id);
    admitted.into_request(payload, state.call_timeout, Some(subject))
}

/// A call's span, labelled by who calls what (never the arguments or the session).
pub(crate) fn call_span(method: &str, request: &CallRequest) -> tracing::Span {
    tracing::info_span!(
        "mcp_call",
        method,
        tenant = %request.tenant,
        client = %request.principal,
        server = %request.server,
        tool = request.op.label(),
    )
}

/// A tool call's reply as its client gets it: the upstream's result; an upstream's own
/// JSON-RPC error, an unknown name or arguments too large as JSON-RPC errors; any other failure
/// as a result with `isError: true` ("NAME failed: CODE: message").
pub(crate) fn tool_reply(name: &str, reply: CallReply) -> Result<CallToolResult, ErrorData> {
    match reply {
        CallReply::Result { result } => decode(name, result),
        CallReply::Error { code: CallErrorCode::UpstreamError, message, rpc } => {
            Err(protocol_error(name, CallErrorCode::UpstreamError, message, rpc))
        }
        CallReply::Error { code: CallErrorCode::NotFound, .. } => Err(unknown("tool", name)),
        // Arguments larger than the bus carries: the client's request is at fault.
        CallReply::Error { code: CallErrorCode::TooLarge, message, .. } => {
            Err(ErrorData::invalid_params(format!("{name}: {message}"), None))
        }
        CallReply::Error { code, message, .. } => {
            Ok(CallToolResult::error(vec![ContentBlock::text(format!("{name} failed: {}: {message}", code.as_str()))]))
        }
    }
}

/// The note of a server registered by mDNS federation (`canopy_federation::description`), when
/// it has one: Jumpboot shows it in front of each of the server's tool descriptions.
fn federated_note(server: &CachedServer) -> Option<String> {
    canopy_federation::parse_description(&server.state.spec.description)
        .map(|(_, note)| note)
        .filter(|note| !note.trim().is_empty())
}

/// `tool` with `note` in front of its description, as Jumpboot lists a federated server's tools:
/// `[NOTE] description`.
fn noted(mut tool: rmcp::model::Tool, note: Option<&str>) -> rmcp::model::Tool {
    if let Some(note) = note {
        let described = match tool.description.as_deref() {
            Some(description) if !description.is_empty() => format!("[{note}] {description}"),
            _ => format!("[{note}]"),
        };
        tool.description = Some(described.into());
    }
    tool
}

/// What became of a request sent upstream.
enum Staged {
    Reply(CallReply),
    /// A 2026-07-28 client must answer the upstream's questions first.
    InputRequired(InputRequiredResult),
}

pub(crate) fn unknown(kind: &str, name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown {kind} '{name}'"), None)
}

/// An upstream's own JSON-RPC error, or a failure to get any answer, for non-tool requests.
fn protocol_error(
    name: &str,
    code: CallErrorCode,
    message: String,
    rpc: Option<canopy_mcp::call::RpcError>,
) -> ErrorData {
    if let Some(rpc) = rpc {
        return ErrorData::new(ErrorCode(rpc.code), rpc.message, rpc.data);
    }
    let code = match code {
        CallErrorCode::InvalidRequest | CallErrorCode::TooLarge => ErrorCode::INVALID_PARAMS,
        _ => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(code, format!("{name}: {message}"), None)
}

/// An upstream result as the client's type. A session-era upstream sends no `resultType`, which
/// 2026-07-28 clients require: a relayed result is complete, and rmcp drops the field again for
/// clients of the earlier revisions.
fn decode<T: serde::de::DeserializeOwned>(name: &str, mut result: serde_json::Value) -> Result<T, ErrorData> {
    if let Some(object) = result.as_object_mut() {
        object.entry("resultType").or_insert_with(|| serde_json::Value::String("complete".into()));
    }
    serde_json::from_value(result)
        .map_err(|e| ErrorData::internal_error(format!("upstream result for '{name}' is malformed: {e}"), None))
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .build();
        ServerConfig::new(capabilities).with_server_info(Implementation::new("canopy", env!("CARGO_PKG_VERSION")))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.scope(&context.extensions)?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    /// Also when an edge restores the session from Redis (rmcp replays the handshake): the
    /// registration is in Redis and the same on every edge.
    /// The session's tool calls take the short route from now on when its client can be asked
    /// nothing in the middle of a call ([`crate::fast`]).
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let access = self.access(&context.extensions);
        if let (Some(scope), Some(session), Ok(access)) = (self.scope.get(), session_id(&context.extensions), access) {
            if let (Some(fast), Some(info)) = (&self.fast, context.peer.peer_info()) {
                let asks = &info.capabilities;
                if asks.sampling.is_none() && asks.elicitation.is_none() && asks.roots.is_none() {
                    let entry = self
                        .fast_session
                        .get_or_init(|| Arc::new(FastSession::new(scope.clone(), self.log_level.clone())));
                    fast.register(&session, entry);
                }
            }
            self.state.subscribers.add(access.tenant.as_str(), &session, scope).await;
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = self.access(&context.extensions)?;
        let (items, next) = self.visible(
            &access,
            &scope,
            ItemKind::Tool,
            cursor,
            |s: &CachedServer| {
                let note = federated_note(s);
                s.enabled_tools().cloned().map(|tool| noted(tool, note.as_deref())).collect()
            },
            |t: &rmcp::model::Tool| t.name.as_ref(),
            |t: &mut rmcp::model::Tool, n: String| t.name = n.into(),
        )?;
        let mut result = ListToolsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        let name = request.name.to_string();
        let arguments = request.arguments;
        let ask = Ask { method: Method::CallTool, name: &name };
        let digest = || Some(canopy_mcp::call::object_sha256(arguments.as_ref()));
        let admitted = admit(&self.state, &access, &scope, ask, &context.extensions, digest)
            .await
            .map_err(|refused| admission::refusal(&refused, || unknown("tool", &name)))?;
        let call = self.request(admitted, Payload::Arguments(arguments));
        let target = ("tools/call", name.as_str());
        let (responses, state) = (request.input_responses, request.request_state);
        let reply = match self.call_upstream(call, &context, target, responses, state).await? {
            Staged::Reply(reply) => reply,
            Staged::InputRequired(round) => return Ok(CallToolResponse::InputRequired(round)),
        };
        tool_reply(&name, reply).map(CallToolResponse::Complete)
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        let exposed = request.uri.clone();
        let not_found = || ErrorData::resource_not_found(format!("unknown resource '{exposed}'"), None);
        let ask = Ask { method: Method::Subscribe, name: &exposed };
        let admitted = admit(&self.state, &access, &scope, ask, &context.extensions, || None)
            .await
            .map_err(|refused| admission::refusal(&refused, not_found))?;
        let (server, uri) = (admitted.server.clone(), admitted.item.clone());
        let tenant = access.tenant.as_str();
        let session = session_id(&context.extensions)
            .ok_or_else(|| ErrorData::invalid_request("resources/subscribe needs a session", None))?;
        let call = self.request(admitted, Payload::None);
        match self.upstream(call, &context).await {
            CallReply::Result { .. } => {
                let subs = &self.state.resource_subs;
                subs.add(&session, tenant, &server, &uri, &exposed).await.map_err(|e| {
                    tracing::warn!(error = %e, "resource subscription not recorded");
                    ErrorData::internal_error("the subscription could not be recorded", None)
                })
            }
            CallReply::Error { code, message, rpc } => Err(protocol_error(&exposed, code, message, rpc)),
        }
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // The upstream subscription is shared by every session that asked; it stays, and
        // updates for a URI nobody follows any more are simply not delivered.
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        let (Some((server, uri)), Some(session)) = (scope.resolve_uri(&request.uri), session_id(&context.extensions))
        else {
            return Ok(());
        };
        self.state.resource_subs.remove(&session, access.tenant.as_str(), server, uri).await.map_err(|e| {
            tracing::warn!(error = %e, "resource subscription not removed");
            ErrorData::internal_error("the subscription could not be removed", None)
        })
    }

    /// 2026-07-28 `subscriptions/listen`: whatever list changes the client asks for (rmcp
    /// narrows it to what is advertised and drops what was not asked for).
    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(requested.clone())
    }

    /// The 2026-07-28 counterpart of the session's list_changed notifications: catalog changes
    /// visible through this endpoint, to this principal as it is now, go to the open listen
    /// stream.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        let scope = self.scope(&context.request_context().extensions)?;
        let opened = self.access(&context.request_context().extensions)?;
        let mut changes = self.state.cache.changes();
        loop {
            let change = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let change = match change {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            };
            if change.tenant != opened.tenant.as_str() {
                continue;
            }
            let Some(access) = opened.refreshed(&self.state.cache) else {
                return Ok(()); // the identity is gone
            };
            if !access.hears_of(&scope, &change.server) {
                continue;
            }
            let sink = context.sink();
            for sent in [
                sink.notify_tool_list_changed().await,
                sink.notify_prompt_list_changed().await,
                sink.notify_resource_list_changed().await,
            ] {
                if let Err(rmcp::service::SubscriptionSendError::SubscriptionClosed) = sent {
                    return Ok(());
                }
            }
        }
    }

    #[allow(deprecated)] // logging/setLevel: deprecated in 2026-07-28, used before it
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self.log_level.lock().expect("log level lock") = Some(request.level);
        Ok(())
    }

    async fn complete(
        &self,
        mut request: rmcp::model::CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        // The reference names a prompt or resource template in the client's names: admitted, it
        // is put in the upstream's own. Whatever cannot be used is unknown, in the same words
        // whether it exists or not.
        let (method, asked) = match &request.r#ref {
            rmcp::model::Reference::Prompt(p) => (Method::CompletePrompt, p.name.clone()),
            rmcp::model::Reference::Resource(r) => (Method::CompleteTemplate, r.uri.clone()),
            _ => return Err(ErrorData::invalid_params("unsupported completion reference", None)),
        };
        let not_found = || match method {
            Method::CompletePrompt => unknown("prompt", &asked),
            _ => ErrorData::resource_not_found(format!("unknown resource '{asked}'"), None),
        };
        let digest = || {
            let params = serde_json::to_value(&request).ok()?;
            canopy_mcp::call::arguments_sha256(&UpstreamOp::Complete { params })
        };
        let ask = Ask { method, name: &asked };
        let admitted = admit(&self.state, &access, &scope, ask, &context.extensions, digest)
            .await
            .map_err(|refused| admission::refusal(&refused, not_found))?;
        match &mut request.r#ref {
            rmcp::model::Reference::Prompt(p) => p.name = admitted.item.clone(),
            rmcp::model::Reference::Resource(r) => r.uri = admitted.item.clone(),
            _ => {}
        }
        let server = admitted.server.clone();
        let params = serde_json::to_value(&request).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        match self.upstream(self.request(admitted, Payload::Completion(params)), &context).await {
            CallReply::Result { result } => decode(&server, result),
            CallReply::Error { code, message, rpc } => Err(protocol_error(&server, code, message, rpc)),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = self.access(&context.extensions)?;
        let (items, next) = self.visible(
            &access,
            &scope,
            ItemKind::Prompt,
            cursor,
            |s: &CachedServer| s.enabled_prompts().cloned().collect(),
            |p: &rmcp::model::Prompt| p.name.as_str(),
            |p: &mut rmcp::model::Prompt, n: String| p.name = n,
        )?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        let name = request.name.clone();
        let arguments = request.arguments;
        let ask = Ask { method: Method::GetPrompt, name: &name };
        let digest = || Some(canopy_mcp::call::object_sha256(arguments.as_ref()));
        let admitted = admit(&self.state, &access, &scope, ask, &context.extensions, digest)
            .await
            .map_err(|refused| admission::refusal(&refused, || unknown("prompt", &name)))?;
        let call = self.request(admitted, Payload::Arguments(arguments));
        let target = ("prompts/get", name.as_str());
        let (responses, state) = (request.input_responses, request.request_state);
        let reply = match self.call_upstream(call, &context, target, responses, state).await? {
            Staged::Reply(reply) => reply,
            Staged::InputRequired(round) => return Ok(GetPromptResponse::InputRequired(round)),
        };
        match reply {
            CallReply::Result { result } => Ok(GetPromptResponse::Complete(decode::<GetPromptResult>(&name, result)?)),
            CallReply::Error { code: CallErrorCode::NotFound, .. } => Err(unknown("prompt", &name)),
            CallReply::Error { code, message, rpc } => Err(protocol_error(&name, code, message, rpc)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = self.access(&context.extensions)?;
        let (items, next) = self.visible(
            &access,
            &scope,
            ItemKind::Resource,
            cursor,
            |s: &CachedServer| s.enabled_resources().cloned().collect(),
            |r: &rmcp::model::Resource| r.uri.as_str(),
            |r: &mut rmcp::model::Resource, n: String| r.uri = n,
        )?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = self.access(&context.extensions)?;
        let (items, next) = self.visible(
            &access,
            &scope,
            ItemKind::Template,
            cursor,
            |s: &CachedServer| s.enabled_templates().cloned().collect(),
            |t: &rmcp::model::ResourceTemplate| t.uri_template.as_str(),
            |t: &mut rmcp::model::ResourceTemplate, n: String| t.uri_template = n,
        )?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let scope = self.scope(&context.extensions)?;
        let access = self.access(&context.extensions)?;
        let uri = request.uri.clone();
        let not_found = || ErrorData::resource_not_found(format!("unknown resource '{uri}'"), None);
        let ask = Ask { method: Method::ReadResource, name: &uri };
        let admitted = admit(&self.state, &access, &scope, ask, &context.extensions, || None)
            .await
            .map_err(|refused| admission::refusal(&refused, not_found))?;
        let server = admitted.server.clone();
        let call = self.request(admitted, Payload::None);
        let target = ("resources/read", uri.as_str());
        let (responses, state) = (request.input_responses, request.request_state);
        let reply = match self.call_upstream(call, &context, target, responses, state).await? {
            Staged::Reply(reply) => reply,
            Staged::InputRequired(round) => return Ok(ReadResourceResponse::InputRequired(round)),
        };
        match reply {
            CallReply::Result { result } => {
                let mut result: ReadResourceResult = decode(&uri, result)?;
                for contents in &mut result.contents {
                    let inner = match contents {
                        ResourceContents::TextResourceContents { uri, .. }
                        | ResourceContents::BlobResourceContents { uri, .. } => uri,
                        _ => continue,
                    };
                    *inner = scope.expose_uri(&server, inner);
                }
                Ok(ReadResourceResponse::Complete(result))
            }
            CallReply::Error { code: CallErrorCode::NotFound, .. } => Err(not_found()),
            CallReply::Error { code, message, rpc } => Err(protocol_error(&uri, code, message, rpc)),
        }
    }
}
