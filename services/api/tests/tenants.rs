//! The platform operator and tenants through the REST API (enterprise mode), on a fresh real
//! Postgres database (and the real NATS the router needs): `init-server` creates the first
//! operator once; the operator creates tenants with their owners, lists, suspends and resumes
//! them, and nobody else may; the multi-tenant matrix: for every route, another tenant's owner
//! and member, and the operator, get for one tenant's names exactly what a name that exists
//! nowhere gets (403 only where it says nothing about the name), and nothing is changed.
//! Catalogs are recorded with domain commands, as the session-worker would report them.

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use canopy_api::{ApiState, Mode};
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
    body: Value,
}

impl Answer {
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
        let key =
            |v: &Value| v.get("name").or(v.get("uri")).or(v.get("id")).and_then(Value::as_str).unwrap().to_string();
        self.ok().as_array().unwrap_or_else(|| panic!("not a list: {self:?}")).iter().map(key).collect()
    }
}

/// The two tokens `init-server` answers.
struct Init {
    owner: String,
    operator: String,
}

impl Api {
    async fn new() -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apitenants");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-tenants-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode: Mode::Enterprise,
            executor,
            bus,
            sealer: Sealer::from_bytes(&[7u8; 32]).unwrap(),
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
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    async fn init(&self) -> Init {
        let answer = self.call("POST", "/api/v0/init-server", None, None).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        Init {
            owner: answer.body["access_token"].as_str().unwrap().to_string(),
            operator: answer.body["operator_token"].as_str().unwrap().to_string(),
        }
    }

    /// A tenant with its owner, as the operator creates it; answers the owner's token.
    async fn tenant(&self, operator: &str, id: &str, owner: &str) -> String {
        let answer = self.post("/api/v0/tenants", operator, json!({"id": id, "owner": owner})).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        assert_eq!((answer.body["id"].as_str(), answer.body["status"].as_str()), (Some(id), Some("active")));
        assert_eq!(
            (answer.body["owner"]["name"].as_str(), answer.body["owner"]["role"].as_str()),
            (Some(owner), Some("owner"))
        );
        answer.body["owner_access_token"].as_str().expect("generated, shown once").to_string()
    }

    /// Creates a user or client as `owner`; answers its generated token.
    async fn create(&self, owner: &str, route: &str, body: Value) -> String {
        let answer = self.post(&format!("/api/v0/{route}"), owner, body).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["access_token"].as_str().expect("a generated token").to_string()
    }

    /// A registered server with a discovered catalog, as the session-worker reports it.
    async fn seed_server(&self, tenant: &TenantId, name: &str) {
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
            tools: vec![json!({"name": "lookup", "description": "acme-secret", "inputSchema": {"type": "object"}})],
            prompts: vec![json!({"name": "summary", "description": "acme-secret"})],
            resources: vec![json!({"uri": "file:///ledger", "name": "acme-secret"})],
            ..Catalog::default()
        };
        executor.execute::<Server>(&ctx, name, &ServerCommand::RecordCatalog { id, catalog }).await.unwrap();
    }
}

#[tokio::test]
async fn init_server_creates_the_owner_and_the_first_operator_once() {
    let api = Api::new().await;
    let first = api.call("POST", "/api/v0/init-server", None, None).await;
    assert_eq!(first.status, 201, "{first:?}");
    // Today's fields, as before.
    assert_eq!((first.body["name"].as_str(), first.body["role"].as_str()), (Some("admin"), Some("owner")));
    let owner = first.body["access_token"].as_str().unwrap().to_string();
    // And the operator.
    assert_eq!(first.body["operator"]["name"], "operator");
    let operator = first.body["operator_token"].as_str().unwrap().to_string();
    assert!(operator.len() >= 40 && operator != owner, "a generated token of its own");

    let (code, _) = api.call("POST", "/api/v0/init-server", None, None).await.error(409);
    assert_eq!(code, "CONFLICT");
    assert_eq!(api.call("POST", "/api/v0/init-server", Some(&operator), None).await.status, 409);

    // The operator sees tenants; the owner does not.
    assert_eq!(api.get("/api/v0/tenants", &operator).await.names(), ["default"]);
    let (code, message) = api.get("/api/v0/tenants", &owner).await.error(403);
    assert_eq!(code, "FORBIDDEN");
    assert!(message.contains("operator"), "{message}");

    // Only digests are kept: neither token is in an event or a read model.
    let events: Vec<(String,)> =
        sqlx::query_as("SELECT payload::text FROM events").fetch_all(&api.db.pool).await.unwrap();
    for (payload,) in &events {
        assert!(!payload.contains(&operator) && !payload.contains(&owner), "{payload}");
    }
    let digest = api.state.sealer.token_digest(&operator);
    let stored: (String,) = sqlx::query_as("SELECT token_digest FROM rm_operators WHERE name = 'operator'")
        .fetch_one(&api.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.0, digest.as_str());
}

#[tokio::test]
async fn the_operator_creates_lists_and_suspends_tenants_and_nobody_else_can() {
    let api = Api::new().await;
    let init = api.init().await;
    let op = init.operator.as_str();
    let alice = api.tenant(op, "acme", "alice").await;
    let custom = api
        .post(
            "/api/v0/tenants",
            op,
            json!({"id": "globex", "display_name": "Globex Corp.", "owner": "gus", "owner_access_token": "gus-token-1"}),
        )
        .await;
    assert_eq!(custom.status, 201, "{custom:?}");
    assert!(custom.body.get("owner_access_token").is_none(), "a custom token is not echoed");
    assert_eq!(custom.body["display_name"], "Globex Corp.");
    assert_eq!(api.get("/api/v0/users", "gus-token-1").await.names(), ["gus"]);
    assert_eq!(api.get("/api/v0/users", &alice).await.names(), ["alice"], "each tenant has its own owner");

    assert_eq!(api.get("/api/v0/tenants", op).await.names(), ["acme", "default", "globex"]);
    let acme = api.get("/api/v0/tenants/acme", op).await;
    assert_eq!((acme.ok()["id"].as_str(), acme.body["display_name"].as_str()), (Some("acme"), Some("acme")));
    assert_eq!(api.get("/api/v0/tenants/nope", op).await.error(404).0, "NOT_FOUND");
    assert_eq!(api.get("/api/v0/tenants/Not%20An%20Id", op).await.error(404).0, "NOT_FOUND");

    // Bad requests are 400 (or 409), and create nothing.
    let bad = |body: Value| api.post("/api/v0/tenants", op, body);
    for body in [
        json!({"id": "Acme2", "owner": "x"}),
        json!({"id": "a_b", "owner": "x"}),
        json!({"id": "", "owner": "x"}),
        json!({"id": "x".repeat(64), "owner": "x"}),
        json!({"id": "platform", "owner": "x"}),
        json!({"id": "initech", "owner": "bad name"}),
        json!({"id": "initech", "owner": "x", "display_name": "  "}),
        json!({"id": "initech", "owner": "x", "owner_access_token": "has space"}),
        json!({"id": "initech", "owner": "x", "color": "red"}),
        json!({"id": "initech"}),
        json!("not an object"),
    ] {
        assert_eq!(bad(body.clone()).await.error(400).0, "INVALID_REQUEST", "{body}");
    }
    assert_eq!(bad(json!({"id": "acme", "owner": "x"})).await.error(409).0, "CONFLICT");
    // A token another identity holds (another tenant's owner's): refused before anything exists.
    let (code, message) =
        bad(json!({"id": "initech", "owner": "x", "owner_access_token": "gus-token-1"})).await.error(409);
    assert_eq!(code, "CONFLICT");
    assert!(message.contains("token"), "{message}");
    assert_eq!(
        bad(json!({"id": "initech", "owner": "x", "owner_access_token": init.operator})).await.error(409).0,
        "CONFLICT"
    );
    assert_eq!(api.get("/api/v0/tenants/initech", op).await.error(404).0, "NOT_FOUND");

    // Nobody but the operator: owners, admins, members and clients of any tenant get 403.
    let member = api.create(&alice, "users", json!({"name": "bob"})).await;
    let admin = api.create(&alice, "users", json!({"name": "ada", "role": "admin"})).await;
    let client = api.create(&alice, "mcp-clients", json!({"name": "bot", "allowed_servers": ["*"]})).await;
    for token in [alice.as_str(), &member, &admin, &client, &init.owner, "gus-token-1"] {
        let create = api.post("/api/v0/tenants", token, json!({"id": "evil", "owner": "mallory"})).await;
        assert_eq!(create.error(403).0, "FORBIDDEN");
        api.get("/api/v0/tenants", token).await.error(403);
        api.get("/api/v0/tenants/acme", token).await.error(403);
        api.post("/api/v0/tenants/globex/suspend", token, json!(null)).await.error(403);
        api.post("/api/v0/tenants/acme/resume", token, json!(null)).await.error(403);
    }
    assert_eq!(api.get("/api/v0/tenants/evil", op).await.error(404).0, "NOT_FOUND");
    assert_eq!(api.call("POST", "/api/v0/tenants", None, Some(json!({"id": "x", "owner": "y"}))).await.status, 401);

    // Suspending refuses every token of the tenant at once, and no other tenant's.
    let suspended = api.post("/api/v0/tenants/acme/suspend", op, json!(null)).await;
    assert_eq!(suspended.ok()["status"], "suspended");
    for token in [alice.as_str(), &member, &client] {
        assert_eq!(api.get("/api/v0/servers", token).await.error(401).0, "UNAUTHORIZED");
    }
    api.get("/api/v0/users", "gus-token-1").await.ok();
    assert_eq!(api.post("/api/v0/tenants/acme/suspend", op, json!(null)).await.ok()["status"], "suspended");
    assert_eq!(api.get("/api/v0/tenants/acme", op).await.ok()["status"], "suspended");
    // A suspended tenant's token still cannot be taken by another identity.
    let reuse = api.post("/api/v0/users", "gus-token-1", json!({"name": "copy", "access_token": alice})).await;
    assert_eq!(reuse.error(409).0, "CONFLICT");
    let resumed = api.post("/api/v0/tenants/acme/resume", op, json!(null)).await;
    assert_eq!(resumed.ok()["status"], "active");
    assert_eq!(api.get("/api/v0/users", &alice).await.names(), ["ada", "alice", "bob"]);
    assert_eq!(api.post("/api/v0/tenants/nope/suspend", op, json!(null)).await.error(404).0, "NOT_FOUND");
    assert_eq!(api.post("/api/v0/tenants/BAD/resume", op, json!(null)).await.error(404).0, "NOT_FOUND");
}

/// For one name of acme's and one that exists nowhere (`zzz`), the same request must get the
/// same answer, the name aside.
async fn same_as_unknown(api: &Api, token: &str, who: &str, method: &str, path: &str, body: Option<Value>) -> u16 {
    let unknown_path = path.replace("crm", "zzz").replace("sales", "zzz").replace("bob", "zzz").replace("bot", "zzz");
    let unknown_body = body.as_ref().map(|b| {
        serde_json::from_str(
            &b.to_string().replace("crm", "zzz").replace("sales", "zzz").replace("bob", "zzz").replace("bot", "zzz"),
        )
        .unwrap()
    });
    let guessed = api.call(method, path, Some(token), body).await;
    let unknown = api.call(method, &unknown_path, Some(token), unknown_body).await;
    let normalize = |a: &Answer| {
        a.body.to_string().replace("crm", "zzz").replace("sales", "zzz").replace("bob", "zzz").replace("bot", "zzz")
    };
    assert_eq!(
        (guessed.status, normalize(&guessed)),
        (unknown.status, normalize(&unknown)),
        "{who}: {method} {path} tells acme's name from an unknown one"
    );
    assert!(!guessed.body.to_string().contains("acme-secret"), "{who}: {method} {path} shows acme's data: {guessed:?}");
    guessed.status
}

#[tokio::test]
async fn tenants_are_walls_for_every_route_and_the_operator_sees_inside_none() {
    let api = Api::new().await;
    let init = api.init().await;
    let op = init.operator.as_str();
    let alice = api.tenant(op, "acme", "alice").await;
    let gus = api.tenant(op, "globex", "gus").await;
    let acme = TenantId::parse("acme").unwrap();

    // acme: a server with a tool, a prompt and a resource; a group; a member and a client.
    api.seed_server(&acme, "crm").await;
    api.post("/api/v0/groups", &alice, json!({"name": "sales", "included_servers": ["crm"]})).await.ok();
    let bob = api.create(&alice, "users", json!({"name": "bob"})).await;
    let bot = api.create(&alice, "mcp-clients", json!({"name": "bot", "allowed_servers": ["crm"]})).await;
    assert_eq!(api.get("/api/v0/tools", &bob).await.names(), ["crm__lookup"]);
    assert_eq!(api.get("/api/v0/tools", &bot).await.names(), ["crm__lookup"]);
    assert!(api.get("/api/v0/tools", &alice).await.body.to_string().contains("acme-secret"), "the marker shows");
    let globex_member = api.create(&gus, "users", json!({"name": "gina"})).await;
    let globex_client = api.create(&gus, "mcp-clients", json!({"name": "gbot", "allowed_servers": ["*"]})).await;

    // Lists show nothing of acme's.
    for token in [gus.as_str(), &globex_member, &globex_client, op] {
        for list in ["servers", "tools", "prompts", "resources", "groups"] {
            assert_eq!(api.get(&format!("/api/v0/{list}"), token).await.names(), Vec::<String>::new(), "{list}");
        }
    }
    assert_eq!(api.get("/api/v0/users", &gus).await.names(), ["gina", "gus"]);
    assert_eq!(api.get("/api/v0/mcp-clients", &gus).await.names(), ["gbot"]);

    // Every route, with acme's names: the answer to a name that exists nowhere.
    let routes: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/v0/servers/crm", None),
        ("DELETE", "/api/v0/servers/crm", None),
        ("POST", "/api/v0/servers/crm/enable", Some(json!(null))),
        ("POST", "/api/v0/servers/crm/disable", Some(json!(null))),
        ("GET", "/api/v0/tools?server=crm", None),
        ("GET", "/api/v0/prompts?server=crm", None),
        ("GET", "/api/v0/resources?server=crm", None),
        ("GET", "/api/v0/tool?name=crm__lookup", None),
        ("POST", "/api/v0/tools/invoke", Some(json!({"name": "crm__lookup"}))),
        ("POST", "/api/v0/tools/enable?entity=crm__lookup", Some(json!(null))),
        ("POST", "/api/v0/tools/disable?entity=crm__lookup", Some(json!(null))),
        ("POST", "/api/v0/tools/disable?entity=crm", Some(json!(null))),
        ("GET", "/api/v0/prompt?name=crm__summary", None),
        ("POST", "/api/v0/prompts/render", Some(json!({"name": "crm__summary"}))),
        ("POST", "/api/v0/prompts/disable?entity=crm__summary", Some(json!(null))),
        ("POST", "/api/v0/prompts/enable?entity=crm__summary", Some(json!(null))),
        ("POST", "/api/v0/resources/read", Some(json!({"uri": "canopy://crm/file:///ledger"}))),
        ("POST", "/api/v0/resources/disable?entity=canopy://crm/file:///ledger", Some(json!(null))),
        ("POST", "/api/v0/resources/enable?entity=canopy://crm/file:///ledger", Some(json!(null))),
        ("GET", "/api/v0/groups/sales", None),
        ("GET", "/api/v0/groups/sales/effective-tools", None),
        ("PUT", "/api/v0/groups/sales", Some(json!({"name": "sales", "included_servers": ["crm"]}))),
        ("DELETE", "/api/v0/groups/sales", None),
        ("DELETE", "/api/v0/users/bob", None),
        ("PUT", "/api/v0/mcp-clients/bot", Some(json!({"allowed_servers": ["*"]}))),
        ("DELETE", "/api/v0/mcp-clients/bot", None),
    ];
    let askers = [
        ("globex owner", gus.as_str()),
        ("globex member", &globex_member),
        ("globex client", &globex_client),
        ("operator", op),
    ];
    for (who, token) in askers {
        for (method, path, body) in &routes {
            let status = same_as_unknown(&api, token, who, method, path, body.clone()).await;
            assert!(!(200..300).contains(&status), "{who}: {method} {path} succeeded");
            if who == "operator" || who == "globex owner" {
                // 403 could only ever come from the role, never the name; these may manage their
                // own tenant (or, the operator, nothing in any): unknown is all they learn.
                assert_ne!(status, 403, "{who}: {method} {path}");
            }
        }
    }
    // The operator in a tenant's routes: NotFound for what manages the tenant, never 403.
    for (method, route) in [("GET", "/api/v0/users"), ("GET", "/api/v0/mcp-clients"), ("POST", "/api/v0/users")] {
        let answer = api.call(method, route, Some(op), Some(json!({"name": "x"}))).await;
        assert_eq!(answer.error(404).0, "NOT_FOUND", "{method} {route}");
    }
    let register = api.post("/api/v0/servers", op, json!({"name": "crm", "url": "http://127.0.0.1:9/mcp"})).await;
    assert_eq!(register.error(404).0, "NOT_FOUND");
    let group = api.post("/api/v0/groups", op, json!({"name": "x", "included_servers": ["crm"]})).await;
    assert_eq!(group.error(404).0, "NOT_FOUND");
    // Members and clients of acme cannot create tenants either.
    for token in [bob.as_str(), &bot] {
        api.post("/api/v0/tenants", token, json!({"id": "evil", "owner": "x"})).await.error(403);
    }

    // Nothing of acme's changed.
    let server = api.get("/api/v0/servers/crm", &alice).await;
    assert_eq!(server.ok()["enabled"], true, "{server:?}");
    assert_eq!(api.get("/api/v0/tools", &alice).await.names(), ["crm__lookup"]);
    assert_eq!(api.get("/api/v0/prompts", &alice).await.names(), ["crm__summary"]);
    assert_eq!(api.get("/api/v0/resources", &alice).await.names().len(), 1);
    assert_eq!(api.get("/api/v0/groups", &alice).await.names(), ["sales"]);
    assert_eq!(api.get("/api/v0/users", &alice).await.names(), ["alice", "bob"]);
    assert_eq!(api.get("/api/v0/mcp-clients", &alice).await.names(), ["bot"]);
    assert_eq!(api.get("/api/v0/tools", &bot).await.names(), ["crm__lookup"]);
    // And the reverse wall holds for acme's own owner.
    assert_eq!(api.get("/api/v0/users", &alice).await.names(), ["alice", "bob"]);
    assert!(!api.get("/api/v0/users", &alice).await.body.to_string().contains("gus"));
}
