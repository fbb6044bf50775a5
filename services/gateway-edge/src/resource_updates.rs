//! `resources/subscribe` across the gateway: each edge remembers which of its sessions
//! subscribed to which upstream resource; a worker subscribes upstream and publishes the
//! upstream's `notifications/resources/updated` on `PREFIX.updated.TENANT.SERVER`; every edge
//! tells its own subscribed sessions, under the URI each of them used.

#![allow(deprecated)] // resources/subscribe and resources/updated: the session era's way

use canopy_bus::Bus;
use canopy_mcp::call::ResourceUpdated;
use futures::StreamExt;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::{Peer, RoleServer};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

struct Subscription {
    /// The subscribing session (one gateway handler per session).
    session: uuid::Uuid,
    tenant: String,
    server: String,
    /// The upstream's own URI.
    uri: String,
    /// The URI the session subscribed with (e.g. `canopy://server/<uri>` on `/mcp`).
    exposed: String,
    peer: Peer<RoleServer>,
}

#[derive(Default)]
pub struct ResourceSubscriptions {
    inner: Mutex<Vec<Subscription>>,
}

impl ResourceSubscriptions {
    pub fn add(
        &self,
        session: uuid::Uuid,
        tenant: &str,
        server: &str,
        uri: &str,
        exposed: &str,
        peer: Peer<RoleServer>,
    ) {
        let mut inner = self.inner.lock().expect("subscriptions lock");
        inner.retain(|s| !s.peer.is_transport_closed());
        inner.push(Subscription {
            session,
            tenant: tenant.into(),
            server: server.into(),
            uri: uri.into(),
            exposed: exposed.into(),
            peer,
        });
    }

    /// Removes a session's subscription to `exposed`.
    pub fn remove(&self, session: uuid::Uuid, exposed: &str) {
        let mut inner = self.inner.lock().expect("subscriptions lock");
        inner.retain(|s| !(s.session == session && s.exposed == exposed) && !s.peer.is_transport_closed());
    }

    fn matching(&self, update: &ResourceUpdated) -> Vec<(String, Peer<RoleServer>)> {
        let mut inner = self.inner.lock().expect("subscriptions lock");
        inner.retain(|s| !s.peer.is_transport_closed());
        inner
            .iter()
            .filter(|s| s.tenant == update.tenant && s.server == update.server && s.uri == update.uri)
            .map(|s| (s.exposed.clone(), s.peer.clone()))
            .collect()
    }
}

/// Fans upstream resource updates out to this edge's subscribed sessions until `shutdown`.
/// An upstream's `list_changed` that changed nothing the gateway records still reaches the
/// clients (the upstream's word is relayed, and a client that lists again loses nothing).
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
            cache.announce(tenant, server);
        }
    }
}

pub async fn run_resource_updates(bus: Bus, subscriptions: Arc<ResourceSubscriptions>, shutdown: CancellationToken) {
    let mut updates = match bus.client.subscribe(bus.subjects.resource_updated_all()).await {
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
        for (exposed, peer) in subscriptions.matching(&update) {
            let _ = peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(exposed)).await;
        }
    }
}
