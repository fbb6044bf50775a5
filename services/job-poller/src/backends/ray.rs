//! The `ray` backend: jobs on a Ray cluster through its Jobs REST API (the dashboard's
//! `/api/jobs/` and `/api/packages/`), so the cluster can be anywhere the poller reaches.
//!
//! Start: the workspace's `inputs/` and `scripts/`, an empty `artifacts/` and Canopy's
//! entrypoint wrapper (`_canopy/entry.py`, see `ray_entry.py`, with the job's argv, env and
//! bounds in `_canopy/job.json`) are zipped (stored entries) and uploaded as
//! `gcs://_ray_pkg_<sha256>.zip` (`GET /api/packages/gcs/...` first: an identical package is
//! not sent twice), then `POST /api/jobs/` submits `python _canopy/entry.py` with that package
//! as `runtime_env.working_dir` and `submission_id` = [`ExecutionId::for_attempt`]
//! (`canopy-<job id>-a<attempt>`), so a retried start or a successor poller finds it.
//!
//! The job's view: the wrapper runs the command with `/workspace` = Ray's working directory
//! (through bubblewrap on the node; without it, in that directory with `/workspace/...`
//! arguments rewritten, said in a platform line), bounded in wall time, output and memory.
//! Ray's own isolation applies otherwise: the job has the node's network and files, as any
//! Ray job does.
//!
//! Status: `PENDING` → starting, `RUNNING` → running, `SUCCEEDED` → completed, `FAILED` →
//! failed (reason from the wrapper's end record: `exit_code`, `timeout`, `output_limit`; none
//! there means the wrapper never finished: `backend_error` with Ray's message), `STOPPED` →
//! cancelled. Logs: `GET /api/jobs/{id}/logs` is polled and only the new part is parsed; the
//! wrapper tags each line with its stream and time, since Ray merges stdout and stderr. Cancel:
//! `POST /api/jobs/{id}/stop` (SIGTERM to the tree, SIGKILL after Ray's 3 s). Artifacts: the
//! wrapper delivers a zip to the [`ArtifactDrop`] at the end; [`Execution::collect_artifacts`]
//! fetches and unpacks it. Re-attach: the job runs on without the poller; `attach` follows it
//! again by its submission id, logs replayed from the start (same `seq` numbers).

use super::artifacts::{extract_zip, ArtifactDrop, ArtifactError, CollectedArtifacts};
use super::images::{ImageCatalog, ImageError};
use super::log_lines::LogSink;
use super::workspace::{ARTIFACTS, INPUTS, SCRIPTS};
use super::{
    Backend, BackendError, Capacity, Execution, ExecutionControl, ExecutionId, ExecutionStatus, JobRef, LogStream,
    Placement, Pricing,
};
use crate::error_chain;
use async_trait::async_trait;
use canopy_domain::credits::Credits;
use canopy_domain::job::FailureReason;
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The wrapper Ray runs as the job's entrypoint.
const ENTRY_SCRIPT: &str = include_str!("ray_entry.py");
/// Marks a record of the wrapper in Ray's log (ASCII unit separator).
const RECORD_TAG: char = '\u{1f}';

/// Configuration of the Ray backend.
#[derive(Clone, Debug)]
pub struct RayConfig {
    /// The dashboard's base URL (`http://127.0.0.1:8265`), where the Jobs API is.
    pub dashboard_url: String,
    /// Jobs Canopy keeps on the cluster at once.
    pub slots: u32,
    /// Default: 0.02 credit per minute.
    pub pricing: Pricing,
    /// On Ray an accepted image's runtime contributes its `env`; commands resolve on the
    /// node's `PATH` (Ray's Python). Default: Python 3 images, as on `local`.
    pub images: ImageCatalog,
    pub line_max_bytes: usize,
    /// How often a followed job's status and logs are read.
    pub poll_interval: Duration,
    /// The interpreter on the Ray nodes that runs the wrapper.
    pub entrypoint_python: String,
    /// Largest artifacts zip a job may deliver.
    pub artifacts_max_bytes: u64,
    /// How long a job may wait on the cluster before it starts; the artifacts URL lives this
    /// long beyond the job's wall time.
    pub max_pending: Duration,
    /// Between the wrapper's SIGTERM and SIGKILL when a bound is hit.
    pub kill_grace: Duration,
    /// One request to the dashboard.
    pub request_timeout: Duration,
}

impl RayConfig {
    pub fn new(dashboard_url: impl Into<String>) -> Self {
        RayConfig {
            dashboard_url: dashboard_url.into().trim_end_matches('/').to_owned(),
            slots: 16,
            pricing: Pricing { per_minute: Credits::from_micros(20_000) },
            images: ImageCatalog::default(),
            line_max_bytes: 16 * 1024,
            poll_interval: Duration::from_millis(200),
            entrypoint_python: "python".into(),
            artifacts_max_bytes: 1 << 30,
            max_pending: Duration::from_secs(3600),
            kill_grace: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How long a submission waits for Ray's job agent to be ready.
const AGENT_WAIT: Duration = Duration::from_secs(30);

/// What went wrong talking to Ray.
#[derive(Debug, thiserror::Error)]
pub enum RayError {
    #[error("the request failed")]
    Http(#[source] reqwest::Error),
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("cannot package the workspace")]
    Package(#[source] std::io::Error),
    #[error("cannot zip the workspace")]
    Zip(#[source] zip::result::ZipError),
}

/// See the module's documentation.
#[derive(Clone)]
pub struct RayBackend {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: RayConfig,
    drop: Arc<dyn ArtifactDrop>,
    followed: AtomicU32,
}

/// Ray's `JobDetails`, the fields Canopy reads.
#[derive(Clone, Debug, Deserialize)]
struct RayJob {
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    driver_exit_code: Option<i32>,
}

#[derive(Deserialize)]
struct RayLogs {
    logs: String,
}

impl RayBackend {
    pub fn new(config: RayConfig, artifacts: Arc<dyn ArtifactDrop>) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ray_error("build its HTTP client", RayError::Http(e)))?;
        Ok(RayBackend { inner: Arc::new(Inner { http, config, drop: artifacts, followed: AtomicU32::new(0) }) })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.config.dashboard_url)
    }

    /// Uploads the package unless the cluster has it already; returns its `gcs://` URI.
    async fn upload_package(&self, zip: Vec<u8>) -> Result<String, BackendError> {
        let digest = Sha256::digest(&zip);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let name = format!("_ray_pkg_{hex}.zip");
        let path = self.url(&format!("/api/packages/gcs/{name}"));
        let exists = self
            .inner
            .http
            .get(&path)
            .send()
            .await
            .map_err(|e| ray_error("say whether a package exists", RayError::Http(e)))?;
        if !exists.status().is_success() {
            let response = self
                .inner
                .http
                .put(&path)
                .body(zip)
                .send()
                .await
                .map_err(|e| ray_error("take the job's package", RayError::Http(e)))?;
            checked(response, "take the job's package").await?;
        }
        Ok(format!("gcs://{name}"))
    }

    async fn job(&self, id: &ExecutionId) -> Result<Option<RayJob>, BackendError> {
        get_job(&self.inner, id).await
    }

    fn follow(&self, job: JobRef, id: ExecutionId) -> Execution {
        let (logs_tx, logs_rx) = mpsc::unbounded_channel();
        let (status_tx, status_rx) = watch::channel(ExecutionStatus::Starting);
        let run = Arc::new(RayRun {
            job,
            id: id.clone(),
            status: status_rx,
            cancel_requested: AtomicBool::new(false),
            unreachable: Mutex::new(None),
            inner: self.inner.clone(),
        });
        self.inner.followed.fetch_add(1, Ordering::SeqCst);
        let follower = Follower {
            inner: self.inner.clone(),
            run: Arc::downgrade(&run),
            id: id.clone(),
            sink: LogSink::new(logs_tx),
            status: status_tx,
            consumed: 0,
            end: None,
        };
        tokio::spawn(follower.follow());
        Execution::new(id, Some(logs_rx), Box::new(RayHandle(run)))
    }
}

fn ray_error(action: &str, source: RayError) -> BackendError {
    BackendError::Ray { action: action.to_owned(), source }
}

async fn checked(response: reqwest::Response, action: &str) -> Result<reqwest::Response, BackendError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let mut body = response.text().await.unwrap_or_default();
    body.truncate(2000);
    Err(ray_error(action, RayError::Status { status: status.as_u16(), body }))
}

async fn get_job(inner: &Inner, id: &ExecutionId) -> Result<Option<RayJob>, BackendError> {
    let url = format!("{}/api/jobs/{id}", inner.config.dashboard_url);
    let response = inner.http.get(url).send().await.map_err(|e| ray_error("report a job", RayError::Http(e)))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = checked(response, "report a job").await?;
    let job = response.json().await.map_err(|e| ray_error("report a job", RayError::Http(e)))?;
    Ok(Some(job))
}

/// The zip Ray unpacks as the job's working directory.
fn package(placement: &Placement, job_json: &[u8]) -> Result<Vec<u8>, RayError> {
    use zip::write::SimpleFileOptions;
    let options =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for dir in [INPUTS, SCRIPTS] {
        writer.add_directory(format!("{dir}/"), options).map_err(RayError::Zip)?;
        add_tree(&mut writer, &placement.workspace.join(dir), dir, options)?;
    }
    writer.add_directory(format!("{ARTIFACTS}/"), options.unix_permissions(0o755)).map_err(RayError::Zip)?;
    writer.add_directory("_canopy/", options.unix_permissions(0o755)).map_err(RayError::Zip)?;
    writer.start_file("_canopy/entry.py", options).map_err(RayError::Zip)?;
    writer.write_all(ENTRY_SCRIPT.as_bytes()).map_err(RayError::Package)?;
    writer.start_file("_canopy/job.json", options.unix_permissions(0o600)).map_err(RayError::Zip)?;
    writer.write_all(job_json).map_err(RayError::Package)?;
    Ok(writer.finish().map_err(RayError::Zip)?.into_inner())
}

/// Regular files under `dir` (links are not followed), as `prefix/...`.
fn add_tree(
    writer: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
    dir: &Path,
    prefix: &str,
    options: zip::write::SimpleFileOptions,
) -> Result<(), RayError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RayError::Package(e)),
    };
    let mut entries: Vec<_> = entries.collect::<Result<_, _>>().map_err(RayError::Package)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type().map_err(RayError::Package)?;
        if kind.is_dir() {
            writer.add_directory(format!("{name}/"), options.unix_permissions(0o755)).map_err(RayError::Zip)?;
            add_tree(writer, &entry.path(), &name, options)?;
        } else if kind.is_file() {
            writer.start_file(name, options).map_err(RayError::Zip)?;
            let mut file = std::fs::File::open(entry.path()).map_err(RayError::Package)?;
            std::io::copy(&mut file, writer).map_err(RayError::Package)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Backend for RayBackend {
    fn name(&self) -> &'static str {
        "ray"
    }

    fn outlives_runner(&self) -> bool {
        true
    }

    async fn capacity(&self) -> Capacity {
        let total = self.inner.config.slots;
        let used = self.inner.followed.load(Ordering::SeqCst);
        Capacity {
            free_slots: total.saturating_sub(used),
            total_slots: total,
            source: format!("ray cluster at {}", self.inner.config.dashboard_url),
        }
    }

    fn pricing(&self) -> Pricing {
        self.inner.config.pricing
    }

    fn check_image(&self, image: &str) -> Result<(), ImageError> {
        self.inner.config.images.resolve(image).map(|_| ())
    }

    async fn start(&self, placement: Placement) -> Result<Execution, BackendError> {
        let config = &self.inner.config;
        let runtime = config.images.resolve(&placement.image)?.clone();
        if placement.command.is_empty() {
            return Err(BackendError::InvalidPlacement("the job has no command to run".into()));
        }
        let id = ExecutionId::for_attempt(&placement.job);
        if self.job(&id).await?.is_some() {
            // Started before (a retried start, or a poller that died before recording it).
            return Ok(self.follow(placement.job.clone(), id));
        }
        let ttl = placement.limits.wall + config.max_pending;
        let target = self
            .inner
            .drop
            .upload_target(&placement.job, &id, ttl, config.artifacts_max_bytes)
            .await
            .map_err(BackendError::Artifacts)?;
        let job_json = json!({
            "argv": placement.command,
            "env": placement.env,
            "runtime_env": runtime.env,
            "wall_seconds": placement.limits.wall.as_secs_f64(),
            "output_bytes": placement.limits.output_bytes,
            "memory_bytes": placement.limits.memory_bytes,
            "line_max_bytes": config.line_max_bytes,
            "kill_grace_seconds": config.kill_grace.as_secs_f64(),
            "artifacts_target": target,
            "artifacts_max_bytes": config.artifacts_max_bytes,
        });
        let job_json = serde_json::to_vec(&job_json).map_err(|e| BackendError::io("write job.json", e.into()))?;
        let for_zip = placement.clone();
        let zip = tokio::task::spawn_blocking(move || package(&for_zip, &job_json))
            .await
            .map_err(|e| BackendError::io("package the workspace", std::io::Error::other(e)))?
            .map_err(|e| ray_error("take the workspace (packaging it failed)", e))?;
        let working_dir = self.upload_package(zip).await?;
        let body = json!({
            "entrypoint": format!("{} _canopy/entry.py", config.entrypoint_python),
            "submission_id": id.as_str(),
            "runtime_env": { "working_dir": working_dir },
            "metadata": {
                "canopy_tenant": placement.job.tenant.as_str(),
                "canopy_job_id": placement.job.job_id.as_str(),
                "canopy_attempt": placement.job.attempt.to_string(),
            },
        });
        // A head that has just started (or whose job agent restarts) answers "No available agent
        // to submit job" for a while: that is Ray not ready yet, not a refusal of the job.
        let give_up = tokio::time::Instant::now() + AGENT_WAIT;
        let submitted = loop {
            let response = self
                .inner
                .http
                .post(self.url("/api/jobs/"))
                .json(&body)
                .send()
                .await
                .map_err(|e| ray_error("take the job", RayError::Http(e)))?;
            match checked(response, "take the job").await {
                Err(BackendError::Ray { source: RayError::Status { status: 500, body }, .. })
                    if body.contains("No available agent") && tokio::time::Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => break other,
            }
        };
        if let Err(error) = submitted {
            // Two starts raced: the other one's submission is this attempt's execution.
            if self.job(&id).await.ok().flatten().is_none() {
                return Err(error);
            }
        }
        Ok(self.follow(placement.job, id))
    }

    async fn attach(&self, job: &JobRef, id: &ExecutionId) -> Result<Execution, BackendError> {
        match self.job(id).await? {
            Some(_) => Ok(self.follow(job.clone(), id.clone())),
            None => Err(BackendError::UnknownExecution(id.clone())),
        }
    }
}

/// What the wrapper's end record says.
#[derive(Clone, Debug, Default, Deserialize)]
struct EndRecord {
    reason: String,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    artifacts: Option<ArtifactsDelivery>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ArtifactsDelivery {
    delivered: bool,
    #[serde(default)]
    error: Option<String>,
}

/// What callers share about a followed Ray job.
struct RayRun {
    job: JobRef,
    id: ExecutionId,
    status: watch::Receiver<ExecutionStatus>,
    cancel_requested: AtomicBool,
    /// Since when, and why, the cluster has not answered the follower.
    unreachable: Mutex<Option<(Instant, String)>>,
    inner: Arc<Inner>,
}

/// Polls a Ray job's status and logs until it ends, or until nobody holds its execution.
struct Follower {
    inner: Arc<Inner>,
    run: std::sync::Weak<RayRun>,
    id: ExecutionId,
    sink: LogSink,
    status: watch::Sender<ExecutionStatus>,
    /// Bytes of Ray's log already turned into lines.
    consumed: usize,
    end: Option<EndRecord>,
}

impl Follower {
    async fn follow(mut self) {
        let mut tick = tokio::time::interval(self.inner.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(run) = self.run.upgrade() else { break };
            match self.poll_once().await {
                Ok(Some(status)) => {
                    set_unreachable(&run, None);
                    let terminal = status.is_terminal();
                    if terminal {
                        let text = describe_end(&status, self.end.as_ref());
                        self.sink.platform(text);
                    }
                    self.status.send_if_modified(|current| {
                        let changed = *current != status;
                        *current = status;
                        changed
                    });
                    if terminal {
                        break;
                    }
                }
                Ok(None) => {
                    let lost = ExecutionStatus::failed(
                        FailureReason::RunnerLost,
                        None,
                        format!("the Ray cluster no longer knows job {}", self.id),
                    );
                    self.sink.platform(format!("the Ray cluster no longer knows job {}", self.id));
                    let _ = self.status.send(lost);
                    break;
                }
                Err(e) => {
                    tracing::warn!(execution = %self.id, error = %error_chain(&e), "cannot follow a Ray job");
                    set_unreachable(&run, Some(error_chain(&e)));
                }
            }
        }
        self.inner.followed.fetch_sub(1, Ordering::SeqCst);
    }

    /// Reads the status, then the logs (so a terminal status comes with every line), and
    /// returns the status in Canopy's terms.
    async fn poll_once(&mut self) -> Result<Option<ExecutionStatus>, BackendError> {
        let Some(job) = get_job(&self.inner, &self.id).await? else { return Ok(None) };
        let url = format!("{}/api/jobs/{}/logs", self.inner.config.dashboard_url, self.id);
        let response =
            self.inner.http.get(url).send().await.map_err(|e| ray_error("give a job's logs", RayError::Http(e)))?;
        let logs: RayLogs = checked(response, "give a job's logs")
            .await?
            .json()
            .await
            .map_err(|e| ray_error("give a job's logs", RayError::Http(e)))?;
        let terminal = matches!(job.status.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED");
        self.consume(&logs.logs, terminal);
        Ok(Some(self.map_status(&job)))
    }

    /// Turns the log's new complete lines into [`LogLine`](super::LogLine)s; at the end,
    /// the last partial one too.
    fn consume(&mut self, logs: &str, ended: bool) {
        let Some(new) = logs.get(self.consumed..) else {
            // The log shrank or was cut mid-character: Ray rotated it; start over at its end.
            self.consumed = logs.len();
            return;
        };
        let complete = match new.rfind('\n') {
            Some(i) => i + 1,
            None if ended => new.len(),
            None => 0,
        };
        let complete_part = if ended { new } else { &new[..complete] };
        for line in complete_part.split_terminator('\n') {
            self.line(line);
        }
        self.consumed += complete_part.len();
    }

    fn line(&mut self, line: &str) {
        let max = self.inner.config.line_max_bytes;
        let Some(record) = line.strip_prefix(RECORD_TAG) else {
            // Ray's own words (runtime environment set-up, a crash of the wrapper).
            let (text, cut) = bounded(line, max);
            self.sink.send(LogStream::Platform, Utc::now(), text, cut);
            return;
        };
        let mut parts = record.splitn(3, ' ');
        let (kind, millis, text) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let at =
            millis.parse::<i64>().ok().and_then(|ms| Utc.timestamp_millis_opt(ms).single()).unwrap_or_else(Utc::now);
        let (stream, cut_by_wrapper) = match kind {
            "o" => (LogStream::Stdout, false),
            "O" => (LogStream::Stdout, true),
            "e" => (LogStream::Stderr, false),
            "E" => (LogStream::Stderr, true),
            "x" => {
                self.end = serde_json::from_str(text).ok();
                return;
            }
            _ => (LogStream::Platform, false),
        };
        let (text, cut) = bounded(text, max);
        self.sink.send(stream, at, text, cut || cut_by_wrapper);
    }

    fn map_status(&self, job: &RayJob) -> ExecutionStatus {
        let message = job.message.clone().unwrap_or_default();
        match job.status.as_str() {
            "PENDING" => ExecutionStatus::Starting,
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Completed { exit_code: 0 },
            "STOPPED" => ExecutionStatus::Cancelled,
            "FAILED" => match &self.end {
                Some(end) => match end.reason.as_str() {
                    "timeout" => ExecutionStatus::failed(
                        FailureReason::Timeout,
                        None,
                        "the job ran past its wall-time bound and was stopped",
                    ),
                    "output_limit" => ExecutionStatus::failed(
                        FailureReason::OutputLimit,
                        None,
                        "the job printed more than its output bound and was stopped",
                    ),
                    _ => {
                        let code = end.exit_code.or(job.driver_exit_code);
                        let text = code.map_or_else(|| "no code".to_owned(), |c| c.to_string());
                        ExecutionStatus::failed(
                            FailureReason::ExitCode,
                            code,
                            format!("the command exited with code {text}"),
                        )
                    }
                },
                None => ExecutionStatus::failed(
                    FailureReason::BackendError,
                    job.driver_exit_code,
                    format!("Ray failed the job before Canopy's entrypoint finished: {message}"),
                ),
            },
            other => ExecutionStatus::failed(
                FailureReason::BackendError,
                None,
                format!("Ray reports status {other}: {message}"),
            ),
        }
    }
}

fn bounded(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    (text[..cut].to_owned(), true)
}

fn set_unreachable(run: &RayRun, why: Option<String>) {
    if let Ok(mut slot) = run.unreachable.lock() {
        match why {
            None => *slot = None,
            Some(why) => {
                let since = slot.as_ref().map_or_else(Instant::now, |(since, _)| *since);
                *slot = Some((since, why));
            }
        }
    }
}

fn describe_end(status: &ExecutionStatus, end: Option<&EndRecord>) -> String {
    let how = match status {
        ExecutionStatus::Completed { .. } => "completed (exit code 0)".to_owned(),
        ExecutionStatus::Failed(f) => format!("failed ({}): {}", f.reason.as_str(), f.message),
        ExecutionStatus::Cancelled => "stopped on the Ray cluster".to_owned(),
        _ => "ended".to_owned(),
    };
    match end.and_then(|e| e.artifacts.as_ref()) {
        Some(a) if a.delivered => format!("{how}; artifacts delivered"),
        Some(a) => format!("{how}; artifacts not delivered: {}", a.error.as_deref().unwrap_or("unknown")),
        None => how,
    }
}

/// After this long without an answer from the cluster, `status` reports the error.
const UNREACHABLE_REPORTED_AFTER: Duration = Duration::from_secs(10);

struct RayHandle(Arc<RayRun>);

#[async_trait]
impl ExecutionControl for RayHandle {
    async fn status(&self) -> Result<ExecutionStatus, BackendError> {
        let status = self.0.status.borrow().clone();
        if !status.is_terminal() {
            let unreachable = self.0.unreachable.lock().ok().and_then(|u| u.clone());
            if let Some((since, why)) = unreachable.filter(|(since, _)| since.elapsed() > UNREACHABLE_REPORTED_AFTER) {
                let source =
                    RayError::Status { status: 0, body: format!("unreachable for {:?}: {why}", since.elapsed()) };
                return Err(ray_error("answer", source));
            }
        }
        Ok(status)
    }

    async fn wait(&self) -> Result<ExecutionStatus, BackendError> {
        let mut status = self.0.status.clone();
        let ended = status.wait_for(ExecutionStatus::is_terminal).await.map(|s| s.clone());
        Ok(ended.unwrap_or_else(|_| self.0.status.borrow().clone()))
    }

    async fn cancel(&self) -> Result<(), BackendError> {
        self.0.cancel_requested.store(true, Ordering::SeqCst);
        let url = format!("{}/api/jobs/{}/stop", self.0.inner.config.dashboard_url, self.0.id);
        let response =
            self.0.inner.http.post(url).send().await.map_err(|e| ray_error("stop the job", RayError::Http(e)))?;
        checked(response, "stop the job").await?;
        Ok(())
    }

    async fn collect_artifacts(&self, into: &Path) -> Result<CollectedArtifacts, BackendError> {
        let status = self.0.status.borrow().clone();
        if !status.is_terminal() {
            return Err(BackendError::NotEnded(self.0.id.clone()));
        }
        if status == ExecutionStatus::Cancelled {
            return Ok(CollectedArtifacts::default());
        }
        let zip_path = scratch_path(&self.0.id);
        let found =
            self.0.inner.drop.fetch(&self.0.job, &self.0.id, &zip_path).await.map_err(BackendError::Artifacts)?;
        if !found {
            let why = "the job's entrypoint delivered no artifacts (see its last platform line)".to_owned();
            return Err(BackendError::Artifacts(ArtifactError::NotDelivered { why }));
        }
        let into = into.to_path_buf();
        let unpacked = tokio::task::spawn_blocking({
            let zip_path = zip_path.clone();
            move || extract_zip(&zip_path, &into)
        })
        .await;
        let _ = std::fs::remove_file(&zip_path);
        unpacked
            .map_err(|e| BackendError::io("unpack the artifacts", std::io::Error::other(e)))?
            .map_err(BackendError::Artifacts)
    }
}

/// A private temporary path for one download.
fn scratch_path(id: &ExecutionId) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("canopy-artifacts-{}-{}-{n}.zip", id, std::process::id()))
}
