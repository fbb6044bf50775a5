//! The answer: allow, or deny with a reason the caller turns into its own error.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny(Denial),
}

impl Decision {
    pub fn is_allow(self) -> bool {
        self == Decision::Allow
    }

    pub fn into_result(self) -> Result<(), Denial> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(denial) => Err(denial),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "denial", rename_all = "snake_case")]
pub enum Denial {
    /// Answer exactly as for a name that does not exist (same status, code and message): the
    /// caller must not learn that another tenant's item, or one outside its allow list, exists.
    NotFound,
    /// The principal may see the target but not do this to it. A token with more scopes would not
    /// help.
    Forbidden { reason: ForbiddenReason },
    /// The principal could do this, but its token lacks `needed` (OAuth `insufficient_scope`: a
    /// client may step up and ask for it).
    InsufficientScope { needed: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForbiddenReason {
    /// A member asked to manage.
    MembersCannotManage,
    /// An MCP client asked to manage.
    ClientsCannotManage,
    /// Someone other than the operator asked about the platform.
    OperatorOnly,
}

impl fmt::Display for ForbiddenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForbiddenReason::MembersCannotManage => {
                "members use the tenant's servers but cannot manage them; ask an owner or admin"
            }
            ForbiddenReason::ClientsCannotManage => {
                "MCP clients use what their allow list admits and manage nothing; use a user's token"
            }
            ForbiddenReason::OperatorOnly => "only the platform operator manages the platform",
        })
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::NotFound => f.write_str("not found"),
            Denial::Forbidden { reason } => reason.fmt(f),
            Denial::InsufficientScope { needed } => write!(f, "the token lacks the '{needed}' scope"),
        }
    }
}
