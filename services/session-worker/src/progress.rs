//! What an upstream says to the caller of a call while it runs, relayed through a shared
//! upstream connection. rmcp puts its own progress token on every request it sends upstream;
//! this maps each such token to the call's client subject, so `notifications/progress` reaches
//! the one caller whose call it belongs to, and no other. A server-to-client request from a
//! Streamable HTTP upstream arrives on the response stream of the request it belongs to, which
//! [`ActiveCalls::by_request`] finds. Log messages, and requests on stdio or legacy SSE, carry no
//! such marker: [`ActiveCalls`] relays them only when exactly one call is in flight on the
//! connection, and otherwise drops (logs) or refuses (requests) them, because delivering one
//! client's messages to another is worse than not delivering them.
//!
//! A call's reply waits until the progress and log notifications its upstream sent before the
//! result have been relayed ([`Tally`]: counted where the transport reads them, since rmcp hands
//! them to their handlers in tasks of their own), so the caller hears them first.

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
    bus: Option<canopy_bus::Bus>,
    routes: Mutex<HashMap<String, String>>,
    early: Mutex<std::collections::VecDeque<(String, ProgressNotificationParam)>>,
}

fn key(token: &ProgressToken) -> String {
    serde_json::to_string(token).unwrap_or_default()
}

impl ProgressRoutes {
    pub fn new(bus: canopy_bus::Bus) -> Self {
        Self { bus: Some(bus), routes: Mutex::default(), early: Mutex::default() }
    }

    pub fn bus(&self) -> Option<canopy_bus::Bus> {
        self.bus.clone()
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
        let Some(bus) = &self.bus else { return };
        send_to_client(bus, subject, &progress_message(params.progress, params.total, params.message)).await;
    }
}

/// A `notifications/progress` for the caller, who puts its own progress token on it.
pub fn progress_message(progress: f64, total: Option<f64>, message: Option<String>) -> ToClient {
    ToClient::Progress(ProgressUpdate { progress, total, message })
}

/// Sends what a call's server says to its caller while the call runs (progress, a log
/// message) on the call's client subject ([`canopy_bus::calls::to_client`]: in process to a
/// caller of this process): the one path for upstreams and built-in servers. Best effort: a
/// message that cannot be sent is logged at debug level and dropped.
pub async fn send_to_client(bus: &canopy_bus::Bus, subject: &str, message: &ToClient) {
    let payload = serde_json::to_vec(message).expect("client messages serialise");
    if let Err(e) = canopy_bus::calls::to_client(bus, subject, payload.into()).await {
        tracing::debug!(error = %e, "a message to the caller could not be relayed");
    }
}

/// The notifications an upstream connection relays to callers (progress, log messages), as
/// counted where they arrive and where they have been handled. rmcp hands notifications to
/// their handlers in tasks of their own, while it hands a response to its waiting request
/// directly, so a result can be in before the progress the upstream sent ahead of it has been
/// relayed. The connection's transport counts each such notification as it reads it
/// ([`Tally::arrived`], in the upstream's order, so before the response that follows it), the
/// handler when it is done with it ([`Tally::handled`]), and a call waits for the two to meet
/// ([`Tally::settled`]) before it replies: its caller then has everything the upstream said
/// before the result, without relying on how tasks are scheduled.
#[derive(Default)]
pub struct Tally {
    arrived: std::sync::atomic::AtomicU64,
    handled: std::sync::atomic::AtomicU64,
    done: tokio::sync::Notify,
}

/// How long a reply waits at most for the notifications that arrived before it: a handler
/// that cannot deliver (its caller's channel stalls) does not hold the reply for longer.
const SETTLE_AT_MOST: std::time::Duration = std::time::Duration::from_millis(500);

impl Tally {
    /// Whether rmcp hands `notification` to a handler that ends with [`Tally::handled`].
    pub fn relayed(notification: &rmcp::model::ServerNotification) -> bool {
        use rmcp::model::ServerNotification as N;
        matches!(notification, N::ProgressNotification(_) | N::LoggingMessageNotification(_))
    }

    pub fn arrived(&self) {
        self.arrived.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn handled(&self) {
        self.handled.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.done.notify_waiters();
    }

    /// Returns once every notification that arrived before this call has been handled (or
    /// after [`SETTLE_AT_MOST`]). Costs nothing when none is pending.
    pub async fn settled(&self) {
        use std::sync::atomic::Ordering;
        let target = self.arrived.load(Ordering::Acquire);
        let wait = async {
            loop {
                let done = self.done.notified();
                tokio::pin!(done);
                done.as_mut().enable();
                if self.handled.load(Ordering::Acquire) >= target {
                    return;
                }
                done.await;
            }
        };
        if tokio::time::timeout(SETTLE_AT_MOST, wait).await.is_err() {
            tracing::debug!("notifications of an upstream were not relayed before its reply");
        }
    }
}

/// A transport that counts, in [`Tally`], the notifications it reads that are relayed.
pub struct Counted<T> {
    inner: T,
    tally: Arc<Tally>,
}

impl<T> Counted<T> {
    pub fn new(inner: T, tally: Arc<Tally>) -> Self {
        Self { inner, tally }
    }
}

impl<T: rmcp::transport::Transport<rmcp::RoleClient>> rmcp::transport::Transport<rmcp::RoleClient> for Counted<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: rmcp::model::ClientJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<rmcp::model::ServerJsonRpcMessage> {
        let message = self.inner.receive().await;
        if let Some(rmcp::model::JsonRpcMessage::Notification(n)) = &message {
            if Tally::relayed(&n.notification) {
                self.tally.arrived();
            }
        }
        message
    }

    fn close(&mut self) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
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

#[cfg(test)]
mod tests {
    use super::Tally;
    use std::sync::Arc;
    use std::time::Duration;

    /// A reply waits for the notifications that arrived before it to be relayed, and only for
    /// those: one that arrives later does not hold it.
    #[tokio::test]
    async fn a_reply_waits_for_the_notifications_read_before_it() {
        let tally = Arc::new(Tally::default());
        tokio::time::timeout(Duration::from_millis(50), tally.settled()).await.expect("nothing pending: at once");
        tally.arrived();
        tally.arrived();
        let relayed = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (t, r) = (tally.clone(), relayed.clone());
        tokio::spawn(async move {
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                t.handled();
            }
        });
        tally.settled().await;
        assert_eq!(relayed.load(std::sync::atomic::Ordering::SeqCst), 2, "both relayed before the reply");
        tally.arrived(); // one more read: the next reply waits for it
        let later = tally.clone();
        let pending = tokio::spawn(async move { later.settled().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!pending.is_finished(), "a notification read but not relayed holds the next reply");
        tally.handled();
        tokio::time::timeout(Duration::from_millis(200), pending).await.expect("released once relayed").unwrap();
    }
}
