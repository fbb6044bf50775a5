//! The one async step after [`crate::decide`]: an admitted call of a counted method is counted
//! against the rate limits and quotas (one Redis round trip, none when no limit is on), and a
//! refused call, whatever refused it, is recorded for the tenant's audit log. Nothing else
//! counts or records a refusal, so a call is counted at most once and only when admitted.

use crate::decide::{Admitted, Reason, Refused};
use canopy_bus::Bus;
use canopy_limits::Limiter;
use canopy_mcp::call::CallRecord;

/// Counts `decided` if it was admitted (and its method is counted) and records it if it was
/// refused, by the decision or by a limit. `arguments_sha256` is asked only for a refusal's
/// record (the digest of the call's arguments, `None` for calls without any).
pub async fn settle(
    decided: Result<Admitted, Refused>,
    limiter: Option<&Limiter>,
    bus: &Bus,
    arguments_sha256: impl FnOnce() -> Option<String>,
) -> Result<Admitted, Refused> {
    let counted = match decided {
        Ok(admitted) => count(admitted, limiter).await,
        Err(refused) => Err(refused),
    };
    if let Err(refused) = &counted {
        record(bus, refused, arguments_sha256());
    }
    counted
}

/// Counts an admitted call; over a limit it becomes [`Reason::Limited`] (not yet recorded).
pub async fn count(admitted: Admitted, limiter: Option<&Limiter>) -> Result<Admitted, Refused> {
    let Some(limiter) = limiter.filter(|l| l.is_on() && admitted.method.is_counted()) else {
        return Ok(admitted);
    };
    match limiter.check(&admitted.counted_as()).await {
        Ok(()) => Ok(admitted),
        Err(limited) => Err(Refused {
            tenant: admitted.tenant,
            principal: admitted.principal,
            method: admitted.method,
            server: admitted.server,
            item: admitted.item,
            reason: Reason::Limited(limited),
        }),
    }
}

/// Publishes a refused call's record (outcome `error`, the refusal's code, latency 0) without
/// waiting for it.
pub fn record(bus: &Bus, refused: &Refused, arguments_sha256: Option<String>) {
    let record = CallRecord::refused(
        refused.tenant.as_str(),
        &refused.principal,
        &refused.server,
        refused.method.as_str(),
        &refused.item,
        arguments_sha256,
        refused.refusal(),
    );
    canopy_bus::calls::record(bus, record);
}
