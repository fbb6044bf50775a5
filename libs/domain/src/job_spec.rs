//! What a job asks for: the arguments of `submit_job` (and `estimate_job`) read once, here, for
//! REST and MCP alike, with Jungle Grid's aliases accepted and every invalid field named in the
//! error. The result ([`JobSpec`]) is normalised: `command` is always an array, input references
//! are ids, expected artifacts are absolute paths under `/workspace/artifacts/`.

use crate::error_code::{ErrorCode, HasErrorCode};
use crate::ids::InputId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Where a job's outputs go; `expected_artifacts` name files there.
pub const ARTIFACTS_DIR: &str = "/workspace/artifacts/";

pub const NAME_MAX_CHARS: usize = 128;
pub const IMAGE_MAX_CHARS: usize = 256;
pub const TEMPLATE_MAX_CHARS: usize = 128;
pub const ARGV_MAX_ITEMS: usize = 256;
pub const ARGV_ITEM_MAX_BYTES: usize = 8 * 1024;
/// `command` and `args` together, so one huge argument list cannot fill the event store.
pub const ARGV_TOTAL_MAX_BYTES: usize = 64 * 1024;
pub const ENV_MAX_VARS: usize = 128;
pub const ENV_NAME_MAX_BYTES: usize = 128;
pub const ENV_VALUE_MAX_BYTES: usize = 32 * 1024;
pub const INPUTS_MAX: usize = 64;
pub const ARTIFACTS_MAX: usize = 64;
pub const ARTIFACT_PATH_MAX_BYTES: usize = 1024;
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

/// A refusal of a job's arguments, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The seed's exact message, whichever of the three is missing.
    #[error("name, image, and workload_type are required")]
    MissingRequired { missing: Vec<&'static str> },
    /// `estimate_job` needs only the workload type.
    #[error("workload_type is required")]
    MissingWorkloadType,
    #[error("{field} {reason}")]
    Invalid { field: String, reason: String },
}

impl SpecError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::Invalid { field: field.into(), reason: reason.into() }
    }

    /// The field the error names (the first missing one for [`SpecError::MissingRequired`]).
    pub fn field(&self) -> &str {
        match self {
            SpecError::MissingRequired { missing } => missing.first().copied().unwrap_or("name"),
            SpecError::MissingWorkloadType => "workload_type",
            SpecError::Invalid { field, .. } => field,
        }
    }
}

impl HasErrorCode for SpecError {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadType {
    Inference,
    Training,
    /// Written `fine_tuning`; `fine-tuning` (the REST spelling of the seed) is accepted.
    FineTuning,
    Batch,
}

impl WorkloadType {
    pub const ALLOWED: &'static str = "inference, training, fine_tuning, batch";

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "inference" => Some(Self::Inference),
            "training" => Some(Self::Training),
            "fine_tuning" | "fine-tuning" => Some(Self::FineTuning),
            "batch" => Some(Self::Batch),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inference => "inference",
            Self::Training => "training",
            Self::FineTuning => "fine_tuning",
            Self::Batch => "batch",
        }
    }
}

impl fmt::Display for WorkloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    Cost,
    Speed,
    #[default]
    Balanced,
}

impl RoutingMode {
    pub const ALLOWED: &'static str = "cost, speed, balanced";

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "cost" => Some(Self::Cost),
            "speed" => Some(Self::Speed),
            "balanced" => Some(Self::Balanced),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cost => "cost",
            Self::Speed => "speed",
            Self::Balanced => "balanced",
        }
    }
}

/// A submitted job's request, validated and normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub workload_type: WorkloadType,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_files: Vec<InputId>,
    /// `script_files` and `script_file` together, in that order, without repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script_files: Vec<InputId>,
    /// Absolute paths under [`ARTIFACTS_DIR`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_artifacts: Vec<String>,
    #[serde(default)]
    pub routing_mode: RoutingMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl JobSpec {
    /// Reads `submit_job`'s arguments (or the REST body): `workload` for `workload_type`,
    /// `command` as an array or one string, inputs as ids or `{"input_id": ...}`. Unknown
    /// fields are ignored, as the seed's API does.
    pub fn from_arguments(arguments: &Value) -> Result<JobSpec, SpecError> {
        let args = as_object(arguments)?;
        let name = optional_string(args, "name")?.filter(|s| !s.trim().is_empty());
        let image = optional_string(args, "image")?.filter(|s| !s.trim().is_empty());
        let workload = workload_argument(args)?.filter(|s| !s.trim().is_empty());
        let (Some(name), Some(image), Some(workload)) = (name.clone(), image.clone(), workload.clone()) else {
            let missing = [("name", name.is_none()), ("image", image.is_none()), ("workload_type", workload.is_none())]
                .into_iter()
                .filter_map(|(field, absent)| absent.then_some(field))
                .collect();
            return Err(SpecError::MissingRequired { missing });
        };
        let name = check_name(name)?;
        let image = check_image(image)?;
        let workload_type = parse_workload(&workload)?;
        let (command, args_list) = argv(args)?;
        let mut script_files = input_ids(args, "script_files")?;
        if let Some(one) = args.get("script_file").filter(|v| !v.is_null()) {
            let id = input_ref(one, "script_file")?;
            if !script_files.contains(&id) {
                script_files.push(id);
            }
        }
        Ok(JobSpec {
            name,
            workload_type,
            image,
            command,
            args: args_list,
            env: env(args)?,
            input_files: input_ids(args, "input_files")?,
            script_files,
            expected_artifacts: expected_artifacts(args)?,
            routing_mode: routing_mode(args)?,
            template: template(args)?,
            metadata: metadata(args)?,
        })
    }

    /// Every input the job mounts, inputs first, each once.
    pub fn referenced_inputs(&self) -> Vec<&InputId> {
        let mut ids: Vec<&InputId> = Vec::new();
        for id in self.input_files.iter().chain(&self.script_files) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// `estimate_job`'s arguments: only `workload_type` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateSpec {
    pub workload_type: WorkloadType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default)]
    pub routing_mode: RoutingMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Billions of parameters, as the seed's example gives it (`"model_size": 7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl EstimateSpec {
    pub fn from_arguments(arguments: &Value) -> Result<EstimateSpec, SpecError> {
        let args = as_object(arguments)?;
        let workload =
            workload_argument(args)?.filter(|s| !s.trim().is_empty()).ok_or(SpecError::MissingWorkloadType)?;
        let image = optional_string(args, "image")?.filter(|s| !s.trim().is_empty()).map(check_image).transpose()?;
        let (command, args_list) = argv(args)?;
        let model_size = match args.get("model_size") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| SpecError::invalid("model_size", "must be a non-negative number"))?,
            ),
        };
        Ok(EstimateSpec {
            workload_type: parse_workload(&workload)?,
            image,
            command,
            args: args_list,
            routing_mode: routing_mode(args)?,
            template: template(args)?,
            model_size,
            notes: optional_string(args, "notes")?,
        })
    }
}

/// A relative artifact path (`out/result.txt`) or an absolute one under [`ARTIFACTS_DIR`],
/// normalised to the absolute form. No `..`, `.` or empty segments: an artifact stays inside
/// the artifacts directory by construction.
pub fn normalise_artifact_path(path: &str) -> Result<String, String> {
    let relative = match path.strip_prefix(ARTIFACTS_DIR) {
        Some(rest) => rest,
        None if path.starts_with('/') => return Err(format!("'{path}' must be under {ARTIFACTS_DIR}")),
        None => path,
    };
    if relative.is_empty() {
        return Err("must name a file".into());
    }
    if path.len() > ARTIFACT_PATH_MAX_BYTES {
        return Err(format!("must be at most {ARTIFACT_PATH_MAX_BYTES} bytes"));
    }
    if relative.contains('\\') || relative.chars().any(char::is_control) {
        return Err(format!("'{path}' must not contain backslashes or control characters"));
    }
    if relative.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(format!("'{path}' must not contain empty, '.' or '..' segments"));
    }
    Ok(format!("{ARTIFACTS_DIR}{relative}"))
}

/// Splits a one-string `command` into words as a POSIX shell would, without running one:
/// whitespace separates, `'…'` is literal, `"…"` allows `\"`, `\\`, `\$` and `` \` ``, and
/// a backslash outside quotes escapes the next character. Nothing is expanded.
pub fn split_command_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("has an unterminated single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("has an unterminated double quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("has an unterminated double quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("ends with a lone backslash"),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

// ------------------------------------------------------------------------------------------
// Field readers: each names its field in the error.

fn as_object(arguments: &Value) -> Result<&Map<String, Value>, SpecError> {
    arguments.as_object().ok_or_else(|| SpecError::invalid("arguments", "must be a JSON object"))
}

fn optional_string(args: &Map<String, Value>, field: &str) -> Result<Option<String>, SpecError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SpecError::invalid(field, "must be a string")),
    }
}

/// `workload_type`, or its alias `workload` when it is absent.
fn workload_argument(args: &Map<String, Value>) -> Result<Option<String>, SpecError> {
    match optional_string(args, "workload_type")? {
        Some(value) => Ok(Some(value)),
        None => optional_string(args, "workload").map_err(|_| SpecError::invalid("workload", "must be a string")),
    }
}

fn parse_workload(value: &str) -> Result<WorkloadType, SpecError> {
    WorkloadType::parse(value).ok_or_else(|| {
        SpecError::invalid("workload_type", format!("must be one of {}; got '{value}'", WorkloadType::ALLOWED))
    })
}

fn routing_mode(args: &Map<String, Value>) -> Result<RoutingMode, SpecError> {
    match optional_string(args, "routing_mode")? {
        None => Ok(RoutingMode::default()),
        Some(value) => RoutingMode::parse(&value).ok_or_else(|| {
            SpecError::invalid("routing_mode", format!("must be one of {}; got '{value}'", RoutingMode::ALLOWED))
        }),
    }
}

fn check_name(name: String) -> Result<String, SpecError> {
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(SpecError::invalid("name", format!("must be at most {NAME_MAX_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(SpecError::invalid("name", "must not contain control characters"));
    }
    Ok(name)
}

fn check_image(image: String) -> Result<String, SpecError> {
    if image.chars().count() > IMAGE_MAX_CHARS {
        return Err(SpecError::invalid("image", format!("must be at most {IMAGE_MAX_CHARS} characters")));
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SpecError::invalid("image", "must not contain spaces or control characters"));
    }
    Ok(image)
}

fn template(args: &Map<String, Value>) -> Result<Option<String>, SpecError> {
    let template = optional_string(args, "template")?.filter(|s| !s.trim().is_empty());
    if template.as_ref().is_some_and(|t| t.chars().count() > TEMPLATE_MAX_CHARS) {
        return Err(SpecError::invalid("template", format!("must be at most {TEMPLATE_MAX_CHARS} characters")));
    }
    Ok(template)
}

/// `command` (an array of strings, or one string split into words) and `args`.
fn argv(args: &Map<String, Value>) -> Result<(Vec<String>, Vec<String>), SpecError> {
    let command = match args.get("command") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(line)) => split_command_line(line).map_err(|why| SpecError::invalid("command", why))?,
        Some(Value::Array(_)) => string_array(args, "command")?,
        Some(_) => return Err(SpecError::invalid("command", "must be an array of strings or one string")),
    };
    let arguments = string_array(args, "args")?;
    let mut total = 0;
    for (field, list) in [("command", &command), ("args", &arguments)] {
        if list.len() > ARGV_MAX_ITEMS {
            return Err(SpecError::invalid(field, format!("must have at most {ARGV_MAX_ITEMS} items")));
        }
        for (i, item) in list.iter().enumerate() {
            if item.len() > ARGV_ITEM_MAX_BYTES {
                return Err(SpecError::invalid(
                    format!("{field}[{i}]"),
                    format!("is longer than {ARGV_ITEM_MAX_BYTES} bytes"),
                ));
            }
            if item.contains('\0') {
                return Err(SpecError::invalid(format!("{field}[{i}]"), "must not contain NUL"));
            }
            total += item.len();
        }
    }
    if total > ARGV_TOTAL_MAX_BYTES {
        return Err(SpecError::invalid(
            "command",
            format!("and args together must be at most {ARGV_TOTAL_MAX_BYTES} bytes"),
        ));
    }
    Ok((command, arguments))
}

fn string_array(args: &Map<String, Value>, field: &str) -> Result<Vec<String>, SpecError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| SpecError::invalid(format!("{field}[{i}]"), "must be a string"))
            })
            .collect(),
        Some(_) => Err(SpecError::invalid(field, "must be an array of strings")),
    }
}

fn env(args: &Map<String, Value>) -> Result<BTreeMap<String, String>, SpecError> {
    let vars = match args.get("env") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(vars)) => vars,
        Some(_) => return Err(SpecError::invalid("env", "must be an object with string values")),
    };
    if vars.len() > ENV_MAX_VARS {
        return Err(SpecError::invalid("env", format!("must have at most {ENV_MAX_VARS} variables")));
    }
    let mut env = BTreeMap::new();
    for (name, value) in vars {
        let well_formed = name.len() <= ENV_NAME_MAX_BYTES
            && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Err(SpecError::invalid(
                format!("env.{name}"),
                "is not a valid variable name (letters, digits and '_', not starting with a digit)",
            ));
        }
        let Some(value) = value.as_str() else {
            return Err(SpecError::invalid(format!("env.{name}"), "must be a string"));
        };
        if value.len() > ENV_VALUE_MAX_BYTES || value.contains('\0') {
            return Err(SpecError::invalid(
                format!("env.{name}"),
                format!("must be at most {ENV_VALUE_MAX_BYTES} bytes, without NUL"),
            ));
        }
        env.insert(name.clone(), value.to_string());
    }
    Ok(env)
}

/// `[{"input_id": "inp_1"}, "inp_2"]`: ids in order, each once.
fn input_ids(args: &Map<String, Value>, field: &str) -> Result<Vec<InputId>, SpecError> {
    let items = match args.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(SpecError::invalid(field, "must be an array of input ids or {\"input_id\": ...} objects"))
        }
    };
    if items.len() > INPUTS_MAX {
        return Err(SpecError::invalid(field, format!("must have at most {INPUTS_MAX} items")));
    }
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = input_ref(item, &format!("{field}[{i}]"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn input_ref(item: &Value, field: &str) -> Result<InputId, SpecError> {
    let raw = match item {
        Value::String(id) => id.as_str(),
        Value::Object(o) => match o.get("input_id").or_else(|| o.get("inputId")) {
            Some(Value::String(id)) => id.as_str(),
            _ => return Err(SpecError::invalid(field, "must have a string input_id")),
        },
        _ => return Err(SpecError::invalid(field, "must be an input id or {\"input_id\": ...}")),
    };
    InputId::parse(raw).map_err(|e| SpecError::invalid(field, format!("is not an input id: {e}")))
}

fn expected_artifacts(args: &Map<String, Value>) -> Result<Vec<String>, SpecError> {
    let paths = string_array(args, "expected_artifacts")?;
    if paths.len() > ARTIFACTS_MAX {
        return Err(SpecError::invalid("expected_artifacts", format!("must have at most {ARTIFACTS_MAX} items")));
    }
    let mut normalised: Vec<String> = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let path =
            normalise_artifact_path(path).map_err(|why| SpecError::invalid(format!("expected_artifacts[{i}]"), why))?;
        if !normalised.contains(&path) {
            normalised.push(path);
        }
    }
    Ok(normalised)
}

fn metadata(args: &Map<String, Value>) -> Result<Map<String, Value>, SpecError> {
    match args.get("metadata") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => {
            // Serialising a JSON value cannot fail; the length bounds what the store keeps.
            let size = serde_json::to_string(map).map(|s| s.len()).unwrap_or(usize::MAX);
            if size > METADATA_MAX_BYTES {
                return Err(SpecError::invalid(
                    "metadata",
                    format!("must be at most {METADATA_MAX_BYTES} bytes as JSON"),
                ));
            }
            Ok(map.clone())
        }
        Some(_) => Err(SpecError::invalid("metadata", "must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inp(id: &str) -> InputId {
        InputId::parse(id).unwrap()
    }

    /// The seed's file-backed submit, verbatim.
    fn seed_submit() -> Value {
        json!({
            "name": "transcribe-audio",
            "workload_type": "inference",
            "image": "python:3.11-slim",
            "command": ["python", "/workspace/scripts/transcribe.py", "/workspace/inputs/audio.ogg", "/workspace/artifacts/transcript.txt"],
            "script_files": [{ "input_id": "inp_script123" }],
            "input_files": [{ "input_id": "inp_audio123" }],
            "expected_artifacts": ["/workspace/artifacts/transcript.txt"],
            "routing_mode": "balanced",
            "metadata": { "request_id": "req_123" }
        })
    }

    #[test]
    fn the_seed_submit_reads_as_given() {
        let spec = JobSpec::from_arguments(&seed_submit()).unwrap();
        assert_eq!(spec.name, "transcribe-audio");
        assert_eq!(spec.workload_type, WorkloadType::Inference);
        assert_eq!(spec.command.len(), 4);
        assert_eq!(spec.input_files, vec![inp("inp_audio123")]);
        assert_eq!(spec.script_files, vec![inp("inp_script123")]);
        assert_eq!(spec.expected_artifacts, vec!["/workspace/artifacts/transcript.txt"]);
        assert_eq!(spec.routing_mode, RoutingMode::Balanced);
        assert_eq!(spec.metadata["request_id"], "req_123");
        assert_eq!(spec.referenced_inputs(), vec![&inp("inp_audio123"), &inp("inp_script123")]);
    }

    #[test]
    fn aliases_and_normal_forms() {
        let spec = JobSpec::from_arguments(&json!({
            "name": "n", "workload": "fine-tuning", "image": "python:3.12",
            "command": "python -c 'print(\"hi there\")'",
            "input_files": ["inp_a", {"input_id": "inp_b"}, "inp_a"],
            "script_files": ["inp_s"], "script_file": {"input_id": "inp_s2"},
            "expected_artifacts": ["out.txt", "/workspace/artifacts/dir/b.bin", "out.txt"],
        }))
        .unwrap();
        assert_eq!(spec.workload_type, WorkloadType::FineTuning);
        assert_eq!(spec.command, vec!["python", "-c", "print(\"hi there\")"]);
        assert_eq!(spec.input_files, vec![inp("inp_a"), inp("inp_b")]);
        assert_eq!(spec.script_files, vec![inp("inp_s"), inp("inp_s2")]);
        assert_eq!(spec.expected_artifacts, vec!["/workspace/artifacts/out.txt", "/workspace/artifacts/dir/b.bin"]);
        assert_eq!(serde_json::to_value(spec.workload_type).unwrap(), "fine_tuning");
    }

    #[test]
    fn missing_required_fields_give_the_seed_message() {
        for args in [
            json!({}),
            json!({"name": "n", "image": "i"}),
            json!({"name": " ", "image": "i", "workload_type": "batch"}),
        ] {
            let err = JobSpec::from_arguments(&args).unwrap_err();
            assert_eq!(err.to_string(), "name, image, and workload_type are required", "{args}");
            assert_eq!(err.code(), ErrorCode::InvalidRequest);
        }
        let err = JobSpec::from_arguments(&json!({"name": "n", "image": "i"})).unwrap_err();
        assert_eq!(err, SpecError::MissingRequired { missing: vec!["workload_type"] });
        assert_eq!(err.field(), "workload_type");
        assert_eq!(EstimateSpec::from_arguments(&json!({})).unwrap_err().to_string(), "workload_type is required");
    }

    /// Each bad field, and the message that names it.
    #[test]
    fn invalid_fields_are_named() {
        let cases: &[(Value, &str)] = &[
            (json!("not an object"), "arguments must be a JSON object"),
            (json!({"workload_type": "gaming"}), "workload_type must be one of inference, training, fine_tuning, batch; got 'gaming'"),
            (json!({"routing_mode": "cheap"}), "routing_mode must be one of cost, speed, balanced; got 'cheap'"),
            (json!({"name": 5}), "name must be a string"),
            (json!({"name": "x".repeat(129)}), "name must be at most 128 characters"),
            (json!({"image": "python 3"}), "image must not contain spaces or control characters"),
            (json!({"command": 7}), "command must be an array of strings or one string"),
            (json!({"command": ["a", 1]}), "command[1] must be a string"),
            (json!({"command": "echo 'oops"}), "command has an unterminated single quote"),
            (json!({"args": ["a\u{0}b"]}), "args[0] must not contain NUL"),
            (json!({"args": vec!["x"; 257]}), "args must have at most 256 items"),
            (json!({"args": ["x".repeat(8193)]}), "args[0] is longer than 8192 bytes"),
            (json!({"args": vec!["x".repeat(8000); 9]}), "command and args together must be at most 65536 bytes"),
            (json!({"env": ["A=1"]}), "env must be an object with string values"),
            (json!({"env": {"A": 1}}), "env.A must be a string"),
            (json!({"env": {"1A": "x"}}), "env.1A is not a valid variable name (letters, digits and '_', not starting with a digit)"),
            (json!({"input_files": "inp_1"}), "input_files must be an array of input ids or {\"input_id\": ...} objects"),
            (json!({"input_files": [{"id": "inp_1"}]}), "input_files[0] must have a string input_id"),
            (json!({"script_file": "job_1"}), "script_file is not an input id: input id 'job_1' may only contain 'inp_' followed by letters, digits, '_' and '-'"),
            (json!({"expected_artifacts": ["/etc/passwd"]}), "expected_artifacts[0] '/etc/passwd' must be under /workspace/artifacts/"),
            (json!({"expected_artifacts": ["../x"]}), "expected_artifacts[0] '../x' must not contain empty, '.' or '..' segments"),
            (json!({"expected_artifacts": ["/workspace/artifacts/"]}), "expected_artifacts[0] must name a file"),
            (json!({"metadata": [1]}), "metadata must be an object"),
            (json!({"metadata": {"k": "x".repeat(20_000)}}), "metadata must be at most 16384 bytes as JSON"),
            (json!({"template": "t".repeat(200)}), "template must be at most 128 characters"),
        ];
        for (overrides, expected) in cases {
            let args = match overrides {
                Value::Object(o) => {
                    let mut base = json!({"name": "n", "image": "python:3.11", "workload_type": "batch"});
                    for (k, v) in o {
                        base[k] = v.clone();
                    }
                    base
                }
                other => other.clone(),
            };
            let err = JobSpec::from_arguments(&args).unwrap_err();
            assert_eq!(err.to_string(), *expected);
            assert_eq!(err.code(), ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn estimate_needs_only_the_workload_type() {
        let e = EstimateSpec::from_arguments(&json!({
            "workload_type": "inference", "model_size": 7, "image": "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime",
            "command": ["python", "infer.py"], "routing_mode": "balanced", "notes": "single model inference run"
        }))
        .unwrap();
        assert_eq!(
            (e.workload_type, e.model_size, e.routing_mode),
            (WorkloadType::Inference, Some(7.0), RoutingMode::Balanced)
        );
        assert_eq!(
            EstimateSpec::from_arguments(&json!({"workload": "batch"})).unwrap().workload_type,
            WorkloadType::Batch
        );
        assert_eq!(
            EstimateSpec::from_arguments(&json!({"workload_type": "batch", "model_size": "big"}))
                .unwrap_err()
                .to_string(),
            "model_size must be a non-negative number"
        );
    }

    #[test]
    fn command_lines_split_like_a_shell_without_one() {
        let check = |line: &str, words: &[&str]| assert_eq!(split_command_line(line).unwrap(), words, "{line}");
        check("", &[]);
        check("  python  train.py --epochs 3 ", &["python", "train.py", "--epochs", "3"]);
        check(r#"echo "a b" 'c d' e\ f"#, &["echo", "a b", "c d", "e f"]);
        check(r#"echo "q\"uote" '$HOME' "\$HOME""#, &["echo", "q\"uote", "$HOME", "$HOME"]);
        check(r#"a'b'"c" ''"#, &["abc", ""]);
        assert!(split_command_line("echo \"open").is_err());
        assert!(split_command_line("trailing\\").is_err());
    }

    #[test]
    fn specs_round_trip() {
        let spec = JobSpec::from_arguments(&seed_submit()).unwrap();
        let back: JobSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }
}
