//! Integration tests of canopy-pyenv: real uv (`$CANOPY_UV`, from `canopy_ensure_uv`), real
//! bubblewrap, real processes. Each test names what it tries and asserts that it worked or
//! was contained.

mod ahead;
mod bench;
mod probes;
mod processes;
mod repl;
mod usage;
mod workspace;

use canopy_pyenv::{CreateOptions, Engine, EnvId, PyEnvConfig, RunOutput};
use std::path::PathBuf;

/// An engine with its own root under the temp dir and the tests' shared uv cache, with
/// small bounds so the probes end fast. Its root is removed when dropped.
pub struct TestEngine {
    pub engine: Engine,
    root: PathBuf,
}

impl std::ops::Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn config(name: &str) -> PyEnvConfig {
    let tmp = std::env::temp_dir();
    let root = tmp.join(format!("canopy-pyenv-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    PyEnvConfig {
        root,
        cache_dir: Some(tmp.join("canopy-pyenv-it-cache")),
        memory_bytes: 256 << 20,
        processes: 32,
        output_bytes: 256 << 10,
        workspace_bytes: 32 << 20,
        workspace_files: 200,
        run_timeout_default_seconds: 20,
        run_timeout_max_seconds: 60,
        repl_interrupt_grace_ms: 1000,
        ..PyEnvConfig::default()
    }
}

pub async fn engine_with(config: PyEnvConfig) -> TestEngine {
    let root = config.root.clone();
    match Engine::new(config).await {
        Ok(engine) => TestEngine { engine, root },
        Err(e) => panic!("the engine must start here (uv from CANOPY_UV, bubblewrap): {e}"),
    }
}

pub async fn engine(name: &str) -> TestEngine {
    engine_with(config(name)).await
}

pub async fn env(engine: &Engine, name: &str) -> EnvId {
    engine.create(name, None, CreateOptions::default()).await.expect("create").id
}

pub async fn run(engine: &Engine, env: &EnvId, code: &str) -> RunOutput {
    engine.run_code(env, code, None, None, None).await.expect("run_code")
}

pub async fn run_t(engine: &Engine, env: &EnvId, code: &str, timeout: u64) -> RunOutput {
    engine.run_code(env, code, None, Some(timeout), None).await.expect("run_code")
}

/// The environment still runs code after a probe.
pub async fn still_usable(engine: &Engine, env: &EnvId) {
    let after = run(engine, env, "print(6 * 7)").await;
    assert!(after.success && after.stdout.trim() == "42", "the environment stays usable: {after:?}");
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
