//! The reading operations: `list_jobs`, `get_job`, `get_job_events` (the job's own event
//! stream, each event as `JobEvent::lifecycle` renders it), `list_artifacts` and `get_artifact`
//! (with a short-lived signed download URL, a bearer secret that is never logged whole).

use crate::args;
use crate::error::JobsError;
use crate::submit::job_not_found;
use crate::views::{self, time};
use crate::{Caller, Jobs};
use canopy_api_types::jobs::{ArtifactDownloadView, ArtifactsView, JobEventView, JobEventsView, JobListView, JobView};
use canopy_blobs::BlobKey;
use canopy_domain::job::{Job, JobEvent};
use canopy_domain::{ArtifactId, JobId, TenantId};
use canopy_eventstore::StreamKey;
use canopy_policy::GridTool;
use serde_json::Value;

pub const LIST_DEFAULT_LIMIT: u32 = 20;
pub const LIST_MAX_LIMIT: u32 = 100;

/// Where the job-poller stores an artifact and `get_artifact` signs it:
/// `tenants/{tenant}/jobs/{job}/artifacts/{artifact_id}`.
pub fn artifact_key(tenant: &TenantId, job: &JobId, artifact: &ArtifactId) -> Result<BlobKey, JobsError> {
    BlobKey::job_artifact(tenant, job.as_str(), artifact.as_str())
        .map_err(|e| JobsError::internal("an artifact's object key is invalid", e))
}

impl Jobs {
    /// `list_jobs`: newest first; `limit` (1 to 100, default 20), `cursor` (the previous page's
    /// `next_cursor`), `status` (free-form: a status no job has lists nothing).
    pub async fn list_jobs(&self, caller: &Caller, arguments: &Value) -> Result<JobListView, JobsError> {
        caller.require(GridTool::ListJobs, || JobsError::not_found("the jobs service"))?;
        let args = args::object(arguments)?;
        let limit = args::limit(args, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)?;
        let cursor = match args::string(args, "cursor", None)? {
            None => None,
            Some(c) => {
                Some(JobId::parse(c).map_err(|_| JobsError::invalid("cursor", "is not a cursor list_jobs gave"))?)
            }
        };
        let status = args::string(args, "status", None)?.map(str::trim);
        let mut rows =
            canopy_readmodels::list_jobs(self.pool(), &caller.tenant, status, cursor.as_ref(), limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(|r| r.state.id.to_string()) } else { None };
        let now = chrono::Utc::now();
        Ok(JobListView { jobs: rows.iter().map(|r| views::job(r, now)).collect(), limit, next_cursor, has_more })
    }

    /// `get_job`: status, phases, scheduling, provider, failure, inputs, artifact contract, costs.
    pub async fn get_job(&self, caller: &Caller, arguments: &Value) -> Result<JobView, JobsError> {
        let id = args::job_id(args::object(arguments)?)?;
        caller.require(GridTool::GetJob, || job_not_found(&id))?;
        let row = self.job_row(caller, &id).await?;
        Ok(views::job(&row, chrono::Utc::now()))
    }

    /// `get_job_events`: the job's lifecycle, oldest first, read from its event stream.
    pub async fn get_job_events(&self, caller: &Caller, arguments: &Value) -> Result<JobEventsView, JobsError> {
        let id = args::job_id(args::object(arguments)?)?;
        caller.require(GridTool::GetJobEvents, || job_not_found(&id))?;
        let key = StreamKey::of::<Job>(&caller.tenant, id.as_str());
        let stored = self
            .executor()
            .store()
            .load(&key)
            .await
            .map_err(|e| JobsError::internal("reading the job's events failed", e))?;
        if stored.is_empty() {
            return Err(job_not_found(&id));
        }
        let mut events = Vec::with_capacity(stored.len());
        for event in &stored {
            let decoded: JobEvent = event.decode().map_err(|e| JobsError::internal("a job event cannot be read", e))?;
            let entry = decoded.lifecycle();
            events.push(JobEventView {
                id: event.event_id.to_string(),
                event_type: entry.event_type,
                phase: entry.phase.as_str().into(),
                title: entry.title,
                message: entry.message,
                source: serde_name(&entry.source),
                level: serde_name(&entry.level),
                created_at: time(event.recorded_at),
                sequence: event.version.max(0) as u64,
            });
        }
        Ok(JobEventsView { job_id: id.to_string(), events, generated_at: time(chrono::Utc::now()) })
    }

    /// `list_artifacts`: what the job left under `/workspace/artifacts/` once it ended (empty
    /// before), and the expected ones it did not leave.
    pub async fn list_artifacts(&self, caller: &Caller, arguments: &Value) -> Result<ArtifactsView, JobsError> {
        let id = args::job_id(args::object(arguments)?)?;
        caller.require(GridTool::ListArtifacts, || job_not_found(&id))?;
        let row = self.job_row(caller, &id).await?;
        let ready = row.state.artifacts_ready();
        let artifacts =
            if ready { row.state.artifacts.iter().map(|a| views::artifact(&row, a)).collect() } else { vec![] };
        Ok(ArtifactsView {
            job_id: id.to_string(),
            artifacts,
            artifacts_ready: ready,
            missing: row.state.missing_artifacts.clone(),
        })
    }

    /// `get_artifact`: its metadata and a signed download URL with its expiry.
    /// `ARTIFACT_NOT_READY` before the job ended; `NOT_FOUND` for an id the job does not have.
    pub async fn get_artifact(&self, caller: &Caller, arguments: &Value) -> Result<ArtifactDownloadView, JobsError> {
        let args = args::object(arguments)?;
        let id = args::job_id(args)?;
        let artifact_id = args::artifact_id(args)?;
        caller.require(GridTool::GetArtifact, || job_not_found(&id))?;
        let row = self.job_row(caller, &id).await?;
        let artifact = row.state.artifact(&artifact_id).map_err(JobsError::domain)?;
        let key = artifact_key(&caller.tenant, &id, &artifact_id)?;
        let url = self
            .urls()
            .download_url(&key, Some(&artifact.content_type), self.settings().url_ttl)
            .await
            .map_err(|e| JobsError::internal("signing the artifact's download URL failed", e))?;
        tracing::debug!(job = %id, artifact = %artifact_id, url = %url.redacted(), "artifact download URL issued");
        Ok(ArtifactDownloadView {
            artifact: views::artifact(&row, artifact),
            download_url: url.expose().to_string(),
            expires_at: time(url.expires_at()),
        })
    }
}

/// The name serde gives a unit variant (`info`, `runner`).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}
