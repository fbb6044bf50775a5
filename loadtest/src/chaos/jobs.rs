//! Jobs under faults: [`drive_jobs`] submits short jobs through the API (HAProxy, either api)
//! with idempotency keys while processes die (the two job-pollers among them), retrying a lost
//! answer with the same key; [`check_jobs`] then asserts that every acknowledged submit is
//! exactly one job (none lost, none duplicated by a retry), that every job reached one terminal
//! state (one terminal event in its stream, the read model agreeing), and that a job that did
//! not complete failed only because its poller died under it (`runner_lost`).

use crate::chaos::ledger::Outcome;
use crate::chaos::load::{Api, Deadline};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a job is submitted.
const SUBMIT_EVERY: Duration = Duration::from_millis(400);
/// How long the check waits for the last jobs to end.
const SETTLE: Duration = Duration::from_secs(90);

/// The submits the load made: the job's name (its idempotency key) and what the API said.
#[derive(Clone, Default)]
pub struct Submits(Arc<Mutex<Vec<(String, Outcome)>>>);

impl Submits {
    fn push(&self, name: String, outcome: Outcome) {
        if let Ok(mut all) = self.0.lock() {
            all.push((name, outcome));
        }
    }

    fn all(&self) -> Vec<(String, Outcome)> {
        self.0.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// What the jobs check found.
#[derive(Clone, Debug, Default)]
pub struct JobsVerdict {
    pub acknowledged: usize,
    /// Submits whose answer never came back (each may or may not have made a job).
    pub unknown: usize,
    pub completed: usize,
    /// Failed because the poller running them died (a local sandbox dies with it).
    pub runner_lost: usize,
    /// Acknowledged submits with no job.
    pub lost: Vec<String>,
    /// Submits that made more than one job.
    pub duplicated: Vec<String>,
    /// Jobs not terminal after the settle time.
    pub not_ended: Vec<String>,
    /// Jobs with more than one terminal event, or whose read model disagrees with their log.
    pub inconsistent: Vec<String>,
    /// Jobs that ended otherwise (another failure reason, cancelled, rejected).
    pub other_end: Vec<String>,
}

impl JobsVerdict {
    pub fn describe(&self) -> String {
        format!(
            "{} acknowledged ({} unknown): {} completed, {} failed runner_lost; lost {}, duplicated {}, not ended {}, \
             inconsistent {}, other ends {}",
            self.acknowledged,
            self.unknown,
            self.completed,
            self.runner_lost,
            self.lost.len(),
            self.duplicated.len(),
            self.not_ended.len(),
            self.inconsistent.len(),
            self.other_end.len()
        )
    }

    pub fn failures(&self) -> Vec<(String, usize)> {
        [
            ("acknowledged jobs lost", self.lost.len()),
            ("jobs duplicated by a retried submit", self.duplicated.len()),
            ("jobs that never ended", self.not_ended.len()),
            ("jobs with more than one end, or a read model that disagrees", self.inconsistent.len()),
            ("jobs that ended otherwise than completed or runner_lost", self.other_end.len()),
        ]
        .into_iter()
        .map(|(what, n)| (what.to_string(), n))
        .collect()
    }

    pub fn passed(&self) -> bool {
        self.failures().iter().all(|(_, n)| *n == 0)
    }
}

/// Submits a short job every [`SUBMIT_EVERY`] until the deadline, each with its own
/// idempotency key (its name), retrying a lost answer with the same key.
pub async fn drive_jobs(api: Api, submits: Submits, deadline: Deadline) {
    let mut n = 0;
    while deadline.running() {
        let name = format!("chaos-job-{n}");
        n += 1;
        let body = json!({"name": name, "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "import time; print('start', flush=True); time.sleep(0.3); print('end')"]});
        let (outcome, _) = api.until_definite(reqwest::Method::POST, "/jobs", Some(&body), Some(&name), None).await;
        submits.push(name, outcome);
        tokio::time::sleep(SUBMIT_EVERY).await;
    }
}

/// Waits (up to [`SETTLE`]) until no job is queued or running: the last jobs end, and a poller
/// restarted late takes over lapsed leases within a lease. Part of settling, before any check
/// reads the event log (an ending job appends events). Answers how many are still open.
pub async fn wait_for_jobs_to_end(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let started = Instant::now();
    loop {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM rm_jobs WHERE status NOT IN ('completed', 'failed', 'cancelled', 'rejected')",
        )
        .fetch_one(pool)
        .await?;
        if open == 0 || started.elapsed() > SETTLE {
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every acknowledged submit is one job that reached one terminal state (see the module doc).
pub async fn check_jobs(pool: &sqlx::PgPool, submits: &Submits) -> anyhow::Result<JobsVerdict> {
    let mut verdict = JobsVerdict::default();
    let all = submits.all();
    for (name, outcome) in &all {
        let acked = matches!(outcome, Outcome::Acked { .. } | Outcome::AckedEarlier { .. });
        let unknown = matches!(outcome, Outcome::Unknown { .. });
        if acked {
            verdict.acknowledged += 1;
        } else if unknown {
            verdict.unknown += 1;
        } else {
            continue;
        }
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT job_id, status, state->'failure'->>'reason' FROM rm_jobs WHERE state->'spec'->>'name' = $1",
        )
        .bind(name)
        .fetch_all(pool)
        .await?;
        match rows.len() {
            0 if acked => verdict.lost.push(name.clone()),
            0 => continue,
            1 => {}
            _ => verdict.duplicated.push(name.clone()),
        }
        for (job, status, reason) in rows {
            let ends: Vec<(String,)> = sqlx::query_as(
                "SELECT event_type FROM events WHERE aggregate_id = $1 \
                 AND event_type IN ('job.completed', 'job.failed', 'job.cancelled', 'job.rejected')",
            )
            .bind(&job)
            .fetch_all(pool)
            .await?;
            let terminal = ["completed", "failed", "cancelled", "rejected"].contains(&status.as_str());
            if !terminal {
                verdict.not_ended.push(format!("{name} ({job}: {status})"));
                continue;
            }
            if ends.len() != 1 || ends[0].0 != format!("job.{status}") {
                verdict.inconsistent.push(format!("{name} ({job}: {status}, log ends {ends:?})"));
                continue;
            }
            match (status.as_str(), reason.as_deref()) {
                ("completed", _) => verdict.completed += 1,
                ("failed", Some("runner_lost")) => verdict.runner_lost += 1,
                _ => verdict.other_end.push(format!("{name} ({job}: {status} {reason:?})")),
            }
        }
    }
    Ok(verdict)
}
