//! Reading and appending streams. Appends happen inside a caller's transaction so that the
//! projection, outbox and idempotency writes commit together with the events.

use crate::event::{DecodeError, EventMetadata, NewEvent, StoredEvent, StreamKey};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The NOTIFY channel the outbox relay listens on.
pub const OUTBOX_CHANNEL: &str = "canopy_outbox";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream} moved past version {expected}: another writer appended first")]
    VersionConflict { stream: String, expected: i64 },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("stored event cannot be read")]
    Decode(#[from] DecodeError),
}

const COLUMNS: &str = "global_position, event_id, tenant_id, aggregate_type, aggregate_id, version, \
                       event_type, schema_version, payload, metadata, recorded_at";

#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The whole stream, oldest first.
    pub async fn load(&self, key: &StreamKey) -> Result<Vec<StoredEvent>, StoreError> {
        self.load_up_to(key, i64::MAX).await
    }

    /// The events of `key` up to version `version` (included), oldest first.
    pub async fn load_up_to(&self, key: &StreamKey, version: i64) -> Result<Vec<StoredEvent>, StoreError> {
        load_between(&self.pool, key, 0, version).await
    }

    /// The events of `key` after version `after`, oldest first.
    pub async fn load_after(&self, key: &StreamKey, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        load_between(&self.pool, key, after, i64::MAX).await
    }

    /// [`EventStore::load_up_to`] on `conn`.
    pub async fn load_up_to_in(
        conn: &mut PgConnection,
        key: &StreamKey,
        version: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        load_between(conn, key, 0, version).await
    }

    /// [`EventStore::load_after`] on `conn`: inside a transaction, it sees what the
    /// transaction wrote.
    pub async fn load_after_in(
        conn: &mut PgConnection,
        key: &StreamKey,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        load_between(conn, key, after, i64::MAX).await
    }

    /// Every event after `position` in commit order of positions, at most `limit`.
    pub async fn read_after(
        conn: &mut PgConnection,
        position: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2");
        Ok(sqlx::query_as::<_, StoredEvent>(&sql).bind(position).bind(limit).fetch_all(conn).await?)
    }

    /// Appends `events` to `key` if the stream is at `expected_version` (0 for a new stream),
    /// writing one outbox row per event and a NOTIFY for the relay, all in `tx`, in one
    /// statement (one round trip however many events; the events get consecutive versions and
    /// global positions in their order).
    pub async fn append(
        tx: &mut PgConnection,
        key: &StreamKey,
        expected_version: i64,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let metadata_json = serde_json::to_value(metadata).expect("metadata serialises");
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let versions: Vec<i64> = (1..=events.len() as i64).map(|i| expected_version + i).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
        let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
        let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
        // `notified` is read by the final SELECT, so it runs (a CTE without side effects runs
        // only when read); one NOTIFY per transaction reaches the relay whatever the count.
        let sql = format!(
            "WITH appended AS ( \
                 INSERT INTO events (event_id, tenant_id, aggregate_type, aggregate_id, version, event_type, \
                     schema_version, payload, metadata) \
                 SELECT e.event_id, $1, $2, $3, e.version, e.event_type, e.schema_version, e.payload, $4 \
                 FROM unnest($5::uuid[], $6::bigint[], $7::text[], $8::int[], $9::jsonb[]) \
                     WITH ORDINALITY AS e(event_id, version, event_type, schema_version, payload, n) \
                 ORDER BY e.n \
                 RETURNING {COLUMNS}), \
             queued AS (INSERT INTO outbox (global_position, subject) SELECT global_position, $10 FROM appended), \
             notified AS (SELECT pg_notify($11, '') FROM (SELECT 1 FROM appended LIMIT 1) one) \
             SELECT appended.* FROM appended CROSS JOIN notified ORDER BY appended.version"
        );
        let result = sqlx::query_as::<_, StoredEvent>(&sql)
            .bind(key.tenant.as_str())
            .bind(key.aggregate_type)
            .bind(&key.aggregate_id)
            .bind(&metadata_json)
            .bind(&ids)
            .bind(&versions)
            .bind(&types)
            .bind(&schema_versions)
            .bind(&payloads)
            .bind(key.subject())
            .bind(OUTBOX_CHANNEL)
            .fetch_all(&mut *tx)
            .await;
        match result {
            Ok(stored) if stored.len() == events.len() => Ok(stored),
            Ok(stored) => Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "appending {} events returned {} rows",
                events.len(),
                stored.len()
            )))),
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("events_stream_version") => {
                Err(StoreError::VersionConflict { stream: key.subject(), expected: expected_version })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The events of `key` with a version above `after` and at most `up_to`, oldest first.
async fn load_between<'c>(
    db: impl sqlx::PgExecutor<'c>,
    key: &StreamKey,
    after: i64,
    up_to: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE tenant_id = $1 AND aggregate_type = $2 \
         AND aggregate_id = $3 AND version > $4 AND version <= $5 ORDER BY version"
    );
    Ok(sqlx::query_as::<_, StoredEvent>(&sql)
        .bind(key.tenant.as_str())
        .bind(key.aggregate_type)
        .bind(&key.aggregate_id)
        .bind(after)
        .bind(up_to)
        .fetch_all(db)
        .await?)
}
