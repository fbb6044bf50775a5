//! Upstream connections: connecting with a registration's (unsealed) credentials, discovering
//! its catalog, and a pool that shares one connection per registration among concurrent calls.

use crate::progress::Counted;
use canopy_bus::Bus;
use canopy_domain::server::{ServerEvent, Transport, UpstreamSpec};
use canopy_domain::TenantId;
use canopy_eventstore::StoredEvent;
use canopy_mcp::report::DiscoveryOutcome;
use canopy_secrets::{SealContext, Sealer};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub type Connection = RunningService<RoleClient, UpstreamClient>;

/// A registration whose catalog should be listed again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshRequest {
    pub tenant: String,
    pub server: String,
    pub server_id: Uuid,
}

/// The client side of an upstream connection: turns the upstream's `list_changed`
/// notifications into refresh requests for its registration.
#[derive(Clone)]
pub struct UpstreamClient {
    target: RefreshRequest,
    refresh: Option<tokio::sync::mpsc::UnboundedSender<RefreshRequest>>,
    /// This connection's own: rmcp numbers progress tokens per connection (0, 1, ...), so a
    /// token means a call only together with its connection, never across connections (where
    /// another tenant's call may hold the same number).
    pub(crate) progress: Arc<crate::progress::ProgressRoutes>,
    pub(crate) active: Arc<crate::progress::ActiveCalls>,
    /// The relayed notifications read and handled on this connection, so a call's reply waits
    /// for what the upstream said before it ([`crate::progress::Tally`]).
    pub(crate) tally: Arc<crate::progress::Tally>,
    bus: Option<Bus>,
    /// The deployment's subject prefix.
    prefix: String,
    /// A Streamable HTTP connection's way to post tool calls itself ([`crate::direct`]).
    pub(crate) direct: Option<Arc<crate::direct::Direct>>,
}

/// Marks a relayed notification handled when its handler ends, whichever way it ends.
struct Handled<'a>(&'a crate::progress::Tally);

impl Drop for Handled<'_> {
    fn drop(&mut self) {
        self.0.handled();
    }
}

#[cfg(test)]
impl UpstreamClient {
    /// A client of no pool and no bus, for tests of what it does with an upstream's messages.
    pub(crate) fn detached(server: &str) -> Self {
        UpstreamClient {
            target: RefreshRequest { tenant: "t".into(), server: server.into(), server_id: Uuid::nil() },
            refresh: None,
            progress: Arc::default(),
            active: Arc::default(),
            tally: Arc::default(),
            bus: None,
            prefix: String::new(),
            direct: None,
        }
    }
}

impl UpstreamClient {
    fn changed(&self) {
        if let Some(tx) = &self.refresh {
            let _ = tx.send(self.target.clone());
        }
    }
}

impl UpstreamClient {
    /// The call a server-to-client request belongs to: the one whose response stream it came
    /// on (Streamable HTTP), or else the only call in flight on the connection. The request
    /// can overtake the bookkeeping of its call by a moment, so a stream-associated request
    /// looks again briefly before giving up.
    async fn call_for(
        &self,
        context: &rmcp::service::RequestContext<RoleClient>,
    ) -> Option<crate::progress::ActiveCall> {
        use rmcp::service::InboundStreamOrigin;
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = context.extensions.get::<InboundStreamOrigin>() {
            for _ in 0..20 {
                if let Some(call) = self.active.by_request(id) {
                    return Some(call);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            return None;
        }
        self.active.sole()
    }

    /// Asks the caller of the call this request belongs to to answer it.
    async fn ask_caller<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
        context: &rmcp::service::RequestContext<RoleClient>,
    ) -> Result<T, rmcp::ErrorData> {
        let call = self.call_for(context).await;
        let answer = ask_caller(self.bus.as_ref(), call.as_ref(), method, params).await?;
        serde_json::from_value(answer)
            .map_err(|e| rmcp::ErrorData::internal_error(format!("malformed answer from the client: {e}"), None))
    }

    /// Tells the edges that `uri` of this connection's server changed.
    pub(crate) async fn resource_updated(&self, uri: String) {
        let Some(bus) = &self.bus else { return };
        let update = canopy_mcp::call::ResourceUpdated {
            tenant: self.target.tenant.clone(),
            server: self.target.server.clone(),
            uri,
        };
        let subject = canopy_bus::Subjects::new(&self.prefix).resource_updated(&update.tenant, &update.server);
        let _ = bus.client.publish(subject, serde_json::to_vec(&update).expect("updates serialise").into()).await;
    }

    /// The registration's server name.
    pub(crate) fn server(&self) -> &str {
        &self.target.server
    }

    pub(crate) fn bus(&self) -> Option<&Bus> {
        self.bus.as_ref()
    }

    /// The upstream's catalog changed: its registration is listed again.
    pub(crate) fn catalog_changed(&self) {
        self.changed();
    }
}

/// Asks the caller of `call` to answer the upstream's request `method` (sampling, elicitation,
/// roots) and returns the answer's result; without a call (the request cannot be told apart
/// from other calls' on a shared connection) it is refused.
pub(crate) async fn ask_caller(
    bus: Option<&Bus>,
    call: Option<&crate::progress::ActiveCall>,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, rmcp::ErrorData> {
    let refuse = |m: &str| rmcp::ErrorData::internal_error(m.to_string(), None);
    let (Some(call), Some(bus)) = (call, bus) else {
        return Err(refuse(
            "Canopy cannot tell which of its clients this request is for (the upstream connection is shared)",
        ));
    };
    let request = canopy_mcp::call::ToClient::Request { method: method.to_string(), params };
    let payload = serde_json::to_vec(&request).expect("requests serialise");
    // NATS closes the connection of a client that sends more than it accepts.
    if let Err(too_large) = canopy_bus::payload::check(&bus.client, None, &payload) {
        return Err(rmcp::ErrorData::invalid_params(
            format!("{method} is too large for Canopy to relay: {too_large} bytes"),
            None,
        ));
    }
    call.asked.store(true, std::sync::atomic::Ordering::SeqCst);
    // A 2026-07-28 client answers in a later HTTP request (MRTR), so the question may wait
    // as long as the call itself does.
    let wait = call.deadline.saturating_duration_since(tokio::time::Instant::now());
    let question = async_nats::Request::new().payload(payload.into()).timeout(Some(wait));
    let reply = bus
        .client
        .send_request(call.subject.clone(), question)
        .await
        .map_err(|e| refuse(&format!("the client did not answer: {e}")))?;
    match serde_json::from_slice::<canopy_mcp::call::ClientAnswer>(&reply.payload) {
        Ok(canopy_mcp::call::ClientAnswer::Result { result }) => Ok(result),
        Ok(canopy_mcp::call::ClientAnswer::Error { code, message }) => {
            Err(rmcp::ErrorData::new(rmcp::model::ErrorCode(code), message, None))
        }
        Err(e) => Err(refuse(&format!("malformed answer from the client: {e}"))),
    }
}

// Logging, sampling and roots are deprecated in the newest protocol revision, but upstreams of
// the earlier revisions use them, and relaying them is the gateway's job.
#[allow(deprecated)]
impl rmcp::ClientHandler for UpstreamClient {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        // Offered to the upstream on the client's behalf; a client that lacks one answers with
        // an error, which goes back to the upstream.
        let capabilities: rmcp::model::ClientCapabilities =
            serde_json::from_value(serde_json::json!({"sampling": {}, "elicitation": {}, "roots": {}}))
                .unwrap_or_default();
        rmcp::model::ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("canopy", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.resource_updated(params.uri).await;
    }

    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let _handled = Handled(&self.tally);
        let (Some(call), Some(bus)) = (self.active.sole(), &self.bus) else {
            tracing::debug!(server = %self.target.server, "upstream log message with no single call to relay it to");
            return;
        };
        let message = canopy_mcp::call::ToClient::Log { params: serde_json::to_value(&params).unwrap_or_default() };
        crate::progress::send_to_client(bus, &call.subject, &message).await;
    }

    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        self.ask_caller("sampling/createMessage", serde_json::to_value(&params).unwrap_or_default(), &context).await
    }

    async fn create_elicitation(
        &self,
        params: rmcp::model::ElicitRequestParams,
        context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        self.ask_caller("elicitation/create", serde_json::to_value(&params).unwrap_or_default(), &context).await
    }

    async fn list_roots(
        &self,
        context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        self.ask_caller("roots/list", serde_json::json!({}), &context).await
    }

    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let _handled = Handled(&self.tally);
        self.progress.forward(params).await;
    }
    async fn on_tool_list_changed(&self, _: rmcp::service::NotificationContext<RoleClient>) {
        self.changed();
    }
    async fn on_prompt_list_changed(&self, _: rmcp::service::NotificationContext<RoleClient>) {
        self.changed();
    }
    async fn on_resource_list_changed(&self, _: rmcp::service::NotificationContext<RoleClient>) {
        self.changed();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("server '{0}' is not registered")]
    NotRegistered(String),
    #[error("server '{server}' was re-registered; retry against the current registration")]
    Stale { server: String },
    #[error("cannot open the registration's secrets: {0}")]
    Secret(#[from] canopy_secrets::SecretError),
    #[error("invalid upstream configuration: {0}")]
    Config(String),
    #[error("connecting to the upstream timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("connecting to the upstream failed: {0}")]
    Connect(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("the upstream failed {failures} times in a row; it is restarted in {} ms", .retry_in.as_millis())]
    BackingOff { failures: u32, retry_in: Duration },
}

/// How long to wait before reconnecting after `failures` consecutive failures: the first
/// restart is immediate (a crash is often a one-off), then 200 ms doubling up to 30 s, so a
/// process that keeps crashing is not restarted in a tight loop.
pub fn backoff(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => (Duration::from_millis(200) * 2u32.saturating_pow((n - 2).min(10))).min(Duration::from_secs(30)),
    }
}

/// Connects to an upstream as its registration says, unsealing secrets for that upstream only.
pub async fn connect(
    sealer: &Sealer,
    tenant: &str,
    server: &str,
    spec: &UpstreamSpec,
    timeout: Duration,
    client: UpstreamClient,
    http: &crate::http::UpstreamHttp,
) -> Result<Connection, UpstreamError> {
    let open = |field: &str, sealed: &canopy_domain::server::Sealed| {
        sealer.open(SealContext { tenant, server, field }, sealed)
    };
    let tally = client.tally.clone();
    let connecting = async {
        match spec.transport {
            Transport::StreamableHttp => {
                let url = spec.url.clone().ok_or_else(|| UpstreamError::Config("url is missing".into()))?;
                let mut config = StreamableHttpClientTransportConfig::with_uri(url);
                if let Some(token) = &spec.bearer_token {
                    config = config.auth_header(open("bearer_token", token)?);
                }
                let mut headers = HashMap::new();
                for (name, sealed) in &spec.headers {
                    let value = open(&format!("header:{name}"), sealed)?;
                    let name = http::HeaderName::try_from(name.as_str())
                        .map_err(|e| UpstreamError::Config(format!("header name '{name}': {e}")))?;
                    let value = http::HeaderValue::try_from(value)
                        .map_err(|e| UpstreamError::Config(format!("header '{name}' value: {e}")))?;
                    headers.insert(name, value);
                }
                let config = config.custom_headers(headers);
                let (streamable, posted) = http.streamable().recording();
                let mut client = client;
                client.direct = Some(Arc::new(crate::direct::Direct::new(streamable.clone(), posted)));
                let transport = StreamableHttpClientTransport::with_client(streamable, config);
                client
                    .serve(Counted::new(transport, tally))
                    .await
                    .map_err(|e| UpstreamError::Connect(crate::http::initialize_error(&e)))
            }
            Transport::Stdio => {
                let mut command = stdio_command(spec, |name, sealed| open(&format!("env:{name}"), sealed))?;
                command.kill_on_drop(true);
                let program = spec.command.clone().unwrap_or_default();
                let (transport, stderr) = TokioChildProcess::builder(command)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| UpstreamError::Connect(format!("cannot start '{program}': {e}")))?;
                tracing::info!(tenant, server, pid = transport.id(), "started stdio upstream");
                if let Some(stderr) = stderr {
                    tokio::spawn(relay_stderr(stderr, tenant.to_string(), server.to_string()));
                }
                client.serve(Counted::new(transport, tally)).await.map_err(|e| UpstreamError::Connect(e.to_string()))
            }
            Transport::Builtin => Err(UpstreamError::Config(
                "a built-in server is hosted by the worker: there is nothing to connect to".into(),
            )),
            Transport::Sse => {
                // Legacy HTTP+SSE (2024-11-05): the same credentials on the GET and every POST.
                let url = spec.url.clone().ok_or_else(|| UpstreamError::Config("url is missing".into()))?;
                let mut headers = http::HeaderMap::new();
                if let Some(token) = &spec.bearer_token {
                    let mut value = http::HeaderValue::try_from(format!("Bearer {}", open("bearer_token", token)?))
                        .map_err(|e| UpstreamError::Config(format!("bearer_token: {e}")))?;
                    value.set_sensitive(true);
                    headers.insert(http::header::AUTHORIZATION, value);
                }
                for (name, sealed) in &spec.headers {
                    let value = open(&format!("header:{name}"), sealed)?;
                    let name = http::HeaderName::try_from(name.as_str())
                        .map_err(|e| UpstreamError::Config(format!("header name '{name}': {e}")))?;
                    let mut value = http::HeaderValue::try_from(value)
                        .map_err(|e| UpstreamError::Config(format!("header '{name}' value: {e}")))?;
                    value.set_sensitive(true);
                    headers.append(name, value);
                }
                let transport = crate::sse::SseClientTransport::connect(http.sse(), &url, headers)
                    .await
                    .map_err(|e| UpstreamError::Connect(e.to_string()))?;
                client
                    .serve(Counted::new(transport, tally))
                    .await
                    .map_err(|e| UpstreamError::Connect(crate::http::chain(&e)))
            }
        }
    };
    tokio::time::timeout(timeout, connecting).await.map_err(|_| UpstreamError::ConnectTimeout(timeout))?
}

/// Variables a hosted process inherits from the worker: enough for ordinary commands (`npx`,
/// `uvx`, `python`) to run, and nothing else: never the gateway's own configuration or secrets.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ"];

/// The command line of a stdio upstream with a clean environment: the inherited basics plus
/// the registration's own `env`, unsealed by `open`.
pub fn stdio_command(
    spec: &UpstreamSpec,
    open: impl Fn(&str, &canopy_domain::server::Sealed) -> Result<String, canopy_secrets::SecretError>,
) -> Result<tokio::process::Command, UpstreamError> {
    let program = spec
        .command
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| UpstreamError::Config("command is missing".into()))?;
    let mut command = tokio::process::Command::new(program);
    command.args(&spec.args).env_clear();
    for key in INHERITED_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    for (name, sealed) in &spec.env {
        command.env(name, open(name, sealed)?);
    }
    Ok(command)
}

/// A hosted process's stderr goes to the worker's log, line by line, tagged with its server.
async fn relay_stderr(stderr: tokio::process::ChildStderr, tenant: String, server: String) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "upstream_stderr", %tenant, %server, "{line}");
    }
}

/// Lists every page of everything the upstream advertises, keeping each item's JSON whole.
pub async fn discover(connection: &Connection) -> Result<DiscoveryOutcome, String> {
    let peer = connection.peer();
    let capabilities = peer.peer_info().map(|i| i.capabilities.clone()).unwrap_or_default();
    let to_values = |v: Result<Vec<serde_json::Value>, serde_json::Error>| v.map_err(|e| e.to_string());
    let tools = match capabilities.tools {
        Some(_) => {
            let tools = peer.list_all_tools().await.map_err(|e| format!("tools/list failed: {e}"))?;
            to_values(tools.iter().map(serde_json::to_value).collect())?
        }
        None => vec![],
    };
    let prompts = match capabilities.prompts {
        Some(_) => {
            let prompts = peer.list_all_prompts().await.map_err(|e| format!("prompts/list failed: {e}"))?;
            to_values(prompts.iter().map(serde_json::to_value).collect())?
        }
        None => vec![],
    };
    let (resources, resource_templates) = match capabilities.resources {
        Some(_) => {
            let r = peer.list_all_resources().await.map_err(|e| format!("resources/list failed: {e}"))?;
            let t = peer
                .list_all_resource_templates()
                .await
                .map_err(|e| format!("resources/templates/list failed: {e}"))?;
            (
                to_values(r.iter().map(serde_json::to_value).collect())?,
                to_values(t.iter().map(serde_json::to_value).collect())?,
            )
        }
        None => (vec![], vec![]),
    };
    Ok(DiscoveryOutcome::Catalog { tools, prompts, resources, resource_templates })
}

type Key = (String, String);

/// Processes per stdio registration (stateless mode) unless configured otherwise.
pub const DEFAULT_STDIO_POOL_MAX: usize = 8;

struct Slot {
    server_id: Uuid,
    /// The first connection, opened on first use and kept while the slot lives.
    connection: OnceCell<Arc<Connection>>,
    /// Milliseconds since the pool started, at the last use.
    last_used: Arc<AtomicU64>,
    /// How calls use the slot, known once the first connection is open.
    policy: std::sync::OnceLock<Policy>,
    /// stdio processes beyond the first, for calls that must not share one.
    extras: Mutex<Extras>,
    /// Signalled when a lease ends or a start fails, for calls waiting for a free process.
    freed: Arc<tokio::sync::Notify>,
    /// Whether a call runs on the first connection (exclusive slots only).
    busy: Arc<AtomicBool>,
    /// `session_mode` stateful: the principal whose calls this slot's connection serves (the
    /// first to call); other principals get connections of their own.
    owner: std::sync::OnceLock<String>,
}

impl Slot {
    fn new(server_id: Uuid) -> Self {
        Self {
            server_id,
            connection: OnceCell::new(),
            last_used: Arc::default(),
            policy: std::sync::OnceLock::new(),
            extras: Mutex::default(),
            freed: Arc::default(),
            busy: Arc::default(),
            owner: std::sync::OnceLock::new(),
        }
    }

    fn all(&self) -> Vec<Arc<Connection>> {
        let extras = self.extras.lock().expect("extras lock");
        self.connection.get().into_iter().cloned().chain(extras.members.iter().map(|m| m.connection.clone())).collect()
    }
}

#[derive(Clone)]
struct Policy {
    /// A call gets a connection no other call uses while it runs (stdio, `session_mode`
    /// stateless): the upstream's questions and log lines then always have one caller.
    exclusive: bool,
    /// `session_mode` stateful: one upstream session per principal, never shared between
    /// principals (an upstream's session state is its caller's).
    per_principal: bool,
    spec: UpstreamSpec,
}

#[derive(Default)]
struct Extras {
    members: Vec<Arc<Member>>,
    /// Processes being started (they count towards the pool's size).
    starting: usize,
}

struct Member {
    connection: Arc<Connection>,
    last_used: Arc<AtomicU64>,
    /// Whether a call runs on it.
    busy: Arc<AtomicBool>,
}

/// Takes a process for one call if no call runs on it.
fn claim(busy: &AtomicBool) -> bool {
    busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// A connection taken from the pool for one call (or one discovery). Dropping it gives it back.
pub struct Lease {
    connection: Option<Arc<Connection>>,
    /// Stamped with the time when the lease ends.
    last_used: Arc<AtomicU64>,
    epoch: std::time::Instant,
    freed: Arc<tokio::sync::Notify>,
    /// The process's mark that a call runs on it, cleared when the lease ends (exclusive slots'
    /// calls only).
    claim: Option<Arc<AtomicBool>>,
}

impl std::ops::Deref for Lease {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("a lease holds its connection until dropped")
    }
}

impl Lease {
    fn is(&self, other: &Arc<Connection>) -> bool {
        self.connection.as_ref().is_some_and(|c| Arc::ptr_eq(c, other))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.last_used.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        // Give the connection back before waking waiters, so they see it free.
        drop(self.connection.take());
        if let Some(claim) = self.claim.take() {
            claim.store(false, Ordering::Release);
        }
        self.freed.notify_waiters();
    }
}

/// One live connection per (tenant, server) registration, shared by concurrent calls and
/// opened on first use. A call for a newer registration replaces the slot.
pub struct UpstreamPool {
    pool: PgPool,
    sealer: Sealer,
    connect_timeout: Duration,
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    /// Stateful registrations' connections of principals other than the slot's owner, by
    /// (tenant, server, principal).
    personal: Mutex<HashMap<(String, String, String), Arc<Slot>>>,
    epoch: std::time::Instant,
    /// Where connections report their upstream's `list_changed`.
    refresh: Option<tokio::sync::mpsc::UnboundedSender<RefreshRequest>>,
    progress: Arc<crate::progress::ProgressRoutes>,
    prefix: String,
    /// Consecutive failures (connect errors, connections lost mid-call) and when the last was.
    failures: Mutex<HashMap<Key, (u32, std::time::Instant)>>,
    /// The HTTP clients (TLS roots) of Streamable HTTP and SSE connections.
    http: crate::http::UpstreamHttp,
    /// Most processes one stdio registration in `session_mode` stateless may have.
    stdio_pool_max: usize,
    /// Registrations under reserved names: the built-in each is, or `None` for a user's server
    /// that held the name before it was reserved. A registration's spec never changes.
    builtins: Mutex<HashMap<Uuid, Option<canopy_domain::BuiltinKind>>>,
}

impl UpstreamPool {
    pub fn new(pool: PgPool, sealer: Sealer, connect_timeout: Duration) -> Self {
        Self {
            pool,
            sealer,
            connect_timeout,
            slots: Mutex::new(HashMap::new()),
            personal: Mutex::default(),
            epoch: std::time::Instant::now(),
            prefix: String::new(),
            failures: Mutex::default(),
            refresh: None,
            progress: Arc::default(),
            http: crate::http::UpstreamHttp::default(),
            stdio_pool_max: DEFAULT_STDIO_POOL_MAX,
            builtins: Mutex::default(),
        }
    }

    /// At most `max` (at least 1) processes per stdio registration in `session_mode` stateless.
    pub fn with_stdio_pool_max(mut self, max: usize) -> Self {
        self.stdio_pool_max = max.max(1);
        self
    }

    /// Connections opened from now on use `http`'s clients (e.g. trusting more CAs).
    pub fn with_http(mut self, http: crate::http::UpstreamHttp) -> Self {
        self.http = http;
        self
    }

    /// Connections opened from now on send upstream progress on `routes`' NATS connection (each
    /// connection with routes of its own), and resource updates to subjects under `prefix`.
    pub fn with_progress(mut self, routes: Arc<crate::progress::ProgressRoutes>, prefix: &str) -> Self {
        self.progress = routes;
        self.prefix = prefix.to_string();
        self
    }

    /// The built-in server registration `server_id` is, if it is one (then nothing connects:
    /// the worker runs its calls itself). Only reserved names can be built-ins, so calls to any
    /// other server never look; for those, the answer is read once per registration.
    pub async fn builtin_kind(
        &self,
        tenant: &str,
        server: &str,
        server_id: Uuid,
    ) -> Result<Option<canopy_domain::BuiltinKind>, UpstreamError> {
        let Some(kind) = canopy_domain::BuiltinKind::of_server_name(server) else { return Ok(None) };
        if let Some(known) = self.builtins.lock().expect("builtins lock").get(&server_id) {
            return Ok(*known);
        }
        let tenant_id = TenantId::parse(tenant.to_string()).map_err(|e| UpstreamError::Config(e.to_string()))?;
        let row = canopy_readmodels::get_server(&self.pool, &tenant_id, server)
            .await?
            .ok_or_else(|| UpstreamError::NotRegistered(server.to_string()))?;
        if row.server_id != server_id {
            return Err(UpstreamError::Stale { server: server.to_string() });
        }
        let answer = (row.spec.transport == Transport::Builtin).then_some(kind);
        self.builtins.lock().expect("builtins lock").insert(server_id, answer);
        Ok(answer)
    }

    /// The current registration of (tenant, server) as the read model has it now, if any:
    /// discovery looks at it before it connects (a disabled server is not contacted).
    pub async fn registration(
        &self,
        tenant: &str,
        server: &str,
    ) -> Result<Option<canopy_readmodels::ServerRow>, UpstreamError> {
        let tenant_id = TenantId::parse(tenant.to_string()).map_err(|e| UpstreamError::Config(e.to_string()))?;
        Ok(canopy_readmodels::get_server(&self.pool, &tenant_id, server).await?)
    }

    /// Connections opened from now on report `list_changed` to `tx`.
    pub fn with_refresh(mut self, tx: tokio::sync::mpsc::UnboundedSender<RefreshRequest>) -> Self {
        self.refresh = Some(tx);
        self
    }

    /// Every (tenant, server, registration) this pool holds a connection for.
    pub fn held(&self) -> Vec<RefreshRequest> {
        self.slots
            .lock()
            .expect("pool lock")
            .iter()
            .filter(|(_, slot)| slot.connection.initialized())
            .map(|((tenant, server), slot)| RefreshRequest {
                tenant: tenant.clone(),
                server: server.clone(),
                server_id: slot.server_id,
            })
            .collect()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    fn client_for(&self, tenant: &str, server: &str, server_id: Uuid) -> UpstreamClient {
        UpstreamClient {
            target: RefreshRequest { tenant: tenant.to_string(), server: server.to_string(), server_id },
            refresh: self.refresh.clone(),
            progress: Arc::new(match self.progress.bus() {
                Some(bus) => crate::progress::ProgressRoutes::new(bus),
                None => crate::progress::ProgressRoutes::default(),
            }),
            active: Arc::default(),
            tally: Arc::default(),
            bus: self.progress.bus(),
            prefix: self.prefix.clone(),
            direct: None,
        }
    }

    fn lease(
        &self,
        slot: &Slot,
        connection: Arc<Connection>,
        last_used: Arc<AtomicU64>,
        claim: Option<Arc<AtomicBool>>,
    ) -> Lease {
        Lease { connection: Some(connection), last_used, epoch: self.epoch, freed: slot.freed.clone(), claim }
    }

    /// A connection for `server_id` of (tenant, server), opening one if needed, for a call of
    /// `principal` (`None`: the gateway's own discovery and refreshes). Calls share the
    /// registration's one connection, except on stdio upstreams in `session_mode` stateless,
    /// where each call gets a process no other call uses meanwhile (an idle one, or a new one
    /// while the pool is below its size, or else the next one to come free), and in
    /// `session_mode` stateful, where each principal has a connection (an upstream session, a
    /// process) of its own: the first principal to call uses the registration's first one.
    ///
    /// A process is free for a call when no call runs on it (its `busy` mark), not when nobody
    /// holds it: the gateway's own listings (discovery, refreshes on `list_changed` or the
    /// sweep) share the first process with calls, since nothing they cause is relayed to a
    /// caller, and another task's passing look at the pool takes nothing. So sequential calls
    /// all run on the process discovery started.
    pub async fn get(
        &self,
        tenant: &str,
        server: &str,
        server_id: Uuid,
        principal: Option<&str>,
    ) -> Result<Lease, UpstreamError> {
        let key = (tenant.to_string(), server.to_string());
        let slot = {
            let mut slots = self.slots.lock().expect("pool lock");
            match slots.get(&key) {
                Some(slot) if slot.server_id == server_id => slot.clone(),
                _ => {
                    let slot = Arc::new(Slot::new(server_id));
                    slots.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        slot.last_used.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let result = slot
            .connection
            .get_or_try_init(|| async {
                let tenant_id =
                    TenantId::parse(tenant.to_string()).map_err(|e| UpstreamError::Config(e.to_string()))?;
                let row = canopy_readmodels::get_server(&self.pool, &tenant_id, server)
                    .await?
                    .ok_or_else(|| UpstreamError::NotRegistered(server.to_string()))?;
                if row.server_id != server_id {
                    return Err(UpstreamError::Stale { server: server.to_string() });
                }
                if let Some((failures, retry_in)) = self.backing_off(&key) {
                    return Err(UpstreamError::BackingOff { failures, retry_in });
                }
                let client = self.client_for(tenant, server, server_id);
                let connection =
                    connect(&self.sealer, tenant, server, &row.spec, self.connect_timeout, client, &self.http).await?;
                tracing::info!(tenant, server, "connected to upstream");
                let exclusive = row.spec.transport == Transport::Stdio
                    && row.spec.session_mode == canopy_domain::server::SessionMode::Stateless;
                let per_principal = row.spec.session_mode == canopy_domain::server::SessionMode::Stateful;
                let _ = slot.policy.set(Policy { exclusive, per_principal, spec: row.spec.clone() });
                Ok(Arc::new(connection))
            })
            .await
            .cloned();
        let first = match result {
            Ok(first) => first,
            Err(e) => {
                if !matches!(
                    e,
                    UpstreamError::BackingOff { .. } | UpstreamError::NotRegistered(_) | UpstreamError::Stale { .. }
                ) {
                    self.record_failure(&key);
                }
                self.forget_slot(&key, &slot);
                return Err(e);
            }
        };
        if let (Some(principal), Some(policy)) = (principal, slot.policy.get().filter(|p| p.per_principal)) {
            if slot.owner.get_or_init(|| principal.to_string()) != principal {
                drop(first);
                return self.personal(tenant, server, server_id, principal, policy.clone()).await;
            }
        }
        let Some(policy) = slot.policy.get().filter(|p| p.exclusive).cloned() else {
            return Ok(self.lease(&slot, first, slot.last_used.clone(), None));
        };
        if principal.is_none() {
            return Ok(self.lease(&slot, first, slot.last_used.clone(), None));
        }
        loop {
            let freed = slot.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let start = {
                let mut extras = slot.extras.lock().expect("extras lock");
                if claim(&slot.busy) {
                    return Ok(self.lease(&slot, first, slot.last_used.clone(), Some(slot.busy.clone())));
                }
                if let Some(m) = extras.members.iter().find(|m| claim(&m.busy)) {
                    return Ok(self.lease(&slot, m.connection.clone(), m.last_used.clone(), Some(m.busy.clone())));
                }
                let size = 1 + extras.members.len() + extras.starting;
                if size < self.stdio_pool_max {
                    extras.starting += 1;
                }
                size < self.stdio_pool_max
            };
            if start {
                let client = self.client_for(tenant, server, server_id);
                let opened =
                    connect(&self.sealer, tenant, server, &policy.spec, self.connect_timeout, client, &self.http).await;
                let mut extras = slot.extras.lock().expect("extras lock");
                extras.starting -= 1;
                match opened {
                    Ok(connection) => {
                        tracing::info!(tenant, server, processes = extras.members.len() + 2, "started another process");
                        let busy = Arc::new(AtomicBool::new(true));
                        let member = Arc::new(Member {
                            connection: Arc::new(connection),
                            last_used: Arc::default(),
                            busy: busy.clone(),
                        });
                        extras.members.push(member.clone());
                        return Ok(self.lease(&slot, member.connection.clone(), member.last_used.clone(), Some(busy)));
                    }
                    Err(e) => {
                        drop(extras);
                        slot.freed.notify_waiters();
                        self.record_failure(&key);
                        return Err(e);
                    }
                }
            }
            freed.await;
        }
    }

    /// The connection of a principal other than the owner of a stateful registration's slot.
    async fn personal(
        &self,
        tenant: &str,
        server: &str,
        server_id: Uuid,
        principal: &str,
        policy: Policy,
    ) -> Result<Lease, UpstreamError> {
        let key = (tenant.to_string(), server.to_string(), principal.to_string());
        let slot = {
            let mut personal = self.personal.lock().expect("pool lock");
            match personal.get(&key) {
                Some(slot) if slot.server_id == server_id => slot.clone(),
                _ => {
                    let slot = Arc::new(Slot::new(server_id));
                    personal.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        slot.last_used.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let opened = slot
            .connection
            .get_or_try_init(|| async {
                let client = self.client_for(tenant, server, server_id);
                let connection =
                    connect(&self.sealer, tenant, server, &policy.spec, self.connect_timeout, client, &self.http)
                        .await?;
                tracing::info!(
                    tenant,
                    server,
                    principal,
                    "connected to upstream for one principal (session_mode stateful)"
                );
                Ok(Arc::new(connection))
            })
            .await
            .cloned();
        match opened {
            Ok(connection) => Ok(self.lease(&slot, connection, slot.last_used.clone(), None)),
            Err(e) => {
                self.record_failure(&(tenant.to_string(), server.to_string()));
                let mut personal = self.personal.lock().expect("pool lock");
                if personal.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    personal.remove(&key);
                }
                Err(e)
            }
        }
    }

    /// Drops a connection that failed mid-call, so the next call gets another: an extra
    /// process goes alone; the first connection takes the registration's slot with it.
    pub fn forget_connection(&self, tenant: &str, server: &str, server_id: Uuid, lease: &Lease) {
        {
            let mut personal = self.personal.lock().expect("pool lock");
            let found =
                personal.iter().find(|(_, s)| s.connection.get().is_some_and(|c| lease.is(c))).map(|(k, _)| k.clone());
            if let Some(key) = found {
                personal.remove(&key);
                drop(personal);
                self.record_failure(&(tenant.to_string(), server.to_string()));
                return;
            }
        }
        let key = (tenant.to_string(), server.to_string());
        let slot = self.slots.lock().expect("pool lock").get(&key).cloned();
        if let Some(slot) = slot.filter(|s| s.server_id == server_id) {
            let mut extras = slot.extras.lock().expect("extras lock");
            if let Some(i) = extras.members.iter().position(|m| lease.is(&m.connection)) {
                extras.members.remove(i);
                drop(extras);
                self.record_failure(&key);
                return;
            }
        }
        self.forget(tenant, server, server_id);
    }

    /// Drops a connection that failed, so the next call reconnects.
    fn record_failure(&self, key: &Key) {
        let mut failures = self.failures.lock().expect("failures lock");
        let entry = failures.entry(key.clone()).or_insert((0, std::time::Instant::now()));
        *entry = (entry.0 + 1, std::time::Instant::now());
    }

    fn backing_off(&self, key: &Key) -> Option<(u32, Duration)> {
        let failures = self.failures.lock().expect("failures lock");
        let (count, last) = *failures.get(key)?;
        let wait = backoff(count).checked_sub(last.elapsed())?;
        (!wait.is_zero()).then_some((count, wait))
    }

    /// A call went through: the upstream is healthy again.
    pub fn succeeded(&self, tenant: &str, server: &str) {
        let key = (tenant.to_string(), server.to_string());
        let mut failures = self.failures.lock().expect("failures lock");
        if failures.contains_key(&key) {
            failures.remove(&key);
        }
    }

    pub fn forget(&self, tenant: &str, server: &str, server_id: Uuid) {
        let key = (tenant.to_string(), server.to_string());
        self.record_failure(&key);
        let mut slots = self.slots.lock().expect("pool lock");
        if slots.get(&key).is_some_and(|s| s.server_id == server_id) {
            slots.remove(&key);
        }
    }

    fn forget_slot(&self, key: &Key, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().expect("pool lock");
        if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }

    /// Removes and closes the connection held for (tenant, server): the registration was
    /// replaced or removed, so calls still using it end too.
    pub fn evict(&self, tenant: &str, server: &str) {
        let mut removed: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .expect("pool lock")
            .remove(&(tenant.to_string(), server.to_string()))
            .into_iter()
            .collect();
        self.personal.lock().expect("pool lock").retain(|(t, s, _), slot| {
            let gone = t == tenant && s == server;
            if gone {
                removed.push(slot.clone());
            }
            !gone
        });
        for connection in removed.iter().flat_map(|slot| slot.all()) {
            connection.cancellation_token().cancel();
        }
    }

    /// Evicts the connections of every (tenant, server) whose registration is not the one in
    /// `current` (replaced, or removed when absent). Returns how many registrations it evicted.
    pub fn evict_all_but(&self, current: &HashMap<Key, Uuid>) -> usize {
        let stale = |key: &Key, server_id: Uuid| current.get(key) != Some(&server_id);
        let mut keys: HashSet<Key> = self
            .slots
            .lock()
            .expect("pool lock")
            .iter()
            .filter(|(key, slot)| stale(key, slot.server_id))
            .map(|(key, _)| key.clone())
            .collect();
        keys.extend(
            self.personal
                .lock()
                .expect("pool lock")
                .iter()
                .map(|((tenant, server, _), slot)| ((tenant.clone(), server.clone()), slot.server_id))
                .filter(|(key, server_id)| stale(key, *server_id))
                .map(|(key, _)| key),
        );
        for (tenant, server) in &keys {
            self.evict(tenant, server);
        }
        keys.len()
    }

    /// Closes connections unused for `idle` (for stdio upstreams: stops their processes).
    /// Calls in flight keep their connection until they finish.
    pub fn reap_idle(&self, idle: Duration) -> usize {
        let now = self.epoch.elapsed().as_millis() as u64;
        let limit = idle.as_millis() as u64;
        let idle_since = |last_used: &AtomicU64| now.saturating_sub(last_used.load(Ordering::Relaxed)) >= limit;
        let mut closed = 0;
        self.personal.lock().expect("pool lock").retain(|(tenant, server, principal), slot| {
            let in_use = slot.connection.get().is_some_and(|c| Arc::strong_count(c) > 1);
            let keep = in_use || !idle_since(&slot.last_used);
            if !keep {
                tracing::info!(tenant, server, principal, "closing idle upstream connection of one principal");
                if let Some(c) = slot.connection.get() {
                    c.cancellation_token().cancel();
                }
                closed += 1;
            }
            keep
        });
        let mut slots = self.slots.lock().expect("pool lock");
        for ((tenant, server), slot) in slots.iter() {
            let mut extras = slot.extras.lock().expect("extras lock");
            extras.members.retain(|m| {
                let keep = Arc::strong_count(&m.connection) > 1 || !idle_since(&m.last_used);
                if !keep {
                    tracing::info!(tenant, server, "stopping an idle extra process");
                    m.connection.cancellation_token().cancel();
                    closed += 1;
                }
                keep
            });
        }
        slots.retain(|(tenant, server), slot| {
            let in_use = slot.connection.get().is_some_and(|c| Arc::strong_count(c) > 1)
                || !slot.extras.lock().expect("extras lock").members.is_empty();
            let keep = in_use || !idle_since(&slot.last_used);
            if !keep {
                tracing::info!(tenant, server, "closing idle upstream connection");
                if let Some(c) = slot.connection.get() {
                    c.cancellation_token().cancel();
                }
                closed += 1;
            }
            keep
        });
        closed
    }

    pub async fn close_all(&self) {
        let mut slots: Vec<Arc<Slot>> = self.slots.lock().expect("pool lock").drain().map(|(_, s)| s).collect();
        slots.extend(self.personal.lock().expect("pool lock").drain().map(|(_, s)| s));
        for connection in slots.iter().flat_map(|slot| slot.all()) {
            connection.cancellation_token().cancel();
        }
    }
}

/// Every worker replica evicts connections of registrations that were replaced or removed,
/// following the event stream; after losing it, connections of registrations that are no
/// longer current (by the read model) are evicted before the stream is trusted again.
pub async fn run_invalidation(
    pool: PgPool,
    bus: Bus,
    upstreams: Arc<UpstreamPool>,
    in_step: canopy_bus::InStep,
    shutdown: CancellationToken,
) {
    let filter = bus.subjects.events_of_type(<canopy_domain::server::Server as canopy_domain::Aggregate>::TYPE);
    canopy_bus::follow(bus, filter, Arc::new(Invalidation { pool, upstreams }), in_step, shutdown).await
}

struct Invalidation {
    pool: PgPool,
    upstreams: Arc<UpstreamPool>,
}

impl canopy_bus::Follower for Invalidation {
    async fn resync(&self) -> Result<(), canopy_bus::follow::FollowError> {
        let current: HashMap<Key, Uuid> = canopy_readmodels::all_server_states(&self.pool)
            .await?
            .into_iter()
            .filter_map(|s| match s.state {
                canopy_domain::server::Server::Registered(state) => Some(((s.tenant_id, s.name), state.id.0)),
                _ => None,
            })
            .collect();
        let evicted = self.upstreams.evict_all_but(&current);
        if evicted > 0 {
            tracing::info!(
                evicted,
                "closed connections of registrations replaced or removed while the event stream was lost"
            );
        }
        Ok(())
    }

    fn apply(&self, stored: &StoredEvent) -> bool {
        if let Ok(ServerEvent::Replaced { .. } | ServerEvent::Deregistered { .. }) = stored.decode::<ServerEvent>() {
            self.upstreams.evict(&stored.tenant_id, &stored.aggregate_id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_restarts_once_at_once_then_doubles_to_a_cap() {
        let waits: Vec<u128> = (0..5).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [0, 0, 200, 400, 800]);
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
