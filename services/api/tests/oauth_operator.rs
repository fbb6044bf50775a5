//! The platform operator signs in through Canopy's own authorization server (authorization
//! code with PKCE, as the console does) and acts as the operator at the REST API, and only
//! there: the router in-process on a fresh real Postgres database (and the real NATS and
//! Redis), in enterprise mode with OAuth access tokens at the REST API, as `canopy start`
//! wires them.
//!
//! Covered: the operator's code is for the platform (`operator:NAME`, the scope
//! `canopy:operator` alone, whatever else was asked for); `/me` says operator; the token lists,
//! creates, suspends and resumes tenants, and inside a tenant gets exactly what the operator's
//! static token gets (nothing); refresh keeps it the operator; an operator signing in for an MCP
//! endpoint, or for a client that did not ask for `canopy:operator`, is refused on the page; a
//! user asking for `canopy:operator` never gets it and their tokens (code and refresh) never act
//! as the operator; a removed operator's refresh token fails and ends the grant, and their
//! access token is refused at once.

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
    db: canopy_testkit::TestDb,
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
        let prefix = canopy_testkit::unique("oauthop");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-oauth-operator-test")
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
        Api { router: canopy_api::router(state), db }
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

    /// Registers a public client as the console does: its client id.
    async fn register(&self) -> String {
        let registered = self
            .json(
                "/oauth/register",
                None,
                json!({"client_name": "Canopy console", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
            )
            .await;
        assert_eq!(registered.status, 201, "{registered:?}");
        registered.json()["client_id"].as_str().unwrap().to_string()
    }

    /// The authorization request for `resource` and `scope`, signed in on the page with
    /// `token`: the page's answer after the form (a redirect, or the page again) and the PKCE
    /// verifier.
    async fn sign_in(&self, client_id: &str, token: &str, scope: &str, resource: &str) -> (Answer, String) {
        let verifier = format!("v-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let challenge = B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s1"),
                ("scope", scope),
                ("resource", resource),
            ])
            .finish();
        let page = self.send(Request::get(format!("/oauth/authorize?{query}")).body(Body::empty()).unwrap()).await;
        assert_eq!(page.status, 200, "{page:?}");
        let cookie = page.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let marker = "name=\"request\" value=\"";
        let start = page.text.find(marker).unwrap() + marker.len();
        let signed = &page.text[start..start + page.text[start..].find('"').unwrap()];
        let back = self
            .form("/oauth/authorize", Some(&cookie), &[("request", signed), ("token", token), ("action", "allow")])
            .await;
        (back, verifier)
    }

    /// The code of a successful sign-in's redirect.
    fn code_of(back: &Answer) -> String {
        assert_eq!(back.status, 303, "{back:?}");
        let location = url::Url::parse(back.headers["location"].to_str().unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s1");
        params["code"].clone()
    }

    async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> Answer {
        let params = [
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ];
        self.form("/oauth/token", None, &params).await
    }

    async fn refresh(&self, client_id: &str, refresh_token: &str) -> Answer {
        let params = [("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token)];
        self.form("/oauth/token", None, &params).await
    }

    /// The console's whole sign-in for the REST API: the token response.
    async fn console_sign_in(&self, token: &str, scope: &str) -> (String, Value) {
        let client_id = self.register().await;
        let (back, verifier) = self.sign_in(&client_id, token, scope, &api_resource()).await;
        let tokens = self.exchange(&client_id, &Self::code_of(&back), &verifier).await;
        assert_eq!(tokens.status, 200, "{tokens:?}");
        (client_id, tokens.json())
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut request =
            Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.send(request.body(body).unwrap()).await
    }

    /// Gives the platform operator `name` a new token, as the server itself would.
    async fn rotate_operator(&self, name: &str, digest: canopy_domain::identity::TokenDigest) {
        let executor = CommandExecutor::new(EventStore::new(self.db.pool.clone()), Arc::new(CanopyProjector));
        let ctx = canopy_eventstore::CommandContext::new(canopy_domain::TenantId::platform(), "system:test");
        let rotate = canopy_domain::operator::OperatorCommand::RotateToken { token: digest };
        executor.execute::<canopy_domain::operator::Operator>(&ctx, name, &rotate).await.unwrap();
    }

    /// Removes the platform operator `name`, as the server itself would (there is no API).
    async fn remove_operator(&self, name: &str) {
        let executor = CommandExecutor::new(EventStore::new(self.db.pool.clone()), Arc::new(CanopyProjector));
        let ctx = canopy_eventstore::CommandContext::new(canopy_domain::TenantId::platform(), "system:test");
        executor
            .execute::<canopy_domain::operator::Operator>(&ctx, name, &canopy_domain::operator::OperatorCommand::Delete)
            .await
            .unwrap();
    }
}

fn api_resource() -> String {
    format!("{ISSUER}/api/v0")
}

/// What the console asks for: every scope the metadata lists.
const EVERYTHING: &str = "mcp:tools mcp:prompts mcp:resources canopy:admin canopy:operator";

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_signs_in_for_the_platform_only() {
    let api = Api::new(Mode::Enterprise).await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    assert_eq!(init.status, 201, "{init:?}");
    let owner = init.json()["access_token"].as_str().unwrap().to_string();
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();

    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    assert_eq!(tokens["scope"], "canopy:operator", "the operator's one scope, nothing of a tenant");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let me = api.me_ok(&access).await;
    assert_eq!(
        (&me["kind"], &me["subject"], &me["manages_platform"], &me["manages_tenant"]),
        (&json!("operator"), &json!("operator:operator"), &json!(true), &json!(false))
    );
    assert!(me.get("tenant").is_none(), "{me}");

    // Tenants: list, create (the owner's token once), suspend, resume.
    let listed = api.call("GET", "/api/v0/tenants", &access, None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json()[0]["id"], "default", "{listed:?}");
    let created = api.call("POST", "/api/v0/tenants", &access, Some(json!({"id": "acme", "owner": "olga"}))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let olga = created.json()["owner_access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&olga).await["tenant"], "acme");
    assert_eq!(api.call("POST", "/api/v0/tenants/acme/suspend", &access, None).await.status, 200);
    assert_eq!(api.me(Some(&olga)).await.status, 401, "suspended");
    assert_eq!(api.call("POST", "/api/v0/tenants/acme/resume", &access, None).await.status, 200);
    assert_eq!(api.me(Some(&olga)).await.status, 200);

    // Inside a tenant the OAuth token gets exactly what the static operator token gets.
    for (method, path, body) in [
        ("GET", "/api/v0/servers", None),
        ("GET", "/api/v0/users", None),
        ("GET", "/api/v0/mcp-clients", None),
        ("GET", "/api/v0/audit", None),
        ("GET", "/api/v0/oauth-grants", None),
        ("POST", "/api/v0/users", Some(json!({"name": "mole", "role": "owner"}))),
        ("POST", "/api/v0/mcp-clients", Some(json!({"name": "mole", "allowed_servers": ["*"]}))),
    ] {
        let by_oauth = api.call(method, path, &access, body.clone()).await;
        let by_static = api.call(method, path, &operator, body).await;
        assert_eq!((by_oauth.status, by_oauth.json()), (by_static.status, by_static.json()), "{method} {path}");
        // No name of a tenant's identities in any answer.
        assert!(!by_oauth.text.contains("\"admin\"") && !by_oauth.text.contains("olga"), "{path}: {by_oauth:?}");
    }
    let users = api.call("GET", "/api/v0/users", &owner, None).await;
    assert!(!users.text.contains("mole"), "{users:?}");

    // Refreshed, it is still the operator's, and only that.
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.json()["scope"], "canopy:operator");
    let access = refreshed.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "operator");
    let servers = api.call("GET", "/api/v0/servers", &access, None).await;
    assert_eq!(servers.json(), api.call("GET", "/api/v0/servers", &operator, None).await.json());

    // Not at an MCP endpoint, nor for a client that did not ask to act as the operator.
    let client = api.register().await;
    let (page, _) = api.sign_in(&client, &operator, EVERYTHING, &format!("{ISSUER}/mcp")).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.text.contains("only to Canopy&#39;s REST API"), "{}", page.text);
    let (page, _) = api.sign_in(&client, &operator, "mcp:tools canopy:admin", &api_resource()).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.text.contains("canopy:operator"), "{}", page.text);
    assert!(page.headers.get("location").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_code_and_refresh_token_never_act_as_the_operator() {
    let api = Api::new(Mode::Enterprise).await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let owner = init.json()["access_token"].as_str().unwrap().to_string();

    let (client_id, tokens) = api.console_sign_in(&owner, EVERYTHING).await;
    let scope = tokens["scope"].as_str().unwrap();
    assert!(!scope.contains("canopy:operator") && scope.contains("canopy:admin"), "{scope}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let me = api.me_ok(&access).await;
    assert_eq!((&me["kind"], &me["manages_platform"]), (&json!("user"), &json!(false)));
    let tenants = api.call("GET", "/api/v0/tenants", &access, None).await;
    assert_eq!(tenants.status, 403, "{tenants:?}");
    let create = api.call("POST", "/api/v0/tenants", &access, Some(json!({"id": "evil", "owner": "x"}))).await;
    assert_eq!(create.status, 403, "{create:?}");

    // Asking a refresh for the operator's scope is refused; the refreshed token is the user's.
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let widened = api
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", refresh_token),
                ("scope", "canopy:operator"),
            ],
        )
        .await;
    assert_eq!((widened.status, widened.json()["error"].clone()), (400, json!("invalid_scope")), "{widened:?}");
    let (client_id, tokens) = api.console_sign_in(&owner, "canopy:operator").await;
    assert_eq!(tokens["scope"], "", "asked for the operator's scope alone: a user gets nothing");
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let access = refreshed.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "user");
    assert_eq!(api.call("GET", "/api/v0/tenants", &access, None).await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_operators_grant_ends_with_them() {
    let api = Api::new(Mode::Enterprise).await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "operator");
    // A code signed in for before the removal and exchanged after it gets nothing either.
    let client = api.register().await;
    let (back, verifier) = api.sign_in(&client, &operator, EVERYTHING, &api_resource()).await;
    let code = Api::code_of(&back);

    api.remove_operator("operator").await;

    let me = api.me(Some(&access)).await;
    assert_eq!(me.status, 401, "the access token stands for nobody now: {me:?}");
    assert_eq!(api.me(Some(&operator)).await.status, 401, "nor the static token");
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((refreshed.status, refreshed.json()["error"].clone()), (400, json!("invalid_grant")), "{refreshed:?}");
    let revoked: (bool,) = sqlx::query_as("SELECT bool_and(revoked_at IS NOT NULL) FROM oauth_refresh_families")
        .fetch_one(&api.db.pool)
        .await
        .unwrap();
    assert!(revoked.0, "the grant is ended");
    let exchanged = api.exchange(&client, &code, &verifier).await;
    assert_eq!((exchanged.status, exchanged.json()["error"].clone()), (400, json!("invalid_grant")), "{exchanged:?}");
}

/// A leaked operator token is stopped by rotating it: the OAuth grants made with the old token
/// end at their next refresh (the new token's sign-ins work).
#[tokio::test(flavor = "multi_thread")]
async fn an_operators_grant_ends_when_its_token_is_rotated() {
    let api = Api::new(Mode::Enterprise).await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "before the rotation: {refreshed:?}");
    let refresh_token = refreshed.json()["refresh_token"].as_str().unwrap().to_string();

    api.rotate_operator("operator", canopy_domain::identity::TokenDigest::parse("b".repeat(64)).unwrap()).await;

    let refreshed = api.refresh(&client_id, &refresh_token).await;
    assert_eq!((refreshed.status, refreshed.json()["error"].clone()), (400, json!("invalid_grant")), "{refreshed:?}");
    assert_eq!(api.me(Some(&operator)).await.status, 401, "the old static token is no one's now");
}
