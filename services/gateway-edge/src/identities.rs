//! Who holds each access token (enterprise mode): every tenant's users and MCP clients, in
//! memory, found by the token's digest, so authenticating a request touches no database.
//! Warmed from the read models and kept in step with the `user.*` and `mcp_client.*` events by
//! the catalog sync (the same tail as the catalog), so a deleted identity or a rotated token is
//! refused on every edge as soon as its event arrives. Each identity holds its aggregate state
//! at a stream version, as the catalog's servers do: older events are ignored, a gap calls for
//! a fresh snapshot.
//!
//! Platform operators are not here: they belong to no tenant and see nothing inside one, so an
//! operator's token is unknown at the MCP endpoints (401, like any token no identity holds).
//! A tenant the operator suspends (`tenant.suspended`) has every token of its identities
//! refused at once; `tenant.resumed` grants them again (the warm-up leaves a suspended tenant's
//! identities out, so an edge that has not seen them asks for a fresh snapshot).

use canopy_domain::identity::{McpClient, McpClientEvent, Role, TokenDigest, User, UserEvent};
use canopy_domain::tenant::{Tenant, TenantEvent};
use canopy_domain::{Aggregate, TenantId};
use canopy_eventstore::StoredEvent;
use canopy_policy::Principal;
use canopy_readmodels::{HeldToken, TokenHolder};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// One identity's aggregate state.
#[derive(Debug, Clone)]
enum Identity {
    User(User),
    Client(McpClient),
}

impl Identity {
    /// The token it holds and the principal the token stands for; `None` once deleted.
    fn holder(&self, tenant: &str) -> Option<(TokenDigest, TokenHolder)> {
        let tenant_id = tenant.to_string();
        match self {
            Identity::User(User::Active { name, role, token }) => Some((
                token.clone(),
                TokenHolder::User { tenant_id, name: name.to_string(), role: role.as_str().to_string() },
            )),
            Identity::Client(McpClient::Active { name, allow, token, .. }) => {
                Some((token.clone(), TokenHolder::Client { tenant_id, name: name.to_string(), allow: allow.clone() }))
            }
            _ => None,
        }
    }

    /// The state a read-model row describes (a client's description is not needed here).
    fn from_holder(digest: &str, holder: &TokenHolder) -> Option<Identity> {
        let token = TokenDigest::parse(digest).ok()?;
        match holder {
            TokenHolder::User { name, role, .. } => Some(Identity::User(User::Active {
                name: name.clone().try_into().ok()?,
                role: Role::parse(role).ok()?,
                token,
            })),
            TokenHolder::Client { name, allow, .. } => Some(Identity::Client(McpClient::Active {
                name: name.clone().try_into().ok()?,
                description: String::new(),
                allow: allow.clone(),
                token,
            })),
            TokenHolder::Operator { .. } => None,
        }
    }
}

/// (tenant, aggregate type, name): one identity's stream.
type StreamKey = (String, &'static str, String);

struct Entry {
    version: i64,
    identity: Identity,
    /// What `identity` currently grants: its token's digest and principal.
    grants: Option<(String, Arc<Principal>)>,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<StreamKey, Entry>,
    by_digest: HashMap<String, Arc<Principal>>,
    /// (tenant, subject) to the principal, for sessions, which remember whose they are.
    by_subject: HashMap<(String, String), Arc<Principal>>,
    /// Tenants the operator suspended since this cache was warmed: their identities are kept
    /// (so resuming needs no snapshot) but grant nothing.
    suspended: HashSet<String>,
}

#[derive(Default)]
pub struct IdentityCache {
    inner: RwLock<Inner>,
}

impl IdentityCache {
    /// The principal a token (by its digest) stands for, if any identity holds it now.
    pub fn principal(&self, digest: &TokenDigest) -> Option<Arc<Principal>> {
        self.inner.read().expect("identity lock").by_digest.get(digest.as_str()).cloned()
    }

    /// The principal `subject` of `tenant` is now (its allow list may have changed), if it
    /// still exists.
    pub fn by_subject(&self, tenant: &TenantId, subject: &str) -> Option<Arc<Principal>> {
        let key = (tenant.to_string(), subject.to_string());
        self.inner.read().expect("identity lock").by_subject.get(&key).cloned()
    }

    fn set(&self, key: StreamKey, version: i64, identity: Identity) {
        let grants = identity.holder(&key.0).and_then(|(digest, holder)| {
            let principal = holder.principal().map(Arc::new);
            if principal.is_none() {
                tracing::warn!(
                    tenant = key.0,
                    name = key.2,
                    "an identity the gateway cannot use; its token is refused"
                );
            }
            Some((digest.as_str().to_string(), principal?))
        });
        let mut inner = self.inner.write().expect("identity lock");
        let inner = &mut *inner;
        if let Some((digest, principal)) = inner.streams.get(&key).and_then(|e| e.grants.as_ref()) {
            inner.by_digest.remove(digest);
            inner.by_subject.remove(&(key.0.clone(), principal.subject.clone()));
        }
        if let (Some((digest, principal)), false) = (&grants, inner.suspended.contains(&key.0)) {
            inner.by_digest.insert(digest.clone(), principal.clone());
            inner.by_subject.insert((key.0.clone(), principal.subject.clone()), principal.clone());
        }
        inner.streams.insert(key, Entry { version, identity, grants });
    }

    /// `tenant.suspended` and `tenant.resumed`: a suspended tenant's tokens grant nothing.
    /// Returns false when resuming a tenant this cache did not see suspended (it was warmed
    /// without the tenant's identities): a fresh snapshot brings them.
    fn apply_tenant(&self, stored: &StoredEvent) -> bool {
        let Ok(event) = stored.decode::<TenantEvent>() else { return true };
        let tenant = stored.aggregate_id.to_string();
        let mut inner = self.inner.write().expect("identity lock");
        let inner = &mut *inner;
        let grants = |streams: &HashMap<StreamKey, Entry>| -> Vec<(String, Arc<Principal>)> {
            streams.iter().filter(|(k, _)| k.0 == tenant).filter_map(|(_, e)| e.grants.clone()).collect()
        };
        match event {
            TenantEvent::Suspended => {
                inner.suspended.insert(tenant.clone());
                for (digest, principal) in grants(&inner.streams) {
                    inner.by_digest.remove(&digest);
                    inner.by_subject.remove(&(tenant.clone(), principal.subject.clone()));
                }
                true
            }
            TenantEvent::Resumed => {
                if !inner.suspended.remove(&tenant) {
                    return false;
                }
                for (digest, principal) in grants(&inner.streams) {
                    inner.by_digest.insert(digest, principal.clone());
                    inner.by_subject.insert((tenant.clone(), principal.subject.clone()), principal);
                }
                true
            }
            TenantEvent::Created { .. }
            | TenantEvent::IdentityProviderSet(_)
            | TenantEvent::IdentityProviderRemoved => true,
        }
    }

    fn current(&self, key: &StreamKey) -> Option<(i64, Identity)> {
        self.inner.read().expect("identity lock").streams.get(key).map(|e| (e.version, e.identity.clone()))
    }

    /// Makes the cache exactly what the read models hold now (the warm-up, and the resync
    /// after the event stream was lost): newer identities replace cached ones, and one the
    /// snapshot lacks (deleted, or of a tenant suspended meanwhile, whose identities the
    /// snapshot leaves out) grants nothing any more.
    pub(crate) fn replace(&self, rows: Vec<HeldToken>) {
        // A suspended tenant's identities are not in the snapshot, so none stay held: its
        // `tenant.resumed` will find it unknown and ask for a snapshot that brings them.
        self.inner.write().expect("identity lock").suspended.clear();
        let mut present = HashSet::new();
        for row in rows {
            let (tenant, kind, name) = match &row.holder {
                TokenHolder::User { tenant_id, name, .. } => (tenant_id, User::TYPE, name),
                TokenHolder::Client { tenant_id, name, .. } => (tenant_id, McpClient::TYPE, name),
                TokenHolder::Operator { .. } => continue,
            };
            let key = (tenant.clone(), kind, name.clone());
            present.insert(key.clone());
            if self.current(&key).is_some_and(|(v, _)| v >= row.version) {
                continue;
            }
            match Identity::from_holder(&row.digest, &row.holder) {
                Some(identity) => self.set(key, row.version, identity),
                None => tracing::warn!(tenant, name, "an identity row the gateway cannot read; its token is refused"),
            }
        }
        let mut inner = self.inner.write().expect("identity lock");
        let inner = &mut *inner;
        inner.streams.retain(|key, _| present.contains(key));
        // What each held identity grants, indexed afresh (a tenant resumed while the stream was
        // lost has identities the cache holds at their version but granted nothing).
        inner.by_digest.clear();
        inner.by_subject.clear();
        for (key, entry) in &inner.streams {
            if let Some((digest, principal)) = &entry.grants {
                inner.by_digest.insert(digest.clone(), principal.clone());
                inner.by_subject.insert((key.0.clone(), principal.subject.clone()), principal.clone());
            }
        }
    }

    /// Applies a user or MCP client event (others are not for this cache). Returns false on a
    /// gap: an event that does not follow the cached version and cannot stand alone.
    pub(crate) fn apply(&self, stored: &StoredEvent) -> bool {
        let kind = match stored.aggregate_type.as_str() {
            User::TYPE => User::TYPE,
            McpClient::TYPE => McpClient::TYPE,
            Tenant::TYPE => return self.apply_tenant(stored),
            _ => return true,
        };
        let key = (stored.tenant_id.to_string(), kind, stored.aggregate_id.to_string());
        let current = self.current(&key);
        if current.as_ref().is_some_and(|(v, _)| *v >= stored.version) {
            return true;
        }
        let follows = current.as_ref().is_some_and(|(v, _)| v + 1 == stored.version);
        let next = if kind == User::TYPE {
            let Ok(event) = stored.decode::<UserEvent>() else { return true };
            let stands_alone = matches!(event, UserEvent::Created { .. } | UserEvent::Deleted);
            let state = match current {
                Some((_, Identity::User(state))) if follows => state,
                _ if stands_alone => User::Absent,
                _ => return false,
            };
            Identity::User(state.apply(&event))
        } else {
            let Ok(event) = stored.decode::<McpClientEvent>() else { return true };
            let stands_alone = matches!(event, McpClientEvent::Created { .. } | McpClientEvent::Deleted);
            let state = match current {
                Some((_, Identity::Client(state))) if follows => state,
                _ if stands_alone => McpClient::Absent,
                _ => return false,
            };
            Identity::Client(state.apply(&event))
        };
        self.set(key, stored.version, next);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_domain::identity::AllowSpec;
    use canopy_domain::DomainEvent;

    fn digest(c: char) -> TokenDigest {
        TokenDigest::parse(c.to_string().repeat(64)).unwrap()
    }

    fn event<E: DomainEvent + serde::Serialize>(
        tenant: &str,
        kind: &str,
        name: &str,
        version: i64,
        e: E,
    ) -> StoredEvent {
        let json = serde_json::json!({
            "global_position": 0,
            "event_id": uuid::Uuid::new_v4(),
            "tenant_id": tenant,
            "aggregate_type": kind,
            "aggregate_id": name,
            "version": version,
            "event_type": e.event_type(),
            "schema_version": 1,
            "payload": serde_json::to_value(&e).unwrap(),
            "metadata": {"actor": "system", "correlation_id": uuid::Uuid::new_v4()},
            "recorded_at": "2026-01-01T00:00:00Z",
        });
        serde_json::from_value(json).expect("a stored event")
    }

    fn client_created(token: char, servers: &[&str]) -> McpClientEvent {
        McpClientEvent::Created {
            name: "cursor".to_string().try_into().unwrap(),
            description: String::new(),
            allow: AllowSpec { servers: servers.iter().map(|s| s.to_string()).collect(), ..Default::default() },
            token: digest(token),
        }
    }

    #[test]
    fn tokens_follow_their_identity_through_rotation_update_and_deletion() {
        let cache = IdentityCache::default();
        let acme = TenantId::parse("acme").unwrap();
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 1, client_created('a', &["x"]))));
        let p = cache.principal(&digest('a')).expect("created");
        assert_eq!((p.tenant.as_ref(), p.subject.as_str()), (Some(&acme), "client:cursor"));

        assert!(cache.apply(&event(
            "acme",
            "mcp_client",
            "cursor",
            2,
            McpClientEvent::TokenRotated { token: digest('b') }
        )));
        assert!(cache.principal(&digest('a')).is_none(), "the old token is refused at once");
        assert!(cache.principal(&digest('b')).is_some());

        let allow = AllowSpec { servers: vec!["y".into()], ..Default::default() };
        let update = McpClientEvent::Updated { description: "d".into(), allow: allow.clone() };
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 3, update)));
        let now = cache.by_subject(&acme, "client:cursor").unwrap();
        assert_eq!(now.kind, canopy_policy::PrincipalKind::Client { allow: (&allow).into() });

        // Replayed and older events change nothing.
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 1, client_created('a', &["x"]))));
        assert!(cache.principal(&digest('a')).is_none());

        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 4, McpClientEvent::Deleted)));
        assert!(cache.principal(&digest('b')).is_none());
        assert!(cache.by_subject(&acme, "client:cursor").is_none());
    }

    #[test]
    fn a_gap_asks_for_a_snapshot_and_a_snapshot_never_goes_back() {
        let cache = IdentityCache::default();
        let rotated = McpClientEvent::TokenRotated { token: digest('c') };
        assert!(!cache.apply(&event("acme", "mcp_client", "cursor", 2, rotated.clone())), "nothing to rotate");
        let user = UserEvent::Created {
            name: "alice".to_string().try_into().unwrap(),
            role: Role::Member,
            token: digest('d'),
        };
        assert!(cache.apply(&event("default", "user", "alice", 1, user)));
        assert!(!cache.apply(&event("default", "user", "alice", 3, UserEvent::RoleChanged { role: Role::Admin })));

        let holder = TokenHolder::User { tenant_id: "default".into(), name: "alice".into(), role: "admin".into() };
        let stale = HeldToken { digest: digest('e').as_str().into(), version: 1, holder: holder.clone() };
        cache.replace(vec![stale]);
        assert!(cache.principal(&digest('e')).is_none(), "not newer than the cache");
        cache.replace(vec![HeldToken { digest: digest('f').as_str().into(), version: 3, holder }]);
        assert!(cache.principal(&digest('d')).is_none());
        let alice = cache.principal(&digest('f')).unwrap();
        assert_eq!(alice.kind, canopy_policy::PrincipalKind::User { role: Role::Admin });
        assert!(cache.apply(&event("default", "user", "alice", 4, UserEvent::Deleted)));
        assert!(cache.principal(&digest('f')).is_none());
    }

    #[test]
    fn a_resync_holds_exactly_what_the_snapshot_holds() {
        let cache = IdentityCache::default();
        let acme = TenantId::parse("acme").unwrap();
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 1, client_created('a', &["x"]))));
        assert!(cache.apply(&event("globex", "mcp_client", "cursor", 1, client_created('c', &["x"]))));
        assert!(cache.apply(&event("initech", "mcp_client", "cursor", 1, client_created('9', &["x"]))));
        assert!(cache.apply(&event("initech", "tenant", "initech", 2, TenantEvent::Suspended)));
        let held = |tenant: &str, token: char, version: i64| HeldToken {
            digest: digest(token).as_str().into(),
            version,
            holder: TokenHolder::Client { tenant_id: tenant.into(), name: "cursor".into(), allow: Default::default() },
        };
        // While the stream was lost: acme's client was deleted, globex was suspended (its
        // identities leave the snapshot), initech was resumed (its client is back in it).
        cache.replace(vec![held("initech", '9', 1)]);
        assert!(cache.principal(&digest('a')).is_none(), "deleted: refused");
        assert!(cache.by_subject(&acme, "client:cursor").is_none());
        assert!(cache.principal(&digest('c')).is_none(), "suspended: refused");
        assert!(cache.principal(&digest('9')).is_some(), "resumed: granted again at the same version");
        // globex's resumption later finds it unknown and asks for a snapshot.
        assert!(!cache.apply(&event("globex", "tenant", "globex", 3, TenantEvent::Resumed)));
        cache.replace(vec![held("initech", '9', 1), held("globex", 'c', 1)]);
        assert!(cache.principal(&digest('c')).is_some());
    }

    #[test]
    fn a_suspended_tenant_grants_nothing_until_resumed() {
        let cache = IdentityCache::default();
        let acme = TenantId::parse("acme").unwrap();
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 1, client_created('a', &["x"]))));
        assert!(cache.apply(&event("globex", "mcp_client", "cursor", 1, client_created('c', &["x"]))));
        assert!(cache.apply(&event("acme", "tenant", "acme", 2, TenantEvent::Suspended)));
        assert!(cache.principal(&digest('a')).is_none(), "refused at once");
        assert!(cache.by_subject(&acme, "client:cursor").is_none());
        assert!(cache.principal(&digest('c')).is_some(), "other tenants are untouched");
        // Rotating while suspended still grants nothing.
        let rotated = McpClientEvent::TokenRotated { token: digest('b') };
        assert!(cache.apply(&event("acme", "mcp_client", "cursor", 2, rotated)));
        assert!(cache.principal(&digest('b')).is_none());
        assert!(cache.apply(&event("acme", "tenant", "acme", 3, TenantEvent::Resumed)));
        assert!(cache.principal(&digest('b')).is_some(), "granted again");
        assert!(cache.principal(&digest('a')).is_none(), "the rotated-out token stays refused");
        // Resuming a tenant this cache never saw suspended asks for a snapshot.
        assert!(!cache.apply(&event("initech", "tenant", "initech", 3, TenantEvent::Resumed)));
        // Operators are not identities of the MCP endpoints.
        let operator = HeldToken {
            digest: digest('e').as_str().into(),
            version: 1,
            holder: TokenHolder::Operator { name: "operator".into() },
        };
        cache.replace(vec![operator]);
        assert!(cache.principal(&digest('e')).is_none());
    }
}
