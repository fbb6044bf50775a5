//! The job-poller's persistence: claiming jobs fairly, holding them with leases, reporting
//! their progress and end, settling their cost, and reporting backend capacity. The poller's
//! loop (woken on `PREFIX.jobs.queued` and by its own timer) calls these; every state change of a
//! job still goes through the domain (claims, phases, start, finish are job commands), so a
//! report from an attempt that no longer holds the job is refused (`CONFLICT`).
//!
//! # The fair claim
//!
//! [`Jobs::claim_next`] serves the tenant that has waited longest, not the oldest job;
//! [`Jobs::claim_on`] takes as many jobs as the runner has room for at once, in the order
//! claims one at a time would take them. One round is one transaction:
//!
//! 1. The tenants with queued jobs are found by a skip scan of the partial index
//!    `rm_jobs_queue (tenant_id, queue_position) WHERE status = 'queued'` (one index probe per
//!    such tenant, however many jobs each has queued), with each one's count of jobs held by
//!    runners (`rm_jobs_active`). They are ordered by `job_tenant_claims.last_claimed_at`,
//!    oldest first (a tenant never served comes first). A tenant at its `max_concurrent_jobs`
//!    quota is skipped: its jobs wait.
//! 2. Each tenant's oldest claimable jobs (by `queue_position`, the global position of its
//!    queued event; no live lease; routed to a backend with room), as many as its fair share of
//!    the round (and its quota) allow, are read with their state and stream version, each
//!    locked with a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`) that other
//!    pollers' claims skip, so concurrent pollers take other jobs instead of waiting.
//!    Advisory, not `FOR UPDATE` on the read model row: the claim then writes its event
//!    before it locks the row (in the projection), in the same order as every other command on
//!    a job (a cancel), so the two cannot deadlock.
//! 3. The picks, in turn: one job of each tenant (waiting longest first), then a second of
//!    each, up to the room per backend.
//! 4. Their lease rows (`job_leases`: runner, attempt, `expires_at`; one statement), then the
//!    domain records each claim (`job.claimed`, attempt n) through
//!    `CommandExecutor::execute_in`, decided on the state read in 2 (the append's version check
//!    catches a job changed since; the round is then rolled back and tried again). A claim the
//!    domain refuses has its lease row removed. Each served tenant's `last_claimed_at` is set
//!    (in the order of its last pick), and everything commits at once: a lease row without its
//!    claim event, or the reverse, is never seen.
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
//! attempt n + 1 (`job.claimed` with `previous`), in one transaction. From then on the old runner's heartbeat answers
//! `CONFLICT` (lease lost) and the domain refuses its reports (stale attempt). The new runner
//! re-attaches to the execution if its backend can (`ClaimedJob::execution`), or reports the
//! job `failed` with reason `runner_lost`.
//!
//! # Reports without a read
//!
//! A runner knows its job: the claim's outcome ([`ClaimedJob::known`]), and the read model's
//! row before the end ([`Jobs::job_known`]: written with the events, so its state and version
//! agree). [`Jobs::mark_running_from`] and [`Jobs::finish_from`] decide on that instead of
//! reading the job's stream first (`CommandExecutor::execute_from`); a job changed meanwhile (a
//! cancel asked for) fails the append's version check and is read and decided again.

use crate::error::JobsError;
use crate::routing;
use crate::Jobs;
use canopy_domain::job::{
    Artifact, Attempt, Execution, Finish, Job, JobCommand, JobState, Lease, Outcome, StartingPhase,
};
use canopy_domain::{Credits, JobId, RunnerId, TenantId};
use canopy_eventstore::{CommandContext, ExecuteError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Tenants considered per claim (those waiting longest).
const CLAIM_TENANTS: i64 = 64;
/// Rounds of a claim lost to a concurrent writer before the runner tries again later.
const CLAIM_TRIES: usize = 8;
/// Queued jobs read per tenant beyond those wanted, in case other pollers are claiming some.
const CLAIM_SPARE: i32 = 4;
/// The space of the advisory locks that keep pollers off each other's picks
/// (`pg_try_advisory_xact_lock(CLAIM_LOCKS, hashtext(tenant/job))`).
const CLAIM_LOCKS: i32 = 0x6a6f_6273;

/// How many jobs a runner may claim now, per backend it runs.
pub type Room = BTreeMap<String, usize>;

/// A job as a runner last saw it: its state at a version of its stream, for a report decided
/// without reading the stream first (the append's version check catches a job that changed
/// meanwhile, which is then read and decided again).
#[derive(Debug, Clone)]
pub struct KnownJob {
    pub state: JobState,
    pub version: i64,
}

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
    /// The same, with the version of the job's stream after the claim (for the first report).
    pub known: KnownJob,
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

async fn delete_lease(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    job: &JobId,
    runner: &RunnerId,
    attempt: Attempt,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM job_leases WHERE tenant_id = $1 AND job_id = $2 AND runner_id = $3 AND attempt = $4")
        .bind(tenant.as_str())
        .bind(job.as_str())
        .bind(runner.as_str())
        .bind(attempt.0 as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Step 2 of the fair claim: each tenant's oldest claimable jobs (queued, no live lease, routed
/// to one of `backends`; empty: any), as many as the tenant's fair share of the round, each
/// locked with a transaction-scoped advisory lock that other pollers' claims skip. At most
/// `wanted + CLAIM_SPARE` rows of a tenant are looked at, so few locks are tried. Also says
/// whether a tenant had as many as it was asked for (it may have more).
async fn lock_candidates(
    conn: &mut sqlx::PgConnection,
    tenants: &[(TenantId, usize)],
    backends: &[&str],
) -> Result<(Vec<Candidate>, bool), JobsError> {
    let limit: usize = tenants.iter().map(|(_, left)| *left).max().unwrap_or(0);
    let share = limit.div_ceil(tenants.len().max(1)).max(1);
    let names: Vec<&str> = tenants.iter().map(|(t, _)| t.as_str()).collect();
    let wanted: Vec<i32> = tenants.iter().map(|(_, left)| (*left).min(share) as i32).collect();
    let rows: Vec<(String, String, serde_json::Value, i64, String)> = sqlx::query_as(
        "SELECT r.tenant_id, c.job_id, c.state, c.version, c.backend \
         FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS r(tenant_id, wanted, rank) \
         CROSS JOIN LATERAL ( \
             SELECT q.job_id, q.state, q.version, q.backend, q.queue_position FROM ( \
                 SELECT j.job_id, j.state, j.version, j.backend, j.queue_position FROM rm_jobs j \
                 WHERE j.tenant_id = r.tenant_id AND j.status = 'queued' \
                 AND (cardinality($3::text[]) = 0 OR j.backend = ANY($3)) \
                 AND NOT EXISTS (SELECT 1 FROM job_leases l WHERE l.tenant_id = j.tenant_id \
                     AND l.job_id = j.job_id AND l.expires_at > now()) \
                 ORDER BY j.queue_position LIMIT r.wanted + $4 OFFSET 0) q \
             WHERE pg_try_advisory_xact_lock($5, hashtext(r.tenant_id || '/' || q.job_id)) \
             LIMIT r.wanted) c \
         ORDER BY r.rank, c.queue_position",
    )
    .bind(&names)
    .bind(&wanted)
    .bind(backends)
    .bind(CLAIM_SPARE)
    .bind(CLAIM_LOCKS)
    .fetch_all(conn)
    .await?;
    let full = names
        .iter()
        .zip(&wanted)
        .any(|(name, wanted)| rows.iter().filter(|r| r.0 == *name).count() >= *wanted as usize);
    let mut candidates = Vec::with_capacity(rows.len());
    for (tenant, job, state, version, backend) in rows {
        let (Ok(tenant), Ok(job)) = (TenantId::parse(tenant), JobId::parse(job)) else { continue };
        candidates.push(Candidate { tenant, job, state: decode_state(state)?, version, backend });
    }
    Ok((candidates, full))
}

/// Step 3 of the fair claim: the candidates in the order claims one at a time would take
/// them: one job of each tenant in turn (waiting longest first), each tenant's oldest first,
/// at most `limit`, and no more per backend than `room` allows.
fn pick_fairly(
    candidates: Vec<Candidate>,
    tenants: &[(TenantId, usize)],
    room: Option<&Room>,
    limit: usize,
) -> Vec<Candidate> {
    let mut queues: Vec<std::collections::VecDeque<Candidate>> = tenants.iter().map(|_| Default::default()).collect();
    for candidate in candidates {
        if let Some(i) = tenants.iter().position(|(t, _)| *t == candidate.tenant) {
            queues[i].push_back(candidate);
        }
    }
    let mut room = room.cloned();
    let mut picks = Vec::new();
    loop {
        let mut progressed = false;
        for queue in &mut queues {
            if picks.len() >= limit {
                return picks;
            }
            let fits = |c: &Candidate| room.as_ref().is_none_or(|r| r.get(&c.backend).is_some_and(|n| *n > 0));
            let Some(at) = queue.iter().position(fits) else { continue };
            let Some(pick) = queue.remove(at) else { continue };
            if let Some(n) = room.as_mut().and_then(|r| r.get_mut(&pick.backend)) {
                *n -= 1;
            }
            picks.push(pick);
            progressed = true;
        }
        if !progressed {
            return picks;
        }
    }
}

fn decode_state(json: serde_json::Value) -> Result<JobState, JobsError> {
    serde_json::from_value(json).map_err(|e| JobsError::internal("a job's read model cannot be read", e))
}

/// A queued job the fair claim may take: read, and locked against other pollers, in the
/// claim's transaction.
struct Candidate {
    tenant: TenantId,
    job: JobId,
    state: JobState,
    version: i64,
    backend: String,
}

impl Jobs {
    /// Takes the next job fairly across tenants (see the module doc) for `runner`, with a lease
    /// of `jobs.lease_secs`. `None`: nothing is queued that may be claimed now.
    pub async fn claim_next(&self, runner: &RunnerId) -> Result<Option<ClaimedJob>, JobsError> {
        Ok(self.claim(runner, None, 1).await?.pop())
    }

    /// [`Jobs::claim_next`] among the jobs routed to one of `backends` (the ones this runner
    /// runs and has room on); empty: any backend.
    pub async fn claim_next_on(&self, runner: &RunnerId, backends: &[String]) -> Result<Option<ClaimedJob>, JobsError> {
        if backends.is_empty() {
            return self.claim_next(runner).await;
        }
        let room: Room = backends.iter().map(|b| (b.clone(), 1)).collect();
        Ok(self.claim(runner, Some(&room), 1).await?.pop())
    }

    /// Up to `room[backend]` jobs routed to each backend, in the order the fair claim takes
    /// them one at a time (see the module doc), claimed together in one transaction. Empty:
    /// nothing is queued that may be claimed now.
    pub async fn claim_on(&self, runner: &RunnerId, room: &Room) -> Result<Vec<ClaimedJob>, JobsError> {
        self.claim(runner, Some(room), room.values().sum()).await
    }

    /// At most `limit` jobs (and `room` per backend, when given); a round lost to a concurrent
    /// writer on one of its jobs (a cancel, another poller) is tried again.
    async fn claim(&self, runner: &RunnerId, room: Option<&Room>, limit: usize) -> Result<Vec<ClaimedJob>, JobsError> {
        let mut claimed = Vec::new();
        let mut room = room.cloned();
        let mut lost = 0;
        while claimed.len() < limit {
            let Some((round, more)) = self.claim_round(runner, room.as_ref(), limit - claimed.len()).await? else {
                lost += 1;
                if lost >= CLAIM_TRIES {
                    break;
                }
                continue;
            };
            let took = round.len();
            for job in &round {
                if let Some(n) = room.as_mut().and_then(|r| r.get_mut(&job.backend)) {
                    *n = n.saturating_sub(1);
                }
            }
            claimed.extend(round);
            // A tenant gave all it was asked for a fair share: it may have more.
            if took == 0 || !more {
                break;
            }
        }
        Ok(claimed)
    }

    /// One round of the fair claim, in one transaction: the tenants waiting longest, their
    /// oldest claimable jobs, the picks, their lease rows, their claims in the domain, each
    /// tenant's `last_claimed_at`; committed together. With the jobs claimed, whether another
    /// round might find more (a tenant had as many as its share of this one). `None`: a writer
    /// got to one of the picked jobs first (the append's version check said so); nothing was
    /// kept.
    async fn claim_round(
        &self,
        runner: &RunnerId,
        room: Option<&Room>,
        limit: usize,
    ) -> Result<Option<(Vec<ClaimedJob>, bool)>, JobsError> {
        let backends: Vec<&str> =
            room.map(|r| r.iter().filter(|(_, n)| **n > 0).map(|(b, _)| b.as_str()).collect()).unwrap_or_default();
        if room.is_some() && backends.is_empty() {
            return Ok(Some((Vec::new(), false)));
        }
        // Read before the transaction: most wake-ups find nothing to claim, and pay one query.
        let tenants = self.tenants_waiting(limit).await?;
        if tenants.is_empty() {
            return Ok(Some((Vec::new(), false)));
        }
        let mut tx = self.pool().begin().await?;
        let (candidates, more) = lock_candidates(&mut tx, &tenants, &backends).await?;
        let picks = pick_fairly(candidates, &tenants, room, limit);
        if picks.is_empty() {
            tx.rollback().await?;
            return Ok(Some((Vec::new(), false)));
        }
        let leases = self.acquire_leases(&mut tx, runner, &picks).await?;
        let mut claimed = Vec::with_capacity(picks.len());
        let mut served: Vec<&TenantId> = Vec::new();
        for pick in &picks {
            let Some(expires_at) = leases.get(&(pick.tenant.clone(), pick.job.clone())) else { continue };
            let known = (Job::Present(Box::new(pick.state.clone())), pick.version);
            match self.record_claim(&mut tx, runner, &pick.tenant, &pick.job, known).await {
                Ok(Some(job)) => {
                    claimed.push(ClaimedJob { lease: HeldLease { expires_at: *expires_at, ..job.lease }, ..job });
                    served.retain(|t| *t != &pick.tenant);
                    served.push(&pick.tenant);
                }
                Ok(None) => {
                    let attempt = pick.state.last_attempt.map_or(Attempt::FIRST, Attempt::next);
                    delete_lease(&mut tx, &pick.tenant, &pick.job, runner, attempt).await?;
                }
                Err(ExecuteError::Contention(stream)) => {
                    tracing::debug!(stream, "a claimed job changed meanwhile; claiming again");
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(e) => return Err(JobsError::execute(e)),
            }
        }
        // Each served tenant's last claim, in the order of the picks: the next round serves
        // first the tenants this one served least recently, as claims one at a time would.
        let order: Vec<&str> = served.iter().map(|t| t.as_str()).collect();
        let ranks: Vec<i32> = (0..order.len() as i32).collect();
        sqlx::query(
            "INSERT INTO job_tenant_claims (tenant_id, last_claimed_at) \
             SELECT s.tenant_id, c.at + s.rank * interval '1 microsecond' \
             FROM unnest($1::text[], $2::int[]) AS s(tenant_id, rank), (SELECT clock_timestamp() AS at) c \
             ORDER BY s.tenant_id \
             ON CONFLICT (tenant_id) DO UPDATE SET last_claimed_at = EXCLUDED.last_claimed_at",
        )
        .bind(&order)
        .bind(&ranks)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((claimed, more)))
    }

    /// Step 1 of the fair claim: the tenants with queued jobs, waiting longest first, each
    /// with how many more jobs its concurrent quota lets it have held (at most `limit`); those
    /// at their quota are left out.
    async fn tenants_waiting(&self, limit: usize) -> Result<Vec<(TenantId, usize)>, JobsError> {
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
        Ok(tenants
            .into_iter()
            .filter_map(|(tenant, active)| {
                let tenant = TenantId::parse(tenant).ok()?;
                let quota = self.settings().quotas(&tenant).max_concurrent_jobs;
                let left = quota.saturating_sub(active.max(0) as u64);
                (left > 0).then(|| (tenant, usize::try_from(left).unwrap_or(usize::MAX).min(limit)))
            })
            .collect())
    }

    /// Writes `runner`'s lease rows for `picks` (attempt n + 1 of each), except where a live
    /// lease holds the job; answers the rows written, with when each lapses.
    async fn acquire_leases(
        &self,
        conn: &mut sqlx::PgConnection,
        runner: &RunnerId,
        picks: &[Candidate],
    ) -> Result<BTreeMap<(TenantId, JobId), DateTime<Utc>>, JobsError> {
        let tenants: Vec<&str> = picks.iter().map(|p| p.tenant.as_str()).collect();
        let jobs: Vec<&str> = picks.iter().map(|p| p.job.as_str()).collect();
        let attempts: Vec<i32> =
            picks.iter().map(|p| p.state.last_attempt.map_or(Attempt::FIRST, Attempt::next).0 as i32).collect();
        let written: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "INSERT INTO job_leases (tenant_id, job_id, runner_id, attempt, claimed_at, heartbeat_at, expires_at) \
             SELECT p.tenant_id, p.job_id, $3, p.attempt, now(), now(), now() + $4 * interval '1 millisecond' \
             FROM unnest($1::text[], $2::text[], $5::int[]) AS p(tenant_id, job_id, attempt) \
             ORDER BY p.tenant_id, p.job_id \
             ON CONFLICT (tenant_id, job_id) DO UPDATE SET runner_id = EXCLUDED.runner_id, \
                 attempt = EXCLUDED.attempt, claimed_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE job_leases.expires_at <= now() \
             RETURNING tenant_id, job_id, expires_at",
        )
        .bind(&tenants)
        .bind(&jobs)
        .bind(runner.as_str())
        .bind(millis(self.settings().lease))
        .bind(&attempts)
        .fetch_all(conn)
        .await?;
        Ok(written
            .into_iter()
            .filter_map(|(tenant, job, expires_at)| {
                Some(((TenantId::parse(tenant).ok()?, JobId::parse(job).ok()?), expires_at))
            })
            .collect())
    }

    /// Writes `runner`'s lease of `attempt` on the job, unless a live lease holds it; answers
    /// when it lapses.
    async fn acquire_lease(
        &self,
        conn: &mut sqlx::PgConnection,
        tenant: &TenantId,
        job: &JobId,
        runner: &RunnerId,
        attempt: Attempt,
    ) -> Result<Option<DateTime<Utc>>, JobsError> {
        let written: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "INSERT INTO job_leases (tenant_id, job_id, runner_id, attempt, claimed_at, heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, $4, now(), now(), now() + $5 * interval '1 millisecond') \
             ON CONFLICT (tenant_id, job_id) DO UPDATE SET runner_id = EXCLUDED.runner_id, \
                 attempt = EXCLUDED.attempt, claimed_at = now(), heartbeat_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE job_leases.expires_at <= now() \
             RETURNING expires_at",
        )
        .bind(tenant.as_str())
        .bind(job.as_str())
        .bind(runner.as_str())
        .bind(attempt.0 as i32)
        .bind(millis(self.settings().lease))
        .fetch_optional(conn)
        .await?;
        Ok(written.map(|(at,)| at))
    }

    async fn drop_lease(&self, tenant: &TenantId, job: &JobId, runner: &RunnerId, attempt: Attempt) {
        let mut conn = match self.pool().acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "removing a lease failed; it lapses on its own");
                return;
            }
        };
        if let Err(e) = delete_lease(&mut conn, tenant, job, runner, attempt).await {
            tracing::warn!(job = %job, error = %e, "removing a lease failed; it lapses on its own");
        }
    }

    /// Records the claim of the next attempt in the domain, in the claim's transaction, decided
    /// on the job as the caller read it (`known`: its state at a version; checked by the
    /// append). `Ok(None)`: the domain refused it (the job was cancelled or claimed meanwhile);
    /// the caller removes the lease row it wrote.
    async fn record_claim(
        &self,
        conn: &mut sqlx::PgConnection,
        runner: &RunnerId,
        tenant: &TenantId,
        job: &JobId,
        known: (Job, i64),
    ) -> Result<Option<ClaimedJob>, ExecuteError<canopy_domain::job::JobError>> {
        let previous = known.0.state().and_then(|s| s.lease.clone());
        let attempt = known.0.state().and_then(|s| s.last_attempt).map_or(Attempt::FIRST, Attempt::next);
        let lease = Lease { runner: runner.clone(), attempt };
        let command = JobCommand::Claim { lease };
        let ctx = runner_context(tenant, runner);
        let outcome = match self.executor().execute_in::<Job>(conn, &ctx, job.as_str(), &command, Some(known)).await {
            Ok(outcome) => outcome,
            Err(ExecuteError::Rejected(refused)) => {
                tracing::debug!(job = %job, error = %refused, "claim refused by the domain; trying another job");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(after) = outcome.state.state().cloned() else { return Ok(None) };
        let execution = if previous.is_some() { after.execution.clone() } else { None };
        Ok(Some(ClaimedJob {
            lease: HeldLease {
                tenant: tenant.clone(),
                job: job.clone(),
                runner: runner.clone(),
                attempt,
                // Set by the caller from the lease row it wrote.
                expires_at: DateTime::<Utc>::MIN_UTC,
            },
            backend: after.estimate.backend.clone(),
            max_duration: self.settings().quotas(tenant).max_job_duration,
            known: KnownJob { state: after.clone(), version: outcome.version },
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

    /// Takes a lapsed job over for `runner` as attempt n + 1: the lease row replaced (only if
    /// it is still lapsed) and the claim recorded in one transaction. `None` when another
    /// poller took it first, its runner renewed the lease in time, or the job ended meanwhile.
    pub async fn take_over(&self, runner: &RunnerId, expired: &ExpiredLease) -> Result<Option<ClaimedJob>, JobsError> {
        for _ in 0..CLAIM_TRIES {
            let Some(row) = canopy_readmodels::get_job(self.pool(), &expired.tenant, &expired.job).await? else {
                return Ok(None);
            };
            if !row.state.status.is_claimed() {
                return Ok(None);
            }
            let attempt = row.state.last_attempt.map_or(Attempt::FIRST, Attempt::next);
            let mut tx = self.pool().begin().await?;
            let Some(expires_at) = self.acquire_lease(&mut tx, &expired.tenant, &expired.job, runner, attempt).await?
            else {
                tx.rollback().await?;
                return Ok(None);
            };
            let known = (Job::Present(Box::new(row.state)), row.version);
            match self.record_claim(&mut tx, runner, &expired.tenant, &expired.job, known).await {
                Ok(Some(claimed)) => {
                    tx.commit().await?;
                    return Ok(Some(ClaimedJob { lease: HeldLease { expires_at, ..claimed.lease }, ..claimed }));
                }
                // Refused: the lease row goes with the rollback.
                Ok(None) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(ExecuteError::Contention(_)) => tx.rollback().await?,
                Err(e) => return Err(JobsError::execute(e)),
            }
        }
        Ok(None)
    }

    /// A report of the runner holding `lease`, decided on `known` (the job as the runner last
    /// saw it) when given, else on the job's stream.
    async fn report(
        &self,
        lease: &HeldLease,
        command: JobCommand,
        known: Option<KnownJob>,
    ) -> Result<KnownJob, JobsError> {
        let ctx = runner_context(&lease.tenant, &lease.runner);
        let executor = self.executor();
        let outcome = match known {
            Some(KnownJob { state, version }) => {
                executor
                    .execute_from::<Job>(&ctx, lease.job.as_str(), &command, Job::Present(Box::new(state)), version)
                    .await
            }
            None => executor.execute::<Job>(&ctx, lease.job.as_str(), &command).await,
        };
        let outcome = outcome.map_err(JobsError::execute)?;
        match outcome.state.state() {
            Some(state) => Ok(KnownJob { state: state.clone(), version: outcome.version }),
            None => Err(JobsError::not_found(format!("job '{}'", lease.job))),
        }
    }

    /// The runner could not place the job and gives it back before it started anywhere (only
    /// while `assigned`); its lease is removed so the next claim can take it.
    pub async fn requeue(&self, lease: &HeldLease, message: &str) -> Result<JobState, JobsError> {
        let command = JobCommand::Requeue { attempt: lease.attempt, message: message.to_string() };
        let state = self.report(lease, command, None).await?.state;
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
        Ok(self.report(lease, command, None).await?.state)
    }

    /// The execution runs on its backend (or, after a takeover, the runner re-attached to it),
    /// after the starting `phases` not reported on their own (recorded with it, in order).
    pub async fn mark_running(
        &self,
        lease: &HeldLease,
        execution: Execution,
        phases: Vec<(StartingPhase, String)>,
    ) -> Result<JobState, JobsError> {
        Ok(self.mark_running_from(lease, None, execution, phases).await?.state)
    }

    /// [`Jobs::mark_running`] decided on `known`, the job as the runner last saw it (its
    /// claim's [`ClaimedJob::known`]), without reading the job's stream first; a job that
    /// changed meanwhile is read and decided again. Answers the job as the start leaves it.
    pub async fn mark_running_from(
        &self,
        lease: &HeldLease,
        known: Option<KnownJob>,
        execution: Execution,
        phases: Vec<(StartingPhase, String)>,
    ) -> Result<KnownJob, JobsError> {
        self.report(lease, JobCommand::MarkRunning { attempt: lease.attempt, execution, phases }, known).await
    }

    /// The end of the attempt: its outcome, the artifacts it left (already stored at
    /// [`crate::artifact_key`], with size, content type and SHA-256), and what it actually cost
    /// ([`Jobs::price`] of its backend and running time), recorded with the lease's removal in
    /// one transaction. Then the tenant's hold is settled (charged at most the hold; should that
    /// fail, the settlement reconciler does it) and followers of its logs woken, so they end.
    /// Retrying the same finish is harmless.
    pub async fn finish(
        &self,
        lease: &HeldLease,
        outcome: Outcome,
        artifacts: Vec<Artifact>,
        actual_cost: Credits,
    ) -> Result<JobState, JobsError> {
        self.finish_from(lease, None, outcome, artifacts, actual_cost).await
    }

    /// [`Jobs::finish`] decided on `known`, the job as the runner last saw it (as
    /// [`Jobs::mark_running_from`]).
    pub async fn finish_from(
        &self,
        lease: &HeldLease,
        known: Option<KnownJob>,
        outcome: Outcome,
        artifacts: Vec<Artifact>,
        actual_cost: Credits,
    ) -> Result<JobState, JobsError> {
        let finish = JobCommand::Finish(Finish { attempt: lease.attempt, outcome, artifacts, actual_cost });
        let ctx = runner_context(&lease.tenant, &lease.runner);
        let mut known = known.map(|k| (Job::Present(Box::new(k.state)), k.version));
        let mut lost = 0;
        // The end and the lease's removal in one transaction.
        let state = loop {
            let mut tx = self.pool().begin().await?;
            let ended =
                self.executor().execute_in::<Job>(&mut tx, &ctx, lease.job.as_str(), &finish, known.take()).await;
            match ended {
                Ok(outcome) => {
                    delete_lease(&mut tx, &lease.tenant, &lease.job, &lease.runner, lease.attempt).await?;
                    tx.commit().await?;
                    match outcome.state.state() {
                        Some(state) => break state.clone(),
                        None => return Err(JobsError::not_found(format!("job '{}'", lease.job))),
                    }
                }
                // Changed meanwhile (a cancel asked for): decided again on it.
                Err(ExecuteError::Contention(_)) if lost + 1 < CLAIM_TRIES => {
                    tx.rollback().await?;
                    lost += 1;
                }
                Err(e) => return Err(JobsError::execute(e)),
            }
        };
        self.settle_hold(&ctx, &lease.job, state.actual_cost.unwrap_or(actual_cost)).await?;
        let subject = self.bus().subjects.job_logs(lease.tenant.as_str(), lease.job.as_str());
        if let Err(e) = self.bus().client.publish(subject, bytes::Bytes::from_static(b"{\"ended\":true}")).await {
            tracing::debug!(job = %lease.job, error = %e, "waking log followers at the end failed; they poll");
        }
        Ok(state)
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
            self.settle_hold(&runner_context(&tenant, runner), &job, actual).await?;
            settled += 1;
        }
        Ok(settled)
    }

    /// The job as it is now (the poller checks `cancel_requested`, or re-reads after a notice).
    pub async fn job_state(&self, tenant: &TenantId, job: &JobId) -> Result<Option<JobState>, JobsError> {
        Ok(self.job_known(tenant, job).await?.map(|known| known.state))
    }

    /// [`Jobs::job_state`] with the version of the job's stream it is the state at (the read
    /// model's row is written with the events), for a report decided on it.
    pub async fn job_known(&self, tenant: &TenantId, job: &JobId) -> Result<Option<KnownJob>, JobsError> {
        let row = canopy_readmodels::get_job(self.pool(), tenant, job).await?;
        Ok(row.map(|row| KnownJob { state: row.state, version: row.version }))
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
