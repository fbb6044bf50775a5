//! The outbox relay: moves committed events from the `outbox` table to the JetStream `EVENTS`
//! stream. One leader at a time across all replicas (a Postgres advisory lock); woken by
//! NOTIFY from the committing transaction and by a timer. A row leaves the outbox only after
//! JetStream acknowledged it; a relay that dies in between republishes on restart, and the
//! stream drops the duplicate by its `Nats-Msg-Id` (the event id).

use crate::{Bus, BusError};
use canopy_eventstore::store::OUTBOX_CHANNEL;
use canopy_eventstore::StoredEvent;
use futures::future::try_join_all;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::future::IntoFuture;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Arbitrary, fixed: the advisory lock id of the relay leader.
const LEADER_LOCK: i64 = 0x63616e6f_70790001;

#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub batch: i64,
    /// Checked even without NOTIFY: a notification can be missed while reconnecting.
    pub poll_interval: Duration,
    /// Test hook: after publishing this many events, stop as if killed, before the outbox rows
    /// of the published events are deleted: the worst moment to die.
    pub die_after_publishing: Option<usize>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self { batch: 256, poll_interval: Duration::from_secs(1), die_after_publishing: None }
    }
}

pub struct OutboxRelay {
    pool: PgPool,
    bus: Bus,
    options: RelayOptions,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl OutboxRelay {
    pub fn new(pool: PgPool, bus: Bus, options: RelayOptions) -> Self {
        Self { pool, bus, options }
    }

    /// Runs until `shutdown`. Errors are logged and retried with backoff: a relay never gives up
    /// while the process lives. Returns early only through the test hook.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            match self.lead(&shutdown).await {
                Ok(Stop::Shutdown) | Ok(Stop::Died) => return,
                Ok(Stop::NotLeader) => backoff = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "outbox relay error; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff.max(self.options.poll_interval)) => {}
            }
        }
    }

    async fn lead(&self, shutdown: &CancellationToken) -> Result<Stop, RelayError> {
        // The lock lives as long as this dedicated connection; if the connection dies, another
        // replica takes over.
        let mut lock_conn: PgConnection = self.pool.acquire().await?.detach();
        let (leader,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1)").bind(LEADER_LOCK).fetch_one(&mut lock_conn).await?;
        if !leader {
            return Ok(Stop::NotLeader);
        }
        tracing::info!("outbox relay: leading");
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(OUTBOX_CHANNEL).await?;
        let mut published_total = 0usize;
        loop {
            let published = self.drain_once(published_total).await?;
            published_total += published.count;
            if published.died {
                return Ok(Stop::Died);
            }
            if published.count as i64 == self.options.batch {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(Stop::Shutdown),
                n = listener.recv() => { n?; }
                _ = tokio::time::sleep(self.options.poll_interval) => {
                    sqlx::query("SELECT 1").execute(&mut lock_conn).await?;
                }
            }
        }
    }

    async fn drain_once(&self, published_before: usize) -> Result<Drained, RelayError> {
        let rows: Vec<(String, StoredEvent)> = {
            let mut conn = self.pool.acquire().await?;
            // The batch is taken from the outbox first and each of its events looked up by key:
            // a plain join let the planner walk the events table from its start (a merge join
            // on its primary key, or a hash join over all of it) on every drain, which grows
            // with every event ever stored.
            let raw: Vec<OutboxRow> = sqlx::query_as(
                "SELECT o.subject, e.global_position, e.event_id, e.tenant_id, e.aggregate_type, e.aggregate_id, \
                 e.version, e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at \
                 FROM (SELECT global_position, subject FROM outbox ORDER BY global_position LIMIT $1) o \
                 CROSS JOIN LATERAL (SELECT * FROM events WHERE global_position = o.global_position) e \
                 ORDER BY o.global_position",
            )
            .bind(self.options.batch)
            .fetch_all(&mut *conn)
            .await?;
            raw.into_iter().map(|r| (r.subject, r.event)).collect()
        };
        if rows.is_empty() {
            return Ok(Drained { count: 0, died: false });
        }
        let mut rows = rows;
        let mut died = false;
        if let Some(limit) = self.options.die_after_publishing {
            let room = limit.saturating_sub(published_before);
            if room <= rows.len() {
                rows.truncate(room);
                died = true;
            }
        }
        // Publish the whole batch, then wait for all acknowledgements: one round trip per batch.
        let mut acks = Vec::with_capacity(rows.len());
        for (subject, event) in &rows {
            let subject = self.bus.subjects.event(subject);
            let mut payload = serde_json::to_vec(event).expect("events serialise");
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.event_id.to_string().as_str());
            if crate::payload::check(&self.bus.client, Some(&headers), &payload).is_err() {
                // Too large for the server (it would drop the connection and the outbox would
                // retry forever): a stub takes its place, and followers resync from the log.
                tracing::warn!(
                    event_id = %event.event_id,
                    size = payload.len(),
                    "an event too large for the bus is published as a stub; followers resync from the log"
                );
                payload = serde_json::to_vec(&OversizedStub::of(event)).expect("stubs serialise");
                headers.insert(OVERSIZED_HEADER, "1");
            }
            let publish = async_nats::jetstream::context::Publish::build()
                .payload(payload.into())
                .headers(headers)
                .message_id(event.event_id.to_string());
            let ack = self
                .bus
                .jetstream
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|e| BusError::Publish { subject, source: Box::new(e) })?;
            acks.push(ack);
        }
        try_join_all(acks.into_iter().map(|a| a.into_future()))
            .await
            .map_err(|e| BusError::Publish { subject: self.bus.subjects.events_all(), source: Box::new(e) })?;
        if died {
            tracing::warn!(published = rows.len(), "outbox relay: dying on purpose before deleting (test hook)");
            return Ok(Drained { count: rows.len(), died });
        }
        let positions: Vec<i64> = rows.iter().map(|(_, e)| e.global_position).collect();
        sqlx::query("DELETE FROM outbox WHERE global_position = ANY($1)").bind(&positions).execute(&self.pool).await?;
        metrics::counter!("canopy_outbox_published_total").increment(rows.len() as u64);
        Ok(Drained { count: rows.len(), died })
    }
}

/// Header of an event's stand-in on the bus when the event itself is larger than the server
/// accepts: the event is in the log; whoever reads the stream reads it there (a cache resyncs).
pub const OVERSIZED_HEADER: &str = "Canopy-Oversized";

/// What the bus carries in place of an oversized event: where it is in the log.
#[derive(serde::Serialize)]
struct OversizedStub<'a> {
    oversized: bool,
    global_position: i64,
    event_id: String,
    tenant_id: &'a str,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    version: i64,
    event_type: &'a str,
}

impl<'a> OversizedStub<'a> {
    fn of(event: &'a StoredEvent) -> Self {
        Self {
            oversized: true,
            global_position: event.global_position,
            event_id: event.event_id.to_string(),
            tenant_id: event.tenant_id.as_str(),
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            version: event.version,
            event_type: &event.event_type,
        }
    }
}

enum Stop {
    Shutdown,
    NotLeader,
    Died,
}

struct Drained {
    count: usize,
    died: bool,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    subject: String,
    #[sqlx(flatten)]
    event: StoredEvent,
}
