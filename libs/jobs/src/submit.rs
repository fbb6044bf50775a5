//! `estimate_job`, `submit_job` and `cancel_job`: the operations that decide about a job's
//! placement and money.
//!
//! A submit, in order: the policy; maintenance (`MAINTENANCE_ACTIVE`); the arguments
//! (`JobSpec::from_arguments`, every invalid field named); the route and price range
//! ([`crate::routing::plan`], the same call `estimate_job` makes; no backend for the image is
//! `INVALID_REQUEST` naming the images this deployment runs); the inputs looked up in the tenant
//! and the domain's decision tried without I/O (`JOB_INPUT_NOT_FOUND`, `JOB_INPUT_NOT_READY`,
//! mount collisions); then the hold of the upper bound on the tenant's ledger
//! (`INSUFFICIENT_FUNDS`); then the job's events (submitted and queued). Should that last step
//! fail, the hold is released (settled at zero). The job-pollers are woken on
//! `PREFIX.jobs.queued`.

use crate::args;
use crate::error::JobsError;
use crate::routing::{plan, Plan, PlanRequest};
use crate::views;
use crate::{Caller, Jobs};
use canopy_api_types::jobs::{CancelledJobView, EstimateView, JobView};
use canopy_api_types::ErrorCode;
use canopy_domain::job::{Estimate, Job, JobCommand};
use canopy_domain::job_input::JobInput;
use canopy_domain::job_spec::{EstimateSpec, JobSpec};
use canopy_domain::ledger::LedgerCommand;
use canopy_domain::{Aggregate, Credits, InputId, JobId, TenantId};
use canopy_policy::GridTool;
use canopy_readmodels::JobRow;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) fn job_not_found(id: &JobId) -> JobsError {
    JobsError::not_found(format!("job '{id}'"))
}

impl Jobs {
    /// `estimate_job`: the classification, route, capacity source, cost range, availability and
    /// queue ahead, computed by the router a submit uses. Creates nothing.
    pub async fn estimate_job(&self, caller: &Caller, arguments: &Value) -> Result<EstimateView, JobsError> {
        caller.require(GridTool::EstimateJob, || JobsError::not_found("the jobs service"))?;
        let spec = EstimateSpec::from_arguments(arguments).map_err(JobsError::domain)?;
        let request = PlanRequest {
            workload_type: spec.workload_type,
            model_size: spec.model_size,
            image: spec.image.as_deref(),
            routing_mode: spec.routing_mode,
        };
        let plan = self.plan(caller, &request).await?;
        let queue_ahead = canopy_readmodels::count_queued_jobs(self.pool(), &caller.tenant).await?;
        Ok(plan.to_view(spec.routing_mode, queue_ahead))
    }

    async fn plan(&self, caller: &Caller, request: &PlanRequest<'_>) -> Result<Plan, JobsError> {
        let free = crate::poller::free_slots(self.pool(), self.settings().capacity_stale).await?;
        let quotas = self.settings().quotas(&caller.tenant);
        Ok(plan(self.settings(), &quotas, request, &free))
    }

    /// `submit_job`: the job, queued, with its estimate's upper bound held on the tenant's
    /// credits. Answers the job as `get_job` shows it.
    pub async fn submit_job(&self, caller: &Caller, arguments: &Value) -> Result<JobView, JobsError> {
        caller.require(GridTool::SubmitJob, || JobsError::not_found("the jobs service"))?;
        if let Some((message, _)) = canopy_readmodels::maintenance(self.pool()).await? {
            let message = if message.is_empty() { "maintenance is in progress".to_string() } else { message };
            return Err(JobsError::refused(
                ErrorCode::MaintenanceActive,
                format!("new jobs are not accepted during maintenance: {message}"),
            ));
        }
        let key = idempotency_key(arguments)?;
        let spec = JobSpec::from_arguments(arguments).map_err(JobsError::domain)?;
        let request = PlanRequest {
            workload_type: spec.workload_type,
            model_size: None,
            image: Some(&spec.image),
            routing_mode: spec.routing_mode,
        };
        let plan = self.plan(caller, &request).await?;
        let (Some(route), Some((cost_low, cost_high))) = (&plan.route, plan.cost) else {
            return Err(JobsError::invalid(
                "image",
                format!(
                    "'{}' is not an image this deployment runs; it runs {}",
                    spec.image,
                    self.settings().runnable_images().join(", ")
                ),
            ));
        };
        let mut inputs = BTreeMap::new();
        for input_id in spec.referenced_inputs() {
            if let Some(lookup) = self.lookup_input(caller, input_id).await? {
                inputs.insert(input_id.clone(), lookup);
            }
        }
        let id = match key {
            Some(key) => keyed_job_id(&caller.tenant, key),
            None => JobId::from_uuid(uuid::Uuid::now_v7()),
        };
        let ctx = match key {
            Some(key) => caller.context().idempotent(key, &request_fingerprint(arguments)),
            None => caller.context(),
        };
        let estimate = Estimate {
            cost_low,
            cost_high,
            backend: route.backend.clone(),
            capacity_source: route.capacity_source.to_string(),
        };
        let command = JobCommand::Submit { id: id.clone(), spec, inputs, estimate, enqueue: true };
        // The domain's decision is pure: try it before any credit is held.
        Job::Absent.decide(&command).map_err(JobsError::domain)?;
        if key.is_some() && self.job_row(caller, &id).await.is_ok() {
            // Submitted before under this key: the executor answers the same request with the
            // same job (nothing is held or queued again), another request with CONFLICT.
            self.executor().execute::<Job>(&ctx, id.as_str(), &command).await.map_err(JobsError::execute)?;
            let row = self.job_row(caller, &id).await?;
            return Ok(views::job(&row, chrono::Utc::now()));
        }
        self.hold(caller, &id, cost_high).await.map_err(|e| match (key, &e) {
            (Some(key), JobsError::Refused { code: ErrorCode::Conflict, .. }) => JobsError::conflict(format!(
                "an earlier submit with idempotency key '{key}' did not complete (its credit hold is \
                 settled or differs); submit again with a new key"
            )),
            _ => e,
        })?;
        // A new job's stream is empty: decided without reading it (a job already there under
        // this id makes the append conflict, and the command is decided again on it).
        if let Err(e) = self.executor().execute_from::<Job>(&ctx, id.as_str(), &command, Job::Absent, 0).await {
            self.release(caller, &id).await;
            return Err(JobsError::execute(e));
        }
        self.wake_pollers().await;
        let row = self.job_row(caller, &id).await?;
        Ok(views::job(&row, chrono::Utc::now()))
    }

    async fn lookup_input(
        &self,
        caller: &Caller,
        id: &InputId,
    ) -> Result<Option<canopy_domain::job_input::InputLookup>, JobsError> {
        let row = canopy_readmodels::get_job_input(self.pool(), &caller.tenant, id).await?;
        Ok(row.and_then(|r| JobInput::Present(r.state).lookup()))
    }

    async fn hold(&self, caller: &Caller, job: &JobId, amount: Credits) -> Result<(), JobsError> {
        let command = LedgerCommand::Hold { job: job.clone(), amount, policy: self.settings().credit_policy };
        self.write_ledger(&caller.context(), command).await.map(|_| ()).map_err(JobsError::execute)
    }

    /// Gives a job's hold back (settled at zero): the job never ran. Logged, not returned: the
    /// caller is already answering another error, and the settlement reconciler retries.
    async fn release(&self, caller: &Caller, job: &JobId) {
        if let Err(e) = self.settle_hold(&caller.context(), job, Credits::ZERO).await {
            tracing::warn!(tenant = %caller.tenant, job = %job, error = %e, "releasing a job's credit hold failed");
        }
    }

    /// The caller's job, or `NOT_FOUND` (for another tenant's id too).
    pub(crate) async fn job_row(&self, caller: &Caller, id: &JobId) -> Result<JobRow, JobsError> {
        canopy_readmodels::get_job(self.pool(), &caller.tenant, id).await?.ok_or_else(|| job_not_found(id))
    }

    /// `cancel_job`: a queued job is cancelled at once (its hold released); a running one is
    /// asked to stop (its runner hears it on `PREFIX.jobs.cancel.TENANT.JOB` and reports
    /// `cancelled`). An ended job is `CONFLICT`.
    pub async fn cancel_job(&self, caller: &Caller, arguments: &Value) -> Result<CancelledJobView, JobsError> {
        let args = args::object(arguments)?;
        let id = args::job_id(args)?;
        caller.require(GridTool::CancelJob, || job_not_found(&id))?;
        let reason = args::string(args, "reason", None)?.map(str::to_string);
        self.job_row(caller, &id).await?;
        let outcome = self
            .executor()
            .execute::<Job>(&caller.context(), id.as_str(), &JobCommand::Cancel { reason })
            .await
            .map_err(JobsError::execute)?;
        let cancelled_now = outcome.events.iter().any(|e| e.event_type == "job.cancelled");
        let Some(state) = outcome.state.state() else {
            return Err(job_not_found(&id));
        };
        if cancelled_now {
            self.settle_hold(&caller.context(), &id, Credits::ZERO).await?;
        } else if state.cancel_requested {
            let subject = self.bus().subjects.job_cancel(caller.tenant.as_str(), id.as_str());
            let notice = serde_json::json!({"job_id": id, "reason": state.cancel_reason});
            let payload = serde_json::to_vec(&notice).unwrap_or_default();
            if let Err(e) = self.bus().client.publish(subject, payload.into()).await {
                tracing::warn!(job = %id, error = %e, "publishing a cancel notice failed; the runner sees it in the job's state");
            }
        }
        Ok(CancelledJobView {
            job_id: id.to_string(),
            status: state.status.as_str().into(),
            status_reason: state.status_reason().map(str::to_string),
            cancel_requested: state.cancel_requested,
        })
    }
}

/// The longest idempotency key accepted.
const IDEMPOTENCY_KEY_MAX: usize = 200;

/// `submit_job`'s optional `idempotency_key` (REST: the `Idempotency-Key` header, which the
/// handler puts here): printable ASCII, at most 200 characters.
fn idempotency_key(arguments: &Value) -> Result<Option<&str>, JobsError> {
    let Some(key) = args::string(args::object(arguments)?, "idempotency_key", None)? else { return Ok(None) };
    if key.len() > IDEMPOTENCY_KEY_MAX || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(JobsError::invalid(
            "idempotency_key",
            format!("must be at most {IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces"),
        ));
    }
    Ok(Some(key))
}

/// The job a keyed submit creates: the same for the same tenant and key, so a retried submit
/// names the job the first one made (UUID v5 of the tenant and the key).
fn keyed_job_id(tenant: &TenantId, key: &str) -> JobId {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a0b_2d4e_8f31_4c57_9e1a_3b5c_7d9f_0e24);
    JobId::from_uuid(uuid::Uuid::new_v5(&NAMESPACE, format!("{tenant}\n{key}").as_bytes()))
}

/// What a keyed submit's request is compared by: its arguments without the key, as JSON with
/// sorted object keys.
fn request_fingerprint(arguments: &Value) -> Vec<u8> {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut arguments = sorted(arguments);
    if let Value::Object(map) = &mut arguments {
        map.remove("idempotency_key");
    }
    serde_json::to_vec(&arguments).unwrap_or_default()
}
