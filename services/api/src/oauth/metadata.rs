//! RFC 8414 authorization server metadata and the JWKS.

use super::{OAuthServer, ALL_SCOPES};
use crate::ApiState;
use axum::extract::State;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

pub(super) fn document(server: &OAuthServer) -> serde_json::Value {
    let issuer = server.issuer();
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "scopes_supported": ALL_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": server.settings.client_metadata_documents,
    })
}

/// Public discovery documents: readable from any origin, cacheable briefly.
fn public_json(body: String, max_age: u32) -> Response {
    let cache = format!("public, max-age={max_age}");
    (
        [
            (CONTENT_TYPE, "application/json".to_string()),
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*".into()),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn metadata(State(state): State<ApiState>) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    public_json(document(server).to_string(), 300)
}

pub(super) async fn jwks(State(state): State<ApiState>) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    let jwks = serde_json::to_string(&server.ring().jwks()).expect("a JWKS serializes");
    // Short: after a rotation, verifiers that cache this must see the new key soon.
    public_json(jwks, 60)
}
