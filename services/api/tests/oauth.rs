//! Canopy's OAuth 2.1 authorization server, end to end over HTTP in-process: the api router in
//! enterprise mode on a fresh Postgres database, with the real Redis for revocations.
//!
//! Covered: RFC 8414 metadata and the JWKS; RFC 7591 registration (public and confidential,
//! bad metadata refused); the authorization code flow with PKCE S256 for a user who signs in
//! with their Canopy token, the code exchanged once (a second exchange revokes the grant), a
//! wrong verifier or redirect URI or client refused; refresh-token rotation with reuse
//! detection; client credentials for MCP clients; scopes following the role; resources limited
//! to this deployment's endpoints; introspection that answers only its caller's tenant or
//! client; revocation of access and refresh tokens; client ID metadata documents fetched from a
//! server run by the test; nothing secret stored in plaintext.

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

struct Api {
    router: axum::Router,
    db: canopy_testkit::TestDb,
    redis_prefix: String,
    server: Arc<OAuthServer>,
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

    fn location(&self) -> url::Url {
        let location = self.headers.get("location").unwrap_or_else(|| panic!("no redirect: {self:?}"));
        url::Url::parse(location.to_str().unwrap()).unwrap()
    }

    fn oauth_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.json()["error"], error, "{self:?}");
        assert_eq!(self.headers.get("cache-control").unwrap(), "no-store");
    }
}

fn settings() -> OAuthSettings {
    OAuthSettings {
        access_token_ttl: Duration::from_secs(600),
        refresh_token_ttl: Duration::from_secs(3600),
        grant_ttl: Duration::from_secs(86400),
        code_ttl: Duration::from_secs(60),
        key_rotation: Duration::from_secs(30 * 86400),
        client_metadata_documents: true,
        allow_loopback_http: true,
    }
}

impl Api {
    async fn new() -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("oauth");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-oauth-test").await.unwrap();
        let sealer = Sealer::from_bytes(&[42u8; 32]).unwrap();
        let redis = redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap())
            .await
            .expect("Redis for tests (set CANOPY_REDIS_URL)");
        let server = OAuthServer::start(ISSUER.into(), db.pool.clone(), &sealer, redis, prefix.clone(), settings())
            .await
            .unwrap();
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode: Mode::Enterprise,
            executor,
            bus,
            sealer,
            access_tokens: None,
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: ISSUER.into(),
            oauth: Some(server.clone()),
            jobs,
        };
        Api { router: canopy_api::router(state), db, redis_prefix: prefix, server }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap()).await
    }

    async fn json(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = Request::post(path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap()).await
    }

    async fn form(&self, path: &str, basic: Option<(&str, &str)>, params: &[(&str, &str)]) -> Answer {
        self.form_with_cookie(path, basic, None, params).await
    }

    async fn form_with_cookie(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        cookie: Option<&str>,
        params: &[(&str, &str)],
    ) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some((id, secret)) = basic {
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `init-server`, then a member and an MCP client: (owner, member, client) tokens.
    async fn identities(&self) -> (String, String, String) {
        let init = self.json("/api/v0/init-server", None, json!({})).await;
        assert_eq!(init.status, 201, "{init:?}");
        let owner = init.json()["access_token"].as_str().unwrap().to_string();
        let member = self.json("/api/v0/users", Some(&owner), json!({"name": "alice"})).await;
        assert_eq!(member.status, 201, "{member:?}");
        let client =
            self.json("/api/v0/mcp-clients", Some(&owner), json!({"name": "robot", "allowed_servers": ["*"]})).await;
        assert_eq!(client.status, 201, "{client:?}");
        (
            owner,
            member.json()["access_token"].as_str().unwrap().into(),
            client.json()["access_token"].as_str().unwrap().into(),
        )
    }

    async fn register(&self, metadata: Value) -> Value {
        let answer = self.json("/oauth/register", None, metadata).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.json()
    }

    /// The authorization request up to the sign-in page: the signed request it carries.
    async fn authorize_page(&self, params: &[(&str, &str)]) -> Answer {
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        self.get(&format!("/oauth/authorize?{query}")).await
    }

    /// Signs in on the page with `token` and answers the redirect.
    /// The token endpoint's `authorization_code` grant for a public client, plus `extra`.
    async fn exchange(&self, client_id: &str, code: &str, verifier: &str, extra: &[(&str, &str)]) -> Answer {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
        ];
        params.extend_from_slice(extra);
        self.form("/oauth/token", None, &params).await
    }

    /// The token endpoint's `refresh_token` grant for a public client, plus `extra`.
    async fn refresh(&self, client_id: &str, token: &str, extra: &[(&str, &str)]) -> Answer {
        let mut params = vec![("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", token)];
        params.extend_from_slice(extra);
        self.form("/oauth/token", None, &params).await
    }

    /// Submits the sign-in page as the browser it was shown to (its cookie goes back).
    async fn sign_in(&self, page: &Answer, token: &str, action: &str) -> Answer {
        assert_eq!(page.status, 200, "{page:?}");
        let request = hidden_request(&page.text);
        let params = [("request", request.as_str()), ("token", token), ("action", action)];
        self.form_with_cookie("/oauth/authorize", None, Some(&browser_cookie(page)), &params).await
    }

    /// The whole code flow for `client_id` as the user holding `user_token`: (code, verifier).
    async fn code_for(
        &self,
        client_id: &str,
        redirect: &str,
        user_token: &str,
        scope: &str,
        resource: &str,
    ) -> (String, String) {
        let verifier = format!("v-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let challenge = B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let page = self
            .authorize_page(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "xyz"),
                ("scope", scope),
                ("resource", resource),
            ])
            .await;
        let back = self.sign_in(&page, user_token, "allow").await;
        assert_eq!(back.status, 303, "{back:?}");
        let location = back.location();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "xyz");
        assert_eq!(params["iss"], ISSUER, "RFC 9207");
        (params["code"].clone(), verifier)
    }

    fn verify(&self, token: &str, audience: &str) -> Result<canopy_auth::AccessClaims, canopy_auth::TokenError> {
        let jwks = futures_lite_block(self.get_jwks());
        let keys =
            canopy_auth::VerifyingKeys::from_jwks_json(&jwks, &[canopy_auth::SignatureAlgorithm::Es256]).unwrap();
        keys.verify_canopy_token(token, ISSUER, audience, chrono::Utc::now(), |_| false)
    }

    async fn get_jwks(&self) -> String {
        self.get("/oauth/jwks").await.text
    }
}

fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// `name=value` of the sign-in page's Set-Cookie.
fn browser_cookie(page: &Answer) -> String {
    let set = page.headers.get("set-cookie").expect("the sign-in page sets its cookie").to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/oauth"), "{set}");
    set.split(';').next().unwrap().to_string()
}

fn hidden_request(html: &str) -> String {
    let marker = "name=\"request\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no request field in {html}")) + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_and_jwks() {
    let api = Api::new().await;
    let doc = api.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    let jwks: Value = serde_json::from_str(&api.get_jwks().await).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "no private part in the JWKS");
    let stored: (Value,) = sqlx::query_as("SELECT sealed FROM oauth_key_ring").fetch_one(&api.db.pool).await.unwrap();
    assert!(stored.0.to_string().contains(key["kid"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_validates_metadata() {
    let api = Api::new().await;
    let public = api
        .register(json!({"client_name": "Inspector", "redirect_uris": ["http://127.0.0.1:6274/cb"], "token_endpoint_auth_method": "none"}))
        .await;
    assert!(public["client_id"].as_str().unwrap().starts_with("cnp_client_"));
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["grant_types"], json!(["authorization_code", "refresh_token"]));
    let confidential = api.register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
    assert_eq!(confidential["token_endpoint_auth_method"], "client_secret_basic");
    let secret = confidential["client_secret"].as_str().unwrap();
    let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT secret_hash FROM oauth_clients WHERE client_id = $1")
        .bind(confidential["client_id"].as_str().unwrap())
        .fetch_one(&api.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(secret));

    for (bad, error) in [
        (json!({"redirect_uris": ["http://evil.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["javascript:alert(1)"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://a.example/cb#frag"]}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": "https://a.example/cb"}), "invalid_client_metadata"),
    ] {
        let answer = api.json("/oauth/register", None, bad.clone()).await;
        assert_eq!((answer.status, answer.json()["error"].as_str()), (400, Some(error)), "{bad}: {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_code_with_pkce_refresh_rotation_and_reuse_detection() {
    let api = Api::new().await;
    let (owner, member, client_token) = api.identities().await;
    let redirect = "http://127.0.0.1:5555/callback";
    let client = api
        .register(
            json!({"client_name": "Claude <b>", "redirect_uris": [redirect], "token_endpoint_auth_method": "none"}),
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    let resource = format!("{ISSUER}/servers/github/mcp");

    // The sign-in page escapes what the client chose to be called.
    let page = api
        .authorize_page(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("code_challenge", &B64URL.encode(sha2::Sha256::digest(b"a-verifier-that-is-long-enough-to-be-valid-xx"))),
            ("code_challenge_method", "S256"),
            ("resource", &resource),
        ])
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.text.contains("Claude &lt;b&gt;") && !page.text.contains("Claude <b>"));
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    // A wrong token, or an MCP client's token, does not sign a user in.
    for token in ["not-a-token", client_token.as_str()] {
        let again = api.sign_in(&page, token, "allow").await;
        assert_eq!(again.status, 401, "{again:?}");
        assert!(again.text.contains("name=\"request\""), "the page again, to retry");
    }
    // Deny goes back to the client with access_denied.
    let denied = api.sign_in(&page, &member, "deny").await;
    let params: HashMap<String, String> = denied.location().query_pairs().into_owned().collect();
    assert_eq!(params["error"], "access_denied");

    // The member asks for admin as well: gets only what the role allows.
    let (code, verifier) = api.code_for(client_id, redirect, &member, "mcp:tools canopy:admin", &resource).await;
    // A wrong verifier fails, and the code is spent: exchanging is single use, even when it fails.
    let wrong = api
        .exchange(
            client_id,
            &code,
            "x-wrong-verifier-that-is-long-enough-to-be-valid-xxxxxxxx",
            &[("redirect_uri", redirect)],
        )
        .await;
    wrong.oauth_error(400, "invalid_grant");
    api.exchange(client_id, &code, &verifier, &[]).await.oauth_error(400, "invalid_grant");

    // Another client cannot redeem a code; nor the client itself at another redirect URI.
    let (code, verifier) = api.code_for(client_id, redirect, &member, "mcp:tools canopy:admin", &resource).await;
    let other = api.register(json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none"})).await;
    let stolen = api.exchange(other["client_id"].as_str().unwrap(), &code, &verifier, &[]).await;
    stolen.oauth_error(400, "invalid_grant");
    let (code, verifier) = api.code_for(client_id, redirect, &member, "mcp:tools", &resource).await;
    let elsewhere = api.exchange(client_id, &code, &verifier, &[("redirect_uri", "http://127.0.0.1:5555/other")]).await;
    elsewhere.oauth_error(400, "invalid_grant");

    let (code, verifier) = api.code_for(client_id, redirect, &member, "mcp:tools canopy:admin", &resource).await;
    let tokens =
        api.exchange(client_id, &code, &verifier, &[("redirect_uri", redirect), ("resource", &resource)]).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.headers.get("cache-control").unwrap(), "no-store");
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "mcp:tools", "a member gets no canopy:admin");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = api.verify(access, &resource).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.tenant.as_str(), claims.client_id.as_str()),
        ("user:alice", "default", client_id)
    );
    assert!(api.verify(access, &format!("{ISSUER}/mcp")).is_err(), "audience-bound to the resource asked for");

    // The code again: refused, and the grant it made is revoked.
    let replay = api.exchange(client_id, &code, &verifier, &[]).await;
    replay.oauth_error(400, "invalid_grant");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let after_replay = api.refresh(client_id, refresh, &[]).await;
    after_replay.oauth_error(400, "invalid_grant");

    // A fresh grant for the owner, who may have canopy:admin; refresh rotates.
    let (code, verifier) = api.code_for(client_id, redirect, &owner, "mcp:tools canopy:admin", &resource).await;
    let tokens = api.exchange(client_id, &code, &verifier, &[]).await.json();
    assert_eq!(tokens["scope"], "mcp:tools canopy:admin");
    let first = tokens["refresh_token"].as_str().unwrap().to_string();
    let rotated = api.refresh(client_id, &first, &[("scope", "mcp:tools")]).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let rotated = rotated.json();
    assert_eq!(rotated["scope"], "mcp:tools", "narrowed on request");
    let second = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert!(api.verify(rotated["access_token"].as_str().unwrap(), &resource).is_ok());
    // Widening is refused.
    let wider = api.refresh(client_id, &second, &[("scope", "mcp:prompts")]).await;
    wider.oauth_error(400, "invalid_scope");
    // The first token again: theft. The family dies, the second token with it.
    let reuse = api.refresh(client_id, &first, &[]).await;
    reuse.oauth_error(400, "invalid_grant");
    let dead = api.refresh(client_id, &second, &[]).await;
    dead.oauth_error(400, "invalid_grant");

    // Nothing of it in plaintext in the database.
    let dump: (String,) = sqlx::query_as(
        "SELECT coalesce(string_agg(t::text, ' '), '') FROM (
            SELECT row_to_json(c)::text AS t FROM oauth_codes c UNION ALL
            SELECT row_to_json(r)::text FROM oauth_refresh_tokens r UNION ALL
            SELECT row_to_json(k)::text FROM oauth_key_ring k) x",
    )
    .fetch_one(&api.db.pool)
    .await
    .unwrap();
    for secret in [&first, &second, &code, &member, &owner] {
        assert!(!dump.0.contains(secret.as_str()), "a secret in plaintext in the database");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_requests_are_checked_before_and_after_the_redirect_uri() {
    let api = Api::new().await;
    let redirect = "https://app.example/cb";
    let client = api.register(json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none"})).await;
    let id = client["client_id"].as_str().unwrap();
    let challenge = B64URL.encode(sha2::Sha256::digest(b"a-verifier-that-is-long-enough-to-be-valid-xx"));
    // Unknown client or unregistered redirect URI: a page, never a redirect to the attacker.
    for params in [
        vec![("response_type", "code"), ("client_id", "nobody"), ("redirect_uri", redirect)],
        vec![("response_type", "code"), ("client_id", id), ("redirect_uri", "https://evil.example/cb")],
    ] {
        let answer = api.authorize_page(&params).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert!(answer.headers.get("location").is_none());
    }
    // Everything else goes back to the client.
    for (params, error) in [
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("response_type", "code")], "invalid_request"),
        (
            vec![("response_type", "code"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            vec![
                ("response_type", "code"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "openid"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("response_type", "code"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("resource", "https://other.example/mcp"),
            ],
            "invalid_target",
        ),
    ] {
        let mut all = vec![("client_id", id), ("redirect_uri", redirect), ("state", "s1")];
        all.extend(params);
        let answer = api.authorize_page(&all).await;
        assert_eq!(answer.status, 303, "{all:?}: {answer:?}");
        let back: HashMap<String, String> = answer.location().query_pairs().into_owned().collect();
        assert_eq!(back["error"], error, "{all:?}");
        assert_eq!(back["state"], "s1");
        assert!(answer.location().as_str().starts_with(redirect));
    }
    // A forged or altered sign-in request is refused.
    let forged = api
        .form("/oauth/authorize", None, &[("request", "eyJ4IjoxfQ.AAAA"), ("token", "t"), ("action", "allow")])
        .await;
    assert_eq!(forged.status, 400);

    // A real sign-in request posted from elsewhere (another site's page auto-submitting the
    // form, for its own client): no browser cookie, or another browser's, is refused.
    let challenge = B64URL.encode(sha2::Sha256::digest(b"a-verifier-that-is-long-enough-to-be-valid-xx"));
    let start = [
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = api.authorize_page(&start).await;
    let other_browser = api.authorize_page(&start).await;
    let request = hidden_request(&page.text);
    for cookie in [None, Some(browser_cookie(&other_browser))] {
        let params = [("request", request.as_str()), ("token", "t"), ("action", "allow")];
        let answer = api.form_with_cookie("/oauth/authorize", None, cookie.as_deref(), &params).await;
        assert_eq!(answer.status, 403, "{cookie:?}: {answer:?}");
        assert!(answer.text.contains("did not start in this browser"));
        let sso = [("request", request.as_str()), ("organization", "default")];
        let answer = api.form_with_cookie("/oauth/authorize/sso", None, cookie.as_deref(), &sso).await;
        assert_eq!(answer.status, 403, "single sign-on too: {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_for_mcp_clients_introspection_and_revocation() {
    let api = Api::new().await;
    let (owner, member, robot) = api.identities().await;
    let resource = format!("{ISSUER}/mcp");
    // Basic and post both work; the secret is the MCP client's access token.
    let basic = api
        .form("/oauth/token", Some(("robot", &robot)), &[("grant_type", "client_credentials"), ("resource", &resource)])
        .await;
    assert_eq!(basic.status, 200, "{basic:?}");
    let basic = basic.json();
    assert!(basic.get("refresh_token").is_none());
    // By default: every MCP scope, the built-in servers' tools' own included.
    assert_eq!(basic["scope"], canopy_api::oauth::MCP_SCOPES.join(" "));
    let post = api
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "robot"),
                ("client_secret", &robot),
                ("scope", "mcp:tools canopy:admin"),
            ],
        )
        .await
        .json();
    assert_eq!(post["scope"], "mcp:tools", "clients never get canopy:admin");
    let access = basic["access_token"].as_str().unwrap();
    let claims = api.verify(access, &resource).unwrap();
    assert_eq!((claims.sub.as_str(), claims.client_id.as_str()), ("client:robot", "robot"));

    // Wrong secret, someone else's token as the secret, a user's token: invalid_client.
    for (id, secret) in
        [("robot", "wrong"), ("robot", member.as_str()), ("alice", member.as_str()), ("admin", owner.as_str())]
    {
        let refused = api.form("/oauth/token", Some((id, secret)), &[("grant_type", "client_credentials")]).await;
        refused.oauth_error(401, "invalid_client");
        assert!(refused.headers.get("www-authenticate").is_some());
    }
    // A registered client may not use client_credentials.
    let public =
        api.register(json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"})).await;
    api.form(
        "/oauth/token",
        None,
        &[("grant_type", "client_credentials"), ("client_id", public["client_id"].as_str().unwrap())],
    )
    .await
    .oauth_error(400, "unauthorized_client");
    // Bad requests.
    api.form("/oauth/token", None, &[("grant_type", "password"), ("client_id", "robot")])
        .await
        .oauth_error(400, "unsupported_grant_type");
    api.form(
        "/oauth/token",
        Some(("robot", &robot)),
        &[("grant_type", "client_credentials"), ("resource", "https://evil.example/mcp")],
    )
    .await
    .oauth_error(400, "invalid_target");
    let json_body = api.json("/oauth/token", None, json!({"grant_type": "client_credentials"})).await;
    json_body.oauth_error(400, "invalid_request");

    // Introspection: the client's own tenant only, and a confidential caller only.
    let active = api.form("/oauth/introspect", Some(("robot", &robot)), &[("token", access)]).await.json();
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], "client:robot");
    assert_eq!(active["tenant"], "default");
    let nobody = api
        .form("/oauth/introspect", None, &[("token", access), ("client_id", public["client_id"].as_str().unwrap())])
        .await;
    nobody.oauth_error(401, "invalid_client");
    let garbage = api.form("/oauth/introspect", Some(("robot", &robot)), &[("token", "garbage")]).await.json();
    assert_eq!(garbage, json!({"active": false}));

    // Revocation: only by the client it was issued to; then inactive and marked in Redis.
    let other =
        api.register(json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"})).await;
    let not_yours = api
        .form("/oauth/revoke", None, &[("token", access), ("client_id", other["client_id"].as_str().unwrap())])
        .await;
    assert_eq!(not_yours.status, 200);
    assert_eq!(
        api.form("/oauth/introspect", Some(("robot", &robot)), &[("token", access)]).await.json()["active"],
        true
    );
    let revoked = api
        .form("/oauth/revoke", Some(("robot", &robot)), &[("token", access), ("token_type_hint", "access_token")])
        .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(
        api.form("/oauth/introspect", Some(("robot", &robot)), &[("token", access)]).await.json()["active"],
        false
    );
    let mut redis =
        redis::aio::ConnectionManager::new(redis::Client::open(canopy_testkit::redis_url()).unwrap()).await.unwrap();
    let key = canopy_auth::revoked_jti_key(&api.redis_prefix, &claims.jti);
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut redis).await.unwrap();
    assert!(ttl > 0 && ttl <= (600 + 60) * 1000, "marked until the token would expire: {ttl}");
    // Still revoked after Redis forgets it and the server starts again (from Postgres).
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut redis).await.unwrap();
    let sealer = Sealer::from_bytes(&[42u8; 32]).unwrap();
    let _again = OAuthServer::start(
        ISSUER.into(),
        api.db.pool.clone(),
        &sealer,
        redis.clone(),
        api.redis_prefix.clone(),
        settings(),
    )
    .await
    .unwrap();
    let back: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(back, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_id_metadata_documents() {
    let api = Api::new().await;
    let (_, member, _) = api.identities().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let client_id = format!("http://127.0.0.1:{port}/client.json");
    let liar_id = format!("http://127.0.0.1:{port}/liar.json");
    let redirect = "http://127.0.0.1:7777/cb";
    let doc = json!({"client_id": client_id, "client_name": "Doc Client", "redirect_uris": [redirect]});
    let liar = json!({"client_id": "http://elsewhere.example/x.json", "redirect_uris": [redirect]});
    let app = axum::Router::new()
        .route("/client.json", axum::routing::get(move || async move { axum::Json(doc) }))
        .route("/liar.json", axum::routing::get(move || async move { axum::Json(liar) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (code, verifier) = api.code_for(&client_id, redirect, &member, "", &format!("{ISSUER}/mcp")).await;
    let tokens = api.exchange(&client_id, &code, &verifier, &[]).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.json()["scope"], canopy_api::oauth::MCP_SCOPES.join(" "));
    // A document that names another client_id is not that client.
    let page =
        api.authorize_page(&[("response_type", "code"), ("client_id", &liar_id), ("redirect_uri", redirect)]).await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(page.text.contains("not its own URL"), "{page:?}");
    assert!(page.headers.get("location").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_are_listed_and_revoked_by_their_user_or_an_admin() {
    let api = Api::new().await;
    let (owner, member, robot) = api.identities().await;
    let redirect = "http://127.0.0.1:5555/callback";
    let client = api
        .register(
            json!({"client_name": "Grant App", "redirect_uris": [redirect], "token_endpoint_auth_method": "none"}),
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    let mut refresh = HashMap::new();
    for (who, token) in [("member", &member), ("owner", &owner)] {
        let (code, verifier) = api.code_for(client_id, redirect, token, "mcp:tools", &format!("{ISSUER}/mcp")).await;
        let tokens = api.exchange(client_id, &code, &verifier, &[]).await.json();
        refresh.insert(who, tokens["refresh_token"].as_str().unwrap().to_string());
    }
    let get = |token: String| {
        let request = Request::get("/api/v0/oauth-grants").header("authorization", format!("Bearer {token}"));
        let api = &api;
        async move { api.send(request.body(Body::empty()).unwrap()).await }
    };
    let all = get(owner.clone()).await;
    assert_eq!(all.status, 200, "{all:?}");
    let all = all.json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["client_name"] == "Grant App" && g["scopes"] == json!(["mcp:tools"])));
    assert!(!all.to_string().contains(&refresh["member"]), "never a token");
    let own = get(member.clone()).await.json();
    assert_eq!(own.as_array().unwrap().len(), 1, "a member sees only their own: {own}");
    assert_eq!(own[0]["subject"], "user:alice");
    assert_eq!(get(robot.clone()).await.status, 403, "MCP clients see no grants");

    let delete = |token: String, id: String| {
        let request =
            Request::delete(format!("/api/v0/oauth-grants/{id}")).header("authorization", format!("Bearer {token}"));
        let api = &api;
        async move { api.send(request.body(Body::empty()).unwrap()).await.status }
    };
    let owners_grant = all.as_array().unwrap().iter().find(|g| g["subject"] == "user:admin").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members_grant = own[0]["id"].as_str().unwrap().to_string();
    assert_eq!(delete(member.clone(), owners_grant).await, 404, "a member cannot revoke another's grant");
    assert_eq!(delete(owner.clone(), "not-a-grant".into()).await, 404);
    assert_eq!(delete(owner.clone(), members_grant.clone()).await, 204, "an admin revokes anyone's");
    assert_eq!(delete(owner.clone(), members_grant).await, 404, "once");
    api.refresh(client_id, &refresh["member"], &[]).await.oauth_error(400, "invalid_grant");
    assert_eq!(get(owner.clone()).await.json().as_array().unwrap().len(), 1);
    let still = api.refresh(client_id, &refresh["owner"], &[]).await;
    assert_eq!(still.status, 200, "the other grant lives on: {still:?}");

    // A deleted user's grants end with them.
    let (code, verifier) = api.code_for(client_id, redirect, &member, "", &format!("{ISSUER}/mcp")).await;
    api.exchange(client_id, &code, &verifier, &[]).await;
    assert_eq!(get(owner.clone()).await.json().as_array().unwrap().len(), 2);
    let gone = Request::delete("/api/v0/users/alice").header("authorization", format!("Bearer {owner}"));
    assert_eq!(api.send(gone.body(Body::empty()).unwrap()).await.status, 204);
    let left = get(owner.clone()).await.json();
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["subject"], "user:admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_providers_must_be_https_at_public_addresses() {
    let api = Api::new().await;
    let (owner, _, _) = api.identities().await;
    let put = |issuer: &'static str| {
        let body = json!({"issuer": issuer, "client_id": "canopy", "client_secret": "s"});
        let request = Request::put("/api/v0/identity-provider")
            .header("authorization", format!("Bearer {owner}"))
            .header("content-type", "application/json");
        let api = &api;
        async move { api.send(request.body(Body::from(body.to_string())).unwrap()).await }
    };
    // The deployment's own network is never fetched on a tenant admin's say-so.
    for inside in [
        "https://169.254.169.254/latest",
        "https://10.1.2.3",
        "https://192.168.0.1/realms/x",
        "https://[fd00::1]",
        "http://idp.example.com",
        "https://idp.example.com/?x=1",
    ] {
        let answer = put(inside).await;
        assert_eq!(answer.status, 400, "{inside}: {answer:?}");
        assert!(answer.text.contains("public address"), "{inside}: {}", answer.text);
    }
}

/// Registrations pile up (each console sign-in makes one): the maintenance deletes one no
/// sign-in has used for `UNUSED_CLIENT_DAYS` that holds no grant, and keeps one with a grant
/// or a recent sign-in.
#[tokio::test]
async fn unused_client_registrations_are_deleted_and_used_ones_kept() {
    let api = Api::new().await;
    let (owner, _, _) = api.identities().await;
    let redirect = "http://127.0.0.1:9/cb";
    let resource = format!("{ISSUER}/api/v0");
    let register = || api.register(json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none"}));
    let id = |v: Value| v["client_id"].as_str().unwrap().to_string();
    let abandoned = id(register().await);
    let granted = id(register().await);
    let recent = id(register().await);
    let (code, verifier) = api.code_for(&granted, redirect, &owner, "canopy:admin", &resource).await;
    assert_eq!(api.exchange(&granted, &code, &verifier, &[]).await.status, 200);
    let (_code, _) = api.code_for(&recent, redirect, &owner, "canopy:admin", &resource).await;
    // Everything registered long ago; only `recent` signed in since.
    let days = canopy_api::oauth::UNUSED_CLIENT_DAYS + 1;
    sqlx::query(
        "UPDATE oauth_clients SET created_at = now() - make_interval(days => $1::int), \
         last_used_at = CASE WHEN client_id = $2 THEN now() ELSE now() - make_interval(days => $1::int) END",
    )
    .bind(days as i32)
    .bind(&recent)
    .execute(&api.db.pool)
    .await
    .unwrap();
    let registered = |client: String| {
        let pool = api.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM oauth_clients WHERE client_id = $1")
                .bind(client)
                .fetch_one(&pool)
                .await
                .unwrap()
                == 1
        }
    };
    api.server.maintain().await.unwrap();
    assert!(!registered(abandoned.clone()).await, "never used, no grant: deleted");
    assert!(registered(granted.clone()).await, "holds a grant: kept");
    assert!(registered(recent.clone()).await, "signed in recently: kept");
    // Once its grant is gone, the old one goes too; a client coming back registers again.
    sqlx::query("DELETE FROM oauth_refresh_families WHERE client_id = $1")
        .bind(&granted)
        .execute(&api.db.pool)
        .await
        .unwrap();
    api.server.maintain().await.unwrap();
    assert!(!registered(granted).await);
    assert!(registered(recent).await);
}
