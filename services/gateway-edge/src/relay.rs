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
use futures::{FutureExt, StreamExt};
use rmcp::model::{LoggingLevel, ProgressNotificationParam, ProgressToken};
use rmcp::service::{RequestContext, ServiceError};
use rmcp::{Peer, RoleServer};
use std::sync::{Arc, Mutex};

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
    let subject = bus.subjects.progress(&request.call_id);
    let mut forwarder = None;
    match bus.client.subscribe(subject.clone()).await {
        Ok(subscription) => {
            request.client_subject = Some(subject);
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let to_client = ToClientForwarder {
                peer: context.peer.clone(),
                token: context.meta.get_progress_token(),
                log_level: log_level.clone(),
                nats: bus.client.clone(),
            };
            forwarder = Some((stop_tx, tokio::spawn(to_client.run(subscription, stop_rx))));
        }
        Err(e) => tracing::warn!(error = %e, "cannot relay progress, logs or requests for this call"),
    }
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
    async fn run(self, mut subscription: async_nats::Subscriber, mut stop: tokio::sync::oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                m = subscription.next() => match m {
                    Some(m) => self.forward(m).await,
                    None => return,
                },
                _ = &mut stop => {
                    // The reply is in: deliver what already arrived, so it precedes the result.
                    while let Some(Some(m)) = subscription.next().now_or_never() {
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
