//! Caps on the session-era MCP sessions one edge process holds. Each open session keeps an rmcp
//! session worker and its channels in memory (~50 KB: 12,000 sessions took an edge from 45 MB to
//! 486 MB; 4,000 took a debug build from 62 MB to 325 MB, 66 KB each) until rmcp's idle timeout,
//! and development mode needs no token to open them. So sessions are counted per principal and in
//! all ([`SessionLimits`]); at a cap, the session unused longest (for at least
//! `idle_under_pressure`, and with no request in flight) is closed to make room: only its
//! in-process half, its state stays in Redis, so its client's next request restores it on whichever
//! edge it reaches. With nothing to close, the new session is refused ([`Refusal`]) and the client
//! gets HTTP 429 (its principal's cap) or 503 (the edge's), with `Retry-After` and a JSON-RPC error
//! [`SESSION_CAP_REACHED`] saying which cap it hit (answered in front of rmcp,
//! [`crate::protocol`]).
//!
//! rmcp's session manager does not see the HTTP request, so the principal reaches
//! [`crate::sessions::SharedSessions`] through a task-local ([`OPENING`]) set by the middleware in
//! front of rmcp, and a refusal travels back the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The JSON-RPC error code of a refused session (implementation-defined server error range).
pub const SESSION_CAP_REACHED: i32 = -32030;

/// The caps (`[gateway]` in the configuration), per edge process.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Sessions in all.
    pub max_sessions: usize,
    /// Sessions of one principal (a tenant's user or MCP client; development: `user:dev`).
    pub max_per_principal: usize,
    /// A session unused this long is closed (rmcp's keep-alive).
    pub idle: Duration,
    /// At a cap, a session unused this long may be closed to make room.
    pub idle_under_pressure: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: 5000,
            max_per_principal: 1000,
            idle: Duration::from_secs(300),
            idle_under_pressure: Duration::from_secs(30),
        }
    }
}

/// Which cap a new session hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Principal { max: usize },
    Edge { max: usize },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Principal { max } => write!(
                f,
                "MCP session cap reached: this client already holds {max} sessions on this gateway, the most it may; \
                 end one (HTTP DELETE) or retry later"
            ),
            Refusal::Edge { max } => {
                write!(f, "MCP session cap reached: this gateway holds {max} sessions, the most it may; retry later")
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// The request that may open (or restore) a session: whose it is, and the refusal, if any.
pub(crate) struct Opening {
    pub principal: Arc<str>,
    pub refused: Mutex<Option<Refusal>>,
}

tokio::task_local! {
    /// Set around rmcp's handling of a request by the middleware in front of it.
    pub(crate) static OPENING: Arc<Opening>;
}

/// The principal of the request being handled (outside one: a principal of its own).
pub(crate) fn opening() -> Option<Arc<Opening>> {
    OPENING.try_with(Arc::clone).ok()
}

struct Tracked {
    principal: Arc<str>,
    last_used: Instant,
    in_flight: u32,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<Arc<str>, Tracked>,
    per_principal: HashMap<Arc<str>, usize>,
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some(tracked) = self.sessions.remove(id) {
            if let Some(count) = self.per_principal.get_mut(&tracked.principal) {
                *count -= 1;
                if *count == 0 {
                    self.per_principal.remove(&tracked.principal);
                }
            }
        }
    }

    /// The session unused longest, for at least `idle`, with no request in flight, of
    /// `principal` (or anyone's).
    fn victim(&self, principal: Option<&str>, idle: Duration, now: Instant) -> Option<Arc<str>> {
        self.sessions
            .iter()
            .filter(|(_, t)| t.in_flight == 0 && now.duration_since(t.last_used) >= idle)
            .filter(|(_, t)| principal.is_none_or(|p| &*t.principal == p))
            .min_by_key(|(_, t)| t.last_used)
            .map(|(id, _)| id.clone())
    }
}

/// The sessions this edge holds, whose they are and when they were last used.
pub(crate) struct SessionCaps {
    pub limits: SessionLimits,
    inner: Mutex<Inner>,
}

impl SessionCaps {
    pub fn new(limits: SessionLimits) -> Self {
        SessionCaps { limits, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts session `id` for `principal`: `Ok` with the session to close to make room, if one
    /// had to be, or the cap that refuses it.
    pub fn admit(&self, id: &str, principal: &Arc<str>) -> Result<Option<Arc<str>>, Refusal> {
        let mut inner = self.lock();
        if inner.sessions.contains_key(id) {
            return Ok(None);
        }
        let now = Instant::now();
        let idle = self.limits.idle_under_pressure;
        let mut victim = None;
        if inner.per_principal.get(principal).copied().unwrap_or(0) >= self.limits.max_per_principal {
            let found = inner.victim(Some(principal), idle, now);
            victim = Some(found.ok_or(Refusal::Principal { max: self.limits.max_per_principal })?);
        } else if inner.sessions.len() >= self.limits.max_sessions {
            let found = inner.victim(None, idle, now);
            victim = Some(found.ok_or(Refusal::Edge { max: self.limits.max_sessions })?);
        }
        if let Some(victim) = &victim {
            inner.remove(victim);
        }
        let principal = principal.clone();
        *inner.per_principal.entry(principal.clone()).or_insert(0) += 1;
        inner.sessions.insert(id.into(), Tracked { principal, last_used: now, in_flight: 0 });
        Ok(victim)
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Session `id` was just used.
    pub fn touch(&self, id: &str) {
        if let Some(tracked) = self.lock().sessions.get_mut(id) {
            tracked.last_used = Instant::now();
        }
    }

    /// A request of session `id` starts; it is not closed to make room until [`Self::finished`].
    pub fn started(&self, id: &str) {
        if let Some(tracked) = self.lock().sessions.get_mut(id) {
            tracked.in_flight += 1;
            tracked.last_used = Instant::now();
        }
    }

    pub fn finished(&self, id: &str) {
        if let Some(tracked) = self.lock().sessions.get_mut(id) {
            tracked.in_flight = tracked.in_flight.saturating_sub(1);
            tracked.last_used = Instant::now();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(total: usize, per: usize, idle_ms: u64) -> SessionCaps {
        SessionCaps::new(SessionLimits {
            max_sessions: total,
            max_per_principal: per,
            idle: Duration::from_secs(300),
            idle_under_pressure: Duration::from_millis(idle_ms),
        })
    }

    #[test]
    fn caps_per_principal_and_in_all_then_make_room_from_idle_sessions() {
        let caps = caps(3, 2, 50);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        assert_eq!(caps.admit("1", &a), Ok(None));
        assert_eq!(caps.admit("2", &a), Ok(None));
        assert_eq!(caps.admit("3", &a), Err(Refusal::Principal { max: 2 }));
        assert_eq!(caps.admit("4", &b), Ok(None));
        assert_eq!(caps.admit("5", &b), Err(Refusal::Edge { max: 3 }));
        caps.started("1");
        std::thread::sleep(Duration::from_millis(60));
        // "1" has a request in flight: "2" is the one closed.
        assert_eq!(caps.admit("5", &b), Ok(Some("2".into())));
        assert_eq!(caps.len(), 3);
        caps.finished("1");
        caps.remove("4");
        assert_eq!(caps.admit("6", &a), Ok(None));
        assert_eq!(caps.admit("6", &a), Ok(None), "counted once");
        assert_eq!(caps.len(), 3);
    }
}
