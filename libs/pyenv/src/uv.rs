//! Running uv on the host, where it can reach the package index: venv creation, installs,
//! listing. Never with Canopy's environment: uv gets `PATH`, a `HOME` of the engine's own,
//! the shared cache, `UV_PYTHON_DOWNLOADS=never`, `UV_NO_CONFIG` (no user or system uv.toml
//! can change the index) and only the extra variables the configuration names. Every call
//! has a timeout and its process is killed when it passes.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Uv {
    pub bin: PathBuf,
    pub cache: PathBuf,
    pub home: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

/// How a uv call failed.
#[derive(Debug)]
pub enum UvFailure {
    Timeout,
    Failed(String),
}

impl Uv {
    /// Finds uv: the configured path, `$CANOPY_UV`, then `uv` on `PATH`.
    pub fn locate(configured: Option<&Path>) -> Option<PathBuf> {
        let candidates = configured
            .map(Path::to_path_buf)
            .into_iter()
            .chain(std::env::var_os("CANOPY_UV").map(PathBuf::from))
            .chain(
                std::env::var_os("PATH")
                    .into_iter()
                    .flat_map(|p| std::env::split_paths(&p).map(|d| d.join("uv")).collect::<Vec<_>>()),
            );
        candidates.into_iter().find(|p| p.is_file())
    }

    /// Runs `uv ARGS` in `cwd`, returns its stdout.
    pub async fn run(&self, args: &[String], cwd: &Path, timeout: Duration) -> Result<String, UvFailure> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("UV_CACHE_DIR", &self.cache)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_CONFIG", "1")
            .env("UV_NO_PROGRESS", "1")
            .env("NO_COLOR", "1")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = match tokio::time::timeout(timeout, cmd.output()).await {
            Err(_) => return Err(UvFailure::Timeout),
            Ok(Err(e)) => return Err(UvFailure::Failed(format!("cannot start uv: {e}"))),
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(UvFailure::Failed(tail(stderr.trim(), 2000)))
    }
}

/// The last `max` bytes of `s` (at a char boundary), for error messages.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}
