//! What an upstream says to the caller of a call while it runs, relayed through a shared
//! upstream connection. rmcp puts its own progress token on every request it sends upstream;
//! this maps each such token to the call's client subject, so `notifications/progress` reaches
//! the one caller whose call it belongs to, and no other. A server-to-client request from a
//! Streamable HTTP upstream arrives on the response stream of the request it belongs to, which
//! [`ActiveCalls::by_request`] finds. Log messages, and requests on stdio or legacy SSE, carry no
//! such marker: [`ActiveCalls`] relays them only when exactly one call is in flight on the
//! connection, and otherwise drops (logs) or refuses (requests) them, because delivering one
//! client's messages to another is worse than not delivering them.

use canopy_mcp::call::{ProgressUpdate, ToClient};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Progress that arrived for a token before its call registered the route (an HTTP upstream
/// can send progress before rmcp's send returns) is held until the route appears.
const MAX_EARLY: usize = 256;

#[derive(Default)]
pub struct ProgressRoutes {
    nats: Option<async_nats::Client>,
    routes: Mutex<HashMap<String, String>>,
    early: Mutex<std::collections::VecDeque<(String, ProgressNotificationParam)>>,
}

fn key(token: &ProgressToken) -> String {
    serde_json::to_string(token).unwrap_or_default()
}

impl ProgressRoutes {
    pub fn new(nats: async_nats::Client) -> Self {
        Self { nats: Some(nats), routes: Mutex::default(), early: Mutex::default() }
    }

    pub fn nats(&self) -> Option<async_nats::Client> {
        self.nats.clone()
    }

    /// Routes progress under `token` to `subject` until the returned guard is dropped, first
    /// delivering whatever arrived for it early.
    pub async fn route(self: &Arc<Self>, token: &ProgressToken, subject: String) -> RouteGuard {
        let key = key(token);
        let early: Vec<ProgressNotificationParam> = {
            let mut routes = self.routes.lock().expect("routes lock");
            routes.insert(key.clone(), subject.clone());
            let mut early = self.early.lock().expect("early lock");
            let (mine, others): (Vec<_>, Vec<_>) = early.drain(..).partition(|(k, _)| *k == key);
            early.extend(others);
            mine.into_iter().map(|(_, p)| p).collect()
        };
        for params in early {
            self.publish(&subject, params).await;
        }
        RouteGuard { routes: self.clone(), key }
    }

    pub async fn forward(&self, params: ProgressNotificationParam) {
        let key = key(&params.progress_token);
        let subject = {
            let routes = self.routes.lock().expect("routes lock");
            let subject = routes.get(&key).cloned();
            if subject.is_none() {
                let mut early = self.early.lock().expect("early lock");
                if early.len() == MAX_EARLY {
                    early.pop_front();
                }
                early.push_back((key, params.clone()));
            }
            subject
        };
        if let Some(subject) = subject {
            self.publish(&subject, params).await;
        }
    }

    async fn publish(&self, subject: &str, params: ProgressNotificationParam) {
        let Some(nats) = &self.nats else { return };
        send_to_client(nats, subject, &progress_message(params.progress, params.total, params.message)).await;
    }
}

/// A `notifications/progress` for the caller, who puts its own progress token on it.
pub fn progress_message(progress: f64, total: Option<f64>, message: Option<String>) -> ToClient {
    ToClient::Progress(ProgressUpdate { progress, total, message })
}

/// Sends what a call's server says to its caller while the call runs (progress, a log
/// message) on the call's client subject: the one path for upstreams and built-in servers.
/// Best effort: a message that cannot be sent is logged at debug level and dropped.
pub async fn send_to_client(nats: &async_nats::Client, subject: &str, message: &ToClient) {
    let payload = serde_json::to_vec(message).expect("client messages serialise");
    if let Err(e) = canopy_bus::payload::publish(nats, subject.to_string(), payload.into()).await {
        tracing::debug!(error = %e, "a message to the caller could not be relayed");
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

    /// Cancels call `call_id`; false when it does not run here.
    pub fn cancel(&self, call_id: &str) -> bool {
        match self.calls.lock().expect("in-flight lock").get(call_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
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

/// One call in flight on an upstream connection, as server-to-client requests see it.
#[derive(Clone)]
pub struct ActiveCall {
    /// The call's client subject.
    pub subject: String,
    /// Set once the upstream asked this call's client something: the reply then also goes to
    /// the client subject ([`canopy_mcp::call::ToClient::Reply`]).
    pub asked: Arc<std::sync::atomic::AtomicBool>,
    /// When the caller stops waiting: a question to the client waits no longer than this.
    pub deadline: tokio::time::Instant,
    /// The id of the call's request upstream: Streamable HTTP upstreams send their questions
    /// for it on its response stream, which tells them apart from other calls' questions.
    pub request: rmcp::model::RequestId,
}

/// The calls in flight on one upstream connection.
#[derive(Default)]
pub struct ActiveCalls {
    calls: Mutex<Vec<ActiveCall>>,
}

impl ActiveCalls {
    pub fn enter(self: &Arc<Self>, call: ActiveCall) -> ActiveGuard {
        let subject = call.subject.clone();
        self.calls.lock().expect("active lock").push(call);
        ActiveGuard { owner: self.clone(), subject }
    }

    /// The one call this connection serves right now, if there is exactly one.
    pub fn sole(&self) -> Option<ActiveCall> {
        let calls = self.calls.lock().expect("active lock");
        (calls.len() == 1).then(|| calls[0].clone())
    }

    /// The call whose upstream request has this id.
    pub fn by_request(&self, id: &rmcp::model::RequestId) -> Option<ActiveCall> {
        self.calls.lock().expect("active lock").iter().find(|c| c.request == *id).cloned()
    }
}

pub struct ActiveGuard {
    owner: Arc<ActiveCalls>,
    subject: String,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut calls = self.owner.calls.lock().expect("active lock");
        if let Some(i) = calls.iter().position(|c| c.subject == self.subject) {
            calls.remove(i);
        }
    }
}
