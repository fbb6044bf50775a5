//! Enterprise mode through the REST API: the router built in-process, in enterprise mode, on a
//! fresh real Postgres database (and the real NATS, for the one call that gets past the policy).
//! Servers and their catalogs are recorded with domain commands, as the session-worker would
//! report them, so no upstream is needed.
//!
//! Covered: 401 without or with a bad token; `init-server` once, then 409; owners create members
//! and MCP clients; members use but cannot manage; a client's allow list filters every list and
//! answers names outside it exactly like unknown names (REST invoke included, unlike MCPJungle);
//! groups and single tools in allow lists; tenants are walls; deleting an identity revokes its
//! token at once; tokens never appear in reads, read models or the event log; roles change
//! (`PATCH /api/v0/users/{name}`) by owners and admins only, owners by owners, never the
//! tenant's last owner, audited, in effect on the next request.

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use canopy_api::{ApiState, Mode};
use canopy_domain::identity::{Role, User, UserCommand};
use canopy_domain::server::{Catalog, Server, ServerCommand, SessionMode, Transport, UpstreamSpec};
use canopy_domain::{ServerId, ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    state: ApiState,
    db: canopy_testkit::TestDb,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The error envelope's code and message, after checking the status.
    fn error(&self, status: u16) -> (String, String) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["ok"], false, "{self:?}");
        (self.body["error"]["code"].as_str().unwrap().into(), self.body["error"]["message"].as_str().unwrap().into())
    }

    fn ok(&self) -> &Value {
        assert!((200..300).contains(&self.status), "{self:?}");
        &self.body
    }

    fn names(&self) -> Vec<String> {
        let key = |v: &Value| v.get("name").or(v.get("uri")).and_then(Value::as_str).unwrap().to_string();
        self.ok().as_array().unwrap_or_else(|| panic!("not a list: {self:?}")).iter().map(key).collect()
    }
}

impl Api {
    async fn new(mode: Mode) -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apient");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-enterprise-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode,
            executor,
            bus,
            sealer: Sealer::from_bytes(&[42u8; 32]).unwrap(),
            access_tokens: None,
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: "http://canopy.test".into(),
            oauth: None,
            jobs,
        };
        Api { router: canopy_api::router(state.clone()), state, db }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, headers, body }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// `init-server`, answering the owner's token.
    async fn init(&self) -> String {
        let answer = self.call("POST", "/api/v0/init-server", None, None).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a user or client as `owner`; answers its token (the generated one, or `custom`).
    async fn create(&self, owner: &str, route: &str, body: Value) -> String {
        let custom = body.get("access_token").and_then(Value::as_str).map(str::to_string);
        let answer = self.post(&format!("/api/v0/{route}"), owner, body).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        match custom {
            Some(token) => {
                assert!(answer.body.get("access_token").is_none(), "a custom token is not echoed: {answer:?}");
                token
            }
            None => answer.body["access_token"].as_str().expect("a generated token, shown once").to_string(),
        }
    }

    /// A registered server with a discovered catalog, as the session-worker reports it.
    async fn seed_server(&self, tenant: &TenantId, name: &str, tools: &[&str], prompts: &[&str]) {
        let ctx = CommandContext::new(tenant.clone(), "test:seed");
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
        let executor = &self.state.executor;
        executor.execute::<Server>(&ctx, name, &register).await.unwrap();
        let catalog = Catalog {
            tools: tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect(),
            prompts: prompts.iter().map(|p| json!({"name": p})).collect(),
            ..Catalog::default()
        };
        executor.execute::<Server>(&ctx, name, &ServerCommand::RecordCatalog { id, catalog }).await.unwrap();
    }
}

/// `alpha` (tools a1, a2; prompt hello) and `beta` (tool b1; prompt bye) in the default tenant.
async fn two_servers(api: &Api) {
    let tenant = TenantId::default_tenant();
    api.seed_server(&tenant, "alpha", &["a1", "a2"], &["hello"]).await;
    api.seed_server(&tenant, "beta", &["b1"], &["bye"]).await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let api = Api::new(Mode::Enterprise).await;
    let missing = api.call("GET", "/api/v0/tools", None, None).await;
    let (code, message) = missing.error(401);
    assert_eq!(code, "UNAUTHORIZED");
    assert!(message.contains("Authorization: Bearer"), "{message}");
    let challenge = missing.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    for (route, method) in [("/api/v0/servers", "POST"), ("/api/v0/users", "GET"), ("/api/v0/tools/invoke", "POST")] {
        let answer = api.call(method, route, Some("not-a-token-anyone-holds"), Some(json!({}))).await;
        assert_eq!(answer.error(401).0, "UNAUTHORIZED", "{method} {route}");
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "{challenge}");
    }
    // Not a bearer token at all.
    let request = Request::get("/api/v0/servers").header("authorization", "Basic YWRtaW46YWRtaW4=").body(Body::empty());
    let response = api.router.clone().oneshot(request.unwrap()).await.unwrap();
    assert_eq!(response.status(), 401);
    // Unknown routes answer 404 in the envelope, token or not (the routes are public in the OpenAPI document).
    assert_eq!(api.call("GET", "/api/v0/nowhere", None, None).await.status, 404);
}

#[tokio::test]
async fn init_server_works_once() {
    let dev = Api::new(Mode::Development).await;
    let (code, message) = dev.call("POST", "/api/v0/init-server", None, None).await.error(400);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(message.contains("enterprise mode"), "{message}");

    let api = Api::new(Mode::Enterprise).await;
    let first = api.call("POST", "/api/v0/init-server", None, None).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!((first.body["name"].as_str(), first.body["role"].as_str()), (Some("admin"), Some("owner")));
    let token = first.body["access_token"].as_str().unwrap().to_string();
    assert!(token.len() >= 40, "a generated token: {token}");

    let again = api.call("POST", "/api/v0/init-server", None, None).await;
    let (code, message) = again.error(409);
    assert_eq!(code, "CONFLICT");
    assert!(message.contains("already initialized"), "{message}");

    // The token works, and reads never show it.
    let users = api.get("/api/v0/users", &token).await;
    assert_eq!(users.names(), ["admin"]);
    assert!(!users.body.to_string().contains(&token));
    assert!(users.body[0].get("access_token").is_none() && users.body[0].get("token_digest").is_none());
}

#[tokio::test]
async fn members_use_and_owners_manage() {
    let api = Api::new(Mode::Enterprise).await;
    let owner = api.init().await;
    two_servers(&api).await;
    let member = api.create(&owner, "users", json!({"name": "alice"})).await;
    let admin =
        api.create(&owner, "users", json!({"name": "bob", "role": "admin", "access_token": "bobs-token-1"})).await;
    assert_eq!(admin, "bobs-token-1");
    let users = api.get("/api/v0/users", &owner).await;
    assert_eq!(users.names(), ["admin", "alice", "bob"]);
    assert_eq!(users.body[1]["role"], "member");

    // A member sees and uses everything ...
    assert_eq!(api.get("/api/v0/servers", &member).await.names(), ["alpha", "beta"]);
    assert_eq!(api.get("/api/v0/tools", &member).await.names(), ["alpha__a1", "alpha__a2", "beta__b1"]);
    api.get("/api/v0/tool?name=beta__b1", &member).await.ok();
    // ... and manages nothing: 403 with the reason.
    let register =
        api.post("/api/v0/servers", &member, json!({"name": "gamma", "url": "http://127.0.0.1:9/mcp"})).await;
    let (code, message) = register.error(403);
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("members"), "{message}");
    for (method, route) in [
        ("DELETE", "/api/v0/servers/alpha"),
        ("POST", "/api/v0/servers/alpha/disable"),
        ("POST", "/api/v0/tools/disable?entity=alpha__a1"),
        ("POST", "/api/v0/groups"),
        ("GET", "/api/v0/users"),
        ("POST", "/api/v0/users"),
        ("GET", "/api/v0/mcp-clients"),
        ("DELETE", "/api/v0/users/bob"),
    ] {
        let answer = api.call(method, route, Some(&member), Some(json!({"name": "x"}))).await;
        assert_eq!(answer.error(403).0, "FORBIDDEN", "{method} {route}");
    }

    // An admin manages, but does not make or remove owners.
    let answer = api.post("/api/v0/servers/alpha/disable", &admin, json!(null)).await;
    assert_eq!(answer.ok()["enabled"], false);
    let (_, message) = api.post("/api/v0/users", &admin, json!({"name": "carol", "role": "owner"})).await.error(403);
    assert!(message.contains("owner"), "{message}");
    api.call("DELETE", "/api/v0/users/admin", Some(&admin), None).await.error(403);
    api.create(&owner, "users", json!({"name": "carol", "role": "owner"})).await;

    // Names, roles and tokens are checked; a token in use is a conflict.
    let bad = |body: Value| api.post("/api/v0/users", &owner, body);
    assert_eq!(bad(json!({"name": "a b"})).await.error(400).0, "INVALID_REQUEST");
    assert_eq!(bad(json!({"name": "dave", "role": "root"})).await.error(400).0, "INVALID_REQUEST");
    assert_eq!(bad(json!({"name": "dave", "access_token": "has space"})).await.error(400).0, "INVALID_REQUEST");
    assert_eq!(bad(json!({"name": "alice"})).await.error(409).0, "CONFLICT");
    let (code, message) = bad(json!({"name": "dave", "access_token": "bobs-token-1"})).await.error(409);
    assert_eq!(code, "CONFLICT");
    assert!(message.contains("already in use") && !message.contains("bob"), "{message}");
    let reused = api.post("/api/v0/mcp-clients", &owner, json!({"name": "dave", "access_token": "bobs-token-1"})).await;
    assert_eq!(reused.error(409).0, "CONFLICT", "unique across users and clients");
    let (_, message) = bad(json!({"name": "dave", "access_token_ref": {"env": "X"}})).await.error(400);
    assert!(message.contains("access_token_ref"), "{message}");

    // Deleting a user revokes its token at once.
    assert_eq!(api.call("DELETE", "/api/v0/users/alice", Some(&owner), None).await.status, 204);
    assert_eq!(api.get("/api/v0/servers", &member).await.error(401).0, "UNAUTHORIZED");
    assert_eq!(api.call("DELETE", "/api/v0/users/alice", Some(&owner), None).await.error(404).0, "NOT_FOUND");
    // Development-mode requests and identities never mix: identity routes need enterprise mode.
    let dev = Api::new(Mode::Development).await;
    assert_eq!(dev.call("GET", "/api/v0/users", None, None).await.error(400).0, "INVALID_REQUEST");
}

/// Two owners demoting (or deleting) each other at the same moment: one of them wins, the other
/// is refused, and the tenant keeps exactly one owner. Each round races the two requests on two
/// threads against the real database; before the owners' count and the write were one decision
/// (read under the tenant's lock, in the write's transaction), both could see the other still an
/// owner and both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_demoting_each_other_at_once_leave_one_owner() {
    let api = Arc::new(Api::new(Mode::Enterprise).await);
    let mut tokens = std::collections::HashMap::from([("admin".to_string(), api.init().await)]);
    let owners = |api: Arc<Api>, token: String| async move {
        let users = api.get("/api/v0/users", &token).await;
        let users = users.ok().as_array().unwrap().clone();
        users
            .iter()
            .filter(|u| u["role"] == "owner")
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut survivor = "admin".to_string();
    for round in 0..12 {
        // Two owners: the survivor of the last round, and a peer it makes owner (a new one after a
        // deletion, the demoted one otherwise).
        let peer = if survivor == "admin" { "peer" } else { "admin" }.to_string();
        let boss = tokens[&survivor].clone();
        if tokens.contains_key(&peer) {
            let path = format!("/api/v0/users/{peer}");
            api.call("PATCH", &path, Some(&boss), Some(json!({"role": "owner"}))).await.ok();
        } else {
            let token = api.create(&boss, "users", json!({"name": peer, "role": "owner"})).await;
            tokens.insert(peer.clone(), token);
        }
        assert_eq!(owners(api.clone(), boss.clone()).await.len(), 2, "round {round}");

        // Each demotes the other, or (every third round) the survivor deletes the peer meanwhile.
        let delete = round % 3 == 2;
        let race = |api: Arc<Api>, token: String, target: String, delete: bool| {
            tokio::spawn(async move {
                let path = format!("/api/v0/users/{target}");
                match delete {
                    true => api.call("DELETE", &path, Some(&token), None).await,
                    false => api.call("PATCH", &path, Some(&token), Some(json!({"role": "member"}))).await,
                }
            })
        };
        let by_survivor = race(api.clone(), boss.clone(), peer.clone(), delete);
        let by_peer = race(api.clone(), tokens[&peer].clone(), survivor.clone(), false);
        let (by_survivor, by_peer) = (by_survivor.await.unwrap(), by_peer.await.unwrap());
        let won = |a: &Answer| (200..300).contains(&a.status);
        assert!(won(&by_survivor) != won(&by_peer), "round {round}: exactly one wins: {by_survivor:?} {by_peer:?}");
        // The loser was refused as the last owner (409), or, demoted before its request was
        // read, as a member (403), or, deleted before its request was read, as no one (401: its
        // token stands for no user any more).
        let lost = if won(&by_survivor) { &by_peer } else { &by_survivor };
        let refusals: &[u16] = if delete && won(&by_survivor) { &[401, 403, 409] } else { &[403, 409] };
        assert!(refusals.contains(&lost.status), "round {round}: {lost:?}");
        let winner = if won(&by_survivor) { survivor.clone() } else { peer.clone() };
        assert_eq!(owners(api.clone(), tokens[&winner].clone()).await, [winner.as_str()], "round {round}");
        if delete && won(&by_survivor) {
            tokens.remove(&peer);
        }
        survivor = winner;
    }
}

#[tokio::test]
async fn roles_change_in_place_and_a_tenant_keeps_an_owner() {
    let api = Api::new(Mode::Enterprise).await;
    let owner = api.init().await;
    let alice = api.create(&owner, "users", json!({"name": "alice"})).await;
    let bob = api.create(&owner, "users", json!({"name": "bob", "role": "admin"})).await;
    let (api, owner, reader) = (&api, owner.as_str(), bob.as_str());
    let patch = |token: &str, name: &str, body: Value| {
        let (token, path) = (token.to_string(), format!("/api/v0/users/{name}"));
        async move { api.call("PATCH", &path, Some(&token), Some(body)).await }
    };
    // Read by bob, who stays an admin until the end.
    let role_of = |name: &'static str| async move {
        let users = api.get("/api/v0/users", reader).await;
        let user = users.ok().as_array().unwrap().iter().find(|u| u["name"] == name).cloned();
        user.map(|u| u["role"].as_str().unwrap().to_string())
    };

    // A member manages nothing, their own role included.
    assert!(api.get("/api/v0/users", &alice).await.status == 403);
    let (code, message) = patch(&alice, "alice", json!({"role": "admin"})).await.error(403);
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("members"), "{message}");
    assert_eq!(role_of("alice").await.as_deref(), Some("member"));

    // An admin promotes a member, answered with the user as it is now; the change is in effect
    // on the member's next request.
    let promoted = patch(&bob, "alice", json!({"role": "admin"})).await;
    assert_eq!((promoted.ok()["name"].as_str(), promoted.body["role"].as_str()), (Some("alice"), Some("admin")));
    assert_eq!(role_of("alice").await.as_deref(), Some("admin"));
    assert_eq!(api.get("/api/v0/users", &alice).await.names(), ["admin", "alice", "bob"]);
    // The same role again changes nothing (no event).
    patch(&bob, "alice", json!({"role": "admin"})).await.ok();
    let changes: (i64,) =
        sqlx::query_as("SELECT count(*) FROM events WHERE event_type = 'user.role_changed' AND aggregate_id = 'alice'")
            .fetch_one(&api.db.pool)
            .await
            .unwrap();
    assert_eq!(changes.0, 1);

    // Owners only make or unmake owners.
    let (_, message) = patch(&bob, "alice", json!({"role": "owner"})).await.error(403);
    assert!(message.contains("owner"), "{message}");
    let (_, message) = patch(&bob, "admin", json!({"role": "member"})).await.error(403);
    assert!(message.contains("owner"), "{message}");
    assert_eq!(role_of("admin").await.as_deref(), Some("owner"));

    // The last owner stays one, even by their own hand; with a second owner, they may step down.
    let (code, message) = patch(owner, "admin", json!({"role": "admin"})).await.error(409);
    assert_eq!(code, "CONFLICT");
    assert!(message.contains("last owner"), "{message}");
    patch(owner, "alice", json!({"role": "owner"})).await.ok();
    patch(owner, "admin", json!({"role": "member"})).await.ok();
    assert_eq!(role_of("admin").await.as_deref(), Some("member"));
    assert_eq!(api.get("/api/v0/users", owner).await.error(403).0, "FORBIDDEN", "a member now");
    let (_, message) = patch(&alice, "alice", json!({"role": "member"})).await.error(409);
    assert!(message.contains("user 'alice' is the tenant's last owner"), "{message}");
    // Nor deleted: a tenant keeps an owner.
    let (code, message) = api.call("DELETE", "/api/v0/users/alice", Some(&alice), None).await.error(409);
    assert_eq!(code, "CONFLICT");
    assert!(message.contains("last owner"), "{message}");

    // Bad requests, in the envelope.
    for body in [json!({"role": "root"}), json!({"role": 1}), json!({}), json!({"role": "admin", "name": "x"})] {
        let answer = patch(&alice, "bob", body.clone()).await;
        assert_eq!(answer.error(400).0, "INVALID_REQUEST", "{body}");
    }
    let (_, message) = patch(&alice, "bob", json!({"role": "root"})).await.error(400);
    assert!(message.contains("owner, admin or member"), "{message}");
    let (code, message) = patch(&alice, "nobody", json!({"role": "admin"})).await.error(404);
    assert_eq!(code, "NOT_FOUND");
    assert!(message.contains("user 'nobody'"), "{message}");

    // Another tenant's user is not there at all, for its owner or anyone else's.
    let acme = TenantId::parse("acme").unwrap();
    let ctx = CommandContext::new(acme, "test:seed");
    let root = UserCommand::Create {
        name: ServerName::parse("root").unwrap(),
        role: Role::Member,
        token: api.state.sealer.token_digest("acme-root-token"),
    };
    api.state.executor.execute::<User>(&ctx, "root", &root).await.unwrap();
    assert_eq!(patch(&alice, "root", json!({"role": "admin"})).await.error(404).0, "NOT_FOUND");
    assert_eq!(patch(&alice, "bob", json!({"role": "member"})).await.ok()["role"], "member");

    // Each change is in the audit log: who, whose role, to what.
    let audit = api.get("/api/v0/audit?kind=admin&limit=100", &alice).await;
    let changes: Vec<(String, String, String)> = audit.ok()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "user.role_changed")
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap().to_string();
            (field("actor"), field("aggregate_id"), field("summary"))
        })
        .collect();
    let expected = [
        ("user:alice", "bob", "role member"),
        ("user:admin", "admin", "role member"),
        ("user:admin", "alice", "role owner"),
        ("user:bob", "alice", "role admin"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(changes, expected);
}

#[tokio::test]
async fn a_client_sees_and_uses_only_its_allow_list() {
    let api = Api::new(Mode::Enterprise).await;
    let owner = api.init().await;
    two_servers(&api).await;
    let client = api
        .create(&owner, "mcp-clients", json!({"name": "cursor", "description": "d", "allowed_servers": ["alpha"]}))
        .await;
    let clients = api.get("/api/v0/mcp-clients", &owner).await;
    assert_eq!(
        clients.ok()[0],
        json!({"name": "cursor", "description": "d", "allowed_servers": ["alpha"], "allowed_groups": [],
               "allowed_tools": [], "created_at": clients.body[0]["created_at"], "updated_at": clients.body[0]["updated_at"]})
    );

    // Lists are filtered.
    assert_eq!(api.get("/api/v0/servers", &client).await.names(), ["alpha"]);
    assert_eq!(api.get("/api/v0/tools", &client).await.names(), ["alpha__a1", "alpha__a2"]);
    assert_eq!(api.get("/api/v0/prompts", &client).await.names(), ["alpha__hello"]);

    // Names outside the list answer exactly as names that exist nowhere.
    let same = |denied: &Answer, unknown: &Answer, (d, u): (&str, &str)| {
        assert_eq!(denied.status, 404, "{denied:?}");
        assert_eq!(denied.status, unknown.status);
        assert_eq!(denied.body.to_string().replace(d, "NAME"), unknown.body.to_string().replace(u, "NAME"));
    };
    let pairs = [
        ("GET", "/api/v0/tool?name=beta__b1", "/api/v0/tool?name=ghost__b1", ("beta", "ghost")),
        ("GET", "/api/v0/servers/beta", "/api/v0/servers/ghost", ("beta", "ghost")),
        ("GET", "/api/v0/tools?server=beta", "/api/v0/tools?server=ghost", ("beta", "ghost")),
        ("GET", "/api/v0/prompt?name=beta__bye", "/api/v0/prompt?name=ghost__bye", ("beta", "ghost")),
    ];
    for (method, denied, unknown, names) in pairs {
        let denied = api.call(method, denied, Some(&client), None).await;
        let unknown = api.call(method, unknown, Some(&client), None).await;
        same(&denied, &unknown, names);
    }
    // REST invoke too (MCPJungle's invoke ignores its ACL): no call reaches beta.
    let denied = api.post("/api/v0/tools/invoke", &client, json!({"name": "beta__b1"})).await;
    let unknown = api.post("/api/v0/tools/invoke", &client, json!({"name": "ghost__b1"})).await;
    same(&denied, &unknown, ("beta", "ghost"));
    let denied = api.post("/api/v0/prompts/render", &client, json!({"name": "beta__bye"})).await;
    let unknown = api.post("/api/v0/prompts/render", &client, json!({"name": "ghost__bye"})).await;
    same(&denied, &unknown, ("beta", "ghost"));
    let denied = api.post("/api/v0/resources/read", &client, json!({"uri": "canopy://beta/x://y"})).await;
    let unknown = api.post("/api/v0/resources/read", &client, json!({"uri": "canopy://ghost/x://y"})).await;
    same(&denied, &unknown, ("beta", "ghost"));
    // An allowed tool gets past the policy to the worker path (no worker runs here).
    let allowed = api.post("/api/v0/tools/invoke", &client, json!({"name": "alpha__a1"})).await;
    assert_eq!(allowed.error(502).0, "UPSTREAM_UNAVAILABLE");

    // A client manages nothing, not even what it may use.
    let (_, message) = api.post("/api/v0/servers/alpha/disable", &client, json!(null)).await.error(403);
    assert!(message.contains("MCP clients"), "{message}");
    api.post("/api/v0/servers", &client, json!({"name": "x", "url": "http://h/mcp"})).await.error(403);
    api.get("/api/v0/mcp-clients", &client).await.error(403);
    // ... and managing what it cannot see is answered as unknown.
    let denied = api.post("/api/v0/servers/beta/disable", &client, json!(null)).await;
    let unknown = api.post("/api/v0/servers/ghost/disable", &client, json!(null)).await;
    same(&denied, &unknown, ("beta", "ghost"));

    // The allow list is replaced in place and applies to the next request.
    let update =
        json!({"description": "now tools and a group", "allowed_tools": ["beta__b1"], "allowed_groups": ["g"]});
    let updated = api.call("PUT", "/api/v0/mcp-clients/cursor", Some(&owner), Some(update)).await;
    assert_eq!(updated.ok()["allowed_tools"], json!(["beta__b1"]));
    assert_eq!(api.get("/api/v0/tools", &client).await.names(), ["beta__b1"]);
    assert_eq!(api.get("/api/v0/servers", &client).await.names(), Vec::<String>::new(), "single tools open no server");
    assert_eq!(api.get("/api/v0/tools?server=beta", &client).await.names(), ["beta__b1"], "filtering by it is fine");
    assert_eq!(api.get("/api/v0/prompts", &client).await.names(), Vec::<String>::new());
    // A group admits its members as the group says now.
    let group = json!({"name": "g", "included_tools": ["alpha__a2"], "included_prompts": ["alpha__hello"]});
    api.post("/api/v0/groups", &owner, group).await.ok();
    api.post("/api/v0/groups", &owner, json!({"name": "other", "included_servers": ["alpha"]})).await.ok();
    assert_eq!(api.get("/api/v0/tools", &client).await.names(), ["alpha__a2", "beta__b1"]);
    assert_eq!(api.get("/api/v0/prompts", &client).await.names(), ["alpha__hello"]);
    assert_eq!(api.get("/api/v0/groups", &client).await.names(), ["g"]);
    assert_eq!(api.get("/api/v0/groups/g/effective-tools", &client).await.names(), ["alpha__a2"]);
    let denied = api.get("/api/v0/groups/other", &client).await;
    let unknown = api.get("/api/v0/groups/ghost", &client).await;
    same(&denied, &unknown, ("other", "ghost"));
    // The owner sees every member of a group; the client's view above was filtered member by member.
    assert_eq!(api.get("/api/v0/groups/other/effective-tools", &owner).await.names(), ["alpha__a1", "alpha__a2"]);

    let bad = json!({"allowed_servers": ["not a name"]});
    assert_eq!(
        api.call("PUT", "/api/v0/mcp-clients/cursor", Some(&owner), Some(bad)).await.error(400).0,
        "INVALID_REQUEST"
    );
    let renamed = json!({"name": "other"});
    api.call("PUT", "/api/v0/mcp-clients/cursor", Some(&owner), Some(renamed)).await.error(400);
    api.call("PUT", "/api/v0/mcp-clients/ghost", Some(&owner), Some(json!({}))).await.error(404);

    // "*" admits every server, including one registered later.
    let everything = api.create(&owner, "mcp-clients", json!({"name": "all", "allowed_servers": ["*"]})).await;
    api.seed_server(&TenantId::default_tenant(), "gamma", &["g1"], &[]).await;
    assert_eq!(api.get("/api/v0/servers", &everything).await.names(), ["alpha", "beta", "gamma"]);
    // No allow list: nothing.
    let nothing = api.create(&owner, "mcp-clients", json!({"name": "none"})).await;
    assert_eq!(api.get("/api/v0/tools", &nothing).await.names(), Vec::<String>::new());

    // Deleting a client revokes its token at once.
    assert_eq!(api.call("DELETE", "/api/v0/mcp-clients/cursor", Some(&owner), None).await.status, 204);
    assert_eq!(api.get("/api/v0/tools", &client).await.error(401).0, "UNAUTHORIZED");
    api.call("DELETE", "/api/v0/mcp-clients/cursor", Some(&owner), None).await.error(404);
}

#[tokio::test]
async fn tenants_are_walls() {
    let api = Api::new(Mode::Enterprise).await;
    let owner = api.init().await;
    two_servers(&api).await;
    // An owner of another tenant (tenants are created by the operator; here, directly).
    let acme = TenantId::parse("acme").unwrap();
    let token = "acme-owner-token";
    let ctx = CommandContext::new(acme.clone(), "test:seed");
    let create = UserCommand::Create {
        name: ServerName::parse("root").unwrap(),
        role: Role::Owner,
        token: api.state.sealer.token_digest(token),
    };
    api.state.executor.execute::<User>(&ctx, "root", &create).await.unwrap();
    api.seed_server(&acme, "acme-only", &["t"], &[]).await;

    assert_eq!(api.get("/api/v0/servers", token).await.names(), ["acme-only"]);
    assert_eq!(api.get("/api/v0/tools", token).await.names(), ["acme-only__t"]);
    api.get("/api/v0/servers/alpha", token).await.error(404);
    assert_eq!(api.get("/api/v0/users", token).await.names(), ["root"]);
    assert_eq!(api.get("/api/v0/servers", &owner).await.names(), ["alpha", "beta"]);
    // What acme's owner creates lands in acme, whatever the request says.
    api.post("/api/v0/groups", token, json!({"name": "acme-group"})).await.ok();
    assert_eq!(api.get("/api/v0/groups", &owner).await.names(), Vec::<String>::new());
    assert_eq!(api.get("/api/v0/groups", token).await.names(), ["acme-group"]);
}

#[tokio::test]
async fn tokens_never_appear_in_reads_read_models_or_events() {
    let api = Api::new(Mode::Enterprise).await;
    let owner = api.init().await;
    let member = api.create(&owner, "users", json!({"name": "alice"})).await;
    let custom = api.create(&owner, "users", json!({"name": "bob", "access_token": "bob-custom-token-xyz"})).await;
    let client = api.create(&owner, "mcp-clients", json!({"name": "cursor", "allowed_servers": ["*"]})).await;
    let custom_client =
        api.create(&owner, "mcp-clients", json!({"name": "agent", "access_token": "agent-custom-token-xyz"})).await;
    let tokens = [&owner, &member, &custom, &client, &custom_client];
    let digests: Vec<String> = tokens.iter().map(|t| api.state.sealer.token_digest(t).as_str().to_string()).collect();

    let reads = [api.get("/api/v0/users", &owner).await, api.get("/api/v0/mcp-clients", &owner).await];
    for read in &reads {
        let text = read.ok().to_string();
        for secret in tokens.iter().map(|t| t.as_str()).chain(digests.iter().map(String::as_str)) {
            assert!(!text.contains(secret), "a read shows a token or digest: {text}");
        }
    }
    let dumps: Vec<(String,)> = sqlx::query_as(
        "SELECT payload::text || metadata::text FROM events \
         UNION ALL SELECT row_to_json(u)::text FROM rm_users u \
         UNION ALL SELECT row_to_json(c)::text FROM rm_mcp_clients c",
    )
    .fetch_all(&api.db.pool)
    .await
    .unwrap();
    let identity_events: Vec<(String,)> =
        sqlx::query_as("SELECT payload::text FROM events WHERE aggregate_type IN ('user', 'mcp_client')")
            .fetch_all(&api.db.pool)
            .await
            .unwrap();
    assert_eq!(identity_events.len(), 5, "one creation event per identity");
    for (text,) in &dumps {
        for token in tokens {
            assert!(!text.contains(token.as_str()), "a token is stored: {text}");
        }
    }
    // What is stored is the digest.
    assert!(identity_events.iter().any(|(p,)| p.contains(&digests[0])));
}
