//! Single sign-on through a tenant's own OpenID Connect provider (authorization code flow with
//! PKCE, OIDC Core 1.0 section 3.1). The sign-in page's second form names an organisation;
//! Canopy sends the user to that tenant's provider (configured with `PUT
//! /api/v0/identity-provider`: issuer, client id, secret, and the claim that holds the Canopy
//! user name), and back at `/oauth/oidc/callback` exchanges the provider's code, verifies the ID
//! token (signature by the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`), finds the
//! Canopy user the claim names in that tenant, and continues as a password-less sign-in: a code
//! for the MCP client.
//!
//! Nothing is stored meanwhile: the state parameter is sealed (XChaCha20-Poly1305 under the
//! deployment key: it carries the PKCE verifier and the nonce, which the browser must not read)
//! and expires with the authorization request. The provider's discovery document and keys are
//! cached for five minutes; an ID token naming an unknown key refetches them once.

use super::authorize::{error_page, issue_code, redirect_error, same_browser, sign_in_page, Pending};
use super::OAuthServer;
use crate::ApiState;
use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use canopy_auth::{SignatureAlgorithm, VerifyingKeys};
use canopy_domain::TenantId;
use canopy_secrets::{SealContext, Sealer};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tenant's identity provider, secret opened.
#[derive(Clone)]
pub struct IdentityProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub username_claim: String,
}

const SEAL_SERVER: &str = "identity-provider";

pub(crate) fn seal_context(tenant: &TenantId) -> SealContext<'_> {
    SealContext { tenant: tenant.as_str(), server: SEAL_SERVER, field: "client_secret" }
}

/// The tenant's provider, if it has one.
pub(crate) async fn load_provider(
    pool: &sqlx::PgPool,
    sealer: &canopy_secrets::Sealer,
    tenant: &TenantId,
) -> Result<Option<IdentityProvider>, String> {
    let row: Option<(String, String, serde_json::Value, String)> = sqlx::query_as(
        "SELECT issuer, client_id, client_secret, username_claim FROM tenant_identity_providers WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await
    .map_err(|e| e.to_string())?;
    let Some((issuer, client_id, sealed, username_claim)) = row else { return Ok(None) };
    let sealed: canopy_domain::server::Sealed = serde_json::from_value(sealed).map_err(|e| e.to_string())?;
    let client_secret = sealer.open(seal_context(tenant), &sealed).map_err(|e| e.to_string())?;
    Ok(Some(IdentityProvider { issuer, client_id, client_secret, username_claim }))
}

/// What the browser carries to the provider and back, sealed.
#[derive(Serialize, Deserialize)]
struct LoginState {
    pending: Pending,
    tenant: String,
    nonce: String,
    verifier: String,
}

#[derive(Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// Providers' discovery documents and keys.
pub struct Providers {
    cache: Mutex<HashMap<String, (Instant, Discovery, VerifyingKeys)>>,
    /// `oauth.allow_loopback_http`: tests' providers on http://127.0.0.1.
    allow_loopback_http: bool,
}

const PROVIDER_TTL: Duration = Duration::from_secs(300);
const ACCEPTED: [SignatureAlgorithm; 6] = [
    SignatureAlgorithm::Rs256,
    SignatureAlgorithm::Es256,
    SignatureAlgorithm::Ps256,
    SignatureAlgorithm::Es384,
    SignatureAlgorithm::Rs384,
    SignatureAlgorithm::EdDsa,
];

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client")
    })
}

impl Providers {
    pub fn new(allow_loopback_http: bool) -> Self {
        Self { cache: Mutex::default(), allow_loopback_http }
    }

    async fn get(&self, issuer: &str, refresh: bool) -> Result<(Discovery, VerifyingKeys), String> {
        let allow_loopback_http = self.allow_loopback_http;
        if !refresh {
            if let Some((at, d, k)) = self.cache.lock().expect("providers lock").get(issuer) {
                if at.elapsed() < PROVIDER_TTL {
                    return Ok((d.clone(), k.clone()));
                }
            }
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery: Discovery = fetch_json(&url).await?;
        // The document names where Canopy's server goes next: the same rule as the issuer.
        for endpoint in [&discovery.jwks_uri, &discovery.token_endpoint] {
            let parsed = url::Url::parse(endpoint).map_err(|_| format!("'{endpoint}' is not a URL"))?;
            if !super::clients::fetchable(&parsed, allow_loopback_http) {
                return Err(format!("'{endpoint}' is not an https URL of a public address"));
            }
        }
        if discovery.issuer != issuer {
            return Err(format!(
                "the provider's discovery document names issuer '{}', not '{issuer}'",
                discovery.issuer
            ));
        }
        let jwks: serde_json::Value = fetch_json(&discovery.jwks_uri).await?;
        let keys = VerifyingKeys::from_jwks_json(&jwks.to_string(), &ACCEPTED)
            .map_err(|e| format!("the provider's keys: {e}"))?;
        self.cache
            .lock()
            .expect("providers lock")
            .insert(issuer.to_string(), (Instant::now(), discovery.clone(), keys.clone()));
        Ok((discovery, keys))
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    let response = http().get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered HTTP {}", response.status().as_u16()));
    }
    response.json().await.map_err(|e| format!("{url}: not the expected JSON: {e}"))
}

impl OAuthServer {
    /// Fetches (and caches) a provider's discovery document and keys: is it usable?
    pub(crate) async fn check_provider(&self, issuer: &str) -> Result<(), String> {
        self.providers.get(issuer, true).await.map(|_| ())
    }

    fn seal_state(&self, state: &LoginState) -> String {
        let json = serde_json::to_string(state).expect("state serializes");
        let sealed = self.sealer.seal(state_context(), &json);
        B64URL.encode(serde_json::to_vec(&sealed).expect("sealed serializes"))
    }

    fn open_state(&self, text: &str) -> Option<LoginState> {
        let sealed: canopy_domain::server::Sealed = serde_json::from_slice(&B64URL.decode(text).ok()?).ok()?;
        let json = self.sealer.open(state_context(), &sealed).ok()?;
        let state: LoginState = serde_json::from_str(&json).ok()?;
        (state.pending.exp > Utc::now().timestamp()).then_some(state)
    }
}

fn state_context() -> SealContext<'static> {
    SealContext { tenant: "oauth", server: SEAL_SERVER, field: "login-state" }
}

/// `POST /oauth/authorize/sso`: from the sign-in page to the organisation's provider.
pub(super) async fn start(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    if let Some(message) = crate::input::nul_in_form("form body", &body) {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let pending = match server.pending_of(&headers, &form) {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let client = match server.find_client(&pending.client_id).await {
        Ok(Some(client)) => client,
        _ => return error_page(StatusCode::BAD_REQUEST, "The application is no longer registered with Canopy."),
    };
    let organization = form.get("organization").map(|o| o.trim().to_ascii_lowercase()).unwrap_or_default();
    // One answer for an unknown organisation and one without single sign-on: the page confirms
    // no tenant's existence.
    let none = "That organisation has no single sign-on with Canopy. Check its name, or sign in with your token.";
    let provider = match TenantId::parse(organization.clone()) {
        Ok(tenant) => match load_provider(&server.pool, &server.sealer, &tenant).await {
            Ok(Some(p)) => (tenant, p),
            Ok(None) => return sign_in_page(server, &pending, &client, StatusCode::NOT_FOUND, Some(none)),
            Err(e) => {
                tracing::warn!(tenant = organization, error = e, "identity provider configuration unreadable");
                return error_page(StatusCode::BAD_GATEWAY, "The organisation's single sign-on is misconfigured.");
            }
        },
        Err(_) => return sign_in_page(server, &pending, &client, StatusCode::NOT_FOUND, Some(none)),
    };
    let (tenant, provider) = provider;
    let discovery = match server.providers.get(&provider.issuer, false).await {
        Ok((d, _)) => d,
        Err(e) => {
            tracing::warn!(tenant = tenant.as_str(), error = e, "identity provider unreachable");
            return error_page(StatusCode::BAD_GATEWAY, "The organisation's identity provider cannot be reached.");
        }
    };
    let login = LoginState {
        pending,
        tenant: tenant.to_string(),
        nonce: Sealer::generate_token(),
        verifier: Sealer::generate_token(),
    };
    let challenge = canopy_auth::PkceChallenge::s256(&login.verifier).expect("a well-formed verifier");
    let Ok(mut url) = url::Url::parse(&discovery.authorization_endpoint) else {
        return error_page(StatusCode::BAD_GATEWAY, "The organisation's identity provider is misconfigured.");
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &callback_url(server))
        .append_pair("scope", "openid profile email")
        .append_pair("state", &server.seal_state(&login))
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    (StatusCode::SEE_OTHER, [(LOCATION, url.to_string())]).into_response()
}

pub(crate) fn callback_url(server: &OAuthServer) -> String {
    format!("{}/oauth/oidc/callback", server.issuer())
}

/// `GET /oauth/oidc/callback`: back from the provider.
pub(super) async fn callback(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    if let Some(message) =
        crate::input::nul_in_pairs("query string", query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    let Some(login) = query.get("state").and_then(|s| server.open_state(s)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in is not valid or has expired. Start again from the application.",
        );
    };
    let pending = &login.pending;
    // The browser that started the sign-in comes back with it (its cookie is sent on this
    // top-level navigation from the provider).
    if !same_browser(&headers, pending) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This sign-in did not start in this browser. Start again from the application.",
        );
    }
    let fail_client = |error: &str, description: &str| {
        redirect_error(&pending.redirect_uri, pending.state.as_deref(), server.issuer(), error, description)
    };
    if let Some(error) = query.get("error") {
        tracing::info!(tenant = login.tenant, error, "the identity provider did not sign the user in");
        return fail_client("access_denied", "the organisation's identity provider did not sign the user in");
    }
    let Some(code) = query.get("code") else {
        return error_page(StatusCode::BAD_REQUEST, "The identity provider sent no code.");
    };
    let Ok(tenant) = TenantId::parse(login.tenant.clone()) else {
        return error_page(StatusCode::BAD_REQUEST, "Bad state.");
    };
    match sign_in(server, &tenant, &login, code).await {
        Ok((name, role)) => {
            let scopes = super::authorize::user_scopes(&pending.scopes, &role);
            issue_code(server, pending, tenant.as_str(), &format!("user:{name}"), &scopes).await
        }
        Err(SsoError::NoUser(who)) => error_page(
            StatusCode::FORBIDDEN,
            &format!("You signed in as '{who}', but this organisation has no Canopy user of that name. Ask an admin to create one."),
        ),
        Err(SsoError::Provider(e)) => {
            tracing::warn!(tenant = tenant.as_str(), error = e, "single sign-on failed");
            error_page(StatusCode::BAD_GATEWAY, "Single sign-on with the organisation's identity provider failed.")
        }
    }
}

enum SsoError {
    NoUser(String),
    Provider(String),
}

async fn sign_in(
    server: &OAuthServer,
    tenant: &TenantId,
    login: &LoginState,
    code: &str,
) -> Result<(String, String), SsoError> {
    let provider = load_provider(&server.pool, &server.sealer, tenant)
        .await
        .map_err(SsoError::Provider)?
        .ok_or_else(|| SsoError::Provider("the identity provider was removed meanwhile".into()))?;
    let (discovery, mut keys) = server.providers.get(&provider.issuer, false).await.map_err(SsoError::Provider)?;
    let response = http()
        .post(&discovery.token_endpoint)
        .basic_auth(
            url::form_urlencoded::byte_serialize(provider.client_id.as_bytes()).collect::<String>(),
            Some(url::form_urlencoded::byte_serialize(provider.client_secret.as_bytes()).collect::<String>()),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &callback_url(server)),
            ("code_verifier", &login.verifier),
        ])
        .send()
        .await
        .map_err(|e| SsoError::Provider(format!("token endpoint: {e}")))?;
    let status = response.status();
    let body: serde_json::Value =
        response.json().await.map_err(|e| SsoError::Provider(format!("token endpoint answered no JSON: {e}")))?;
    if !status.is_success() {
        return Err(SsoError::Provider(format!("token endpoint answered HTTP {}: {}", status.as_u16(), body["error"])));
    }
    let id_token = body["id_token"].as_str().ok_or_else(|| SsoError::Provider("no id_token in the answer".into()))?;
    let verify = |keys: &VerifyingKeys| {
        canopy_auth::verify_id_token(keys, id_token, &provider.issuer, &provider.client_id, &login.nonce, Utc::now())
    };
    let claims = match verify(&keys) {
        Err(canopy_auth::TokenError::UnknownKey) => {
            keys = server.providers.get(&provider.issuer, true).await.map_err(SsoError::Provider)?.1;
            verify(&keys)
        }
        other => other,
    }
    .map_err(|e| SsoError::Provider(format!("the ID token: {e}")))?;
    let who = claims
        .string_claim(&provider.username_claim)
        .ok_or_else(|| SsoError::Provider(format!("the ID token has no '{}' claim", provider.username_claim)))?
        .to_string();
    let role: Option<(String,)> = sqlx::query_as("SELECT role FROM rm_users WHERE tenant_id = $1 AND name = $2")
        .bind(tenant.as_str())
        .bind(&who)
        .fetch_optional(&server.pool)
        .await
        .map_err(|e| SsoError::Provider(e.to_string()))?;
    let (role,) = role.ok_or_else(|| SsoError::NoUser(who.clone()))?;
    tracing::info!(tenant = tenant.as_str(), user = who, "signed in through the organisation's identity provider");
    Ok((who, role))
}
