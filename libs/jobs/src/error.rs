//! The one error of the jobs service: a stable code (Jungle Grid's: `INVALID_REQUEST`,
//! `NOT_FOUND`, `CONFLICT`, `JOB_INPUT_NOT_FOUND`, ...) with a message for people, the scope a
//! token lacks, or an internal failure whose details are logged where it is handled (REST:
//! `ApiError::internal`; MCP: the tool error), never shown. REST answers it in the envelope;
//! the `grid` tools as `TOOL failed: CODE: message`.

use canopy_api_types::ErrorCode;
use canopy_domain::HasErrorCode;
use canopy_eventstore::ExecuteError;
use canopy_policy::Denial;

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// Refused, with the code clients switch on.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The token lacks Jungle Grid's scope for the tool (HTTP 403 with an `insufficient_scope`
    /// challenge; MCP: FORBIDDEN naming the scope).
    #[error("the token lacks the '{needed}' scope")]
    InsufficientScope { needed: &'static str },
    /// Concurrent writers kept winning the race for the same stream (a tenant's credit ledger,
    /// written by every submit and every end): `CONFLICT` on the wire, and worth retrying.
    #[error("{message}")]
    Busy { message: String },
    /// Storage, the bus or the event store failed; `context` says what was being done.
    #[error("{context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl JobsError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        JobsError::Refused { code, message: message.into() }
    }

    /// `INVALID_REQUEST` naming the field: `"{field} {reason}"`.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::refused(ErrorCode::InvalidRequest, format!("{field} {reason}"))
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::refused(ErrorCode::NotFound, format!("{what} was not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Conflict, message)
    }

    /// A failure that may pass if the same request is sent again (contention, storage),
    /// as opposed to a refusal, which will not.
    pub fn is_transient(&self) -> bool {
        matches!(self, JobsError::Busy { .. } | JobsError::Internal { .. })
    }

    pub fn internal(context: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        JobsError::Internal { context, source: Box::new(source) }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            JobsError::Refused { code, .. } => *code,
            JobsError::Busy { .. } => ErrorCode::Conflict,
            JobsError::InsufficientScope { .. } => ErrorCode::Forbidden,
            JobsError::Internal { .. } => ErrorCode::InternalError,
        }
    }

    /// What the caller is told (an internal failure says only what failed).
    pub fn public_message(&self) -> String {
        match self {
            JobsError::Internal { context, .. } => format!("{context}; the server log has the details"),
            other => other.to_string(),
        }
    }

    /// A policy denial: `NotFound` exactly as `not_found` builds the unknown id's answer.
    pub(crate) fn denied(denial: Denial, not_found: impl FnOnce() -> JobsError) -> Self {
        match denial {
            Denial::NotFound => not_found(),
            Denial::Forbidden { reason } => Self::refused(ErrorCode::Forbidden, reason.to_string()),
            Denial::InsufficientScope { needed } => JobsError::InsufficientScope { needed },
        }
    }

    /// A domain refusal with the code the domain gives it.
    pub(crate) fn domain<E: HasErrorCode + std::fmt::Display>(error: E) -> Self {
        Self::refused(code_of(error.code()), error.to_string())
    }

    /// An executor error: the domain's refusal with its code, contention as `CONFLICT`, the
    /// store's failure as internal.
    pub(crate) fn execute<E>(error: ExecuteError<E>) -> Self
    where
        E: HasErrorCode + std::error::Error + Send + Sync + 'static,
    {
        match error {
            ExecuteError::Rejected(e) => Self::domain(e),
            ExecuteError::IdempotencyMismatch(key) => {
                Self::conflict(format!("Idempotency-Key '{key}' was already used with a different request"))
            }
            ExecuteError::Contention(stream) => {
                JobsError::Busy { message: format!("{stream} is being changed concurrently; retry") }
            }
            ExecuteError::Store(e) => Self::internal("the event store failed", e),
        }
    }
}

/// The domain's codes as the REST/MCP surface spells them.
pub fn code_of(code: canopy_domain::ErrorCode) -> ErrorCode {
    use canopy_domain::ErrorCode as D;
    match code {
        D::InvalidRequest => ErrorCode::InvalidRequest,
        D::NotFound => ErrorCode::NotFound,
        D::Conflict => ErrorCode::Conflict,
        D::JobInputNotFound => ErrorCode::JobInputNotFound,
        D::JobInputNotReady => ErrorCode::JobInputNotReady,
        D::ArtifactNotReady => ErrorCode::ArtifactNotReady,
        D::InsufficientFunds => ErrorCode::InsufficientFunds,
    }
}

impl From<sqlx::Error> for JobsError {
    fn from(e: sqlx::Error) -> Self {
        JobsError::internal("the database failed", e)
    }
}
