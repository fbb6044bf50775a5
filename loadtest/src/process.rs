//! Child processes the harness starts. Each is killed and reaped when its [`Process`] is
//! dropped (normal end, error, panic or Ctrl-C), and the kernel kills it if the harness itself
//! is killed outright, so no run leaves a process behind.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};

pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stderr (and stdout, unless the caller set it) going to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log).with_context(|| format!("creating log file {}", log.display()))?;
        command.stderr(file);
        die_with_parent(&mut command);
        let child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self { name: name.to_string(), child, log: log.to_path_buf() })
    }

    /// Like [`Process::spawn`], but appends to `log`, so the log of a process restarted many
    /// times (the chaos run) keeps every incarnation.
    pub fn spawn_appending(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log file {}", log.display()))?;
        command.stderr(file);
        die_with_parent(&mut command);
        let child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self { name: name.to_string(), child, log: log.to_path_buf() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The end of the process's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!("--- last lines of {} ---\n{}", self.log.display(), lines[start..].join("\n"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks the kernel to SIGKILL the child when the harness dies, even by SIGKILL. (Strictly:
/// when the spawning thread ends; processes are spawned from runtime threads, which live as
/// long as the harness.)
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The harness died before prctl took effect: nothing would kill us later.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// A process's resident memory and its peak, in KiB (`VmRSS` and `VmHWM` of
/// `/proc/PID/status`); `None` once it has exited.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The processes (other than the harness) with an argument containing `marker`: a job's
/// sandbox and the program it runs, found by a marker in the job's command line.
pub fn pids_with_argument(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}
