//! Reading the tools' small arguments (`job_id`, `artifact_id`, `limit`, `cursor`, ...) from
//! their JSON, with Jungle Grid's aliases (`jobId`, `artifactId`) and every refusal naming the
//! field. REST passes path and query values as strings, so numbers are accepted as strings too.
//! (`submit_job`'s and `estimate_job`'s arguments are read by `canopy_domain::job_spec`.)

use crate::error::JobsError;
use canopy_domain::{ArtifactId, InputId, JobId};
use serde_json::{Map, Value};

pub(crate) fn object(arguments: &Value) -> Result<&Map<String, Value>, JobsError> {
    match arguments {
        Value::Object(map) => Ok(map),
        _ => Err(JobsError::invalid("arguments", "must be a JSON object")),
    }
}

/// A string argument under `name` or its alias; `None` when absent, null or empty.
pub(crate) fn string<'a>(
    args: &'a Map<String, Value>,
    name: &str,
    alias: Option<&str>,
) -> Result<Option<&'a str>, JobsError> {
    let value = args.get(name).filter(|v| !v.is_null()).or_else(|| alias.and_then(|a| args.get(a)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(JobsError::invalid(name, "must be a string")),
    }
}

pub(crate) fn required<'a>(
    args: &'a Map<String, Value>,
    name: &str,
    alias: Option<&str>,
) -> Result<&'a str, JobsError> {
    string(args, name, alias)?.ok_or_else(|| JobsError::invalid(name, "is required"))
}

/// `job_id` (or `jobId`). A malformed id is `INVALID_REQUEST` naming the field: its shape is
/// wrong whoever asks, so the answer says nothing about any tenant.
pub(crate) fn job_id(args: &Map<String, Value>) -> Result<JobId, JobsError> {
    let raw = required(args, "job_id", Some("jobId"))?;
    JobId::parse(raw).map_err(|e| JobsError::invalid("job_id", format!("is not a job id: {e}")))
}

pub(crate) fn artifact_id(args: &Map<String, Value>) -> Result<ArtifactId, JobsError> {
    let raw = required(args, "artifact_id", Some("artifactId"))?;
    ArtifactId::parse(raw).map_err(|e| JobsError::invalid("artifact_id", format!("is not an artifact id: {e}")))
}

pub(crate) fn input_id(args: &Map<String, Value>) -> Result<InputId, JobsError> {
    let raw = required(args, "input_id", Some("inputId"))?;
    InputId::parse(raw).map_err(|e| JobsError::invalid("input_id", format!("is not an input id: {e}")))
}

/// A positive integer at most `max` (a number, or a string of digits from a query); `default`
/// when absent.
pub(crate) fn limit(args: &Map<String, Value>, default: u32, max: u32) -> Result<u32, JobsError> {
    let bad = || JobsError::invalid("limit", format!("must be an integer from 1 to {max}"));
    let n = match args.get("limit") {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if n == 0 || n > u64::from(max) {
        return Err(bad());
    }
    Ok(n as u32)
}

/// A non-negative integer (a number, or digits in a string); `None` when absent.
pub(crate) fn unsigned(args: &Map<String, Value>, name: &str) -> Result<Option<u64>, JobsError> {
    let bad = || JobsError::invalid(name, "must be a non-negative integer");
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}
