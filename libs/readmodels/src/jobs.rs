//! The jobs service's read models: `rm_jobs`, `rm_job_inputs`, `rm_ledgers` and
//! `rm_platform_maintenance`, projected from the job, job input, ledger and platform settings
//! events, and the queries over them. A job's and an input's row holds the aggregate's own
//! state (`state`), re-materialised after each event with the domain's `apply`, so the read
//! model can never disagree with the aggregate. Every query names its tenant; the job-poller's
//! cross-tenant queries (the fair claim, expired leases) are in `canopy-jobs`, which says so.

use canopy_domain::job::{Job, JobEvent, JobState, JobStatus};
use canopy_domain::job_input::{InputEvent, InputState, JobInput};
use canopy_domain::ledger::LedgerEvent;
use canopy_domain::platform_settings::PlatformSettingsEvent;
use canopy_domain::{Aggregate, Credits, InputId, JobId, TenantId};
use canopy_eventstore::{StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

fn decode_state<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(json).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // The domain's states are plain data: serialising them cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

pub(crate) async fn apply_job(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: JobEvent,
) -> Result<(), StoreError> {
    let (tenant, id, at) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str(), stored.recorded_at);
    let previous: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT state FROM rm_jobs WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let before = match previous {
        Some((json,)) => Job::Present(Box::new(decode_state::<JobState>(json)?)),
        None => Job::Absent,
    };
    let phase_before = before.state().map(|s| s.phase);
    let Job::Present(after) = before.apply(&event) else {
        return Ok(());
    };
    let queued_now = matches!(event, JobEvent::Queued | JobEvent::Requeued { .. });
    let started_now = matches!(event, JobEvent::Started { .. });
    let phase_changed = phase_before != Some(after.phase);
    sqlx::query(
        "INSERT INTO rm_jobs (tenant_id, job_id, name, status, phase, backend, state, version, queue_position, \
             submitted_at, queued_at, phase_started_at, started_at, finished_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN $10 END, $11, CASE WHEN $9 THEN $11 END, $11, \
             CASE WHEN $12 THEN $11 END, CASE WHEN $13 THEN $11 END, $11) \
         ON CONFLICT (tenant_id, job_id) DO UPDATE SET status = $4, phase = $5, backend = $6, state = $7, \
             version = $8, \
             queue_position = CASE WHEN $9 THEN $10 ELSE rm_jobs.queue_position END, \
             queued_at = CASE WHEN $9 THEN $11 ELSE rm_jobs.queued_at END, \
             phase_started_at = CASE WHEN $14 THEN $11 ELSE rm_jobs.phase_started_at END, \
             started_at = CASE WHEN $12 AND rm_jobs.started_at IS NULL THEN $11 ELSE rm_jobs.started_at END, \
             finished_at = CASE WHEN $13 THEN $11 ELSE rm_jobs.finished_at END, \
             updated_at = $11",
    )
    .bind(tenant)
    .bind(id)
    .bind(&after.spec.name)
    .bind(after.status.as_str())
    .bind(after.phase.as_str())
    .bind(&after.estimate.backend)
    .bind(to_json(&*after))
    .bind(stored.version)
    .bind(queued_now)
    .bind(stored.global_position)
    .bind(at)
    .bind(started_now)
    .bind(after.status.is_terminal())
    .bind(phase_changed)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn apply_input(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: InputEvent,
) -> Result<(), StoreError> {
    let (tenant, id, at) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str(), stored.recorded_at);
    let previous: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT state FROM rm_job_inputs WHERE tenant_id = $1 AND input_id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let before = match previous {
        Some((json,)) => JobInput::Present(decode_state::<InputState>(json)?),
        None => JobInput::Absent,
    };
    let JobInput::Present(s) = before.apply(&event) else {
        return Ok(());
    };
    let status = match s.status {
        canopy_domain::job_input::InputStatus::Pending => "pending",
        canopy_domain::job_input::InputStatus::Ready => "ready",
    };
    sqlx::query(
        "INSERT INTO rm_job_inputs (tenant_id, input_id, filename, content_type, kind, status, size_bytes, mount_path, \
             max_size_bytes, state, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (tenant_id, input_id) DO UPDATE SET content_type = $4, status = $6, size_bytes = $7, \
             state = $10, version = $11, updated_at = $12",
    )
    .bind(tenant)
    .bind(id)
    .bind(&s.filename)
    .bind(&s.content_type)
    .bind(&s.kind)
    .bind(status)
    .bind(s.size_bytes.map(|b| b as i64))
    .bind(&s.mount_path)
    .bind(s.max_size_bytes as i64)
    .bind(to_json(&s))
    .bind(stored.version)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn apply_ledger(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: LedgerEvent,
) -> Result<(), StoreError> {
    let tenant = stored.tenant_id.as_str();
    let (granted, held, spent, settled_job): (u64, i128, u64, Option<&JobId>) = match &event {
        LedgerEvent::Granted { amount, .. } => (amount.micros(), 0, 0, None),
        LedgerEvent::HoldPlaced { amount, .. } => (0, amount.micros() as i128, 0, None),
        LedgerEvent::Settled { job, held, charged, .. } => (0, -(held.micros() as i128), charged.micros(), Some(job)),
    };
    sqlx::query(
        "INSERT INTO rm_ledgers (tenant_id, granted, held, spent, updated_at) \
         VALUES ($1, $2::numeric, GREATEST($3::numeric, 0), $4::numeric, $5) \
         ON CONFLICT (tenant_id) DO UPDATE SET granted = rm_ledgers.granted + $2::numeric, \
             held = GREATEST(rm_ledgers.held + $3::numeric, 0), spent = rm_ledgers.spent + $4::numeric, \
             updated_at = $5",
    )
    .bind(tenant)
    .bind(granted.to_string())
    .bind(held.to_string())
    .bind(spent.to_string())
    .bind(stored.recorded_at)
    .execute(&mut *conn)
    .await?;
    if let Some(job) = settled_job {
        sqlx::query("UPDATE rm_jobs SET settled = TRUE WHERE tenant_id = $1 AND job_id = $2")
            .bind(tenant)
            .bind(job.as_str())
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub(crate) async fn apply_platform_settings(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: PlatformSettingsEvent,
) -> Result<(), StoreError> {
    let (active, message) = match event {
        PlatformSettingsEvent::MaintenanceStarted { message } => (true, message),
        PlatformSettingsEvent::MaintenanceEnded => (false, String::new()),
    };
    sqlx::query(
        "INSERT INTO rm_platform_maintenance (singleton, active, message, since, updated_by) \
         VALUES (TRUE, $1, $2, $3, $4) \
         ON CONFLICT (singleton) DO UPDATE SET active = $1, message = $2, since = $3, updated_by = $4",
    )
    .bind(active)
    .bind(message)
    .bind(stored.recorded_at)
    .bind(stored.metadata.actor.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Queries

/// A job as the read model holds it: the aggregate's state and the times the projection kept.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub state: JobState,
    pub version: i64,
    pub settled: bool,
    pub submitted_at: DateTime<Utc>,
    pub queued_at: Option<DateTime<Utc>>,
    pub phase_started_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

type RawJobRow = (
    serde_json::Value,
    i64,
    bool,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

const JOB_COLUMNS: &str =
    "state, version, settled, submitted_at, queued_at, phase_started_at, started_at, finished_at, updated_at";

fn job_row(raw: RawJobRow) -> Result<JobRow, sqlx::Error> {
    let (state, version, settled, submitted_at, queued_at, phase_started_at, started_at, finished_at, updated_at) = raw;
    let state = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(JobRow {
        state,
        version,
        settled,
        submitted_at,
        queued_at,
        phase_started_at,
        started_at,
        finished_at,
        updated_at,
    })
}

pub async fn get_job(pool: &PgPool, tenant: &TenantId, job: &JobId) -> Result<Option<JobRow>, sqlx::Error> {
    let raw: Option<RawJobRow> =
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM rm_jobs WHERE tenant_id = $1 AND job_id = $2"))
            .bind(tenant.as_str())
            .bind(job.as_str())
            .fetch_optional(pool)
            .await?;
    raw.map(job_row).transpose()
}

/// A tenant's jobs, newest first, after `before` (a job id: the cursor), at most `limit`,
/// optionally only those with `status` (any string: a status no job has matches nothing).
pub async fn list_jobs(
    pool: &PgPool,
    tenant: &TenantId,
    status: Option<&str>,
    before: Option<&JobId>,
    limit: u32,
) -> Result<Vec<JobRow>, sqlx::Error> {
    let raw: Vec<RawJobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM rm_jobs WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) \
         AND ($3::text IS NULL OR job_id < $3) ORDER BY job_id DESC LIMIT $4"
    ))
    .bind(tenant.as_str())
    .bind(status)
    .bind(before.map(JobId::as_str))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    raw.into_iter().map(job_row).collect()
}

/// How many of a tenant's jobs are queued now.
pub async fn count_queued_jobs(pool: &PgPool, tenant: &TenantId) -> Result<u64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM rm_jobs WHERE tenant_id = $1 AND status = 'queued'")
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await?;
    Ok(n.max(0) as u64)
}

/// Whether the job is in one of these statuses now; `None` when the tenant has no such job.
pub async fn job_status(pool: &PgPool, tenant: &TenantId, job: &JobId) -> Result<Option<JobStatus>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT status FROM rm_jobs WHERE tenant_id = $1 AND job_id = $2")
        .bind(tenant.as_str())
        .bind(job.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|(s,)| JobStatus::parse(&s)))
}

/// An uploaded input as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    pub state: InputState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

type RawInputRow = (serde_json::Value, DateTime<Utc>, DateTime<Utc>);

fn input_row((state, created_at, updated_at): RawInputRow) -> Result<InputRow, sqlx::Error> {
    let state = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(InputRow { state, created_at, updated_at })
}

pub async fn get_job_input(pool: &PgPool, tenant: &TenantId, input: &InputId) -> Result<Option<InputRow>, sqlx::Error> {
    let raw: Option<RawInputRow> = sqlx::query_as(
        "SELECT state, created_at, updated_at FROM rm_job_inputs WHERE tenant_id = $1 AND input_id = $2",
    )
    .bind(tenant.as_str())
    .bind(input.as_str())
    .fetch_optional(pool)
    .await?;
    raw.map(input_row).transpose()
}

/// A tenant's inputs, newest first (input ids are `inp_` + a UUIDv7), at most `limit`.
pub async fn list_job_inputs(pool: &PgPool, tenant: &TenantId, limit: u32) -> Result<Vec<InputRow>, sqlx::Error> {
    let raw: Vec<RawInputRow> = sqlx::query_as(
        "SELECT state, created_at, updated_at FROM rm_job_inputs WHERE tenant_id = $1 ORDER BY input_id DESC LIMIT $2",
    )
    .bind(tenant.as_str())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    raw.into_iter().map(input_row).collect()
}

/// A tenant's credits as the ledger's events left them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerRow {
    pub granted: Credits,
    pub held: Credits,
    pub spent: Credits,
}

impl LedgerRow {
    pub fn available(&self) -> Credits {
        self.granted.saturating_sub(self.held.checked_add(self.spent).unwrap_or(Credits::from_micros(u64::MAX)))
    }
}

pub async fn get_ledger(pool: &PgPool, tenant: &TenantId) -> Result<LedgerRow, sqlx::Error> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT granted::text, held::text, spent::text FROM rm_ledgers WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?;
    let parse = |s: &str| Credits::from_micros(s.parse::<u64>().unwrap_or(u64::MAX));
    Ok(row.map(|(g, h, s)| LedgerRow { granted: parse(&g), held: parse(&h), spent: parse(&s) }).unwrap_or_default())
}

/// The deployment's maintenance switch: `Some((message, since))` while it is on. Platform-wide,
/// not a tenant's data.
pub async fn maintenance(pool: &PgPool) -> Result<Option<(String, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(bool, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT active, message, since FROM rm_platform_maintenance WHERE singleton")
            .fetch_optional(pool)
            .await?;
    Ok(row.filter(|(active, _, _)| *active).map(|(_, message, since)| (message, since)))
}
