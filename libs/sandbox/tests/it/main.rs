//! Integration tests of canopy-sandbox: real bubblewrap, real processes, real cgroups. Each
//! test names the escape or overrun it tries and asserts that it was contained.

mod bounds;
mod control;
mod isolation;

use canopy_sandbox::{Bind, Outcome, Sandbox, SandboxSpec, Stream};
use std::path::PathBuf;

pub async fn sandbox() -> Sandbox {
    match Sandbox::probe().await {
        Ok(sandbox) => sandbox,
        Err(e) => panic!("this host must run sandboxes for these tests: {e}"),
    }
}

/// What a run printed and how it ended.
pub struct Ran {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

pub async fn run(spec: &SandboxSpec) -> Ran {
    let sandbox = sandbox().await;
    let mut running = sandbox.spawn(spec).expect("spawn");
    let mut output = running.output().expect("output");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = output.recv().await {
        match chunk.stream {
            Stream::Stdout => stdout.extend(chunk.bytes),
            Stream::Stderr => stderr.extend(chunk.bytes),
        }
    }
    let outcome = running.wait().await;
    Ran {
        outcome,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn sh(script: &str) -> SandboxSpec {
    SandboxSpec::new(["/bin/sh", "-c", script])
}

pub fn python(code: &str) -> SandboxSpec {
    SandboxSpec::new(["python3", "-I", "-c", code])
}

/// A fresh host directory for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("canopy-sandbox-it-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// A job's layout: `/workspace` writable, `inputs` and `scripts` read-only on top, `artifacts`.
    pub fn job_spec(&self, command: &[&str]) -> SandboxSpec {
        for sub in ["ws", "ws/artifacts", "inputs", "scripts"] {
            std::fs::create_dir_all(self.0.join(sub)).expect("layout");
        }
        canopy_sandbox::hand_over(&self.0.join("ws"), canopy_sandbox::NOBODY, canopy_sandbox::NOBODY)
            .expect("hand over");
        let mut spec = SandboxSpec::new(command.iter().copied());
        spec.workspace = Some(Bind::writable(self.0.join("ws"), "/workspace"));
        spec.binds.push(Bind::read_only(self.0.join("inputs"), "/workspace/inputs"));
        spec.binds.push(Bind::read_only(self.0.join("scripts"), "/workspace/scripts"));
        spec
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
