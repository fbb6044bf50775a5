//! What a sandbox is asked to be: the command, exactly what it sees (binds, workspace,
//! environment) and its bounds. A [`SandboxSpec`] is plain data so a caller can build it
//! from configuration, log it (environment values excepted) and test it without a host.
//!
//! Nothing is visible unless the spec names it: the defaults bind the system's programs and
//! libraries read-only (`/usr` and the merged-usr links), a few files of `/etc` that programs
//! need to start, and nothing of the host's home, Canopy's state or its environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The uid and gid a sandbox runs as, inside and on the host: `nobody`, so a process that
/// escaped every namespace would still own nothing of Canopy's (which runs as root here).
pub const NOBODY: u32 = 65534;

/// One command to run in a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxSpec {
    /// Program and arguments, resolved inside the sandbox (`PATH` from [`SandboxSpec::env`]).
    pub command: Vec<String>,
    /// The sandbox's whole environment: nothing of the caller's is inherited.
    pub env: BTreeMap<String, String>,
    /// Working directory inside; the workspace's mount point when `None` and there is one, else `/`.
    pub cwd: Option<PathBuf>,
    /// Bind the system's programs and libraries read-only: `/usr`, `/bin`, `/sbin`, `/lib`,
    /// `/lib64` and the [`SYSTEM_ETC`] files. Off only for callers that bind a root of their own.
    pub system: bool,
    /// The caller's read-write directory, mounted first, so [`SandboxSpec::binds`] may sit on
    /// top of it (a job's `/workspace/inputs` read-only inside a writable `/workspace`).
    pub workspace: Option<Bind>,
    /// Further binds, mounted in this order after the workspace.
    pub binds: Vec<Bind>,
    /// Size of the private `/tmp` (a tmpfs; its pages count against the memory bound too).
    pub tmp_size_bytes: u64,
    /// Share the host's network namespace (egress). Off: the sandbox has no interface but its
    /// own loopback, so not even the host's 127.0.0.1 services are reachable.
    pub network: bool,
    /// Host uid and gid the sandbox runs as when the caller is root (see [`NOBODY`]).
    pub uid: u32,
    pub gid: u32,
    pub limits: Limits,
}

/// A host path made visible inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

impl Bind {
    pub fn read_only(host: impl Into<PathBuf>, inside: impl Into<PathBuf>) -> Self {
        Bind { host: host.into(), inside: inside.into(), writable: false }
    }

    pub fn writable(host: impl Into<PathBuf>, inside: impl Into<PathBuf>) -> Self {
        Bind { host: host.into(), inside: inside.into(), writable: true }
    }
}

/// What happens when the output bound is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputPolicy {
    /// Stop the sandbox, reason [`crate::Reason::OutputLimit`] (the default: a program printing
    /// without end is broken).
    Kill,
    /// Keep running, drop what comes past the bound ([`crate::Outcome::output_truncated`]).
    Truncate,
}

/// The bounds of one run. `None` leaves a bound to the host's defaults.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock time from spawn; past it the whole tree is stopped, reason `timeout`.
    pub wall: Duration,
    /// Memory of the whole tree (cgroup), or the address space of each process (rlimit).
    pub memory_bytes: Option<u64>,
    /// Processes and threads of the whole tree (pids cgroup), or of the uid (rlimit).
    pub processes: Option<u64>,
    /// Open files per process (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
    /// CPU seconds per process (`RLIMIT_CPU`: SIGXCPU, then SIGKILL).
    pub cpu_seconds: Option<u64>,
    /// Largest file a process may write (`RLIMIT_FSIZE`: the write fails with EFBIG, or SIGXFSZ).
    pub file_size_bytes: Option<u64>,
    /// Bytes of the workspace's contents, checked while the sandbox runs (see `disk`).
    pub workspace_bytes: Option<u64>,
    /// Bytes of stdout and stderr together that are delivered.
    pub output_bytes: u64,
    pub output_policy: OutputPolicy,
    /// Between SIGTERM to the sandbox's processes and SIGKILL of all of them.
    pub kill_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(60),
            memory_bytes: Some(512 << 20),
            processes: Some(64),
            open_files: Some(256),
            cpu_seconds: None,
            file_size_bytes: Some(256 << 20),
            workspace_bytes: None,
            output_bytes: 1 << 20,
            output_policy: OutputPolicy::Kill,
            kill_grace: Duration::from_millis(250),
        }
    }
}

/// Files of `/etc` bound read-only (when present) with the system binds: the dynamic
/// loader's cache, the alternatives links some programs resolve through, CA certificates and
/// the time zone. `passwd`, `group` and `hosts` are written by the sandbox itself, naming
/// only the sandbox's user. Nothing else of `/etc` (no shadow, no Canopy configuration).
pub const SYSTEM_ETC: &[&str] =
    &["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/localtime"];

impl SandboxSpec {
    /// A spec with the system binds, no workspace, an empty environment but a `PATH`, and
    /// the default [`Limits`].
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> Self {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned());
        env.insert("LANG".to_owned(), "C.UTF-8".to_owned());
        SandboxSpec {
            command: command.into_iter().map(Into::into).collect(),
            env,
            cwd: None,
            system: true,
            workspace: None,
            binds: Vec::new(),
            tmp_size_bytes: 64 << 20,
            network: false,
            uid: NOBODY,
            gid: NOBODY,
            limits: Limits::default(),
        }
    }

    /// The directory the command starts in.
    pub fn working_dir(&self) -> PathBuf {
        match (&self.cwd, &self.workspace) {
            (Some(cwd), _) => cwd.clone(),
            (None, Some(ws)) => ws.inside.clone(),
            (None, None) => PathBuf::from("/"),
        }
    }
}
