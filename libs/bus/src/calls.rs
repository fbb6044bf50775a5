//! Tool calls between services: core NATS request/reply on `PREFIX.calls.TENANT.SERVER`,
//! answered by whichever session-worker of the queue group takes it.

use crate::Bus;
use canopy_mcp::call::{CallErrorCode, CallRecord, CallReply, CallRequest};
use std::time::Duration;

/// Publishes a call's record on the LOGS stream (`PREFIX.logs.toolcalls.TENANT`), where the
/// api's audit consumer keeps it. Core publish, not awaited by JetStream: a call never waits on
/// its own record (one lost while NATS is down is lost).
pub async fn record(bus: &Bus, record: &CallRecord) {
    let subject = bus.subjects.log("toolcalls", &record.tenant);
    let payload = serde_json::to_vec(record).expect("records serialise");
    if let Err(e) = bus.client.publish(subject, payload.into()).await {
        tracing::debug!(error = %e, "a call record could not be published");
    }
}

/// [`record`] without waiting: for a refusal answered at once.
pub fn record_later(bus: &Bus, record: CallRecord) {
    let bus = bus.clone();
    tokio::spawn(async move { self::record(&bus, &record).await });
}

/// The queue group all session-workers join, so each call reaches exactly one.
pub const WORKER_QUEUE_GROUP: &str = "session-worker";

/// Asks whichever worker runs call `call_id` to cancel it (and the upstream request).
pub async fn cancel(bus: &Bus, call_id: &str) {
    if let Err(e) = bus.client.publish(bus.subjects.cancel(call_id), bytes::Bytes::new()).await {
        tracing::warn!(error = %e, "could not send a cancellation");
    }
}

/// Sends a call and waits for the reply, at most `request.timeout_ms` (plus a small margin
/// so the worker's own timeout answers first). Never fails: transport problems become errors
/// in the reply.
pub async fn request(bus: &Bus, request: &CallRequest) -> CallReply {
    let subject = bus.subjects.call(&request.tenant, &request.server);
    let payload = serde_json::to_vec(request).expect("call requests serialise");
    let wait = Duration::from_millis(request.timeout_ms + 500);
    let reply = tokio::time::timeout(wait, bus.client.request(subject, payload.into())).await;
    let error = |code, message: String| CallReply::Error { code, message, rpc: None };
    match reply {
        Err(_) => error(CallErrorCode::Timeout, format!("no reply within {} ms", request.timeout_ms)),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            error(CallErrorCode::UpstreamUnavailable, "no session-worker is running to reach upstream servers".into())
        }
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::TimedOut => {
            error(CallErrorCode::Timeout, format!("no reply within {} ms", request.timeout_ms))
        }
        Ok(Err(e)) => error(CallErrorCode::Internal, format!("bus request failed: {e}")),
        Ok(Ok(message)) => serde_json::from_slice(&message.payload)
            .unwrap_or_else(|e| error(CallErrorCode::Internal, format!("malformed reply from session-worker: {e}"))),
    }
}
