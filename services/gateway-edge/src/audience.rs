//! Who may hear a notification: `list_changed` and `resources/updated` are appended to
//! sessions' streams by whichever edge takes the change, far from any request, so the principal
//! comes from the session's owner ([`crate::bearer`]) as that identity is now (its allow list
//! may have changed since the session opened; a deleted identity hears nothing). Development
//! mode has one principal, which hears everything of its tenant.

use crate::access::Access;
use crate::bearer::{Owner, SessionOwners};
use crate::cache::CatalogCache;
use crate::redis_store::RedisStores;
use crate::Mode;
use canopy_domain::TenantId;
use canopy_policy::Principal;
use std::sync::Arc;

pub struct Audience {
    mode: Mode,
    cache: Arc<CatalogCache>,
    owners: SessionOwners,
}

impl Audience {
    pub fn new(mode: Mode, cache: Arc<CatalogCache>, stores: RedisStores) -> Self {
        Self { mode, cache, owners: SessionOwners::new(stores) }
    }

    /// Those of `sessions` (of `tenant`, each with what the notification says to it) whose
    /// principal `hears` it. Sessions whose owner cannot be read are left out (and logged).
    pub(crate) async fn filter<T>(
        &self,
        tenant: &str,
        sessions: Vec<(String, T)>,
        hears: impl Fn(&Access, &T) -> bool,
    ) -> Vec<(String, T)> {
        let Ok(tenant) = TenantId::parse(tenant.to_string()) else { return vec![] };
        if self.mode == Mode::Development {
            let Some(access) = Access::new(&self.cache, Arc::new(Principal::development())) else { return vec![] };
            return sessions.into_iter().filter(|(_, what)| hears(&access, what)).collect();
        }
        let ids: Vec<String> = sessions.iter().map(|(id, _)| id.clone()).collect();
        let owners = match self.owners.owners(&ids).await {
            Ok(owners) => owners,
            Err(e) => {
                tracing::warn!(error = %e, "sessions' owners not readable; notifications not sent");
                return vec![];
            }
        };
        sessions
            .into_iter()
            .zip(owners)
            .filter_map(|(session, owner)| {
                let access = self.access_of(&tenant, owner?)?;
                hears(&access, &session.1).then_some(session)
            })
            .collect()
    }

    fn access_of(&self, tenant: &TenantId, owner: Owner) -> Option<Access> {
        if owner.tenant != tenant.as_str() {
            return None;
        }
        Access::new(&self.cache, owner.principal(self.cache.identities())?)
    }
}
