//! The `workspace_*` operations on an environment's workspace (through [`crate::workspace`],
//! so every path is checked where it is opened), and `workspace_git_clone`.
//!
//! A clone is the one place code of the engine runs with the network: git runs in a sandbox
//! that sees only the environment's workspace (so `dir_name` cannot leave it, whatever git
//! does with the path), shares the host's network (it must reach the git host), and is
//! bounded in time, memory, processes and disk like a run. The URL must be `https://`, carry
//! no credentials, and name a host of `git_hosts` (none by default: cloning is refused until
//! an operator lists hosts); git is told to use https only and not to follow redirects, so it
//! cannot be bounced to another host or protocol.

use crate::envs::WORKSPACE_INSIDE;
use crate::error::WorkspaceError;
use crate::ids::EnvId;
use crate::workspace::{check_relative, FileInfo, RegularFile, Usage};
use crate::{lock, Engine};
use canopy_sandbox::OutputPolicy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What `workspace_git_clone` returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CloneInfo {
    pub repo_url: String,
    pub dir_name: String,
    /// Inside the sandbox: `/workspace/<dir_name>`.
    pub clone_path: String,
}

/// Checks a clone URL against the allow list; returns the host.
pub fn check_clone_url(url: &str, allowed: &[String]) -> Result<String, WorkspaceError> {
    let bad = |why: String| WorkspaceError::InvalidUrl { url: url.to_owned(), why };
    let rest = url.strip_prefix("https://").ok_or_else(|| bad("only https:// URLs are allowed".into()))?;
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("too long, or contains whitespace or control characters".into()));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not allowed".into()));
    }
    let host = authority.split(':').next().unwrap_or("").to_ascii_lowercase();
    if host.is_empty() {
        return Err(bad("no host".into()));
    }
    if allowed.is_empty() {
        return Err(bad("git cloning is not enabled: no host is allowed (configuration pyenv.git_hosts)".into()));
    }
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
        return Err(bad(format!("host {host:?} is not in the allowed git hosts ({})", allowed.join(", "))));
    }
    Ok(host)
}

/// The directory name git would pick: the URL's last segment without `.git`.
fn default_dir(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or("repo");
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() || name == "." || name == ".." {
        "repo".to_owned()
    } else {
        name.to_owned()
    }
}

impl Engine {
    fn quota(&self) -> Usage {
        Usage { bytes: self.inner.config.workspace_bytes, files: self.inner.config.workspace_files }
    }

    fn ws(&self, env_id: &EnvId) -> Result<crate::workspace::Workspace, WorkspaceError> {
        self.inner.env_or(env_id, WorkspaceError::UnknownEnv)?.workspace()
    }

    /// `workspace_write_file`: parents made, never through a symlink, within the quotas.
    pub fn write_file(&self, env_id: &EnvId, filename: &str, content: &[u8]) -> Result<FileInfo, WorkspaceError> {
        let env = self.inner.env_or(env_id, WorkspaceError::UnknownEnv)?;
        let written = env.workspace()?.write("filename", filename, content, self.quota());
        lock(&env.disk).workspace_changed();
        written
    }

    /// `workspace_read_file`: UTF-8 text of at most `read_max_bytes`.
    pub fn read_file(&self, env_id: &EnvId, filename: &str) -> Result<String, WorkspaceError> {
        let bytes = self.read_file_bytes(env_id, filename)?;
        String::from_utf8(bytes).map_err(|_| WorkspaceError::NotText { arg: "filename", path: filename.to_owned() })
    }

    /// The raw bytes of a workspace file, at most `read_max_bytes`.
    pub fn read_file_bytes(&self, env_id: &EnvId, filename: &str) -> Result<Vec<u8>, WorkspaceError> {
        self.ws(env_id)?.read("filename", filename, self.inner.config.read_max_bytes)
    }

    /// Every regular file of the workspace (for saving it to the object store).
    pub fn workspace_files(&self, env_id: &EnvId) -> Result<Vec<RegularFile>, WorkspaceError> {
        Ok(self.ws(env_id)?.regular_files())
    }

    /// A regular file of the workspace opened for reading, whatever its size (for saving it).
    pub fn open_workspace_file(&self, env_id: &EnvId, path: &str) -> Result<std::fs::File, WorkspaceError> {
        self.ws(env_id)?.open_file("path", path)
    }

    /// Creates (or empties) a workspace file for writing, with no quota check (for putting
    /// back what the object store saved of it).
    pub fn create_workspace_file(&self, env_id: &EnvId, path: &str) -> Result<std::fs::File, WorkspaceError> {
        let env = self.inner.env_or(env_id, WorkspaceError::UnknownEnv)?;
        let created = env.workspace()?.create("path", path);
        lock(&env.disk).workspace_changed();
        created
    }

    /// `workspace_delete_file`: a file, a symlink itself, or an empty directory.
    pub fn delete_file(&self, env_id: &EnvId, filename: &str) -> Result<(), WorkspaceError> {
        let env = self.inner.env_or(env_id, WorkspaceError::UnknownEnv)?;
        let deleted = env.workspace()?.delete("filename", filename);
        lock(&env.disk).workspace_changed();
        deleted
    }

    /// `workspace_list_files`: one directory (the top when `path` is `None`).
    pub fn list_files(&self, env_id: &EnvId, path: Option<&str>) -> Result<Vec<FileInfo>, WorkspaceError> {
        self.ws(env_id)?.list("path", path)
    }

    /// Bytes and entries the workspace holds.
    pub fn workspace_usage(&self, env_id: &EnvId) -> Result<Usage, WorkspaceError> {
        Ok(self.ws(env_id)?.usage())
    }

    /// `workspace_git_clone`: https only, allowed hosts only, into `dir_name` (checked like
    /// any path; the URL's last segment when `None`), in a sandbox with the network.
    pub async fn git_clone(
        &self,
        env_id: &EnvId,
        repo_url: &str,
        dir_name: Option<&str>,
    ) -> Result<CloneInfo, WorkspaceError> {
        let inner = &self.inner;
        let env = inner.env_or(env_id, WorkspaceError::UnknownEnv)?;
        check_clone_url(repo_url, &inner.config.git_hosts)?;
        let dir = match dir_name.filter(|d| !d.is_empty()) {
            Some(d) => check_relative("dir_name", d)?,
            None => check_relative("dir_name", &default_dir(repo_url))?,
        };
        if env.workspace()?.exists("dir_name", &dir)? {
            return Err(WorkspaceError::CloneTargetExists(dir));
        }
        let target = format!("{WORKSPACE_INSIDE}/{dir}");
        let command: Vec<String> = [
            "git",
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "http.followRedirects=false",
            "-c",
            "core.hooksPath=/dev/null",
            "clone",
            "--quiet",
            "--no-recurse-submodules",
            "--",
            repo_url,
            &target,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let mut spec = inner.spec_for(&env, command, Duration::from_secs(inner.config.git_timeout_seconds));
        spec.network = true;
        spec.env.insert("GIT_TERMINAL_PROMPT".into(), "0".into());
        spec.env.insert("GIT_CONFIG_NOSYSTEM".into(), "1".into());
        spec.env.insert("GIT_CONFIG_GLOBAL".into(), "/dev/null".into());
        spec.limits.output_policy = OutputPolicy::Truncate;
        spec.limits.output_bytes = 64 << 10;
        let ran = inner.run_collect(&spec, None).await;
        lock(&env.disk).workspace_changed();
        let ran = ran.map_err(|e| match e {
            crate::RunError::Sandbox(s) => WorkspaceError::Sandbox(s),
            other => WorkspaceError::CloneFailed { reason: "start".into(), detail: other.to_string() },
        })?;
        if !ran.success {
            return Err(WorkspaceError::CloneFailed {
                reason: ran.reason.as_str().to_owned(),
                detail: crate::uv::tail(ran.stderr.trim(), 2000),
            });
        }
        Ok(CloneInfo { repo_url: repo_url.to_owned(), dir_name: dir, clone_path: target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_are_https_to_allowed_hosts_only() {
        let allowed = vec!["github.com".to_owned()];
        assert_eq!(check_clone_url("https://github.com/octocat/Hello-World.git", &allowed).unwrap(), "github.com");
        for bad in [
            "http://github.com/a/b",
            "git@github.com:a/b.git",
            "ssh://github.com/a/b",
            "file:///etc",
            "https://user:pw@github.com/a/b",
            "https://evil.example/a/b",
            "https://github.com.evil.example/a",
            "https://github.com/a b",
            "--upload-pack=x",
        ] {
            assert!(check_clone_url(bad, &allowed).is_err(), "{bad} must be refused");
        }
        let e = check_clone_url("https://github.com/a/b", &[]).unwrap_err().to_string();
        assert!(e.starts_with("repo_url") && e.contains("not enabled"), "{e}");
        assert_eq!(default_dir("https://github.com/octocat/Hello-World.git"), "Hello-World");
    }
}
