//! OAuth clients: RFC 7591 dynamic registration, client ID metadata documents, and client
//! authentication at the token, introspection and revocation endpoints.

use super::error::{no_store_json, OAuthError};
use super::OAuthServer;
use crate::ApiState;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use canopy_auth::{OpaqueSecret, SecretHash, SecretKind};
use canopy_readmodels::TokenHolder;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A client as the authorization server knows it (registered or from a metadata document).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

impl ClientMetadata {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub fn name(&self) -> &str {
        self.client_name.as_deref().unwrap_or("an application")
    }

    /// Exact match (RFC 9700 section 4.1.3), except that a loopback http redirect URI may use
    /// any port (RFC 8252 section 7.3: native apps get an ephemeral port).
    pub fn redirect_uri_allowed(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == presented
                || match (url::Url::parse(registered), url::Url::parse(presented)) {
                    (Ok(r), Ok(p)) => {
                        r.scheme() == "http"
                            && p.scheme() == "http"
                            && is_loopback(&r)
                            && r.host() == p.host()
                            && r.path() == p.path()
                            && r.query() == p.query()
                    }
                    _ => false,
                }
        })
    }
}

/// Whether the server may fetch `url` on someone else's say-so (a client's metadata document, a
/// tenant's identity provider): https at a public address. An address inside the deployment
/// (loopback, private, link-local: cloud metadata) never, except loopback http when configured
/// for tests (`oauth.allow_loopback_http`). Names that resolve to such addresses are not caught.
pub(crate) fn fetchable(url: &url::Url, allow_loopback_http: bool) -> bool {
    let public = match url.host() {
        Some(url::Host::Domain(d)) => !d.eq_ignore_ascii_case("localhost") && !d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => {
            !(ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast())
        }
        Some(url::Host::Ipv6(ip)) => {
            let first = ip.segments()[0];
            !(ip.is_loopback() || ip.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
        None => false,
    };
    (url.scheme() == "https" && public) || (allow_loopback_http && url.scheme() == "http" && is_loopback(url))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A redirect URI a client may register: https, http on a loopback host, or a private-use
/// scheme of a native app (`com.example.app:/callback`, RFC 8252 section 7.1). Never with a
/// fragment.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|_| format!("redirect URI '{uri}' is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI '{uri}' must not have a fragment"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!("redirect URI '{uri}': http is allowed only on loopback hosts; use https")),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            Err(format!("redirect URI '{uri}' has a scheme that cannot be a redirect target"))
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!("redirect URI '{uri}': use https, loopback http, or a reverse-DNS private-use scheme")),
    }
}

/// Validates registration metadata and fills in RFC 7591's defaults.
fn normalize(mut m: ClientMetadata, public_only: bool) -> Result<ClientMetadata, OAuthError> {
    let invalid = |d: String| OAuthError::new("invalid_client_metadata", d);
    if m.grant_types.is_empty() {
        m.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    }
    if m.response_types.is_empty() {
        m.response_types = vec!["code".into()];
    }
    for grant in &m.grant_types {
        if !matches!(grant.as_str(), "authorization_code" | "refresh_token") {
            return Err(invalid(format!(
                "grant type '{grant}' cannot be registered: registered clients use authorization_code and \
                 refresh_token (client_credentials is for MCP client identities, created by an admin)"
            )));
        }
    }
    if m.response_types.iter().any(|r| r != "code") {
        return Err(invalid("only the response type 'code' is supported".into()));
    }
    let method = m.token_endpoint_auth_method.clone().unwrap_or_else(|| {
        if public_only {
            "none".into()
        } else {
            "client_secret_basic".into()
        }
    });
    let allowed: &[&str] = if public_only { &["none"] } else { &["none", "client_secret_basic", "client_secret_post"] };
    if !allowed.contains(&method.as_str()) {
        return Err(invalid(format!(
            "token_endpoint_auth_method '{method}' is not supported (use one of {allowed:?})"
        )));
    }
    m.token_endpoint_auth_method = Some(method);
    if m.allows_grant("authorization_code") && m.redirect_uris.is_empty() {
        return Err(OAuthError::new("invalid_redirect_uri", "redirect_uris is required for authorization_code"));
    }
    if m.redirect_uris.len() > 20 {
        return Err(OAuthError::new("invalid_redirect_uri", "at most 20 redirect URIs"));
    }
    for uri in &m.redirect_uris {
        check_redirect_uri(uri).map_err(|d| OAuthError::new("invalid_redirect_uri", d))?;
    }
    if let Some(name) = &m.client_name {
        if name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(invalid("client_name must be at most 200 printable characters".into()));
        }
    }
    for (field, value) in [("client_uri", &m.client_uri), ("logo_uri", &m.logo_uri)] {
        if let Some(v) = value {
            if !v.starts_with("https://") && !v.starts_with("http://") {
                return Err(invalid(format!("{field} must be an http(s) URL")));
            }
        }
    }
    Ok(m)
}

/// `POST /oauth/register` (RFC 7591): open registration, as MCP clients expect. A public
/// client (`token_endpoint_auth_method: none`) gets no secret; a confidential one gets a secret
/// shown once and stored as a keyed hash.
pub(super) async fn register(State(state): State<ApiState>, body: axum::body::Bytes) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    match register_client(server, &body).await {
        Ok(answer) => {
            let mut response = no_store_json(answer);
            *response.status_mut() = StatusCode::CREATED;
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn register_client(server: &OAuthServer, body: &[u8]) -> Result<serde_json::Value, OAuthError> {
    if body.len() > 16 * 1024 {
        return Err(OAuthError::new("invalid_client_metadata", "the registration request is too large"));
    }
    let invalid = |message: String| OAuthError::new("invalid_client_metadata", message);
    if let Some(message) = serde_json::from_slice(body).ok().and_then(|v| crate::input::nul_in_json(&v, "")) {
        return Err(invalid(message));
    }
    let metadata: ClientMetadata =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not valid client metadata: {e}")))?;
    let metadata = normalize(metadata, false)?;
    let client_id = format!("cnp_client_{}", uuid::Uuid::new_v4().simple());
    let method = metadata.token_endpoint_auth_method.clone().unwrap_or_default();
    let secret = (method != "none").then(|| OpaqueSecret::generate(SecretKind::ClientSecret));
    let hash = secret.as_ref().map(|s| server.hasher.hash(SecretKind::ClientSecret, s.expose()));
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO oauth_clients (client_id, secret_hash, token_endpoint_auth_method, metadata, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&client_id)
    .bind(hash.as_ref().map(|h| h.as_bytes().to_vec()))
    .bind(&method)
    .bind(sqlx::types::Json(&metadata))
    .bind(now)
    .execute(&server.pool)
    .await?;
    tracing::info!(client_id, client_name = metadata.name(), method, "oauth client registered");
    let mut answer = serde_json::to_value(&metadata).expect("metadata serializes");
    answer["client_id"] = client_id.into();
    answer["client_id_issued_at"] = now.timestamp().into();
    if let Some(secret) = secret {
        answer["client_secret"] = secret.expose().into();
        answer["client_secret_expires_at"] = 0.into();
    }
    Ok(answer)
}

/// A client found by its id.
#[derive(Debug, Clone)]
pub(super) enum KnownClient {
    /// Registered with this server.
    Registered { client_id: String, secret_hash: Option<SecretHash>, metadata: ClientMetadata },
    /// Identified by a client ID metadata document (its URL is its id); always public.
    Document { client_id: String, metadata: ClientMetadata },
}

impl KnownClient {
    pub fn id(&self) -> &str {
        match self {
            KnownClient::Registered { client_id, .. } | KnownClient::Document { client_id, .. } => client_id,
        }
    }

    pub fn metadata(&self) -> &ClientMetadata {
        match self {
            KnownClient::Registered { metadata, .. } | KnownClient::Document { metadata, .. } => metadata,
        }
    }
}

/// Who authenticated at the token, introspection or revocation endpoint.
#[derive(Debug, Clone)]
pub(super) enum AuthenticatedClient {
    /// A registered or metadata-document client (public ones prove nothing but their id).
    OAuth { client: Box<KnownClient>, confidential: bool },
    /// An MCP client identity: `client_id` its name, `client_secret` its access token.
    McpClient { tenant: canopy_domain::TenantId, name: String },
}

impl AuthenticatedClient {
    pub fn client_id(&self) -> &str {
        match self {
            AuthenticatedClient::OAuth { client, .. } => client.id(),
            AuthenticatedClient::McpClient { name, .. } => name,
        }
    }
}

/// Client ID metadata documents, fetched and kept for a few minutes.
pub struct ClientCache {
    http: reqwest::Client,
    allow_loopback_http: bool,
    documents: Mutex<HashMap<String, (Instant, ClientMetadata)>>,
}

const DOCUMENT_TTL: Duration = Duration::from_secs(300);
const DOCUMENT_MAX_BYTES: usize = 64 * 1024;

impl ClientCache {
    pub fn new(allow_loopback_http: bool) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { http, allow_loopback_http, documents: Mutex::new(HashMap::new()) }
    }

    /// Is `client_id` a URL this server would fetch a metadata document from?
    pub(super) fn is_document_url(&self, client_id: &str) -> bool {
        let Ok(url) = url::Url::parse(client_id) else { return false };
        let path_ok =
            url.path() != "/" && url.fragment().is_none() && url.username().is_empty() && url.password().is_none();
        path_ok && fetchable(&url, self.allow_loopback_http)
    }

    async fn document(&self, client_id: &str) -> Result<ClientMetadata, OAuthError> {
        if let Some((at, doc)) = self.documents.lock().expect("documents lock").get(client_id) {
            if at.elapsed() < DOCUMENT_TTL {
                return Ok(doc.clone());
            }
        }
        let bad = |d: String| OAuthError::new("invalid_client", d);
        let response = self
            .http
            .get(client_id)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| bad(format!("the client ID metadata document could not be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(bad(format!("the client ID metadata document answered HTTP {}", response.status().as_u16())));
        }
        if response.content_length().is_some_and(|n| n as usize > DOCUMENT_MAX_BYTES) {
            return Err(bad("the client ID metadata document is too large".into()));
        }
        let body = response.bytes().await.map_err(|e| bad(format!("the client ID metadata document: {e}")))?;
        if body.len() > DOCUMENT_MAX_BYTES {
            return Err(bad("the client ID metadata document is too large".into()));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| bad("the client ID metadata document is not JSON".into()))?;
        if doc.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
            return Err(bad("the client ID metadata document's client_id is not its own URL".into()));
        }
        let metadata: ClientMetadata = serde_json::from_value(doc)
            .map_err(|e| bad(format!("the client ID metadata document is not valid client metadata: {e}")))?;
        let metadata = normalize(metadata, true).map_err(|e| bad(e.description))?;
        self.documents
            .lock()
            .expect("documents lock")
            .insert(client_id.to_string(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

impl OAuthServer {
    /// The client `client_id` names: registered, or a metadata document's URL.
    pub(super) async fn find_client(&self, client_id: &str) -> Result<Option<KnownClient>, OAuthError> {
        if self.settings.client_metadata_documents && self.clients.is_document_url(client_id) {
            let metadata = self.clients.document(client_id).await?;
            return Ok(Some(KnownClient::Document { client_id: client_id.to_string(), metadata }));
        }
        let row: Option<(Option<Vec<u8>>, sqlx::types::Json<ClientMetadata>)> =
            sqlx::query_as("SELECT secret_hash, metadata FROM oauth_clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(hash, metadata)| KnownClient::Registered {
            client_id: client_id.to_string(),
            secret_hash: hash.as_deref().and_then(SecretHash::from_bytes),
            metadata: metadata.0,
        }))
    }

    /// Client authentication (RFC 6749 section 2.3): HTTP Basic, or `client_id` and
    /// `client_secret` in the form, or, for a public client, `client_id` alone.
    pub(super) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let (client_id, secret, basic) = client_credentials(headers, form)?;
        let Some(client_id) = client_id else {
            return Err(OAuthError::invalid_client("client authentication is required (client_id)", false));
        };
        let refused = || OAuthError::invalid_client("client authentication failed", basic);
        if let Some(client) = self.find_client(&client_id).await? {
            let confidential = match (&client, &secret) {
                (KnownClient::Registered { secret_hash: Some(hash), .. }, Some(secret)) => {
                    if !self.hasher.verify(SecretKind::ClientSecret, secret, hash) {
                        return Err(refused());
                    }
                    true
                }
                // A confidential client must prove it is itself.
                (KnownClient::Registered { secret_hash: Some(_), .. }, None) => return Err(refused()),
                // A public client has no secret to present; one presenting a secret is confused.
                (_, Some(_)) => return Err(refused()),
                (_, None) => false,
            };
            return Ok(AuthenticatedClient::OAuth { client: Box::new(client), confidential });
        }
        // An MCP client identity: its name and its access token.
        let Some(secret) = secret else { return Err(refused()) };
        let digest = self.token_digest(&secret);
        match canopy_readmodels::token_holder(&self.pool, digest.as_str()).await? {
            Some(TokenHolder::Client { tenant_id, name, .. }) if name == client_id => {
                let tenant = canopy_domain::TenantId::parse(tenant_id).map_err(|_| refused())?;
                Ok(AuthenticatedClient::McpClient { tenant, name })
            }
            _ => Err(refused()),
        }
    }

    pub(super) fn token_digest(&self, token: &str) -> canopy_domain::identity::TokenDigest {
        self.sealer.token_digest(token)
    }
}

/// (client_id, client_secret, whether HTTP Basic was used). Both places at once is an error.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(Option<String>, Option<String>, bool), OAuthError> {
    let form_id = form.get("client_id").filter(|s| !s.is_empty()).cloned();
    let form_secret = form.get("client_secret").filter(|s| !s.is_empty()).cloned();
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok((form_id, form_secret, false));
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_client("malformed Authorization header", true));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok((form_id, form_secret, false));
    }
    if form_secret.is_some() {
        return Err(OAuthError::invalid_request("use one client authentication method, not two"));
    }
    let malformed = || OAuthError::invalid_client("malformed HTTP Basic credentials", true);
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 section 2.3.1: both are form-urlencoded before being joined.
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let (id, secret) = (decode(id).ok_or_else(malformed)?, decode(secret).ok_or_else(malformed)?);
    if id.contains('\0') || secret.contains('\0') {
        return Err(malformed());
    }
    if form_id.as_deref().is_some_and(|f| f != id) {
        return Err(OAuthError::invalid_request("client_id in the form and in HTTP Basic differ"));
    }
    Ok((Some(id), Some(secret).filter(|s| !s.is_empty()), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in ["https://app.example/cb", "http://127.0.0.1:3000/cb", "http://localhost/cb", "com.example.app:/cb"] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://app.example/cb", "https://app.example/cb#x", "javascript:alert(1)", "cb", "data:text/html,x"]
        {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let m = ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1:3000/cb".into(), "https://app.example/cb".into()],
            client_name: None,
            grant_types: vec![],
            response_types: vec![],
            token_endpoint_auth_method: None,
            client_uri: None,
            logo_uri: None,
            scope: None,
            software_id: None,
            software_version: None,
        };
        assert!(m.redirect_uri_allowed("http://127.0.0.1:51234/cb"), "loopback: any port");
        assert!(!m.redirect_uri_allowed("http://127.0.0.1:51234/other"));
        assert!(!m.redirect_uri_allowed("https://app.example/cb/"));
        assert!(!m.redirect_uri_allowed("https://app.example:8443/cb"), "not loopback: exact");
        assert!(m.redirect_uri_allowed("https://app.example/cb"));
    }

    #[test]
    fn metadata_documents_only_from_public_https_urls() {
        let strict = ClientCache::new(false);
        assert!(strict.is_document_url("https://app.example/oauth/client.json"));
        for refused in [
            "http://app.example/client.json",
            "https://app.example/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/c.json",
            "https://192.168.1.1/c.json",
            "https://127.0.0.1/c.json",
            "https://localhost/c.json",
            "https://[::1]/c.json",
            "https://[fd00::1]/c.json",
            "https://user:pw@app.example/c.json",
            "https://app.example/c.json#x",
            "cnp_client_abc",
        ] {
            assert!(!strict.is_document_url(refused), "{refused}");
        }
        let tests = ClientCache::new(true);
        assert!(tests.is_document_url("http://127.0.0.1:8080/c.json"));
        assert!(!tests.is_document_url("http://10.0.0.5/c.json"));
    }
}
