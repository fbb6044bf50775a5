//! The one command path: load, decide, then append + project + outbox + idempotency record in
//! a single transaction, retrying the decision when another writer got there first.

use crate::event::{CommandContext, NewEvent, StoredEvent, StreamKey};
use crate::projection::Projector;
use crate::store::{EventStore, StoreError};
use canopy_domain::Aggregate;
use std::sync::Arc;
use uuid::Uuid;

/// Attempts before a command that keeps losing the race gives up with a conflict. Between
/// attempts a loser waits a random 0 to 2^n ms (at most 32): writers that collided do not
/// collide again in lockstep (a tenant's credit ledger is written by every submit and end).
const MAX_ATTEMPTS: u32 = 8;

async fn back_off(attempt: u32) {
    let window_us = 1_000u64 << attempt.min(5);
    let wait_us = (Uuid::new_v4().as_u128() as u64) % window_us;
    tokio::time::sleep(std::time::Duration::from_micros(wait_us)).await;
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(E),
    #[error("idempotency key '{0}' was already used with a different request")]
    IdempotencyMismatch(String),
    #[error("command kept conflicting with concurrent writers on {0}; try again")]
    Contention(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: std::error::Error + 'static> From<sqlx::Error> for ExecuteError<E> {
    fn from(e: sqlx::Error) -> Self {
        ExecuteError::Store(StoreError::Database(e))
    }
}

/// What a command did: the aggregate state after it, the events it appended (none when the
/// command changed nothing), and whether this is a replay of an earlier idempotent request.
#[derive(Debug, Clone)]
pub struct Outcome<A> {
    pub state: A,
    pub version: i64,
    pub events: Vec<StoredEvent>,
    pub replayed: bool,
}

pub struct CommandExecutor<P> {
    store: EventStore,
    projector: Arc<P>,
    snapshots: Arc<Snapshots>,
    turns: Arc<Turns>,
}

impl<P> Clone for CommandExecutor<P> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            projector: self.projector.clone(),
            snapshots: self.snapshots.clone(),
            turns: self.turns.clone(),
        }
    }
}

/// Commands of this process on one stream take turns: a busy stream (a tenant's credit
/// ledger, written by every submit and end of a job) would otherwise see its writers collide,
/// each collision costing a rollback, a back-off and a second read. Writers in other processes
/// still race, and the optimistic version check still decides.
#[derive(Default)]
struct Turns {
    streams: std::sync::Mutex<std::collections::HashMap<StreamKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Turns {
    async fn take(&self, key: &StreamKey) -> Turn<'_> {
        let lock = {
            let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
            streams.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Turn { turns: self, key: key.clone(), lock, _guard: guard }
    }
}

struct Turn<'a> {
    turns: &'a Turns,
    key: StreamKey,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut streams = self.turns.streams.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference, this turn's and its guard's: nobody else waits for the stream.
        if Arc::strong_count(&self.lock) <= 3 {
            streams.remove(&self.key);
        }
    }
}

/// A stream is remembered once it has this many events: shorter ones cost less to read whole
/// than to keep.
const SNAPSHOT_FROM_EVENTS: i64 = 64;
/// At most this many streams are remembered; past it, all are forgotten (and re-read once).
const MAX_SNAPSHOTS: usize = 4096;

/// The state of long streams (a tenant's credit ledger, written by every submit and end of a
/// job, grows without end) as of a version, so that a command reads only the events appended
/// since, by any process, instead of the whole history: events are immutable and numbered
/// without gaps, so the state at version v and the events after v are the current state. Kept
/// in memory of this process (shared by every clone of the executor); nothing is written.
#[derive(Default)]
struct Snapshots {
    states: std::sync::Mutex<std::collections::HashMap<StreamKey, (Box<dyn std::any::Any + Send + Sync>, i64)>>,
}

impl Snapshots {
    fn get<A: Aggregate>(&self, key: &StreamKey) -> Option<(A, i64)> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let (state, version) = states.get(key)?;
        Some((state.downcast_ref::<A>()?.clone(), *version))
    }

    fn put<A: Aggregate>(&self, key: &StreamKey, state: &A, version: i64) {
        if version < SNAPSHOT_FROM_EVENTS {
            return;
        }
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if states.get(key).is_some_and(|(_, known)| *known >= version) {
            return;
        }
        if states.len() >= MAX_SNAPSHOTS && !states.contains_key(key) {
            states.clear();
        }
        states.insert(key.clone(), (Box::new(state.clone()), version));
    }
}

impl<P: Projector> CommandExecutor<P> {
    pub fn new(store: EventStore, projector: Arc<P>) -> Self {
        Self { store, projector, snapshots: Arc::default(), turns: Arc::default() }
    }

    /// The current state of a stream: a remembered one brought up to date with the events
    /// appended since, or the whole stream folded.
    async fn current<A: Aggregate>(&self, key: &StreamKey) -> Result<(A, i64), ExecuteError<A::Error>> {
        let (state, version) = match self.snapshots.get::<A>(key) {
            Some((state, version)) => {
                let tail = self.store.load_after(key, version).await?;
                fold_onto::<A>(state, version, &tail)?
            }
            None => fold::<A>(&self.store.load(key).await?)?,
        };
        self.snapshots.put(key, &state, version);
        Ok((state, version))
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Loads the current state of a stream (no command).
    pub async fn load<A: Aggregate>(&self, key: &StreamKey) -> Result<(A, i64), ExecuteError<A::Error>> {
        self.current::<A>(key).await
    }

    pub async fn execute<A: Aggregate>(
        &self,
        ctx: &CommandContext,
        aggregate_id: &str,
        command: &A::Command,
    ) -> Result<Outcome<A>, ExecuteError<A::Error>> {
        let key = StreamKey::of::<A>(&ctx.tenant, aggregate_id);
        let idempotency = match (&ctx.metadata.idempotency_key, &ctx.request_fingerprint) {
            (Some(k), Some(f)) => Some((k.as_str(), f.as_str())),
            _ => None,
        };
        let _turn = self.turns.take(&key).await;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                back_off(attempt).await;
            }
            if let Some((k, f)) = idempotency {
                if let Some(outcome) = self.replay::<A>(ctx, k, f).await? {
                    return Ok(outcome);
                }
            }
            let (state, version) = self.current::<A>(&key).await?;
            let decided = state.decide(command).map_err(ExecuteError::Rejected)?;
            let new_events: Vec<NewEvent> = decided.iter().map(NewEvent::from_domain).collect();

            let mut tx = self.store.pool().begin().await?;
            let stored = match EventStore::append(&mut tx, &key, version, &new_events, &ctx.metadata).await {
                Ok(stored) => stored,
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            for event in &stored {
                self.projector.apply(&mut tx, event).await?;
            }
            let new_version = version + stored.len() as i64;
            if let Some((k, f)) = idempotency {
                let ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, aggregate_type, \
                     aggregate_id, version, event_ids) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
                )
                .bind(ctx.tenant.as_str())
                .bind(k)
                .bind(f)
                .bind(A::TYPE)
                .bind(aggregate_id)
                .bind(new_version)
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    // A concurrent request with the same key committed first: drop ours and
                    // answer with theirs (or a mismatch) on the next attempt.
                    tx.rollback().await?;
                    continue;
                }
            }
            tx.commit().await?;
            let state = decided.iter().fold(state, |s, e| s.apply(e));
            self.snapshots.put(&key, &state, new_version);
            return Ok(Outcome { state, version: new_version, events: stored, replayed: false });
        }
        Err(ExecuteError::Contention(key.subject()))
    }

    async fn replay<A: Aggregate>(
        &self,
        ctx: &CommandContext,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Outcome<A>>, ExecuteError<A::Error>> {
        let row: Option<(String, String, String, i64, Vec<Uuid>)> = sqlx::query_as(
            "SELECT request_hash, aggregate_type, aggregate_id, version, event_ids FROM idempotency_keys \
             WHERE tenant_id = $1 AND idempotency_key = $2",
        )
        .bind(ctx.tenant.as_str())
        .bind(key)
        .fetch_optional(self.store.pool())
        .await?;
        let Some((hash, aggregate_type, aggregate_id, version, ids)) = row else {
            return Ok(None);
        };
        if hash != fingerprint || aggregate_type != A::TYPE {
            return Err(ExecuteError::IdempotencyMismatch(key.to_string()));
        }
        let stream = StreamKey::of::<A>(&ctx.tenant, aggregate_id);
        let history = self.store.load_up_to(&stream, version).await?;
        let (state, _) = fold::<A>(&history)?;
        let events = history.into_iter().filter(|e| ids.contains(&e.event_id)).collect();
        Ok(Some(Outcome { state, version, events, replayed: true }))
    }
}

fn fold<A: Aggregate>(history: &[StoredEvent]) -> Result<(A, i64), ExecuteError<A::Error>> {
    fold_onto(A::default(), 0, history)
}

/// `state` at `version`, with `events` (those after `version`, in order) applied.
fn fold_onto<A: Aggregate>(
    mut state: A,
    version: i64,
    events: &[StoredEvent],
) -> Result<(A, i64), ExecuteError<A::Error>> {
    for stored in events {
        let event: A::Event = stored.decode().map_err(StoreError::from)?;
        state = state.apply(&event);
    }
    Ok((state, events.last().map_or(version, |e| e.version)))
}
