//! The jobs service, in one place: every operation of Jungle Grid's `grid` tools (estimate,
//! submit, inputs, jobs, events, logs, cancel, artifacts), the operator's credits and
//! maintenance, and the job-poller's persistence (the fair claim, leases, reports, finish and
//! settlement). REST handlers (`services/api`) and the `grid` MCP tools call exactly these
//! functions, so both surfaces answer alike.
//!
//! # Shape of an operation
//!
//! `jobs.OPERATION(&caller, &arguments)`: the tool's arguments as JSON (aliases accepted:
//! `jobId`, `artifactId`, `workload`; REST builds the same object from its path, query and body)
//! and the [`Caller`] (tenant, policy principal, its groups). Each asks `canopy-policy` first
//! ([`canopy_policy::Target::Jobs`] with the tool), then answers the REST body
//! (`canopy_api_types::jobs`), or a [`JobsError`] with a stable code and a message that names
//! the field for `INVALID_REQUEST`. Another tenant's id is `NOT_FOUND`, exactly as an id that
//! exists nowhere.
//!
//! # Where things are
//!
//! - [`routing`]: the price model and the route (`estimate_job` and `submit_job` share it).
//! - `submit.rs`: estimate, submit (maintenance, image, inputs, hold, then the job), cancel.
//! - `inputs.rs`: upload slots, completion (token and stored size checked), the list.
//! - `read.rs`: jobs, events, artifacts and signed download URLs.
//! - `logs.rs`: paged logs, following them live, and appending them (the poller).
//! - [`poller`]: the job-poller's side: claim, leases, reports, finish, capacity.
//! - `platform.rs`: credits and maintenance.
//! - `ledger.rs`: every write of a tenant's credit ledger (holds, settlements, grants), batched
//!   per tenant so the commands waiting share one commit.
//!
//! State changes only through the command executor (jobs, inputs, ledgers, platform settings
//! are aggregates); leases, heartbeats, log lines, capacity reports and upload tokens are
//! operational tables written directly (see `migrations/0010_jobs.sql`).
//!
//! # A job's life
//!
//! REST (`services/api`: `jobs.rs`, `job_inputs.rs`, `credits.rs`) and the `grid` tools call
//! these functions; the job-poller's loop is `services/job-poller/src/runner.rs`.
//!
//! ```text
//! submit_job ─► policy (Target::Jobs(tool), Jungle Grid's scopes) ─► maintenance? ─► JobSpec::from_arguments
//!    ─► routing::plan (price table + live capacity; estimate_job calls the same) ─► inputs looked up,
//!    Job::decide tried without I/O ─► ledger Hold (upper bound; INSUFFICIENT_FUNDS) ─► job Submit+Queued
//!    ─► core NATS PREFIX.jobs.queued (wakes the job-pollers; they also poll on a timer)
//! job-poller (services/job-poller/src/runner.rs, woken by PREFIX.jobs.queued and a 1 s tick)
//!    ─► claim_on (as many as its backends have room for; fair: tenant waiting longest, advisory locks
//!    against other pollers; lease rows in job_leases and job.claimed in one transaction)
//!    ─► provisioning ─► inputs copied from the blob store
//!    (preparing) ─► Backend::start ─► mark_running ─► append_logs in batches (job_logs +
//!    PREFIX.joblogs.TENANT.JOB) ─► heartbeat every lease/3 (job_leases only; also reads
//!    cancel_requested) ─► cancel notice ─► Execution::cancel ─► artifacts stored
//!    (tenants/T/jobs/J/artifacts/A) ─► finish (outcome, artifacts, actual cost) ─► ledger Settle
//! lapsed lease ─► expired_leases_on ─► take_over (compare-and-swap on the lease and job.claimed attempt
//!    n+1, one transaction; the old runner's heartbeat and reports are refused, and it stops a local
//!    execution) ─►
//!    Backend::attach (Ray: the same execution, replayed lines skipped, job.reattached; local: lost,
//!    failed runner_lost)
//! cancel_job ─► queued: cancelled at once, hold released; running: job.cancel_requested
//!    + PREFIX.jobs.cancel.TENANT.JOB to the poller
//! get_job_logs ?follow ─► subscribe PREFIX.joblogs.TENANT.JOB, then read job_logs after the cursor on
//!    every wake-up (and each second), until the job ended and all is sent
//! ```
//!
//! Inputs live at `tenants/T/inputs/ID/content`, artifacts at `tenants/T/jobs/J/artifacts/ART`
//! ([`artifact_key`]). Maintenance is an event-sourced platform setting (`platform_settings`
//! under the `platform` tenant): audited, the same on every replica, on the bus.

mod args;
mod error;
mod inputs;
mod ledger;
mod logs;
mod platform;
pub mod poller;
mod read;
pub mod routing;
mod settings;
mod submit;
mod views;

pub use error::{code_of, JobsError};
pub use inputs::input_key;
pub use logs::{LogLine, LogStream};
pub use poller::{ClaimedJob, ExpiredLease, HeldLease, KnownJob, Room};
pub use read::artifact_key;
pub use settings::{glob_match, Backend, JobsSettings, Quotas};

use canopy_blobs::BlobUrls;
use canopy_bus::Bus;
use canopy_domain::ledger::{Ledger, LedgerCommand, LedgerError};
use canopy_domain::{Credits, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, ExecuteError, Outcome};
use canopy_policy::{Decision, GridTool, Principal, Target, TenantView};
use canopy_readmodels::CanopyProjector;
use std::sync::Arc;

/// Who calls an operation: the tenant it reads and changes (the principal's own, never taken
/// from the request), the principal the policy decides for, and the tenant's groups a client's
/// allow list names.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub principal: Principal,
    pub view: TenantView,
}

impl Caller {
    pub fn new(tenant: TenantId, principal: Principal, view: TenantView) -> Self {
        Caller { tenant, principal, view }
    }

    /// Development mode's one principal, in `default`.
    pub fn development() -> Self {
        Caller::new(TenantId::default_tenant(), Principal::development(), TenantView::new())
    }

    /// The policy's answer for `tool`; `not_found` builds the unknown id's answer.
    fn require(&self, tool: GridTool, not_found: impl FnOnce() -> JobsError) -> Result<(), JobsError> {
        let decision =
            canopy_policy::decide(&self.principal, &self.tenant, tool.action(), &Target::Jobs(tool), &self.view);
        match decision {
            Decision::Allow => Ok(()),
            Decision::Deny(denial) => Err(JobsError::denied(denial, not_found)),
        }
    }

    fn context(&self) -> CommandContext {
        CommandContext::new(self.tenant.clone(), self.principal.subject.clone())
    }
}

/// The jobs service: cheap to clone, shared by the api's handlers, the `grid` tools and the
/// job-poller.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    executor: CommandExecutor<CanopyProjector>,
    bus: Bus,
    urls: BlobUrls,
    settings: JobsSettings,
    /// The key of upload tokens' digests (derived from the deployment key).
    upload_token_key: [u8; 32],
    /// Every write of a credit ledger from this process, batched per tenant.
    ledger: ledger::LedgerWrites,
}

impl Jobs {
    pub fn new(
        executor: CommandExecutor<CanopyProjector>,
        bus: Bus,
        urls: BlobUrls,
        sealer: &canopy_secrets::Sealer,
        settings: JobsSettings,
    ) -> Self {
        let upload_token_key = sealer.derive_key("job-input-upload-token/v1");
        let ledger = ledger::LedgerWrites::default();
        Jobs { inner: Arc::new(Inner { executor, bus, urls, settings, upload_token_key, ledger }) }
    }

    /// The service as the configuration says: the blob store (`[jobs.blobs]`: a local directory,
    /// `<state_dir>/blobs` by default, or S3), URLs signed under the deployment key and served at
    /// the public base URL, and `[jobs]`'s settings.
    pub fn from_config(
        config: &canopy_config::Config,
        executor: CommandExecutor<CanopyProjector>,
        bus: Bus,
        sealer: &canopy_secrets::Sealer,
    ) -> Result<Self, canopy_blobs::BlobError> {
        let blobs = &config.jobs.blobs;
        let store_config = match blobs.store.as_str() {
            "s3" => {
                let mut s3 = canopy_blobs::S3Config::new(&blobs.s3_bucket, &blobs.s3_region);
                if !blobs.s3_endpoint.is_empty() {
                    s3 = s3.with_endpoint(&blobs.s3_endpoint);
                }
                if !blobs.s3_access_key_id.is_empty() {
                    s3 = s3.with_static_credentials(&blobs.s3_access_key_id, &blobs.s3_secret_access_key);
                }
                canopy_blobs::BlobStoreConfig::S3(s3)
            }
            _ => canopy_blobs::BlobStoreConfig::Local { root: config.blob_dir() },
        };
        let store = canopy_blobs::BlobStore::open(&store_config)?;
        let urls = BlobUrls::new(store, canopy_blobs::UrlSigner::from_sealer(sealer), config.public_base());
        Ok(Jobs::new(executor, bus, urls, sealer, JobsSettings::from_config(config)))
    }

    pub fn settings(&self) -> &JobsSettings {
        &self.inner.settings
    }

    pub fn urls(&self) -> &BlobUrls {
        &self.inner.urls
    }

    fn pool(&self) -> &sqlx::PgPool {
        self.inner.executor.store().pool()
    }

    fn executor(&self) -> &CommandExecutor<CanopyProjector> {
        &self.inner.executor
    }

    fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// A write of `ctx.tenant`'s credit ledger, batched with this process's other writes of it
    /// (see `ledger.rs`); answers as the command executor would.
    async fn write_ledger(
        &self,
        ctx: &CommandContext,
        command: LedgerCommand,
    ) -> Result<Outcome<Ledger>, ExecuteError<LedgerError>> {
        self.inner.ledger.execute(&self.inner.executor, ctx, command).await
    }

    /// Settles a job's hold on its tenant's ledger at `actual`. A job without a hold (none was
    /// ever placed, or it is settled already) is nothing to settle.
    async fn settle_hold(
        &self,
        ctx: &CommandContext,
        job: &canopy_domain::JobId,
        actual: Credits,
    ) -> Result<(), JobsError> {
        match self.write_ledger(ctx, LedgerCommand::Settle { job: job.clone(), actual }).await {
            Ok(_) | Err(ExecuteError::Rejected(LedgerError::NoHold(_))) => Ok(()),
            Err(e) => Err(JobsError::execute(e)),
        }
    }
}
