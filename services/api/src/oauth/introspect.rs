//! RFC 7662 introspection and RFC 7009 revocation.
//!
//! Introspection needs an authenticated caller, and says `active: true` only about tokens that
//! caller may know of: an MCP client (its name and access token) learns about tokens of its own
//! tenant; a confidential registered client, about tokens issued to itself. Everything else is
//! `{"active": false}`, like an unknown token, so introspection is no oracle across tenants.
//!
//! Revocation takes access tokens (their `jti` is marked revoked until they would expire) and
//! refresh tokens (their whole grant ends), each only by the client it was issued to; the answer
//! is 200 whatever the token was (RFC 7009 section 2.2).

use super::clients::AuthenticatedClient;
use super::error::{no_store_json, OAuthError};
use super::token::parse_form;
use super::OAuthServer;
use crate::ApiState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use canopy_auth::AccessClaims;
use chrono::Utc;

impl OAuthServer {
    /// One of this server's access tokens, verified for whatever resource it names, and not
    /// revoked.
    async fn verified_access_token(&self, token: &str) -> Option<AccessClaims> {
        let audience = canopy_auth::unverified_audience(token)?;
        let claims = self.ring().verify(token, self.issuer(), &audience, Utc::now(), |_| false).ok()?;
        (!self.is_revoked(&claims.jti).await).then_some(claims)
    }
}

fn may_know(caller: &AuthenticatedClient, claims: &AccessClaims) -> bool {
    match caller {
        AuthenticatedClient::McpClient { tenant, .. } => claims.tenant == *tenant,
        AuthenticatedClient::OAuth { client, confidential: true } => claims.client_id == client.id(),
        AuthenticatedClient::OAuth { confidential: false, .. } => false,
    }
}

pub(super) async fn introspect(State(state): State<ApiState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    let answer = async {
        let form = parse_form(&headers, &body)?;
        let caller = server.authenticate_client(&headers, &form).await?;
        if matches!(caller, AuthenticatedClient::OAuth { confidential: false, .. }) {
            return Err(OAuthError::invalid_client("introspection needs a confidential client", false));
        }
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let inactive = serde_json::json!({ "active": false });
        let Some(claims) = server.verified_access_token(token).await else { return Ok(inactive) };
        if !may_know(&caller, &claims) {
            return Ok(inactive);
        }
        Ok(serde_json::json!({
            "active": true,
            "token_type": "Bearer",
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "jti": claims.jti,
            "tenant": claims.tenant.as_str(),
        }))
    }
    .await;
    match answer {
        Ok(answer) => no_store_json(answer),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn revoke(State(state): State<ApiState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    let done = async {
        let form = parse_form(&headers, &body)?;
        let caller = server.authenticate_client(&headers, &form).await?;
        let token = form
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let now = Utc::now();
        if let Some(tenant) = server.refresh.tenant_of(token).await.map_err(super::token::refresh_error)? {
            match server.refresh.revoke_by_token(&tenant, caller.client_id(), token, now).await {
                Ok(Some(_)) => tracing::info!(client_id = caller.client_id(), "refresh grant revoked on request"),
                Ok(None) => {}
                Err(canopy_auth::RefreshError::Database(e)) => return Err(OAuthError::server_error(e)),
                Err(_) => {}
            }
            return Ok(());
        }
        let Some(claims) = server.verified_access_token(token).await else { return Ok(()) };
        // Only the client the token was issued to may revoke it (RFC 7009 section 2.1).
        if claims.client_id != caller.client_id() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO oauth_revoked_access_tokens (jti, tenant_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&claims.jti)
        .bind(claims.tenant.as_str())
        .bind(claims.expires_at())
        .bind(now)
        .execute(&server.pool)
        .await?;
        server.mark_revoked_in_redis(&claims.jti, claims.expires_at()).await.map_err(OAuthError::server_error)?;
        tracing::info!(client_id = caller.client_id(), "access token revoked on request");
        Ok(())
    }
    .await;
    match done {
        Ok(()) => no_store_json(serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}
