//! REPL sessions: one long-lived sandbox per session running the driver (`repl_driver.py`,
//! shipped in the crate), which keeps its globals between requests.
//!
//! The protocol travels on three FIFOs in the session's own directory (bound at `/run/repl`),
//! not on the sandbox's stdin/stdout: canopy-sandbox gives a sandbox no stdin, and fd 1/2
//! stay what the sandbox prints outside the driver's capture (a subprocess, C code), so such
//! output can never be mistaken for an answer. `in` carries `{"id", "code"}` lines, `out`
//! carries the ready line and the answers, `ctl` carries `interrupt N`. The engine opens its
//! ends before the sandbox starts (read-write, so no open blocks and no write meets EPIPE)
//! and treats every answer as untrusted: bounded in size, matched by id.
//!
//! An execution past its time is interrupted (`interrupt N` → the driver's watcher thread
//! sends SIGINT to its main thread → `KeyboardInterrupt`); if no answer comes within the
//! grace, the session is killed. The answer says which: `state_kept`.
//!
//! A session also ends by itself: its code calls `exit()` (the driver answers, then exits with
//! that status, as Python's own REPL does), its sandbox dies (a bound, a crash), or it sits
//! idle past `repl_idle_seconds` (the reaper ends it). Whatever the way, it stays listed with
//! its reason ([`ReplInfo::ended_reason`]), a later execution answers [`ReplError::Ended`]
//! with that reason, and [`Engine::repl_ended`] resolves at once with it, so a caller that
//! records sessions (the `python` built-in) records the end when it happens.

use crate::envs::LIB_INSIDE;
use crate::error::ReplError;
use crate::ids::{EnvId, SessionId};
use crate::run::EndReason;
use crate::supervise::{supervise, Handle};
use crate::{lock, now_secs, Engine, Inner};
use canopy_sandbox::{Bind, OutputPolicy, Stream};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;

const MAX_CODE: usize = 1 << 20;
const FIFO_INSIDE: &str = "/run/repl";

/// `repl_create` / `repl_list`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplInfo {
    pub id: SessionId,
    pub name: String,
    pub env_id: EnvId,
    pub created_at: u64,
    pub running: bool,
    /// Why it ended, once it has.
    pub ended_reason: Option<EndReason>,
    pub executions: u64,
}

/// The answer of `repl_execute`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplExecution {
    pub stdout: String,
    pub stderr: String,
    /// `repr` of the last expression, as a REPL shows it (`None` when it was `None` or a statement).
    pub result: Option<String>,
    /// The traceback when the code raised.
    pub error: Option<String>,
    pub timed_out: bool,
    /// Whether the session's globals survived: `false` when the session ended with this
    /// execution.
    pub state_kept: bool,
    pub truncated: bool,
    pub duration_ms: u64,
    /// The session ended with this execution, and why (`exited` after `exit()`, a bound,
    /// `interrupt_failed`, ...); `None` while it lives on.
    pub ended_reason: Option<EndReason>,
}

#[derive(Deserialize)]
struct Answer {
    id: Option<u64>,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    result: Option<String>,
    error: Option<String>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    ready: bool,
    /// The code called `exit()`: the driver exits with this status after answering.
    exit: Option<i32>,
}

struct Io {
    input: pipe::Sender,
    ctl: pipe::Sender,
    out: BufReader<pipe::Receiver>,
    line: Vec<u8>,
    next_id: u64,
}

pub(crate) struct Session {
    info: Mutex<ReplInfo>,
    io: tokio::sync::Mutex<Io>,
    handle: Handle,
    last_used: Mutex<Instant>,
    ended: Mutex<Option<EndReason>>,
    dir: PathBuf,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    fn info(&self) -> ReplInfo {
        let mut info = lock(&self.info).clone();
        let ended = *lock(&self.ended);
        let outcome = self.handle.outcome();
        info.running = ended.is_none() && outcome.is_none();
        info.ended_reason = ended.or_else(|| outcome.map(|o| EndReason::from_sandbox(o.reason)));
        info
    }

    /// Ends the session with `reason` (kept for listings), waits for the sandbox to be gone.
    async fn end(&self, reason: EndReason) {
        // A session already gone (by itself, or a bound) keeps the reason it ended with.
        if self.handle.outcome().is_none() {
            lock(&self.ended).get_or_insert(reason);
        }
        self.handle.kill();
        self.handle.ended().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn ended_error(&self) -> Option<ReplError> {
        let info = self.info();
        (!info.running).then(|| ReplError::Ended {
            id: info.id,
            reason: info.ended_reason.map_or("ended", EndReason::as_str).to_owned(),
        })
    }
}

fn mkfifo(path: &Path) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: mkfifo(2)/chown(2) of a NUL-terminated path in a directory the engine made.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::os::unix::fs::chown(path, Some(canopy_sandbox::NOBODY), Some(canopy_sandbox::NOBODY))
}

impl Engine {
    /// `repl_create`: starts the session's sandbox and waits for its driver to be ready.
    pub async fn repl_create(&self, env_id: &EnvId, session_name: &str) -> Result<ReplInfo, ReplError> {
        let inner = &self.inner;
        let env = inner.env_or(env_id, ReplError::UnknownEnv)?;
        let id = SessionId::random();
        let dir = inner.config.root.join("repl").join(id.as_str());
        let io_err = |what: &'static str| move |source| ReplError::Io { what: what.to_owned(), source };
        std::fs::create_dir(&dir).map_err(io_err("cannot make the session's directory"))?;
        std::os::unix::fs::chown(&dir, Some(canopy_sandbox::NOBODY), Some(canopy_sandbox::NOBODY))
            .map_err(io_err("cannot give the session's directory to the sandbox uid"))?;
        let started = async {
            for name in ["in", "out", "ctl"] {
                mkfifo(&dir.join(name)).map_err(io_err("cannot make the session's FIFOs"))?;
            }
            let mut opts = pipe::OpenOptions::new();
            opts.read_write(true);
            let input = opts.open_sender(dir.join("in")).map_err(io_err("cannot open the session's input"))?;
            let ctl = opts.open_sender(dir.join("ctl")).map_err(io_err("cannot open the session's control"))?;
            let out = opts.open_receiver(dir.join("out")).map_err(io_err("cannot open the session's output"))?;
            let c = &inner.config;
            let command = vec![
                format!("{}/bin/python", crate::envs::VENV_INSIDE),
                "-E".into(),
                "-s".into(),
                format!("{LIB_INSIDE}/repl_driver.py"),
                FIFO_INSIDE.into(),
                c.repl_output_bytes.to_string(),
            ];
            let mut spec = inner.spec_for(&env, command, Duration::from_secs(c.long_lived_max_seconds));
            spec.binds.push(Bind::writable(dir.clone(), FIFO_INSIDE));
            spec.limits.output_policy = OutputPolicy::Truncate;
            spec.limits.output_bytes = 1 << 20;
            let mut running = inner.sandbox.spawn(&spec).map_err(ReplError::Sandbox)?;
            let stderr_tail = Arc::new(Mutex::new(Vec::new()));
            if let Some(mut rx) = running.output() {
                let tail = stderr_tail.clone();
                tokio::spawn(async move {
                    while let Some(chunk) = rx.recv().await {
                        if chunk.stream == Stream::Stderr {
                            let mut t = lock(&tail);
                            t.extend_from_slice(&chunk.bytes);
                            let excess = t.len().saturating_sub(4096);
                            t.drain(..excess);
                        }
                    }
                });
            }
            let handle = supervise(running);
            let mut io = Io { input, ctl, out: BufReader::new(out), line: Vec::new(), next_id: 0 };
            let ready = tokio::select! {
                a = read_answer_parts(&mut io.out, &mut io.line, 4096) => a,
                o = handle.ended() => Err(format!("the driver ended ({})", o.reason.as_str())),
                _ = tokio::time::sleep(Duration::from_secs(30)) => Err("no ready line within 30 s".into()),
            };
            match ready {
                Ok(a) if a.ready => {}
                other => {
                    handle.kill();
                    let said = String::from_utf8_lossy(&lock(&stderr_tail)).trim().to_owned();
                    let why = match other {
                        Ok(_) => "its first line was not the ready line".to_owned(),
                        Err(e) => e,
                    };
                    return Err(ReplError::Start(format!("{why}; stderr: {said}")));
                }
            }
            Ok((io, handle, stderr_tail))
        };
        let (io, handle, stderr_tail) = match started.await {
            Ok(parts) => parts,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let info = ReplInfo {
            id: id.clone(),
            name: session_name.to_owned(),
            env_id: env_id.clone(),
            created_at: now_secs(),
            running: true,
            ended_reason: None,
            executions: 0,
        };
        let session = Arc::new(Session {
            info: Mutex::new(info.clone()),
            io: tokio::sync::Mutex::new(io),
            handle,
            last_used: Mutex::new(Instant::now()),
            ended: Mutex::new(None),
            dir,
            stderr_tail,
        });
        lock(&inner.repls).insert(id, session);
        Ok(info)
    }

    /// `repl_execute`: runs `code` in the session, keeping its globals. Past
    /// `timeout_seconds` (default and maximum from the configuration) the execution is
    /// interrupted; `state_kept` says whether the session survived it.
    pub async fn repl_execute(
        &self,
        session_id: &SessionId,
        code: &str,
        timeout_seconds: Option<u64>,
    ) -> Result<ReplExecution, ReplError> {
        let inner = &self.inner;
        let session =
            lock(&inner.repls).get(session_id).cloned().ok_or_else(|| ReplError::UnknownSession(session_id.clone()))?;
        let wall = inner.wall(timeout_seconds).map_err(|(given, max)| ReplError::InvalidTimeout { given, max })?;
        if code.len() > MAX_CODE {
            return Err(ReplError::CodeTooLarge(code.len(), MAX_CODE));
        }
        let mut io = session.io.lock().await;
        if let Some(e) = session.ended_error() {
            return Err(e);
        }
        *lock(&session.last_used) = Instant::now();
        let started = Instant::now();
        io.next_id += 1;
        let id = io.next_id;
        let mut request = serde_json::to_vec(&serde_json::json!({ "id": id, "code": code }))
            .map_err(|e| ReplError::Io { what: "encoding the request".into(), source: std::io::Error::other(e) })?;
        request.push(b'\n');
        if let Err(source) = io.input.write_all(&request).await {
            drop(io);
            session.end(EndReason::ProtocolError).await;
            return Err(ReplError::Io { what: "writing to the session".into(), source });
        }
        let max_answer = (inner.config.repl_output_bytes as usize) * 8 + (64 << 10);
        let grace = Duration::from_millis(inner.config.repl_interrupt_grace_ms);
        let handle = session.handle.clone();
        let Io { ctl, out, line, .. } = &mut *io;
        let read = async {
            loop {
                // Skip stale answers (an id other than ours: an interrupted request's late reply).
                match read_answer_parts(out, line, max_answer).await {
                    Ok(a) if a.id == Some(id) => return Ok(a),
                    Ok(_) => continue,
                    Err(e) => return Err(e),
                }
            }
        };
        tokio::pin!(read);
        let mut timed_out = false;
        let answer = tokio::select! {
            a = &mut read => Some(a),
            _ = handle.ended() => None,
            _ = tokio::time::sleep(wall) => { timed_out = true; None }
        };
        let answer = match answer {
            Some(a) => Some(a),
            None if timed_out => {
                let _ = ctl.write_all(format!("interrupt {id}\n").as_bytes()).await;
                tokio::select! {
                    a = &mut read => Some(a),
                    _ = handle.ended() => None,
                    _ = tokio::time::sleep(grace) => None,
                }
            }
            None => None,
        };
        lock(&session.info).executions += 1;
        let duration_ms = started.elapsed().as_millis() as u64;
        match answer {
            Some(Ok(a)) => {
                let ended_reason = match a.exit {
                    None => None,
                    Some(_) => {
                        // The driver exits right after its answer; make sure it is gone.
                        let gone = tokio::time::timeout(grace + Duration::from_secs(2), handle.ended()).await;
                        if gone.is_err() {
                            session.end(EndReason::Exited).await;
                        }
                        lock(&session.ended).get_or_insert(EndReason::Exited);
                        let _ = std::fs::remove_dir_all(&session.dir);
                        Some(EndReason::Exited)
                    }
                };
                Ok(ReplExecution {
                    stdout: a.stdout,
                    stderr: a.stderr,
                    result: a.result,
                    error: a.error,
                    timed_out: timed_out || a.interrupted,
                    state_kept: ended_reason.is_none(),
                    truncated: a.truncated,
                    duration_ms,
                    ended_reason,
                })
            }
            Some(Err(protocol)) => {
                session.end(EndReason::ProtocolError).await;
                Err(ReplError::Ended { id: session_id.clone(), reason: format!("protocol_error: {protocol}") })
            }
            None if timed_out => {
                session.end(EndReason::InterruptFailed).await;
                Ok(ReplExecution {
                    stdout: String::new(),
                    stderr: String::new(),
                    result: None,
                    error: Some(format!(
                        "the execution ran past {} s and did not stop within {} ms of its interrupt: the session was killed and its state is lost",
                        wall.as_secs(),
                        grace.as_millis()
                    )),
                    timed_out: true,
                    state_kept: false,
                    truncated: false,
                    duration_ms,
                    ended_reason: Some(EndReason::InterruptFailed),
                })
            }
            None => {
                let outcome = session.handle.ended().await;
                let reason = *lock(&session.ended).get_or_insert(EndReason::from_sandbox(outcome.reason));
                let _ = std::fs::remove_dir_all(&session.dir);
                let said = String::from_utf8_lossy(&lock(&session.stderr_tail)).trim().to_owned();
                Ok(ReplExecution {
                    stdout: String::new(),
                    stderr: said,
                    result: None,
                    error: Some(format!(
                        "the session ended while executing ({reason}, exit code {:?}); its state is lost",
                        outcome.exit_code
                    )),
                    timed_out: false,
                    state_kept: false,
                    truncated: false,
                    duration_ms,
                    ended_reason: Some(reason),
                })
            }
        }
    }

    /// `repl_list`: live sessions and ended ones (with their reason), oldest first.
    pub fn repl_list(&self) -> Vec<ReplInfo> {
        let mut all: Vec<ReplInfo> = lock(&self.inner.repls).values().map(|s| s.info()).collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Waits until session `session_id` has ended (by itself: `exit()`, a bound, idle; or
    /// destroyed) and answers how it ended ([`ReplInfo::ended_reason`]).
    pub async fn repl_ended(&self, session_id: &SessionId) -> Result<ReplInfo, ReplError> {
        let session = lock(&self.inner.repls)
            .get(session_id)
            .cloned()
            .ok_or_else(|| ReplError::UnknownSession(session_id.clone()))?;
        session.handle.ended().await;
        Ok(session.info())
    }

    /// `repl_destroy`: ends the session (if running) and forgets it.
    pub async fn repl_destroy(&self, session_id: &SessionId) -> Result<(), ReplError> {
        let session =
            lock(&self.inner.repls).remove(session_id).ok_or_else(|| ReplError::UnknownSession(session_id.clone()))?;
        session.end(EndReason::Killed).await;
        Ok(())
    }

    pub(crate) async fn end_repls_of(&self, env_id: &EnvId) {
        let of_env: Vec<Arc<Session>> = {
            let mut map = lock(&self.inner.repls);
            let ids: Vec<SessionId> =
                map.iter().filter(|(_, s)| &lock(&s.info).env_id == env_id).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in of_env {
            s.end(EndReason::EnvDestroyed).await;
        }
    }
}

async fn read_answer_parts(
    out: &mut BufReader<pipe::Receiver>,
    line: &mut Vec<u8>,
    max: usize,
) -> Result<Answer, String> {
    loop {
        let buf = out.fill_buf().await.map_err(|e| format!("reading the driver: {e}"))?;
        if buf.is_empty() {
            return Err("the driver closed its output".into());
        }
        let (taken, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..taken]);
        out.consume(taken);
        if line.len() > max {
            return Err(format!("an answer longer than {max} bytes"));
        }
        if done {
            let whole = std::mem::take(line);
            return serde_json::from_slice(&whole).map_err(|e| format!("an answer that is not JSON: {e}"));
        }
    }
}

/// Ends sessions idle past `repl_idle_seconds` (they stay listed with reason `idle`).
pub(crate) fn start_reaper(inner: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let every = match inner.upgrade() {
                Some(i) => Duration::from_secs((i.config.repl_idle_seconds / 4).clamp(1, 30)),
                None => return,
            };
            tokio::time::sleep(every).await;
            let Some(i) = inner.upgrade() else { return };
            let idle = Duration::from_secs(i.config.repl_idle_seconds);
            let stale: Vec<Arc<Session>> = lock(&i.repls)
                .values()
                .filter(|s| {
                    lock(&s.ended).is_none() && s.handle.outcome().is_none() && lock(&s.last_used).elapsed() > idle
                })
                .cloned()
                .collect();
            drop(i);
            for s in stale {
                // Not while an execution holds the session.
                if let Ok(_io) = s.io.try_lock() {
                    s.end(EndReason::Idle).await;
                }
            }
        }
    });
}
