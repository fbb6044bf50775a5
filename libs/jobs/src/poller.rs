//! The job-poller's persistence: claiming jobs fairly, holding them with leases, reporting
//! their progress and end, settling their cost, and reporting backend capacity. The poller's
//! loop (woken on `PREFIX.jobs.queued` and by its own timer) calls these; every state change of a
//! job still goes through the domain (claims, phases, start, finish are job commands), so a
//! report from an attempt that no longer holds the job is refused (`CONFLICT`).
//!
//! # The fair claim
//!
//! [`Jobs::claim_next`] serves the tenant that has waited longest, not the oldest job:
//!
//! 1. The tenants with queued jobs are found by a skip scan of the partial index
//!    `rm_jobs_queue (tenant_id, queue_position) WHERE status = 'queued'` (one index probe per
//!    such tenant, however many jobs each has queued), with each one's count of jobs held by
//!    runners (`rm_jobs_active`).
//! 2. They are ordered by `job_tenant_claims.last_claimed_at`, oldest first (a tenant never
//!    served comes first). A tenant at its `max_concurrent_jobs` quota is skipped: its jobs wait.
//! 3. In one short transaction, the first such tenant's oldest queued job (by `queue_position`,
//!    the global position of its queued event) that no live lease holds is locked with
//!    `FOR UPDATE SKIP LOCKED` (concurrent pollers take the next one instead of waiting), the
//!    lease row is written (`job_leases`: runner, attempt, `expires_at`) and the tenant's
//!    `last_claimed_at` is set to now. Then the domain records the claim (`job.claimed`,
//!    attempt n). Should that fail (the job was cancelled meanwhile), the lease row is removed
//!    and the next candidate is tried.
//!
//! So a tenant with 10,000 queued jobs gets one claim, then every other tenant with a queued job
//! gets one before it gets its next: another tenant's first job is claimed within the next
//! claim or two, whatever the backlog. This query is the one read of the read models that is
//! cross-tenant by nature (ARCHITECTURE.md's invariant says so); it returns ids and states only
//! to the poller, never to a tenant.
//!
//! # Leases and takeover
//!
//! A claim's lease lasts `jobs.lease_secs`; the runner calls [`Jobs::heartbeat`] well within
//! it (every third of it, say). Heartbeats update `job_leases` only: they are not domain events
//! (one every few seconds per job would flood the log with nothing a reader needs). When a
//! runner dies its lease lapses; [`Jobs::expired_leases`] lists held jobs (assigned, starting,
//! running) whose lease lapsed (or has no row), and [`Jobs::take_over`] replaces the lease by
//! compare-and-swap (only if it is still lapsed: one poller wins) and records the claim of
//! attempt n + 1 (`job.claimed` with `previous`). From then on the old runner's heartbeat answers
//! `CONFLICT` (lease lost) and the domain refuses its reports (stale attempt). The new runner
//! re-attaches to the execution if its backend can (`ClaimedJob::execution`), or reports the
//! job `failed` with reason `runner_lost`.

use crate::error::JobsError;
use crate::routing;
use crate::Jobs;
use canopy_domain::job::{
    Artifact, Attempt, Execution, Finish, Job, JobCommand, JobState, Lease, Outcome, StartingPhase,
};
use canopy_domain::ledger::{Ledger, LedgerCommand, LedgerError};
use canopy_domain::{Credits, JobId, RunnerId, TenantId};
use canopy_eventstore::{CommandContext, ExecuteError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Tenants considered per claim (those waiting longest).
const CLAIM_TENANTS: i64 = 64;
/// Candidates tried per claim before giving up (claims lost to cancellations, quotas).
const CLAIM_TRIES: usize = 8;

/// A runner's hold on a job: what every report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub tenant: TenantId,
    pub job: JobId,
    pub runner: RunnerId,
    pub attempt: Attempt,
    pub expires_at: DateTime<Utc>,
}

/// A claimed job: everything the poller needs to run it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub lease: HeldLease,
    /// The job as its events leave it after the claim: spec (image, command, args, env), inputs
    /// with their mount paths, expected artifacts, the estimate's backend.
    pub state: JobState,
    /// The backend the router chose at submit (`state.estimate.backend`).
    pub backend: String,
    /// The tenant's bound on the job's running time.
    pub max_duration: Duration,
    /// The lease this one replaced (a takeover), if any.
    pub previous: Option<Lease>,
    /// A takeover of a running job: where its execution lives, to re-attach to.
    pub execution: Option<Execution>,
}

/// A held job whose lease lapsed (or that has no lease row): a takeover candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    pub tenant: TenantId,
    pub job: JobId,
    /// `None` when there is no lease row at all.
    pub runner: Option<RunnerId>,
    pub attempt: Option<Attempt>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn runner_context(tenant: &TenantId, runner: &RunnerId) -> CommandContext {
    CommandContext::new(tenant.clone(), format!("service:job-poller:{runner}"))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The live free slots per backend: the sum of fresh capacity reports (older than `stale` are
/// ignored). Platform-wide, not a tenant's data.
pub(crate) async fn free_slots(pool: &sqlx::PgPool, stale: Duration) -> Result<BTreeMap<String, u64>, JobsError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT backend, sum(free_slots)::bigint FROM job_backend_capacity \
         WHERE updated_at > now() - $1 * interval '1 millisecond' GROUP BY backend",
    )
    .bind(millis(stale))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(b, n)| (b, n.max(0) as u64)).collect())
}

fn decode_state(json: serde_json::Value) -> Result<JobState, JobsError> {
    serde_json::from_value(json).map_err(|e| JobsError::internal("a job's read model cannot be read", e))
}

impl Jobs {
    /// Takes the next job fairly across tenants (see the module doc) for `runner`, with a lease
    /// of `jobs.lease_secs`. `None`: nothing is queued that may be claimed now.
    pub async fn claim_next(&self, runner: &RunnerId) -> Result<Option<ClaimedJob>, JobsError> {
        self.claim_next_on(runner, &[]).await
    }

    /// [`Jobs::claim_next`] among the jobs routed to one of `backends` (the ones this runner
    /// runs and has room on); empty: any backend.
    pub async fn claim_next_on(&self, runner: &RunnerId, backends: &[String]) -> Result<Option<ClaimedJob>, JobsError> {
        for _ in 0..CLAIM_TRIES {
            let Some((tenant, job, state)) = self.lock_next_candidate(runner, backends).await? else {
                return Ok(None);
            };
            if let Some(claimed) = self.record_claim(runner, &tenant, &job, &state).await? {
                return Ok(Some(claimed));
            }
        }
        Ok(None)
    }

    /// Steps 1 to 3 of the fair claim: the lease row written for the chosen job, committed.
    async fn lock_next_candidate(
        &self,
        runner: &RunnerId,
        backends: &[String],
    ) -> Result<Option<(TenantId, JobId, JobState)>, JobsError> {
        let tenants: Vec<(String, i64)> = sqlx::query_as(
            "WITH RECURSIVE queued AS ( \
                 (SELECT tenant_id FROM rm_jobs WHERE status = 'queued' ORDER BY tenant_id LIMIT 1) \
                 UNION ALL \
                 SELECT (SELECT j.tenant_id FROM rm_jobs j WHERE j.status = 'queued' AND j.tenant_id > q.tenant_id \
                         ORDER BY j.tenant_id LIMIT 1) \
                 FROM queued q WHERE q.tenant_id IS NOT NULL) \
             SELECT q.tenant_id, (SELECT count(*) FROM rm_jobs a WHERE a.tenant_id = q.tenant_id \
                     AND a.status IN ('assigned', 'starting', 'running')) AS active \
             FROM queued q LEFT JOIN job_tenant_claims c ON c.tenant_id = q.tenant_id \
             WHERE q.tenant_id IS NOT NULL \
             ORDER BY c.last_claimed_at NULLS FIRST, q.tenant_id LIMIT $1",
        )
        .bind(CLAIM_TENANTS)
        .fetch_all(self.pool())
        .await?;
        for (tenant, active) in tenants {
            let Ok(tenant) = TenantId::parse(tenant) else { continue };
            if active.max(0) as u64 >= self.settings().quotas(&tenant).max_concurrent_jobs {
                continue;
            }
            let mut tx = self.pool().begin().await?;
            let candidate: Option<(String, serde_json::Value)> = sqlx::query_as(
                "SELECT j.job_id, j.state FROM rm_jobs j \
                 WHERE j.tenant_id = $1 AND j.status = 'queued' AND NOT EXISTS ( \
                     SELECT 1 FROM job_leases l WHERE l.tenant_id = j.tenant_id AND l.job_id = j.job_id \
                     AND l.expires_at > now()) \
                 AND (cardinality($2::text[]) = 0 OR j.state->'estimate'->>'backend' = ANY($2)) \
                 ORDER BY j.queue_position LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
            )
            .bind(tenant.as_str())
            .bind(backends)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((job, state)) = candidate else { continue };
            let state = decode_state(state)?;
            let attempt = state.last_attempt.map_or(Attempt::FIRST, Attempt::next);
            let Ok(job) = JobId::parse(job) else { continue };
            if !self.acquire_lease(&mut tx, &tenant, &job, runner, attempt).await? {
                continue;
            }
            sqlx::query(
                "INSERT INTO job_tenant_claims (tenant_id, last_claimed_at) VALUES ($1, clock_timestamp()) \
                 ON CONFLICT (tenant_id) DO UPDATE SET last_claimed_at = clock_timestamp()",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Some((tenant, job, state)));
        }
        Ok(None)
    }

    /// Writes `runner`'s lease of `attempt` on the job, unless a live lease holds it.
    async fn acquire_lease(
        &self,
        conn: &mut sqlx::PgConnection,
        tenant: &TenantId,
        job: &JobId,
        runner: &RunnerId,
        attempt: Attempt,
    ) -> Result<bool, JobsError> {
        let written = sqlx::query(
            "INSERT INTO job_leases (tenant_id, job_id, runner_id, attempt, claimed_at, heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, $4, now(), now(), now() + $5 * interval '1 millisecond') \
             ON CONFLICT (tenant_id, job_id) DO UPDATE SET runner_id = EXCLUDED.runner_id, \
                 attempt = EXCLUDED.attempt, claimed_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE job_leases.expires_at <= now()",
        )
        .bind(tenant.as_str())
        .bind(job.as_str())
        .bind(runner.as_str())
        .bind(attempt.0 as i32)
        .bind(millis(self.settings().lease))
        .execute(conn)
        .await?;
        Ok(written.rows_affected() == 1)
    }

    async fn drop_lease(&self, tenant: &TenantId, job: &JobId, runner: &RunnerId, attempt: Attempt) {
        let result = sqlx::query(
            "DELETE FROM job_leases WHERE tenant_id = $1 AND job_id = $2 AND runner_id = $3 AND attempt = $4",
        )
        .bind(tenant.as_str())
        .bind(job.as_str())
        .bind(runner.as_str())
        .bind(attempt.0 as i32)
        .execute(self.pool())
        .await;
        if let Err(e) = result {
            tracing::warn!(job = %job, error = %e, "removing a lease failed; it lapses on its own");
        }
    }

    /// Records the claim in the domain (attempt n, or n + 1 for a takeover). `None` when the
    /// domain refused it (the job was cancelled or claimed meanwhile): the lease row is removed.
    async fn record_claim(
        &self,
        runner: &RunnerId,
        tenant: &TenantId,
        job: &JobId,
        state: &JobState,
    ) -> Result<Option<ClaimedJob>, JobsError> {
        let attempt = state.last_attempt.map_or(Attempt::FIRST, Attempt::next);
        let lease = Lease { runner: runner.clone(), attempt };
        let command = JobCommand::Claim { lease: lease.clone() };
        let outcome =
            match self.executor().execute::<Job>(&runner_context(tenant, runner), job.as_str(), &command).await {
                Ok(outcome) => outcome,
                Err(ExecuteError::Rejected(refused)) => {
                    tracing::debug!(job = %job, error = %refused, "claim refused by the domain; trying another job");
                    self.drop_lease(tenant, job, runner, attempt).await;
                    return Ok(None);
                }
                Err(e) => {
                    self.drop_lease(tenant, job, runner, attempt).await;
                    return Err(JobsError::execute(e));
                }
            };
        let Some(after) = outcome.state.state().cloned() else { return Ok(None) };
        let expires_at: (DateTime<Utc>,) =
            sqlx::query_as("SELECT expires_at FROM job_leases WHERE tenant_id = $1 AND job_id = $2")
                .bind(tenant.as_str())
                .bind(job.as_str())
                .fetch_one(self.pool())
                .await?;
        let previous = state.lease.clone();
        let execution = if previous.is_some() { after.execution.clone() } else { None };
        Ok(Some(ClaimedJob {
            lease: HeldLease {
                tenant: tenant.clone(),
                job: job.clone(),
                runner: runner.clone(),
                attempt,
                expires_at: expires_at.0,
            },
            backend: after.estimate.backend.clone(),
            max_duration: self.settings().quotas(tenant).max_job_duration,
            state: after,
            previous,
            execution,
        }))
    }

    /// Extends the lease by `jobs.lease_secs`. `CONFLICT` when the runner no longer holds it (it
    /// lapsed and another runner took the job over): the runner must stop working on it.
    pub async fn heartbeat(&self, lease: &HeldLease) -> Result<HeldLease, JobsError> {
        let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "UPDATE job_leases SET heartbeat_at = now(), expires_at = now() + $5 * interval '1 millisecond' \
             WHERE tenant_id = $1 AND job_id = $2 AND runner_id = $3 AND attempt = $4 RETURNING expires_at",
        )
        .bind(lease.tenant.as_str())
        .bind(lease.job.as_str())
        .bind(lease.runner.as_str())
        .bind(lease.attempt.0 as i32)
        .bind(millis(self.settings().lease))
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((expires_at,)) => Ok(HeldLease { expires_at, ..lease.clone() }),
            None => Err(JobsError::conflict(format!(
                "runner {} no longer holds job '{}' (attempt {}): its lease lapsed and another runner took it over",
                lease.runner, lease.job, lease.attempt
            ))),
        }
    }

    /// Held jobs (assigned, starting, running) whose lease lapsed or is missing, oldest lapse
    /// first; also forgets lapsed leases of jobs that have ended. Cross-tenant, for the poller.
    pub async fn expired_leases(&self, limit: u32) -> Result<Vec<ExpiredLease>, JobsError> {
        self.expired_leases_on(limit, &[]).await
    }

    /// [`Jobs::expired_leases`] of jobs routed to one of `backends` (the ones this runner can
    /// re-attach on); empty: any backend.
    pub async fn expired_leases_on(&self, limit: u32, backends: &[String]) -> Result<Vec<ExpiredLease>, JobsError> {
        sqlx::query(
            "DELETE FROM job_leases l USING rm_jobs j WHERE l.tenant_id = j.tenant_id AND l.job_id = j.job_id \
             AND l.expires_at < now() AND j.status IN ('completed', 'failed', 'rejected', 'cancelled')",
        )
        .execute(self.pool())
        .await?;
        type Row = (String, String, Option<String>, Option<i32>, Option<DateTime<Utc>>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT j.tenant_id, j.job_id, l.runner_id, l.attempt, l.expires_at FROM rm_jobs j \
             LEFT JOIN job_leases l ON l.tenant_id = j.tenant_id AND l.job_id = j.job_id \
             WHERE j.status IN ('assigned', 'starting', 'running') AND (l.job_id IS NULL OR l.expires_at < now()) \
             AND (cardinality($2::text[]) = 0 OR j.state->'estimate'->>'backend' = ANY($2)) \
             ORDER BY l.expires_at NULLS FIRST LIMIT $1",
        )
        .bind(i64::from(limit))
        .bind(backends)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(tenant, job, runner, attempt, expires_at)| {
                Some(ExpiredLease {
                    tenant: TenantId::parse(tenant).ok()?,
                    job: JobId::parse(job).ok()?,
                    runner: runner.and_then(|r| RunnerId::parse(r).ok()),
                    attempt: attempt.map(|a| Attempt(a.max(0) as u32)),
                    expires_at,
                })
            })
            .collect())
    }

    /// Takes a lapsed job over for `runner` as attempt n + 1. `None` when another poller took
    /// it first, its runner renewed the lease in time, or the job ended meanwhile.
    pub async fn take_over(&self, runner: &RunnerId, expired: &ExpiredLease) -> Result<Option<ClaimedJob>, JobsError> {
        let Some(row) = canopy_readmodels::get_job(self.pool(), &expired.tenant, &expired.job).await? else {
            return Ok(None);
        };
        if !row.state.status.is_claimed() {
            return Ok(None);
        }
        let attempt = row.state.last_attempt.map_or(Attempt::FIRST, Attempt::next);
        let mut conn = self.pool().acquire().await?;
        if !self.acquire_lease(&mut conn, &expired.tenant, &expired.job, runner, attempt).await? {
            return Ok(None);
        }
        drop(conn);
        self.record_claim(runner, &expired.tenant, &expired.job, &row.state).await
    }

    async fn report(&self, lease: &HeldLease, command: JobCommand) -> Result<JobState, JobsError> {
        let ctx = runner_context(&lease.tenant, &lease.runner);
        let outcome =
            self.executor().execute::<Job>(&ctx, lease.job.as_str(), &command).await.map_err(JobsError::execute)?;
        outcome.state.state().cloned().ok_or_else(|| JobsError::not_found(format!("job '{}'", lease.job)))
    }

    /// The runner could not place the job and gives it back before it started anywhere (only
    /// while `assigned`); its lease is removed so the next claim can take it.
    pub async fn requeue(&self, lease: &HeldLease, message: &str) -> Result<JobState, JobsError> {
        let state =
            self.report(lease, JobCommand::Requeue { attempt: lease.attempt, message: message.to_string() }).await?;
        self.drop_lease(&lease.tenant, &lease.job, &lease.runner, lease.attempt).await;
        self.wake_pollers().await;
        Ok(state)
    }

    /// `provisioning` or `preparing`, with a message `get_job_events` shows.
    pub async fn report_phase(
        &self,
        lease: &HeldLease,
        phase: StartingPhase,
        message: &str,
    ) -> Result<JobState, JobsError> {
        let command = JobCommand::ReportPhase { attempt: lease.attempt, phase, message: message.to_string() };
        self.report(lease, command).await
    }

    /// The execution runs on its backend (or, after a takeover, the runner re-attached to it),
    /// after the starting `phases` not reported on their own (recorded with it, in order).
    pub async fn mark_running(
        &self,
        lease: &HeldLease,
        execution: Execution,
        phases: Vec<(StartingPhase, String)>,
    ) -> Result<JobState, JobsError> {
        self.report(lease, JobCommand::MarkRunning { attempt: lease.attempt, execution, phases }).await
    }

    /// The end of the attempt: its outcome, the artifacts it left (already stored at
    /// [`crate::artifact_key`], with size, content type and SHA-256), and what it actually cost
    /// ([`Jobs::price`] of its backend and running time). Then the tenant's hold is settled
    /// (charged at most the hold), the lease removed and followers of its logs woken, so they
    /// end. Retrying the same finish is harmless.
    pub async fn finish(
        &self,
        lease: &HeldLease,
        outcome: Outcome,
        artifacts: Vec<Artifact>,
        actual_cost: Credits,
    ) -> Result<JobState, JobsError> {
        let finish = Finish { attempt: lease.attempt, outcome, artifacts, actual_cost };
        let state = self.report(lease, JobCommand::Finish(finish)).await?;
        self.settle_job(&lease.tenant, &lease.job, state.actual_cost.unwrap_or(actual_cost), &lease.runner).await?;
        self.drop_lease(&lease.tenant, &lease.job, &lease.runner, lease.attempt).await;
        let subject = self.bus().subjects.job_logs(lease.tenant.as_str(), lease.job.as_str());
        if let Err(e) = self.bus().client.publish(subject, bytes::Bytes::from_static(b"{\"ended\":true}")).await {
            tracing::debug!(job = %lease.job, error = %e, "waking log followers at the end failed; they poll");
        }
        Ok(state)
    }

    async fn settle_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        actual: Credits,
        runner: &RunnerId,
    ) -> Result<(), JobsError> {
        let command = LedgerCommand::Settle { job: job.clone(), actual };
        match self.executor().execute::<Ledger>(&runner_context(tenant, runner), tenant.as_str(), &command).await {
            Ok(_) | Err(ExecuteError::Rejected(LedgerError::NoHold(_))) => Ok(()),
            Err(e) => Err(JobsError::execute(e)),
        }
    }

    /// The reconciler of settlements: ended jobs whose hold is not settled (a poller died
    /// between the end and the settlement, or a release failed) are settled at their actual
    /// cost. Cross-tenant, for the poller's timer. Answers how many it settled.
    pub async fn settle_ended_jobs(&self, runner: &RunnerId, limit: u32) -> Result<usize, JobsError> {
        let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT tenant_id, job_id, state FROM rm_jobs \
             WHERE NOT settled AND status IN ('completed', 'failed', 'rejected', 'cancelled') \
             ORDER BY finished_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut settled = 0;
        for (tenant, job, state) in rows {
            let (Ok(tenant), Ok(job)) = (TenantId::parse(tenant), JobId::parse(job)) else { continue };
            let actual = decode_state(state)?.actual_cost.unwrap_or(Credits::ZERO);
            self.settle_job(&tenant, &job, actual, runner).await?;
            settled += 1;
        }
        Ok(settled)
    }

    /// The job as it is now (the poller checks `cancel_requested`, or re-reads after a notice).
    pub async fn job_state(&self, tenant: &TenantId, job: &JobId) -> Result<Option<JobState>, JobsError> {
        Ok(canopy_readmodels::get_job(self.pool(), tenant, job).await?.map(|row| row.state))
    }

    /// What running on `backend` for `ran_for` costs (the price table's; zero for a backend
    /// that is no longer configured).
    pub fn price(&self, backend: &str, ran_for: Duration) -> Credits {
        match self.settings().backend(backend) {
            Some(b) => routing::price(b, ran_for),
            None => {
                tracing::warn!(backend, "no price for a backend that is not configured; charging nothing");
                Credits::ZERO
            }
        }
    }

    /// A poller's free and total slots on one backend it runs, for the router.
    pub async fn report_capacity(
        &self,
        backend: &str,
        runner: &RunnerId,
        free_slots: u32,
        total_slots: u32,
    ) -> Result<(), JobsError> {
        sqlx::query(
            "INSERT INTO job_backend_capacity (backend, runner_id, free_slots, total_slots, updated_at) \
             VALUES ($1, $2, $3, $4, now()) ON CONFLICT (backend, runner_id) DO UPDATE SET \
             free_slots = $3, total_slots = $4, updated_at = now()",
        )
        .bind(backend)
        .bind(runner.as_str())
        .bind(i32::try_from(free_slots).unwrap_or(i32::MAX))
        .bind(i32::try_from(total_slots).unwrap_or(i32::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Wakes the job-pollers (`PREFIX.jobs.queued`); they look on their own timer too.
    pub async fn wake_pollers(&self) {
        let subject = self.bus().subjects.jobs_queued();
        if let Err(e) = self.bus().client.publish(subject, bytes::Bytes::new()).await {
            tracing::warn!(error = %e, "waking the job-pollers failed; they look on their timer too");
        }
    }
}
