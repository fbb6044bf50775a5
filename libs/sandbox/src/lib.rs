//! Runs a command for a user (a job, a Python snippet, a package install) in a bubblewrap
//! sandbox that sees exactly what its [`SandboxSpec`] binds and is bounded in wall time,
//! memory, processes, open files, file size, workspace disk and output. No HTTP, no database:
//! the job backends and the Python environments build on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), canopy_sandbox::SandboxError> {
//! use canopy_sandbox::{Bind, Sandbox, SandboxSpec};
//! let sandbox = Sandbox::probe().await?; // refuses a host that cannot isolate
//! let mut spec = SandboxSpec::new(["python3", "-I", "scripts/main.py"]);
//! spec.workspace = Some(Bind::writable("/var/lib/canopy/jobs/j1", "/workspace"));
//! spec.binds.push(Bind::read_only("/var/lib/canopy/inputs/j1", "/workspace/inputs"));
//! let mut running = sandbox.spawn(&spec)?;
//! let mut output = running.output().expect("taken once");
//! while let Some(chunk) = output.recv().await { /* log it as it comes */ }
//! let outcome = running.wait().await; // reason: exited, timeout, oom, output_limit, ...
//! # Ok(()) }
//! ```
//!
//! # Who the sandbox is
//!
//! Canopy runs as root on its hosts. The process it starts joins the sandbox's cgroups, sets
//! the rlimits, then drops to an unprivileged host uid (`nobody` by default) before it execs
//! bwrap, which builds the sandbox in a user namespace of its own. So the code inside is
//! `nobody` on the host too: it owns none of Canopy's files, its processes count against no
//! one else's, and a bind's host path must be reachable by that uid (checked at spawn).
//! The top of each writable bind (the workspace) is handed to that uid at spawn; [`hand_over`]
//! gives it a whole tree the caller prepared.
//!
//! # How each bound is enforced
//!
//! | bound | with cgroups | without |
//! |---|---|---|
//! | wall time | supervisor timer, then SIGTERM, SIGKILL after a grace | same, SIGKILL at once |
//! | memory | memory cgroup of the whole tree (`oom`) | `RLIMIT_AS` per process (allocations fail) |
//! | processes | pids cgroup of the whole tree | `RLIMIT_NPROC`, counted per uid |
//! | open files, CPU, file size | `RLIMIT_NOFILE`, `RLIMIT_CPU`, `RLIMIT_FSIZE` per process | same |
//! | `/tmp` | tmpfs of `tmp_size_bytes` (its pages count as memory) | same |
//! | workspace disk | measured every 250 ms (`disk_limit`) | same |
//! | output | counted as delivered; kill (`output_limit`) or truncate | same |
//!
//! [`Sandbox::support`] says which column applies; [`Sandbox::require_cgroups`] refuses a
//! host without them, for services that must not settle for rlimits.

mod bwrap;
mod cgroup;
mod disk;
mod error;
mod run;
mod spawn;
mod spec;

pub use error::SandboxError;
pub use run::{Outcome, OutputChunk, Reason, Running, Stream};
pub use spec::{Bind, Limits, OutputPolicy, SandboxSpec, NOBODY, SYSTEM_ETC};

use cgroup::{Controllers, SandboxCgroup};
use std::ffi::CString;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A host proven able to run sandboxes. Only [`Sandbox::probe`] makes one, so nothing can be
/// spawned on a host where bubblewrap does not work: never silently unsandboxed.
#[derive(Clone, Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    controllers: Controllers,
    root: bool,
}

/// What this host enforces, for logs and for refusing to start.
#[derive(Clone, Debug)]
pub struct Support {
    pub bwrap: PathBuf,
    /// "cgroup v1 (/sys/fs/cgroup/memory/...)", "cgroup v2 (...)" or "rlimit".
    pub memory: String,
    pub processes: String,
    /// Sandboxes run as an unprivileged host uid (Canopy is root); otherwise as Canopy's own uid.
    pub drops_uid: bool,
}

impl Sandbox {
    /// Finds bwrap and the cgroup controllers, then runs `true` in a sandbox to prove that
    /// namespaces work here.
    pub async fn probe() -> Result<Sandbox, SandboxError> {
        let bwrap = find_bwrap().ok_or(SandboxError::BwrapMissing)?;
        let controllers = tokio::task::spawn_blocking(|| {
            let controllers = Controllers::detect();
            let swept = controllers.sweep_leftovers();
            if swept > 0 {
                tracing::info!(swept, "removed the sandbox cgroups of Canopy processes that are gone");
            }
            controllers
        })
        .await
        .unwrap_or_default();
        // SAFETY: geteuid(2) cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let sandbox = Sandbox { bwrap, controllers, root };
        let mut spec = SandboxSpec::new(["true"]);
        spec.limits.wall = Duration::from_secs(10);
        let mut trial = sandbox.spawn(&spec)?;
        let mut output = trial.output();
        let outcome = trial.wait().await;
        if !outcome.success() {
            let mut said = Vec::new();
            if let Some(out) = output.as_mut() {
                while let Ok(chunk) = out.try_recv() {
                    said.extend(chunk.bytes);
                }
            }
            let detail = format!(
                "`true` ended with {} (exit code {:?}): {}",
                outcome.reason.as_str(),
                outcome.exit_code,
                String::from_utf8_lossy(&said).trim()
            );
            return Err(SandboxError::BwrapBroken { detail });
        }
        Ok(sandbox)
    }

    pub fn support(&self) -> Support {
        let describe = |h: &Option<cgroup::Hierarchy>| h.as_ref().map_or_else(|| "rlimit".to_owned(), |h| h.describe());
        Support {
            bwrap: self.bwrap.clone(),
            memory: describe(&self.controllers.memory),
            processes: describe(&self.controllers.pids),
            drops_uid: self.root,
        }
    }

    /// Refuses a host where memory or processes could only be bounded per process.
    pub fn require_cgroups(&self) -> Result<(), SandboxError> {
        let missing: Vec<&str> = [("memory", &self.controllers.memory), ("pids", &self.controllers.pids)]
            .into_iter()
            .filter(|(_, h)| h.is_none())
            .map(|(name, _)| name)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(SandboxError::Unenforceable {
            what: "memory and process bounds for a whole sandbox",
            detail: format!("no usable cgroup ({} controller missing or not writable)", missing.join(", ")),
        })
    }

    /// Starts the spec's command. Fails before anything runs when the spec is invalid or a
    /// bind cannot be mounted; once started, every ending is an [`Outcome`].
    pub fn spawn(&self, spec: &SandboxSpec) -> Result<Running, SandboxError> {
        let drop_to = self.root.then_some((spec.uid, spec.gid));
        self.check_binds(spec, drop_to)?;

        let identity = bwrap::identity_files(spec.uid, spec.gid);
        let mut fds = Vec::new();
        let mut data_fds = Vec::new();
        if spec.system {
            for file in &identity {
                let fd = memfd(&file.contents)?;
                data_fds.push((fd.as_raw_fd(), file.inside));
                fds.push(fd);
            }
        }
        let args = bwrap::arguments(spec, &data_fds)?;
        let args_fd = memfd(&bwrap::encode(&args))?;
        let args_raw = args_fd.as_raw_fd();
        fds.push(args_fd);

        let limits = &spec.limits;
        let cgroup = if limits.memory_bytes.is_some() || limits.processes.is_some() {
            Some(SandboxCgroup::create(&self.controllers, limits.memory_bytes, limits.processes)?)
        } else {
            None
        };
        let mut rlimits = Vec::new();
        let enforced_by_cgroup = |f: fn(&SandboxCgroup) -> bool| cgroup.as_ref().is_some_and(f);
        if let (Some(bytes), false) = (limits.memory_bytes, enforced_by_cgroup(SandboxCgroup::enforces_memory)) {
            rlimits.push((libc::RLIMIT_AS, bytes));
        }
        if let (Some(n), false) = (limits.processes, enforced_by_cgroup(SandboxCgroup::enforces_processes)) {
            rlimits.push((libc::RLIMIT_NPROC, n));
        }
        if let Some(n) = limits.open_files {
            rlimits.push((libc::RLIMIT_NOFILE, n));
        }
        if let Some(s) = limits.cpu_seconds {
            rlimits.push((libc::RLIMIT_CPU, s));
        }
        if let Some(b) = limits.file_size_bytes {
            rlimits.push((libc::RLIMIT_FSIZE, b));
        }
        rlimits.push((libc::RLIMIT_CORE, 0));

        let setup = run::ChildSetup {
            cgroup_join: cgroup.as_ref().map(SandboxCgroup::join_paths).unwrap_or_default(),
            rlimits,
            inherit: fds.iter().map(AsRawFd::as_raw_fd).collect(),
            drop_to,
        };
        run::start(run::Launch {
            bwrap: self.bwrap.clone(),
            fds,
            args_fd: args_raw,
            command: spec.command.clone(),
            setup,
            cgroup,
            limits: spec.limits.clone(),
            workspace: spec.workspace.as_ref().map(|w| w.host.clone()),
        })
    }

    /// Every bind's host path must exist and be reachable by the uid bwrap will run as (it
    /// mounts them after dropping root). Writable binds are handed to that uid.
    fn check_binds(&self, spec: &SandboxSpec, drop_to: Option<(u32, u32)>) -> Result<(), SandboxError> {
        for bind in spec.workspace.iter().chain(&spec.binds) {
            let unreachable = || SandboxError::BindUnreachable { path: bind.host.clone(), uid: spec.uid };
            let meta = std::fs::metadata(&bind.host).map_err(|_| unreachable())?;
            let Some((uid, gid)) = drop_to else { continue };
            if bind.writable && meta.uid() != uid {
                chown(&bind.host, uid, gid)?;
            }
            if !reachable(&bind.host, uid, gid) {
                return Err(unreachable());
            }
        }
        Ok(())
    }
}

fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("bwrap"))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

/// Whether `uid`/`gid` may search every directory above `path` (and `path` itself, if a directory).
fn reachable(path: &Path, uid: u32, gid: u32) -> bool {
    let may_search = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| {
            let mode = m.mode();
            !m.is_dir()
                || (m.uid() == uid && mode & 0o100 != 0)
                || (m.gid() == gid && mode & 0o010 != 0)
                || mode & 0o001 != 0
        })
    };
    path.ancestors().all(may_search)
}

/// Gives a directory tree to the sandbox's uid, for a caller that fills a workspace (as
/// root) before a run: the sandbox can then write everywhere in it. [`Sandbox::spawn`] only
/// hands over the top of a writable bind, to stay cheap on large workspaces. Symlinks are
/// changed themselves, never followed.
pub fn hand_over(dir: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    let fail = |source| SandboxError::Prepare { what: "workspace (chown to the sandbox uid)", source };
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).map_err(fail)?;
    let meta = std::fs::symlink_metadata(dir).map_err(fail)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(fail)? {
            hand_over(&entry.map_err(fail)?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|source| SandboxError::Prepare { what: "writable bind (chown to the sandbox uid)", source })
}

/// An anonymous, close-on-exec file holding `contents`, read from the start by bwrap.
fn memfd(contents: &[u8]) -> Result<OwnedFd, SandboxError> {
    let prepare = |source| SandboxError::Prepare { what: "bwrap arguments", source };
    let name = CString::new("canopy-sandbox").map_err(|e| prepare(std::io::Error::other(e)))?;
    // SAFETY: memfd_create with a valid name; the descriptor is owned right away.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(prepare(std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut file = std::fs::File::from(fd);
    file.write_all(contents).map_err(prepare)?;
    file.seek(SeekFrom::Start(0)).map_err(prepare)?;
    Ok(OwnedFd::from(file))
}
