//! Consuming the `EVENTS` stream.
//! - [`CheckpointedConsumer`]: a durable consumer shared by all replicas of a service, that
//!   applies each event exactly once to Postgres: the effect and the checkpoint (the JetStream
//!   stream sequence) commit in one transaction, and a redelivered event at or below the
//!   checkpoint is acknowledged without being applied again.
//! - [`tail_events`]: an ephemeral ordered consumer from "now", for in-memory caches that load
//!   a snapshot after subscribing and apply events idempotently.

use crate::{Bus, BusError};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use canopy_eventstore::{Projector, StoredEvent};
use futures::{Stream, StreamExt};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A durable pull consumer shared by every replica of a service (each message goes to one of
/// them), with explicit acks: how Canopy's services take work from a stream.
pub struct Durable<'a> {
    pub stream: String,
    pub name: &'a str,
    pub filter_subject: String,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Messages handed out and not yet acked, at most (0: the server's default).
    pub max_ack_pending: i64,
}

impl Durable<'_> {
    pub async fn messages(self, bus: &Bus) -> Result<pull::Stream, BusError> {
        let name = self.name;
        let stream = bus.jetstream.get_stream(&self.stream).await.map_err(|e| consumer_err(name, e))?;
        let mut config = pull::Config {
            durable_name: Some(name.to_string()),
            filter_subject: self.filter_subject,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        };
        if self.max_ack_pending > 0 {
            config.max_ack_pending = self.max_ack_pending;
        }
        let mut consumer = stream
            .get_or_create_consumer::<pull::Config>(name, config.clone())
            .await
            .map_err(|e| consumer_err(name, e))?;
        // A consumer created by an earlier version keeps its config unless told otherwise.
        if consumer.cached_info().config.ack_wait != self.ack_wait {
            consumer = stream.update_consumer(config).await.map_err(|e| consumer_err(name, e))?;
        }
        consumer.messages().await.map_err(|e| consumer_err(name, e))
    }
}

pub struct CheckpointedConsumer<P> {
    pub bus: Bus,
    pub pool: PgPool,
    /// Durable consumer name; also the checkpoint's key.
    pub name: String,
    pub filter_subject: String,
    pub handler: Arc<P>,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Test hook: after committing the event at this stream sequence, stop without acking it,
    /// as a process killed between commit and ack would.
    pub die_before_ack_at: Option<u64>,
}

fn consumer_err(name: &str, e: impl std::error::Error + Send + Sync + 'static) -> BusError {
    BusError::Consumer { consumer: name.to_string(), source: Box::new(e) }
}

impl<P: Projector> CheckpointedConsumer<P> {
    /// Runs until `shutdown` (or the test hook). Returns an error only when the consumer
    /// cannot be set up; per-event failures are negatively acknowledged and retried.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let name = self.name.clone();
        let mut messages = Durable {
            stream: self.bus.subjects.events_stream(),
            name: &name,
            filter_subject: self.filter_subject.clone(),
            ack_wait: self.ack_wait,
            // Strictly one at a time: the checkpoint is only correct in stream order.
            max_ack_pending: 1,
        }
        .messages(&self.bus)
        .await?;
        sqlx::query(
            "INSERT INTO consumer_checkpoints (consumer, stream_sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(&name)
        .execute(&self.pool)
        .await
        .map_err(|e| consumer_err(&name, e))?;
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                m = messages.next() => m,
            };
            let Some(message) = message else {
                return Ok(());
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(consumer = %name, error = %e, "event consumer: receive failed");
                    continue;
                }
            };
            let sequence = match message.info() {
                Ok(info) => info.stream_sequence,
                Err(e) => {
                    tracing::warn!(consumer = %name, error = %e, "event consumer: message without JetStream info");
                    continue;
                }
            };
            match self.apply_once(sequence, &message.payload).await {
                Ok(()) => {
                    if self.die_before_ack_at == Some(sequence) {
                        return Ok(());
                    }
                    if let Err(e) = message.ack().await {
                        tracing::warn!(consumer = %name, error = %e, "event consumer: ack failed; the event will be redelivered and skipped");
                    }
                }
                Err(e) => {
                    tracing::warn!(consumer = %name, sequence, error = %e, "event consumer: apply failed; will retry");
                    let _ =
                        message.ack_with(async_nats::jetstream::AckKind::Nak(Some(Duration::from_millis(500)))).await;
                }
            }
        }
    }

    async fn apply_once(&self, sequence: u64, payload: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut tx = self.pool.begin().await?;
        let (checkpoint,): (i64,) =
            sqlx::query_as("SELECT stream_sequence FROM consumer_checkpoints WHERE consumer = $1 FOR UPDATE")
                .bind(&self.name)
                .fetch_one(&mut *tx)
                .await?;
        if sequence as i64 <= checkpoint {
            return Ok(()); // already applied; the ack was lost
        }
        let event: StoredEvent = serde_json::from_slice(payload)?;
        self.handler.apply(&mut tx, &event).await?;
        sqlx::query("UPDATE consumer_checkpoints SET stream_sequence = $2 WHERE consumer = $1")
            .bind(&self.name)
            .bind(sequence as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Events matching `filter_subject` published from now on, in stream order.
pub async fn tail_events(
    bus: &Bus,
    filter_subject: String,
) -> Result<impl Stream<Item = Result<StoredEvent, BusError>> + Send + 'static, BusError> {
    let name = format!("tail:{filter_subject}");
    let stream = bus.jetstream.get_stream(bus.subjects.events_stream()).await.map_err(|e| consumer_err(&name, e))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject,
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| consumer_err(&name, e))?;
    let messages = consumer.messages().await.map_err(|e| consumer_err(&name, e))?;
    Ok(messages.map(move |m| {
        let m = m.map_err(|e| consumer_err("tail", e))?;
        if m.headers.as_ref().is_some_and(|h| h.get(crate::relay::OVERSIZED_HEADER).is_some()) {
            // The event is only in the log: a follower must read the log again.
            return Err(consumer_err("tail", OversizedEvent));
        }
        serde_json::from_slice::<StoredEvent>(&m.payload).map_err(|e| consumer_err("tail", e))
    }))
}

/// An event the bus carried only as a stub (too large for the server): it is in the log.
#[derive(Debug, thiserror::Error)]
#[error("an event too large for the bus was published as a stub; read it from the log")]
pub struct OversizedEvent;
