//! The command executor against a real PostgreSQL, with an aggregate of its own (a counter)
//! and a projector that keeps nothing: one append per command however many events, commands
//! in a caller's transaction (`execute_in`), and a state the caller already holds
//! (`execute_from`) deciding exactly as a read of the stream would. Tests with Canopy's own
//! aggregates and read models live in `libs/readmodels/tests`.

use canopy_domain::{Aggregate, DomainEvent, TenantId, UpcastError};
use canopy_eventstore::{
    CommandContext, CommandExecutor, EventStore, ExecuteError, Projector, StoreError, StoredEvent, StreamKey,
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq)]
struct Counter {
    total: u64,
    sealed: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum CounterCommand {
    /// One event per step, each adding 1.
    Add { steps: u32 },
    /// Refused once sealed.
    Seal,
    /// Only after a seal: refused before.
    Reopen,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CounterEvent {
    Added,
    Sealed,
    Reopened,
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CounterEvent::Added => "counter.added",
            CounterEvent::Sealed => "counter.sealed",
            CounterEvent::Reopened => "counter.reopened",
        }
    }
    fn upcast(_: &str, _: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        Ok(p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("refused: {0}")]
struct Refused(&'static str);

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = CounterCommand;
    type Event = CounterEvent;
    type Error = Refused;

    fn decide(&self, command: &CounterCommand) -> Result<Vec<CounterEvent>, Refused> {
        match command {
            CounterCommand::Add { .. } if self.sealed => Err(Refused("sealed")),
            CounterCommand::Add { steps } => Ok(vec![CounterEvent::Added; *steps as usize]),
            CounterCommand::Seal if self.sealed => Err(Refused("already sealed")),
            CounterCommand::Seal => Ok(vec![CounterEvent::Sealed]),
            CounterCommand::Reopen if !self.sealed => Err(Refused("not sealed")),
            CounterCommand::Reopen => Ok(vec![CounterEvent::Reopened]),
        }
    }

    fn apply(mut self, event: &CounterEvent) -> Counter {
        match event {
            CounterEvent::Added => self.total += 1,
            CounterEvent::Sealed => self.sealed = true,
            CounterEvent::Reopened => self.sealed = false,
        }
        self
    }
}

/// Keeps nothing: the event store's own tables are what these tests read.
struct NoReadModels;

impl Projector for NoReadModels {
    async fn apply(&self, _: &mut PgConnection, _: &StoredEvent) -> Result<(), StoreError> {
        Ok(())
    }
    async fn reset(&self, _: &mut PgConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

fn ctx() -> CommandContext {
    CommandContext::new(TenantId::default_tenant(), "user:test")
}

fn key(id: &str) -> StreamKey {
    StreamKey::of::<Counter>(&TenantId::default_tenant(), id)
}

fn executor(pool: &sqlx::PgPool) -> CommandExecutor<NoReadModels> {
    CommandExecutor::new(EventStore::new(pool.clone()), Arc::new(NoReadModels))
}

async fn outbox_subjects(pool: &sqlx::PgPool, events: &[StoredEvent]) -> Vec<String> {
    let positions: Vec<i64> = events.iter().map(|e| e.global_position).collect();
    sqlx::query_scalar("SELECT subject FROM outbox WHERE global_position = ANY($1) ORDER BY global_position")
        .bind(&positions)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn one_command_appends_its_events_in_order_with_their_outbox_rows() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 1 }).await.unwrap();
    let outcome = exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 5 }).await.unwrap();
    assert_eq!(outcome.version, 6);
    assert_eq!(outcome.state.total, 6);
    let versions: Vec<i64> = outcome.events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![2, 3, 4, 5, 6]);
    assert!(outcome.events.windows(2).all(|w| w[0].global_position < w[1].global_position));
    assert!(outcome.events.iter().all(|e| e.event_type == "counter.added" && e.metadata.actor == "user:test"));
    assert_eq!(outbox_subjects(&db.pool, &outcome.events).await, vec![key("c").subject(); 5]);
    let stored = exec.store().load(&key("c")).await.unwrap();
    assert_eq!(stored.len(), 6);
    assert_eq!(&stored[1..], &outcome.events[..]);
}

#[tokio::test]
async fn a_command_in_the_callers_transaction_commits_or_rolls_back_with_it() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    sqlx::query("CREATE TABLE caller_rows (n INT)").execute(&db.pool).await.unwrap();

    // Rolled back: neither the caller's row nor the events nor their outbox rows remain.
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO caller_rows VALUES (1)").execute(&mut *tx).await.unwrap();
    let outcome =
        exec.execute_in::<Counter>(&mut tx, &ctx(), "c", &CounterCommand::Add { steps: 2 }, None).await.unwrap();
    assert_eq!(outcome.version, 2);
    // A second command on the same stream in the same transaction sees the first.
    let second = exec.execute_in::<Counter>(&mut tx, &ctx(), "c", &CounterCommand::Seal, None).await.unwrap();
    assert_eq!((second.version, second.state.total, second.state.sealed), (3, 2, true));
    tx.rollback().await.unwrap();
    assert!(exec.store().load(&key("c")).await.unwrap().is_empty());
    assert!(outbox_subjects(&db.pool, &outcome.events).await.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_rows").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rows, 0);
    // A refusal in the caller's transaction writes nothing and leaves it usable.
    let mut tx = db.pool.begin().await.unwrap();
    let refused = exec.execute_in::<Counter>(&mut tx, &ctx(), "c", &CounterCommand::Reopen, None).await;
    assert!(matches!(refused, Err(ExecuteError::Rejected(Refused("not sealed")))), "{refused:?}");

    // Committed: both.
    sqlx::query("INSERT INTO caller_rows VALUES (2)").execute(&mut *tx).await.unwrap();
    let outcome =
        exec.execute_in::<Counter>(&mut tx, &ctx(), "c", &CounterCommand::Add { steps: 2 }, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(exec.store().load(&key("c")).await.unwrap().len(), 2);
    assert_eq!(outbox_subjects(&db.pool, &outcome.events).await.len(), 2);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_rows").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn in_a_callers_transaction_a_writer_that_got_there_first_is_contention_and_nothing_is_kept() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 1 }).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    let state = Counter { total: 1, sealed: false };
    // Decided on version 1 in the caller's transaction...
    sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
    // ...while another writer commits version 2 first.
    exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Seal).await.unwrap();
    let raced =
        exec.execute_in::<Counter>(&mut tx, &ctx(), "c", &CounterCommand::Add { steps: 1 }, Some((state, 1))).await;
    assert!(matches!(raced, Err(ExecuteError::Contention(ref s)) if s == &key("c").subject()), "{raced:?}");
    tx.rollback().await.unwrap();
    let stored = exec.store().load(&key("c")).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), ["counter.added", "counter.sealed"]);
}

#[tokio::test]
async fn a_stale_known_state_decides_as_the_stream_would() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 1 }).await.unwrap();
    let stale = (Counter { total: 1, sealed: false }, 1);
    exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Seal).await.unwrap();

    // The stale state accepts an Add; the stream (sealed) refuses it.
    let refused =
        exec.execute_from::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 1 }, stale.0.clone(), stale.1).await;
    assert!(matches!(refused, Err(ExecuteError::Rejected(Refused("sealed")))), "{refused:?}");
    // The stale state refuses a Reopen; the stream accepts it.
    let reopened =
        exec.execute_from::<Counter>(&ctx(), "c", &CounterCommand::Reopen, stale.0.clone(), stale.1).await.unwrap();
    assert_eq!((reopened.version, reopened.state.sealed), (3, false));
    // The same in a caller's transaction.
    let mut tx = db.pool.begin().await.unwrap();
    let sealed = exec
        .execute_in::<Counter>(
            &mut tx,
            &ctx(),
            "c",
            &CounterCommand::Seal,
            Some((Counter { total: 1, sealed: true }, 2)),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((sealed.version, sealed.state.total, sealed.state.sealed), (4, 1, true));
    // A current known state: no read of the stream needed, same outcome.
    let reopened =
        exec.execute_from::<Counter>(&ctx(), "c", &CounterCommand::Reopen, sealed.state, sealed.version).await.unwrap();
    assert_eq!(reopened.version, 5);
    let stored = exec.store().load(&key("c")).await.unwrap();
    assert_eq!(stored.len(), 5);
}

#[tokio::test]
async fn concurrent_commands_from_one_known_state_each_land_once() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let exec = exec.clone();
        tasks.push(tokio::spawn(async move {
            exec.execute_from::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 2 }, Counter::default(), 0).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stored = exec.store().load(&key("c")).await.unwrap();
    assert_eq!(stored.len(), 16);
    assert!(stored.iter().enumerate().all(|(i, e)| e.version == i as i64 + 1));
    let (state, version) = exec.load::<Counter>(&key("c")).await.unwrap();
    assert_eq!((state.total, version), (16, 16));
}

#[tokio::test]
async fn a_taken_turn_holds_back_this_processs_commands_on_the_stream_only() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let turn = exec.take_turn(&key("c")).await;
    let waiting = {
        let exec = exec.clone();
        tokio::spawn(async move { exec.execute::<Counter>(&ctx(), "c", &CounterCommand::Add { steps: 1 }).await })
    };
    // Another stream is not held back.
    exec.execute::<Counter>(&ctx(), "other", &CounterCommand::Add { steps: 1 }).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the command waits for the turn");
    drop(turn);
    assert_eq!(waiting.await.unwrap().unwrap().version, 1);
}
