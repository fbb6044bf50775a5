//! Integration tests of the job-poller's execution backends: real bubblewrap sandboxes for
//! `local`, one real Ray head on loopback for `ray` (shared by every Ray test of this binary,
//! see `ray.rs`). Each test builds its own workspace and job id.

mod local;
pub mod poller;
mod ray;

use canopy_domain::ids::{JobId, TenantId};
use canopy_domain::job::Attempt;
use canopy_job_poller::backends::{
    prepare_layout, Execution, ExecutionStatus, JobLimits, JobRef, LogLine, LogStream, Placement,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh host directory for one test, reachable by the sandbox's uid, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("canopy-poller-it-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn job_ref(name: &str) -> JobRef {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("job_{name}_{}_{n}_{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    JobRef { tenant: TenantId::default_tenant(), job_id: JobId::parse(id).expect("job id"), attempt: Attempt::FIRST }
}

/// The seed-like job's files: `scripts/main.py` reads `/workspace/inputs/data.csv`, prints a
/// line, sleeps, prints another, writes `/workspace/artifacts/out.json`.
pub const MAIN_PY: &str = r#"
import csv, json, sys, time
rows = list(csv.DictReader(open("/workspace/inputs/data.csv")))
total = sum(float(r["value"]) for r in rows)
print(f"read {len(rows)} rows", flush=True)
print("a warning on stderr", file=sys.stderr, flush=True)
time.sleep(1.5)
json.dump({"rows": len(rows), "total": total}, open("/workspace/artifacts/out.json", "w"))
print("wrote out.json")
"#;

pub fn seed_workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    prepare_layout(&ws).expect("layout");
    std::fs::write(ws.join("inputs/data.csv"), "name,value\na,1.5\nb,2.5\n").expect("input");
    std::fs::write(ws.join("scripts/main.py"), MAIN_PY).expect("script");
    ws
}

pub fn placement(job: JobRef, workspace: PathBuf, command: &[&str]) -> Placement {
    Placement {
        job,
        command: command.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
        workspace,
        limits: JobLimits { wall: Duration::from_secs(60), ..JobLimits::default() },
        image: "python:3.11-slim".into(),
    }
}

/// Every log line until the channel ends, and the terminal status.
pub async fn drain(execution: &mut Execution, within: Duration) -> (Vec<LogLine>, ExecutionStatus) {
    let mut logs = execution.take_logs().expect("logs");
    let mut lines = Vec::new();
    let collect = async {
        while let Some(line) = logs.recv().await {
            lines.push(line);
        }
    };
    let status = async { execution.wait().await.expect("wait") };
    let (_, status) =
        tokio::time::timeout(within, async { tokio::join!(collect, status) }).await.expect("the job ended in time");
    (lines, status)
}

pub fn texts(lines: &[LogLine], stream: LogStream) -> Vec<&str> {
    lines.iter().filter(|l| l.stream == stream).map(|l| l.text.as_str()).collect()
}
