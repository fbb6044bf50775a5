//! Spawned processes (`spawn_process`): a workspace script in its own long-lived sandbox,
//! the last N lines of its output kept (Jumpboot keeps 1,000), listed with running state,
//! exit code and reason. `kill_process` ends the whole sandbox (every process in its pid
//! namespace and cgroup, however it forked); processes end with their environment. An
//! ended process stays listed with its reason until its environment is destroyed.

use crate::error::ProcessError;
use crate::ids::{EnvId, ProcessId};
use crate::run::{script_command, EndReason, ScriptRefusal};
use crate::supervise::{supervise, Handle};
use crate::{lock, now_secs, Engine};
use canopy_sandbox::{OutputPolicy, Stream};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest line kept (longer ones are cut, marked with `...`).
const MAX_LINE: usize = 8192;

/// Arguments of `spawn_process`.
#[derive(Clone, Debug, Default)]
pub struct SpawnRequest {
    pub script_path: String,
    pub name: Option<String>,
    pub args: Vec<String>,
    /// Jumpboot's default is `true`.
    pub capture_output: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessInfo {
    pub id: ProcessId,
    pub name: String,
    pub env_id: EnvId,
    pub script_path: String,
    /// Host pid of the sandbox (bwrap), the leader of its process group.
    pub pid: u32,
    pub start_time: u64,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub reason: Option<EndReason>,
    pub capture_output: bool,
}

/// `process_output`: the last lines, oldest first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessOutput {
    pub process_id: ProcessId,
    pub lines: Vec<String>,
    pub running: bool,
    /// Lines dropped from the front since the start (only the last N are kept).
    pub dropped_lines: u64,
}

#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    dropped: u64,
    partial: [Vec<u8>; 2],
}

impl Tail {
    fn push(&mut self, stream: Stream, bytes: &[u8], keep: usize) {
        let idx = usize::from(stream == Stream::Stderr);
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
            self.line(&buf[start..start + i], keep);
            start += i + 1;
        }
        let rest = buf.split_off(start);
        if rest.len() > MAX_LINE {
            self.line(&rest, keep);
        } else {
            self.partial[idx] = rest;
        }
    }

    fn line(&mut self, bytes: &[u8], keep: usize) {
        let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LINE)]).into_owned();
        if bytes.len() > MAX_LINE {
            text.push_str("...");
        }
        self.lines.push_back(text);
        while self.lines.len() > keep {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    fn flush(&mut self, keep: usize) {
        for idx in 0..2 {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.line(&rest, keep);
            }
        }
    }
}

pub(crate) struct Managed {
    info: ProcessInfo,
    handle: Handle,
    tail: Arc<Mutex<Tail>>,
    killed: Mutex<Option<EndReason>>,
}

impl Managed {
    fn info(&self) -> ProcessInfo {
        let mut info = self.info.clone();
        if let Some(outcome) = self.handle.outcome() {
            info.running = false;
            info.exit_code = outcome.exit_code;
            info.reason = Some(lock(&self.killed).unwrap_or_else(|| EndReason::from_sandbox(outcome.reason)));
        }
        info
    }

    async fn end(&self, reason: EndReason) {
        if self.handle.outcome().is_none() {
            lock(&self.killed).get_or_insert(reason);
        }
        self.handle.kill();
        self.handle.ended().await;
    }
}

impl Engine {
    /// `spawn_process`: starts a workspace script in its own sandbox (no time bound but
    /// `long_lived_max_seconds`; the other bounds as for runs).
    pub async fn spawn_process(&self, env_id: &EnvId, req: SpawnRequest) -> Result<ProcessInfo, ProcessError> {
        let inner = &self.inner;
        let env = inner.env_or(env_id, ProcessError::UnknownEnv)?;
        let command = script_command(&env, &req.script_path, &req.args).map_err(|e| match e {
            ScriptRefusal::Path(w) => ProcessError::Script(w),
            ScriptRefusal::Args(a) => ProcessError::InvalidArgs(a),
        })?;
        let name = req
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| req.script_path.rsplit('/').next().unwrap_or(&req.script_path).to_owned());
        if name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(ProcessError::InvalidName(name));
        }
        let c = &inner.config;
        let mut spec = inner.spec_for(&env, command, Duration::from_secs(c.long_lived_max_seconds));
        // A server logs for as long as it runs: keep its tail, do not kill it for talking.
        spec.limits.output_policy = OutputPolicy::Truncate;
        spec.limits.output_bytes = u64::MAX;
        let mut running = inner.sandbox.spawn(&spec).map_err(ProcessError::Sandbox)?;
        let pid = running.pid();
        let tail = Arc::new(Mutex::new(Tail::default()));
        let keep = c.process_tail_lines;
        if let Some(mut rx) = running.output() {
            let tail = tail.clone();
            let capture = req.capture_output;
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    if capture {
                        lock(&tail).push(chunk.stream, &chunk.bytes, keep);
                    }
                }
                lock(&tail).flush(keep);
            });
        }
        let id = ProcessId::random();
        let info = ProcessInfo {
            id: id.clone(),
            name,
            env_id: env_id.clone(),
            script_path: req.script_path.clone(),
            pid,
            start_time: now_secs(),
            running: true,
            exit_code: None,
            reason: None,
            capture_output: req.capture_output,
        };
        let managed =
            Arc::new(Managed { info: info.clone(), handle: supervise(running), tail, killed: Mutex::new(None) });
        lock(&inner.procs).insert(id, managed);
        Ok(info)
    }

    /// `list_processes`, oldest first (ended ones with exit code and reason).
    pub fn list_processes(&self) -> Vec<ProcessInfo> {
        let mut all: Vec<ProcessInfo> = lock(&self.inner.procs).values().map(|m| m.info()).collect();
        all.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
        all
    }

    pub fn process_info(&self, process_id: &ProcessId) -> Result<ProcessInfo, ProcessError> {
        let m = lock(&self.inner.procs).get(process_id).cloned();
        m.map(|m| m.info()).ok_or_else(|| ProcessError::UnknownProcess(process_id.clone()))
    }

    /// `process_output`: the last `tail_lines` lines (all kept ones when `None` or 0).
    pub fn process_output(
        &self,
        process_id: &ProcessId,
        tail_lines: Option<usize>,
    ) -> Result<ProcessOutput, ProcessError> {
        let m = lock(&self.inner.procs)
            .get(process_id)
            .cloned()
            .ok_or_else(|| ProcessError::UnknownProcess(process_id.clone()))?;
        if !m.info.capture_output {
            return Err(ProcessError::NotCaptured(process_id.clone()));
        }
        let tail = lock(&m.tail);
        let n = tail_lines.filter(|n| *n > 0).unwrap_or(usize::MAX).min(tail.lines.len());
        let lines = tail.lines.iter().skip(tail.lines.len() - n).cloned().collect();
        Ok(ProcessOutput {
            process_id: process_id.clone(),
            lines,
            running: m.handle.outcome().is_none(),
            dropped_lines: tail.dropped,
        })
    }

    /// `kill_process`: ends the process's whole sandbox and waits until every process of it
    /// is gone. It stays listed (reason `killed`).
    /// Waits until process `process_id` has ended (by itself, killed, or bounded), and answers
    /// how it ended.
    pub async fn process_ended(&self, process_id: &ProcessId) -> Result<ProcessInfo, ProcessError> {
        let m = lock(&self.inner.procs)
            .get(process_id)
            .cloned()
            .ok_or_else(|| ProcessError::UnknownProcess(process_id.clone()))?;
        m.handle.ended().await;
        Ok(m.info())
    }

    pub async fn kill_process(&self, process_id: &ProcessId) -> Result<ProcessInfo, ProcessError> {
        let m = lock(&self.inner.procs)
            .get(process_id)
            .cloned()
            .ok_or_else(|| ProcessError::UnknownProcess(process_id.clone()))?;
        m.end(EndReason::Killed).await;
        Ok(m.info())
    }

    pub(crate) async fn end_processes_of(&self, env_id: &EnvId) {
        let of_env: Vec<Arc<Managed>> = {
            let mut map = lock(&self.inner.procs);
            let ids: Vec<ProcessId> =
                map.iter().filter(|(_, m)| &m.info.env_id == env_id).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for m in of_env {
            m.end(EndReason::EnvDestroyed).await;
        }
    }
}
