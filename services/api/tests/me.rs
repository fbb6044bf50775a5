//! `GET /api/v0/me`, the principal of the request's token, as the console reads it: the router
//! in-process on a fresh real Postgres database (and the real NATS and Redis), in development
//! mode and in enterprise mode with Canopy's own authorization server and OAuth access tokens at
//! the REST API, as `canopy start` wires them.
//!
//! Covered: development mode's single principal (manages its tenant); 401 without a token;
//! static tokens of an owner, a member, an MCP client and the operator; OAuth access tokens for
//! `/api/v0` got through the authorization code flow with PKCE (as the console gets them): a
//! member asking for `canopy:admin` gets a token without it and manages nothing, an owner's
//! token with it manages the tenant, and without it does not (a scope limits the role); a second
//! tenant's owner is answered with their own tenant.

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use canopy_api::oauth::{OAuthServer, OAuthSettings};
use canopy_api::{ApiState, Mode};
use canopy_eventstore::{CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const ISSUER: &str = "http://canopy.test";
const REDIRECT: &str = "http://127.0.0.1:8080/console/";

struct Api {
    router: axum::Router,
    _db: canopy_testkit::TestDb,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Api {
    async fn new(mode: Mode) -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apime");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-me-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        let sealer = Sealer::from_bytes(&[42u8; 32]).unwrap();
        let (oauth, access_tokens) = match mode {
            Mode::Development => (None, None),
            Mode::Enterprise => {
                let redis =
                    redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
                        .await
                        .expect("Redis for tests (set CANOPY_REDIS_URL)");
                let settings = OAuthSettings {
                    access_token_ttl: Duration::from_secs(600),
                    refresh_token_ttl: Duration::from_secs(3600),
                    grant_ttl: Duration::from_secs(86400),
                    code_ttl: Duration::from_secs(60),
                    key_rotation: Duration::from_secs(30 * 86400),
                    client_metadata_documents: false,
                    allow_loopback_http: false,
                };
                let server = OAuthServer::start(
                    ISSUER.into(),
                    db.pool.clone(),
                    &sealer,
                    redis.clone(),
                    prefix.clone(),
                    settings,
                )
                .await
                .unwrap();
                let bearer = canopy_bearer::Settings {
                    issuer: ISSUER.into(),
                    prefix: prefix.clone(),
                    external_issuers: vec![],
                    timings: canopy_bearer::Timings::default(),
                };
                let tokens = canopy_bearer::AccessTokens::new(bearer, db.pool.clone(), redis).unwrap();
                (Some(server), Some(Arc::new(tokens)))
            }
        };
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode,
            executor,
            bus,
            sealer,
            access_tokens,
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: ISSUER.into(),
            oauth,
            jobs,
        };
        Api { router: canopy_api::router(state), _db: db }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn me(&self, token: Option<&str>) -> Answer {
        let mut request = Request::get("/api/v0/me");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `me` for a token, which must be accepted.
    async fn me_ok(&self, token: &str) -> Value {
        let answer = self.me(Some(token)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()
    }

    async fn json(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = Request::post(path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap()).await
    }

    async fn form(&self, path: &str, cookie: Option<&str>, params: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// What the console does: registers itself (public client), sends the user through the
    /// authorization page for the REST API's resource with PKCE S256, signs in there with
    /// `user_token`, exchanges the code. Answers the token response.
    async fn console_sign_in(&self, user_token: &str, scope: &str) -> Value {
        let registered = self
            .json(
                "/oauth/register",
                None,
                json!({"client_name": "Canopy console", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
            )
            .await;
        assert_eq!(registered.status, 201, "{registered:?}");
        let client_id = registered.json()["client_id"].as_str().unwrap().to_string();
        let verifier = format!("v-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let challenge = B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let resource = format!("{ISSUER}/api/v0");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s1"),
                ("scope", scope),
                ("resource", &resource),
            ])
            .finish();
        let page = self.send(Request::get(format!("/oauth/authorize?{query}")).body(Body::empty()).unwrap()).await;
        assert_eq!(page.status, 200, "{page:?}");
        let cookie = page.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let marker = "name=\"request\" value=\"";
        let start = page.text.find(marker).unwrap() + marker.len();
        let signed = &page.text[start..start + page.text[start..].find('"').unwrap()];
        let back = self
            .form("/oauth/authorize", Some(&cookie), &[("request", signed), ("token", user_token), ("action", "allow")])
            .await;
        assert_eq!(back.status, 303, "{back:?}");
        let location = url::Url::parse(back.headers["location"].to_str().unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s1");
        let tokens = self
            .form(
                "/oauth/token",
                None,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &client_id),
                    ("code", &params["code"]),
                    ("code_verifier", &verifier),
                    ("redirect_uri", REDIRECT),
                    ("resource", &resource),
                ],
            )
            .await;
        assert_eq!(tokens.status, 200, "{tokens:?}");
        tokens.json()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn development_mode_answers_its_single_principal() {
    let api = Api::new(Mode::Development).await;
    let me = api.me_ok("ignored").await;
    assert_eq!(
        me,
        json!({
            "kind": "development", "name": "dev", "subject": "user:dev", "tenant": "default",
            "manages_tenant": true, "manages_platform": false,
        })
    );
    assert_eq!(api.me(None).await.status, 200, "development mode needs no token");
}

#[tokio::test(flavor = "multi_thread")]
async fn enterprise_mode_answers_the_tokens_principal() {
    let api = Api::new(Mode::Enterprise).await;
    let refused = api.me(None).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(api.me(Some("not-a-token")).await.status, 401);

    let init = api.json("/api/v0/init-server", None, json!({})).await;
    assert_eq!(init.status, 201, "{init:?}");
    let owner = init.json()["access_token"].as_str().unwrap().to_string();
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let member = api.json("/api/v0/users", Some(&owner), json!({"name": "mia", "role": "member"})).await;
    assert_eq!(member.status, 201, "{member:?}");
    let member = member.json()["access_token"].as_str().unwrap().to_string();
    let client = api.json("/api/v0/mcp-clients", Some(&owner), json!({"name": "bot", "allowed_servers": ["*"]})).await;
    assert_eq!(client.status, 201, "{client:?}");
    let client = client.json()["access_token"].as_str().unwrap().to_string();

    // Static tokens are not scope-limited: `scopes` is absent.
    assert_eq!(
        api.me_ok(&owner).await,
        json!({
            "kind": "user", "name": "admin", "subject": "user:admin", "tenant": "default", "role": "owner",
            "manages_tenant": true, "manages_platform": false,
        })
    );
    let me = api.me_ok(&member).await;
    assert_eq!((&me["kind"], &me["name"], &me["role"]), (&json!("user"), &json!("mia"), &json!("member")));
    assert_eq!((&me["manages_tenant"], &me["manages_platform"]), (&json!(false), &json!(false)));
    let me = api.me_ok(&client).await;
    assert_eq!(
        (&me["kind"], &me["subject"], &me["tenant"]),
        (&json!("client"), &json!("client:bot"), &json!("default"))
    );
    assert!(me.get("role").is_none(), "{me}");
    assert_eq!(me["manages_tenant"], false);
    let me = api.me_ok(&operator).await;
    assert_eq!(
        (&me["kind"], &me["manages_platform"], &me["manages_tenant"]),
        (&json!("operator"), &json!(true), &json!(false))
    );
    assert!(me.get("tenant").is_none(), "the operator belongs to no tenant: {me}");

    // OAuth access tokens for the REST API, as the console gets them.
    let everything = "mcp:tools mcp:prompts mcp:resources canopy:admin";
    let tokens = api.console_sign_in(&member, everything).await;
    assert_eq!(tokens["scope"], "mcp:tools mcp:prompts mcp:resources", "the role caps the scopes");
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!((&me["subject"], &me["role"]), (&json!("user:mia"), &json!("member")));
    assert_eq!(me["scopes"], json!(["mcp:prompts", "mcp:resources", "mcp:tools"]));
    assert_eq!(me["manages_tenant"], false);

    let tokens = api.console_sign_in(&owner, everything).await;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["subject"], &me["role"], &me["manages_tenant"]),
        (&json!("user:admin"), &json!("owner"), &json!(true))
    );
    assert_eq!(me["scopes"], json!(["canopy:admin", "mcp:prompts", "mcp:resources", "mcp:tools"]));
    // A token without canopy:admin limits even an owner.
    let tokens = api.console_sign_in(&owner, "mcp:tools").await;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["role"], &me["manages_tenant"], &me["scopes"]),
        (&json!("owner"), &json!(false), &json!(["mcp:tools"]))
    );

    // Another tenant's owner is answered with their own tenant.
    let created = api.json("/api/v0/tenants", Some(&operator), json!({"id": "acme", "owner": "olga"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let olga = created.json()["owner_access_token"].as_str().unwrap().to_string();
    let tokens = api.console_sign_in(&olga, everything).await;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["subject"], &me["tenant"], &me["manages_tenant"]),
        (&json!("user:olga"), &json!("acme"), &json!(true))
    );
}
