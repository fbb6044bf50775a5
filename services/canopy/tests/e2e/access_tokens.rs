//! OAuth access tokens at the MCP edge (enterprise mode), with real rmcp clients: the edge runs
//! in this process as `runtime.rs` assembles it, with a `canopy-bearer` verifier whose issuer
//! is the edge's own URL; the API and a worker run as `canopy serve` processes (development
//! mode: servers go into `default`). Canopy's tokens are minted with a key ring stored through
//! `KeyRingStore`, external issuers are tiny HTTP servers inside the test. One binary test
//! checks the wiring of `canopy start --enterprise` itself.
//!
//! Covered: a token works like a static token (list, call, sessions, the token never reaching
//! the upstream) and is narrowed by its scopes (filtered lists, JSON-RPC errors, HTTP 403
//! insufficient_scope for 2026-07-28 requests); tenants are walls; `alg: none`, another ring's
//! key, a spliced signature, another issuer, another endpoint's or REST's token, expiry,
//! revocation, a deleted identity are 401 with `error="invalid_token"`, its description and the
//! endpoint's `resource_metadata`; key rotation; external issuers (JWKS, introspection).

use crate::harness::*;
use canopy_auth::{AccessTokenSpec, KeyRing, KeyRingStore};
use canopy_bearer::{AccessTokens, Settings, Timings};
use canopy_config::ExternalIssuerConfig;
use canopy_domain::identity::{AllowSpec, McpClient, McpClientCommand, Role, User, UserCommand};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use chrono::{Duration as Lifetime, Utc};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ALL: &str = "mcp:tools mcp:prompts mcp:resources";

fn timings() -> Timings {
    Timings {
        keys_refresh: Duration::from_millis(300),
        unknown_key_reload: Duration::from_millis(50),
        introspection_cache: Duration::from_secs(30),
        http_timeout: Duration::from_secs(5),
    }
}

/// The gateway-edge in enterprise mode with OAuth access tokens, until dropped.
struct Edge {
    base: String,
    store: KeyRingStore,
    redis: redis::aio::ConnectionManager,
    prefix: String,
    stop: CancellationToken,
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Edge {
    async fn ring(&self) -> KeyRing {
        self.store.load_or_create(Utc::now()).await.unwrap().ring
    }

    /// Canopy's token for `subject` of `tenant`, for the resource at `path`.
    fn mint(&self, ring: &KeyRing, subject: &str, tenant: &str, path: &str, scopes: &str) -> String {
        Token { issuer: &self.base, subject, tenant, audience: &format!("{}{path}", self.base), scopes, ..Token::now() }
            .sign(ring)
    }
}

struct Token<'a> {
    issuer: &'a str,
    subject: &'a str,
    tenant: &'a str,
    audience: &'a str,
    scopes: &'a str,
    issued: chrono::DateTime<Utc>,
    lifetime: Lifetime,
}

impl<'a> Token<'a> {
    fn now() -> Self {
        Token {
            issuer: "",
            subject: "",
            tenant: "default",
            audience: "",
            scopes: ALL,
            issued: Utc::now(),
            lifetime: Lifetime::minutes(10),
        }
    }

    fn sign(&self, ring: &KeyRing) -> String {
        let scopes: Vec<String> = self.scopes.split_whitespace().map(str::to_string).collect();
        let tenant = TenantId::parse(self.tenant.to_string()).unwrap();
        let spec = AccessTokenSpec {
            issuer: self.issuer,
            subject: self.subject,
            audience: self.audience,
            client_id: "e2e-client",
            scopes: &scopes,
            tenant: &tenant,
            lifetime: self.lifetime,
        };
        ring.issue_access_token(&spec, self.issued).unwrap().token.expose().to_string()
    }

    fn jti(token: &str) -> String {
        payload(token)["jti"].as_str().unwrap().to_string()
    }
}

fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn b64(json: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

async fn start_edge(d: &Deployment, external_issuers: Vec<ExternalIssuerConfig>) -> Edge {
    use canopy_gateway_edge as edge;
    let stop = CancellationToken::new();
    let pool = d.db.pool.clone();
    let bus = d.bus().await;
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
        .await
        .expect("Redis for tests");
    let sealer = Sealer::from_base64(&d.secret_key).unwrap();

    let cache = Arc::new(edge::CatalogCache::default());
    tokio::spawn(edge::run_catalog_sync(pool.clone(), bus.clone(), cache.clone(), stop.clone()));
    let stores =
        edge::RedisStores::new(redis.clone(), &d.prefix, Duration::from_secs(600)).with_wakeups(bus.client.clone());
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
        sealer: sealer.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings { issuer: base.clone(), prefix: d.prefix.clone(), external_issuers, timings: timings() };
    let tokens = AccessTokens::new(settings, pool.clone(), redis.clone()).unwrap();
    let options = edge::EdgeOptions {
        allowed_hosts: vec![base.trim_start_matches("http://").to_string()],
        allowed_origins: vec![base.clone()],
        stores,
        resource: edge::ProtectedResource { public_base: base.clone(), authorization_servers: vec![base.clone()] },
        access_tokens: Some(Arc::new(tokens)),
        shutdown: stop.clone(),
        short_route: true,
    };
    let app = edge::router(state, options);
    let serving = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(serving.cancelled_owned()).await;
    });
    eventually(Duration::from_secs(10), || async { cache.is_ready() }).await;
    Edge { base, store: KeyRingStore::new(pool, sealer), redis, prefix: d.prefix.clone(), stop }
}

/// Identities created with the domain's commands, as the API would; answers static tokens.
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

    async fn tenant(&self, id: &str) {
        let create = TenantCommand::Create { id: TenantId::parse(id.to_string()).unwrap(), display_name: id.into() };
        self.executor.execute::<Tenant>(&Self::ctx(id), id, &create).await.unwrap();
    }

    async fn client(&self, tenant: &str, name: &str, servers: &[&str]) -> String {
        let token = Sealer::generate_token();
        let allow = AllowSpec { servers: servers.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        let name = ServerName::parse(name.to_string()).unwrap();
        let create = McpClientCommand::Create {
            name: name.clone(),
            description: String::new(),
            allow,
            token: self.sealer.token_digest(&token),
        };
        self.executor.execute::<McpClient>(&Self::ctx(tenant), name.as_str(), &create).await.unwrap();
        token
    }

    async fn delete_client(&self, tenant: &str, name: &str) {
        self.executor.execute::<McpClient>(&Self::ctx(tenant), name, &McpClientCommand::Delete).await.unwrap();
    }

    async fn user(&self, tenant: &str, name: &str, role: Role) -> String {
        let token = Sealer::generate_token();
        let name = ServerName::parse(name.to_string()).unwrap();
        let create = UserCommand::Create { name: name.clone(), role, token: self.sealer.token_digest(&token) };
        self.executor.execute::<User>(&Self::ctx(tenant), name.as_str(), &create).await.unwrap();
        token
    }
}

async fn connect(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token.to_string());
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("connects")
}

async fn tool_names(client: &RunningService<RoleClient, ()>) -> BTreeSet<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

fn echo(name: &str) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(json!({"message": "hi"}).as_object().unwrap().clone())
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
}

async fn post(url: &str, token: &str, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session).header("mcp-protocol-version", "2025-06-18");
    }
    request.send().await.unwrap()
}

async fn open_session(url: &str, token: &str) -> String {
    let response = post(url, token, None, &initialize()).await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = response.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(url, token, Some(&session), &initialized).await.status(), 202);
    session
}

/// `initialize` at `path` with `token` is refused: 401, `error="invalid_token"`, a description
/// containing `why`, and the endpoint's protected-resource metadata.
async fn refused(edge: &Edge, path: &str, token: &str, why: &str) {
    let response = post(&format!("{}{path}", edge.base), token, None, &initialize()).await;
    assert_eq!(response.status(), 401, "{path}: {why}");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
    let metadata = format!("{}/.well-known/oauth-protected-resource{path}", edge.base);
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("error_description=\"") && challenge.contains(why), "{why}: {challenge}");
    assert!(challenge.contains(&format!("resource_metadata=\"{metadata}\"")), "{challenge}");
}

async fn register(api: &str, name: &str, url: &str) {
    let (status, body) = post_json(
        &format!("{api}/api/v0/servers"),
        json!({"name": name, "transport": "streamable_http", "url": url, "bearer_token": format!("upstream-secret-{name}")}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
}

async fn conformance_fixture() -> canopy_fixture_server::FixtureHandle {
    let options = canopy_fixture_server::FixtureOptions::default().with_conformance(true);
    canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap()
}

/// Servers `a` and `b` in `default`, a worker, and the API; answers the deployment, the
/// fixtures (kept alive) and the API's URL.
async fn two_servers() -> (Deployment, Vec<canopy_fixture_server::FixtureHandle>, String) {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let (fx_a, fx_b) = (conformance_fixture().await, conformance_fixture().await);
    register(&api, "a", &fx_a.url()).await;
    register(&api, "b", &fx_b.url()).await;
    (d, vec![fx_a, fx_b], api)
}

#[tokio::test]
async fn canopy_tokens_at_the_edge_are_principals_like_static_tokens() {
    let (d, _fixtures, _) = two_servers().await;
    let ids = Identities::new(&d);
    ids.tenant("acme").await;
    let only_a_static = ids.client("default", "only-a", &["a"]).await;
    ids.user("default", "member", Role::Member).await;
    ids.user("acme", "bob", Role::Owner).await;
    let edge = start_edge(&d, vec![]).await;
    let ring = edge.ring().await;
    let mcp = format!("{}/mcp", edge.base);

    // A client's token: its allow list, calls through a worker, and the token goes no further.
    let only_a = edge.mint(&ring, "client:only-a", "default", "/mcp", ALL);
    let client = connect(&mcp, &only_a).await;
    let names = tool_names(&client).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("a__")), "{names:?}");
    assert_eq!(client.call_tool(echo("a__echo")).await.unwrap().content[0].as_text().unwrap().text, "hi");
    assert!(client.call_tool(echo("b__echo")).await.is_err());
    let who = client.call_tool(CallToolRequestParams::new("a__whoami")).await.unwrap().structured_content.unwrap();
    assert_eq!(who["authorization"], "Bearer upstream-secret-a", "{who}");
    assert!(!who.to_string().contains(&only_a));

    // A token for one server's endpoint works there, and nowhere else.
    let server_a = edge.mint(&ring, "client:only-a", "default", "/servers/a/mcp", ALL);
    let on_a = connect(&format!("{}/servers/a/mcp", edge.base), &server_a).await;
    assert!(tool_names(&on_a).await.contains("echo"));
    refused(&edge, "/mcp", &server_a, "not intended for this resource").await;
    refused(&edge, "/servers/b/mcp", &server_a, "not intended for this resource").await;
    let rest = edge.mint(&ring, "client:only-a", "default", "/api/v0", ALL);
    refused(&edge, "/mcp", &rest, "not intended for this resource").await;

    // Scopes narrow: prompts only lists no tools, and calling one is refused by name.
    let prompts_only = edge.mint(&ring, "user:member", "default", "/mcp", "mcp:prompts");
    let narrow = connect(&mcp, &prompts_only).await;
    assert!(tool_names(&narrow).await.is_empty());
    assert!(!narrow.list_all_prompts().await.unwrap().is_empty());
    let denied = format!("{:?}", narrow.call_tool(echo("a__echo")).await.unwrap_err());
    assert!(denied.contains("mcp:tools"), "{denied}");
    // A 2026-07-28 client names its target in headers: HTTP 403 insufficient_scope (which
    // rmcp's client reports as such).
    let config = StreamableHttpClientTransportConfig::with_uri(mcp.clone()).auth_header(prompts_only.clone());
    let lifecycle = rmcp::service::ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    let transport = StreamableHttpClientTransport::from_config(config);
    let modern = rmcp::service::serve_client_with_lifecycle((), transport, lifecycle).await.unwrap();
    let refused_call = modern.call_tool(echo("a__echo")).await.expect_err("no mcp:tools");
    assert!(refused_call.to_string().contains("Insufficient scope"), "{refused_call}");
    let _ = modern.cancel().await;

    // Sessions belong to the identity: its static token may use a session its OAuth token
    // opened; another identity's token gets the 404 of an unknown session.
    let session = open_session(&mcp, &only_a).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(&mcp, &only_a_static, Some(&session), &list).await.status(), 200);
    let member = edge.mint(&ring, "user:member", "default", "/mcp", ALL);
    assert_eq!(post(&mcp, &member, Some(&session), &list).await.status(), 404);

    // Tenants are walls: acme's owner sees nothing of default's, and a token cannot carry an
    // identity into another tenant.
    let bob = edge.mint(&ring, "user:bob", "acme", "/mcp", ALL);
    let stranger = connect(&mcp, &bob).await;
    assert!(tool_names(&stranger).await.is_empty());
    let guessed = format!("{:?}", stranger.call_tool(echo("a__echo")).await.unwrap_err());
    assert!(guessed.contains("unknown tool 'a__echo'"), "{guessed}");
    let bob_on_a = edge.mint(&ring, "user:bob", "acme", "/servers/a/mcp", ALL);
    let response = post(&format!("{}/servers/a/mcp", edge.base), &bob_on_a, None, &initialize()).await;
    assert_eq!(response.status(), 404, "another tenant's server is unknown");
    refused(&edge, "/mcp", &edge.mint(&ring, "user:bob", "default", "/mcp", ALL), "no identity").await;
    refused(&edge, "/mcp", &edge.mint(&ring, "client:only-a", "acme", "/mcp", ALL), "no identity").await;

    for c in [client, on_a, narrow, stranger] {
        let _ = c.cancel().await;
    }
}

#[tokio::test]
async fn refused_tokens_at_the_edge_are_401_invalid_token_with_the_metadata() {
    let (d, _fixtures, _) = two_servers().await;
    let ids = Identities::new(&d);
    ids.client("default", "only-a", &["a"]).await;
    ids.client("default", "doomed", &["a"]).await;
    let edge = start_edge(&d, vec![]).await;
    let ring = edge.ring().await;
    let good = edge.mint(&ring, "client:only-a", "default", "/mcp", ALL);
    assert_eq!(post(&format!("{}/mcp", edge.base), &good, None, &initialize()).await.status(), 200);
    let parts: Vec<&str> = good.split('.').collect();

    // Forged: alg none, HMAC, another ring's key, another key's signature, edited claims.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": ring.current().kid()});
    refused(&edge, "/mcp", &format!("{}.{}.", b64(&none), parts[1]), "algorithm that is not accepted").await;
    let hs = json!({"alg": "HS256", "typ": "at+jwt", "kid": ring.current().kid()});
    refused(&edge, "/mcp", &format!("{}.{}.{}", b64(&hs), parts[1], parts[2]), "algorithm").await;
    let other_ring = KeyRing::generate(Utc::now());
    let foreign = edge.mint(&other_ring, "client:only-a", "default", "/mcp", ALL);
    refused(&edge, "/mcp", &foreign, "unknown key").await;
    let spliced = format!("{}.{}.{}", parts[0], parts[1], foreign.split('.').nth(2).unwrap());
    refused(&edge, "/mcp", &spliced, "signature is invalid").await;
    let mut claims = payload(&good);
    claims["scope"] = json!("mcp:tools canopy:admin");
    refused(&edge, "/mcp", &format!("{}.{}.{}", parts[0], b64(&claims), parts[2]), "signature is invalid").await;

    // Canopy's key, another issuer's name.
    let evil = Token {
        issuer: "https://evil.example",
        subject: "client:only-a",
        audience: &format!("{}/mcp", edge.base),
        ..Token::now()
    };
    refused(&edge, "/mcp", &evil.sign(&ring), "another issuer").await;
    // Expired beyond the leeway.
    let expired = Token {
        issuer: &edge.base,
        subject: "client:only-a",
        audience: &format!("{}/mcp", edge.base),
        issued: Utc::now() - Lifetime::hours(2),
        lifetime: Lifetime::hours(1),
        ..Token::now()
    };
    refused(&edge, "/mcp", &expired.sign(&ring), "expired").await;

    // Revoked: the authorization server marks its jti in Redis; an open session ends too.
    let revoked = edge.mint(&ring, "client:only-a", "default", "/mcp", ALL);
    let mcp = format!("{}/mcp", edge.base);
    let session = open_session(&mcp, &revoked).await;
    let key = canopy_auth::revoked_jti_key(&edge.prefix, &Token::jti(&revoked));
    let () =
        redis::cmd("SET").arg(&key).arg("1").arg("EX").arg(600).query_async(&mut edge.redis.clone()).await.unwrap();
    refused(&edge, "/mcp", &revoked, "revoked").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(&mcp, &revoked, Some(&session), &list).await.status(), 401);
    assert_eq!(post(&mcp, &good, None, &initialize()).await.status(), 200, "only that token");

    // The identity is deleted: its tokens are refused on its open session too.
    let doomed = edge.mint(&ring, "client:doomed", "default", "/mcp", ALL);
    let doomed_session = open_session(&mcp, &doomed).await;
    ids.delete_client("default", "doomed").await;
    eventually(Duration::from_secs(2), || async {
        post(&mcp, &doomed, Some(&doomed_session), &list).await.status() == 401
    })
    .await;
    refused(&edge, "/mcp", &doomed, "no identity").await;

    // Rotation: the new key's tokens work at once, the old key's still do, until retired.
    edge.store.rotate_now(Utc::now()).await.unwrap();
    let new_ring = edge.ring().await;
    let new = edge.mint(&new_ring, "client:only-a", "default", "/mcp", ALL);
    assert_eq!(post(&mcp, &new, None, &initialize()).await.status(), 200);
    assert_eq!(post(&mcp, &good, None, &initialize()).await.status(), 200);
    let retire = edge.store.rotate_if_due(Utc::now() + Lifetime::days(1), Lifetime::days(365), Lifetime::hours(1));
    assert!(retire.await.unwrap().1);
    tokio::time::sleep(timings().keys_refresh + Duration::from_millis(100)).await;
    refused(&edge, "/mcp", &good, "unknown key").await;
    assert_eq!(post(&mcp, &new, None, &initialize()).await.status(), 200);
}

/// A tiny external authorization server: its JWKS at `/jwks`; introspection at `/introspect`
/// for client `canopy` (secret `s3cret`), knowing `jg_good` (the member, for the audience set
/// in `audience` once the edge listens). Answers its URL, its ring and the audience to set.
async fn idp() -> (String, KeyRing, Arc<std::sync::Mutex<String>>) {
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let ring = KeyRing::generate(Utc::now());
    let jwks = serde_json::to_value(ring.jwks()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let opaque_issuer = format!("{url}/opaque");
    let audience = Arc::new(std::sync::Mutex::new(String::new()));
    let aud = audience.clone();
    let introspect = move |headers: HeaderMap, form: String| {
        let (aud, issuer) = (aud.lock().unwrap().clone(), opaque_issuer.clone());
        async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic Y2Fub3B5OnMzY3JldA==") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"})));
            }
            let token = form.split('&').find_map(|pair| pair.strip_prefix("token="));
            let exp = Utc::now().timestamp() + 300;
            let answer = match token {
                Some("jg_good") => {
                    json!({"active": true, "sub": "member", "scope": "mcp:tools", "aud": aud, "iss": issuer, "exp": exp})
                }
                _ => json!({"active": false}),
            };
            (axum::http::StatusCode::OK, axum::Json(answer))
        }
    };
    let app = axum::Router::new()
        .route("/jwks", get(move || async move { axum::Json(jwks) }))
        .route("/introspect", post(introspect));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, ring, audience)
}

fn external(issuer: &str, tenant: &str) -> ExternalIssuerConfig {
    ExternalIssuerConfig {
        issuer: issuer.into(),
        tenant: tenant.into(),
        jwks_uri: String::new(),
        introspection_endpoint: String::new(),
        client_id: String::new(),
        client_secret: String::new(),
        subject_claim: "sub".into(),
        audience: String::new(),
        token_prefix: String::new(),
        algorithms: vec![],
        accept_untyped_tokens: false,
    }
}

#[tokio::test]
async fn external_issuers_at_the_edge_name_identities_of_their_configured_tenant() {
    let (d, _fixtures, _) = two_servers().await;
    let ids = Identities::new(&d);
    ids.tenant("acme").await;
    ids.client("default", "only-a", &["a"]).await;
    ids.user("default", "member", Role::Member).await;
    ids.user("acme", "alice", Role::Owner).await;
    let (idp_url, idp_ring, audience) = idp().await;
    let jwks = ExternalIssuerConfig { jwks_uri: format!("{idp_url}/jwks"), ..external(&idp_url, "default") };
    let opaque = ExternalIssuerConfig {
        introspection_endpoint: format!("{idp_url}/introspect"),
        client_id: "canopy".into(),
        client_secret: "s3cret".into(),
        token_prefix: "jg_".into(),
        ..external(&format!("{idp_url}/opaque"), "default")
    };
    let edge = start_edge(&d, vec![jwks, opaque]).await;
    let mcp = format!("{}/mcp", edge.base);
    *audience.lock().unwrap() = mcp.clone();

    // JWTs: `sub` names a client of the configured tenant; the token's tenant claim is ignored.
    let token = |subject: &str, tenant: &str, path: &str| {
        Token { issuer: &idp_url, subject, tenant, audience: &format!("{}{path}", edge.base), ..Token::now() }
            .sign(&idp_ring)
    };
    let client = connect(&mcp, &token("only-a", "acme", "/mcp")).await;
    let names = tool_names(&client).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("a__")), "{names:?}");
    assert_eq!(client.call_tool(echo("a__echo")).await.unwrap().content[0].as_text().unwrap().text, "hi");
    let _ = client.cancel().await;
    // acme's alice is not of the configured tenant; tokens keep their audience.
    refused(&edge, "/mcp", &token("alice", "acme", "/mcp"), "no identity").await;
    refused(&edge, "/mcp", &token("only-a", "default", "/servers/a/mcp"), "not intended for this resource").await;
    // Its key cannot sign as Canopy, nor Canopy's as it.
    let canopy_ring = edge.ring().await;
    refused(&edge, "/mcp", &edge.mint(&idp_ring, "client:only-a", "default", "/mcp", ALL), "unknown key").await;
    let crossed = Token { issuer: &idp_url, subject: "only-a", audience: &mcp, ..Token::now() }.sign(&canopy_ring);
    refused(&edge, "/mcp", &crossed, "unknown key").await;

    // Opaque tokens with the issuer's prefix are introspected: the member, with its scopes.
    let member = connect(&mcp, "jg_good").await;
    let all = tool_names(&member).await;
    assert!(all.iter().any(|n| n.starts_with("a__")) && all.iter().any(|n| n.starts_with("b__")), "{all:?}");
    assert!(member.list_all_prompts().await.unwrap().is_empty(), "mcp:tools only");
    let _ = member.cancel().await;
    refused(&edge, "/mcp", "jg_unknown", "not active").await;
    refused(&edge, "/servers/a/mcp", "jg_good", "not intended for this resource").await;
}

#[tokio::test]
async fn canopy_start_enterprise_accepts_canopys_own_tokens_at_the_edge_and_rest() {
    let mut d = Deployment::new().await;
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    let ids = Identities::new(&d);
    ids.user("default", "member", Role::Member).await;
    let store = KeyRingStore::new(d.db.pool.clone(), Sealer::from_base64(&d.secret_key).unwrap());
    let ring = store.load_or_create(Utc::now()).await.unwrap().ring;

    // Without authorization_servers configured, the metadata names Canopy's own issuer.
    let (status, doc) = get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["authorization_servers"], json!([base]));

    let mint = |audience: &str| {
        Token { issuer: &base, subject: "user:member", audience, scopes: ALL, ..Token::now() }.sign(&ring)
    };
    let (mcp_token, rest_token) = (mint(&format!("{base}/mcp")), mint(&format!("{base}/api/v0")));
    let client = connect(&format!("{base}/mcp"), &mcp_token).await;
    assert!(tool_names(&client).await.is_empty(), "no servers yet");
    let _ = client.cancel().await;
    let rest = |token: &str| reqwest::Client::new().get(format!("{base}/api/v0/tools")).bearer_auth(token).send();
    assert_eq!(rest(&rest_token).await.unwrap().status(), 200);
    let wrong = rest(&mcp_token).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let challenge = wrong.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains("not intended"), "{challenge}");
    refused_at(&base, "/mcp", &rest_token, "not intended for this resource").await;
    d.terminate("enterprise").await;
}

async fn refused_at(base: &str, path: &str, token: &str, why: &str) {
    let response = post(&format!("{base}{path}"), token, None, &initialize()).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains(why) && challenge.contains("resource_metadata="), "{challenge}");
}
