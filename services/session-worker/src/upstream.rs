//! Upstream connections: connecting with a registration's (unsealed) credentials, discovering
//! its catalog, and a pool that shares one connection per registration among concurrent calls.

use canopy_bus::Bus;
use canopy_domain::server::{ServerEvent, Transport, UpstreamSpec};
use canopy_domain::TenantId;
use canopy_mcp::report::DiscoveryOutcome;
use canopy_secrets::{SealContext, Sealer};
use futures::StreamExt;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use sqlx::PgPool;
use std::collections::HashMap;
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
    progress: Arc<crate::progress::ProgressRoutes>,
    pub(crate) active: Arc<crate::progress::ActiveCalls>,
    nats: Option<async_nats::Client>,
    /// The deployment's subject prefix.
    prefix: String,
}

impl UpstreamClient {
    fn changed(&self) {
        if let Some(tx) = &self.refresh {
            let _ = tx.send(self.target.clone());
        }
    }
}

impl UpstreamClient {
    /// Asks the caller of the one call in flight to answer a server-to-client request.
    async fn ask_caller<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, rmcp::ErrorData> {
        let refuse = |m: &str| rmcp::ErrorData::internal_error(m.to_string(), None);
        let (Some(subject), Some(nats)) = (self.active.sole(), &self.nats) else {
            return Err(refuse(
                "Canopy cannot tell which of its clients this request is for (the upstream connection is shared)",
            ));
        };
        let request = canopy_mcp::call::ToClient::Request { method: method.to_string(), params };
        let payload = serde_json::to_vec(&request).expect("requests serialise");
        let reply = nats
            .request(subject, payload.into())
            .await
            .map_err(|e| refuse(&format!("the client did not answer: {e}")))?;
        match serde_json::from_slice::<canopy_mcp::call::ClientAnswer>(&reply.payload) {
            Ok(canopy_mcp::call::ClientAnswer::Result { result }) => {
                serde_json::from_value(result).map_err(|e| refuse(&format!("malformed answer from the client: {e}")))
            }
            Ok(canopy_mcp::call::ClientAnswer::Error { code, message }) => {
                Err(rmcp::ErrorData::new(rmcp::model::ErrorCode(code), message, None))
            }
            Err(e) => Err(refuse(&format!("malformed answer from the client: {e}"))),
        }
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
        let Some(nats) = &self.nats else { return };
        let update = canopy_mcp::call::ResourceUpdated {
            tenant: self.target.tenant.clone(),
            server: self.target.server.clone(),
            uri: params.uri,
        };
        let subject = canopy_bus::Subjects::new(&self.prefix).resource_updated(&update.tenant, &update.server);
        let _ = nats.publish(subject, serde_json::to_vec(&update).expect("updates serialise").into()).await;
    }

    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let (Some(subject), Some(nats)) = (self.active.sole(), &self.nats) else {
            tracing::debug!(server = %self.target.server, "upstream log message with no single call to relay it to");
            return;
        };
        let message = canopy_mcp::call::ToClient::Log { params: serde_json::to_value(&params).unwrap_or_default() };
        let _ = nats.publish(subject, serde_json::to_vec(&message).expect("messages serialise").into()).await;
    }

    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        self.ask_caller("sampling/createMessage", serde_json::to_value(&params).unwrap_or_default()).await
    }

    async fn create_elicitation(
        &self,
        params: rmcp::model::ElicitRequestParams,
        _: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        self.ask_caller("elicitation/create", serde_json::to_value(&params).unwrap_or_default()).await
    }

    async fn list_roots(
        &self,
        _: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        self.ask_caller("roots/list", serde_json::json!({})).await
    }

    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
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
                client
                    .serve(StreamableHttpClientTransport::with_client(http.streamable(), config))
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
                client.serve(transport).await.map_err(|e| UpstreamError::Connect(e.to_string()))
            }
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
                client.serve(transport).await.map_err(|e| UpstreamError::Connect(crate::http::chain(&e)))
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

struct Slot {
    server_id: Uuid,
    connection: OnceCell<Arc<Connection>>,
    /// Milliseconds since the pool started, at the last use.
    last_used: std::sync::atomic::AtomicU64,
}

/// One live connection per (tenant, server) registration, shared by concurrent calls and
/// opened on first use. A call for a newer registration replaces the slot.
pub struct UpstreamPool {
    pool: PgPool,
    sealer: Sealer,
    connect_timeout: Duration,
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    epoch: std::time::Instant,
    /// Where connections report their upstream's `list_changed`.
    refresh: Option<tokio::sync::mpsc::UnboundedSender<RefreshRequest>>,
    progress: Arc<crate::progress::ProgressRoutes>,
    prefix: String,
    /// Consecutive failures (connect errors, connections lost mid-call) and when the last was.
    failures: Mutex<HashMap<Key, (u32, std::time::Instant)>>,
    /// The HTTP clients (TLS roots) of Streamable HTTP and SSE connections.
    http: crate::http::UpstreamHttp,
}

impl UpstreamPool {
    pub fn new(pool: PgPool, sealer: Sealer, connect_timeout: Duration) -> Self {
        Self {
            pool,
            sealer,
            connect_timeout,
            slots: Mutex::new(HashMap::new()),
            epoch: std::time::Instant::now(),
            prefix: String::new(),
            failures: Mutex::default(),
            refresh: None,
            progress: Arc::default(),
            http: crate::http::UpstreamHttp::default(),
        }
    }

    /// Connections opened from now on use `http`'s clients (e.g. trusting more CAs).
    pub fn with_http(mut self, http: crate::http::UpstreamHttp) -> Self {
        self.http = http;
        self
    }

    /// Connections opened from now on send upstream progress through `routes`, and resource
    /// updates to subjects under `prefix`.
    pub fn with_progress(mut self, routes: Arc<crate::progress::ProgressRoutes>, prefix: &str) -> Self {
        self.progress = routes;
        self.prefix = prefix.to_string();
        self
    }

    pub fn progress(&self) -> &Arc<crate::progress::ProgressRoutes> {
        &self.progress
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

    /// The connection for `server_id` of (tenant, server), opening it if needed.
    pub async fn get(&self, tenant: &str, server: &str, server_id: Uuid) -> Result<Arc<Connection>, UpstreamError> {
        let key = (tenant.to_string(), server.to_string());
        let slot = {
            let mut slots = self.slots.lock().expect("pool lock");
            match slots.get(&key) {
                Some(slot) if slot.server_id == server_id => slot.clone(),
                _ => {
                    let slot = Arc::new(Slot { server_id, connection: OnceCell::new(), last_used: Default::default() });
                    slots.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        slot.last_used.store(self.epoch.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
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
                let client = UpstreamClient {
                    target: RefreshRequest { tenant: tenant.to_string(), server: server.to_string(), server_id },
                    refresh: self.refresh.clone(),
                    progress: self.progress.clone(),
                    active: Arc::default(),
                    nats: self.progress.nats(),
                    prefix: self.prefix.clone(),
                };
                let connection =
                    connect(&self.sealer, tenant, server, &row.spec, self.connect_timeout, client, &self.http).await?;
                tracing::info!(tenant, server, "connected to upstream");
                Ok(Arc::new(connection))
            })
            .await
            .cloned();
        if let Err(e) = &result {
            if !matches!(
                e,
                UpstreamError::BackingOff { .. } | UpstreamError::NotRegistered(_) | UpstreamError::Stale { .. }
            ) {
                self.record_failure(&key);
            }
            self.forget_slot(&key, &slot);
        }
        result
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
        let removed = self.slots.lock().expect("pool lock").remove(&(tenant.to_string(), server.to_string()));
        if let Some(connection) = removed.as_ref().and_then(|slot| slot.connection.get()) {
            connection.cancellation_token().cancel();
        }
    }

    /// Closes connections unused for `idle` (for stdio upstreams: stops their processes).
    /// Calls in flight keep their connection until they finish.
    pub fn reap_idle(&self, idle: Duration) -> usize {
        let now = self.epoch.elapsed().as_millis() as u64;
        let limit = idle.as_millis() as u64;
        let mut slots = self.slots.lock().expect("pool lock");
        let before = slots.len();
        slots.retain(|(tenant, server), slot| {
            let in_use = slot.connection.get().is_some_and(|c| Arc::strong_count(c) > 1);
            let keep = in_use || now.saturating_sub(slot.last_used.load(std::sync::atomic::Ordering::Relaxed)) < limit;
            if !keep {
                tracing::info!(tenant, server, "closing idle upstream connection");
                if let Some(c) = slot.connection.get() {
                    c.cancellation_token().cancel();
                }
            }
            keep
        });
        before - slots.len()
    }

    pub async fn close_all(&self) {
        let slots: Vec<Arc<Slot>> = self.slots.lock().expect("pool lock").drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(connection) = slot.connection.get() {
                connection.cancellation_token().cancel();
            }
        }
    }
}

/// Every worker replica evicts connections of registrations that were replaced or removed.
pub async fn run_invalidation(bus: Bus, upstreams: Arc<UpstreamPool>, shutdown: CancellationToken) {
    let filter = bus.subjects.events_of_type(<canopy_domain::server::Server as canopy_domain::Aggregate>::TYPE);
    loop {
        match canopy_bus::tail_events(&bus, filter.clone()).await {
            Ok(mut events) => loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    e = events.next() => e,
                };
                match next {
                    Some(Ok(stored)) => {
                        if let Ok(ServerEvent::Replaced { .. } | ServerEvent::Deregistered { .. }) =
                            stored.decode::<ServerEvent>()
                        {
                            upstreams.evict(&stored.tenant_id, &stored.aggregate_id);
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "invalidation tail error"),
                    None => break,
                }
            },
            Err(e) => tracing::warn!(error = %e, "invalidation tail cannot start; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
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
