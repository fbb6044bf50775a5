//! OAuth error answers (RFC 6749 section 5.2, RFC 7591 section 3.2.2): JSON `{error,
//! error_description}`, never cached. The token, registration and revocation endpoints are
//! called from browsers too (web MCP clients), so they answer CORS with `*`: they take no
//! cookies, only what the request itself carries.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, PRAGMA,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// `WWW-Authenticate` for a client that authenticated with HTTP Basic and failed.
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, description: description.into(), basic_challenge: false }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, basic_challenge: basic, ..Self::new("invalid_client", description) }
    }

    pub fn server_error(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "oauth server error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new("server_error", "the authorization server could not complete the request")
        }
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        OAuthError::server_error(e)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, no_store_json(body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"canopy\""));
        }
        response
    }
}

/// A JSON answer that must not be cached (tokens, errors), with CORS for browser clients.
pub fn no_store_json(body: serde_json::Value) -> Response {
    let headers = [
        (CACHE_CONTROL, "no-store"),
        (PRAGMA, "no-cache"),
        (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (axum::http::header::CONTENT_TYPE, "application/json"),
    ];
    (headers, body.to_string()).into_response()
}

/// CORS preflight of the endpoints browsers call.
pub async fn preflight() -> Response {
    let headers = [
        (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
        (ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type, mcp-protocol-version"),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}
