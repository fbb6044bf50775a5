//! A NUL character anywhere in a request's input is a 400, never a 500: Postgres cannot hold NUL
//! in TEXT or JSONB, so the api refuses it where input is extracted, for every route, naming the
//! field (a query parameter, a path parameter, or a JSON path into the body: `args.foo`,
//! `included_tools[0]`, a key of `headers`).
//!
//! Covered: the REST API in enterprise mode (an owner's token) and in development mode, over
//! query values and keys, path parameters, body strings, body keys and nested values; the OAuth
//! routes (registration JSON, the token, introspection and revocation forms, the authorization
//! page's query), which answer their own OAuth-shaped 400s.

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use canopy_api::oauth::{OAuthServer, OAuthSettings};
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
    _db: canopy_testkit::TestDb,
    failures: std::sync::Mutex<Vec<String>>,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Api {
    async fn new(mode: Mode, with_oauth: bool) -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apinul");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-nul-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        let sealer = Sealer::from_bytes(&[42u8; 32]).unwrap();
        let oauth = if with_oauth {
            let redis = redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
                .await
                .expect("Redis for tests (set CANOPY_REDIS_URL)");
            let settings = OAuthSettings {
                access_token_ttl: Duration::from_secs(600),
                refresh_token_ttl: Duration::from_secs(3600),
                grant_ttl: Duration::from_secs(86400),
                code_ttl: Duration::from_secs(60),
                key_rotation: Duration::from_secs(30 * 86400),
                client_metadata_documents: true,
                allow_loopback_http: true,
            };
            let issuer = "http://canopy.test".to_string();
            Some(OAuthServer::start(issuer, db.pool.clone(), &sealer, redis, prefix.clone(), settings).await.unwrap())
        } else {
            None
        };
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode,
            executor,
            bus,
            sealer,
            access_tokens: None,
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: "http://canopy.test".into(),
            oauth,
            jobs,
        };
        Api { router: canopy_api::router(state.clone()), state, _db: db, failures: Default::default() }
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, content_type: &str, body: String) -> Answer {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if !body.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(method, path, token, "application/json", body).await
    }

    /// Checks for a 400 `INVALID_REQUEST` whose message names `field` and the NUL; a failure is
    /// recorded in `failures` (so that one run lists every route that misbehaves).
    async fn refused(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>, field: &str) {
        let what = format!("{method} {path} {}", body.as_ref().map(Value::to_string).unwrap_or_default());
        let answer = self.call(method, path, token, body).await;
        let json = answer.json();
        let message = json["error"]["message"].as_str().unwrap_or_default();
        let named = message.starts_with(&format!("{field}: ")) && message.contains("NUL");
        if answer.status != 400 || json["error"]["code"] != "INVALID_REQUEST" || !named {
            let failure =
                format!("{what}: expected 400 INVALID_REQUEST naming `{field}`, got {} {}", answer.status, answer.text);
            self.failures.lock().unwrap().push(failure);
        }
    }

    fn assert_no_failures(&self) {
        let failures = self.failures.lock().unwrap();
        assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    }

    /// `init-server`, answering the owner's token and the platform operator's.
    async fn init(&self) -> (String, String) {
        let answer = self.call("POST", "/api/v0/init-server", None, None).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        let token = |k: &str| answer.json()[k].as_str().unwrap().to_string();
        (token("access_token"), token("operator_token"))
    }

    /// `alpha` with tool `a1` and prompt `hello`, as the session-worker would report it.
    async fn seed_server(&self) {
        let ctx = CommandContext::new(TenantId::default_tenant(), "test:seed");
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
        let register = ServerCommand::Register { id, name: ServerName::parse("alpha").unwrap(), spec, force: false };
        let executor = &self.state.executor;
        executor.execute::<Server>(&ctx, "alpha", &register).await.unwrap();
        let catalog = Catalog {
            tools: vec![json!({"name": "a1", "inputSchema": {"type": "object"}})],
            prompts: vec![json!({"name": "hello"})],
            ..Catalog::default()
        };
        executor.execute::<Server>(&ctx, "alpha", &ServerCommand::RecordCatalog { id, catalog }).await.unwrap();
    }
}

/// Every REST input path, in enterprise mode with an owner's token.
#[tokio::test]
async fn nul_in_rest_input_is_400_naming_the_field() {
    let api = Api::new(Mode::Enterprise, false).await;
    let (owner, operator) = api.init().await;
    api.seed_server().await;
    let t = Some(owner.as_str());

    // Query values and keys.
    api.refused("GET", "/api/v0/tools?server=%00", t, None, "server").await;
    api.refused("GET", "/api/v0/prompts?server=al%00pha", t, None, "server").await;
    api.refused("GET", "/api/v0/resources?server=%00", t, None, "server").await;
    api.refused("GET", "/api/v0/tool?name=alpha__a%001", t, None, "name").await;
    api.refused("GET", "/api/v0/prompt?name=%00", t, None, "name").await;
    api.refused("POST", "/api/v0/tools/enable?entity=%00", t, None, "entity").await;
    api.refused("POST", "/api/v0/resources/disable?entity=canopy%3A%2F%2Falpha%2F%00", t, None, "entity").await;
    api.refused("GET", "/api/v0/audit?actor=user%00admin", t, None, "actor").await;
    api.refused("GET", "/api/v0/tools?ser%00ver=alpha", t, None, "query string").await;

    // Path parameters.
    api.refused("GET", "/api/v0/servers/al%00pha", t, None, "name").await;
    api.refused("DELETE", "/api/v0/servers/%00", t, None, "name").await;
    api.refused("POST", "/api/v0/servers/%00/disable", t, None, "name").await;
    api.refused("GET", "/api/v0/groups/%00", t, None, "name").await;
    api.refused("GET", "/api/v0/groups/%00/effective-tools", t, None, "name").await;
    api.refused("DELETE", "/api/v0/users/%00", t, None, "name").await;
    api.refused("DELETE", "/api/v0/mcp-clients/%00", t, None, "name").await;
    api.refused("DELETE", "/api/v0/oauth-grants/%00", t, None, "id").await;
    api.refused("GET", "/api/v0/tenants/%00", t, None, "id").await;

    // Body strings, keys and nested values.
    let server = |extra: Value| {
        let mut body = json!({"name": "beta", "url": "http://127.0.0.1:9/mcp"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Some(body)
    };
    api.refused("POST", "/api/v0/servers", t, server(json!({"description": "a\u{0}b"})), "description").await;
    api.refused("POST", "/api/v0/servers", t, server(json!({"headers": {"X-A\u{0}": "v"}})), "headers").await;
    api.refused("POST", "/api/v0/servers", t, server(json!({"headers": {"X-A": "v\u{0}"}})), "headers.X-A").await;
    let stdio = Some(json!({"name": "gamma", "command": "echo", "args": ["ok", "\u{0}"], "env": {"K": "\u{0}"}}));
    api.refused("POST", "/api/v0/servers", t, stdio, "args[1]").await;
    let invoke = json!({"name": "alpha__a1", "foo": {"bar": ["x", "y\u{0}"]}});
    api.refused("POST", "/api/v0/tools/invoke", t, Some(invoke), "foo.bar[1]").await;
    api.refused("POST", "/api/v0/tools/invoke", t, Some(json!({"name": "alpha__\u{0}"})), "name").await;
    let render = json!({"name": "alpha__hello", "arguments": {"who": "\u{0}"}});
    api.refused("POST", "/api/v0/prompts/render", t, Some(render), "arguments.who").await;
    api.refused("POST", "/api/v0/resources/read", t, Some(json!({"uri": "canopy://alpha/\u{0}"})), "uri").await;
    let group = json!({"name": "g", "included_tools": ["alpha__a1\u{0}"]});
    api.refused("POST", "/api/v0/groups", t, Some(group), "included_tools[0]").await;
    api.refused("PUT", "/api/v0/groups/g", t, Some(json!({"name": "g", "description": "\u{0}"})), "description").await;
    api.refused("POST", "/api/v0/users", t, Some(json!({"name": "u\u{0}"})), "name").await;
    let client = json!({"name": "c", "description": "\u{0}", "allowed_servers": ["alpha"]});
    api.refused("POST", "/api/v0/mcp-clients", t, Some(client.clone()), "description").await;
    api.refused("PUT", "/api/v0/mcp-clients/c", t, Some(client), "description").await;
    let tenant = json!({"id": "t2", "owner": "o", "display_name": "\u{0}"});
    api.refused("POST", "/api/v0/tenants", Some(&operator), Some(tenant), "display_name").await;
    let idp = json!({"issuer": "https://idp.example", "client_id": "c\u{0}", "client_secret": "s"});
    api.refused("PUT", "/api/v0/identity-provider", t, Some(idp), "client_id").await;

    api.assert_no_failures();
    // Nothing of it reached the store, and the api still answers.
    let answer = api.call("GET", "/api/v0/servers", t, None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json().as_array().map(Vec::len), Some(1), "{answer:?}");
}

/// Development mode takes no token; the same rule holds.
#[tokio::test]
async fn nul_in_development_mode_is_400() {
    let api = Api::new(Mode::Development, false).await;
    api.refused("GET", "/api/v0/tools?server=%00", None, None, "server").await;
    api.refused("GET", "/api/v0/servers/%00", None, None, "name").await;
    let body = json!({"name": "beta", "url": "http://127.0.0.1:9/mcp", "description": "\u{0}"});
    api.refused("POST", "/api/v0/servers", None, Some(body), "description").await;
    api.assert_no_failures();
}

/// The OAuth routes answer their own 400s (`invalid_request`; `invalid_client_metadata` for
/// a registration; an error page for the browser's authorization page), never a 500.
#[tokio::test]
async fn nul_in_oauth_input_is_an_oauth_400() {
    let api = Api::new(Mode::Enterprise, true).await;
    let form = "application/x-www-form-urlencoded";
    let mut failures = Vec::new();
    let mut oauth_error = |what: &str, answer: &Answer, error: &str| {
        let description = answer.json()["error_description"].as_str().unwrap_or_default().to_string();
        if answer.status != 400 || answer.json()["error"] != error || !description.contains("NUL") {
            failures.push(format!("{what}: expected 400 {error} naming the NUL, got {answer:?}"));
        }
    };
    for metadata in [
        json!({"redirect_uris": ["https://a.example/cb"], "software_id": "a\u{0}"}),
        json!({"redirect_uris": ["https://a.example/cb"], "client_uri": "https://a.example/\u{0}"}),
        json!({"redirect_uris": ["https://a.example/cb"], "x-extension\u{0}": 1}),
    ] {
        let answer = api.send("POST", "/oauth/register", None, "application/json", metadata.to_string()).await;
        oauth_error(&format!("register {metadata}"), &answer, "invalid_client_metadata");
    }
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let body = "grant_type=client_credentials&client_id=x%00&client_secret=y&token=z%00".to_string();
        let answer = api.send("POST", path, None, form, body).await;
        oauth_error(path, &answer, "invalid_request");
    }
    // HTTP Basic client credentials (form-urlencoded inside, RFC 6749 section 2.3.1): a
    // malformed credential, 401 `invalid_client`.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("x%00:y");
    let request = Request::post("/oauth/token")
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", form)
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    if response.status() != 401 {
        failures.push(format!("HTTP Basic with a NUL: expected 401 invalid_client, got {}", response.status()));
    }
    let answer = api.send("GET", "/oauth/authorize?client_id=a%00&response_type=code", None, "", String::new()).await;
    if answer.status != 400 || !answer.text.contains("NUL") {
        failures.push(format!("GET /oauth/authorize: expected a 400 page naming the NUL, got {answer:?}"));
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The rule lives in the api's own extractors (`src/input.rs`): no `/api/v0` handler takes
/// axum's `Json`, `Query` or `Path` directly, which would skip it.
#[test]
fn handlers_extract_through_the_checked_extractors() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("input.rs") || path.ends_with("error.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for unchecked in ["JsonRejection", "QueryRejection", "extract::Path", "extract::{Path", "extract::{Query"] {
            assert!(!text.contains(unchecked), "{} uses `{unchecked}`: extract through crate::input", path.display());
        }
    }
}

/// A registration whose event could not travel on the bus whole (NATS's 1 MiB) would never
/// reach discovery: it is refused at the door, naming the limit.
#[tokio::test]
async fn a_registration_larger_than_its_event_may_be_is_400() {
    let api = Api::new(Mode::Development, false).await;
    let body = json!({"name": "huge", "url": "http://127.0.0.1:9/mcp", "description": "d".repeat(300 * 1024)});
    let answer = api.call("POST", "/api/v0/servers", None, Some(body)).await;
    let json = answer.json();
    assert_eq!((answer.status, &json["error"]["code"]), (400, &json!("INVALID_REQUEST")), "{answer:?}");
    assert!(json["error"]["message"].as_str().unwrap().contains("at most 262144 bytes"), "{json}");
    let listed = api.call("GET", "/api/v0/servers", None, None).await;
    assert!(!listed.text.contains("huge"), "nothing was registered: {}", listed.text);
}
