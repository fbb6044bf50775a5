//! `resources/subscribe` across the gateway: subscriptions live in Redis
//! (`PREFIX:mcp:rsubs:TENANT:SERVER:URI`, each subscribed session with the URI it used), so
//! they outlast the edge that took them; a worker subscribes upstream and publishes the
//! upstream's `notifications/resources/updated` on `PREFIX.updated.TENANT.SERVER`, which one
//! edge (a NATS queue group) turns into one `notifications/resources/updated` per subscribed
//! session, appended to the session's standalone stream for whichever edge holds its GET.

#![allow(deprecated)] // resources/subscribe and resources/updated: the session era's way

use crate::audience::Audience;
use crate::redis_store::RedisStores;
use canopy_bus::Bus;
use canopy_mcp::call::ResourceUpdated;
use futures::StreamExt;
use rmcp::model::{
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerJsonRpcMessage, ServerNotification,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct ResourceSubscriptions {
    stores: RedisStores,
}

impl ResourceSubscriptions {
    pub fn new(stores: RedisStores) -> Self {
        Self { stores }
    }

    /// Tenant and server names hold no ':'; the URI comes last.
    fn key(&self, tenant: &str, server: &str, uri: &str) -> String {
        self.stores.key(&format!("rsubs:{tenant}:{server}:{uri}"))
    }

    /// Records that `session` follows the upstream resource `uri` under the name `exposed`.
    pub(crate) async fn add(
        &self,
        session: &str,
        tenant: &str,
        server: &str,
        uri: &str,
        exposed: &str,
    ) -> Result<(), redis::RedisError> {
        let key = self.key(tenant, server, uri);
        redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(session)
            .arg(exposed)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.stores.ttl_secs())
            .ignore()
            .query_async(&mut self.stores.connection())
            .await
    }

    /// Removes a session's subscription.
    pub(crate) async fn remove(
        &self,
        session: &str,
        tenant: &str,
        server: &str,
        uri: &str,
    ) -> Result<(), redis::RedisError> {
        let _: i64 = redis::cmd("HDEL")
            .arg(self.key(tenant, server, uri))
            .arg(session)
            .query_async(&mut self.stores.connection())
            .await?;
        Ok(())
    }

    /// The live sessions following the updated resource, each with the URI it subscribed with.
    async fn matching(&self, update: &ResourceUpdated) -> Result<Vec<(String, String)>, redis::RedisError> {
        let key = self.key(&update.tenant, &update.server, &update.uri);
        let mut redis = self.stores.connection();
        let subscribed: Vec<(String, String)> = redis::cmd("HGETALL").arg(&key).query_async(&mut redis).await?;
        let (sessions, exposed): (Vec<String>, Vec<String>) = subscribed.into_iter().unzip();
        let live: std::collections::HashSet<String> =
            crate::subscribers::live_sessions(&self.stores, &key, sessions.clone()).await?.into_iter().collect();
        Ok(sessions.into_iter().zip(exposed).filter(|(session, _)| live.contains(session)).collect())
    }
}

/// Fans upstream resource updates out to this edge's subscribed sessions until `shutdown`.
/// An upstream's `list_changed` that changed nothing the gateway records still reaches the
/// clients (the upstream's word is relayed, and a client that lists again loses nothing).
/// Every edge hears it (its 2026-07-28 `listen` streams want it); the message's id, the same
/// on every edge, lets one edge tell the sessions.
pub async fn run_list_changes(bus: Bus, cache: Arc<crate::CatalogCache>, shutdown: CancellationToken) {
    let mut changes = match bus.client.subscribe(bus.subjects.list_changed_all()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot receive upstreams' list_changed");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = changes.next() => m,
        };
        let Some(message) = message else { return };
        let mut parts = message.subject.rsplitn(3, '.');
        if let (Some(server), Some(tenant)) = (parts.next(), parts.next()) {
            let id = match std::str::from_utf8(&message.payload) {
                Ok(id) if !id.is_empty() => id.to_string(),
                // From an api that sends no id: each edge tells the sessions.
                _ => uuid::Uuid::new_v4().to_string(),
            };
            cache.announce(tenant, server, &id);
        }
    }
}

/// Tells subscribed sessions of upstream resource updates until `shutdown`: those whose
/// principal may still see the resource.
pub async fn run_resource_updates(
    bus: Bus,
    subscriptions: Arc<ResourceSubscriptions>,
    audience: Arc<Audience>,
    shutdown: CancellationToken,
) {
    // One edge of the deployment takes each update.
    let subject = bus.subjects.resource_updated_all();
    let mut updates = match bus.client.queue_subscribe(subject, "gateway-edge".into()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot receive resource updates");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = updates.next() => m,
        };
        let Some(message) = message else { return };
        let Ok(update) = serde_json::from_slice::<ResourceUpdated>(&message.payload) else { continue };
        let subscribed = match subscriptions.matching(&update).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, uri = update.uri, "sessions not told of a resource update");
                continue;
            }
        };
        let target = canopy_policy::Target::resource(&update.server, &update.uri);
        let subscribed = audience.filter(&update.tenant, subscribed, |access, _| access.may_discover(&target)).await;
        for (session, exposed) in subscribed {
            let updated = ServerJsonRpcMessage::notification(ServerNotification::ResourceUpdatedNotification(
                ResourceUpdatedNotification::new(ResourceUpdatedNotificationParam::new(exposed)),
            ));
            if let Err(e) = subscriptions.stores.append_standalone(&session, &[updated]).await {
                tracing::warn!(error = %e, session, "session not told of a resource update");
            }
        }
    }
}
