//! What users and MCP clients share (enterprise mode, MCPJungle's `create user` and
//! `create mcp-client`): access tokens, custom or generated, reduced to their keyed digest at
//! once, so no token reaches a command, an event, a read model or a log; a generated token is
//! answered once, in the creation's response. A token is held by one identity in the whole
//! deployment (its digest finds the holder and so the tenant): reusing one is a 409.

use crate::error::{from_execute, ApiError};
use crate::ApiState;
use canopy_api_types::ErrorCode;
use canopy_config::Mode;
use canopy_domain::identity::{IdentityError, IdentityName, TokenDigest};
use canopy_eventstore::{ExecuteError, StoreError};
use canopy_secrets::Sealer;

/// Users and MCP clients are enterprise mode's: in development mode nothing is authenticated,
/// so a token would mean nothing (and an allow list would restrict nothing).
pub(crate) fn require_enterprise(state: &ApiState, what: &str) -> Result<(), ApiError> {
    match state.mode {
        Mode::Enterprise => Ok(()),
        Mode::Development => Err(ApiError::invalid(format!(
            "{what} exist in enterprise mode only; this Canopy runs in development mode, where requests are \
             not authenticated (start it with --enterprise)"
        ))),
    }
}

/// An identity's token: the caller's own (`access_token`), or a new one, which the response
/// shows once. Answers the digest to store and the generated token, if any.
pub(crate) async fn issue_token(
    state: &ApiState,
    custom: Option<String>,
) -> Result<(TokenDigest, Option<String>), ApiError> {
    let (token, generated) = match custom {
        Some(token) => {
            check_custom_token(&token)?;
            (token, false)
        }
        None => (Sealer::generate_token(), true),
    };
    let digest = state.sealer.token_digest(&token);
    if canopy_readmodels::token_taken(state.pool(), digest.as_str()).await? {
        return Err(token_in_use());
    }
    Ok((digest, generated.then_some(token)))
}

/// A custom token must travel in an `Authorization` header as it is.
fn check_custom_token(token: &str) -> Result<(), ApiError> {
    if token.is_empty() || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "access_token must be 1 to 512 visible ASCII characters (no spaces); omit it to have one generated",
        ));
    }
    Ok(())
}

fn token_in_use() -> ApiError {
    ApiError::conflict("this access token is already in use; choose another, or omit it to have one generated")
}

/// A name for a user or client: the rules of server names, said with the right noun.
pub(crate) fn identity_name(kind: &str, name: &str) -> Result<IdentityName, ApiError> {
    IdentityName::parse(name.to_string()).map_err(|e| ApiError::invalid(e.to_string().replace("server name", kind)))
}

/// Executor errors of a user or client command; `what` is `user 'alice'` or `MCP client 'x'`.
pub(crate) fn execute_error(e: ExecuteError<IdentityError>, what: &str) -> ApiError {
    // Two creations racing with the same token: the read model's unique digest stops the second.
    if let ExecuteError::Store(StoreError::Database(sqlx::Error::Database(db))) = &e {
        if db.is_unique_violation() {
            return token_in_use();
        }
    }
    from_execute(e, |e| match e {
        IdentityError::AlreadyExists(_) => ApiError::new(ErrorCode::Conflict, format!("{what} already exists")),
        IdentityError::NotFound => not_found(what),
        IdentityError::Invalid(message) => ApiError::invalid(message),
        IdentityError::LastOwner => {
            ApiError::conflict(format!("{what} is the tenant's last owner; make another user owner first"))
        }
    })
}

pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::not_found(format!("{what} does not exist"))
}
