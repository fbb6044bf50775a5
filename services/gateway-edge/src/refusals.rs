//! Calls the edge refuses before any worker sees them (an unknown name, one outside the
//! caller's view or scopes, a rate limit) still belong in the tenant's audit log: who tried
//! what, with which arguments (their digest), and why it was refused. They go to the LOGS
//! stream as call records (outcome `error`, latency 0), as workers' records do, and the api's
//! audit consumer keeps them. Fire and forget: a refusal never waits on its record.

use canopy_bus::Bus;
use canopy_mcp::call::CallRecord;

/// Why a call was refused, as its record's `error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such item, or none this principal may know of (the caller got the same answer).
    NotFound,
    /// The principal may see it but not do this (e.g. a group endpoint that does not hold it).
    Forbidden,
    /// The token lacks the scope.
    InsufficientScope,
    RateLimited,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "NOT_FOUND",
            Refusal::Forbidden => "FORBIDDEN",
            Refusal::InsufficientScope => "INSUFFICIENT_SCOPE",
            Refusal::RateLimited => "RATE_LIMITED",
        }
    }

    /// The refusal a policy denial stands for.
    pub(crate) fn of(denial: &canopy_policy::Denial) -> Self {
        match denial {
            canopy_policy::Denial::NotFound => Refusal::NotFound,
            canopy_policy::Denial::Forbidden { .. } => Refusal::Forbidden,
            canopy_policy::Denial::InsufficientScope { .. } => Refusal::InsufficientScope,
        }
    }
}

/// What was refused: `server` empty when the name named none.
pub(crate) struct Refused<'a> {
    pub tenant: &'a str,
    pub principal: &'a str,
    pub server: &'a str,
    pub method: &'a str,
    pub name: &'a str,
    pub arguments_sha256: Option<String>,
    pub why: Refusal,
}

pub(crate) fn record(bus: &Bus, refused: Refused<'_>) {
    let record = CallRecord::refused(
        refused.tenant,
        refused.principal,
        refused.server,
        refused.method,
        refused.name,
        refused.arguments_sha256,
        refused.why.code(),
    );
    canopy_bus::calls::record_later(bus, record);
}
