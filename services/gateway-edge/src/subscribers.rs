//! Sessions that want `notifications/*/list_changed`, kept in Redis so that every edge knows
//! every session, wherever it was initialized: `PREFIX:mcp:listeners:TENANT` maps each session
//! to its endpoint's scope. Every edge sees every catalog change; the first edge to claim a
//! change (by its id, `PREFIX:mcp:fanout:ID`) appends one tools, prompts and resources
//! `list_changed` to the standalone stream of each session of that tenant whose endpoint shows
//! that server to the session's principal ([`Audience`]), and the edge holding the session's
//! GET stream forwards them. So a client hears of a change once, however many edges there are.
//! Sessions gone from Redis are dropped on the way.
//!
//! A session is registered on `initialized`, and again when an edge restores it. A change's id
//! is its aggregate (server or group) and version, or the id the api gives an upstream's
//! announcement of its own `list_changed` (`run_list_changes` in `resource_updates.rs`).

use crate::audience::Audience;
use crate::cache::{CatalogCache, CatalogChange};
use crate::redis_store::RedisStores;
use canopy_admission::Scope;
use rmcp::model::{
    PromptListChangedNotification, ResourceListChangedNotification, ServerJsonRpcMessage, ServerNotification,
    ToolListChangedNotification,
};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub struct Subscribers {
    stores: RedisStores,
}

/// How a scope is recorded in Redis (server and group names hold no ':').
fn scope_field(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Server(s) => format!("server:{s}"),
        Scope::Group(g) => format!("group:{g}"),
    }
}

fn parse_scope(field: &str) -> Option<Scope> {
    match field.split_once(':') {
        None if field == "all" => Some(Scope::All),
        Some(("server", s)) => Some(Scope::Server(s.into())),
        Some(("group", g)) => Some(Scope::Group(g.into())),
        _ => None,
    }
}

impl Subscribers {
    pub fn new(stores: RedisStores) -> Self {
        Self { stores }
    }

    fn listeners_key(&self, tenant: &str) -> String {
        self.stores.key(&format!("listeners:{tenant}"))
    }

    /// Registers a session; again when another edge restores it, which changes nothing.
    pub(crate) async fn add(&self, tenant: &str, session: &str, scope: &Scope) {
        let key = self.listeners_key(tenant);
        let mut redis = self.stores.connection();
        let added: Result<(), redis::RedisError> = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(session)
            .arg(scope_field(scope))
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.stores.ttl_secs())
            .ignore()
            .query_async(&mut redis)
            .await;
        if let Err(e) = added {
            tracing::warn!(error = %e, session, "session not registered for list_changed notifications");
        }
    }

    /// Whether this edge is the one to tell sessions about `change`.
    async fn claim(&self, change: &CatalogChange) -> Result<bool, redis::RedisError> {
        let mut redis = self.stores.connection();
        let claimed: Option<String> = redis::cmd("SET")
            .arg(self.stores.key(&format!("fanout:{}", change.id)))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(self.stores.ttl_secs())
            .query_async(&mut redis)
            .await?;
        Ok(claimed.is_some())
    }

    /// The tenant's live sessions, each with its endpoint's scope (whether the change shows
    /// there, and to whom, is the [`Audience`]'s to say).
    async fn listening(&self, change: &CatalogChange) -> Result<Vec<(String, Scope)>, redis::RedisError> {
        let key = self.listeners_key(&change.tenant);
        let mut redis = self.stores.connection();
        let listeners: Vec<(String, String)> = redis::cmd("HGETALL").arg(&key).query_async(&mut redis).await?;
        let candidates: Vec<(String, Scope)> =
            listeners.into_iter().filter_map(|(session, scope)| Some((session, parse_scope(&scope)?))).collect();
        let sessions = candidates.iter().map(|(session, _)| session.clone()).collect();
        let live: std::collections::HashSet<String> =
            live_sessions(&self.stores, &key, sessions).await?.into_iter().collect();
        Ok(candidates.into_iter().filter(|(session, _)| live.contains(session)).collect())
    }
}

/// Those of `sessions` that still exist; the others are removed from the hash `key`.
pub(crate) async fn live_sessions(
    stores: &RedisStores,
    key: &str,
    sessions: Vec<String>,
) -> Result<Vec<String>, redis::RedisError> {
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let mut redis = stores.connection();
    let mut pipe = redis::pipe();
    for session in &sessions {
        pipe.cmd("EXISTS").arg(stores.session_key(session));
    }
    let exists: Vec<bool> = pipe.query_async(&mut redis).await?;
    let (live, gone): (Vec<_>, Vec<_>) = sessions.into_iter().zip(exists).partition(|(_, exists)| *exists);
    if !gone.is_empty() {
        let mut forget = redis::cmd("HDEL");
        forget.arg(key);
        for (session, _) in &gone {
            forget.arg(session);
        }
        let _: Result<i64, _> = forget.query_async(&mut redis).await;
    }
    Ok(live.into_iter().map(|(session, _)| session).collect())
}

fn list_changed() -> [ServerJsonRpcMessage; 3] {
    [
        ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default()),
        ServerNotification::PromptListChangedNotification(PromptListChangedNotification::default()),
        ServerNotification::ResourceListChangedNotification(ResourceListChangedNotification::default()),
    ]
    .map(ServerJsonRpcMessage::notification)
}

/// Tells subscribed sessions about catalog changes until `shutdown`: those whose endpoint shows
/// the change to their principal.
pub async fn run_notifier(
    cache: Arc<CatalogCache>,
    subscribers: Arc<Subscribers>,
    audience: Arc<Audience>,
    shutdown: CancellationToken,
) {
    let mut changes = cache.changes();
    loop {
        let change = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = changes.recv() => c,
        };
        let change = match change {
            Ok(c) => c,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "list_changed notifier lagged; some notifications coalesced");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let sessions = match subscribers.claim(&change).await {
            Ok(true) => subscribers.listening(&change).await,
            Ok(false) => continue,
            Err(e) => Err(e),
        };
        let sessions = match sessions {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, server = change.server, "sessions not told of a catalog change");
                continue;
            }
        };
        let hears = |access: &crate::access::Access, scope: &Scope| access.hears_of(scope, &change.server);
        let sessions = audience.filter(&change.tenant, sessions, hears).await;
        let messages = list_changed();
        for (session, _) in sessions {
            if let Err(e) = subscribers.stores.append_standalone(&session, &messages).await {
                tracing::warn!(error = %e, session, "session not told of a catalog change");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_scope, scope_field};
    use canopy_admission::Scope;

    #[test]
    fn scopes_round_trip() {
        for scope in [Scope::All, Scope::Server("fx".into()), Scope::Group("g".into())] {
            assert_eq!(parse_scope(&scope_field(&scope)), Some(scope));
        }
        assert_eq!(parse_scope("nonsense"), None);
    }
}
