//! Following the event stream into an in-memory cache, and knowing when the cache is behind.
//!
//! Edges and workers keep caches of what the log says (the catalog, identities, groups,
//! tenants' suspension, upstream connections of current registrations). An ephemeral tail of
//! `EVENTS` keeps them fresh, but a tail can miss events: NATS restarts, the connection drops,
//! the tail breaks or shows a gap. Whatever the cause, [`follow`] handles it the same way:
//! it opens a new tail FIRST, then asks the cache to [`Follower::resync`] from Postgres (the
//! source of truth, projected in the write transaction, so never older than anything the tail
//! delivers), REPLACING what it holds (removals included: an entry absent from the snapshot
//! is dropped), then applies the tail's events, which a cache ignores when not newer than what
//! it holds. Between losing the stream and finishing the resync the cache is known to be
//! behind: [`InStep`] says so, and `/readyz` reports it.
//!
//! A lost connection is noticed through the client's connection events ([`ConnectionState`]),
//! not by waiting for the tail's heartbeats to fail (which took 15-20 s after NATS came back).

use crate::{Bus, BusError};
use canopy_eventstore::StoredEvent;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The bus connection as the services see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionState {
    pub connected: bool,
    /// Incremented on every reconnection: a tail opened in an earlier epoch may have missed
    /// events.
    pub epoch: u64,
}

impl ConnectionState {
    pub(crate) fn watch() -> (watch::Sender<ConnectionState>, watch::Receiver<ConnectionState>) {
        watch::channel(ConnectionState { connected: true, epoch: 0 })
    }

    /// The state after one of the client's connection events.
    pub(crate) fn after(self, event: &async_nats::Event) -> ConnectionState {
        match event {
            async_nats::Event::Disconnected => ConnectionState { connected: false, ..self },
            async_nats::Event::Connected if !self.connected => {
                ConnectionState { connected: true, epoch: self.epoch + 1 }
            }
            _ => self,
        }
    }
}

/// Whether a cache kept from the event stream is known to be in step with the log: false
/// until its first resync, and again from the moment its stream is lost until it has resynced.
#[derive(Clone)]
pub struct InStep(Arc<watch::Sender<bool>>);

impl Default for InStep {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl InStep {
    pub fn get(&self) -> bool {
        *self.0.borrow()
    }

    pub fn set(&self, in_step: bool) {
        self.0.send_if_modified(|now| std::mem::replace(now, in_step) != in_step);
    }

    /// Waits until the cache is in step (at once if it is).
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|in_step| *in_step).await;
    }
}

pub type FollowError = Box<dyn std::error::Error + Send + Sync>;

/// A cache kept from the event stream.
pub trait Follower: Send + Sync + 'static {
    /// Makes the cache hold exactly what the log says now, removals included. Called after
    /// the tail is open, so nothing committed meanwhile is missed.
    fn resync(&self) -> impl Future<Output = Result<(), FollowError>> + Send;

    /// Applies one event; ignores one not newer than what is held. Returns false on a gap (an
    /// event that does not follow what is held and cannot stand alone), which calls for a
    /// resync.
    fn apply(&self, event: &StoredEvent) -> bool;
}

/// Keeps `follower` in step with the events matching `filter` until `shutdown`, resyncing
/// whenever the stream may have missed something; `in_step` tells whether it is.
pub async fn follow<F: Follower>(
    bus: Bus,
    filter: String,
    follower: Arc<F>,
    in_step: InStep,
    shutdown: CancellationToken,
) {
    let mut connection = bus.connection();
    loop {
        // Nothing can be followed while the connection is down: wait for it to come back.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = connection.wait_for(|c| c.connected) => {}
        }
        let epoch = connection.borrow_and_update().epoch;
        match follow_once(&bus, &filter, &*follower, &in_step, &mut connection, epoch, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                in_step.set(false);
                tracing::warn!(filter = %filter, error = %e, "event stream lost; resyncing from the log");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

async fn follow_once<F: Follower>(
    bus: &Bus,
    filter: &str,
    follower: &F,
    in_step: &InStep,
    connection: &mut watch::Receiver<ConnectionState>,
    epoch: u64,
    shutdown: &CancellationToken,
) -> Result<(), FollowError> {
    let mut tail = crate::tail_events(bus, filter.to_string()).await?;
    follower.resync().await?;
    // A reconnection while resyncing may have cost the tail events: start again.
    if connection.borrow().epoch != epoch || !connection.borrow().connected {
        return Err("the connection was lost while resyncing".into());
    }
    in_step.set(true);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            changed = connection.changed() => {
                changed.map_err(|_| "the bus connection is gone")?;
                let now = *connection.borrow_and_update();
                if !now.connected || now.epoch != epoch {
                    return Err("the bus connection was lost".into());
                }
                continue;
            }
            e = tail.next() => e,
        };
        match next {
            Some(Ok(event)) => {
                if !follower.apply(&event) {
                    return Err(format!(
                        "gap before {} {} v{}",
                        event.aggregate_type, event.aggregate_id, event.version
                    )
                    .into());
                }
            }
            Some(Err(e)) => return Err(Box::new(e)),
            None => {
                return Err(Box::new(BusError::Consumer { consumer: "tail".into(), source: "the tail ended".into() }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionState;
    use async_nats::Event;

    #[test]
    fn every_reconnection_is_a_new_epoch() {
        let start = ConnectionState { connected: true, epoch: 0 };
        let down = start.after(&Event::Disconnected);
        assert_eq!(down, ConnectionState { connected: false, epoch: 0 });
        let up = down.after(&Event::Connected);
        assert_eq!(up, ConnectionState { connected: true, epoch: 1 });
        assert_eq!(up.after(&Event::Connected), up, "a repeated Connected is not a reconnection");
        assert_eq!(up.after(&Event::SlowConsumer(1)), up);
    }
}
