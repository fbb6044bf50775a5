//! The one command path: load, decide, then append + project + outbox + idempotency record in
//! a single transaction, retrying the decision when another writer got there first.

use crate::event::{CommandContext, NewEvent, StoredEvent, StreamKey};
use crate::projection::Projector;
use crate::store::{EventStore, StoreError};
use canopy_domain::Aggregate;
use sqlx::PgConnection;
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

/// A stream's turn in this process, taken with [`CommandExecutor::take_turn`].
pub struct StreamTurn<'a> {
    _turn: Turn<'a>,
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

    /// [`Self::current`] read on `conn`, inside a caller's transaction: it sees what the
    /// transaction wrote, so nothing read here is remembered (the transaction may yet roll
    /// back); a remembered state, committed, is still a valid start.
    async fn current_in<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        key: &StreamKey,
    ) -> Result<(A, i64), ExecuteError<A::Error>> {
        let (state, version) = self.snapshots.get::<A>(key).unwrap_or_default();
        let tail = EventStore::load_after_in(conn, key, version).await?;
        fold_onto::<A>(state, version, &tail)
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Loads the current state of a stream (no command).
    pub async fn load<A: Aggregate>(&self, key: &StreamKey) -> Result<(A, i64), ExecuteError<A::Error>> {
        self.current::<A>(key).await
    }

    /// Takes `key`'s turn in this process: what [`Self::execute`] holds for each command, for a
    /// caller that writes the stream through [`Self::execute_in`] in a transaction of its own
    /// (a batch of commands on one stream), so its writes and this process's other writers of
    /// the stream take turns instead of colliding. Take it before the transaction begins, never
    /// while holding row locks (a turn holder may be waiting for them); dropping it gives it up.
    pub async fn take_turn(&self, key: &StreamKey) -> StreamTurn<'_> {
        StreamTurn { _turn: self.turns.take(key).await }
    }

    /// Decides `command` on the stream's current state and records what it decided in a
    /// transaction of its own, retrying the decision when another writer got there first.
    pub async fn execute<A: Aggregate>(
        &self,
        ctx: &CommandContext,
        aggregate_id: &str,
        command: &A::Command,
    ) -> Result<Outcome<A>, ExecuteError<A::Error>> {
        self.execute_known(ctx, aggregate_id, command, None).await
    }

    /// [`Self::execute`], deciding first on `state` at `version`, which the caller already
    /// holds (an earlier [`Outcome`], or a read model row written in the stream's own
    /// transactions), instead of reading the stream: one read fewer. The pair must be
    /// consistent (the state the stream had at that version). It is only a guess: anything but
    /// a clean append (the stream moved on, so the append conflicts; a refusal; nothing to
    /// append) is decided again on the stream as stored, so the outcome is the same as
    /// [`Self::execute`]'s.
    pub async fn execute_from<A: Aggregate>(
        &self,
        ctx: &CommandContext,
        aggregate_id: &str,
        command: &A::Command,
        state: A,
        version: i64,
    ) -> Result<Outcome<A>, ExecuteError<A::Error>> {
        self.execute_known(ctx, aggregate_id, command, Some((state, version))).await
    }

    async fn execute_known<A: Aggregate>(
        &self,
        ctx: &CommandContext,
        aggregate_id: &str,
        command: &A::Command,
        mut known: Option<(A, i64)>,
    ) -> Result<Outcome<A>, ExecuteError<A::Error>> {
        let key = StreamKey::of::<A>(&ctx.tenant, aggregate_id);
        let _turn = self.turns.take(&key).await;
        let mut attempt = 0;
        loop {
            if let Some(outcome) = self.replay_pooled::<A>(ctx).await? {
                return Ok(outcome);
            }
            let guessed = known.is_some();
            let (state, version) = match known.take() {
                Some(known) => known,
                None => self.current::<A>(&key).await?,
            };
            let Some(decided) = decide(&state, command, guessed)? else { continue };
            let mut tx = self.store.pool().begin().await?;
            if let Some(outcome) = self.record(&mut tx, ctx, &key, state, version, decided).await? {
                tx.commit().await?;
                self.snapshots.put(&key, &outcome.state, outcome.version);
                return Ok(outcome);
            }
            // Another writer got there first: decide again on what it wrote.
            tx.rollback().await?;
            if !guessed {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(ExecuteError::Contention(key.subject()));
                }
                back_off(attempt).await;
            }
        }
    }

    /// Decides `command` and records what it decided in the caller's transaction `conn`, with
    /// the rule [`Self::execute`] follows (append at the version decided on, projections,
    /// outbox, idempotency record), so that the caller's own writes (a lease row, another
    /// aggregate's events) commit with the events or not at all. The caller commits. The
    /// stream is read on `conn` unless `known` gives its state (as for
    /// [`Self::execute_from`]: a guess, decided again on the stream when it is not a clean
    /// append).
    ///
    /// Nothing is retried here: when another writer got there first (the stream moved past
    /// the version decided on, or the idempotency key was used meanwhile) the answer is
    /// [`ExecuteError::Contention`], and the transaction can only be rolled back; the caller
    /// tries again in a new one. This does not take the stream's turn in this process (a
    /// transaction that waits for one while it holds row locks could wait forever on a turn
    /// holder waiting for those rows); the append's version check alone decides.
    pub async fn execute_in<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        ctx: &CommandContext,
        aggregate_id: &str,
        command: &A::Command,
        mut known: Option<(A, i64)>,
    ) -> Result<Outcome<A>, ExecuteError<A::Error>> {
        let key = StreamKey::of::<A>(&ctx.tenant, aggregate_id);
        if let Some((k, f)) = idempotency(ctx) {
            if let Some(outcome) = self.replay::<A>(conn, ctx, k, f).await? {
                return Ok(outcome);
            }
        }
        loop {
            let guessed = known.is_some();
            let (state, version) = match known.take() {
                Some(known) => known,
                None => self.current_in::<A>(conn, &key).await?,
            };
            let Some(decided) = decide(&state, command, guessed)? else { continue };
            return match self.record(conn, ctx, &key, state, version, decided).await? {
                Some(outcome) => Ok(outcome),
                None => Err(ExecuteError::Contention(key.subject())),
            };
        }
    }

    /// The rule every command follows once decided, in `conn`'s transaction: append the
    /// events at `version`, project them, record the idempotency key. `None`: another writer
    /// got there first (the transaction must be rolled back).
    async fn record<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        ctx: &CommandContext,
        key: &StreamKey,
        state: A,
        version: i64,
        decided: Vec<A::Event>,
    ) -> Result<Option<Outcome<A>>, ExecuteError<A::Error>> {
        let new_events: Vec<NewEvent> = decided.iter().map(NewEvent::from_domain).collect();
        let stored = match EventStore::append(conn, key, version, &new_events, &ctx.metadata).await {
            Ok(stored) => stored,
            Err(StoreError::VersionConflict { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        for event in &stored {
            self.projector.apply(conn, event).await?;
        }
        let new_version = version + stored.len() as i64;
        if let Some((k, f)) = idempotency(ctx) {
            let ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, aggregate_type, \
                 aggregate_id, version, event_ids) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.tenant.as_str())
            .bind(k)
            .bind(f)
            .bind(A::TYPE)
            .bind(&key.aggregate_id)
            .bind(new_version)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() == 0 {
                // A concurrent request with the same key committed first: drop ours and
                // answer with theirs (or a mismatch) on the next attempt.
                return Ok(None);
            }
        }
        let state = decided.iter().fold(state, |s, e| s.apply(e));
        Ok(Some(Outcome { state, version: new_version, events: stored, replayed: false }))
    }

    /// [`Self::replay`] on a pooled connection, when the command carries a key.
    async fn replay_pooled<A: Aggregate>(
        &self,
        ctx: &CommandContext,
    ) -> Result<Option<Outcome<A>>, ExecuteError<A::Error>> {
        let Some((k, f)) = idempotency(ctx) else { return Ok(None) };
        let mut conn = self.store.pool().acquire().await?;
        self.replay::<A>(&mut conn, ctx, k, f).await
    }

    async fn replay<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
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
        .fetch_optional(&mut *conn)
        .await?;
        let Some((hash, aggregate_type, aggregate_id, version, ids)) = row else {
            return Ok(None);
        };
        if hash != fingerprint || aggregate_type != A::TYPE {
            return Err(ExecuteError::IdempotencyMismatch(key.to_string()));
        }
        let stream = StreamKey::of::<A>(&ctx.tenant, aggregate_id);
        let history = EventStore::load_up_to_in(conn, &stream, version).await?;
        let (state, _) = fold::<A>(&history)?;
        let events = history.into_iter().filter(|e| ids.contains(&e.event_id)).collect();
        Ok(Some(Outcome { state, version, events, replayed: true }))
    }
}

/// The command's idempotency key and request fingerprint, when it has both.
fn idempotency(ctx: &CommandContext) -> Option<(&str, &str)> {
    match (&ctx.metadata.idempotency_key, &ctx.request_fingerprint) {
        (Some(k), Some(f)) => Some((k.as_str(), f.as_str())),
        _ => None,
    }
}

/// The aggregate's decision. On a `guessed` state (not read from the stream) only a decision
/// to append something is taken as is: `None` asks for the decision again on the stream as
/// stored, which may differ.
fn decide<A: Aggregate>(
    state: &A,
    command: &A::Command,
    guessed: bool,
) -> Result<Option<Vec<A::Event>>, ExecuteError<A::Error>> {
    match state.decide(command) {
        Ok(events) if guessed && events.is_empty() => Ok(None),
        Ok(events) => Ok(Some(events)),
        Err(_) if guessed => Ok(None),
        Err(refused) => Err(ExecuteError::Rejected(refused)),
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
