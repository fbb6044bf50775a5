//! An uploaded job input (`upload_job_input`): a slot is created with a checked filename, the
//! client uploads the bytes to storage and completes it, and the input is `ready` to be mounted
//! read-only at `/workspace/inputs/<filename>` (or `/workspace/scripts/<filename>` for a
//! script). One stream per input id. Signed URLs and tokens are the service's: the domain sees
//! only what storage says it holds.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::error_code::{ErrorCode, HasErrorCode};
use crate::ids::InputId;
use serde::{Deserialize, Serialize};

pub const FILENAME_MAX_BYTES: usize = 255;
pub const KIND_MAX_CHARS: usize = 64;
pub const CONTENT_TYPE_MAX_BYTES: usize = 255;
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
pub const DEFAULT_KIND: &str = "input";
/// The kind, by convention, of scripts; they mount under [`SCRIPTS_DIR`].
pub const SCRIPT_KIND: &str = "script";
pub const INPUTS_DIR: &str = "/workspace/inputs/";
pub const SCRIPTS_DIR: &str = "/workspace/scripts/";

#[derive(Debug, Clone, PartialEq)]
pub enum InputCommand {
    /// `upload_job_input`. `max_size_bytes` is the tenant's upload limit, fixed for this slot.
    CreateSlot {
        id: InputId,
        filename: String,
        content_type: Option<String>,
        kind: Option<String>,
        max_size_bytes: u64,
    },
    /// The `complete_url` call, after the service checked its token.
    Complete(Completion),
}

/// What the client declared when completing an upload, and what storage actually holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub declared_size_bytes: Option<u64>,
    pub stored_size_bytes: u64,
    pub etag: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputEvent {
    SlotCreated {
        id: InputId,
        filename: String,
        content_type: String,
        kind: String,
        mount_path: String,
        max_size_bytes: u64,
    },
    Completed {
        size_bytes: u64,
        content_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        etag: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

const INPUT_EVENT_TYPES: &[&str] = &["job_input.slot_created", "job_input.completed"];

impl DomainEvent for InputEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InputEvent::SlotCreated { .. } => INPUT_EVENT_TYPES[0],
            InputEvent::Completed { .. } => INPUT_EVENT_TYPES[1],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(INPUT_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("filename {0}")]
    InvalidFilename(&'static str),
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("input '{0}' already exists")]
    AlreadyExists(InputId),
    #[error("the input does not exist")]
    NotFound,
    #[error("size_bytes {declared} does not match the {stored} bytes uploaded")]
    SizeMismatch { declared: u64, stored: u64 },
    #[error("the upload is {stored} bytes, more than the {limit} allowed")]
    TooLarge { stored: u64, limit: u64 },
    #[error("filename '{given}' does not match the slot's '{expected}'")]
    FilenameMismatch { given: String, expected: String },
    #[error("the input was already completed with different content")]
    AlreadyCompleted,
}

impl HasErrorCode for InputError {
    fn code(&self) -> ErrorCode {
        match self {
            InputError::NotFound => ErrorCode::JobInputNotFound,
            InputError::AlreadyExists(_) | InputError::AlreadyCompleted => ErrorCode::Conflict,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// Checks a filename that becomes a path in the job's workspace: one segment, nothing that
/// could climb out of the directory it is mounted in.
pub fn validate_filename(filename: &str) -> Result<(), InputError> {
    let bad = |why| Err(InputError::InvalidFilename(why));
    if filename.is_empty() {
        return bad("is required");
    }
    if filename.len() > FILENAME_MAX_BYTES {
        return bad("must be at most 255 bytes");
    }
    if filename.contains('/') || filename.contains('\\') {
        return bad("must not contain '/' or '\\'");
    }
    if filename.contains("..") || filename == "." {
        return bad("must not be '.' or contain '..'");
    }
    if filename.chars().any(char::is_control) {
        return bad("must not contain NUL or other control characters");
    }
    Ok(())
}

/// Where an input of this kind is mounted, read-only, in the job's workspace.
pub fn mount_path(kind: &str, filename: &str) -> String {
    let dir = if kind == SCRIPT_KIND { SCRIPTS_DIR } else { INPUTS_DIR };
    format!("{dir}{filename}")
}

fn content_type_or_default(content_type: Option<&str>) -> Result<String, InputError> {
    let Some(value) = content_type.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_CONTENT_TYPE.to_string());
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    let essence = value.split(';').next().unwrap_or_default().trim();
    let well_formed = value.len() <= CONTENT_TYPE_MAX_BYTES
        && !value.chars().any(char::is_control)
        && essence.split_once('/').is_some_and(|(t, s)| token(t) && token(s));
    if !well_formed {
        return Err(InputError::Invalid {
            field: "content_type",
            reason: format!("'{value}' is not a media type like text/x-python"),
        });
    }
    Ok(value.to_string())
}

fn kind_or_default(kind: Option<&str>) -> Result<String, InputError> {
    let Some(kind) = kind.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(DEFAULT_KIND.to_string());
    };
    if kind.chars().count() > KIND_MAX_CHARS || kind.chars().any(char::is_control) {
        return Err(InputError::Invalid {
            field: "kind",
            reason: format!("must be at most {KIND_MAX_CHARS} characters, without control characters"),
        });
    }
    Ok(kind.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputStatus {
    /// The slot exists; the bytes have not been completed.
    Pending,
    Ready,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputState {
    pub id: InputId,
    pub filename: String,
    pub content_type: String,
    pub kind: String,
    pub mount_path: String,
    pub max_size_bytes: u64,
    pub status: InputStatus,
    pub size_bytes: Option<u64>,
    pub etag: Option<String>,
    pub sha256: Option<String>,
}

/// A ready input as a job records it at submit: what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountedInput {
    pub input_id: InputId,
    pub filename: String,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub mount_path: String,
}

/// What the submit path found for a referenced input id in the tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum InputLookup {
    Ready(MountedInput),
    NotReady,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum JobInput {
    #[default]
    Absent,
    Present(InputState),
}

impl JobInput {
    pub fn state(&self) -> Option<&InputState> {
        match self {
            JobInput::Present(s) => Some(s),
            JobInput::Absent => None,
        }
    }

    /// How a job's submit sees this input: `None` when it does not exist.
    pub fn lookup(&self) -> Option<InputLookup> {
        let s = self.state()?;
        Some(match (s.status, s.size_bytes) {
            (InputStatus::Ready, Some(size_bytes)) => InputLookup::Ready(MountedInput {
                input_id: s.id.clone(),
                filename: s.filename.clone(),
                kind: s.kind.clone(),
                content_type: s.content_type.clone(),
                size_bytes,
                sha256: s.sha256.clone(),
                mount_path: s.mount_path.clone(),
            }),
            _ => InputLookup::NotReady,
        })
    }
}

impl Aggregate for JobInput {
    const TYPE: &'static str = "job_input";
    type Command = InputCommand;
    type Event = InputEvent;
    type Error = InputError;

    fn decide(&self, command: &InputCommand) -> Result<Vec<InputEvent>, InputError> {
        match (self, command) {
            (JobInput::Present(s), InputCommand::CreateSlot { .. }) => Err(InputError::AlreadyExists(s.id.clone())),
            (JobInput::Absent, InputCommand::CreateSlot { id, filename, content_type, kind, max_size_bytes }) => {
                validate_filename(filename)?;
                let kind = kind_or_default(kind.as_deref())?;
                Ok(vec![InputEvent::SlotCreated {
                    id: id.clone(),
                    filename: filename.clone(),
                    content_type: content_type_or_default(content_type.as_deref())?,
                    mount_path: mount_path(&kind, filename),
                    kind,
                    max_size_bytes: *max_size_bytes,
                }])
            }
            (JobInput::Absent, InputCommand::Complete(_)) => Err(InputError::NotFound),
            (JobInput::Present(s), InputCommand::Complete(completion)) => decide_complete(s, completion),
        }
    }

    fn apply(self, event: &InputEvent) -> JobInput {
        match (self, event) {
            (_, InputEvent::SlotCreated { id, filename, content_type, kind, mount_path, max_size_bytes }) => {
                JobInput::Present(InputState {
                    id: id.clone(),
                    filename: filename.clone(),
                    content_type: content_type.clone(),
                    kind: kind.clone(),
                    mount_path: mount_path.clone(),
                    max_size_bytes: *max_size_bytes,
                    status: InputStatus::Pending,
                    size_bytes: None,
                    etag: None,
                    sha256: None,
                })
            }
            (JobInput::Present(mut s), InputEvent::Completed { size_bytes, content_type, etag, sha256 }) => {
                s.status = InputStatus::Ready;
                s.size_bytes = Some(*size_bytes);
                s.content_type = content_type.clone();
                s.etag = etag.clone();
                s.sha256 = sha256.clone();
                JobInput::Present(s)
            }
            (state, InputEvent::Completed { .. }) => state,
        }
    }
}

fn decide_complete(slot: &InputState, completion: &Completion) -> Result<Vec<InputEvent>, InputError> {
    let Completion { filename, content_type, declared_size_bytes, stored_size_bytes, etag, sha256 } = completion;
    if let Some(given) = filename.as_ref().filter(|f| **f != slot.filename) {
        return Err(InputError::FilenameMismatch { given: given.clone(), expected: slot.filename.clone() });
    }
    if let Some(declared) = declared_size_bytes.filter(|d| d != stored_size_bytes) {
        return Err(InputError::SizeMismatch { declared, stored: *stored_size_bytes });
    }
    if *stored_size_bytes > slot.max_size_bytes {
        return Err(InputError::TooLarge { stored: *stored_size_bytes, limit: slot.max_size_bytes });
    }
    if let Some(digest) = sha256.as_deref().filter(|d| !is_sha256_hex(d)) {
        return Err(InputError::Invalid {
            field: "sha256",
            reason: format!("'{digest}' is not 64 lowercase hex characters"),
        });
    }
    let content_type = match content_type {
        Some(given) => content_type_or_default(Some(given))?,
        None => slot.content_type.clone(),
    };
    let completed = InputEvent::Completed {
        size_bytes: *stored_size_bytes,
        content_type,
        etag: etag.clone(),
        sha256: sha256.clone(),
    };
    if slot.status == InputStatus::Ready {
        // A retried completion is harmless; a different one would change a file jobs may
        // already have mounted.
        let same = slot.size_bytes == Some(*stored_size_bytes) && slot.etag == *etag && slot.sha256 == *sha256;
        return if same { Ok(vec![]) } else { Err(InputError::AlreadyCompleted) };
    }
    Ok(vec![completed])
}

pub(crate) fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> InputId {
        InputId::parse("inp_1").unwrap()
    }

    fn create(filename: &str, kind: Option<&str>) -> InputCommand {
        InputCommand::CreateSlot {
            id: id(),
            filename: filename.into(),
            content_type: Some("text/x-python".into()),
            kind: kind.map(str::to_string),
            max_size_bytes: 1000,
        }
    }

    fn complete(declared: Option<u64>, stored: u64) -> InputCommand {
        InputCommand::Complete(Completion {
            declared_size_bytes: declared,
            stored_size_bytes: stored,
            etag: Some("e1".into()),
            ..Default::default()
        })
    }

    fn run(state: JobInput, command: &InputCommand) -> JobInput {
        let events = state.decide(command).unwrap();
        events.iter().fold(state, |s, e| s.apply(e))
    }

    #[test]
    fn filenames() {
        for good in ["transcribe.py", "audio.ogg", "a b.txt", "ünïcode.csv", ".hidden", &"x".repeat(255)] {
            assert_eq!(validate_filename(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "filename is required"),
            ("a/b", "filename must not contain '/' or '\\'"),
            ("..\\x", "filename must not contain '/' or '\\'"),
            ("..", "filename must not be '.' or contain '..'"),
            (".", "filename must not be '.' or contain '..'"),
            ("a\0b", "filename must not contain NUL or other control characters"),
            (&"x".repeat(256), "filename must be at most 255 bytes"),
        ] {
            assert_eq!(validate_filename(bad).unwrap_err().to_string(), why, "{bad:?}");
        }
    }

    #[test]
    fn slots_mount_by_kind() {
        let script = run(JobInput::Absent, &create("transcribe.py", Some("script")));
        assert_eq!(script.state().unwrap().mount_path, "/workspace/scripts/transcribe.py");
        let input = run(JobInput::Absent, &create("audio.ogg", None));
        let s = input.state().unwrap();
        assert_eq!((s.kind.as_str(), s.mount_path.as_str()), ("input", "/workspace/inputs/audio.ogg"));
        let other = run(JobInput::Absent, &create("w.bin", Some("weights")));
        assert_eq!(other.state().unwrap().mount_path, "/workspace/inputs/w.bin", "any kind is accepted");
        assert_eq!(input.decide(&create("x", None)), Err(InputError::AlreadyExists(id())));
    }

    #[test]
    fn content_types_default_and_are_checked() {
        let mut cmd = create("a", None);
        if let InputCommand::CreateSlot { content_type, .. } = &mut cmd {
            *content_type = None;
        }
        assert_eq!(run(JobInput::Absent, &cmd).state().unwrap().content_type, DEFAULT_CONTENT_TYPE);
        if let InputCommand::CreateSlot { content_type, .. } = &mut cmd {
            *content_type = Some("not a type".into());
        }
        let err = JobInput::Absent.decide(&cmd).unwrap_err();
        assert_eq!((err.code(), err.to_string().starts_with("content_type ")), (ErrorCode::InvalidRequest, true));
        if let InputCommand::CreateSlot { content_type, .. } = &mut cmd {
            *content_type = Some("text/plain; charset=utf-8".into());
        }
        assert!(JobInput::Absent.decide(&cmd).is_ok());
    }

    #[test]
    fn completion_makes_the_input_ready_once() {
        let slot = run(JobInput::Absent, &create("audio.ogg", None));
        assert_eq!(slot.lookup(), Some(InputLookup::NotReady));
        let ready = run(slot, &complete(Some(10), 10));
        assert_eq!(ready.state().unwrap().status, InputStatus::Ready);
        let Some(InputLookup::Ready(mounted)) = ready.lookup() else { panic!("ready") };
        assert_eq!((mounted.size_bytes, mounted.mount_path.as_str()), (10, "/workspace/inputs/audio.ogg"));
        assert_eq!(ready.decide(&complete(Some(10), 10)), Ok(vec![]), "a retried completion changes nothing");
        assert_eq!(ready.decide(&complete(None, 11)), Err(InputError::AlreadyCompleted));
        assert_eq!(InputError::AlreadyCompleted.code(), ErrorCode::Conflict);
        assert_eq!(JobInput::Absent.lookup(), None);
    }

    #[test]
    fn completion_checks_size_filename_and_digest() {
        let slot = run(JobInput::Absent, &create("audio.ogg", None));
        assert_eq!(slot.decide(&complete(Some(9), 10)), Err(InputError::SizeMismatch { declared: 9, stored: 10 }));
        assert_eq!(slot.decide(&complete(None, 1001)), Err(InputError::TooLarge { stored: 1001, limit: 1000 }));
        let renamed = InputCommand::Complete(Completion {
            filename: Some("other.ogg".into()),
            stored_size_bytes: 1,
            ..Default::default()
        });
        assert!(matches!(slot.decide(&renamed), Err(InputError::FilenameMismatch { .. })));
        let bad_digest = InputCommand::Complete(Completion {
            stored_size_bytes: 1,
            sha256: Some("xyz".into()),
            ..Default::default()
        });
        assert!(matches!(slot.decide(&bad_digest), Err(InputError::Invalid { field: "sha256", .. })));
        assert_eq!(JobInput::Absent.decide(&complete(None, 1)), Err(InputError::NotFound));
        assert_eq!(InputError::NotFound.code(), ErrorCode::JobInputNotFound);
    }

    #[test]
    fn events_round_trip() {
        let slot_events = JobInput::Absent.decide(&create("t.py", Some("script"))).unwrap();
        let state = JobInput::fold(&slot_events);
        let mut events = slot_events;
        events.extend(state.decide(&complete(Some(3), 3)).unwrap());
        for e in &events {
            let v = serde_json::to_value(e).unwrap();
            let back: InputEvent = serde_json::from_value(InputEvent::upcast(e.event_type(), 1, v).unwrap()).unwrap();
            assert_eq!(&back, e);
        }
        assert!(matches!(
            InputEvent::upcast("job_input.completed", 2, serde_json::json!({})),
            Err(UpcastError::FromTheFuture { .. })
        ));
    }
}
