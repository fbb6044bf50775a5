//! `grid`: Jungle Grid's 11 jobs tools, under their exact names, arguments (aliases included)
//! and annotations (`shared/design/workloads.md`). A placeholder until the jobs engine's
//! handlers land (issue 11): the catalog is the real one, so clients, groups, allow lists and
//! scopes can be set up against it now; every call answers `isError` "not available yet".

use super::{tool, tool_error, BuiltinCall, BuiltinServer};
use canopy_domain::BuiltinKind;
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{json, Value};

pub struct Grid;

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
                "routing_mode": routing, "template": s("A job template"), "metadata": {"type": "object"}}),
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

    fn call(&self, _ctx: BuiltinCall, name: String, _arguments: JsonObject) -> BoxFuture<'_, CallToolResult> {
        Box::pin(async move {
            tool_error(&name, "NOT_AVAILABLE", "the jobs engine is not available yet in this build of Canopy")
        })
    }
}
