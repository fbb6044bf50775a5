//! Every write of a tenant's credit ledger from this process (a submit's hold, a job's
//! settlement, a release, a grant) goes through [`LedgerWrites::execute`], which writes them in
//! batches: one transaction, so one commit, for all the commands of a tenant that wait.
//!
//! Why: a tenant's ledger is one stream, written twice per job (the hold at submit, the
//! settlement at the end). Writes of one stream cannot overlap (the second waits for the first's
//! commit: the version check, the read model's row), so one command per transaction bounds a
//! tenant to one ledger command per commit, that is per WAL flush (about 3 ms on this
//! project's hosts): some 150 jobs per second, whatever else is done. Batched, the commands that
//! arrive during a commit share the next one.
//!
//! How: a command joins its tenant's queue, then waits for the tenant's turn. Whoever gets the
//! turn takes every command queued (its own, if no batch before took it) and runs them in a task
//! of their own, which keeps the turn until it is done (so a caller that goes away cuts no batch
//! short, and no second batch starts beside it): the ledger's state is
//! read (committed, and remembered by the executor), then each command goes through
//! `CommandExecutor::execute_in` in one transaction, decided on the state the previous one left,
//! exactly as if they had run one after another; a refusal (`INSUFFICIENT_FUNDS`) is that
//! command's answer and writes nothing. Then one commit, and each caller gets its own outcome.
//! Should another process have written the ledger meanwhile (the append's version check), the
//! whole batch is rolled back and run again on what it wrote, as the executor does for one
//! command. A batch holds the ledger stream's turn in this process (`CommandExecutor::take_turn`,
//! the one every `execute` of that stream takes), so the batches of another `Jobs` of this
//! process (the poller's, under `canopy start`) wait for it rather than collide. Writes from
//! other processes still race, and the version check still decides.

use canopy_domain::ledger::{Ledger, LedgerCommand, LedgerError};
use canopy_domain::TenantId;
use canopy_eventstore::{CommandContext, CommandExecutor, ExecuteError, Outcome, StoreError, StreamKey};
use canopy_readmodels::CanopyProjector;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Runs of a batch lost to another process's write before its commands answer contention.
const BATCH_TRIES: u32 = 8;

type Answer = Result<Outcome<Ledger>, ExecuteError<LedgerError>>;

struct Pending {
    ctx: CommandContext,
    command: LedgerCommand,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Queue {
    pending: Mutex<Vec<Pending>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// See the module doc. Cheap to share: one per [`crate::Jobs`].
#[derive(Default)]
pub(crate) struct LedgerWrites {
    queues: Mutex<HashMap<TenantId, Arc<Queue>>>,
}

impl LedgerWrites {
    /// `command` on `ctx.tenant`'s ledger, batched with the other writes of that ledger waiting
    /// in this process; answers as `CommandExecutor::execute` would.
    pub(crate) async fn execute(
        &self,
        executor: &CommandExecutor<CanopyProjector>,
        ctx: &CommandContext,
        command: LedgerCommand,
    ) -> Answer {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues.entry(ctx.tenant.clone()).or_default().clone()
        };
        let (reply, mut answer) = oneshot::channel();
        lock(&queue.pending).push(Pending { ctx: ctx.clone(), command, reply });
        loop {
            let turn = queue.turn.clone().lock_owned().await;
            match answer.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => return Err(lost(&ctx.tenant)),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = std::mem::take(&mut *lock(&queue.pending));
            if batch.is_empty() {
                // Ours is in a batch still running whose caller went away.
                drop(turn);
                return answer.await.unwrap_or_else(|_| Err(lost(&ctx.tenant)));
            }
            // The batch keeps the turn until it is done, even if this caller goes away.
            let (executor, tenant) = (executor.clone(), ctx.tenant.clone());
            let run = tokio::spawn(async move {
                let _turn = turn;
                run_batch(executor, tenant, batch).await;
            });
            let _ = run.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a command whose batch ended without an answer (a panic) is told: try again.
fn lost(tenant: &TenantId) -> ExecuteError<LedgerError> {
    ExecuteError::Contention(StreamKey::of::<Ledger>(tenant, tenant.as_str()).subject())
}

/// Runs `batch` (see the module doc) and answers each command.
async fn run_batch(executor: CommandExecutor<CanopyProjector>, tenant: TenantId, batch: Vec<Pending>) {
    let key = StreamKey::of::<Ledger>(&tenant, tenant.as_str());
    // The ledger's turn in this process: the other services' `Jobs` (the api's holds, the
    // poller's settlements under `canopy start`) batch on their own, and take turns here.
    let _turn = executor.take_turn(&key).await;
    let mut tries = 0;
    let answers = loop {
        tries += 1;
        match try_batch(&executor, &key, &batch).await {
            Ok(Some(answers)) => break answers,
            Ok(None) if tries < BATCH_TRIES => back_off(tries).await,
            Ok(None) => break batch.iter().map(|_| Err(lost(&tenant))).collect(),
            Err(e) => {
                tracing::warn!(tenant = %tenant, commands = batch.len(), error = %e, "writing a batch of ledger commands failed");
                break batch.iter().map(|_| Err(ExecuteError::Store(StoreError::Database(e.clone_kind())))).collect();
            }
        }
    };
    for (pending, answer) in batch.into_iter().zip(answers) {
        let _ = pending.reply.send(answer);
    }
}

/// One run of a batch in one transaction. `None`: another writer got to the ledger first;
/// nothing was kept.
async fn try_batch(
    executor: &CommandExecutor<CanopyProjector>,
    key: &StreamKey,
    batch: &[Pending],
) -> Result<Option<Vec<Answer>>, Failure> {
    let mut known: Option<(Ledger, i64)> = Some(executor.load::<Ledger>(key).await.map_err(Failure::of)?);
    let mut tx = executor.store().pool().begin().await.map_err(Failure::Sql)?;
    let mut answers = Vec::with_capacity(batch.len());
    for pending in batch {
        let id = key.aggregate_id.as_str();
        match executor.execute_in::<Ledger>(&mut tx, &pending.ctx, id, &pending.command, known.clone()).await {
            Ok(outcome) => {
                known = Some((outcome.state.clone(), outcome.version));
                answers.push(Ok(outcome));
            }
            // Decided on the state the batch left (the executor read it again in the
            // transaction when the guess refused): this command's answer; nothing written.
            Err(ExecuteError::Rejected(refused)) => answers.push(Err(ExecuteError::Rejected(refused))),
            Err(ExecuteError::Contention(_)) => {
                tx.rollback().await.map_err(Failure::Sql)?;
                return Ok(None);
            }
            Err(e) => return Err(Failure::of(e)),
        }
    }
    tx.commit().await.map_err(Failure::Sql)?;
    Ok(Some(answers))
}

/// Why a batch failed, to tell each of its commands.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("database error")]
    Sql(#[source] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

impl Failure {
    fn of(e: ExecuteError<LedgerError>) -> Failure {
        match e {
            ExecuteError::Store(StoreError::Database(e)) => Failure::Sql(e),
            other => Failure::Other(canopy_domain::error_chain(&other)),
        }
    }

    /// The same failure for each command of the batch (sqlx errors cannot be cloned).
    fn clone_kind(&self) -> sqlx::Error {
        match self {
            Failure::Sql(e) => sqlx::Error::Protocol(canopy_domain::error_chain(e)),
            Failure::Other(message) => sqlx::Error::Protocol(message.clone()),
        }
    }
}

/// Between runs of a batch that lost to another process: a random 0 to 2^n ms (at most 32).
async fn back_off(attempt: u32) {
    let window_us = 1_000u64 << attempt.min(5);
    let wait_us = (uuid::Uuid::new_v4().as_u128() as u64) % window_us;
    tokio::time::sleep(std::time::Duration::from_micros(wait_us)).await;
}
