//! Projections: read models kept in Postgres, updated in the same transaction as the events
//! they come from, and rebuildable from the log at any time.

use crate::event::StoredEvent;
use crate::store::{EventStore, StoreError};
use sqlx::{PgConnection, PgPool};
use std::future::Future;

/// Applies events to read models. Implementations must be deterministic functions of the
/// event sequence: rebuild relies on it.
pub trait Projector: Send + Sync + 'static {
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// Empties every read model this projector owns.
    fn reset<'a>(&'a self, conn: &'a mut PgConnection) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;
}

/// Rebuilds every read model from the whole log in one transaction: readers see either the
/// old read models or the rebuilt ones, never a half-built state. Returns the event count.
pub async fn rebuild<P: Projector>(pool: &PgPool, projector: &P) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    projector.reset(&mut tx).await?;
    let mut position = 0;
    let mut count = 0;
    loop {
        let batch = EventStore::read_after(&mut tx, position, 500).await?;
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        for event in &batch {
            projector.apply(&mut tx, event).await?;
            count += 1;
        }
    }
    tx.commit().await?;
    Ok(count)
}
