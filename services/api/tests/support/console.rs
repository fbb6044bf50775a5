//! The api router in-process as the console and its sign-in see it (`/api/v0/me`, OAuth's
//! authorization code flow with PKCE for the REST API): what `me.rs` and `oauth_operator.rs`
//! share. Each test binary that has `mod support;` compiles it; those that do not use it leave
//! it unused.
#![allow(dead_code)]

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

pub const ISSUER: &str = "http://canopy.test";
pub const REDIRECT: &str = "http://127.0.0.1:8080/console/";

pub struct Api {
    router: axum::Router,
    pub db: canopy_testkit::TestDb,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Api {
    /// The api router in `mode` on a fresh database; `label` names its NATS prefix and connection.
    pub async fn new(mode: Mode, label: &str) -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique(label);
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, label)
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
        let jobs = super::jobs(&executor, &bus);
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

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn me(&self, token: Option<&str>) -> Answer {
        let mut request = Request::get("/api/v0/me");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `me` for a token, which must be accepted.
    pub async fn me_ok(&self, token: &str) -> Value {
        let answer = self.me(Some(token)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()
    }

    pub async fn json(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = Request::post(path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap()).await
    }

    pub async fn form(&self, path: &str, cookie: Option<&str>, params: &[(&str, &str)]) -> Answer {
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
    pub async fn register(&self) -> String {
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
    pub async fn sign_in(&self, client_id: &str, token: &str, scope: &str, resource: &str) -> (Answer, String) {
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
    pub fn code_of(back: &Answer) -> String {
        assert_eq!(back.status, 303, "{back:?}");
        let location = url::Url::parse(back.headers["location"].to_str().unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s1");
        params["code"].clone()
    }

    pub async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> Answer {
        let params = [
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ];
        self.form("/oauth/token", None, &params).await
    }

    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> Answer {
        let params = [("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token)];
        self.form("/oauth/token", None, &params).await
    }

    /// The console's whole sign-in for the REST API: the token response.
    pub async fn console_sign_in(&self, token: &str, scope: &str) -> (String, Value) {
        let client_id = self.register().await;
        let (back, verifier) = self.sign_in(&client_id, token, scope, &api_resource()).await;
        let tokens = self.exchange(&client_id, &Self::code_of(&back), &verifier).await;
        assert_eq!(tokens.status, 200, "{tokens:?}");
        (client_id, tokens.json())
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut request =
            Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.send(request.body(body).unwrap()).await
    }
}

pub fn api_resource() -> String {
    format!("{ISSUER}/api/v0")
}
