//! Connected sessions that want `notifications/*/list_changed`: when the catalog of a server
//! changes, every session of that tenant whose endpoint shows that server is told, once per
//! list kind. Closed sessions are dropped on the way.

use crate::cache::{CatalogCache, CatalogChange};
use crate::scope::Scope;
use rmcp::{Peer, RoleServer};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

struct Subscriber {
    tenant: String,
    scope: Scope,
    peer: Peer<RoleServer>,
}

#[derive(Default)]
pub struct Subscribers {
    inner: Mutex<Vec<Subscriber>>,
}

impl Subscribers {
    pub fn add(&self, tenant: String, scope: Scope, peer: Peer<RoleServer>) {
        let mut inner = self.inner.lock().expect("subscribers lock");
        inner.retain(|s| !s.peer.is_transport_closed());
        inner.push(Subscriber { tenant, scope, peer });
    }

    fn matching(&self, change: &CatalogChange) -> Vec<Peer<RoleServer>> {
        let mut inner = self.inner.lock().expect("subscribers lock");
        inner.retain(|s| !s.peer.is_transport_closed());
        inner
            .iter()
            .filter(|s| s.tenant == change.tenant && s.scope.includes(&change.server))
            .map(|s| s.peer.clone())
            .collect()
    }
}

/// Fans catalog changes out to subscribed sessions until `shutdown`.
pub async fn run_notifier(cache: Arc<CatalogCache>, subscribers: Arc<Subscribers>, shutdown: CancellationToken) {
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
        for peer in subscribers.matching(&change) {
            // A failed send means the session is gone; `matching` drops it next time.
            let _ = peer.notify_tool_list_changed().await;
            let _ = peer.notify_prompt_list_changed().await;
            let _ = peer.notify_resource_list_changed().await;
        }
    }
}
