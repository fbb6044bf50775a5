//! The hook for jobs. Jobs do not exist on this branch (the job-poller reports health only), so
//! the load submits none and the check has nothing to verify. When `submit_job` and the
//! poller's claiming loop land: [`drive_jobs`] submits jobs (with idempotency keys) through the
//! API while processes die, and [`check_jobs`] asserts every acknowledged job reached exactly one
//! terminal state (one terminal event per job in the log, the read model agreeing).

use crate::chaos::ledger::Ledger;
use std::time::Instant;

/// What the jobs check found.
#[derive(Clone, Debug)]
pub enum JobsVerdict {
    /// No jobs on this branch.
    NotApplicable,
}

impl JobsVerdict {
    pub fn describe(&self) -> &'static str {
        match self {
            JobsVerdict::NotApplicable => "not run: no jobs on this branch (hook: loadtest/src/chaos/jobs.rs)",
        }
    }
}

/// Submits jobs until `until`. Nothing to submit yet.
pub async fn drive_jobs(_ledger: Ledger, _until: Instant) {}

/// Every acknowledged job reached one terminal state. Nothing to check yet.
pub async fn check_jobs(_pool: &sqlx::PgPool, _ledger: &Ledger) -> JobsVerdict {
    JobsVerdict::NotApplicable
}
