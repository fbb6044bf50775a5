//! The error codes of the jobs surface (Jungle Grid's: `INVALID_REQUEST`, `CONFLICT`, ...), and
//! the one mapping from the domain's refusals to them, so REST and MCP cannot disagree.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The codes a domain refusal maps to. The REST and MCP layers add the ones the domain never
/// decides (`UNAUTHORIZED`, `FORBIDDEN`, `MAINTENANCE_ACTIVE`, `RATE_LIMITED`, `INTERNAL_ERROR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    NotFound,
    Conflict,
    JobInputNotFound,
    JobInputNotReady,
    ArtifactNotReady,
    InsufficientFunds,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::JobInputNotFound => "JOB_INPUT_NOT_FOUND",
            ErrorCode::JobInputNotReady => "JOB_INPUT_NOT_READY",
            ErrorCode::ArtifactNotReady => "ARTIFACT_NOT_READY",
            ErrorCode::InsufficientFunds => "INSUFFICIENT_FUNDS",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain error that knows its code on the jobs surface.
pub trait HasErrorCode {
    fn code(&self) -> ErrorCode;
}

/// An error with its causes, `: `-separated, as callers and logs are told it (a `Display` that
/// does not repeat its `#[source]` would otherwise lose the reason).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
