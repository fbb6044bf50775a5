//! The one error envelope of the REST API, and the mapping from every layer's errors into it.
//! Internal details are logged once, here, and never sent to the client.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_api_types::{ErrorCode, ErrorEnvelope};
use canopy_eventstore::ExecuteError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// A `WWW-Authenticate` challenge sent with the answer (401s, and 403s for a missing scope).
    pub challenge: Option<String>,
    /// `Retry-After` seconds sent with the answer (429 over a rate limit, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), challenge: None, retry_after: None }
    }
    /// A call over a rate limit (429 `RATE_LIMITED`), or refused because the limits cannot be
    /// checked (503 `UNAVAILABLE`), with `Retry-After`.
    pub fn limited(limited: &canopy_limits::Limited) -> Self {
        let code = match limited.limit {
            canopy_limits::LimitKind::Unavailable => ErrorCode::Unavailable,
            _ => ErrorCode::RateLimited,
        };
        Self { retry_after: Some(limited.retry_after_secs()), ..Self::new(code, limited.message()) }
    }
    /// 401 with a `WWW-Authenticate: Bearer ...` challenge (RFC 6750).
    pub fn unauthorized(message: impl Into<String>, challenge: impl Into<String>) -> Self {
        Self { challenge: Some(challenge.into()), ..Self::new(ErrorCode::Unauthorized, message) }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// Logs the full error chain and answers a generic 500.
    pub fn internal(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        let chain = canopy_domain::error_chain(error);
        tracing::error!(error = %chain, "{context}");
        Self::new(ErrorCode::InternalError, format!("{context}; the server log has the details"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(ErrorEnvelope::new(self.code, self.message))).into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::invalid(format!("request body: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(format!("query string: {}", r.body_text()))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal("database error", &e)
    }
}

/// Maps executor errors; the domain error is mapped by `domain`.
pub fn from_execute<E: std::error::Error + 'static>(
    e: ExecuteError<E>,
    domain: impl FnOnce(E) -> ApiError,
) -> ApiError {
    match e {
        ExecuteError::Rejected(e) => domain(e),
        ExecuteError::IdempotencyMismatch(key) => ApiError::new(
            ErrorCode::Conflict,
            format!("Idempotency-Key '{key}' was already used with a different request"),
        ),
        ExecuteError::Contention(stream) => {
            ApiError::new(ErrorCode::Conflict, format!("{stream} is being changed concurrently; retry"))
        }
        ExecuteError::Store(e) => ApiError::internal("event store error", &e),
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

/// The jobs service's refusals in the envelope: its code and message as they are, a missing
/// scope as 403 with the RFC 6750 challenge, an internal failure logged here with its chain.
impl From<canopy_jobs::JobsError> for ApiError {
    fn from(e: canopy_jobs::JobsError) -> Self {
        match e {
            canopy_jobs::JobsError::Refused { code, message } => ApiError::new(code, message),
            canopy_jobs::JobsError::Busy { message } => ApiError::new(canopy_api_types::ErrorCode::Conflict, message),
            canopy_jobs::JobsError::InsufficientScope { needed } => ApiError {
                challenge: Some(format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\"")),
                ..ApiError::new(ErrorCode::Forbidden, format!("the token lacks the '{needed}' scope"))
            },
            canopy_jobs::JobsError::Internal { context, source } => ApiError::internal(context, source.as_ref()),
        }
    }
}
