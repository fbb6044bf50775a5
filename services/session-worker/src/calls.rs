//! Serving tool calls: NATS request/reply in the `session-worker` queue group, so each call
//! reaches exactly one worker. On shutdown the subscription is dropped first (no new calls),
//! then in-flight calls get up to the drain timeout to finish. A call to a built-in server runs
//! in this process ([`crate::builtin`]); every other call goes to its upstream's connection.

use crate::builtin::{BuiltinCall, Builtins, CANCEL_GRACE};
use crate::direct::Failed;
use crate::progress::ActiveCall;
use crate::progress::InFlight;
use crate::upstream::{UpstreamError, UpstreamPool};
use canopy_bus::calls::WORKER_QUEUE_GROUP;
use canopy_bus::Bus;
use canopy_mcp::call::{CallErrorCode, CallRecord, CallReply, CallRequest, UpstreamOp};
use futures::StreamExt;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, GetPromptRequest, GetPromptRequestParams,
    ReadResourceRequest, ReadResourceRequestParams, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What serves calls on this worker: over NATS ([`CallServer::serve`]) and, when it is
/// installed as the bus's [`LocalWorker`], directly from an edge or the api in this process.
/// Either way a call runs as a task of [`CallServer::tracker`] (drained on shutdown), is
/// cancellable by id ([`InFlight`]), and is recorded after its reply.
pub struct CallServer {
    bus: Bus,
    upstreams: Arc<UpstreamPool>,
    builtins: Arc<Builtins>,
    in_flight: Arc<InFlight>,
    tracker: TaskTracker,
    /// This worker's id ([`crate::worker_id`]): other workers send it, on
    /// `PREFIX.worker.ID.calls`, the calls that need what it holds.
    worker: String,
}

impl CallServer {
    pub fn new(bus: Bus, upstreams: Arc<UpstreamPool>, builtins: Arc<Builtins>, worker: String) -> Arc<Self> {
        Arc::new(Self { bus, upstreams, builtins, in_flight: Arc::default(), tracker: TaskTracker::new(), worker })
    }

    /// Serves calls from NATS until `shutdown` (and, meanwhile, this process's own callers
    /// when `local` is true), then waits up to `drain_timeout` for the calls in flight.
    pub async fn serve(
        self: Arc<Self>,
        local: bool,
        drain_timeout: Duration,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let bus = self.bus.clone();
        let mut subscription = bus
            .client
            .queue_subscribe(bus.subjects.calls_all(), WORKER_QUEUE_GROUP.into())
            .await
            .map_err(|e| anyhow::anyhow!("subscribing to tool calls failed: {e}"))?;
        // Calls handed over by another worker: served here, never handed on, and recorded by
        // the worker that took them.
        let mut handed_over = bus
            .client
            .subscribe(bus.subjects.worker_calls(&self.worker))
            .await
            .map_err(|e| anyhow::anyhow!("subscribing to this worker's calls failed: {e}"))?;
        let cancels = tokio::spawn(listen_for_cancellations(bus.clone(), self.in_flight.clone(), shutdown.clone()));
        if local {
            bus.set_local_worker(Some(self.clone()));
        }
        loop {
            let (message, handed) = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = subscription.next() => (m, false),
                m = handed_over.next() => (m, true),
            };
            let Some(message) = message else { break };
            let Some(reply_to) = message.reply.clone() else {
                continue;
            };
            let server = self.clone();
            if handed {
                self.tracker.spawn(async move { server.serve_handed_over(message.payload, reply_to).await });
                continue;
            }
            self.tracker.spawn(async move {
                let bus = &server.bus;
                let (reply, record) = match serde_json::from_slice::<CallRequest>(&message.payload) {
                    Ok(request) => {
                        let (reply, latency) = server.handle(&request, true).await;
                        (reply, Some((request, latency)))
                    }
                    Err(e) => {
                        let message = format!("malformed call: {e}");
                        (CallReply::Error { code: CallErrorCode::InvalidRequest, message, rpc: None }, None)
                    }
                };
                // A large result travels in chunks; one too large even for that is replaced by an
                // error saying so, which the caller gets at once (and the record states).
                let wrap = |reply: CallReply| serde_json::to_vec(&reply).expect("replies serialise");
                let reply = canopy_bus::calls::send_reply(bus, reply_to, reply, wrap).await;
                // The record (and its arguments digest) only after the reply has gone.
                if let Some((request, latency)) = record {
                    publish_record(bus, &request, &reply, latency);
                }
            });
        }
        // No new calls, from NATS or from this process (they go to another worker, if any).
        if local {
            bus.set_local_worker(None);
        }
        let _ = subscription.unsubscribe().await;
        let _ = handed_over.unsubscribe().await;
        self.tracker.close();
        let in_flight = self.tracker.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "draining in-flight tool calls");
        }
        if tokio::time::timeout(drain_timeout, self.tracker.wait()).await.is_err() {
            tracing::warn!(remaining = self.tracker.len(), "drain timeout: abandoning in-flight calls");
        }
        cancels.abort();
        // The drained calls' records leave before the process does.
        canopy_bus::calls::records_sent(&bus).await;
        let _ = bus.client.flush().await;
        Ok(())
    }

    /// A call another worker handed over ([`hand_over`]): said to be taken at once, then alive
    /// every [`canopy_mcp::call::ALIVE_EVERY`] until its reply (a
    /// [`canopy_mcp::call::ToClient`] on the handing worker's inbox); served here, never handed
    /// on, and recorded by the worker that took it from its caller.
    async fn serve_handed_over(&self, payload: bytes::Bytes, reply_to: async_nats::Subject) {
        let bus = &self.bus;
        let alive = serde_json::to_vec(&canopy_mcp::call::ToClient::Alive).expect("ToClient serialises");
        if let Err(e) = bus.client.publish(reply_to.clone(), alive.into()).await {
            tracing::debug!(error = %e, "saying a handed-over call was taken failed");
        }
        let reply = match serde_json::from_slice::<CallRequest>(&payload) {
            Ok(request) => {
                let _alive = AbortOnDrop(tokio::spawn(say_alive(bus.clone(), reply_to.to_string())));
                self.handle(&request, false).await.0
            }
            Err(e) => CallReply::Error {
                code: CallErrorCode::InvalidRequest,
                message: format!("malformed call: {e}"),
                rpc: None,
            },
        };
        let wrap = |reply: CallReply| {
            serde_json::to_vec(&canopy_mcp::call::ToClient::Reply { reply }).expect("replies serialise")
        };
        canopy_bus::calls::send_reply(bus, reply_to, reply, wrap).await;
    }

    async fn handle(&self, request: &CallRequest, may_hand_over: bool) -> (CallReply, Duration) {
        handle(&self.bus, &self.upstreams, &self.builtins, &self.in_flight, request, may_hand_over).await
    }
}

impl canopy_bus::calls::LocalWorker for CallServer {
    fn call(&self, request: CallRequest) -> futures::future::BoxFuture<'static, CallReply> {
        let (in_flight, call_id) = (self.in_flight.clone(), request.call_id.clone());
        let (bus, upstreams, builtins) = (self.bus.clone(), self.upstreams.clone(), self.builtins.clone());
        // Run in the caller's task (no task of its own to wake and switch to), counted by the
        // worker's tracker so a drain waits for it; a call whose caller stops waiting is
        // cancelled and still runs to its end (and its record) in a task of the worker's own,
        // exactly as one sent over NATS does.
        let work = self.tracker.track_future(async move {
            let (reply, latency) = handle(&bus, &upstreams, &builtins, &in_flight, &request, true).await;
            publish_record(&bus, &request, &reply, latency);
            reply
        });
        let cancel = CancelOnDrop { in_flight: self.in_flight.clone(), call_id: Some(call_id) };
        Box::pin(RunToEnd { work: Some(Box::pin(work)), cancel: Some(cancel) })
    }

    fn cancel(&self, call_id: &str) -> bool {
        self.in_flight.cancel(call_id)
    }
}

/// An in-process call, polled by its caller. Dropped before its end (its caller stopped
/// waiting), it is cancelled, then finishes in a task of its own.
struct RunToEnd {
    work: Option<futures::future::BoxFuture<'static, CallReply>>,
    cancel: Option<CancelOnDrop>,
}

impl std::future::Future for RunToEnd {
    type Output = CallReply;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<CallReply> {
        let Some(work) = self.work.as_mut() else { return std::task::Poll::Pending };
        let reply = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        if let Some(cancel) = self.cancel.take() {
            cancel.disarm();
        }
        std::task::Poll::Ready(reply)
    }
}

impl Drop for RunToEnd {
    fn drop(&mut self) {
        drop(self.cancel.take());
        if let (Some(work), Ok(runtime)) = (self.work.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(work);
        }
    }
}

/// Cancels an in-process call whose caller stopped waiting for it.
struct CancelOnDrop {
    in_flight: Arc<InFlight>,
    call_id: Option<String>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.call_id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(call_id) = self.call_id.take() {
            self.in_flight.cancel(&call_id);
        }
    }
}

/// Every worker hears every cancellation; the one running the call acts on it.
async fn listen_for_cancellations(bus: Bus, in_flight: Arc<InFlight>, shutdown: CancellationToken) {
    let mut subscription = match bus.client.subscribe(bus.subjects.cancel_all()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to cancellations; calls cannot be cancelled");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = subscription.next() => m,
        };
        let Some(message) = message else { return };
        if let Some(call_id) = message.subject.rsplit('.').next() {
            in_flight.cancel(call_id);
        }
    }
}

/// Sends `notifications/cancelled` upstream for a request whose caller stopped waiting
/// (timeout or cancellation), unless disarmed once the answer came.
struct CancelUpstreamOnDrop {
    peer: rmcp::Peer<rmcp::RoleClient>,
    id: Option<rmcp::model::RequestId>,
}

impl CancelUpstreamOnDrop {
    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for CancelUpstreamOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let params =
                    rmcp::model::CancelledNotificationParam::new(Some(id), Some("the caller cancelled".into()));
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}

/// Runs one call. Its sign of life goes out whichever way it came: a 2026-07-28 client's retry
/// may wait for it on an edge of another process. `may_hand_over`: a call of a built-in whose
/// state another worker holds goes to that worker (not for calls handed over already).
async fn handle(
    bus: &Bus,
    upstreams: &UpstreamPool,
    builtins: &Builtins,
    in_flight: &Arc<InFlight>,
    request: &CallRequest,
    may_hand_over: bool,
) -> (CallReply, Duration) {
    let started = Instant::now();
    let asked = Arc::new(AtomicBool::new(false));
    let alive =
        request.client_subject.clone().map(|subject| AbortOnDrop(tokio::spawn(say_alive(bus.clone(), subject))));
    let mut reply = call(bus, upstreams, builtins, in_flight, request, &asked, may_hand_over).await;
    drop(alive);
    let latency = started.elapsed();
    if asked.load(Ordering::SeqCst) {
        if let Some(subject) = &request.client_subject {
            let wrap = |reply: CallReply| {
                let message = canopy_mcp::call::ToClient::Reply { reply };
                serde_json::to_vec(&message).expect("replies serialise")
            };
            reply = canopy_bus::calls::send_reply(bus, subject.clone(), reply, wrap).await;
        }
    }
    let outcome = match &reply {
        CallReply::Result { .. } => "result",
        CallReply::Error { code, .. } => code.as_str(),
    };
    // Labelled by who called what; never the arguments or the session (cardinality).
    metrics::histogram!(
        "canopy_tool_call_duration_seconds",
        "outcome" => outcome,
        "method" => request.op.kind(),
        "tenant" => request.tenant.clone(),
        "client" => request.principal.clone(),
        "server" => request.server.clone(),
        "tool" => request.op.label().to_string(),
    )
    .record(latency.as_secs_f64());
    (reply, latency)
}

/// Says on the call's client subject, every [`canopy_mcp::call::ALIVE_EVERY`], that this worker
/// still runs the call, until aborted (the call ended). The first after one interval: a call
/// that ends sooner publishes nothing.
async fn say_alive(bus: Bus, subject: String) {
    let payload: bytes::Bytes =
        serde_json::to_vec(&canopy_mcp::call::ToClient::Alive).expect("ToClient serialises").into();
    loop {
        tokio::time::sleep(canopy_mcp::call::ALIVE_EVERY).await;
        if let Err(e) = canopy_bus::calls::to_client(&bus, &subject, payload.clone()).await {
            tracing::debug!(error = %e, "saying a call is alive failed");
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The call's record on the LOGS stream, which the api's audit consumer keeps (by call id):
/// who, what, a digest of the arguments (never the arguments), the outcome and the latency.
fn publish_record(bus: &Bus, request: &CallRequest, reply: &CallReply, latency: Duration) {
    let (outcome, error_code, is_error) = CallRecord::outcome_of(reply);
    let record = CallRecord {
        call_id: request.call_id.clone(),
        tenant: request.tenant.clone(),
        server: request.server.clone(),
        method: request.op.kind().to_string(),
        target: request.op.target().to_string(),
        principal: request.principal.clone(),
        outcome: outcome.to_string(),
        error_code: error_code.map(str::to_string),
        is_error,
        arguments_sha256: canopy_mcp::call::arguments_sha256(&request.op),
        latency_us: latency.as_micros() as u64,
        at: chrono::Utc::now().to_rfc3339(),
    };
    canopy_bus::calls::record(bus, record);
}

/// Sends one operation to the upstream and returns its result as JSON. Tool calls, prompt gets
/// and resource reads carry the caller's progress route and count as the connection's active
/// call, so the upstream's progress, log messages and questions (sampling, elicitation, roots)
/// reach their caller.
async fn perform(
    connection: &crate::upstream::Connection,
    request: &CallRequest,
    asked: &Arc<AtomicBool>,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, Failed> {
    let peer = connection.peer();
    if let UpstreamOp::CallTool { tool, arguments } = &request.op {
        let client = connection.service();
        let listening = request.client_subject.is_some();
        if let Some((direct, posted)) = client.direct.as_ref().and_then(|d| Some((d, d.ready(connection, listening)?)))
        {
            let id = crate::direct::next_id();
            let request_id = rmcp::model::RequestId::String(id.as_str().into());
            let call = request.client_subject.clone().map(|subject| ActiveCall {
                subject,
                asked: asked.clone(),
                deadline,
                request: request_id.clone(),
            });
            let _active = call.clone().map(|call| client.active.enter(call));
            let cancel_guard = CancelUpstreamOnDrop { peer: peer.clone(), id: Some(request_id) };
            let result = direct.call_tool(&posted, client, &id, tool, arguments.as_ref(), call.as_ref()).await;
            cancel_guard.disarm();
            return result;
        }
    }
    perform_rmcp(connection, request, asked, deadline).await.map_err(Failed::from)
}

/// [`perform`] through rmcp's client.
async fn perform_rmcp(
    connection: &crate::upstream::Connection,
    request: &CallRequest,
    asked: &Arc<AtomicBool>,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, ServiceError> {
    let peer = connection.peer();
    let routes = &connection.service().progress;
    let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|_| ServiceError::UnexpectedResponse);
    let upstream_request = match &request.op {
        UpstreamOp::CallTool { tool, arguments } => {
            let mut params = CallToolRequestParams::new(tool.clone());
            params.arguments = arguments.clone();
            ClientRequest::CallToolRequest(CallToolRequest::new(params))
        }
        UpstreamOp::GetPrompt { prompt, arguments } => {
            let mut params = GetPromptRequestParams::new(prompt.clone());
            params.arguments = arguments.clone();
            ClientRequest::GetPromptRequest(GetPromptRequest::new(params))
        }
        UpstreamOp::ReadResource { uri } => {
            ClientRequest::ReadResourceRequest(ReadResourceRequest::new(ReadResourceRequestParams::new(uri.clone())))
        }
        UpstreamOp::Subscribe { uri } => {
            #[allow(deprecated)] // resources/subscribe: the session era's way, which upstreams speak
            peer.subscribe(rmcp::model::SubscribeRequestParams::new(uri.clone())).await?;
            return Ok(serde_json::json!({}));
        }
        UpstreamOp::Complete { params } => {
            let params = serde_json::from_value(params.clone()).map_err(|_| ServiceError::UnexpectedResponse)?;
            return json(serde_json::to_value(peer.complete(params).await?));
        }
    };
    let handle = peer.send_request_with_option(upstream_request, PeerRequestOptions::no_options()).await?;
    let _route = match request.client_subject.clone() {
        Some(subject) => Some(routes.route(&handle.progress_token, subject).await),
        None => None,
    };
    let _active = request.client_subject.clone().map(|subject| {
        connection.service().active.enter(ActiveCall {
            subject,
            asked: asked.clone(),
            deadline,
            request: handle.id.clone(),
        })
    });
    let cancel_guard = CancelUpstreamOnDrop { peer: peer.clone(), id: Some(handle.id.clone()) };
    let response = handle.await_response().await;
    cancel_guard.disarm();
    if _route.is_some() {
        // What the upstream said before its result (progress, logs) goes to the caller before
        // the reply does (and before the route goes).
        connection.service().tally.settled().await;
    }
    match response? {
        ServerResult::CallToolResult(result) => json(serde_json::to_value(result)),
        ServerResult::GetPromptResult(result) => json(serde_json::to_value(result)),
        ServerResult::ReadResourceResult(result) => json(serde_json::to_value(result)),
        _ => Err(ServiceError::UnexpectedResponse),
    }
}

async fn call(
    bus: &Bus,
    upstreams: &UpstreamPool,
    builtins: &Builtins,
    in_flight: &Arc<InFlight>,
    request: &CallRequest,
    asked: &Arc<AtomicBool>,
    may_hand_over: bool,
) -> CallReply {
    let error = |code, message: String| CallReply::Error { code, message, rpc: None };
    let server_id = request.server_id;
    let timeout = Duration::from_millis(request.timeout_ms);
    let deadline = tokio::time::Instant::now() + timeout;
    match upstreams.builtin_kind(&request.tenant, &request.server, server_id).await {
        Ok(None) => {}
        Ok(Some(kind)) => return call_builtin(bus, builtins, kind, in_flight, request, may_hand_over).await,
        Err(UpstreamError::NotRegistered(s)) => {
            return error(CallErrorCode::NotFound, format!("server '{s}' is not registered"))
        }
        Err(e @ UpstreamError::Stale { .. }) => return error(CallErrorCode::NotFound, e.to_string()),
        Err(e) => return error(CallErrorCode::UpstreamUnavailable, e.to_string()),
    }
    let attempt = async {
        // A dead pooled connection gets one reconnect before the call fails.
        for attempt in 0..2 {
            let connection =
                match upstreams.get(&request.tenant, &request.server, server_id, Some(&request.principal)).await {
                    Ok(c) => c,
                    Err(UpstreamError::NotRegistered(s)) => {
                        return error(CallErrorCode::NotFound, format!("server '{s}' is not registered"))
                    }
                    Err(e @ UpstreamError::Stale { .. }) => return error(CallErrorCode::NotFound, e.to_string()),
                    Err(e) => return error(CallErrorCode::UpstreamUnavailable, e.to_string()),
                };
            match perform(&connection, request, asked, deadline).await {
                Ok(result) => {
                    upstreams.succeeded(&request.tenant, &request.server);
                    return CallReply::Result { result };
                }
                Err(Failed::Rpc(e)) => {
                    return CallReply::Error {
                        code: CallErrorCode::UpstreamError,
                        message: format!("{} (code {})", e.message, e.code.0),
                        rpc: Some(canopy_mcp::call::RpcError {
                            code: e.code.0,
                            message: e.message.to_string(),
                            data: e.data.clone(),
                        }),
                    };
                }
                Err(Failed::Lost(message)) => return error(CallErrorCode::UpstreamUnavailable, message),
                Err(Failed::Connection(e)) => {
                    // The connection (for stdio: the process) is gone: drop it, so the next
                    // attempt or call starts a new one, subject to back-off.
                    tracing::info!(server = %request.server, error = %e, "upstream connection failed");
                    upstreams.forget_connection(&request.tenant, &request.server, server_id, &connection);
                    if attempt > 0 {
                        return error(CallErrorCode::UpstreamUnavailable, e.to_string());
                    }
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    };
    let running = in_flight.start(&request.call_id);
    let attempt = async {
        tokio::select! {
            reply = attempt => reply,
            _ = running.token.cancelled() => error(CallErrorCode::Cancelled, "the caller cancelled the call".into()),
        }
    };
    let span = tracing::info_span!(
        "call",
        method = request.op.kind(),
        tenant = %request.tenant,
        client = %request.principal,
        server = %request.server,
        tool = request.op.label(),
    );
    match tracing::Instrument::instrument(tokio::time::timeout(timeout, attempt), span).await {
        Ok(reply) => reply,
        // Dropping the call future cancels the upstream request (rmcp sends notifications/cancelled).
        Err(_) => {
            error(CallErrorCode::Timeout, format!("the upstream did not answer within {} ms", request.timeout_ms))
        }
    }
}

/// Sends `request` to worker `holder` and waits for its reply; `None` when the holder does not
/// run any more (the call then runs here, which re-creates what it needs).
///
/// The holder says at once that it took the call and then, every
/// [`canopy_mcp::call::ALIVE_EVERY`], that it still runs it ([`serve_handed_over`]), so a holder
/// that died is noticed within [`canopy_mcp::call::SILENT_FOR`] either way: NATS may still route
/// to a subscription of a process killed a moment ago (until the server reads its closed
/// socket), and such a call is lost without a word. Never heard from: the call never reached
/// it, and runs here. Heard from, then silent: it is [`canopy_bus::calls::lost_with_its_worker`]
/// (whether it finished is unknown), never run a second time.
async fn hand_over(bus: &Bus, holder: &str, request: &CallRequest) -> Option<CallReply> {
    use canopy_mcp::call::{ToClient, SILENT_FOR};
    let error = |code, message: String| Some(CallReply::Error { code, message, rpc: None });
    let payload = serde_json::to_vec(request).expect("call requests serialise");
    let inbox = bus.client.new_inbox();
    let mut heard = match bus.client.subscribe(inbox.clone()).await {
        Ok(subscription) => subscription,
        Err(e) => return error(CallErrorCode::Internal, format!("could not wait for the holder's reply: {e}")),
    };
    if let Err(e) = bus.client.publish_with_reply(bus.subjects.worker_calls(holder), inbox, payload.into()).await {
        return error(
            CallErrorCode::UpstreamUnavailable,
            format!("the worker holding this call's state could not be reached: {e}"),
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms + 500);
    let mut taken = false;
    loop {
        let silent_until = tokio::time::Instant::now() + SILENT_FOR;
        let message = tokio::select! {
            message = heard.next() => message,
            () = tokio::time::sleep_until(silent_until.min(deadline)) => {
                if tokio::time::Instant::now() >= deadline {
                    return error(CallErrorCode::Timeout, format!("no reply within {} ms", request.timeout_ms));
                }
                if !taken {
                    tracing::info!(holder, "the worker holding this call's state did not take it: running it here");
                    return None;
                }
                canopy_bus::calls::cancel(bus, &request.call_id).await;
                return Some(canopy_bus::calls::lost_with_its_worker());
            }
        };
        let Some(message) = message else {
            return error(CallErrorCode::Internal, "the bus connection closed while waiting for the holder".into());
        };
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            tracing::info!(holder, "the worker holding this call's state is gone: running it here");
            return None;
        }
        taken = true;
        let payload = match canopy_bus::payload::receive_large(&bus.client, message).await {
            Ok(payload) => payload,
            Err(e) => return error(CallErrorCode::Internal, format!("the reply could not be received: {e}")),
        };
        match serde_json::from_slice::<ToClient>(&payload) {
            Ok(ToClient::Reply { reply }) => return Some(reply),
            Ok(_) => {}
            // A holder of an older version replies with the bare reply, and only that.
            Err(_) => {
                return Some(serde_json::from_slice(&payload).unwrap_or_else(|e| CallReply::Error {
                    code: CallErrorCode::Internal,
                    message: format!("malformed reply from the holder: {e}"),
                    rpc: None,
                }))
            }
        }
    }
}

/// Runs a call of a built-in server's tool in this process, with the caller's cancellation and
/// the call's timeout on the handler's token; a handler that does not stop within
/// [`CANCEL_GRACE`] of its token is dropped.
async fn call_builtin(
    bus: &Bus,
    builtins: &Builtins,
    kind: canopy_domain::BuiltinKind,
    in_flight: &Arc<InFlight>,
    request: &CallRequest,
    may_hand_over: bool,
) -> CallReply {
    let error = |code, message: String| CallReply::Error { code, message, rpc: None };
    let UpstreamOp::CallTool { tool, arguments } = &request.op else {
        return error(
            CallErrorCode::NotFound,
            format!("the built-in server '{kind}' has only tools, no {}", request.op.kind()),
        );
    };
    let Some(server) = builtins.get(kind) else {
        return error(
            CallErrorCode::UpstreamUnavailable,
            format!("this worker does not host the built-in server '{kind}'"),
        );
    };
    let Ok(tenant) = canopy_domain::TenantId::parse(request.tenant.clone()) else {
        return error(CallErrorCode::InvalidRequest, format!("'{}' is not a tenant id", request.tenant));
    };
    if may_hand_over {
        let no_arguments = Default::default();
        let holder = server.held_elsewhere(&tenant, tool, arguments.as_ref().unwrap_or(&no_arguments)).await;
        if let Some(holder) = holder {
            if let Some(reply) = hand_over(bus, &holder, request).await {
                return reply;
            }
        }
    }
    let running = in_flight.start(&request.call_id);
    let client = request.client_subject.clone().map(|subject| (bus.clone(), subject));
    let identity = request.identity.clone().and_then(|identity| serde_json::from_value(identity).ok());
    let ctx =
        BuiltinCall::new(tenant, request.principal.clone(), request.call_id.clone(), running.token.clone(), client)
            .with_identity(identity);
    let span = tracing::info_span!(
        "call",
        method = request.op.kind(),
        tenant = %request.tenant,
        client = %request.principal,
        server = %request.server,
        tool = tool.as_str(),
        builtin = true,
    );
    let running_call =
        tracing::Instrument::instrument(server.call(ctx, tool.clone(), arguments.clone().unwrap_or_default()), span);
    tokio::pin!(running_call);
    let stopped = tokio::select! {
        result = &mut running_call => {
            return match serde_json::to_value(result) {
                Ok(result) => CallReply::Result { result },
                Err(e) => error(CallErrorCode::Internal, format!("the built-in's result is not JSON: {e}")),
            };
        }
        _ = running.token.cancelled() => error(CallErrorCode::Cancelled, "the caller cancelled the call".into()),
        _ = tokio::time::sleep(Duration::from_millis(request.timeout_ms)) => {
            running.token.cancel();
            error(CallErrorCode::Timeout, format!("the built-in server did not answer within {} ms", request.timeout_ms))
        }
    };
    // Let the handler see its token and stop its work (a sandbox, a follow) before it is dropped.
    let _ = tokio::time::timeout(CANCEL_GRACE, running_call).await;
    stopped
}

#[cfg(test)]
mod tests {
    //! Handing a call to the worker that holds its state, against a real NATS server, with the
    //! holder played by a bare subscription: gone, taken and then silent, or slow but alive.

    use super::*;
    use canopy_mcp::call::ToClient;

    async fn bus() -> Bus {
        Bus::connect(&canopy_testkit::nats_url(), &canopy_testkit::unique("handover"), "test").await.unwrap()
    }

    fn request() -> CallRequest {
        CallRequest {
            tenant: "default".into(),
            server: "python".into(),
            server_id: uuid::Uuid::nil(),
            op: UpstreamOp::CallTool { tool: "run_code".into(), arguments: None },
            principal: "p".into(),
            timeout_ms: 30_000,
            call_id: "call-1".into(),
            client_subject: None,
            identity: None,
        }
    }

    fn said(message: ToClient) -> bytes::Bytes {
        serde_json::to_vec(&message).unwrap().into()
    }

    #[tokio::test]
    async fn a_holder_with_no_subscription_left_is_gone_at_once() {
        let bus = bus().await;
        let started = Instant::now();
        assert!(hand_over(&bus, "w:1", &request()).await.is_none());
        assert!(started.elapsed() < Duration::from_secs(2), "no responders is known at once");
    }

    /// A process killed a moment ago may still have its subscription on the server: the call
    /// reaches nobody. It runs here once the holder has said nothing for SILENT_FOR, not after
    /// the call's timeout.
    #[tokio::test]
    async fn a_holder_that_never_takes_the_call_is_gone_after_silence() {
        let bus = bus().await;
        let mut dead = bus.client.subscribe(bus.subjects.worker_calls("w:2")).await.unwrap();
        bus.client.flush().await.unwrap();
        let (started, call) = (Instant::now(), request());
        let (handed, received) = tokio::join!(hand_over(&bus, "w:2", &call), dead.next());
        assert!(received.is_some(), "the message reached the subscription");
        assert!(handed.is_none(), "{handed:?}");
        let waited = started.elapsed();
        assert!(waited >= canopy_mcp::call::SILENT_FOR && waited < Duration::from_secs(10), "{waited:?}");
    }

    /// Taken, then silent (the holder died while it ran the call): lost, never run again here.
    #[tokio::test]
    async fn a_holder_that_took_the_call_and_went_silent_lost_it() {
        let bus = bus().await;
        let mut holder = bus.client.subscribe(bus.subjects.worker_calls("w:3")).await.unwrap();
        bus.client.flush().await.unwrap();
        let client = bus.client.clone();
        let takes = async move {
            let message = holder.next().await.unwrap();
            client.publish(message.reply.unwrap(), said(ToClient::Alive)).await.unwrap();
        };
        let call = request();
        let (handed, ()) = tokio::join!(hand_over(&bus, "w:3", &call), takes);
        match handed {
            Some(CallReply::Error { code: CallErrorCode::UpstreamUnavailable, message, .. }) => {
                assert!(message.contains("stopped"), "{message}")
            }
            other => panic!("expected the call lost with its worker: {other:?}"),
        }
    }

    /// A call that runs longer than SILENT_FOR is waited for as long as its holder says it is
    /// alive, and its reply is the holder's.
    #[tokio::test]
    async fn a_holder_alive_past_the_silence_is_waited_for() {
        let bus = bus().await;
        let mut holder = bus.client.subscribe(bus.subjects.worker_calls("w:4")).await.unwrap();
        bus.client.flush().await.unwrap();
        let client = bus.client.clone();
        let runs = async move {
            let message = holder.next().await.unwrap();
            let inbox = message.reply.unwrap();
            let request: CallRequest = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(request.call_id, "call-1");
            for _ in 0..6 {
                client.publish(inbox.clone(), said(ToClient::Alive)).await.unwrap();
                tokio::time::sleep(canopy_mcp::call::ALIVE_EVERY).await;
            }
            let reply = CallReply::Result { result: serde_json::json!({"content": [], "ok": 42}) };
            client.publish(inbox, said(ToClient::Reply { reply })).await.unwrap();
        };
        let (started, call) = (Instant::now(), request());
        let (handed, ()) = tokio::join!(hand_over(&bus, "w:4", &call), runs);
        assert!(started.elapsed() > canopy_mcp::call::SILENT_FOR);
        match handed {
            Some(CallReply::Result { result }) => assert_eq!(result["ok"], 42),
            other => panic!("expected the holder's reply: {other:?}"),
        }
    }
}
