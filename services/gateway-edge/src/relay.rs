//! Sending one request to a session-worker on behalf of a client session, with what travels
//! alongside it on the call's client subject: the upstream's progress (under the client's own
//! progress token), its log messages (at the session's log level), and its requests to the
//! client (sampling, elicitation, roots), which the client answers. A client that cancels (or,
//! in 2026-07-28, closes its stream) cancels the upstream request.

// Logging, sampling and roots are deprecated in 2026-07-28 but used before it: relaying them is
// the gateway's job.
#![allow(deprecated)]

use crate::EdgeState;
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest, ClientAnswer, ToClient};
use futures::StreamExt;
use rmcp::model::{LoggingLevel, ProgressNotificationParam, ProgressToken};
use rmcp::service::{RequestContext, ServiceError};
use rmcp::{Peer, RoleServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

/// The lowest level a session wants to see; `None` until it calls `logging/setLevel`.
pub type SessionLogLevel = Arc<Mutex<Option<LoggingLevel>>>;

pub async fn relay(
    state: &EdgeState,
    mut request: CallRequest,
    context: &RequestContext<RoleServer>,
    log_level: &SessionLogLevel,
) -> CallReply {
    request.call_id = uuid::Uuid::now_v7().to_string();
    let bus = &state.bus;
    request.client_subject = Some(bus.subjects.call_client(&request.call_id));
    let (channel, messages) = state.channels.open(&request.call_id);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let to_client = ToClientForwarder {
        peer: context.peer.clone(),
        token: context.meta.get_progress_token(),
        log_level: log_level.clone(),
        nats: bus.client.clone(),
    };
    let forwarder = Some((stop_tx, tokio::spawn(to_client.run(messages, stop_rx))));
    let reply = tokio::select! {
        reply = canopy_bus::calls::request(bus, &request) => reply,
        _ = context.ct.cancelled() => {
            canopy_bus::calls::cancel(bus, &request.call_id).await;
            CallReply::Error { code: CallErrorCode::Cancelled, message: "cancelled by the client".into(), rpc: None }
        }
    };
    if let Some((stop, task)) = forwarder {
        let _ = stop.send(());
        let _ = task.await;
    }
    drop(channel);
    reply
}

struct ToClientForwarder {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    log_level: SessionLogLevel,
    nats: async_nats::Client,
}

fn severity(level: LoggingLevel) -> u8 {
    level as u8
}

impl ToClientForwarder {
    async fn run(
        self,
        mut messages: UnboundedReceiver<async_nats::Message>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        loop {
            tokio::select! {
                m = messages.recv() => match m {
                    Some(m) => self.forward(m).await,
                    None => return,
                },
                _ = &mut stop => {
                    // The reply is in: deliver what already arrived, so it precedes the result.
                    // A message can still be between the edge's NATS subscription task and this
                    // channel: let it run a few times before giving up on stragglers.
                    for _ in 0..4 {
                        while let Ok(m) = messages.try_recv() {
                            self.forward(m).await;
                        }
                        tokio::task::yield_now().await;
                    }
                    while let Ok(m) = messages.try_recv() {
                        self.forward(m).await;
                    }
                    return;
                }
            }
        }
    }

    #[allow(deprecated)] // logging, sampling and roots: deprecated in 2026-07-28, used before it
    async fn forward(&self, message: async_nats::Message) {
        let Ok(item) = serde_json::from_slice::<ToClient>(&message.payload) else { return };
        match item {
            ToClient::Progress(u) => {
                if let Some(token) = &self.token {
                    let mut p = ProgressNotificationParam::new(token.clone(), u.progress);
                    p.total = u.total;
                    p.message = u.message;
                    let _ = self.peer.notify_progress(p).await;
                }
            }
            ToClient::Log { params } => {
                let Ok(params) = serde_json::from_value::<rmcp::model::LoggingMessageNotificationParam>(params) else {
                    return;
                };
                let wanted = *self.log_level.lock().expect("log level lock");
                if wanted.is_none_or(|min| severity(params.level) >= severity(min)) {
                    let _ = self.peer.notify_logging_message(params).await;
                }
            }
            ToClient::Request { method, params } => {
                let answer = self.ask(&method, params).await;
                if let Some(reply) = message.reply {
                    let payload = serde_json::to_vec(&answer).expect("answers serialise");
                    let _ = self.nats.publish(reply, payload.into()).await;
                }
            }
        }
    }

    #[allow(deprecated)]
    async fn ask(&self, method: &str, params: serde_json::Value) -> ClientAnswer {
        fn answer<T: serde::Serialize>(r: Result<T, ServiceError>) -> ClientAnswer {
            match r {
                Ok(v) => ClientAnswer::Result { result: serde_json::to_value(v).unwrap_or_default() },
                Err(ServiceError::McpError(e)) => {
                    ClientAnswer::Error { code: e.code.0, message: e.message.to_string() }
                }
                Err(e) => ClientAnswer::Error { code: -32603, message: e.to_string() },
            }
        }
        let malformed =
            |e: serde_json::Error| ClientAnswer::Error { code: -32602, message: format!("malformed {method}: {e}") };
        match method {
            "sampling/createMessage" => match serde_json::from_value(params) {
                Ok(p) => answer(self.peer.create_message(p).await),
                Err(e) => malformed(e),
            },
            "elicitation/create" => match serde_json::from_value(params) {
                Ok(p) => answer(self.peer.create_elicitation(p).await),
                Err(e) => malformed(e),
            },
            "roots/list" => answer(self.peer.list_roots().await),
            other => ClientAnswer::Error { code: -32601, message: format!("{other} is not relayed") },
        }
    }
}

/// The calls of this edge that are listening to their upstream, by call id. One subscription
/// per edge (`PREFIX.client.*`) feeds them, so a call costs no subscribe/unsubscribe.
#[derive(Default)]
pub struct ClientChannels {
    calls: Mutex<HashMap<String, UnboundedSender<async_nats::Message>>>,
}

pub struct ChannelGuard<'a> {
    owner: &'a ClientChannels,
    call_id: String,
}

impl Drop for ChannelGuard<'_> {
    fn drop(&mut self) {
        self.owner.calls.lock().expect("channels lock").remove(&self.call_id);
    }
}

impl ClientChannels {
    fn open(&self, call_id: &str) -> (ChannelGuard<'_>, UnboundedReceiver<async_nats::Message>) {
        let (tx, rx) = unbounded_channel();
        self.calls.lock().expect("channels lock").insert(call_id.to_string(), tx);
        (ChannelGuard { owner: self, call_id: call_id.to_string() }, rx)
    }

    fn deliver(&self, message: async_nats::Message) {
        let Some(call_id) = message.subject.rsplit('.').next() else { return };
        if let Some(tx) = self.calls.lock().expect("channels lock").get(call_id) {
            let _ = tx.send(message);
        }
    }
}

/// Routes what upstreams say to the calls of this edge until `shutdown`.
pub async fn run_client_channels(bus: canopy_bus::Bus, channels: Arc<ClientChannels>, shutdown: CancellationToken) {
    let mut messages = match bus.client.subscribe(bus.subjects.call_clients_all()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot receive progress, logs or requests for calls");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            m = messages.next() => match m {
                Some(m) => channels.deliver(m),
                None => return,
            },
        }
    }
}
