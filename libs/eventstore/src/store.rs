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
        self.load_between(key, 0, version).await
    }

    /// The events of `key` after version `after`, oldest first.
    pub async fn load_after(&self, key: &StreamKey, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        self.load_between(key, after, i64::MAX).await
    }

    /// The events of `key` with a version above `after` and at most `up_to`, oldest first.
    async fn load_between(&self, key: &StreamKey, after: i64, up_to: i64) -> Result<Vec<StoredEvent>, StoreError> {
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
            .fetch_all(&self.pool)
            .await?)
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
    /// writing one outbox row per event and a NOTIFY for the relay, all in `tx`.
    pub async fn append(
        tx: &mut PgConnection,
        key: &StreamKey,
        expected_version: i64,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stored = Vec::with_capacity(events.len());
        let metadata_json = serde_json::to_value(metadata).expect("metadata serialises");
        let insert = format!(
            "INSERT INTO events (event_id, tenant_id, aggregate_type, aggregate_id, version, event_type, \
             schema_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
        );
        for (i, event) in events.iter().enumerate() {
            let result = sqlx::query_as::<_, StoredEvent>(&insert)
                .bind(Uuid::now_v7())
                .bind(key.tenant.as_str())
                .bind(key.aggregate_type)
                .bind(&key.aggregate_id)
                .bind(expected_version + 1 + i as i64)
                .bind(event.event_type)
                .bind(event.schema_version as i32)
                .bind(&event.payload)
                .bind(&metadata_json)
                .fetch_one(&mut *tx)
                .await;
            let row = match result {
                Ok(row) => row,
                Err(sqlx::Error::Database(e)) if e.constraint() == Some("events_stream_version") => {
                    return Err(StoreError::VersionConflict { stream: key.subject(), expected: expected_version })
                }
                Err(e) => return Err(e.into()),
            };
            sqlx::query("INSERT INTO outbox (global_position, subject) VALUES ($1, $2)")
                .bind(row.global_position)
                .bind(key.subject())
                .execute(&mut *tx)
                .await?;
            stored.push(row);
        }
        if !stored.is_empty() {
            sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut *tx).await?;
        }
        Ok(stored)
    }
}
