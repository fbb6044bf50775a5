//! Running the real `canopy` binary as a user would, for the CLI tests: `$HOME` pointed at a
//! fresh directory (so no developer's `~/.canopy.conf` leaks in) and no access token from this
//! process's environment. Asynchronous, so upstreams living on the test's runtime keep
//! answering while the CLI waits.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a `canopy` run ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit status 0; its stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Exit status 1, and stderr is a `canopy: ...` message containing `fragment`.
    pub fn failed_with(&self, fragment: &str) {
        assert_eq!(self.code, Some(1), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(
            self.stderr.starts_with("canopy: ") && self.stderr.contains(fragment),
            "stderr should be a canopy: message containing '{fragment}':\n{}",
            self.stderr
        );
    }

    /// Exit status 0, and stdout is JSON (`--json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// `canopy ARGS` with `HOME=home`.
pub async fn canopy(home: &Path, args: &[&str]) -> Run {
    canopy_with_env(home, &[], args).await
}

/// `canopy ARGS` with `HOME=home` and `env`.
pub async fn canopy_with_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy"));
    command.args(args).env("HOME", home).env_remove("CANOPY_ACCESS_TOKEN").kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("canopy {args:?} did not finish in 60s"))
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh directory to be `$HOME`.
pub fn temp_home(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(canopy_testkit::unique(&format!("cli-home-{tag}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The token in `canopy login TOKEN` or `Access token: TOKEN` of a creation's output.
pub fn printed_token(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("canopy login ").or_else(|| l.strip_prefix("Access token: ")))
        .unwrap_or_else(|| panic!("no token printed in:\n{stdout}"))
        .to_string()
}
