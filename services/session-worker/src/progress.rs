//! Progress and cancellation of calls relayed through a shared upstream connection. rmcp puts
//! its own progress token on every request it sends upstream; this maps each such token to the
//! subject where the call's caller listens, so an upstream's `notifications/progress` reaches
//! the one caller whose call it belongs to, and no other.

use canopy_mcp::call::ProgressUpdate;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct ProgressRoutes {
    nats: Option<async_nats::Client>,
    routes: Mutex<HashMap<String, String>>,
}

fn key(token: &ProgressToken) -> String {
    serde_json::to_string(token).unwrap_or_default()
}

impl ProgressRoutes {
    pub fn new(nats: async_nats::Client) -> Self {
        Self { nats: Some(nats), routes: Mutex::default() }
    }

    /// Routes progress under `token` to `subject` until the returned guard is dropped.
    pub fn route(self: &Arc<Self>, token: &ProgressToken, subject: String) -> RouteGuard {
        let key = key(token);
        self.routes.lock().expect("routes lock").insert(key.clone(), subject);
        RouteGuard { routes: self.clone(), key }
    }

    pub async fn forward(&self, params: ProgressNotificationParam) {
        let subject = self.routes.lock().expect("routes lock").get(&key(&params.progress_token)).cloned();
        let (Some(subject), Some(nats)) = (subject, &self.nats) else { return };
        let update = ProgressUpdate { progress: params.progress, total: params.total, message: params.message };
        let _ = nats.publish(subject, serde_json::to_vec(&update).expect("updates serialise").into()).await;
    }
}

pub struct RouteGuard {
    routes: Arc<ProgressRoutes>,
    key: String,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.routes.routes.lock().expect("routes lock").remove(&self.key);
    }
}

/// Calls running on this worker, by call id, so a cancellation can reach them.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<HashMap<String, CancellationToken>>,
}

impl InFlight {
    pub fn start(self: &Arc<Self>, call_id: &str) -> InFlightGuard {
        let token = CancellationToken::new();
        self.calls.lock().expect("in-flight lock").insert(call_id.to_string(), token.clone());
        InFlightGuard { owner: self.clone(), call_id: call_id.to_string(), token }
    }

    pub fn cancel(&self, call_id: &str) {
        if let Some(token) = self.calls.lock().expect("in-flight lock").get(call_id) {
            token.cancel();
        }
    }
}

pub struct InFlightGuard {
    owner: Arc<InFlight>,
    call_id: String,
    pub token: CancellationToken,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.owner.calls.lock().expect("in-flight lock").remove(&self.call_id);
    }
}
