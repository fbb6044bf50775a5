//! Tool calls between services: core NATS request/reply on `PREFIX.calls.TENANT.SERVER`,
//! answered by whichever session-worker of the queue group takes it; or, when a session-worker
//! runs in the caller's process and takes calls directly ([`LocalWorker`], all-in-one by
//! default), a function call to it, with no serialisation and no trip through NATS.
//!
//! What travels alongside a call (progress, logs, questions to the client, the worker's sign of
//! life, cancellation) keeps its subjects either way, so an edge or a worker in another process
//! still takes part (a 2026-07-28 client's retry on another edge; a cancellation from another
//! edge). For a call sent to the worker of the caller's own process, what the worker says to
//! the caller (progress, logs, its sign of life: [`to_client`]) is handed over in process too
//! ([`LocalCallers`]), in the order it is said and before the reply: one ordered channel per
//! call, so progress never arrives after the result it preceded. (The worker, for its part,
//! holds a reply until the notifications its upstream sent before the result have been relayed:
//! the session-worker's `progress::Tally`.)
//!
//! The in-process route is taken when the process runs a session-worker with
//! `worker.local_calls` (on by default) next to the caller: all-in-one (`canopy start`). The
//! call is still one of the worker's tasks (drained on shutdown, cancellable by id, recorded
//! after its reply: the session-worker's `CallServer`). A 2026-07-28 call always goes over NATS
//! ([`request_over_bus`]): when its upstream asks the client something, the request ends with
//! `input_required` and the call goes on unwatched, where an in-process call would be cancelled
//! with the future that waits for it.

use crate::Bus;
use canopy_mcp::call::{CallErrorCode, CallRecord, CallReply, CallRequest, Refusal, UpstreamOp};
use std::time::Duration;

/// Queues a call's record for the LOGS stream (`PREFIX.logs.toolcalls.TENANT`), where the
/// api's audit consumer keeps it. A process's records leave in order from one task
/// ([`RecordQueue`]), which publishes whatever queued up while it last published as one message
/// per tenant (`canopy_mcp::call::CallRecords`): alone, a record leaves at once; under load one message carries
/// many, which saves most of what NATS and the audit consumer spent on records one by one. A
/// core publish, not awaited by JetStream: a call never waits on its own record (one lost while
/// NATS is down, or still queued when the process is killed, is lost; [`records_sent`] empties
/// the queue on shutdown).
pub fn record(bus: &Bus, record: CallRecord) {
    bus.records.get_or_init(|| RecordQueue::start(bus)).send(QueueItem::Record(record));
}

/// Returns once the records queued so far have been handed to NATS (and NATS flushed).
pub async fn records_sent(bus: &Bus) {
    let Some(queue) = bus.records.get() else { return };
    let (done, sent) = tokio::sync::oneshot::channel();
    queue.send(QueueItem::Flush(done));
    let _ = sent.await;
}

/// At most this many records leave in one message.
const MAX_RECORDS_PER_MESSAGE: usize = 256;

pub(crate) struct RecordQueue(tokio::sync::mpsc::UnboundedSender<QueueItem>);

pub(crate) enum QueueItem {
    Record(CallRecord),
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl RecordQueue {
    fn start(bus: &Bus) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<QueueItem>();
        let (client, subjects) = (bus.client.clone(), bus.subjects.clone());
        tokio::spawn(async move {
            let mut items = Vec::new();
            while rx.recv_many(&mut items, MAX_RECORDS_PER_MESSAGE).await > 0 {
                let mut by_tenant: std::collections::BTreeMap<String, Vec<CallRecord>> = Default::default();
                let mut flushed = Vec::new();
                for item in items.drain(..) {
                    match item {
                        QueueItem::Record(record) => by_tenant.entry(record.tenant.clone()).or_default().push(record),
                        QueueItem::Flush(done) => flushed.push(done),
                    }
                }
                for (tenant, records) in by_tenant {
                    publish_records(&client, subjects.log("toolcalls", &tenant), records).await;
                }
                if !flushed.is_empty() {
                    let _ = client.flush().await;
                    flushed.into_iter().for_each(|done| {
                        let _ = done.send(());
                    });
                }
            }
        });
        RecordQueue(tx)
    }

    fn send(&self, item: QueueItem) {
        if self.0.send(item).is_err() {
            tracing::debug!("a call record was dropped: the record queue has stopped");
        }
    }
}

/// Publishes one tenant's records as one message, or as two halves when that is too large for
/// the bus (a single record too large is dropped, logged).
fn publish_records(
    client: &async_nats::Client,
    subject: String,
    mut records: Vec<CallRecord>,
) -> futures::future::BoxFuture<'_, ()> {
    Box::pin(async move {
        let payload = match records.len() {
            1 => serde_json::to_vec(&records[0]),
            _ => serde_json::to_vec(&records),
        }
        .expect("records serialise");
        match crate::payload::publish(client, subject.clone(), payload.into()).await {
            Err(crate::payload::SendError::TooLarge(_)) if records.len() > 1 => {
                let second = records.split_off(records.len() / 2);
                publish_records(client, subject.clone(), records).await;
                publish_records(client, subject, second).await;
            }
            Err(e) => tracing::debug!(error = %e, "call records could not be published"),
            Ok(()) => {}
        }
    })
}

/// The queue group all session-workers join, so each call reaches exactly one.
pub const WORKER_QUEUE_GROUP: &str = "session-worker";

/// Asks whichever worker runs call `call_id` to cancel it (and the upstream request): this
/// process's own, directly, and any other over the bus (a worker may have handed the call to
/// the one holding what it needs).
pub async fn cancel(bus: &Bus, call_id: &str) {
    if let Some(worker) = bus.local_worker() {
        worker.cancel(call_id);
    }
    if let Err(e) = bus.client.publish(bus.subjects.cancel(call_id), bytes::Bytes::new()).await {
        tracing::warn!(error = %e, "could not send a cancellation");
    }
}

/// The answer to a call whose worker stopped saying it runs it (nothing heard of the call for
/// [`canopy_mcp::call::SILENT_FOR`]): every caller that waits on a worker elsewhere gives up
/// with this instead of waiting for its timeout.
pub fn lost_with_its_worker() -> CallReply {
    let message = format!(
        "the session-worker running this call stopped (nothing heard of it for {} s): it may have died; \
         whether the upstream finished the call is unknown",
        canopy_mcp::call::SILENT_FOR.as_secs()
    );
    CallReply::Error { code: CallErrorCode::UpstreamUnavailable, message, rpc: None }
}

/// MCP's error for a request the client has no capability for (`-32021`).
const MISSING_REQUIRED_CLIENT_CAPABILITY: i32 = -32021;

/// [`request`] for a caller that cannot be asked anything (REST): the call gets a client
/// subject of its own, on which this waits for the worker's sign of life (giving the call up
/// as [`lost_with_its_worker`] after [`canopy_mcp::call::SILENT_FOR`] of silence, instead of
/// waiting for its timeout) and answers what the upstream asks the caller (sampling,
/// elicitation, roots) at once with MCP's missing-capability error. Progress and log messages
/// are dropped. A call to a worker of this process is sent as is.
pub async fn request_unattended(bus: &Bus, mut request: CallRequest) -> CallReply {
    use futures::StreamExt;
    if runs_here(bus) || request.client_subject.is_some() {
        return self::request(bus, &request).await;
    }
    let subject = bus.subjects.call_client(&request.call_id);
    let Ok(mut heard) = bus.client.subscribe(subject.clone()).await else {
        return self::request(bus, &request).await;
    };
    request.client_subject = Some(subject);
    let reply = self::request(bus, &request);
    tokio::pin!(reply);
    let mut silent_from = tokio::time::Instant::now();
    loop {
        tokio::select! {
            reply = &mut reply => return reply,
            message = heard.next() => {
                let Some(message) = message else { return reply.await };
                silent_from = tokio::time::Instant::now();
                let asked = serde_json::from_slice::<canopy_mcp::call::ToClient>(&message.payload);
                if let (Ok(canopy_mcp::call::ToClient::Request { method, .. }), Some(inbox)) = (asked, message.reply) {
                    let answer = canopy_mcp::call::ClientAnswer::Error {
                        code: MISSING_REQUIRED_CLIENT_CAPABILITY,
                        message: format!("a REST caller cannot answer {method}"),
                    };
                    let payload = serde_json::to_vec(&answer).expect("answers serialise");
                    let _ = bus.client.publish(inbox, payload.into()).await;
                }
            }
            () = tokio::time::sleep_until(silent_from + canopy_mcp::call::SILENT_FOR) => {
                self::cancel(bus, &request.call_id).await;
                return lost_with_its_worker();
            }
        }
    }
}

/// A session-worker in this process that takes calls without the bus. What it promises is
/// what a worker reached over NATS does: the call runs (and is drained on shutdown) as one of
/// the worker's own, its record is published, and a cancellation reaches it by
/// [`LocalWorker::cancel`] (or `PREFIX.cancel.CALL_ID`). A caller that stops waiting (drops
/// the future) cancels the call, as a cancellation over the bus would; the call still ends,
/// and is recorded, on the worker.
pub trait LocalWorker: Send + Sync {
    /// Runs `request` and returns its reply.
    fn call(&self, request: CallRequest) -> futures::future::BoxFuture<'static, CallReply>;
    /// Cancels call `call_id` if it runs here; false if it does not.
    fn cancel(&self, call_id: &str) -> bool;
}

/// The callers in this process (an edge) waiting on calls they sent to this process's
/// [`LocalWorker`]: each such call's client subject leads to a channel of the caller's, which
/// [`to_client`] fills directly. A caller registers a call here only when it sends it in
/// process: a call sent over NATS (a 2026-07-28 call, whose later rounds another edge may
/// follow) hears everything on NATS.
pub trait LocalCallers: Send + Sync {
    /// Hands `payload`, said on the client subject `subject`, to the caller in this process
    /// that waits on it; false when none does (it then goes over NATS).
    fn deliver(&self, subject: &str, payload: &bytes::Bytes) -> bool;
}

pub(crate) type LocalCallersSlot = std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<dyn LocalCallers>>>>;

/// Sends what a call's server says to its caller (a serialised
/// [`canopy_mcp::call::ToClient`]) on the call's client subject: to a caller of this process
/// that takes it directly ([`LocalCallers`]), else over NATS ([`crate::payload::publish`]).
/// The one way a worker speaks to a caller, so what it says reaches the caller in order.
pub async fn to_client(bus: &Bus, subject: &str, payload: bytes::Bytes) -> Result<(), crate::payload::SendError> {
    if bus.local_callers().is_some_and(|callers| callers.deliver(subject, &payload)) {
        return Ok(());
    }
    crate::payload::publish(&bus.client, subject.to_string(), payload).await
}

pub(crate) type LocalWorkerSlot = std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<dyn LocalWorker>>>>;

/// True when calls sent on `bus` run in this process: the caller need not listen for the
/// worker's sign of life (a worker cannot die without its caller).
pub fn runs_here(bus: &Bus) -> bool {
    bus.local_worker().is_some()
}

/// Sends a call and waits for the reply, at most `request.timeout_ms` (plus a small margin
/// so the worker's own timeout answers first). Never fails: transport problems become errors
/// in the reply. A call too large for the bus (its arguments, mostly) is not sent: the reply is
/// [`CallErrorCode::TooLarge`] at once, and the refusal is recorded. A result too large for one
/// message arrives in chunks ([`crate::payload::send_large`]).
///
/// With a [`LocalWorker`] in this process the call goes to it as is: the bus's size limit
/// does not apply (the edge's request body limit and the worker's upstream response limit
/// still do).
///
/// What the worker says to the caller meanwhile (progress, logs) reaches a caller that
/// registered the call with [`LocalCallers`] in process, ahead of the reply ([`to_client`]).
pub async fn request(bus: &Bus, request: &CallRequest) -> CallReply {
    if let Some(worker) = bus.local_worker() {
        return worker.call(request.clone()).await;
    }
    request_over_bus(bus, request).await
}

/// [`request`] over NATS to any worker of the queue group, even with one in this process.
pub async fn request_over_bus(bus: &Bus, request: &CallRequest) -> CallReply {
    let subject = bus.subjects.call(&request.tenant, &request.server);
    let payload = serde_json::to_vec(request).expect("call requests serialise");
    let error = |code, message: String| CallReply::Error { code, message, rpc: None };
    if let Err(too_large) = crate::payload::check(&bus.client, None, &payload) {
        record(
            bus,
            CallRecord::refused(
                &request.tenant,
                &request.principal,
                &request.server,
                request.op.kind(),
                request.op.target(),
                canopy_mcp::call::arguments_sha256(&request.op),
                Refusal::TooLarge,
            ),
        );
        return error(CallErrorCode::TooLarge, too_large_message(&request.op, too_large));
    }
    let wait = Duration::from_millis(request.timeout_ms + 500);
    let reply = tokio::time::timeout(wait, bus.client.request(subject, payload.into())).await;
    match reply {
        Err(_) => error(CallErrorCode::Timeout, format!("no reply within {} ms", request.timeout_ms)),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            error(CallErrorCode::UpstreamUnavailable, "no session-worker is running to reach upstream servers".into())
        }
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::TimedOut => {
            error(CallErrorCode::Timeout, format!("no reply within {} ms", request.timeout_ms))
        }
        Ok(Err(e)) => error(CallErrorCode::Internal, format!("bus request failed: {e}")),
        Ok(Ok(message)) => decode_reply(bus, message).await,
    }
}

/// A call's reply as the worker sent it ([`send_reply`]), fetched in chunks when it was large.
pub async fn decode_reply(bus: &Bus, message: async_nats::Message) -> CallReply {
    let error = |code, message: String| CallReply::Error { code, message, rpc: None };
    match crate::payload::receive_large(&bus.client, message).await {
        Ok(payload) => serde_json::from_slice(&payload)
            .unwrap_or_else(|e| error(CallErrorCode::Internal, format!("malformed reply from session-worker: {e}"))),
        Err(e) => error(CallErrorCode::Internal, format!("the reply could not be received: {e}")),
    }
}

/// Sends a call's reply (to its reply inbox, or as a [`canopy_mcp::call::ToClient::Reply`] on
/// its client subject: `wrap` makes the message of a reply). A reply too large for one message
/// travels in chunks; one over [`crate::payload::MAX_CHUNKED`] is replaced by an
/// [`CallErrorCode::UpstreamError`] saying so, which is what is returned then (for the record).
pub async fn send_reply<S: async_nats::subject::ToSubject + Clone>(
    bus: &Bus,
    subject: S,
    reply: CallReply,
    wrap: impl Fn(CallReply) -> Vec<u8>,
) -> CallReply {
    let payload = wrap(reply.clone());
    match crate::payload::send_large(&bus.client, subject.clone(), payload.into()).await {
        Ok(()) => reply,
        Err(crate::payload::SendError::TooLarge(too_large)) => {
            let refused = CallReply::Error {
                code: CallErrorCode::UpstreamError,
                message: format!("result too large: {} bytes, limit {} bytes", too_large.size, too_large.limit),
                rpc: None,
            };
            if let Err(e) = crate::payload::send_large(&bus.client, subject, wrap(refused.clone()).into()).await {
                tracing::warn!(error = %e, "could not send a call reply");
            }
            refused
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not send a call reply");
            reply
        }
    }
}

/// What a caller is told when its call is too large for the bus.
fn too_large_message(op: &UpstreamOp, too_large: crate::payload::TooLarge) -> String {
    let what = match op {
        UpstreamOp::CallTool { .. } | UpstreamOp::GetPrompt { .. } => "arguments",
        UpstreamOp::Complete { .. } => "completion request",
        UpstreamOp::ReadResource { .. } | UpstreamOp::Subscribe { .. } => "resource URI",
    };
    format!(
        "{what} too large: the call is {} bytes, limit {} bytes (the message bus's max_payload)",
        too_large.size, too_large.limit
    )
}
