//! Rate limits and quotas on calls (MCP `tools/call`, `prompts/get`, `resources/read`, REST
//! invoke, render and read), shared by every edge and api replica of a deployment because the counts live in
//! Redis. One [`Limiter::check`] per call is one Redis round trip (a Lua script), and none at
//! all when no limit applies to the call's tenant (the default: every count is 0, unlimited).
//!
//! # The limits
//!
//! Per tenant (`limits.tenant_calls` per `limits.window_secs`), per principal of a tenant (an
//! MCP client or user, `principal_calls`), per tool of a tenant (`server__tool`, `tool_calls`;
//! tool calls only) and a quota per tenant (`tenant_quota` per `quota_window_secs`, a day by
//! default). `[limits.tenants.NAME]` replaces a tenant's counts.
//!
//! # The algorithm: fixed windows that start with their first call
//!
//! Each limit is a counter key whose TTL is its window: the first call of a window creates it
//! with the window's length, later calls add one, and when the key expires the next call starts
//! a new window. A call over any of its limits is refused with the time left on that counter's
//! window ([`Limited::retry_after`]). The script checks every counter before it counts: a
//! refused call counts against nothing, so a client that is limited by one budget does not
//! drain the others. Redis's own clock (the TTLs) is the only clock, so replicas never
//! disagree about when a window ends. Like any fixed window, up to twice a limit can pass
//! within one window's length across a window boundary; what a window admits is exact.
//!
//! Keys: `PREFIX:limits:{TENANT}:tenant`, `...:principal:SUBJECT`, `...:tool:SERVER__TOOL`,
//! `...:quota` (PREFIX is the deployment's, as for the MCP session keys; the braces keep one
//! call's keys in one slot of a Redis Cluster).
//!
//! # When Redis does not answer
//!
//! Within 500 ms, or with an error: `limits.on_redis_error = "allow"` (the default) lets the
//! call through, uncounted (fail open: the gateway stays up when its limits cannot be
//! counted); `"deny"` refuses it as [`LimitKind::Unavailable`] (503 with `Retry-After: 1`).
//! Either way a warning is logged (the error's kind and text, never the Redis URL), at most
//! once every 10 seconds.

use canopy_config::LimitsConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a check waits for Redis before `on_redis_error` decides.
const REDIS_PATIENCE: Duration = Duration::from_millis(500);
/// At most one warning about Redis per this many seconds.
const WARN_EVERY_SECS: u64 = 10;

/// KEYS: the counters. ARGV: each counter's limit and window (ms), in pairs.
/// Returns `{0, 0}` when the call is counted, `{i, ms}` when counter `i` (from 1) is full and
/// its window ends in `ms` milliseconds (the latest-ending full window, when several are).
const SCRIPT: &str = r#"
local full, wait = 0, -1
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[2 * i])
      ttl = tonumber(ARGV[2 * i])
    end
    if ttl > wait then
      full, wait = i, ttl
    end
  end
end
if full > 0 then
  return {full, wait}
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return {0, 0}
"#;

/// One call to be counted. Labels of metrics and traces come from here too: none of it is
/// the call's arguments or session.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tenant: &'a str,
    /// The principal's subject (`client:cursor`, `user:alice`, `user:dev`).
    pub principal: &'a str,
    pub server: &'a str,
    /// The tool's own name (without `server__`) for tool calls; `None` for prompts and resources,
    /// which no per-tool limit counts.
    pub tool: Option<&'a str>,
}

/// Which budget refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Tenant,
    Principal,
    Tool,
    Quota,
    /// Redis did not answer and `on_redis_error` is `deny`.
    Unavailable,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Tenant => "tenant",
            LimitKind::Principal => "principal",
            LimitKind::Tool => "tool",
            LimitKind::Quota => "quota",
            LimitKind::Unavailable => "unavailable",
        }
    }
}

/// A refused call: which limit, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub limit: LimitKind,
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds for `Retry-After`: rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }

    /// For people (HTTP bodies, JSON-RPC error messages).
    pub fn message(&self) -> String {
        let secs = self.retry_after_secs();
        match self.limit {
            LimitKind::Unavailable => format!("rate limits cannot be checked right now; retry after {secs} s"),
            LimitKind::Quota => format!("rate limited: the tenant's call quota is used up; retry after {secs} s"),
            kind => format!("rate limited: too many calls for this {}; retry after {secs} s", kind.as_str()),
        }
    }

    /// HTTP status: 429, or 503 when the limits could not be checked.
    pub fn http_status(&self) -> u16 {
        match self.limit {
            LimitKind::Unavailable => 503,
            _ => 429,
        }
    }
}

/// Counts calls against the configured limits. Cheap to clone; [`Limiter::off`] counts nothing.
#[derive(Clone, Default)]
pub struct Limiter {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    config: LimitsConfig,
    redis: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    /// Unix second of the last warning about Redis.
    warned_at: AtomicU64,
}

/// The counts that apply to one tenant (0: unlimited).
struct Counts {
    tenant: u64,
    principal: u64,
    tool: u64,
    quota: u64,
}

impl Limiter {
    /// No limits: every call is allowed without asking Redis.
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// The limits of `config`, counted in `redis` under `prefix` (the deployment's). Off when
    /// no count anywhere is set.
    pub fn new(config: &LimitsConfig, redis: redis::aio::ConnectionManager, prefix: &str) -> Self {
        let any_default = [config.tenant_calls, config.principal_calls, config.tool_calls, config.tenant_quota]
            .iter()
            .any(|&n| n > 0);
        let any_override = config.tenants.values().any(|o| {
            [o.tenant_calls, o.principal_calls, o.tool_calls, o.tenant_quota].iter().any(|n| n.is_some_and(|n| n > 0))
        });
        if !any_default && !any_override {
            return Self::off();
        }
        Self {
            inner: Some(Arc::new(Inner {
                config: config.clone(),
                redis,
                prefix: prefix.to_string(),
                script: redis::Script::new(SCRIPT),
                warned_at: AtomicU64::new(0),
            })),
        }
    }

    /// Whether any limit is configured; when not, callers need not even look at a request.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Counts `call`, or says which limit refuses it. `Ok` without a Redis round trip when no
    /// limit applies to the call's tenant.
    pub async fn check(&self, call: &Call<'_>) -> Result<(), Limited> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let counts = inner.counts(call.tenant);
        let window_ms = inner.config.window_secs.saturating_mul(1000);
        let quota_ms = inner.config.quota_window_secs.saturating_mul(1000);
        let base = format!("{}:limits:{{{}}}", inner.prefix, call.tenant);
        let mut counters: Vec<(LimitKind, String, u64, u64)> = Vec::with_capacity(4);
        if counts.tenant > 0 {
            counters.push((LimitKind::Tenant, format!("{base}:tenant"), counts.tenant, window_ms));
        }
        if counts.principal > 0 {
            counters.push((
                LimitKind::Principal,
                format!("{base}:principal:{}", call.principal),
                counts.principal,
                window_ms,
            ));
        }
        if let (Some(tool), true) = (call.tool, counts.tool > 0) {
            counters.push((LimitKind::Tool, format!("{base}:tool:{}__{tool}", call.server), counts.tool, window_ms));
        }
        if counts.quota > 0 {
            counters.push((LimitKind::Quota, format!("{base}:quota"), counts.quota, quota_ms));
        }
        if counters.is_empty() {
            return Ok(());
        }
        let mut invocation = inner.script.prepare_invoke();
        for (_, key, limit, window) in &counters {
            invocation.key(key).arg(*limit).arg(*window);
        }
        let mut redis = inner.redis.clone();
        let answer = tokio::time::timeout(REDIS_PATIENCE, invocation.invoke_async::<(u64, i64)>(&mut redis)).await;
        let refused = match answer {
            Ok(Ok((0, _))) => return Ok(()),
            Ok(Ok((full, wait_ms))) => {
                let kind = counters.get(full as usize - 1).map_or(LimitKind::Tenant, |c| c.0);
                Limited { limit: kind, retry_after: Duration::from_millis(wait_ms.max(0) as u64) }
            }
            Ok(Err(e)) => return inner.unavailable(&format!("{:?}: {e}", e.kind())),
            Err(_) => return inner.unavailable(&format!("no answer within {} ms", REDIS_PATIENCE.as_millis())),
        };
        record_refusal(call, refused.limit);
        Err(refused)
    }
}

impl Inner {
    fn counts(&self, tenant: &str) -> Counts {
        let c = &self.config;
        let own = c.tenants.get(tenant);
        let pick = |default: u64, own: Option<u64>| own.unwrap_or(default);
        Counts {
            tenant: pick(c.tenant_calls, own.and_then(|o| o.tenant_calls)),
            principal: pick(c.principal_calls, own.and_then(|o| o.principal_calls)),
            tool: pick(c.tool_calls, own.and_then(|o| o.tool_calls)),
            quota: pick(c.tenant_quota, own.and_then(|o| o.tenant_quota)),
        }
    }

    /// Redis failed: fail open or closed as configured, and say so in the log now and then.
    fn unavailable(&self, what: &str) -> Result<(), Limited> {
        let fail_closed = self.config.on_redis_error == "deny";
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last = self.warned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self.warned_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let decision = if fail_closed {
                "refusing calls (on_redis_error = deny)"
            } else {
                "allowing calls uncounted (on_redis_error = allow)"
            };
            tracing::warn!(error = %what, "rate limits cannot be counted in Redis; {decision}");
        }
        metrics::counter!("canopy_rate_limit_errors_total").increment(1);
        if fail_closed {
            Err(Limited { limit: LimitKind::Unavailable, retry_after: Duration::from_secs(1) })
        } else {
            Ok(())
        }
    }
}

/// `canopy_rate_limited_total{tenant, client, server, tool, limit}`: calls refused, by whom and
/// by which limit.
fn record_refusal(call: &Call<'_>, limit: LimitKind) {
    metrics::counter!(
        "canopy_rate_limited_total",
        "tenant" => call.tenant.to_string(),
        "client" => call.principal.to_string(),
        "server" => call.server.to_string(),
        "tool" => call.tool.unwrap_or("").to_string(),
        "limit" => limit.as_str(),
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limited = |ms| Limited { limit: LimitKind::Tenant, retry_after: Duration::from_millis(ms) };
        for (ms, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (59_999, 60)] {
            assert_eq!(limited(ms).retry_after_secs(), secs, "{ms} ms");
        }
        assert!(limited(1500).message().contains("retry after 2 s"));
        assert_eq!(limited(1).http_status(), 429);
        let unavailable = Limited { limit: LimitKind::Unavailable, retry_after: Duration::from_secs(1) };
        assert_eq!(unavailable.http_status(), 503);
    }
}
