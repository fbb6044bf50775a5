//! Sending one request to a session-worker on behalf of a client session, with what travels
//! alongside it: the upstream's progress comes back under the client's own progress token, and
//! a client that cancels (or, in 2026-07-28, closes its stream) cancels the upstream request.

use crate::EdgeState;
use canopy_mcp::call::{CallErrorCode, CallReply, CallRequest, ProgressUpdate};
use futures::{FutureExt, StreamExt};
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::RoleServer;

pub async fn relay(state: &EdgeState, mut request: CallRequest, context: &RequestContext<RoleServer>) -> CallReply {
    request.call_id = uuid::Uuid::now_v7().to_string();
    let bus = &state.bus;
    let mut forwarder = None;
    if let Some(token) = context.meta.get_progress_token() {
        let subject = bus.subjects.progress(&request.call_id);
        match bus.client.subscribe(subject.clone()).await {
            Ok(mut subscription) => {
                request.progress_subject = Some(subject);
                let peer = context.peer.clone();
                let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let forward = |payload: &[u8]| {
                        let update: Option<ProgressUpdate> = serde_json::from_slice(payload).ok();
                        update.map(|u| {
                            let mut p = ProgressNotificationParam::new(token.clone(), u.progress);
                            p.total = u.total;
                            p.message = u.message;
                            p
                        })
                    };
                    loop {
                        tokio::select! {
                            m = subscription.next() => match m {
                                Some(m) => if let Some(p) = forward(&m.payload) { let _ = peer.notify_progress(p).await; },
                                None => return,
                            },
                            _ = &mut stop_rx => {
                                // The reply is in: deliver what already arrived, so progress precedes the result.
                                while let Some(Some(m)) = subscription.next().now_or_never() {
                                    if let Some(p) = forward(&m.payload) {
                                        let _ = peer.notify_progress(p).await;
                                    }
                                }
                                return;
                            }
                        }
                    }
                });
                forwarder = Some((stop_tx, task));
            }
            Err(e) => tracing::warn!(error = %e, "cannot relay progress for this call"),
        }
    }
    let reply = tokio::select! {
        reply = canopy_bus::calls::request(bus, &request) => reply,
        _ = context.ct.cancelled() => {
            canopy_bus::calls::cancel(bus, &request.call_id).await;
            CallReply::Error { code: CallErrorCode::Cancelled, message: "cancelled by the client".into() }
        }
    };
    if let Some((stop, task)) = forwarder {
        let _ = stop.send(());
        let _ = task.await;
    }
    reply
}
