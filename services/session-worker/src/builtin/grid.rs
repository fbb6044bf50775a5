//! `grid`: Jungle Grid's 11 jobs tools, under their exact names, arguments (aliases included)
//! and annotations (`shared/design/workloads.md`). Each tool is the canopy-jobs operation of the
//! same name, decided for the caller admission decided for (its policy principal travels in the
//! call request): no rule lives here, only the mapping. A result is a one-line summary as text
//! and `structuredContent` `{"data": <the REST response>}`; a refusal is
//! `TOOL failed: CODE: message` with `isError`.
//!
//! `get_job_logs` with `follow: true` sends each new line as a log notification (with progress)
//! until the job ends, `jobs.follow_max_secs` passes or the caller cancels, then returns the
//! lines it sent.

use super::{tool, tool_error, BuiltinCall, BuiltinServer, LogLevel};
use canopy_domain::BuiltinKind;
use canopy_jobs::{Caller, Jobs, JobsError};
use canopy_policy::{PrincipalKind, TenantView};
use futures::future::BoxFuture;
use futures::StreamExt;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{json, Value};

/// What the grid tools run on: the jobs service, and the read models for a client's groups.
#[derive(Clone)]
pub struct GridJobs {
    pub jobs: Jobs,
    pub pool: sqlx::PgPool,
}

pub struct Grid {
    jobs: Option<GridJobs>,
}

impl Grid {
    pub fn new(jobs: Option<GridJobs>) -> Self {
        Grid { jobs }
    }
}

/// `{"data": <the REST response>}`, every grid tool's `structuredContent`.
fn output_schema() -> Value {
    json!({"type": "object", "properties": {"data": {}}, "required": ["data"]})
}

fn declare(name: &str, title: &str, description: &str, properties: Value, required: &[&str], hints: Value) -> Tool {
    tool(json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties, "required": required},
        "outputSchema": output_schema(),
        "annotations": hints,
    }))
}

fn read_only() -> Value {
    json!({"readOnlyHint": true, "destructiveHint": false, "openWorldHint": false})
}

fn job_id() -> Value {
    json!({"type": "string", "description": "The job's id (job_...); alias: jobId"})
}

/// The grid tools' declarations, in Jungle Grid's order.
pub fn tools() -> Vec<Tool> {
    let s = |d: &str| json!({"type": "string", "description": d});
    let strings = |d: &str| json!({"type": "array", "items": {"type": "string"}, "description": d});
    let command = json!({"description": "The command: an array of strings or one string",
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]});
    let files = |d: &str| {
        json!({"type": "array", "description": d,
        "items": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"input_id": {"type": "string"}}, "required": ["input_id"]}]}})
    };
    let workload = json!({"type": "string", "enum": ["inference", "training", "fine_tuning", "fine-tuning", "batch"],
        "description": "What the job does; alias: workload"});
    let routing =
        json!({"type": "string", "enum": ["cost", "speed", "balanced"], "description": "How to choose where it runs"});
    vec![
        declare(
            "estimate_job",
            "Estimate a job",
            "Classify a job, pick the route and capacity it would use, and estimate its cost range and wait, without submitting it.",
            json!({"workload_type": workload, "model_size": s("Model size, e.g. 7b"), "image": s("Container image, e.g. python:3.11"),
                "command": command, "args": strings("Arguments"), "routing_mode": routing, "template": s("A job template"), "notes": s("Free text")}),
            &["workload_type"],
            read_only(),
        ),
        declare(
            "submit_job",
            "Submit a job",
            "Submit a job: it is queued, placed on compute and run; this may start compute and incur charges.",
            json!({"name": s("The job's name"), "workload_type": workload, "image": s("Container image, e.g. python:3.11"),
                "command": command, "args": strings("Arguments"), "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "input_files": files("Inputs, mounted at /workspace/inputs/<filename>"),
                "script_files": files("Scripts, mounted at /workspace/scripts/<filename>"),
                "script_file": s("The script to run (a script input's filename or id)"),
                "expected_artifacts": strings("Files under /workspace/artifacts/ to collect"),
                "routing_mode": routing, "template": s("A job template"), "metadata": {"type": "object"},
                "idempotency_key": s("Optional: a retried submit with the same key answers the job the first one created instead of queueing another")}),
            &["name", "workload_type", "image"],
            json!({"readOnlyHint": false, "destructiveHint": false, "openWorldHint": true}),
        ),
        declare(
            "upload_job_input",
            "Create an upload slot",
            "Create an input slot and a signed upload URL: PUT the bytes to upload_url, then POST complete_url.",
            json!({"filename": s("The file's name in the job's workspace"), "content_type": s("MIME type"),
                "kind": s("input or script (by convention; any string accepted)")}),
            &["filename"],
            json!({"readOnlyHint": false, "destructiveHint": false, "openWorldHint": false}),
        ),
        declare("list_job_inputs", "List job inputs", "List uploaded inputs and scripts with their status.", json!({}), &[], read_only()),
        declare(
            "list_jobs",
            "List jobs",
            "List jobs, newest first, a page at a time.",
            json!({"limit": {"type": "integer", "minimum": 1}, "cursor": s("next_cursor of the previous page"), "status": s("Only jobs with this status")}),
            &[],
            read_only(),
        ),
        declare("get_job", "Get a job", "A job's status, phase, placement, costs and failure.", json!({"job_id": job_id()}), &["job_id"], read_only()),
        declare("get_job_events", "Get a job's events", "A job's lifecycle events, before and during execution.", json!({"job_id": job_id()}), &["job_id"], read_only()),
        declare(
            "get_job_logs",
            "Get a job's logs",
            "A job's log lines, a page at a time; with follow, new lines are sent as they are printed until the job ends.",
            json!({"job_id": job_id(), "limit": {"type": "integer", "minimum": 1}, "cursor": s("next_cursor of the previous page"),
                "follow": {"type": "boolean", "description": "Stream new lines as notifications until the job ends"}}),
            &["job_id"],
            read_only(),
        ),
        declare(
            "cancel_job",
            "Cancel a job",
            "Cancel a job and stop its processes; cancelling a finished job is CONFLICT.",
            json!({"job_id": job_id(), "reason": s("Why")}),
            &["job_id"],
            json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false}),
        ),
        declare("list_artifacts", "List a job's artifacts", "The files a job produced.", json!({"job_id": job_id()}), &["job_id"], read_only()),
        declare(
            "get_artifact",
            "Get an artifact",
            "An artifact's metadata and a short-lived signed download_url.",
            json!({"job_id": job_id(), "artifact_id": {"type": "string", "description": "The artifact's id (art_...); alias: artifactId"}}),
            &["job_id", "artifact_id"],
            read_only(),
        ),
    ]
}

impl BuiltinServer for Grid {
    fn kind(&self) -> BuiltinKind {
        BuiltinKind::Grid
    }

    fn tools(&self) -> Vec<Tool> {
        tools()
    }

    fn call(&self, ctx: BuiltinCall, name: String, arguments: JsonObject) -> BoxFuture<'_, CallToolResult> {
        Box::pin(async move {
            let Some(grid) = &self.jobs else {
                return tool_error(
                    &name,
                    "NOT_AVAILABLE",
                    "the jobs service is not available yet on this worker (not configured)",
                );
            };
            let caller = match caller(grid, &ctx).await {
                Ok(caller) => caller,
                Err((code, message)) => return tool_error(&name, code, &message),
            };
            let arguments = Value::Object(arguments);
            let answer = match name.as_str() {
                "get_job_logs" if arguments.get("follow").and_then(Value::as_bool) == Some(true) => {
                    follow(&grid.jobs, &ctx, &caller, &arguments).await
                }
                _ => run(&grid.jobs, &caller, &name, &arguments).await,
            };
            match answer {
                Ok(data) => success(&name, data),
                Err(error) => failure(&name, &error),
            }
        })
    }
}

/// The caller of the jobs service: the principal admission decided for, in the call's tenant,
/// with the groups a client's allow list names (as the api builds them).
async fn caller(grid: &GridJobs, ctx: &BuiltinCall) -> Result<Caller, (&'static str, String)> {
    let Some(identity) = ctx.identity().cloned() else {
        return Err(("FORBIDDEN", "the call carries no caller identity; the edge must be upgraded".into()));
    };
    if identity.subject != ctx.principal() {
        return Err(("FORBIDDEN", "the call's identity does not match its principal".into()));
    }
    let view = match (&identity.kind, &identity.tenant) {
        (PrincipalKind::Client { allow }, Some(tenant)) if !allow.groups.is_empty() => {
            let groups = canopy_readmodels::list_groups(&grid.pool, tenant).await.map_err(|e| {
                tracing::warn!(error = %e, "grid: reading the tenant's groups failed");
                ("INTERNAL_ERROR", "reading the tenant's groups failed; the server log has the details".to_string())
            })?;
            TenantView::from_groups(
                groups.into_iter().filter(|g| allow.groups.contains(&g.name)).map(|g| (g.name, g.spec)),
            )
        }
        _ => TenantView::new(),
    };
    Ok(Caller::new(ctx.tenant().clone(), identity, view))
}

fn data<T: serde::Serialize>(view: Result<T, JobsError>) -> Result<Value, JobsError> {
    view.and_then(|v| serde_json::to_value(v).map_err(|e| JobsError::internal("serialising the answer failed", e)))
}

/// The canopy-jobs operation of the tool's name.
async fn run(jobs: &Jobs, caller: &Caller, name: &str, arguments: &Value) -> Result<Value, JobsError> {
    match name {
        "estimate_job" => data(jobs.estimate_job(caller, arguments).await),
        "submit_job" => data(jobs.submit_job(caller, arguments).await),
        "upload_job_input" => data(jobs.upload_job_input(caller, arguments).await),
        "list_job_inputs" => data(jobs.list_job_inputs(caller, arguments).await),
        "list_jobs" => data(jobs.list_jobs(caller, arguments).await),
        "get_job" => data(jobs.get_job(caller, arguments).await),
        "get_job_events" => data(jobs.get_job_events(caller, arguments).await),
        "get_job_logs" => data(jobs.get_job_logs(caller, arguments).await),
        "cancel_job" => data(jobs.cancel_job(caller, arguments).await),
        "list_artifacts" => data(jobs.list_artifacts(caller, arguments).await),
        "get_artifact" => data(jobs.get_artifact(caller, arguments).await),
        other => Err(JobsError::refused(
            canopy_api_types::ErrorCode::NotFound,
            format!("the grid server has no tool '{other}'"),
        )),
    }
}

/// `get_job_logs` with `follow`: each new line as a log notification with progress, until the
/// stream ends (the job ended, or the follow limit) or the caller cancels; then the lines sent.
async fn follow(jobs: &Jobs, ctx: &BuiltinCall, caller: &Caller, arguments: &Value) -> Result<Value, JobsError> {
    let job_id = arguments.get("job_id").or_else(|| arguments.get("jobId")).cloned().unwrap_or(Value::Null);
    let stream = jobs.follow_job_logs(caller, arguments, None).await?;
    tokio::pin!(stream);
    let (mut items, mut stopped) = (Vec::new(), false);
    loop {
        let entry = tokio::select! {
            entry = stream.next() => entry,
            _ = ctx.cancellation().cancelled() => { stopped = true; None }
        };
        let Some(entry) = entry else { break };
        let entry = serde_json::to_value(entry).unwrap_or(Value::Null);
        let level = if entry["category"] == "workload_stderr" { LogLevel::Warning } else { LogLevel::Info };
        ctx.log(level, Some("grid.job_logs"), entry.clone()).await;
        ctx.progress((items.len() + 1) as f64, None, entry["message"].as_str().map(str::to_string)).await;
        items.push(entry);
    }
    let next_cursor = items.last().and_then(|e| e.get("entry_id").cloned());
    Ok(json!({"job_id": job_id, "items": items, "next_cursor": next_cursor, "has_more": false,
        "followed": true, "stopped_by_caller": stopped}))
}

fn success(name: &str, data: Value) -> CallToolResult {
    let mut result = CallToolResult::structured(json!({ "data": data }));
    result.content = vec![ContentBlock::text(summary(name, &result.structured_content.as_ref().unwrap()["data"]))];
    result
}

fn failure(name: &str, error: &JobsError) -> CallToolResult {
    if let JobsError::Internal { .. } = error {
        tracing::warn!(tool = name, error = ?error, "grid tool failed");
    }
    let code = serde_json::to_value(error.code()).ok().and_then(|c| c.as_str().map(str::to_string));
    tool_error(name, code.as_deref().unwrap_or("INTERNAL_ERROR"), &error.public_message())
}

/// The result's one-line summary, for people and models reading the text.
fn summary(name: &str, data: &Value) -> String {
    let s = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    let count = |key: &str| data.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    match name {
        "estimate_job" => format!(
            "Estimate: {} on {}, availability {}, {} queued ahead",
            data["classification"]["workload_type"].as_str().unwrap_or("?"),
            data["route"]["backend"].as_str().unwrap_or("no backend"),
            s("availability"),
            data["queue_ahead"]
        ),
        "submit_job" => format!("Submitted job {} ({}): {}", s("job_id"), s("name"), s("status")),
        "upload_job_input" => format!(
            "Upload slot {} for {}: PUT the bytes to upload_url, then POST complete_url",
            data["upload"]["input_id"].as_str().unwrap_or("?"),
            data["upload"]["filename"].as_str().unwrap_or("?")
        ),
        "list_job_inputs" => format!("{} input(s)", count("inputs")),
        "list_jobs" => format!("{} job(s)", count("jobs")),
        "get_job" => format!("Job {} ({}): {}, phase {}", s("job_id"), s("name"), s("status"), s("phase")),
        "get_job_events" => format!("{} event(s) of job {}", count("events"), s("job_id")),
        "get_job_logs" => format!("{} log line(s) of job {}", count("items"), s("job_id")),
        "cancel_job" => format!("Job {}: {}", s("job_id"), s("status")),
        "list_artifacts" => format!("{} artifact(s) of job {}", count("artifacts"), s("job_id")),
        "get_artifact" => format!(
            "Artifact {} ({}): download_url valid until {}",
            data["artifact"]["artifact_id"].as_str().unwrap_or("?"),
            data["artifact"]["filename"].as_str().unwrap_or("?"),
            s("expires_at")
        ),
        _ => format!("{name} done"),
    }
}
