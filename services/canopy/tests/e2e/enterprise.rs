//! Enterprise mode at the edge, with real MCP clients sending `Authorization: Bearer`. The edge
//! runs in this process (so the test can seed identities in any tenant directly), assembled as
//! `runtime.rs` assembles it but in enterprise mode, against the deployment's real
//! Postgres, NATS and Redis; the API and a worker run as `canopy serve` processes (development
//! mode: servers are registered into the `default` tenant without credentials). Identities are
//! created by executing the domain's commands, with token digests from the deployment's key.

use crate::harness::*;
use canopy_domain::identity::{AllowSpec, McpClient, McpClientCommand, Role, TokenDigest, User, UserCommand};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const AUTHORIZATION_SERVER: &str = "https://auth.example.com";

/// The gateway-edge in enterprise mode, serving on a port of its own until dropped.
struct EnterpriseEdge {
    base: String,
    stop: CancellationToken,
}

impl Drop for EnterpriseEdge {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start_edge(d: &Deployment) -> EnterpriseEdge {
    use canopy_gateway_edge as edge;
    let stop = CancellationToken::new();
    let pool = d.db.pool.clone();
    let bus = d.bus().await;
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
        .await
        .expect("Redis for tests");
    let sealer = Sealer::from_base64(&d.secret_key).unwrap();

    let cache = Arc::new(edge::CatalogCache::default());
    tokio::spawn(edge::run_catalog_sync(pool, bus.clone(), cache.clone(), stop.clone()));
    let stores = edge::RedisStores::new(redis, &d.prefix, Duration::from_secs(600)).with_wakeups(bus.client.clone());
    let audience = Arc::new(edge::Audience::new(edge::Mode::Enterprise, cache.clone(), stores.clone()));
    let subscribers = Arc::new(edge::Subscribers::new(stores.clone()));
    let resource_subs = Arc::new(edge::ResourceSubscriptions::new(stores.clone()));
    let channels = Arc::new(edge::ClientChannels::default());
    tokio::spawn(edge::run_client_channels(bus.clone(), channels.clone(), stop.clone()));
    tokio::spawn(edge::run_resource_updates(bus.clone(), resource_subs.clone(), audience.clone(), stop.clone()));
    tokio::spawn(edge::run_list_changes(bus.clone(), cache.clone(), stop.clone()));
    tokio::spawn(edge::run_notifier(cache.clone(), subscribers.clone(), audience, stop.clone()));
    let state = edge::EdgeState {
        cache: cache.clone(),
        bus,
        call_timeout: Duration::from_secs(30),
        subscribers,
        page_size: 500,
        resource_subs,
        channels,
        mrtr: Arc::new(edge::StateCodec::new(sealer.derive_key("mrtr-request-state/v1"))),
        mode: edge::Mode::Enterprise,
        sealer,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = edge::EdgeOptions {
        allowed_hosts: vec![base.trim_start_matches("http://").to_string()],
        allowed_origins: vec![base.clone()],
        stores,
        resource: edge::ProtectedResource {
            public_base: base.clone(),
            authorization_servers: vec![AUTHORIZATION_SERVER.into()],
        },
        access_tokens: None,
        shutdown: stop.clone(),
        short_route: true,
    };
    let app = edge::router(state, options);
    let serving = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(serving.cancelled_owned()).await;
    });
    eventually(Duration::from_secs(10), || async { cache.is_ready() }).await;
    EnterpriseEdge { base, stop }
}

/// Creates identities with the domain's commands, as the API would.
struct Identities {
    executor: CommandExecutor<CanopyProjector>,
    sealer: Sealer,
}

impl Identities {
    fn new(d: &Deployment) -> Self {
        let executor = CommandExecutor::new(EventStore::new(d.db.pool.clone()), Arc::new(CanopyProjector));
        Self { executor, sealer: Sealer::from_base64(&d.secret_key).unwrap() }
    }

    fn ctx(tenant: &str) -> CommandContext {
        CommandContext::new(TenantId::parse(tenant.to_string()).unwrap(), "user:e2e")
    }

    fn new_token(&self) -> (String, TokenDigest) {
        let token = Sealer::generate_token();
        let digest = self.sealer.token_digest(&token);
        (token, digest)
    }

    async fn tenant(&self, id: &str) {
        let tenant = TenantId::parse(id.to_string()).unwrap();
        let create = TenantCommand::Create { id: tenant, display_name: id.into() };
        self.executor.execute::<Tenant>(&Self::ctx(id), id, &create).await.unwrap();
    }

    async fn client(&self, tenant: &str, name: &str, allow: AllowSpec) -> String {
        let (token, digest) = self.new_token();
        let name = ServerName::parse(name.to_string()).unwrap();
        let create = McpClientCommand::Create { name: name.clone(), description: String::new(), allow, token: digest };
        self.executor.execute::<McpClient>(&Self::ctx(tenant), name.as_str(), &create).await.unwrap();
        token
    }

    async fn delete_client(&self, tenant: &str, name: &str) {
        self.executor.execute::<McpClient>(&Self::ctx(tenant), name, &McpClientCommand::Delete).await.unwrap();
    }

    async fn user(&self, tenant: &str, name: &str, role: Role) -> String {
        let (token, digest) = self.new_token();
        let name = ServerName::parse(name.to_string()).unwrap();
        let create = UserCommand::Create { name: name.clone(), role, token: digest };
        self.executor.execute::<User>(&Self::ctx(tenant), name.as_str(), &create).await.unwrap();
        token
    }

    async fn rotate_user(&self, tenant: &str, name: &str) -> String {
        let (token, digest) = self.new_token();
        let rotate = UserCommand::RotateToken { token: digest };
        self.executor.execute::<User>(&Self::ctx(tenant), name, &rotate).await.unwrap();
        token
    }
}

fn servers(names: &[&str]) -> AllowSpec {
    AllowSpec { servers: names.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

/// A session-era MCP client that counts `tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    tools_changed: Arc<AtomicUsize>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tools_changed.fetch_add(1, Ordering::SeqCst);
    }
}

async fn connect(url: &str, token: &str) -> (Watcher, RunningService<RoleClient, Watcher>) {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token.to_string());
    let watcher = Watcher::default();
    let client = watcher.clone().serve(StreamableHttpClientTransport::from_config(config)).await.expect("connects");
    (watcher, client)
}

async fn tool_names(client: &RunningService<RoleClient, Watcher>) -> BTreeSet<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
}

/// One raw POST to an MCP endpoint: the status, the headers and the body.
async fn post(url: &str, token: Option<&str>, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session).header("mcp-protocol-version", "2025-06-18");
    }
    request.send().await.unwrap()
}

/// A session opened by raw requests: initialize, then `notifications/initialized`.
async fn open_session(url: &str, token: &str) -> String {
    let response = post(url, Some(token), None, &initialize()).await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = response.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(url, Some(token), Some(&session), &initialized).await.status(), 202);
    session
}

/// The JSON-RPC message in an SSE (or JSON) response body.
async fn rpc_body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    let json = text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).find(|d| d.starts_with('{'));
    serde_json::from_str(json.unwrap_or(&text)).unwrap_or(Value::Null)
}

async fn register(api: &str, name: &str, url: &str) {
    let (status, body) = post_json(
        &format!("{api}/api/v0/servers"),
        json!({"name": name, "transport": "streamable_http", "url": url, "bearer_token": format!("upstream-secret-{name}")}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
}

#[tokio::test]
async fn enterprise_edge_authenticates_every_request_and_shows_each_principal_what_it_may_see() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let (fx_a, fx_b) = (conformance_fixture().await, conformance_fixture().await);
    register(&api, "a", &fx_a.url()).await;
    register(&api, "b", &fx_b.url()).await;

    let ids = Identities::new(&d);
    ids.tenant("acme").await;
    let only_a = ids.client("default", "only-a", servers(&["a"])).await;
    let member = ids.user("default", "member", Role::Member).await;
    let outsider = ids.client("acme", "outsider", servers(&["*"])).await;
    let edge = start_edge(&d).await;
    let (mcp, base) = (format!("{}/mcp", edge.base), edge.base.clone());

    // No token, or an unknown one: 401 with the endpoint's protected-resource metadata.
    for (path, token) in [("/mcp", None), ("/servers/a/mcp", None), ("/mcp", Some("not-a-token"))] {
        let response = post(&format!("{base}{path}"), token, None, &initialize()).await;
        assert_eq!(response.status(), 401, "{path}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
        let metadata = format!("{base}/.well-known/oauth-protected-resource{path}");
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains(&format!("resource_metadata=\"{metadata}\"")), "{challenge}");
        assert_eq!(challenge.contains("error=\"invalid_token\""), token.is_some(), "{challenge}");
    }

    // The metadata documents (RFC 9728): `resource` is exactly the URL the client uses.
    for path in ["/mcp", "/servers/a/mcp", "/groups/g/mcp", ""] {
        let (status, doc) = get_json(&format!("{base}/.well-known/oauth-protected-resource{path}")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(doc["resource"], format!("{base}{path}"));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert_eq!(doc["authorization_servers"], json!([AUTHORIZATION_SERVER]));
    }
    assert_eq!(get_json(&format!("{base}/.well-known/oauth-protected-resource/api/v0/x")).await.0, 404);

    // A client allowed server a sees a's tools only, and b's are unknown, as if absent.
    let (only_a_watcher, client) = connect(&mcp, &only_a).await;
    let names = tool_names(&client).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("a__")), "{names:?}");
    let echo = |name: &str| {
        CallToolRequestParams::new(name.to_string())
            .with_arguments(json!({"message": "hi"}).as_object().unwrap().clone())
    };
    assert_eq!(client.call_tool(echo("a__echo")).await.unwrap().content[0].as_text().unwrap().text, "hi");
    let refused = format!("{:?}", client.call_tool(echo("b__echo")).await.unwrap_err());
    let unknown = format!("{:?}", client.call_tool(echo("nowhere__echo")).await.unwrap_err());
    assert!(refused.contains("unknown tool 'b__echo'"), "{refused}");
    assert_eq!(refused.replace("b__echo", "X"), unknown.replace("nowhere__echo", "X"), "same words as a missing tool");
    assert!(client.list_all_prompts().await.unwrap().iter().all(|p| p.name.starts_with("a__")));
    assert!(client.list_all_resources().await.unwrap().iter().all(|r| r.uri.starts_with("canopy://a/")));
    let b_resource = ReadResourceRequestParams::new("canopy://b/test://static-text");
    assert!(client.read_resource(b_resource).await.is_err());
    assert_eq!(post(&format!("{base}/servers/b/mcp"), Some(&only_a), None, &initialize()).await.status(), 404);
    assert_eq!(post(&format!("{base}/servers/zz/mcp"), Some(&only_a), None, &initialize()).await.status(), 404);
    assert_eq!(post(&format!("{base}/servers/a/mcp"), Some(&only_a), None, &initialize()).await.status(), 200);

    // The client's token never reaches the upstream: the registration's credentials do.
    let who = client.call_tool(CallToolRequestParams::new("a__whoami")).await.unwrap();
    let who = who.structured_content.unwrap();
    assert_eq!(who["authorization"], "Bearer upstream-secret-a", "{who}");
    assert!(!who.to_string().contains(&only_a));

    // A member sees everything of its tenant.
    let (member_watcher, member_client) = connect(&mcp, &member).await;
    let all = tool_names(&member_client).await;
    assert!(all.iter().any(|n| n.starts_with("a__")) && all.iter().any(|n| n.starts_with("b__")), "{all:?}");
    assert!(member_client.call_tool(echo("b__echo")).await.is_ok());

    // list_changed reaches only the sessions whose principal sees the changed server.
    post_json(&format!("{api}/api/v0/tools/disable?entity=b__add"), json!({})).await;
    let member_changes = member_watcher.tools_changed.clone();
    eventually(Duration::from_secs(5), || async { member_changes.load(Ordering::SeqCst) > 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(only_a_watcher.tools_changed.load(Ordering::SeqCst), 0, "b is nothing to only-a");
    post_json(&format!("{api}/api/v0/tools/disable?entity=a__add"), json!({})).await;
    let only_a_changes = only_a_watcher.tools_changed.clone();
    eventually(Duration::from_secs(5), || async { only_a_changes.load(Ordering::SeqCst) > 0 }).await;

    // Another tenant's client, allowed every server of its own tenant, sees nothing here.
    let (_, stranger) = connect(&mcp, &outsider).await;
    assert!(stranger.list_all_tools().await.unwrap().is_empty());
    assert!(stranger.list_all_prompts().await.unwrap().is_empty());
    assert!(stranger.list_all_resources().await.unwrap().is_empty());
    assert!(stranger.list_all_resource_templates().await.unwrap().is_empty());
    let guessed = format!("{:?}", stranger.call_tool(echo("a__echo")).await.unwrap_err());
    assert!(guessed.contains("unknown tool 'a__echo'"), "{guessed}");
    assert!(stranger.read_resource(ReadResourceRequestParams::new("canopy://a/test://static-text")).await.is_err());
    for path in ["/servers/a/mcp", "/groups/g/mcp"] {
        assert_eq!(post(&format!("{base}{path}"), Some(&outsider), None, &initialize()).await.status(), 404, "{path}");
    }

    // A session is its opener's: another principal's token on it is the 404 of an unknown
    // session, and so is an unknown session with a valid token (never 401).
    let session = open_session(&mcp, &only_a).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let own = post(&mcp, Some(&only_a), Some(&session), &list).await;
    assert_eq!(own.status(), 200);
    assert!(rpc_body(own).await["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()));
    assert_eq!(post(&mcp, Some(&member), Some(&session), &list).await.status(), 404);
    assert_eq!(post(&mcp, Some(&member), Some("no-such-session"), &list).await.status(), 404);
    assert_eq!(post(&mcp, None, Some(&session), &list).await.status(), 401);
    let stream = reqwest::Client::new()
        .get(&mcp)
        .bearer_auth(&member)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18");
    assert_eq!(stream.send().await.unwrap().status(), 404, "nor its stream");

    // A rotated token: the old one is refused, the new one keeps the identity's sessions.
    let member_session = open_session(&mcp, &member).await;
    let rotated = ids.rotate_user("default", "member").await;
    eventually(Duration::from_secs(2), || async {
        post(&mcp, Some(&member), Some(&member_session), &list).await.status() == 401
    })
    .await;
    assert_eq!(post(&mcp, Some(&rotated), Some(&member_session), &list).await.status(), 200);

    // Deleting a client refuses its next request at once, on its open session too.
    let deleted_at = Instant::now();
    ids.delete_client("default", "only-a").await;
    eventually(Duration::from_secs(1), || async {
        post(&mcp, Some(&only_a), Some(&session), &list).await.status() == 401
    })
    .await;
    assert!(deleted_at.elapsed() < Duration::from_secs(1), "refused within a second");
    assert!(client.list_all_tools().await.is_err(), "the rmcp client's session too");

    let _ = member_client.cancel().await;
    let _ = stranger.cancel().await;
}

/// The fixture with prompts, resources and templates besides its tools.
async fn conformance_fixture() -> canopy_fixture_server::FixtureHandle {
    let options = canopy_fixture_server::FixtureOptions::default().with_conformance(true);
    canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap()
}
