//! Job logs: kept in `job_logs` (paged by cursor: the entry id), and delivered live.
//!
//! - The job-poller calls [`Jobs::append_logs`] with a batch of lines: one insert, then one
//!   core-NATS publish on `PREFIX.joblogs.TENANT.JOB` (the new entries, as JSON).
//! - `get_job_logs` pages the table: entries after `cursor`, at most `limit`, `next_cursor`,
//!   `has_more`, a `failure_highlight` for a failed job and a `usage_hint`.
//! - [`Jobs::follow_job_logs`] streams entries as they come: it subscribes to the job's subject
//!   first, then reads the table from the cursor (the catch-up), and on every message (and every
//!   second, should a message be lost) reads the table again after the last entry it sent. The
//!   table is the source, the subject only a wake-up, so a line inserted between the catch-up and
//!   the subscription is never missed and none is sent twice. It ends when the job has ended
//!   and everything is sent, or when `jobs.follow_max_secs` (or the caller's shorter limit) has
//!   passed.

use crate::args;
use crate::error::JobsError;
use crate::submit::job_not_found;
use crate::views::time;
use crate::{Caller, Jobs};
use canopy_api_types::jobs::{FailureHighlight, JobLogsView, LogEntryView};
use canopy_domain::job::{Attempt, JobStatus};
use canopy_domain::{JobId, TenantId};
use canopy_policy::GridTool;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::time::Duration;

pub const LOGS_DEFAULT_LIMIT: u32 = 100;
pub const LOGS_MAX_LIMIT: u32 = 1000;
/// The longest line kept; a longer one is cut and marked `truncated`.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Stderr lines a failed job's `failure_highlight` shows.
const HIGHLIGHT_LINES: i64 = 20;
/// How often a follower looks at the table without a wake-up.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
const FOLLOW_BATCH: i64 = 500;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Canopy's own lines about the job (placement, workspace, teardown).
    Platform,
}

impl LogStream {
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        // (source, category, stream)
        match self {
            LogStream::Stdout => ("workload", "workload_stdout", "stdout"),
            LogStream::Stderr => ("workload", "workload_stderr", "stderr"),
            LogStream::Platform => ("platform", "platform", "platform"),
        }
    }
}

/// One line the job-poller appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub message: String,
}

impl LogLine {
    pub fn new(stream: LogStream, message: impl Into<String>) -> Self {
        LogLine { stream, message: message.into() }
    }
}

type RawEntry = (i64, String, String, String, String, bool, DateTime<Utc>);

fn entry((entry_id, source, category, stream, message, truncated, created_at): RawEntry) -> LogEntryView {
    LogEntryView {
        entry_id: entry_id.to_string(),
        source,
        category,
        stream,
        message,
        truncated,
        created_at: time(created_at),
    }
}

/// A line as it is kept: at most [`MAX_LINE_BYTES`] (cut at a character boundary), NUL (which
/// Postgres refuses in text) replaced, the trailing newline dropped.
fn kept(message: &str) -> (String, bool) {
    let message = message.strip_suffix('\n').unwrap_or(message);
    let message = message.strip_suffix('\r').unwrap_or(message);
    let mut end = message.len().min(MAX_LINE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    (message[..end].replace('\0', "\u{fffd}"), end < message.len())
}

async fn entries_after(
    pool: &sqlx::PgPool,
    tenant: &TenantId,
    job: &JobId,
    after: i64,
    limit: i64,
) -> Result<Vec<LogEntryView>, sqlx::Error> {
    let rows: Vec<RawEntry> = sqlx::query_as(
        "SELECT entry_id, source, category, stream, message, truncated, created_at FROM job_logs \
         WHERE tenant_id = $1 AND job_id = $2 AND entry_id > $3 ORDER BY entry_id LIMIT $4",
    )
    .bind(tenant.as_str())
    .bind(job.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

fn cursor(args: &serde_json::Map<String, Value>) -> Result<i64, JobsError> {
    match args::string(args, "cursor", None)? {
        None => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| JobsError::invalid("cursor", "is not a cursor get_job_logs gave")),
    }
}

impl Jobs {
    /// The job-poller's lines of `job` (attempt `attempt`), stored in order, then published to
    /// followers. Answers the stored entries.
    pub async fn append_logs(
        &self,
        tenant: &TenantId,
        job: &JobId,
        attempt: Attempt,
        lines: &[LogLine],
    ) -> Result<Vec<LogEntryView>, JobsError> {
        if lines.is_empty() {
            return Ok(vec![]);
        }
        let mut sources = Vec::with_capacity(lines.len());
        let mut categories = Vec::with_capacity(lines.len());
        let mut streams = Vec::with_capacity(lines.len());
        let mut messages = Vec::with_capacity(lines.len());
        let mut truncated = Vec::with_capacity(lines.len());
        for line in lines {
            let (source, category, stream) = line.stream.columns();
            let (message, cut) = kept(&line.message);
            sources.push(source);
            categories.push(category);
            streams.push(stream);
            messages.push(message);
            truncated.push(cut);
        }
        let rows: Vec<RawEntry> = sqlx::query_as(
            "INSERT INTO job_logs (tenant_id, job_id, attempt, source, category, stream, message, truncated) \
             SELECT $1, $2, $3, s, c, st, m, t FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $8::bool[]) \
                 WITH ORDINALITY AS l(s, c, st, m, t, n) ORDER BY n \
             RETURNING entry_id, source, category, stream, message, truncated, created_at",
        )
        .bind(tenant.as_str())
        .bind(job.as_str())
        .bind(attempt.0 as i32)
        .bind(&sources)
        .bind(&categories)
        .bind(&streams)
        .bind(&messages)
        .bind(&truncated)
        .fetch_all(self.pool())
        .await?;
        let mut entries: Vec<LogEntryView> = rows.into_iter().map(entry).collect();
        entries.sort_by_key(|e| e.entry_id.parse::<i64>().unwrap_or_default());
        self.publish_log_wakeup(tenant, job, &entries).await;
        Ok(entries)
    }

    /// How many of the job's workload lines (stdout and stderr, every attempt) are stored: a
    /// runner that re-attaches to an execution whose backend replays its whole log (Ray) skips
    /// that many, so no line is kept twice.
    pub async fn workload_lines_kept(&self, tenant: &TenantId, job: &JobId) -> Result<u64, JobsError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM job_logs WHERE tenant_id = $1 AND job_id = $2 AND source = 'workload'",
        )
        .bind(tenant.as_str())
        .bind(job.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn publish_log_wakeup(&self, tenant: &TenantId, job: &JobId, entries: &[LogEntryView]) {
        let subject = self.bus().subjects.job_logs(tenant.as_str(), job.as_str());
        let payload = serde_json::to_vec(&serde_json::json!({ "entries": entries })).unwrap_or_default();
        if let Err(e) = self.bus().client.publish(subject, payload.into()).await {
            tracing::warn!(job = %job, error = %e, "publishing new log lines failed; followers poll the table too");
        }
    }

    /// `get_job_logs`: stored lines after `cursor`, at most `limit` (1 to 1000, default 100).
    pub async fn get_job_logs(&self, caller: &Caller, arguments: &Value) -> Result<JobLogsView, JobsError> {
        let args = args::object(arguments)?;
        let id = args::job_id(args)?;
        caller.require(GridTool::GetJobLogs, || job_not_found(&id))?;
        let limit = args::limit(args, LOGS_DEFAULT_LIMIT, LOGS_MAX_LIMIT)?;
        let after = cursor(args)?;
        let row = self.job_row(caller, &id).await?;
        let mut items = entries_after(self.pool(), &caller.tenant, &id, after, i64::from(limit) + 1).await?;
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = Some(items.last().map_or(after.to_string(), |e| e.entry_id.clone()));
        let failure_highlight = match (&row.state.status, &row.state.failure) {
            (JobStatus::Failed, Some(failure)) => {
                let mut lines: Vec<(String,)> = sqlx::query_as(
                    "SELECT message FROM job_logs WHERE tenant_id = $1 AND job_id = $2 \
                     AND category = 'workload_stderr' ORDER BY entry_id DESC LIMIT $3",
                )
                .bind(caller.tenant.as_str())
                .bind(id.as_str())
                .bind(HIGHLIGHT_LINES)
                .fetch_all(self.pool())
                .await?;
                lines.reverse();
                Some(FailureHighlight {
                    reason: failure.reason.as_str().into(),
                    message: failure.message.clone(),
                    exit_code: failure.exit_code,
                    last_stderr_lines: lines.into_iter().map(|(l,)| l).collect(),
                })
            }
            _ => None,
        };
        let usage_hint = if items.is_empty() && !row.state.status.is_terminal() {
            "No log lines yet: the job is still being placed or prepared; get_job_events shows where it is. \
             Call again with next_cursor, or follow the logs live (REST ?follow=true, `canopy jobs logs --follow`)."
        } else if has_more {
            "More lines follow: call again with next_cursor as cursor."
        } else if row.state.status.is_terminal() {
            "The job has ended; these are all its lines."
        } else {
            "The job is still running: call again with next_cursor for new lines, or follow them live \
             (REST ?follow=true, `canopy jobs logs --follow`)."
        };
        Ok(JobLogsView {
            job_id: id.to_string(),
            items,
            next_cursor,
            has_more,
            failure_highlight,
            usage_hint: usage_hint.into(),
        })
    }

    /// New log lines of a job as they are stored, from `cursor` (all lines by default), until the
    /// job ends and every line is sent, or `max_wait` (capped at `jobs.follow_max_secs`) passes.
    /// The checks (policy, the job exists) happen before the stream is returned.
    pub async fn follow_job_logs(
        &self,
        caller: &Caller,
        arguments: &Value,
        max_wait: Option<Duration>,
    ) -> Result<impl Stream<Item = LogEntryView> + Send + 'static, JobsError> {
        let args = args::object(arguments)?;
        let id = args::job_id(args)?;
        caller.require(GridTool::GetJobLogs, || job_not_found(&id))?;
        let mut last = cursor(args)?;
        self.job_row(caller, &id).await?;
        let subject = self.bus().subjects.job_logs(caller.tenant.as_str(), id.as_str());
        let mut wakeups = self
            .bus()
            .client
            .subscribe(subject)
            .await
            .map_err(|e| JobsError::internal("subscribing to the job's log lines failed", e))?;
        let limit = max_wait.map_or(self.settings().follow_max, |w| w.min(self.settings().follow_max));
        let deadline = tokio::time::Instant::now() + limit;
        let (tx, rx) = tokio::sync::mpsc::channel::<LogEntryView>(256);
        let (pool, tenant) = (self.pool().clone(), caller.tenant.clone());
        tokio::spawn(async move {
            loop {
                // Read whether the job had ended before reading the lines: a line stored before
                // the end is then in this read.
                let ended = match canopy_readmodels::job_status(&pool, &tenant, &id).await {
                    Ok(status) => status.is_none_or(JobStatus::is_terminal),
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e, "following logs: reading the job failed");
                        return;
                    }
                };
                loop {
                    let batch = match entries_after(&pool, &tenant, &id, last, FOLLOW_BATCH).await {
                        Ok(batch) => batch,
                        Err(e) => {
                            tracing::warn!(job = %id, error = %e, "following logs: reading lines failed");
                            return;
                        }
                    };
                    let full = batch.len() as i64 == FOLLOW_BATCH;
                    for entry in batch {
                        last = entry.entry_id.parse().unwrap_or(last);
                        if tx.send(entry).await.is_err() {
                            return; // the follower left
                        }
                    }
                    if !full {
                        break;
                    }
                }
                if ended {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                    _ = wakeups.next() => {}
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                }
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|entry| (entry, rx)) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_within_bounds() {
        assert_eq!(kept("hello\n"), ("hello".to_string(), false));
        assert_eq!(kept("a\0b\r\n"), ("a\u{fffd}b".to_string(), false));
        let long = "é".repeat(MAX_LINE_BYTES);
        let (cut, truncated) = kept(&long);
        assert!(truncated && cut.len() <= MAX_LINE_BYTES && cut.chars().all(|c| c == 'é'));
    }
}
