//! The Python environment aggregate behind the `python` built-in (Jumpboot's tools): one stream
//! per environment id within its tenant, from `create_environment` (or `restore_environment`)
//! to `destroy_environment`. It keeps what is needed to re-create the environment on any
//! worker (the interpreter version, egress, and the frozen specification after every change of
//! its packages, kept as the engine's JSON), who owns it, and the REPL sessions and processes
//! started in it, so that those a worker lost are listed as ended with the reason, never
//! silently gone.
//!
//! The bytes of the environment (its venv, its workspace files) live on a worker's disk; only
//! the specification is here. Workspace files are not durable yet.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a session or process ended when the worker that ran it is gone.
pub const REASON_WORKER_RESTARTED: &str = "worker_restarted";
/// Why the sessions of a destroyed environment ended.
pub const REASON_ENVIRONMENT_DESTROYED: &str = "environment_destroyed";

const NAME_MAX_CHARS: usize = 128;
const ID_MAX_LEN: usize = 64;

/// A REPL session or a spawned process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Repl,
    Process,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Repl => "repl",
            SessionKind::Process => "process",
        }
    }
}

/// What the aggregate remembers of a session or process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub kind: SessionKind,
    pub name: String,
    /// The principal that started it.
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_path: Option<String>,
    /// `None` while it runs (as far as the event log knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonEnvState {
    pub name: String,
    /// The principal that created it (with the tenant of the stream, its owner).
    pub owner: String,
    /// The interpreter's full version (`3.11.2`).
    pub python_version: String,
    pub allow_egress: bool,
    /// The engine's frozen specification (`canopy-python-env/v1`) after the last change.
    pub frozen: serde_json::Value,
    pub sessions: BTreeMap<String, SessionRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum PythonEnv {
    #[default]
    Absent,
    Active(Box<PythonEnvState>),
    Destroyed,
}

impl PythonEnv {
    pub fn state(&self) -> Option<&PythonEnvState> {
        match self {
            PythonEnv::Active(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PythonEnvCommand {
    /// `create_environment` or `restore_environment`, after the engine made it.
    Create {
        name: String,
        owner: String,
        python_version: String,
        allow_egress: bool,
        frozen: serde_json::Value,
        /// The worker that made it, which holds its files, REPLs and processes.
        worker: Option<String>,
    },
    /// After an install (or anything else that changed the packages): the new frozen spec.
    RecordPackages {
        frozen: serde_json::Value,
    },
    /// A worker re-created it from its frozen specification (it was not on that worker's disk):
    /// every session the log still has running ended with the worker that ran it.
    Restore {
        worker: String,
    },
    StartSession {
        session_id: String,
        kind: SessionKind,
        name: String,
        owner: String,
        script_path: Option<String>,
    },
    EndSession {
        session_id: String,
        reason: String,
    },
    /// `repl_destroy`: the session is forgotten.
    RemoveSession {
        session_id: String,
    },
    Destroy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PythonEnvEvent {
    Created {
        name: String,
        owner: String,
        python_version: String,
        allow_egress: bool,
        frozen: serde_json::Value,
        /// The worker that made it (absent in events of earlier versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    },
    PackagesChanged {
        frozen: serde_json::Value,
    },
    Restored {
        worker: String,
    },
    SessionStarted {
        session_id: String,
        kind: SessionKind,
        name: String,
        owner: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script_path: Option<String>,
    },
    SessionEnded {
        session_id: String,
        reason: String,
    },
    SessionRemoved {
        session_id: String,
    },
    /// Its sessions end with it (`environment_destroyed`).
    Destroyed,
}

const EVENT_TYPES: &[&str] = &[
    "python_env.created",
    "python_env.packages_changed",
    "python_env.restored",
    "python_env.session_started",
    "python_env.session_ended",
    "python_env.session_removed",
    "python_env.destroyed",
];

impl DomainEvent for PythonEnvEvent {
    fn event_type(&self) -> &'static str {
        EVENT_TYPES[match self {
            PythonEnvEvent::Created { .. } => 0,
            PythonEnvEvent::PackagesChanged { .. } => 1,
            PythonEnvEvent::Restored { .. } => 2,
            PythonEnvEvent::SessionStarted { .. } => 3,
            PythonEnvEvent::SessionEnded { .. } => 4,
            PythonEnvEvent::SessionRemoved { .. } => 5,
            PythonEnvEvent::Destroyed => 6,
        }]
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PythonEnvError {
    #[error("the environment already exists")]
    AlreadyExists,
    #[error("no such environment")]
    NotFound,
    #[error("invalid {field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("session {0} already exists")]
    SessionExists(String),
    #[error("no such session {0}")]
    NoSuchSession(String),
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), PythonEnvError> {
    let bad = |why: &str| Err(PythonEnvError::Invalid { field, why: why.to_owned() });
    if value.trim().is_empty() {
        return bad("empty");
    }
    if value.chars().count() > max {
        return bad(&format!("longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    Ok(())
}

fn check_id(field: &'static str, value: &str) -> Result<(), PythonEnvError> {
    let ok = !value.is_empty()
        && value.len() <= ID_MAX_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PythonEnvError::Invalid { field, why: format!("{value:?} is not an id ([A-Za-z0-9_-], 1 to 64)") })
    }
}

fn check_frozen(frozen: &serde_json::Value) -> Result<(), PythonEnvError> {
    let ok = frozen.get("format").is_some_and(|f| f.is_string())
        && frozen.get("python_version").is_some_and(|v| v.is_string())
        && frozen.get("packages").is_some_and(|p| p.is_array());
    if ok {
        Ok(())
    } else {
        Err(PythonEnvError::Invalid { field: "frozen", why: "needs format, python_version and packages".into() })
    }
}

impl Aggregate for PythonEnv {
    const TYPE: &'static str = "python_env";
    type Command = PythonEnvCommand;
    type Event = PythonEnvEvent;
    type Error = PythonEnvError;

    fn decide(&self, command: &PythonEnvCommand) -> Result<Vec<PythonEnvEvent>, PythonEnvError> {
        use PythonEnvCommand as C;
        use PythonEnvEvent as E;
        let state = match (self, command) {
            (PythonEnv::Absent, C::Create { name, owner, python_version, allow_egress, frozen, worker }) => {
                check_text("name", name, NAME_MAX_CHARS)?;
                check_text("owner", owner, 256)?;
                check_text("python_version", python_version, 32)?;
                check_frozen(frozen)?;
                return Ok(vec![E::Created {
                    name: name.clone(),
                    owner: owner.clone(),
                    python_version: python_version.clone(),
                    allow_egress: *allow_egress,
                    frozen: frozen.clone(),
                    worker: worker.clone(),
                }]);
            }
            // An id is never reused, not even after a destroy.
            (PythonEnv::Active(_) | PythonEnv::Destroyed, C::Create { .. }) => {
                return Err(PythonEnvError::AlreadyExists)
            }
            (PythonEnv::Absent | PythonEnv::Destroyed, _) => return Err(PythonEnvError::NotFound),
            (PythonEnv::Active(state), _) => state,
        };
        let running = |id: &str| state.sessions.get(id).filter(|s| s.ended.is_none());
        Ok(match command {
            C::Create { .. } => unreachable!("handled above"),
            C::RecordPackages { frozen } => {
                check_frozen(frozen)?;
                if *frozen == state.frozen {
                    vec![]
                } else {
                    vec![E::PackagesChanged { frozen: frozen.clone() }]
                }
            }
            C::Restore { worker } => {
                check_text("worker", worker, 256)?;
                let mut events = vec![E::Restored { worker: worker.clone() }];
                for (id, _) in state.sessions.iter().filter(|(_, s)| s.ended.is_none()) {
                    events.push(E::SessionEnded { session_id: id.clone(), reason: REASON_WORKER_RESTARTED.into() });
                }
                events
            }
            C::StartSession { session_id, kind, name, owner, script_path } => {
                check_id("session_id", session_id)?;
                check_text("name", name, NAME_MAX_CHARS)?;
                check_text("owner", owner, 256)?;
                if state.sessions.contains_key(session_id) {
                    return Err(PythonEnvError::SessionExists(session_id.clone()));
                }
                vec![E::SessionStarted {
                    session_id: session_id.clone(),
                    kind: *kind,
                    name: name.clone(),
                    owner: owner.clone(),
                    script_path: script_path.clone(),
                }]
            }
            C::EndSession { session_id, reason } => {
                check_text("reason", reason, 128)?;
                match (state.sessions.get(session_id), running(session_id)) {
                    (None, _) => return Err(PythonEnvError::NoSuchSession(session_id.clone())),
                    (Some(_), None) => vec![], // already ended: the first reason stands
                    (Some(_), Some(_)) => {
                        vec![E::SessionEnded { session_id: session_id.clone(), reason: reason.clone() }]
                    }
                }
            }
            C::RemoveSession { session_id } => {
                if !state.sessions.contains_key(session_id) {
                    return Err(PythonEnvError::NoSuchSession(session_id.clone()));
                }
                vec![E::SessionRemoved { session_id: session_id.clone() }]
            }
            C::Destroy => vec![E::Destroyed],
        })
    }

    fn apply(self, event: &PythonEnvEvent) -> PythonEnv {
        use PythonEnvEvent as E;
        match (self, event) {
            (_, E::Created { name, owner, python_version, allow_egress, frozen, .. }) => {
                PythonEnv::Active(Box::new(PythonEnvState {
                    name: name.clone(),
                    owner: owner.clone(),
                    python_version: python_version.clone(),
                    allow_egress: *allow_egress,
                    frozen: frozen.clone(),
                    sessions: BTreeMap::new(),
                }))
            }
            (_, E::Destroyed) => PythonEnv::Destroyed,
            (PythonEnv::Active(mut s), event) => {
                match event {
                    E::PackagesChanged { frozen } => s.frozen = frozen.clone(),
                    E::Restored { .. } => {}
                    E::SessionStarted { session_id, kind, name, owner, script_path } => {
                        s.sessions.insert(
                            session_id.clone(),
                            SessionRecord {
                                kind: *kind,
                                name: name.clone(),
                                owner: owner.clone(),
                                script_path: script_path.clone(),
                                ended: None,
                            },
                        );
                    }
                    E::SessionEnded { session_id, reason } => {
                        if let Some(session) = s.sessions.get_mut(session_id) {
                            session.ended.get_or_insert_with(|| reason.clone());
                        }
                    }
                    E::SessionRemoved { session_id } => {
                        s.sessions.remove(session_id);
                    }
                    E::Created { .. } | E::Destroyed => unreachable!("matched above"),
                }
                PythonEnv::Active(s)
            }
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frozen(packages: serde_json::Value) -> serde_json::Value {
        json!({"format": "canopy-python-env/v1", "python_version": "3.11.2", "packages": packages})
    }

    fn create() -> PythonEnvCommand {
        PythonEnvCommand::Create {
            name: "myenv".into(),
            owner: "user:dev".into(),
            python_version: "3.11.2".into(),
            allow_egress: false,
            frozen: frozen(json!([])),
            worker: Some("w1".into()),
        }
    }

    fn run(state: PythonEnv, command: &PythonEnvCommand) -> PythonEnv {
        let events = state.decide(command).unwrap();
        events.iter().fold(state, |s, e| s.apply(e))
    }

    fn start(id: &str, kind: SessionKind) -> PythonEnvCommand {
        PythonEnvCommand::StartSession {
            session_id: id.into(),
            kind,
            name: "analysis".into(),
            owner: "user:dev".into(),
            script_path: None,
        }
    }

    #[test]
    fn create_then_packages_then_destroy() {
        let env = run(PythonEnv::Absent, &create());
        let s = env.state().unwrap();
        assert_eq!((s.name.as_str(), s.owner.as_str(), s.python_version.as_str()), ("myenv", "user:dev", "3.11.2"));
        assert_eq!(env.decide(&create()), Err(PythonEnvError::AlreadyExists));
        let six = frozen(json!([{"name": "six", "version": "1.17.0"}]));
        let env = run(env, &PythonEnvCommand::RecordPackages { frozen: six.clone() });
        assert_eq!(env.state().unwrap().frozen, six);
        assert_eq!(
            env.decide(&PythonEnvCommand::RecordPackages { frozen: six }).unwrap(),
            vec![],
            "an unchanged spec appends nothing"
        );
        let env = run(env, &PythonEnvCommand::Destroy);
        assert_eq!(env, PythonEnv::Destroyed);
        assert_eq!(env.decide(&create()), Err(PythonEnvError::AlreadyExists), "ids are never reused");
        assert_eq!(env.decide(&PythonEnvCommand::Destroy), Err(PythonEnvError::NotFound));
        assert_eq!(PythonEnv::Absent.decide(&PythonEnvCommand::Destroy), Err(PythonEnvError::NotFound));
    }

    #[test]
    fn bad_names_and_specs_are_refused_naming_the_field() {
        let PythonEnvCommand::Create { owner, python_version, frozen: good, .. } = create() else { unreachable!() };
        let with = |name: &str, frozen: serde_json::Value| PythonEnvCommand::Create {
            name: name.into(),
            owner: owner.clone(),
            python_version: python_version.clone(),
            allow_egress: false,
            frozen,
            worker: None,
        };
        for (command, field) in [
            (with(" ", good.clone()), "name"),
            (with("a\nb", good.clone()), "name"),
            (with(&"x".repeat(129), good.clone()), "name"),
            (with("ok", json!({"packages": []})), "frozen"),
        ] {
            assert!(
                matches!(PythonEnv::Absent.decide(&command), Err(PythonEnvError::Invalid { field: f, .. }) if f == field),
                "{command:?}"
            );
        }
        let env = run(PythonEnv::Absent, &create());
        assert!(matches!(
            env.decide(&start("../x", SessionKind::Repl)),
            Err(PythonEnvError::Invalid { field: "session_id", .. })
        ));
    }

    #[test]
    fn a_restore_ends_what_the_lost_worker_ran_and_never_forgets_it() {
        let env = run(PythonEnv::Absent, &create());
        let env = run(env, &start("repl_1", SessionKind::Repl));
        let env = run(env, &start("proc_1", SessionKind::Process));
        let env = run(env, &start("repl_2", SessionKind::Repl));
        let env =
            run(env, &PythonEnvCommand::EndSession { session_id: "repl_2".into(), reason: "idle_timeout".into() });
        assert_eq!(
            env.decide(&start("repl_1", SessionKind::Repl)),
            Err(PythonEnvError::SessionExists("repl_1".into()))
        );
        let events = env.decide(&PythonEnvCommand::Restore { worker: "w2".into() }).unwrap();
        assert_eq!(
            events,
            vec![
                PythonEnvEvent::Restored { worker: "w2".into() },
                PythonEnvEvent::SessionEnded { session_id: "proc_1".into(), reason: REASON_WORKER_RESTARTED.into() },
                PythonEnvEvent::SessionEnded { session_id: "repl_1".into(), reason: REASON_WORKER_RESTARTED.into() },
            ],
            "only the running ones end; an ended one keeps its first reason"
        );
        let env = events.iter().fold(env, |s, e| s.apply(e));
        let sessions = &env.state().unwrap().sessions;
        assert_eq!(sessions.len(), 3, "listed as ended, never silently gone");
        assert_eq!(sessions["repl_1"].ended.as_deref(), Some(REASON_WORKER_RESTARTED));
        assert_eq!(sessions["repl_2"].ended.as_deref(), Some("idle_timeout"));
        // Ending twice keeps the first reason; removing forgets it.
        let again = PythonEnvCommand::EndSession { session_id: "repl_1".into(), reason: "destroyed".into() };
        assert_eq!(env.decide(&again).unwrap(), vec![]);
        let env = run(env, &PythonEnvCommand::RemoveSession { session_id: "repl_1".into() });
        assert!(!env.state().unwrap().sessions.contains_key("repl_1"));
        assert_eq!(
            env.decide(&PythonEnvCommand::RemoveSession { session_id: "repl_1".into() }),
            Err(PythonEnvError::NoSuchSession("repl_1".into()))
        );
    }

    #[test]
    fn events_round_trip_with_stable_type_names() {
        let events = run(PythonEnv::Absent, &create());
        let created = PythonEnv::Absent.decide(&create()).unwrap().remove(0);
        assert_eq!(created.event_type(), "python_env.created");
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["type"], "created");
        assert_eq!(serde_json::from_value::<PythonEnvEvent>(json).unwrap(), created);
        assert!(PythonEnvEvent::upcast("python_env.nope", 1, json!({})).is_err());
        assert!(events.state().is_some());
    }
}
