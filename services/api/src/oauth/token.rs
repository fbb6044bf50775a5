//! `POST /oauth/token`: `authorization_code` (PKCE S256, single use: a second exchange revokes
//! what the first one issued), `refresh_token` (rotated on every use; a used one presented
//! again revokes the grant) and `client_credentials` (MCP client identities). A code or refresh
//! token works only while its user (`user:NAME` in its tenant) or operator (`operator:NAME` in
//! the platform's reserved tenant) exists, and an operator's only while the token it signed in
//! with has not been rotated since; a refresh for a removed one (or a rotated operator) ends the
//! grant.

use super::authorize::{check_resource, parse_requested_scopes};
use super::clients::{AuthenticatedClient, KnownClient};
use super::error::{no_store_json, OAuthError};
use super::{chrono_duration, OAuthServer, MCP_SCOPES};
use crate::ApiState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use canopy_auth::{AccessTokenSpec, NewGrant, PkceChallenge, RefreshError, SecretKind};
use canopy_domain::TenantId;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Parses an `application/x-www-form-urlencoded` body; a parameter given twice is an error
/// (RFC 6749 section 3.2).
pub(super) fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    if let Some(message) = crate::input::nul_in_form("form body", body) {
        return Err(OAuthError::invalid_request(message));
    }
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!("parameter '{k}' is given more than once")));
        }
    }
    Ok(form)
}

pub(super) async fn token(State(state): State<ApiState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    match exchange(server, &headers, &body).await {
        Ok(answer) => no_store_json(answer),
        Err(e) => e.into_response(),
    }
}

async fn exchange(server: &OAuthServer, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, OAuthError> {
    let form = parse_form(headers, body)?;
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or("");
    if !matches!(grant_type, "authorization_code" | "refresh_token" | "client_credentials") {
        let e = if grant_type.is_empty() {
            OAuthError::invalid_request("grant_type is required")
        } else {
            OAuthError::new("unsupported_grant_type", format!("grant type '{grant_type}' is not supported"))
        };
        return Err(e);
    }
    let client = server.authenticate_client(headers, &form).await?;
    let now = Utc::now();
    match grant_type {
        "authorization_code" => authorization_code(server, &client, &form, now).await,
        "refresh_token" => refresh(server, &client, &form, now).await,
        _ => client_credentials(server, &client, &form, now),
    }
}

fn oauth_client(client: &AuthenticatedClient, grant: &str) -> Result<KnownClient, OAuthError> {
    match client {
        AuthenticatedClient::OAuth { client, .. } if client.metadata().allows_grant(grant) => Ok((**client).clone()),
        _ => Err(OAuthError::new("unauthorized_client", format!("this client may not use the {grant} grant"))),
    }
}

impl OAuthServer {
    /// Signs an access token and builds the token response.
    #[allow(clippy::too_many_arguments)] // the token's fields, each named at the call
    fn token_response(
        &self,
        tenant: &TenantId,
        subject: &str,
        client_id: &str,
        scopes: &[String],
        resource: &str,
        refresh: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, OAuthError> {
        let lifetime = chrono_duration(self.settings.access_token_ttl);
        let spec =
            AccessTokenSpec { issuer: self.issuer(), subject, audience: resource, client_id, scopes, tenant, lifetime };
        let issued = self.ring().issue_access_token(&spec, now).map_err(OAuthError::server_error)?;
        let mut answer = serde_json::json!({
            "access_token": issued.token.expose(),
            "token_type": "Bearer",
            "expires_in": lifetime.num_seconds(),
            "scope": scopes.join(" "),
        });
        if let Some(refresh) = refresh {
            answer["refresh_token"] = refresh.into();
        }
        metrics::counter!("canopy_oauth_tokens_issued_total").increment(1);
        Ok(answer)
    }
}

async fn authorization_code(
    server: &OAuthServer,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, OAuthError> {
    let client = oauth_client(client, "authorization_code")?;
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let code = get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier =
        get("code_verifier").ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let hash = server.hasher.hash(SecretKind::AuthorizationCode, code).as_bytes().to_vec();
    // Marking it used is the exchange: two concurrent exchanges cannot both pass.
    type CodeRow = (String, String, String, String, String, Vec<String>, Option<String>, DateTime<Utc>, DateTime<Utc>);
    let row: Option<CodeRow> = sqlx::query_as(
        "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL
         RETURNING client_id, redirect_uri, code_challenge, tenant_id, subject, scopes, resource, expires_at, created_at",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&server.pool)
    .await?;
    let Some((code_client, redirect_uri, challenge, tenant, subject, scopes, resource, expires_at, issued_at)) = row
    else {
        // Used before: whatever that exchange issued is revoked (RFC 6749 section 4.1.2).
        let reused: Option<(String, Option<uuid::Uuid>)> =
            sqlx::query_as("SELECT tenant_id, family_id FROM oauth_codes WHERE code_hash = $1")
                .bind(&hash)
                .fetch_optional(&server.pool)
                .await?;
        if let Some((tenant, Some(family))) = reused {
            if let Ok(tenant) = TenantId::parse(tenant) {
                let _ = server.refresh.revoke_family(&tenant, canopy_auth::FamilyId(family), now).await;
                tracing::warn!(client_id = client.id(), "an authorization code was used twice; its grant is revoked");
            }
        }
        return Err(OAuthError::invalid_grant(
            "the authorization code is not valid (unknown, expired or already used)",
        ));
    };
    if code_client != client.id() {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if get("redirect_uri").is_some_and(|r| r != redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's"));
    }
    let challenge = PkceChallenge::from_request(&challenge, Some("S256")).map_err(OAuthError::server_error)?;
    challenge.verify(verifier).map_err(|e| OAuthError::new(e.oauth_error(), e.to_string()))?;
    let resource = resource.unwrap_or_else(|| format!("{}/mcp", server.issuer()));
    if get("resource").is_some_and(|r| r != resource) {
        return Err(OAuthError::new("invalid_target", "resource differs from the one the user authorized"));
    }
    let tenant = TenantId::parse(tenant).map_err(OAuthError::server_error)?;
    // Removed between sign-in and exchange: no grant.
    if !holder_exists(server, &tenant, &subject, issued_at).await? {
        return Err(OAuthError::invalid_grant("the user of this authorization code no longer exists"));
    }
    let refresh = if client.metadata().allows_grant("refresh_token") {
        let grant = NewGrant {
            tenant: tenant.clone(),
            client_id: client.id().to_string(),
            subject: subject.clone(),
            scopes: scopes.clone(),
            resource: Some(resource.clone()),
            expires_at: now + chrono_duration(server.settings.grant_ttl),
        };
        let issued = server.refresh.issue_refresh(&grant, now).await.map_err(refresh_error)?;
        sqlx::query("UPDATE oauth_codes SET family_id = $2 WHERE code_hash = $1")
            .bind(&hash)
            .bind(issued.family_id.0)
            .execute(&server.pool)
            .await?;
        Some(issued.token)
    } else {
        None
    };
    server.token_response(&tenant, &subject, client.id(), &scopes, &resource, refresh.as_ref().map(|t| t.expose()), now)
}

/// Whether the identity a grant is for exists now: `user:NAME` in `tenant`'s users, or
/// `operator:NAME` among the platform operators when `tenant` is the platform's reserved one,
/// with the token it signed in with (not rotated since `since`, when the grant was made: the
/// most powerful credential's grants end when it is replaced). Any other subject, or an
/// operator subject in a tenant, holds nothing.
async fn holder_exists(
    server: &OAuthServer,
    tenant: &TenantId,
    subject: &str,
    since: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    if let Some(name) = subject.strip_prefix("operator:") {
        return Ok(tenant.as_str() == TenantId::PLATFORM
            && canopy_readmodels::operator_unchanged_since(&server.pool, name, since).await?);
    }
    let Some(name) = subject.strip_prefix("user:") else { return Ok(false) };
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM rm_users WHERE tenant_id = $1 AND name = $2")
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(&server.pool)
        .await?;
    Ok(exists.is_some())
}

pub(super) fn refresh_error(e: RefreshError) -> OAuthError {
    match e {
        RefreshError::Database(e) => OAuthError::server_error(e),
        e => OAuthError::new(e.oauth_error(), e.to_string()),
    }
}

async fn refresh(
    server: &OAuthServer,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, OAuthError> {
    let client = oauth_client(client, "refresh_token")?;
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let presented = get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let Some(tenant) = server.refresh.tenant_of(presented).await.map_err(refresh_error)? else {
        return Err(OAuthError::invalid_grant("the refresh token is not valid"));
    };
    let rotated = server.refresh.rotate_refresh(&tenant, client.id(), presented, now).await.map_err(refresh_error)?;
    let grant = rotated.grant;
    // The user (or operator) must still exist: a removed one's grants end with them.
    let made: DateTime<Utc> = sqlx::query_scalar("SELECT created_at FROM oauth_refresh_families WHERE family_id = $1")
        .bind(grant.family_id.0)
        .fetch_one(&server.pool)
        .await?;
    if !holder_exists(server, &tenant, &grant.subject, made).await? {
        let _ = server.refresh.revoke_family(&tenant, grant.family_id, now).await;
        return Err(OAuthError::invalid_grant("the user of this grant no longer exists"));
    }
    let scopes = match get("scope") {
        None => grant.scopes.clone(),
        Some(asked) => {
            let asked = parse_requested_scopes(Some(asked)).map_err(|e| OAuthError::new("invalid_scope", e))?;
            if let Some(extra) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::new("invalid_scope", format!("scope '{extra}' was not granted")));
            }
            asked
        }
    };
    let resource = grant.resource.clone().unwrap_or_else(|| format!("{}/mcp", server.issuer()));
    if get("resource").is_some_and(|r| r != resource) {
        return Err(OAuthError::new("invalid_target", "resource differs from the one the user authorized"));
    }
    server.token_response(&tenant, &grant.subject, client.id(), &scopes, &resource, Some(rotated.token.expose()), now)
}

fn client_credentials(
    server: &OAuthServer,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, OAuthError> {
    let AuthenticatedClient::McpClient { tenant, name } = client else {
        return Err(OAuthError::new(
            "unauthorized_client",
            "client_credentials is for MCP client identities (client_id: the MCP client's name, client_secret: its access token)",
        ));
    };
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let asked = parse_requested_scopes(get("scope")).map_err(|e| OAuthError::new("invalid_scope", e))?;
    // MCP clients use tools, prompts and resources; they never administer.
    let scopes: Vec<String> = if asked.is_empty() {
        MCP_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        asked.into_iter().filter(|s| MCP_SCOPES.contains(&s.as_str())).collect()
    };
    if scopes.is_empty() {
        return Err(OAuthError::new("invalid_scope", format!("an MCP client may have only {}", MCP_SCOPES.join(", "))));
    }
    let resource =
        check_resource(server.issuer(), get("resource")).map_err(|e| OAuthError::new("invalid_target", e))?;
    server.token_response(tenant, &format!("client:{name}"), name, &scopes, &resource, None, now)
}
