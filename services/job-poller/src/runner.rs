//! The job-poller's loop: claims jobs, runs each on its backend, and records what happens.
//!
//! # The loop ([`Poller::run`])
//!
//! Woken by `PREFIX.jobs.queued` (a submit, a requeue; wake-ups that came together count
//! once), by one of its jobs ending (a slot freed) and by its own tick (a wake-up lost on the
//! way, a lease that lapsed), it:
//!
//! 1. on the tick (and at start) only, takes over held jobs whose lease lapsed, on the backends
//!    it runs ([`Jobs::take_over`]: one poller wins each): leases lapse in seconds, so a
//!    wake-up does not pay for that look;
//! 2. claims as many queued jobs as its backends have room for, at once ([`Jobs::claim_on`]:
//!    one transaction, fair across tenants, only jobs routed to a backend it runs);
//! 3. on the tick, reports each backend's room for the router ([`Jobs::report_capacity`]), and
//!    now and then settles ended jobs left unsettled ([`Jobs::settle_ended_jobs`]).
//!
//! Claiming from the table (`FOR UPDATE SKIP LOCKED` plus a lease row) rather than from a work
//! queue on NATS is deliberate: the table already says which tenant waited longest (fairness),
//! which jobs are held and until when (takeover), and what a quota allows; a message can be
//! lost or redelivered, a row is the truth. NATS only wakes pollers sooner.
//!
//! # One job ([`Poller::drive`])
//!
//! - Fresh claim: `provisioning` (placed on the backend by this runner), `preparing` (the
//!   inputs and scripts copied from the blob store into a host workspace, `inputs/` and
//!   `scripts/`), then [`Backend::start`] and `running` with the execution's id, decided on the
//!   job as the claim left it ([`Jobs::mark_running_from`]: no read of its stream first).
//! - Takeover of a job whose execution is recorded: [`Backend::attach`]. Ray's jobs outlive
//!   their poller, so the successor follows the same execution (its log replays from the
//!   start: the lines already kept are skipped). A local sandbox died with its poller: the
//!   backend says so, and the job ends `failed`, reason `runner_lost`. A takeover before any
//!   execution was recorded looks for the previous attempt's execution where executions
//!   outlive runners, and starts the job otherwise (nothing of it can be running).
//! - While it runs: its lines go to [`Jobs::append_logs`] as they come (a batch is what waited
//!   during the previous insert; followers hear them at once); the lease is renewed every third of `jobs.lease_secs`; a cancel (the
//!   `PREFIX.jobs.cancel.T.J` notice, or `cancel_requested` read with each renewal) stops the
//!   execution. Should the lease be lost (another poller took the job over: this one was cut
//!   off for longer than a lease), the poller stops working on the job at once, and stops the
//!   execution too where it cannot outlive the poller, so it never runs twice.
//! - At the end: the files of `/workspace/artifacts/` go to the blob store under
//!   [`canopy_jobs::artifact_key`] (size, content type, SHA-256), and [`Jobs::finish_from`]
//!   records the outcome, the artifacts and the cost of the running time with the lease's
//!   removal (decided on the job as read for its `cancel_requested`), settles the hold and
//!   wakes log followers. A failure to place the job (an input gone, an image the backend does not
//!   run) ends it `failed`, reason `backend_error`, with the reason in its message.
//!
//! A job's host workspace (`<state_dir>/jobs/<tenant>/<job>/a<attempt>`) is removed when the
//! attempt ends.

use crate::backends::{
    Backend, BackendError, CollectedArtifacts, Execution, ExecutionId, ExecutionStatus, JobLimits, JobRef, LogLines,
    LogStream as BackendStream, Placement, INPUTS, SCRIPTS,
};
use crate::error_chain;
use canopy_bus::Bus;
use canopy_domain::job::{Artifact, Execution as RecordedExecution, Failure, FailureReason, Outcome, StartingPhase};
use canopy_domain::job_spec::ARTIFACTS_DIR;
use canopy_domain::{ArtifactId, RunnerId};
use canopy_jobs::{ClaimedJob, HeldLease, Jobs, JobsError, KnownJob, LogLine, LogStream, Room};
use futures::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Lines sent to the log table at once, at most.
const LOG_BATCH_LINES: usize = 200;
/// Expired leases looked at per pass.
const TAKEOVERS_PER_PASS: u32 = 16;
/// Reports retried before a job's end is left to the lease (and the next poller).
const REPORT_TRIES: u32 = 5;

/// How one job-poller runs.
#[derive(Clone, Debug)]
pub struct PollerConfig {
    /// This poller in the jobs' events (`hostname:pid`, by default).
    pub runner: RunnerId,
    /// Where jobs' host workspaces are made.
    pub work_dir: PathBuf,
    /// The loop's own wake-up, besides `PREFIX.jobs.queued`.
    pub tick: Duration,
    /// Ended jobs left unsettled are looked for every this many ticks.
    pub settle_every: u32,
    /// How long a shutdown waits for running jobs to end before leaving them to their leases.
    pub drain: Duration,
}

impl PollerConfig {
    pub fn new(runner: RunnerId, work_dir: impl Into<PathBuf>) -> Self {
        PollerConfig {
            runner,
            work_dir: work_dir.into(),
            tick: Duration::from_secs(1),
            settle_every: 30,
            drain: Duration::from_secs(10),
        }
    }

    /// `hostname:pid`: unique among live pollers, and says where a job ran.
    pub fn default_runner() -> RunnerId {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(100)
            .collect();
        let host = if host.is_empty() { "poller".to_string() } else { host };
        RunnerId::parse(format!("{host}:{}", std::process::id())).unwrap_or_else(|_| {
            RunnerId::parse(format!("poller:{}", std::process::id())).expect("a plain runner id parses")
        })
    }
}

/// One job-poller: the jobs service, the backends it runs by name, and what it holds.
pub struct Poller {
    jobs: Jobs,
    bus: Bus,
    backends: BTreeMap<String, Arc<dyn Backend>>,
    config: PollerConfig,
    /// Jobs this poller drives, per backend (claimed, not yet ended).
    held: Mutex<BTreeMap<String, u32>>,
}

/// How an attempt ended for this poller.
enum Ended {
    /// Recorded with [`Jobs::finish`].
    Finished,
    /// Given back before it started anywhere.
    Requeued,
    /// The lease was lost (another poller holds the job) or the poller is stopping: nothing
    /// more is reported.
    Abandoned,
}

impl Poller {
    pub fn new(jobs: Jobs, bus: Bus, backends: Vec<Arc<dyn Backend>>, config: PollerConfig) -> Arc<Self> {
        let backends = backends.into_iter().map(|b| (b.name().to_string(), b)).collect();
        Arc::new(Poller { jobs, bus, backends, config, held: Mutex::new(BTreeMap::new()) })
    }

    pub fn runner(&self) -> &RunnerId {
        &self.config.runner
    }

    /// Runs until `shutdown`; then waits up to `drain` for the jobs it drives, and leaves the
    /// rest to their leases (a successor takes them over).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let names: Vec<&String> = self.backends.keys().collect();
        tracing::info!(runner = %self.config.runner, backends = ?names, "job-poller running");
        let mut wakeups = match self.bus.client.subscribe(self.bus.subjects.jobs_queued()).await {
            Ok(sub) => Some(sub),
            Err(e) => {
                tracing::warn!(error = %e, "job-poller: no wake-ups from the bus; looking on its timer only");
                None
            }
        };
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut running = JoinSet::new();
        let abandon = CancellationToken::new();
        let mut ticks: u32 = 0;
        // Lapsed leases are looked for at start and on the tick: a lease lapses in seconds, so a
        // wake-up (a submit, a freed slot) need not pay for that look.
        let mut take_over = true;
        loop {
            self.fill(&mut running, &abandon, take_over).await;
            take_over = false;
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = async { match wakeups.as_mut() { Some(s) => s.next().await, None => None } } => {
                    // Submits that came together wake once: one fill claims for all of them.
                    if let Some(s) = wakeups.as_mut() {
                        while let Some(Some(_)) = s.next().now_or_never() {}
                    }
                }
                _ = tick.tick() => {
                    take_over = true;
                    ticks = ticks.wrapping_add(1);
                    self.report_capacity().await;
                    if ticks.is_multiple_of(self.config.settle_every.max(1)) {
                        if let Err(e) = self.jobs.settle_ended_jobs(&self.config.runner, 100).await {
                            tracing::warn!(error = %e, "settling ended jobs failed; next time");
                        }
                    }
                }
                Some(done) = running.join_next() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!(error = %e, "a job's driver panicked; its lease lapses and another poller takes it over");
                        }
                    }
                    while let Some(done) = running.try_join_next() {
                        if let Err(e) = done {
                            if e.is_panic() {
                                tracing::error!(error = %e, "a job's driver panicked; its lease lapses and another poller takes it over");
                            }
                        }
                    }
                }
            }
        }
        let drain = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.drain, drain).await.is_err() {
            tracing::warn!(
                jobs = running.len(),
                "job-poller stopping with jobs still running; their leases lapse and another poller takes them over"
            );
            abandon.cancel();
            running.abort_all();
        }
        tracing::info!("job-poller stopped");
    }

    /// How many more jobs of this poller's each backend has room for (backends without room
    /// left out).
    async fn room(&self) -> Room {
        let held = self.held.lock().map(|h| h.clone()).unwrap_or_default();
        let mut room = Room::new();
        for (name, backend) in &self.backends {
            let total = backend.capacity().await.total_slots;
            let free = total.saturating_sub(held.get(name).copied().unwrap_or(0));
            if free > 0 {
                room.insert(name.clone(), free as usize);
            }
        }
        room
    }

    fn hold(&self, backend: &str, delta: i32) {
        if let Ok(mut held) = self.held.lock() {
            let n = held.entry(backend.to_string()).or_insert(0);
            *n = n.saturating_add_signed(delta);
        }
    }

    /// Takes over lapsed jobs (when `take_over`), then claims queued ones while there is room:
    /// as many at once as there is room for ([`Jobs::claim_on`]: one transaction, in the fair
    /// order of claims one at a time).
    async fn fill(self: &Arc<Self>, running: &mut JoinSet<()>, abandon: &CancellationToken, take_over: bool) {
        if take_over {
            self.take_over_lapsed(running, abandon).await;
        }
        let room = self.room().await;
        if room.is_empty() {
            return;
        }
        match self.jobs.claim_on(&self.config.runner, &room).await {
            Ok(claimed) => {
                for job in claimed {
                    self.spawn(running, job, abandon);
                }
            }
            Err(e) => tracing::warn!(error = %e, "claiming jobs failed; trying again on the next tick"),
        }
    }

    async fn take_over_lapsed(self: &Arc<Self>, running: &mut JoinSet<()>, abandon: &CancellationToken) {
        let all: Vec<String> = self.backends.keys().cloned().collect();
        let expired = match self.jobs.expired_leases_on(TAKEOVERS_PER_PASS, &all).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::warn!(error = %e, "listing lapsed leases failed");
                return;
            }
        };
        for lapsed in expired {
            if self.room().await.is_empty() {
                break;
            }
            match self.jobs.take_over(&self.config.runner, &lapsed).await {
                Ok(Some(claimed)) => {
                    tracing::info!(job = %lapsed.job, tenant = %lapsed.tenant, previous = ?lapsed.runner,
                        "took over a job whose runner stopped renewing its lease");
                    self.spawn(running, claimed, abandon);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(job = %lapsed.job, error = %e, "taking a job over failed"),
            }
        }
    }

    fn spawn(self: &Arc<Self>, running: &mut JoinSet<()>, claimed: ClaimedJob, abandon: &CancellationToken) {
        self.hold(&claimed.backend, 1);
        let poller = self.clone();
        let abandon = abandon.clone();
        running.spawn(async move {
            let backend = claimed.backend.clone();
            let job = claimed.lease.job.clone();
            match poller.drive(claimed, abandon).await {
                Ok(Ended::Finished) => tracing::debug!(job = %job, "job ended and recorded"),
                Ok(Ended::Requeued) => tracing::info!(job = %job, "job given back to the queue"),
                Ok(Ended::Abandoned) => tracing::info!(job = %job, "stopped working on a job this poller no longer holds"),
                Err(e) => tracing::warn!(job = %job, error = %e, "recording a job's progress failed; its lease lapses and it is taken over"),
            }
            poller.hold(&backend, -1);
        });
    }

    async fn report_capacity(&self) {
        let held = self.held.lock().map(|h| h.clone()).unwrap_or_default();
        for (name, backend) in &self.backends {
            let capacity = backend.capacity().await;
            let used = held.get(name).copied().unwrap_or(0);
            let free = capacity.total_slots.saturating_sub(used).min(capacity.free_slots);
            if let Err(e) = self.jobs.report_capacity(name, &self.config.runner, free, capacity.total_slots).await {
                tracing::debug!(backend = %name, error = %e, "reporting capacity failed");
            }
        }
    }

    /// One attempt of one job, from the claim to its end (see the module doc).
    async fn drive(self: &Arc<Self>, claimed: ClaimedJob, abandon: CancellationToken) -> Result<Ended, JobsError> {
        let lease = claimed.lease.clone();
        let Some(backend) = self.backends.get(&claimed.backend).cloned() else {
            // claim_next_on only hands out jobs of these backends; a takeover of another's is
            // refused by expired_leases_on. Given back, should it happen anyway.
            let message = format!("runner {} does not run backend '{}'", lease.runner, claimed.backend);
            self.jobs.requeue(&lease, &message).await?;
            return Ok(Ended::Requeued);
        };
        let job_ref = JobRef { tenant: lease.tenant.clone(), job_id: lease.job.clone(), attempt: lease.attempt };
        let workspace = self
            .config
            .work_dir
            .join(lease.tenant.as_str())
            .join(lease.job.as_str())
            .join(format!("a{}", lease.attempt));

        // The lease is renewed from here on, whatever happens below.
        let lost = CancellationToken::new();
        let cancel_seen = Arc::new(AtomicBool::new(claimed.state.cancel_requested));
        let keeper = tokio::spawn(keep_lease(self.jobs.clone(), lease.clone(), lost.clone(), cancel_seen.clone()));
        let _keeper = AbortOnDrop(keeper);

        let placed = self.place(&claimed, backend.as_ref(), &job_ref, &workspace).await;
        let (execution, skip) = match placed {
            Ok(Placed::Running(execution, skip)) => (execution, skip),
            Err(PlaceError::Jobs(e)) => {
                remove_workspace(&workspace).await;
                return Err(e);
            }
            Err(PlaceError::Failed(failure)) => {
                remove_workspace(&workspace).await;
                let line = LogLine::new(LogStream::Platform, format!("the job could not start: {}", failure.message));
                let _ = self.jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, &[line]).await;
                let outcome = Outcome::Failed(failure);
                self.finish(&claimed, None, outcome, vec![], Duration::ZERO).await?;
                return Ok(Ended::Finished);
            }
        };
        let ended =
            self.follow(&claimed, backend.as_ref(), execution, skip, &workspace, &lost, &cancel_seen, &abandon).await;
        remove_workspace(&workspace).await;
        ended
    }

    /// Gets the attempt's execution: attached (takeover) or started (fresh), reported running.
    async fn place(
        &self,
        claimed: &ClaimedJob,
        backend: &dyn Backend,
        job_ref: &JobRef,
        workspace: &Path,
    ) -> Result<Placed, PlaceError> {
        let lease = &claimed.lease;
        let name = backend.name();
        // A takeover: follow the execution where there is one.
        let recorded = claimed.execution.as_ref().map(|e| ExecutionId::new(e.execution_id.clone()));
        let earlier = match (&claimed.previous, &recorded) {
            (_, Some(id)) => Some(id.clone()),
            (Some(previous), None) if backend.outlives_runner() => {
                let previous = JobRef { attempt: previous.attempt, ..job_ref.clone() };
                Some(ExecutionId::for_attempt(&previous))
            }
            _ => None,
        };
        if let Some(id) = earlier {
            match backend.attach(job_ref, &id).await {
                Ok(execution) => {
                    let skip = self.jobs.workload_lines_kept(&lease.tenant, &lease.job).await?;
                    let recorded = RecordedExecution { backend: name.to_string(), execution_id: id.to_string() };
                    self.jobs.mark_running_from(lease, Some(claimed.known.clone()), recorded, vec![]).await?;
                    return Ok(Placed::Running(execution, skip));
                }
                // Never started: start it now.
                Err(BackendError::UnknownExecution(_)) if claimed.execution.is_none() => {}
                Err(e) => return Err(PlaceError::Failed(backend_failure("re-attaching to its execution", &e))),
            }
        }

        // A fresh start's phases are recorded with the start itself (one transaction instead of
        // three: most of what a trivial job's start cost), except that provisioning is reported
        // at once when there are inputs to fetch, which may take a while to watch.
        let fresh = claimed.previous.is_none();
        let mut phases = Vec::new();
        // The start is decided on the job as the claim left it (no read of its stream first).
        let mut known = Some(claimed.known.clone());
        if fresh {
            let message = format!("placed on {name} by job-poller {}", lease.runner);
            if claimed.state.inputs.is_empty() {
                phases.push((StartingPhase::Provisioning, message));
            } else {
                self.jobs.report_phase(lease, StartingPhase::Provisioning, &message).await?;
                known = None;
            }
        }
        let files = self.materialize(claimed, workspace).await?;
        if fresh {
            phases.push((StartingPhase::Preparing, format!("workspace prepared: {files} input and script file(s)")));
        }
        let spec = &claimed.state.spec;
        let placement = Placement {
            job: job_ref.clone(),
            command: Placement::argv(&spec.command, &spec.args),
            env: spec.env.clone(),
            workspace: workspace.to_path_buf(),
            limits: JobLimits { wall: claimed.max_duration, ..JobLimits::default() },
            image: spec.image.clone(),
        };
        let execution = start_with_room(backend, placement).await.map_err(|e| match e.error_code() {
            Some(_) => PlaceError::Failed(Failure {
                reason: FailureReason::BackendError,
                exit_code: None,
                message: error_chain(&e),
            }),
            None => PlaceError::Failed(backend_failure("starting it", &e)),
        })?;
        let recorded = RecordedExecution { backend: name.to_string(), execution_id: execution.id().to_string() };
        match self.jobs.mark_running_from(lease, known, recorded, phases).await {
            Ok(_) => Ok(Placed::Running(execution, 0)),
            Err(e) => {
                // Not ours any more (cancelled and ended, or taken over): stop what was started.
                let _ = execution.cancel().await;
                Err(PlaceError::Jobs(e))
            }
        }
    }

    /// Copies the job's inputs and scripts from the blob store into `inputs/` and `scripts/`.
    async fn materialize(&self, claimed: &ClaimedJob, workspace: &Path) -> Result<usize, PlaceError> {
        let _ = tokio::fs::remove_dir_all(workspace).await;
        crate::backends::prepare_layout(workspace)
            .map_err(|e| PlaceError::Failed(io_failure(format!("cannot prepare the workspace: {e}"))))?;
        let store = self.jobs.urls().store();
        for input in &claimed.state.inputs {
            let relative = input.mount_path.strip_prefix("/workspace/").unwrap_or(&input.mount_path);
            let (dir, name) = match relative.split_once('/') {
                Some((dir, name)) if (dir == INPUTS || dir == SCRIPTS) && !name.is_empty() => (dir, name),
                _ => {
                    return Err(PlaceError::Failed(io_failure(format!(
                        "input {} mounts at {}, outside inputs/ and scripts/",
                        input.input_id, input.mount_path
                    ))))
                }
            };
            if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
                return Err(PlaceError::Failed(io_failure(format!(
                    "input {} has an unusable filename",
                    input.input_id
                ))));
            }
            let target = workspace.join(dir).join(name);
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| PlaceError::Failed(io_failure(format!("cannot make {}: {e}", parent.display()))))?;
            }
            let key = canopy_jobs::input_key(&claimed.lease.tenant, &input.input_id).map_err(PlaceError::Jobs)?;
            let unavailable = |why: String| {
                PlaceError::Failed(io_failure(format!(
                    "input {} ({}) could not be read: {why}",
                    input.input_id, input.filename
                )))
            };
            let read = store.get_stream(&key).await.map_err(|e| unavailable(error_chain(&e)))?;
            let mut file = tokio::fs::File::create(&target).await.map_err(|e| unavailable(e.to_string()))?;
            let mut body = read.body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| unavailable(error_chain(&e)))?;
                file.write_all(&chunk).await.map_err(|e| unavailable(e.to_string()))?;
            }
            file.flush().await.map_err(|e| unavailable(e.to_string()))?;
        }
        Ok(claimed.state.inputs.len())
    }

    /// Follows a running execution to its end and records the end.
    #[allow(clippy::too_many_arguments)]
    async fn follow(
        &self,
        claimed: &ClaimedJob,
        backend: &dyn Backend,
        mut execution: Execution,
        skip: u64,
        workspace: &Path,
        lost: &CancellationToken,
        cancel_seen: &Arc<AtomicBool>,
        abandon: &CancellationToken,
    ) -> Result<Ended, JobsError> {
        let lease = &claimed.lease;
        let started = Instant::now();
        let pump =
            execution.take_logs().map(|lines| tokio::spawn(pump_logs(self.jobs.clone(), lease.clone(), lines, skip)));
        let mut notices = match self
            .bus
            .client
            .subscribe(self.bus.subjects.job_cancel(lease.tenant.as_str(), lease.job.as_str()))
            .await
        {
            Ok(sub) => Some(sub),
            Err(e) => {
                tracing::debug!(job = %lease.job, error = %e, "no cancel notices; the lease renewal reads cancel requests");
                None
            }
        };
        let mut cancel_check = tokio::time::interval(Duration::from_millis(500));
        let mut cancelling = false;
        let status = loop {
            if !cancelling && cancel_seen.load(Ordering::SeqCst) {
                cancelling = true;
                if let Err(e) = execution.cancel().await {
                    tracing::warn!(job = %lease.job, error = %e, "stopping a cancelled job's execution failed");
                }
            }
            tokio::select! {
                status = execution.wait() => break status,
                () = lost.cancelled() => {
                    if !backend.outlives_runner() {
                        let _ = execution.cancel().await;
                    }
                    return Ok(Ended::Abandoned);
                }
                () = abandon.cancelled() => return Ok(Ended::Abandoned),
                Some(_) = async { match notices.as_mut() { Some(s) => s.next().await, None => None } } => {
                    cancel_seen.store(true, Ordering::SeqCst);
                }
                _ = cancel_check.tick() => {}
            }
        };
        let ran_for = started.elapsed();
        if let Some(pump) = pump {
            if tokio::time::timeout(Duration::from_secs(30), pump).await.is_err() {
                tracing::warn!(job = %lease.job, "the job's last log lines were not all stored in time");
            }
        }
        let status = match status {
            Ok(status) => status,
            Err(e) => ExecutionStatus::Failed(backend_failure("following its execution", &e)),
        };
        // Read fresh (a cancel may have come since the start): the finish is decided on it.
        let known = self.jobs.job_known(&lease.tenant, &lease.job).await?;
        let cancel_requested = match &known {
            Some(known) => known.state.cancel_requested,
            None => cancel_seen.load(Ordering::SeqCst),
        };
        let outcome = status.outcome(cancel_requested).unwrap_or_else(|| {
            Outcome::Failed(Failure {
                reason: FailureReason::BackendError,
                exit_code: None,
                message: "the backend ended following the job before it ended".into(),
            })
        });
        let artifacts = self.store_artifacts(claimed, &execution, workspace).await;
        let cost = ran_for;
        self.finish(claimed, known, outcome, artifacts, cost).await?;
        Ok(Ended::Finished)
    }

    /// Brings back `/workspace/artifacts/` and stores each file; what could not be stored is
    /// said in the job's platform log (the job's contract then lists it missing).
    async fn store_artifacts(&self, claimed: &ClaimedJob, execution: &Execution, workspace: &Path) -> Vec<Artifact> {
        let lease = &claimed.lease;
        let into = workspace.with_extension("collected");
        let _ = tokio::fs::remove_dir_all(&into).await;
        let mut notes = Vec::new();
        let collected = match execution.collect_artifacts(&into).await {
            Ok(collected) => collected,
            Err(e) => {
                notes.push(format!("the artifacts could not be collected: {}", error_chain(&e)));
                CollectedArtifacts::default()
            }
        };
        for skipped in &collected.skipped {
            notes.push(format!("artifact {} not collected: {}", skipped.path, skipped.why));
        }
        let store = self.jobs.urls().store();
        let mut artifacts = Vec::with_capacity(collected.files.len());
        for file in &collected.files {
            let id = ArtifactId::from_uuid(uuid::Uuid::now_v7());
            let stored = async {
                let key = canopy_jobs::artifact_key(&lease.tenant, &lease.job, &id).map_err(|e| e.to_string())?;
                let content_type = content_type_of(&file.path);
                // Streamed, never held whole; the store measures and hashes what it takes.
                let reader = tokio::fs::File::open(into.join(&file.path)).await.map_err(|e| e.to_string())?;
                let body = tokio_util::io::ReaderStream::new(reader);
                let stored = store
                    .put_stream(&key, Some(content_type), body, file.size_bytes)
                    .await
                    .map_err(|e| error_chain(&e))?;
                Ok::<_, String>(Artifact {
                    artifact_id: id.clone(),
                    path: format!("{ARTIFACTS_DIR}{}", file.path),
                    size_bytes: stored.size_bytes,
                    content_type: content_type.to_string(),
                    sha256: stored.sha256,
                })
            };
            match stored.await {
                Ok(artifact) => artifacts.push(artifact),
                Err(why) => notes.push(format!("artifact {} could not be stored: {why}", file.path)),
            }
        }
        let _ = tokio::fs::remove_dir_all(&into).await;
        notes.push(format!("collected {} artifact(s) from {ARTIFACTS_DIR}", artifacts.len()));
        let lines: Vec<LogLine> = notes.into_iter().map(|n| LogLine::new(LogStream::Platform, n)).collect();
        if let Err(e) = self.jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, &lines).await {
            tracing::warn!(job = %lease.job, error = %e, "storing the artifacts' log lines failed");
        }
        artifacts
    }

    /// [`Jobs::finish`] with the cost of `ran_for` on the job's backend, retried on a
    /// transient failure (a refusal is final: the job is no longer this attempt's).
    async fn finish(
        &self,
        claimed: &ClaimedJob,
        mut known: Option<KnownJob>,
        outcome: Outcome,
        artifacts: Vec<Artifact>,
        ran_for: Duration,
    ) -> Result<(), JobsError> {
        let lease = &claimed.lease;
        let cost = self.jobs.price(&claimed.backend, ran_for);
        let mut tries = 0;
        loop {
            match self.jobs.finish_from(lease, known.take(), outcome.clone(), artifacts.clone(), cost).await {
                Ok(_) => return Ok(()),
                Err(e) if refused(&e) || tries + 1 >= REPORT_TRIES => return Err(e),
                Err(e) => {
                    tries += 1;
                    tracing::warn!(job = %lease.job, error = %e, "recording a job's end failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
            }
        }
    }
}

enum Placed {
    /// The execution, and how many of its workload lines to skip (already kept).
    Running(Execution, u64),
}

enum PlaceError {
    /// Recording failed (or was refused): the job is left to its lease.
    Jobs(JobsError),
    /// The job cannot run: it ends failed.
    Failed(Failure),
}

impl From<JobsError> for PlaceError {
    fn from(e: JobsError) -> Self {
        PlaceError::Jobs(e)
    }
}

/// Starts `placement`, waiting a little for a slot should another start have taken the last one
/// (the poller counts its own jobs, but the backend's slots are the truth).
async fn start_with_room(backend: &dyn Backend, placement: Placement) -> Result<Execution, BackendError> {
    let mut waited = Duration::ZERO;
    loop {
        match backend.start(placement.clone()).await {
            Err(BackendError::NoCapacity { .. }) if waited < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                waited += Duration::from_millis(250);
            }
            other => return other,
        }
    }
}

/// Renews the lease every third of its length until aborted; on `CONFLICT` (another poller
/// took the job over) it cancels `lost`. Each renewal also reads whether a cancel was asked
/// for, should the notice have been missed.
async fn keep_lease(jobs: Jobs, mut lease: HeldLease, lost: CancellationToken, cancel_seen: Arc<AtomicBool>) {
    let every = (jobs.settings().lease / 3).max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(every).await;
        match jobs.heartbeat(&lease).await {
            Ok(renewed) => lease = renewed,
            Err(e) if refused(&e) => {
                tracing::warn!(job = %lease.job, error = %e, "this poller lost its lease on the job");
                lost.cancel();
                return;
            }
            Err(e) => tracing::warn!(job = %lease.job, error = %e, "renewing a lease failed; trying again"),
        }
        if let Ok(Some(state)) = jobs.job_state(&lease.tenant, &lease.job).await {
            if state.cancel_requested {
                cancel_seen.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Stores an execution's lines until its channel ends; skips the first `skip` workload lines
/// (kept by an earlier attempt following the same execution). A batch is whatever is waiting
/// when the previous insert finished (up to [`LOG_BATCH_LINES`]): a lone line is stored at once,
/// a flood shares inserts, and no line waits on a timer.
async fn pump_logs(jobs: Jobs, lease: HeldLease, mut lines: LogLines, skip: u64) {
    let mut workload_seen: u64 = 0;
    let mut batch: Vec<LogLine> = Vec::new();
    let mut open = true;
    while open {
        let Some(first) = lines.recv().await else { break };
        let mut next = Some(first);
        while let Some(line) = next.take() {
            let stream = match line.stream {
                BackendStream::Stdout => LogStream::Stdout,
                BackendStream::Stderr => LogStream::Stderr,
                BackendStream::Platform => LogStream::Platform,
            };
            let skipped = stream != LogStream::Platform && {
                workload_seen += 1;
                workload_seen <= skip
            };
            if !skipped {
                let text = if line.truncated { format!("{} [line truncated]", line.text) } else { line.text };
                batch.push(LogLine::new(stream, text));
            }
            if batch.len() >= LOG_BATCH_LINES {
                break;
            }
            next = match lines.try_recv() {
                Ok(line) => Some(line),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => None,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    None
                }
            };
        }
        flush(&jobs, &lease, &mut batch).await;
    }
    flush(&jobs, &lease, &mut batch).await;
}

async fn flush(jobs: &Jobs, lease: &HeldLease, batch: &mut Vec<LogLine>) {
    if batch.is_empty() {
        return;
    }
    for tries in 1..=REPORT_TRIES {
        match jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, batch).await {
            Ok(_) => break,
            Err(e) if tries == REPORT_TRIES => {
                tracing::warn!(job = %lease.job, lines = batch.len(), error = %e, "log lines dropped: the log table refused them");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await,
        }
    }
    batch.clear();
}

/// A refusal (the job is no longer this attempt's, or it ended), not a failure to retry
/// (contention on the tenant's ledger, a storage hiccup).
fn refused(e: &JobsError) -> bool {
    !e.is_transient()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn remove_workspace(workspace: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(workspace).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(workspace = %workspace.display(), error = %e, "removing a job's workspace failed");
        }
    }
}

fn backend_failure(doing: &str, e: &BackendError) -> Failure {
    Failure {
        reason: FailureReason::BackendError,
        exit_code: None,
        message: format!("{doing} failed: {}", error_chain(e)),
    }
}

fn io_failure(message: String) -> Failure {
    Failure { reason: FailureReason::BackendError, exit_code: None, message }
}

/// The content type an artifact is served with, by its extension.
pub fn content_type_of(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "txt" | "log" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_of("out.json"), "application/json");
        assert_eq!(content_type_of("plots/A.PNG"), "image/png");
        assert_eq!(content_type_of("noext"), "application/octet-stream");
    }

    #[test]
    fn the_default_runner_is_a_valid_id() {
        let runner = PollerConfig::default_runner();
        assert!(runner.as_str().ends_with(&format!(":{}", std::process::id())), "{runner}");
    }
}
