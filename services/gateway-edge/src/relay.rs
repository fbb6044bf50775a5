//! Sending one request to a session-worker on behalf of a client session, with what travels
//! alongside it on the call's client subject: the upstream's progress (under the client's own
//! progress token), its log messages (at the session's log level), and its requests to the
//! client (sampling, elicitation, roots), which the client answers. A client that cancels (or,
//! in 2026-07-28, closes its stream) cancels the upstream request.
//!
//! All of it travels on the call's own subject, `PREFIX.client.CALL_ID` (in process when the
//! call went to this process's worker: `canopy_bus::calls::LocalCallers`): progress (the
//! upstream's progress token, which rmcp mints per request, mapped back to the caller's), log
//! messages, server-to-client requests (answered over NATS request/reply), and, every second of
//! a call that lasts longer, the worker's `ToClient::Alive`. An edge that hears nothing of a
//! call sent to a worker elsewhere for 4 s (`canopy_mcp::call::SILENT_FOR`) answers it as lost
//! with its worker (`Heard`) instead of waiting for the timeout. A cancellation is published on
//! `PREFIX.cancel.CALL_ID` (`canopy_bus::calls::cancel`); the worker running the call drops it
//! and sends `notifications/cancelled` upstream.

// Logging, sampling and roots are deprecated in 2026-07-28 but used before it: relaying them is
// the gateway's job.
#![allow(deprecated)]

use crate::EdgeState;
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest, ClientAnswer, ToClient};
use futures::StreamExt;
use rmcp::model::{
    ClientCapabilities, LoggingLevel, Notification, ProgressNotificationParam, ProgressToken, ServerNotification,
};
use rmcp::service::{RequestContext, ServiceError};
use rmcp::{Peer, RoleServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The lowest level a session wants to see; `None` until it calls `logging/setLevel`.
pub type SessionLogLevel = Arc<Mutex<Option<LoggingLevel>>>;

/// How long a 2026-07-28 round waits, after the upstream's last question, for more questions
/// before it answers `input_required`: an upstream that asks several things at once sends
/// them back to back, and they belong in one round.
const ROUND_QUIET: Duration = Duration::from_millis(40);

/// Sends an admitted call (`request`, complete: its id and client subject are the admission's)
/// and relays what the upstream says to the client meanwhile.
pub async fn relay(
    state: &EdgeState,
    request: CallRequest,
    context: &RequestContext<RoleServer>,
    log_level: &SessionLogLevel,
) -> CallReply {
    let bus = &state.bus;
    // A call sent to this process's worker hears it in process, in order, before the reply
    // (`canopy_bus::calls::LocalCallers`); that worker cannot die without this edge, so its
    // silence means nothing (and while NATS is down it cannot be heard at all). A call sent
    // over NATS hears its worker there.
    let local = canopy_bus::calls::runs_here(bus);
    let (channel, messages) = state.channels.open(&request.call_id, local);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let heard = Heard::now();
    let to_client = ToClientForwarder {
        peer: context.peer.clone(),
        token: context.meta.get_progress_token(),
        logs: LogFilter::Session(log_level.clone()),
        nats: bus.client.clone(),
    };
    let forwarder = Some((stop_tx, tokio::spawn(to_client.run(messages, stop_rx, heard.clone(), !local))));
    let reply = reply_of(bus, &request, &context.ct, &heard, local).await;
    if let Some((stop, task)) = forwarder {
        let _ = stop.send(());
        let _ = task.await;
    }
    drop(channel);
    reply
}

/// The reply to an admitted call of a session-era client: the worker's, or "cancelled" when the
/// client cancels (`cancelled`), or "lost with its worker" when a worker elsewhere (`!local`)
/// is not heard of (`heard`) for [`canopy_mcp::call::SILENT_FOR`]. Whoever relays what the
/// call says to its client meanwhile keeps `heard` up to date.
pub(crate) async fn reply_of(
    bus: &canopy_bus::Bus,
    request: &CallRequest,
    cancelled: &CancellationToken,
    heard: &Heard,
    local: bool,
) -> CallReply {
    tokio::select! {
        reply = canopy_bus::calls::request(bus, request) => reply,
        _ = cancelled.cancelled() => {
            canopy_bus::calls::cancel(bus, &request.call_id).await;
            CallReply::Error { code: CallErrorCode::Cancelled, message: "cancelled by the client".into(), rpc: None }
        }
        () = heard.silence(), if !local => {
            canopy_bus::calls::cancel(bus, &request.call_id).await;
            canopy_bus::calls::lost_with_its_worker()
        }
    }
}

/// When a call was last heard of on its client subject (any message: progress, a log, a
/// question, [`ToClient::Alive`]), or when it was sent. A worker says a call is alive every
/// [`canopy_mcp::call::ALIVE_EVERY`]; silence for [`canopy_mcp::call::SILENT_FOR`] means the
/// worker is gone.
#[derive(Clone)]
pub(crate) struct Heard(Arc<Mutex<Instant>>);

impl Heard {
    pub(crate) fn now() -> Self {
        Heard(Arc::new(Mutex::new(Instant::now())))
    }

    pub(crate) fn hear(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Instant::now();
        }
    }

    fn last(&self) -> Instant {
        self.0.lock().map(|at| *at).unwrap_or_else(|_| Instant::now())
    }

    /// Returns once nothing was heard for [`canopy_mcp::call::SILENT_FOR`].
    async fn silence(&self) {
        loop {
            let until = self.last() + canopy_mcp::call::SILENT_FOR;
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// One question of an upstream to its client, waiting for the answer on `reply` (the worker's
/// NATS inbox for it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ask {
    pub method: String,
    pub params: serde_json::Value,
    pub reply: String,
}

/// Where a request of a 2026-07-28 client stands when its HTTP request must be answered.
pub enum Relayed {
    /// The call is over.
    Reply(CallReply),
    /// The upstream asks the client: an `input_required` round. The call goes on running on
    /// its worker, waiting for the answers.
    Asks { call_id: String, asks: Vec<Ask> },
    /// The upstream asked only for what the client did not declare; the call was cancelled.
    MissingCapability(ClientCapabilities),
}

/// A call for a 2026-07-28 client, which cannot be asked anything in the middle of a request:
/// when the upstream asks (sampling, elicitation, roots), the HTTP request ends with the
/// questions ([`Relayed::Asks`]) and the call goes on running; [`resume`] carries the answers.
pub async fn relay_stateless(
    state: &EdgeState,
    request: CallRequest,
    context: &RequestContext<RoleServer>,
    deadline: Instant,
) -> Relayed {
    let bus = &state.bus;
    let (_channel, mut messages) = state.channels.open(&request.call_id, false);
    // Over NATS, even with a worker in this process: when the upstream asks, this request ends
    // (`input_required`) and the call must go on without anyone waiting for its reply here,
    // where an in-process call would be cancelled with the future that waits for it.
    let call_id = request.call_id.clone();
    let reply = async move { canopy_bus::calls::request_over_bus(bus, &request).await };
    round(state, &call_id, &mut messages, Some(Box::pin(reply)), context, deadline, true).await
}

/// The next round of a call that asked its 2026-07-28 client something: delivers the answers
/// and waits for the call's result or its next questions. Any edge can do this: the call's
/// messages reach every edge, and the answers go straight to the worker's inboxes.
pub async fn resume(
    state: &EdgeState,
    call_id: &str,
    answers: Vec<(String, ClientAnswer)>,
    context: &RequestContext<RoleServer>,
    deadline: Instant,
) -> Relayed {
    let (_channel, mut messages) = state.channels.open(call_id, false);
    for (reply, answer) in answers {
        if let Err(e) = answer_upstream(&state.bus.client, reply, &answer).await {
            let message = format!("could not deliver the client's answer: {e}");
            return Relayed::Reply(CallReply::Error { code: CallErrorCode::Internal, message, rpc: None });
        }
    }
    round(state, call_id, &mut messages, None, context, deadline, true).await
}

type ReplyFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CallReply> + Send + 'a>>;

fn declares(capabilities: &ClientCapabilities, method: &str) -> bool {
    match method {
        "sampling/createMessage" => capabilities.sampling.is_some(),
        "elicitation/create" => capabilities.elicitation.is_some(),
        "roots/list" => capabilities.roots.is_some(),
        _ => false,
    }
}

fn capability_for(method: &str) -> ClientCapabilities {
    let name = match method {
        "sampling/createMessage" => "sampling",
        "elicitation/create" => "elicitation",
        _ => "roots",
    };
    serde_json::from_value(serde_json::json!({ name: {} })).unwrap_or_default()
}

async fn round(
    state: &EdgeState,
    call_id: &str,
    messages: &mut UnboundedReceiver<async_nats::Message>,
    mut reply: Option<ReplyFuture<'_>>,
    context: &RequestContext<RoleServer>,
    deadline: Instant,
    over_bus: bool,
) -> Relayed {
    let capabilities = context.client_capabilities().unwrap_or_default();
    let forwarder = ToClientForwarder {
        peer: context.peer.clone(),
        token: context.meta.get_progress_token(),
        logs: LogFilter::Request(context.meta.log_level()),
        nats: state.bus.client.clone(),
    };
    let mut asks: Vec<Ask> = Vec::new();
    let mut undeclared: Vec<Ask> = Vec::new();
    let mut quiet: Option<Instant> = None;
    let heard = Heard::now();
    // A call this edge sent to the worker of its own process cannot lose its worker; one that
    // went over NATS, or that it resumes, may run in any process.
    let worker_elsewhere = over_bus || reply.is_none() || !canopy_bus::calls::runs_here(&state.bus);
    let cancel = |why: &'static str| async move {
        canopy_bus::calls::cancel(&state.bus, call_id).await;
        Relayed::Reply(CallReply::Error { code: CallErrorCode::Cancelled, message: why.into(), rpc: None })
    };
    loop {
        tokio::select! {
            // What already arrived (progress, questions) goes before the reply.
            biased;
            finished = async { reply.as_mut().expect("guarded").await }, if reply.is_some() && messages.is_empty() => {
                // Progress the upstream sent just before its result can still be on its way
                // from the edge's NATS subscription: let it arrive first.
                for _ in 0..4 {
                    while let Ok(message) = messages.try_recv() {
                        forwarder.forward(message).await;
                    }
                    tokio::task::yield_now().await;
                }
                return Relayed::Reply(finished);
            }
            message = messages.recv() => {
                let Some(message) = message else { return cancel("the edge is shutting down").await };
                heard.hear();
                if canopy_bus::payload::is_chunked(&message) {
                    // Only a large reply is sent in chunks.
                    let received = canopy_bus::payload::receive_large(&state.bus.client, message).await;
                    let reply = match received.map(|p| serde_json::from_slice::<ToClient>(&p)) {
                        Ok(Ok(ToClient::Reply { reply })) => reply,
                        Ok(_) => continue,
                        Err(e) => {
                            let message = format!("the reply could not be received: {e}");
                            CallReply::Error { code: CallErrorCode::Internal, message, rpc: None }
                        }
                    };
                    return Relayed::Reply(reply);
                }
                match serde_json::from_slice::<ToClient>(&message.payload) {
                    Ok(ToClient::Reply { reply }) => return Relayed::Reply(reply),
                    Ok(ToClient::Request { method, params }) => {
                        let Some(inbox) = message.reply else { continue };
                        let ask = Ask { method, params, reply: inbox.to_string() };
                        if declares(&capabilities, &ask.method) { asks.push(ask) } else { undeclared.push(ask) }
                        quiet = Some(Instant::now() + ROUND_QUIET);
                    }
                    Ok(_) => forwarder.forward(message).await,
                    Err(_) => {}
                }
            }
            _ = tokio::time::sleep_until(quiet.unwrap_or(deadline)), if quiet.is_some() => break,
            _ = context.ct.cancelled() => return cancel("cancelled by the client").await,
            () = heard.silence(), if worker_elsewhere => {
                canopy_bus::calls::cancel(&state.bus, call_id).await;
                return Relayed::Reply(canopy_bus::calls::lost_with_its_worker());
            }
            _ = tokio::time::sleep_until(deadline) => {
                canopy_bus::calls::cancel(&state.bus, call_id).await;
                let message = "the call did not finish in time".to_string();
                return Relayed::Reply(CallReply::Error { code: CallErrorCode::Timeout, message, rpc: None });
            }
        }
    }
    if asks.is_empty() {
        let needed = capability_for(&undeclared[0].method);
        canopy_bus::calls::cancel(&state.bus, call_id).await;
        return Relayed::MissingCapability(needed);
    }
    // What the client cannot answer, the upstream hears at once; the rest goes to the client.
    for ask in undeclared {
        let answer = ClientAnswer::Error {
            code: rmcp::model::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY.0,
            message: format!("the client did not declare the capability {} needs", ask.method),
        };
        let _ = answer_upstream(&state.bus.client, ask.reply, &answer).await;
    }
    Relayed::Asks { call_id: call_id.to_string(), asks }
}

/// Sends a client's answer to an upstream's question to the worker's inbox for it. An answer
/// too large for the bus is replaced by an error saying so, which the upstream gets instead.
async fn answer_upstream(
    nats: &async_nats::Client,
    inbox: String,
    answer: &ClientAnswer,
) -> Result<(), canopy_bus::payload::SendError> {
    let payload = serde_json::to_vec(answer).expect("answers serialise");
    match canopy_bus::payload::publish(nats, inbox.clone(), payload.into()).await {
        Err(canopy_bus::payload::SendError::TooLarge(too_large)) => {
            let answer = ClientAnswer::Error {
                code: rmcp::model::ErrorCode::INVALID_PARAMS.0,
                message: format!("the client's answer is too large: {too_large}"),
            };
            let payload = serde_json::to_vec(&answer).expect("answers serialise");
            canopy_bus::payload::publish(nats, inbox, payload.into()).await
        }
        sent => sent,
    }
}

/// Which upstream log messages a request's client gets.
pub(crate) enum LogFilter {
    /// A session's level, set with `logging/setLevel`; everything until it is set.
    Session(SessionLogLevel),
    /// A 2026-07-28 request's `_meta` log level; none when it has none.
    Request(Option<LoggingLevel>),
}

impl LogFilter {
    fn wants(&self, level: LoggingLevel) -> bool {
        let minimum = match self {
            LogFilter::Session(level) => match *level.lock().expect("log level lock") {
                Some(min) => min,
                None => return true,
            },
            LogFilter::Request(Some(min)) => *min,
            LogFilter::Request(None) => return false,
        };
        severity(level) >= severity(minimum)
    }
}

struct ToClientForwarder {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    logs: LogFilter,
    nats: async_nats::Client,
}

/// What the upstream said to its client meanwhile, as the notification the client gets:
/// progress under the client's own token (none without one), a log message at a level the
/// client wants. `None` for anything else: a question is answered by whoever relays, a reply or
/// a sign of life is not the client's.
#[allow(deprecated)] // logging: deprecated in 2026-07-28, used before it
pub(crate) fn notification(
    item: ToClient,
    token: Option<&ProgressToken>,
    logs: &LogFilter,
) -> Option<ServerNotification> {
    match item {
        ToClient::Progress(u) => {
            let mut p = ProgressNotificationParam::new(token?.clone(), u.progress);
            p.total = u.total;
            p.message = u.message;
            Some(ServerNotification::ProgressNotification(Notification::new(p)))
        }
        ToClient::Log { params } => {
            let params = serde_json::from_value::<rmcp::model::LoggingMessageNotificationParam>(params).ok()?;
            logs.wants(params.level).then(|| ServerNotification::LoggingMessageNotification(Notification::new(params)))
        }
        ToClient::Request { .. } | ToClient::Reply { .. } | ToClient::Alive => None,
    }
}

/// Answers an upstream's question that this relay cannot put to its client, with `answer`.
pub(crate) fn answer_unasked(nats: &async_nats::Client, message: &async_nats::Message, answer: ClientAnswer) {
    if let Some(reply) = message.reply.clone() {
        let nats = nats.clone();
        tokio::spawn(async move {
            let _ = answer_upstream(&nats, reply.to_string(), &answer).await;
        });
    }
}

fn severity(level: LoggingLevel) -> u8 {
    level as u8
}

impl ToClientForwarder {
    async fn run(
        self,
        mut messages: UnboundedReceiver<async_nats::Message>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
        heard: Heard,
        over_bus: bool,
    ) {
        loop {
            tokio::select! {
                m = messages.recv() => match m {
                    Some(m) => {
                        heard.hear();
                        self.forward(m).await
                    }
                    None => return,
                },
                _ = &mut stop => {
                    // The reply is in: deliver what already arrived, so it precedes the result.
                    // Over NATS a message can still be between the edge's subscription task and
                    // this channel: let it run a few times before giving up on stragglers. A
                    // worker of this process put everything in the channel before its reply.
                    let rounds = if over_bus { 4 } else { 0 };
                    for _ in 0..rounds {
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

    async fn forward(&self, message: async_nats::Message) {
        let Ok(item) = serde_json::from_slice::<ToClient>(&message.payload) else { return };
        match item {
            ToClient::Request { method, params } => {
                let answer = self.ask(&method, params).await;
                if let Some(reply) = message.reply {
                    let _ = answer_upstream(&self.nats, reply.to_string(), &answer).await;
                }
            }
            item => {
                if let Some(notification) = notification(item, self.token.as_ref(), &self.logs) {
                    let _ = self.peer.send_notification(notification).await;
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
/// per edge (`PREFIX.client.*`) feeds them, so a call costs no subscribe/unsubscribe; a call
/// sent to the worker of this process is also fed by that worker directly
/// ([`canopy_bus::calls::LocalCallers`]), in order and ahead of its reply.
#[derive(Default)]
pub struct ClientChannels {
    calls: Mutex<HashMap<String, Channel>>,
}

struct Channel {
    tx: UnboundedSender<async_nats::Message>,
    /// Whether the call went to this process's worker, which then hands its messages over here.
    local: bool,
}

pub struct ChannelGuard {
    owner: Arc<ClientChannels>,
    call_id: String,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.owner.calls.lock().expect("channels lock").remove(&self.call_id);
    }
}

impl ClientChannels {
    /// The channel of call `call_id`; `local`: the call is sent to this process's worker.
    pub(crate) fn open(
        self: &Arc<Self>,
        call_id: &str,
        local: bool,
    ) -> (ChannelGuard, UnboundedReceiver<async_nats::Message>) {
        let (tx, rx) = unbounded_channel();
        self.calls.lock().expect("channels lock").insert(call_id.to_string(), Channel { tx, local });
        (ChannelGuard { owner: self.clone(), call_id: call_id.to_string() }, rx)
    }

    fn deliver(&self, message: async_nats::Message) {
        let Some(call_id) = message.subject.rsplit('.').next() else { return };
        if let Some(channel) = self.calls.lock().expect("channels lock").get(call_id) {
            let _ = channel.tx.send(message);
        }
    }
}

impl canopy_bus::calls::LocalCallers for ClientChannels {
    fn deliver(&self, subject: &str, payload: &bytes::Bytes) -> bool {
        let Some(call_id) = subject.rsplit('.').next() else { return false };
        let calls = self.calls.lock().expect("channels lock");
        let Some(channel) = calls.get(call_id).filter(|c| c.local) else { return false };
        let message = async_nats::Message {
            subject: subject.into(),
            reply: None,
            payload: payload.clone(),
            headers: None,
            status: None,
            description: None,
            length: payload.len(),
        };
        channel.tx.send(message).is_ok()
    }
}

/// Routes what upstreams say to the calls of this edge until `shutdown`.
pub async fn run_client_channels(bus: canopy_bus::Bus, channels: Arc<ClientChannels>, shutdown: CancellationToken) {
    bus.set_local_callers(Some(channels.clone()));
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
