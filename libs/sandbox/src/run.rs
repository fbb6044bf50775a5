//! A running sandbox: the bwrap process, the task that watches its bounds, and the handle
//! the caller streams output from, kills and waits on.
//!
//! Between clone and exec (`crate::spawn`: no copy of Canopy's memory) the child (still
//! Canopy's root) joins the sandbox's cgroups, sets the rlimits, drops to the sandbox's
//! unprivileged host uid and asks to be killed if Canopy dies; only then does it exec bwrap, so nothing the sandbox runs is ever outside its
//! bounds or privileged on the host. bwrap leads its own process group and its sandbox's pid
//! namespace: killing bwrap ends the sandbox's init (`--die-with-parent`), and the end of that
//! init ends every process in the namespace, however it forked or daemonized.

use crate::cgroup::SandboxCgroup;
use crate::spawn::Child;
use crate::spec::{Limits, OutputPolicy};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Which pipe a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Output as it was printed: whole lines where the program wrote whole lines (a partial line
/// is delivered after 50 ms without its newline, so prompts show up too).
#[derive(Clone, Debug)]
pub struct OutputChunk {
    pub stream: Stream,
    pub bytes: Vec<u8>,
    /// Time since the sandbox was spawned.
    pub at: Duration,
}

/// Why a sandbox ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The command ended by itself (see [`Outcome::exit_code`]).
    Exited,
    /// Stopped at [`Limits::wall`].
    Timeout,
    /// The memory cgroup's OOM killer killed a process of the sandbox.
    Oom,
    /// Stopped at [`Limits::output_bytes`] ([`OutputPolicy::Kill`]).
    OutputLimit,
    /// Stopped when the workspace grew past [`Limits::workspace_bytes`].
    DiskLimit,
    /// [`Running::kill`] was called.
    Killed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exited => "exited",
            Reason::Timeout => "timeout",
            Reason::Oom => "oom",
            Reason::OutputLimit => "output_limit",
            Reason::DiskLimit => "disk_limit",
            Reason::Killed => "killed",
        }
    }
}

/// How a sandbox ended and what it used.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub reason: Reason,
    /// The command's exit code. bwrap reports a command killed by signal N as 128 + N.
    pub exit_code: Option<i32>,
    /// The signal that ended bwrap itself (Canopy's kill).
    pub signal: Option<i32>,
    pub wall: Duration,
    /// Peak memory of the whole tree, from the memory cgroup.
    pub peak_memory_bytes: Option<u64>,
    /// Forks the pids cgroup refused (a fork bomb shows here).
    pub processes_refused: u64,
    /// Bytes of output delivered.
    pub output_bytes: u64,
    /// Output past the bound was dropped ([`OutputPolicy::Truncate`]).
    pub output_truncated: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.reason == Reason::Exited && self.exit_code == Some(0)
    }
}

/// A sandbox that was started. Dropping it without [`Running::wait`] kills it.
pub struct Running {
    pid: u32,
    output: Option<mpsc::UnboundedReceiver<OutputChunk>>,
    kill: watch::Sender<bool>,
    supervisor: Option<JoinHandle<Outcome>>,
}

impl Running {
    /// Host pid of the bwrap process (the leader of the sandbox's process group).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The output, chunk by chunk as printed; `None` once taken. The channel ends when the
    /// sandbox's pipes close.
    pub fn output(&mut self) -> Option<mpsc::UnboundedReceiver<OutputChunk>> {
        self.output.take()
    }

    /// Asks for the whole tree to end: SIGTERM to every process in it, SIGKILL after
    /// [`Limits::kill_grace`]. Returns at once; [`Running::wait`] tells when it is over.
    pub fn kill(&self) {
        let _ = self.kill.send(true);
    }

    /// Waits for the end: the command has exited or been stopped, every process of the
    /// sandbox is gone and the output channel has delivered everything.
    pub async fn wait(mut self) -> Outcome {
        let Some(supervisor) = self.supervisor.take() else {
            return unreachable_outcome();
        };
        match supervisor.await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "sandbox supervisor failed");
                Outcome { reason: Reason::Killed, ..unreachable_outcome() }
            }
        }
    }
}

fn unreachable_outcome() -> Outcome {
    Outcome {
        reason: Reason::Killed,
        exit_code: None,
        signal: None,
        wall: Duration::ZERO,
        peak_memory_bytes: None,
        processes_refused: 0,
        output_bytes: 0,
        output_truncated: false,
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.supervisor.is_some() {
            let _ = self.kill.send(true);
        }
    }
}

/// What the child does between clone and exec, prepared in the parent: the child may not
/// allocate.
pub struct ChildSetup {
    /// Files the child writes "0" into to join the sandbox's cgroups.
    pub cgroup_join: Vec<CString>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// Descriptors bwrap reads (`--args`, `--ro-bind-data`): their close-on-exec is cleared.
    pub inherit: Vec<i32>,
    /// Host uid and gid to drop to, when Canopy runs as root.
    pub drop_to: Option<(u32, u32)>,
}

impl ChildSetup {
    /// Runs in the child, which shares the parent's memory: system calls only, and no libc
    /// wrapper that acts on the whole process (glibc's set*id ones signal every thread of
    /// the process they think they are in: the parent's).
    pub(crate) fn apply(&self) -> std::io::Result<()> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY: plain syscalls on values prepared before the clone.
        unsafe {
            for path in &self.cgroup_join {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return fail();
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return fail();
                }
            }
            for &(resource, value) in &self.rlimits {
                let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &limit) != 0 {
                    return fail();
                }
            }
            for &fd in &self.inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return fail();
                }
            }
            if let Some((uid, gid)) = self.drop_to {
                let no_groups: *const libc::gid_t = std::ptr::null();
                if libc::syscall(libc::SYS_setgroups, 0usize, no_groups) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0
                {
                    return fail();
                }
            }
            // After the uid change, which clears it. The signal comes when the thread that
            // cloned ends: the spawner thread, which lives as long as the process.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return fail();
            }
        }
        Ok(())
    }
}

/// Everything `start` needs that the spawner prepared.
pub struct Launch {
    pub bwrap: PathBuf,
    /// The memfd holding the `--args` payload, and the `--ro-bind-data` ones; kept open until
    /// bwrap has read them (they are dropped when the supervisor ends).
    pub fds: Vec<OwnedFd>,
    pub args_fd: i32,
    pub command: Vec<String>,
    pub setup: ChildSetup,
    pub cgroup: Option<SandboxCgroup>,
    pub limits: Limits,
    pub workspace: Option<PathBuf>,
}

pub fn start(launch: Launch) -> Result<Running, crate::SandboxError> {
    let started = Instant::now();
    let mut args = vec!["--args".to_owned(), launch.args_fd.to_string(), "--".to_owned()];
    args.extend(launch.command.iter().cloned());
    let spawned = crate::spawn::spawn(&launch.bwrap, &args, launch.setup).map_err(crate::SandboxError::Spawn)?;
    let child = spawned.child;
    let pid = child.id();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (kill_tx, kill_rx) = watch::channel(false);
    let (chunk_tx, chunk_rx) = mpsc::channel(16);
    tokio::spawn(read_stream(spawned.stdout, Stream::Stdout, chunk_tx.clone()));
    tokio::spawn(read_stream(spawned.stderr, Stream::Stderr, chunk_tx));
    let watcher = Supervisor {
        child,
        pid: pid as i32,
        started,
        cgroup: launch.cgroup,
        limits: launch.limits,
        workspace: launch.workspace,
        out: out_tx,
        fds: launch.fds,
    };
    let supervisor = tokio::spawn(watcher.run(chunk_rx, kill_rx));
    Ok(Running { pid, output: Some(out_rx), kill: kill_tx, supervisor: Some(supervisor) })
}

/// Reads one pipe, handing on complete lines at once and a partial line after 50 ms.
async fn read_stream(mut pipe: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<(Stream, Vec<u8>)>) {
    const HOLD: Duration = Duration::from_millis(50);
    const MAX_PENDING: usize = 64 << 10;
    let mut buf = vec![0u8; 16 << 10];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = if pending.is_empty() {
            pipe.read(&mut buf).await
        } else {
            match tokio::time::timeout(HOLD, pipe.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    if tx.send((stream, std::mem::take(&mut pending))).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                let cut = if pending.len() >= MAX_PENDING {
                    Some(pending.len())
                } else {
                    pending.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
                };
                if let Some(cut) = cut {
                    let rest = pending.split_off(cut);
                    if tx.send((stream, std::mem::replace(&mut pending, rest))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    if !pending.is_empty() {
        let _ = tx.send((stream, pending)).await;
    }
}

struct Supervisor {
    child: Child,
    pid: i32,
    started: Instant,
    cgroup: Option<SandboxCgroup>,
    limits: Limits,
    workspace: Option<PathBuf>,
    out: mpsc::UnboundedSender<OutputChunk>,
    fds: Vec<OwnedFd>,
}

/// The two steps of stopping a sandbox.
enum Stopping {
    Running,
    /// SIGTERM sent; SIGKILL at this instant.
    Terminated(tokio::time::Instant),
    Killed,
}

impl Supervisor {
    async fn run(mut self, mut chunks: mpsc::Receiver<(Stream, Vec<u8>)>, mut kill: watch::Receiver<bool>) -> Outcome {
        let deadline = tokio::time::Instant::from_std(self.started + self.limits.wall);
        let mut reason: Option<Reason> = None;
        let mut stopping = Stopping::Running;
        let mut status: Option<ExitStatus> = None;
        let mut output_open = true;
        let mut delivered: u64 = 0;
        let mut truncated = false;
        let mut disk_check = tokio::time::interval(Duration::from_millis(250));
        let mut kill_requested = false;
        // Once the command is gone, its pipes close at once (the pid namespace is gone with
        // it); this bounds the wait for output anyway.
        let mut drain_until: Option<tokio::time::Instant> = None;

        loop {
            if status.is_some() && (!output_open || drain_until.is_some_and(|t| t <= tokio::time::Instant::now())) {
                break;
            }
            let kill_at = match stopping {
                Stopping::Terminated(at) => Some(at),
                _ => None,
            };
            tokio::select! {
                waited = self.child.wait(), if status.is_none() => {
                    status = Some(waited.unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(0)));
                    drain_until = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    if matches!(stopping, Stopping::Terminated(_)) {
                        stopping = Stopping::Killed;
                    }
                }
                chunk = chunks.recv(), if output_open => match chunk {
                    None => output_open = false,
                    Some((stream, mut bytes)) => {
                        let room = self.limits.output_bytes.saturating_sub(delivered);
                        if bytes.len() as u64 > room {
                            bytes.truncate(room as usize);
                            truncated = true;
                            if self.limits.output_policy == OutputPolicy::Kill && reason.is_none() {
                                reason = Some(Reason::OutputLimit);
                            }
                        }
                        if !bytes.is_empty() {
                            delivered += bytes.len() as u64;
                            let at = self.started.elapsed();
                            let _ = self.out.send(OutputChunk { stream, bytes, at });
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline), if status.is_none() && reason.is_none() => {
                    reason = Some(Reason::Timeout);
                }
                changed = kill.changed(), if !kill_requested => {
                    kill_requested = true;
                    if changed.is_ok() && reason.is_none() && status.is_none() {
                        reason = Some(Reason::Killed);
                    }
                }
                _ = sleep_until_opt(kill_at) => {
                    self.hard_kill();
                    stopping = Stopping::Killed;
                }
                _ = disk_check.tick(), if self.limits.workspace_bytes.is_some() && status.is_none() && reason.is_none() => {
                    if let (Some(max), Some(dir)) = (self.limits.workspace_bytes, self.workspace.clone()) {
                        let used = tokio::task::spawn_blocking(move || crate::disk::used_bytes(&dir)).await.unwrap_or(0);
                        if used > max {
                            reason = Some(Reason::DiskLimit);
                        }
                    }
                }
            }
            if reason.is_some() && status.is_none() && matches!(stopping, Stopping::Running) {
                stopping = self.terminate();
            }
        }

        let wall = self.started.elapsed();
        let usage = self.cgroup.as_ref().map(SandboxCgroup::usage).unwrap_or_default();
        if let Some(mut cgroup) = self.cgroup.take() {
            cgroup.remove().await;
        }
        self.fds.clear();
        let status = status.unwrap_or_else(|| std::os::unix::process::ExitStatusExt::from_raw(0));
        use std::os::unix::process::ExitStatusExt as _;
        let reason = match reason {
            Some(r) => r,
            None if usage.oom_kills > 0 => Reason::Oom,
            None => Reason::Exited,
        };
        Outcome {
            reason,
            exit_code: status.code(),
            signal: status.signal(),
            wall,
            peak_memory_bytes: usage.peak_memory_bytes,
            processes_refused: usage.pids_refused,
            output_bytes: delivered,
            output_truncated: truncated,
        }
    }

    /// SIGTERM to every process of the sandbox but bwrap (so the command may clean up), or,
    /// without a cgroup to find them by, SIGKILL at once.
    fn terminate(&mut self) -> Stopping {
        match &self.cgroup {
            Some(cgroup) if !self.limits.kill_grace.is_zero() => {
                cgroup.signal_all(libc::SIGTERM, Some(self.pid));
                Stopping::Terminated(tokio::time::Instant::now() + self.limits.kill_grace)
            }
            _ => {
                self.hard_kill();
                Stopping::Killed
            }
        }
    }

    fn hard_kill(&mut self) {
        if self.pid > 0 {
            // SAFETY: kill(2) of bwrap's own process group (it leads it: process_group(0)).
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.signal_all(libc::SIGKILL, None);
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
