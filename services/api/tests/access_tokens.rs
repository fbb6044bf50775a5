//! OAuth access tokens at the REST API (enterprise mode), one test per attack, on a fresh real
//! Postgres database and the real Redis: tokens are minted with a key ring stored through
//! `KeyRingStore` (as Canopy's authorization server stores its own), external issuers are tiny
//! HTTP servers inside the test (a JWKS; an RFC 7662 introspection endpoint).
//!
//! Covered: a valid token works and is narrowed by its scopes (filtered lists, 403
//! insufficient_scope); `alg: none`, a key of another ring, a spliced signature, another issuer,
//! another resource (an MCP endpoint's token), expiry, revocation, a deleted identity: each 401
//! with `error="invalid_token"`; a tenant's token never reaches another tenant's items; key
//! rotation (the old key still verifies, a retired one no more); an external issuer's JWTs and
//! opaque tokens, with the tenant from configuration, never from the token; an issuer that cannot
//! be reached is 503, never an unchecked token.

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use canopy_api::{ApiState, Mode};
use canopy_auth::{AccessTokenSpec, KeyRing, KeyRingStore};
use canopy_bearer::{AccessTokens, Settings, Timings};
use canopy_config::ExternalIssuerConfig;
use canopy_domain::identity::{Role, User, UserCommand};
use canopy_domain::server::{Catalog, Server, ServerCommand, SessionMode, Transport, UpstreamSpec};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{ServerId, ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use chrono::{Duration as Lifetime, Utc};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const BASE: &str = "http://canopy.test";
const API: &str = "http://canopy.test/api/v0";

struct Api {
    router: axum::Router,
    state: ApiState,
    redis: redis::aio::ConnectionManager,
    prefix: String,
    /// Canopy's own ring, as stored in `oauth_key_ring`.
    store: KeyRingStore,
    _db: canopy_testkit::TestDb,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn names(&self) -> Vec<String> {
        assert_eq!(self.status, 200, "{self:?}");
        let key = |v: &Value| v.get("name").or(v.get("uri")).and_then(Value::as_str).unwrap().to_string();
        self.body.as_array().unwrap_or_else(|| panic!("not a list: {self:?}")).iter().map(key).collect()
    }

    /// A 401 with `error="invalid_token"` whose description contains `why`.
    fn refused(&self, why: &str) {
        assert_eq!(self.status, 401, "{self:?}");
        assert_eq!(self.body["error"]["code"], "UNAUTHORIZED", "{self:?}");
        let challenge = self.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains("error_description=\"") && challenge.contains(why), "{challenge}");
    }
}

/// The test's own timings: keys read again quickly, so rotation shows within the test.
fn timings() -> Timings {
    Timings {
        keys_refresh: Duration::from_millis(300),
        unknown_key_reload: Duration::from_millis(50),
        introspection_cache: Duration::from_secs(30),
        http_timeout: Duration::from_secs(5),
    }
}

impl Api {
    async fn new(external_issuers: Vec<ExternalIssuerConfig>) -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apitok");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-access-tokens-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        let redis = redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
            .await
            .expect("Redis for tests (set CANOPY_REDIS_URL)");
        let sealer = Sealer::from_bytes(&[42u8; 32]).unwrap();
        let store = KeyRingStore::new(db.pool.clone(), sealer.clone());
        store.load_or_create(Utc::now()).await.unwrap();
        let settings = Settings { issuer: BASE.into(), prefix: prefix.clone(), external_issuers, timings: timings() };
        let tokens = AccessTokens::new(settings, db.pool.clone(), redis.clone()).unwrap();
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode: Mode::Enterprise,
            executor,
            bus,
            sealer,
            access_tokens: Some(Arc::new(tokens)),
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: BASE.into(),
            oauth: None,
            jobs,
        };
        Api { router: canopy_api::router(state.clone()), state, redis, prefix, store, _db: db }
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, token, None).await
    }

    async fn ring(&self) -> KeyRing {
        self.store.load().await.unwrap().unwrap().ring
    }

    async fn ctx(&self, tenant: &str) -> CommandContext {
        CommandContext::new(TenantId::parse(tenant.to_string()).unwrap(), "test:seed")
    }

    async fn tenant(&self, id: &str) {
        let create = TenantCommand::Create { id: TenantId::parse(id.to_string()).unwrap(), display_name: id.into() };
        self.state.executor.execute::<Tenant>(&self.ctx(id).await, id, &create).await.unwrap();
    }

    async fn tenant_command(&self, id: &str, command: TenantCommand) {
        self.state.executor.execute::<Tenant>(&self.ctx(id).await, id, &command).await.unwrap();
    }

    async fn user(&self, tenant: &str, name: &str, role: Role) {
        let digest = self.state.sealer.token_digest(&Sealer::generate_token());
        let create = UserCommand::Create { name: ServerName::parse(name.to_string()).unwrap(), role, token: digest };
        self.state.executor.execute::<User>(&self.ctx(tenant).await, name, &create).await.unwrap();
    }

    async fn delete_user(&self, tenant: &str, name: &str) {
        self.state
            .executor
            .execute::<User>(&self.ctx(tenant).await, name, &UserCommand::Delete { other_owners: 0 })
            .await
            .unwrap();
    }

    async fn client(&self, tenant: &str, name: &str, servers: &[&str]) {
        use canopy_domain::identity::{AllowSpec, McpClient, McpClientCommand};
        let allow = AllowSpec { servers: servers.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        let digest = self.state.sealer.token_digest(&Sealer::generate_token());
        let name = ServerName::parse(name.to_string()).unwrap();
        let create = McpClientCommand::Create { name: name.clone(), description: String::new(), allow, token: digest };
        self.state.executor.execute::<McpClient>(&self.ctx(tenant).await, name.as_str(), &create).await.unwrap();
    }

    /// A registered server with a discovered catalog, as the session-worker reports it.
    async fn server(&self, tenant: &str, name: &str, tools: &[&str], prompts: &[&str]) {
        let ctx = self.ctx(tenant).await;
        let id = ServerId(uuid::Uuid::now_v7());
        let spec = UpstreamSpec {
            transport: Transport::StreamableHttp,
            description: String::new(),
            url: Some("http://127.0.0.1:9/mcp".into()),
            bearer_token: None,
            headers: Default::default(),
            command: None,
            args: vec![],
            env: Default::default(),
            session_mode: SessionMode::Stateless,
        };
        let register = ServerCommand::Register { id, name: ServerName::parse(name).unwrap(), spec, force: false };
        self.state.executor.execute::<Server>(&ctx, name, &register).await.unwrap();
        let catalog = Catalog {
            tools: tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect(),
            prompts: prompts.iter().map(|p| json!({"name": p})).collect(),
            ..Catalog::default()
        };
        self.state.executor.execute::<Server>(&ctx, name, &ServerCommand::RecordCatalog { id, catalog }).await.unwrap();
    }

    /// `alpha` (tools a1, a2; prompt hello) and `beta` (tool b1) in the default tenant; users
    /// `owner` and `alice` (member) and client `cursor` (allowed alpha).
    async fn seeded(external_issuers: Vec<ExternalIssuerConfig>) -> Api {
        let api = Api::new(external_issuers).await;
        api.server("default", "alpha", &["a1", "a2"], &["hello"]).await;
        api.server("default", "beta", &["b1"], &[]).await;
        api.user("default", "owner", Role::Owner).await;
        api.user("default", "alice", Role::Member).await;
        api.client("default", "cursor", &["alpha"]).await;
        api
    }
}

/// A token as Canopy's authorization server issues it.
struct Mint<'a> {
    issuer: &'a str,
    subject: &'a str,
    audience: &'a str,
    tenant: &'a str,
    scopes: &'a str,
    issued: chrono::DateTime<Utc>,
    lifetime: Lifetime,
}

impl<'a> Mint<'a> {
    fn new(subject: &'a str, scopes: &'a str) -> Self {
        Mint {
            issuer: BASE,
            subject,
            audience: API,
            tenant: "default",
            scopes,
            issued: Utc::now(),
            lifetime: Lifetime::minutes(10),
        }
    }

    fn sign(&self, ring: &KeyRing) -> (String, String) {
        let scopes: Vec<String> = self.scopes.split_whitespace().map(str::to_string).collect();
        let spec = AccessTokenSpec {
            issuer: self.issuer,
            subject: self.subject,
            audience: self.audience,
            client_id: "test-client",
            scopes: &scopes,
            tenant: &TenantId::parse(self.tenant.to_string()).unwrap(),
            lifetime: self.lifetime,
        };
        let issued = ring.issue_access_token(&spec, self.issued).unwrap();
        (issued.token.expose().to_string(), issued.claims.jti)
    }
}

fn b64(json: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

const ALL: &str = "mcp:tools mcp:prompts mcp:resources canopy:admin";

#[tokio::test]
async fn a_valid_token_works_narrowed_by_its_scopes() {
    let api = Api::seeded(vec![]).await;
    let ring = api.ring().await;

    let (alice, _) = Mint::new("user:alice", "mcp:tools").sign(&ring);
    assert_eq!(api.get("/api/v0/tools", &alice).await.names(), ["alpha__a1", "alpha__a2", "beta__b1"]);
    assert!(api.get("/api/v0/prompts", &alice).await.names().is_empty(), "no mcp:prompts: an empty list");

    // A client's token: its allow list, then its scopes.
    let (cursor, _) = Mint::new("client:cursor", "mcp:tools mcp:prompts").sign(&ring);
    assert_eq!(api.get("/api/v0/tools", &cursor).await.names(), ["alpha__a1", "alpha__a2"]);
    assert_eq!(api.get("/api/v0/prompts", &cursor).await.names(), ["alpha__hello"]);
    let beta = api.get("/api/v0/tool?name=beta__b1", &cursor).await;
    assert_eq!(beta.status, 404, "outside the allow list: unknown, token or not: {beta:?}");

    // An owner's token without canopy:admin manages nothing: 403 insufficient_scope.
    let (owner_tools, _) = Mint::new("user:owner", "mcp:tools").sign(&ring);
    let refused =
        api.call("POST", "/api/v0/servers", &owner_tools, Some(json!({"name": "g", "url": "http://127.0.0.1:9/mcp"})));
    let refused = refused.await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{refused:?}");
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("canopy:admin"), "{challenge}");
    let (owner_admin, _) = Mint::new("user:owner", ALL).sign(&ring);
    assert_eq!(api.get("/api/v0/users", &owner_admin).await.names(), ["alice", "owner"]);
    // A member's token with canopy:admin is still a member's: scopes never widen.
    let (alice_admin, _) = Mint::new("user:alice", ALL).sign(&ring);
    assert_eq!(api.get("/api/v0/users", &alice_admin).await.status, 403);
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let api = Api::seeded(vec![]).await;
    let ring = api.ring().await;
    let (good, _) = Mint::new("user:alice", ALL).sign(&ring);
    assert_eq!(api.get("/api/v0/tools", &good).await.status, 200);
    let parts: Vec<&str> = good.split('.').collect();

    // alg none: the header says so, the signature is empty.
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": ring.current().kid()});
    let none = format!("{}.{}.", b64(&header), parts[1]);
    api.get("/api/v0/tools", &none).await.refused("algorithm that is not accepted");
    // HS256 with the public key as the secret: refused before any key is touched.
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": ring.current().kid()});
    api.get("/api/v0/tools", &format!("{}.{}.{}", b64(&header), parts[1], parts[2])).await.refused("algorithm");

    // Another ring's key (its own kid): unknown.
    let other = KeyRing::generate(Utc::now());
    let (foreign, _) = Mint::new("user:alice", ALL).sign(&other);
    api.get("/api/v0/tools", &foreign).await.refused("unknown key");
    // Another key's signature under this ring's header and claims.
    let foreign_signature = foreign.split('.').nth(2).unwrap();
    let spliced = format!("{}.{}.{}", parts[0], parts[1], foreign_signature);
    api.get("/api/v0/tools", &spliced).await.refused("signature is invalid");
    // Claims changed after signing (a wider tenant, say).
    let mut claims: Value = {
        use base64::Engine;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
    };
    claims["sub"] = json!("user:owner");
    api.get("/api/v0/tools", &format!("{}.{}.{}", parts[0], b64(&claims), parts[2])).await.refused("signature");
    // Garbage that looks like a JWT.
    api.get("/api/v0/tools", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA").await.refused("");
}

#[tokio::test]
async fn tokens_for_another_issuer_resource_or_time_are_401() {
    let api = Api::seeded(vec![]).await;
    let ring = api.ring().await;

    // Signed with Canopy's key, but naming another issuer: no such issuer is trusted.
    let (evil, _) = Mint { issuer: "https://evil.example", ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &evil).await.refused("another issuer");
    // A token for an MCP endpoint is not one for REST (RFC 8707 audience).
    let (mcp, _) = Mint { audience: &format!("{BASE}/mcp"), ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &mcp).await.refused("not intended for this resource");
    let (elsewhere, _) = Mint { audience: "https://other.example/api/v0", ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &elsewhere).await.refused("not intended for this resource");
    // Expired (beyond the clock leeway), and not valid yet.
    let issued = Utc::now() - Lifetime::hours(2);
    let (expired, _) = Mint { issued, lifetime: Lifetime::hours(1), ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &expired).await.refused("expired");
    let (future, _) = Mint { issued: Utc::now() + Lifetime::hours(1), ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &future).await.refused("not valid yet");
}

#[tokio::test]
async fn revoked_tokens_and_deleted_identities_are_401() {
    let api = Api::seeded(vec![]).await;
    let ring = api.ring().await;
    let (token, jti) = Mint::new("user:alice", ALL).sign(&ring);
    let (other, _) = Mint::new("user:alice", ALL).sign(&ring);
    assert_eq!(api.get("/api/v0/tools", &token).await.status, 200);

    // Revoked (RFC 7009): the authorization server marks the jti in Redis.
    let key = canopy_auth::revoked_jti_key(&api.prefix, &jti);
    let () = redis::cmd("SET").arg(&key).arg("1").arg("EX").arg(600).query_async(&mut api.redis.clone()).await.unwrap();
    api.get("/api/v0/tools", &token).await.refused("revoked");
    assert_eq!(api.get("/api/v0/tools", &other).await.status, 200, "only that token");
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut api.redis.clone()).await.unwrap();

    // The identity it names is deleted: every token naming it is refused at once.
    api.delete_user("default", "alice").await;
    api.get("/api/v0/tools", &other).await.refused("no identity");
    // A subject that never existed, or not of the user:/client: form.
    for subject in ["user:nobody", "client:nobody", "alice", "operator:root"] {
        let (token, _) = Mint::new(subject, ALL).sign(&ring);
        api.get("/api/v0/tools", &token).await.refused("no identity");
    }
}

#[tokio::test]
async fn a_tenants_token_never_reaches_another_tenants_items() {
    let api = Api::seeded(vec![]).await;
    api.tenant("acme").await;
    api.server("acme", "gamma", &["g1"], &[]).await;
    api.user("acme", "bob", Role::Owner).await;
    let ring = api.ring().await;

    let (bob, _) = Mint { tenant: "acme", ..Mint::new("user:bob", ALL) }.sign(&ring);
    assert_eq!(api.get("/api/v0/tools", &bob).await.names(), ["gamma__g1"]);
    assert_eq!(api.get("/api/v0/servers", &bob).await.names(), ["gamma"]);
    assert_eq!(api.get("/api/v0/tool?name=alpha__a1", &bob).await.status, 404);
    assert_eq!(api.get("/api/v0/servers/alpha", &bob).await.status, 404);
    // The token's tenant and subject go together: bob is not in default, alice not in acme.
    let (bob_in_default, _) = Mint::new("user:bob", ALL).sign(&ring);
    api.get("/api/v0/tools", &bob_in_default).await.refused("no identity");
    let (alice_in_acme, _) = Mint { tenant: "acme", ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &alice_in_acme).await.refused("no identity");
    let (nowhere, _) = Mint { tenant: "nowhere", ..Mint::new("user:alice", ALL) }.sign(&ring);
    api.get("/api/v0/tools", &nowhere).await.refused("no identity");

    // A suspended tenant's identities hold nothing, until it is resumed.
    api.tenant_command("acme", TenantCommand::Suspend).await;
    api.get("/api/v0/tools", &bob).await.refused("no identity");
    api.tenant_command("acme", TenantCommand::Resume).await;
    assert_eq!(api.get("/api/v0/tools", &bob).await.names(), ["gamma__g1"]);
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_their_key_is_retired() {
    let api = Api::seeded(vec![]).await;
    let old_ring = api.ring().await;
    let (old, _) = Mint::new("user:alice", ALL).sign(&old_ring);
    assert_eq!(api.get("/api/v0/tools", &old).await.status, 200);

    // Rotated: a token of the new key (a kid the verifier has not seen) works at once, and
    // the old key's tokens still verify.
    api.store.rotate_now(Utc::now()).await.unwrap();
    let new_ring = api.ring().await;
    assert_ne!(new_ring.current().kid(), old_ring.current().kid());
    let (new, _) = Mint::new("user:alice", ALL).sign(&new_ring);
    assert_eq!(api.get("/api/v0/tools", &new).await.status, 200);
    assert_eq!(api.get("/api/v0/tools", &old).await.status, 200);

    // Retired (its longest token lifetime has passed): refused once the keys are read again.
    let (_, changed) =
        api.store.rotate_if_due(Utc::now() + Lifetime::days(1), Lifetime::days(365), Lifetime::hours(1)).await.unwrap();
    assert!(changed);
    tokio::time::sleep(timings().keys_refresh + Duration::from_millis(100)).await;
    api.get("/api/v0/tools", &old).await.refused("unknown key");
    assert_eq!(api.get("/api/v0/tools", &new).await.status, 200);
}

/// A tiny external authorization server: its JWKS at `/jwks`, introspection at `/introspect`
/// (client `canopy`, secret `s3cret`: active for `jg_good` and `jg_wide`, nothing else).
struct Idp {
    url: String,
    ring: KeyRing,
    introspections: Arc<AtomicUsize>,
}

async fn idp() -> Idp {
    use axum::extract::State;
    use axum::http::HeaderMap as Headers;
    use axum::routing::{get, post};
    let ring = KeyRing::generate(Utc::now());
    let jwks = serde_json::to_value(ring.jwks()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let introspections = Arc::new(AtomicUsize::new(0));
    let issuer = url.clone();
    let introspect = move |State(count): State<Arc<AtomicUsize>>, headers: Headers, form: String| {
        let issuer = issuer.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            // canopy:s3cret
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic Y2Fub3B5OnMzY3JldA==") {
                return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"})));
            }
            let exp = Utc::now().timestamp() + 300;
            let token = form.split('&').find_map(|pair| pair.strip_prefix("token="));
            let answer = match token {
                Some("jg_good") => json!({"active": true, "sub": "alice", "scope": "mcp:tools", "aud": API,
                                          "iss": issuer, "exp": exp, "client_id": "jg-app"}),
                Some("jg_wide") => json!({"active": true, "sub": "client:robot", "scope": "mcp:tools",
                                          "aud": [format!("{BASE}/mcp"), API], "iss": issuer, "exp": exp}),
                Some("jg_mcp_only") => json!({"active": true, "sub": "alice", "scope": "mcp:tools",
                                              "aud": format!("{BASE}/mcp"), "iss": issuer, "exp": exp}),
                _ => json!({"active": false}),
            };
            (axum::http::StatusCode::OK, axum::Json(answer))
        }
    };
    let app = axum::Router::new()
        .route("/jwks", get(move || async move { axum::Json(jwks) }))
        .route("/introspect", post(introspect))
        .with_state(introspections.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Idp { url, ring, introspections }
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
async fn an_external_issuers_jwts_name_identities_of_the_configured_tenant() {
    let idp = idp().await;
    let config = ExternalIssuerConfig { jwks_uri: format!("{}/jwks", idp.url), ..external(&idp.url, "acme") };
    let api = Api::seeded(vec![config]).await;
    api.tenant("acme").await;
    api.server("acme", "gamma", &["g1"], &[]).await;
    api.user("acme", "alice", Role::Member).await;

    // `sub` names alice; the token's own `tenant` claim says default, and is ignored.
    let mint = Mint { issuer: &idp.url, ..Mint::new("alice", "mcp:tools") };
    let (token, _) = mint.sign(&idp.ring);
    assert_eq!(api.get("/api/v0/tools", &token).await.names(), ["gamma__g1"], "acme's, never default's");
    assert!(api.get("/api/v0/prompts", &token).await.names().is_empty());
    // Its scopes, not the identity's.
    let owner = api.call("POST", "/api/v0/servers/gamma/disable", &token, None).await;
    assert_eq!(owner.status, 403, "{owner:?}");

    // Its tokens get every check Canopy's get.
    let (mcp, _) = Mint { audience: &format!("{BASE}/mcp"), ..Mint { issuer: &idp.url, ..Mint::new("alice", ALL) } }
        .sign(&idp.ring);
    api.get("/api/v0/tools", &mcp).await.refused("not intended for this resource");
    let issued = Utc::now() - Lifetime::hours(2);
    let (expired, _) =
        Mint { issued, lifetime: Lifetime::hours(1), ..Mint { issuer: &idp.url, ..Mint::new("alice", ALL) } }
            .sign(&idp.ring);
    api.get("/api/v0/tools", &expired).await.refused("expired");
    let (unknown, _) = Mint { issuer: &idp.url, ..Mint::new("mallory", ALL) }.sign(&idp.ring);
    api.get("/api/v0/tools", &unknown).await.refused("no identity");
    // Canopy's own key cannot sign for the external issuer, nor its key for Canopy.
    let (crossed, _) = Mint { issuer: &idp.url, ..Mint::new("alice", ALL) }.sign(&api.ring().await);
    api.get("/api/v0/tools", &crossed).await.refused("unknown key");
    let (crossed, _) = Mint::new("user:alice", ALL).sign(&idp.ring);
    api.get("/api/v0/tools", &crossed).await.refused("unknown key");
}

#[tokio::test]
async fn an_external_issuers_opaque_tokens_are_introspected_and_cached() {
    let idp = idp().await;
    let config = ExternalIssuerConfig {
        introspection_endpoint: format!("{}/introspect", idp.url),
        client_id: "canopy".into(),
        client_secret: "s3cret".into(),
        token_prefix: "jg_".into(),
        ..external(&idp.url, "acme")
    };
    let api = Api::seeded(vec![config]).await;
    api.tenant("acme").await;
    api.server("acme", "gamma", &["g1"], &["p"]).await;
    api.server("acme", "delta", &["d1"], &[]).await;
    api.user("acme", "alice", Role::Member).await;
    api.client("acme", "robot", &["delta"]).await;

    assert_eq!(api.get("/api/v0/tools", "jg_good").await.names(), ["delta__d1", "gamma__g1"]);
    assert!(api.get("/api/v0/prompts", "jg_good").await.names().is_empty(), "its scopes");
    assert_eq!(api.get("/api/v0/tools", "jg_good").await.status, 200);
    assert_eq!(idp.introspections.load(Ordering::SeqCst), 1, "the answer is cached");
    assert_eq!(api.get("/api/v0/tools", "jg_wide").await.names(), ["delta__d1"], "client:robot's allow list");

    api.get("/api/v0/tools", "jg_revoked").await.refused("not active");
    api.get("/api/v0/tools", "jg_mcp_only").await.refused("not intended for this resource");
    // Not the prefix: never sent to the endpoint; a static token lookup only.
    let before = idp.introspections.load(Ordering::SeqCst);
    assert_eq!(api.get("/api/v0/tools", "xx_good").await.status, 401);
    assert_eq!(idp.introspections.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_is_503_never_an_unchecked_token() {
    let idp = idp().await;
    let closed = format!("http://127.0.0.1:{}", {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    });
    let jwks = ExternalIssuerConfig { jwks_uri: format!("{closed}/jwks"), ..external(&idp.url, "acme") };
    let opaque = ExternalIssuerConfig {
        introspection_endpoint: format!("{closed}/introspect"),
        client_id: "canopy".into(),
        client_secret: "s3cret".into(),
        token_prefix: "jg_".into(),
        ..external("https://jg.example", "acme")
    };
    let api = Api::seeded(vec![jwks, opaque]).await;
    api.tenant("acme").await;
    api.user("acme", "alice", Role::Member).await;

    let (token, _) = Mint { issuer: &idp.url, ..Mint::new("alice", ALL) }.sign(&idp.ring);
    for token in [token.as_str(), "jg_good"] {
        let answer = api.get("/api/v0/tools", token).await;
        assert_eq!((answer.status, answer.body["error"]["code"].as_str()), (503, Some("UNAVAILABLE")), "{answer:?}");
    }
    // Canopy's own tokens do not depend on them.
    let (own, _) = Mint::new("user:alice", ALL).sign(&api.ring().await);
    assert_eq!(api.get("/api/v0/tools", &own).await.status, 200);
}
