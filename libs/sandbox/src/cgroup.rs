//! One cgroup per sandbox, for the two bounds rlimits cannot draw around a whole process
//! tree: memory (all its processes together, tmpfs pages included) and the number of
//! processes (a fork bomb stops at `pids.max` without touching the uid's other processes).
//! It also tells how a run ended (`oom_kill` counts) and what it used (peak memory), and
//! lists every process of the tree, so a kill reaches all of them.
//!
//! Hosts differ: cgroup v2 (one unified hierarchy) or v1 (a hierarchy per controller, as on
//! this project's machines, where v2 is mounted but holds only `hugetlb`). Each controller is
//! looked up on its own, v2 first. Sandbox cgroups are created under the cgroup this process
//! is in, so they stay inside whatever bounds the host gave Canopy itself.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which hierarchy serves a controller, and the directory of this process's cgroup in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    V1(PathBuf),
    V2(PathBuf),
}

impl Hierarchy {
    fn dir(&self) -> &Path {
        match self {
            Hierarchy::V1(dir) | Hierarchy::V2(dir) => dir,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Hierarchy::V1(dir) => format!("cgroup v1 ({})", dir.display()),
            Hierarchy::V2(dir) => format!("cgroup v2 ({})", dir.display()),
        }
    }
}

/// The controllers this host lets Canopy use, found once at probe time.
#[derive(Clone, Debug, Default)]
pub struct Controllers {
    pub memory: Option<Hierarchy>,
    pub pids: Option<Hierarchy>,
}

impl Controllers {
    /// Looks at `/proc/self/mountinfo` and `/proc/self/cgroup`, then proves each candidate by
    /// creating (and removing) a child cgroup in it.
    pub fn detect() -> Controllers {
        let (Ok(mountinfo), Ok(own)) =
            (fs::read_to_string("/proc/self/mountinfo"), fs::read_to_string("/proc/self/cgroup"))
        else {
            return Controllers::default();
        };
        let find = |controller: &str| -> Option<Hierarchy> {
            let v2 = v2_dir(&mountinfo, &own).filter(|dir| v2_offers(dir, controller)).map(Hierarchy::V2);
            let v1 = || v1_dir(&mountinfo, &own, controller).map(Hierarchy::V1);
            v2.into_iter().chain(v1()).find(|h| usable(h.dir()))
        };
        Controllers { memory: find("memory"), pids: find("pids") }
    }
}

/// `/proc/self/mountinfo` lines as (root, mount point, fs type, super options).
fn mounts(mountinfo: &str) -> impl Iterator<Item = (&str, &str, &str, &str)> {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ');
        let root = l.nth(3)?;
        let point = l.next()?;
        let mut r = right.split(' ');
        let fstype = r.next()?;
        let superopts = r.nth(1).unwrap_or("");
        Some((root, point, fstype, superopts))
    })
}

/// This process's path in a hierarchy, relative to the mount's own root (in a container the
/// mount's root is often the container's cgroup itself).
fn own_dir(point: &str, root: &str, own_path: &str) -> PathBuf {
    let rel = own_path.strip_prefix(root).unwrap_or(own_path).trim_start_matches('/');
    Path::new(point).join(rel)
}

fn v2_dir(mountinfo: &str, own: &str) -> Option<PathBuf> {
    let own_path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let (root, point, _, _) = mounts(mountinfo).find(|(_, _, fstype, _)| *fstype == "cgroup2")?;
    Some(own_dir(point, root, own_path))
}

fn v2_offers(dir: &Path, controller: &str) -> bool {
    let has = |file: &str| {
        fs::read_to_string(dir.join(file)).map(|s| s.split_whitespace().any(|c| c == controller)).unwrap_or(false)
    };
    // Children only get a controller that is enabled in the parent's subtree_control.
    has("cgroup.controllers")
        && (has("cgroup.subtree_control")
            || fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}")).is_ok())
}

impl Controllers {
    /// Removes the sandbox cgroups of Canopy processes that are gone: a process killed with
    /// `kill -9` (or a crash) cannot remove those of the sandboxes it ran, and each one left
    /// costs the kernel memory for as long as the host runs. Only cgroups named after a
    /// process that no longer exists, and only empty ones (`rmdir` refuses a cgroup with
    /// processes in it); how many were removed.
    pub fn sweep_leftovers(&self) -> usize {
        let mut removed = 0;
        for hierarchy in [&self.memory, &self.pids].into_iter().flatten() {
            let Ok(entries) = fs::read_dir(hierarchy.dir()) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(leftover_of) else { continue };
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    removed += usize::from(fs::remove_dir(entry.path()).is_ok());
                }
            }
        }
        removed
    }
}

/// The pid in the name of a sandbox cgroup (`canopy-sandbox-PID-N`); not a probe's.
fn leftover_of(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix("canopy-sandbox-")?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn v1_dir(mountinfo: &str, own: &str, controller: &str) -> Option<PathBuf> {
    let own_path = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let names = parts.next()?;
        let path = parts.next()?;
        names.split(',').any(|n| n == controller).then_some(path)
    })?;
    let (root, point, _, _) = mounts(mountinfo)
        .find(|(_, _, fstype, opts)| *fstype == "cgroup" && opts.split(',').any(|o| o == controller))?;
    Some(own_dir(point, root, own_path))
}

fn usable(dir: &Path) -> bool {
    let probe = dir.join(format!("canopy-sandbox-probe-{}", std::process::id()));
    let made = fs::create_dir(&probe).is_ok();
    made && fs::remove_dir(&probe).is_ok()
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The cgroup(s) of one sandbox: one directory per hierarchy used (one in total on v2).
pub struct SandboxCgroup {
    memory: Option<Hierarchy>,
    pids: Option<Hierarchy>,
}

/// What the cgroup saw, read when the sandbox has ended.
#[derive(Debug, Default)]
pub struct CgroupUsage {
    pub peak_memory_bytes: Option<u64>,
    pub oom_kills: u64,
    pub pids_refused: u64,
}

impl SandboxCgroup {
    /// Creates the cgroup(s) and writes the bounds. Nothing is in them yet: the spawned
    /// process joins them itself before it execs bwrap ([`SandboxCgroup::join_paths`]).
    pub fn create(
        controllers: &Controllers,
        memory_bytes: Option<u64>,
        processes: Option<u64>,
    ) -> Result<SandboxCgroup, crate::SandboxError> {
        let name = format!("canopy-sandbox-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let make = |h: &Hierarchy| -> Result<Hierarchy, crate::SandboxError> {
            let dir = h.dir().join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(crate::SandboxError::Cgroup { path: dir, source }),
            }
            Ok(match h {
                Hierarchy::V1(_) => Hierarchy::V1(dir),
                Hierarchy::V2(_) => Hierarchy::V2(dir),
            })
        };
        let memory = match (&controllers.memory, memory_bytes) {
            (Some(h), Some(_)) => Some(make(h)?),
            _ => None,
        };
        let pids = match (&controllers.pids, processes) {
            (Some(h), Some(_)) => match (&memory, h) {
                // v2: one directory serves both controllers.
                (Some(m @ Hierarchy::V2(_)), Hierarchy::V2(_)) => Some(m.clone()),
                _ => Some(make(h)?),
            },
            _ => None,
        };
        let cgroup = SandboxCgroup { memory, pids };
        let write = |dir: &Path, file: &str, value: String| {
            fs::write(dir.join(file), value)
                .map_err(|source| crate::SandboxError::Cgroup { path: dir.join(file), source })
        };
        if let (Some(h), Some(bytes)) = (&cgroup.memory, memory_bytes) {
            match h {
                Hierarchy::V1(dir) => {
                    write(dir, "memory.limit_in_bytes", bytes.to_string())?;
                    // Swap too, where swap accounting exists; otherwise there is no swap to bound.
                    let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                }
                Hierarchy::V2(dir) => {
                    write(dir, "memory.max", bytes.to_string())?;
                    let _ = fs::write(dir.join("memory.swap.max"), "0");
                }
            }
        }
        if let (Some(h), Some(n)) = (&cgroup.pids, processes) {
            write(h.dir(), "pids.max", n.to_string())?;
        }
        Ok(cgroup)
    }

    pub fn enforces_memory(&self) -> bool {
        self.memory.is_some()
    }

    pub fn enforces_processes(&self) -> bool {
        self.pids.is_some()
    }

    /// The files the child writes "0" (itself) into between clone and exec, so bwrap and
    /// everything it starts are inside from their first instruction.
    ///
    /// On v1 that is `tasks`, which moves the calling thread: the child is then a single
    /// thread, so it moves the whole process, as `cgroup.procs` would. `cgroup.procs` moves a
    /// thread group, for which the kernel takes the host-wide lock that forks and exits hold
    /// for reading (`cgroup_threadgroup_rwsem`) for writing, first waiting out an RCU grace
    /// period, all under the cgroup mutex: 9-17 ms per sandbox on a busy host, one sandbox at
    /// a time (their cgroups' creation and removal wait too). A thread moving itself takes
    /// no such lock (~0.3 ms). On v2, `tasks` does not exist (`cgroup.threads` only moves threads
    /// within a threaded subtree): `cgroup.procs` it is.
    pub fn join_paths(&self) -> Vec<CString> {
        let mut files: Vec<PathBuf> = self
            .memory
            .iter()
            .chain(self.pids.iter())
            .map(|h| match h {
                Hierarchy::V1(dir) => dir.join("tasks"),
                Hierarchy::V2(dir) => dir.join("cgroup.procs"),
            })
            .collect();
        files.dedup();
        files.iter().filter_map(|f| CString::new(f.as_os_str().as_bytes()).ok()).collect()
    }

    /// Host pids of every process in the sandbox.
    pub fn pids(&self) -> Vec<i32> {
        let mut all: Vec<i32> = self
            .memory
            .iter()
            .chain(self.pids.iter())
            .filter_map(|h| fs::read_to_string(h.dir().join("cgroup.procs")).ok())
            .flat_map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<i32>>())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    pub fn signal_all(&self, signal: i32, except: Option<i32>) {
        for pid in self.pids() {
            if Some(pid) != except && pid > 0 {
                // SAFETY: kill(2) with a pid read from the sandbox's own cgroup.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }

    pub fn usage(&self) -> CgroupUsage {
        let mut usage = CgroupUsage::default();
        match &self.memory {
            Some(Hierarchy::V1(dir)) => {
                usage.peak_memory_bytes = read_u64(&dir.join("memory.max_usage_in_bytes"));
                usage.oom_kills = read_key(&dir.join("memory.oom_control"), "oom_kill").unwrap_or(0);
            }
            Some(Hierarchy::V2(dir)) => {
                usage.peak_memory_bytes = read_u64(&dir.join("memory.peak"));
                usage.oom_kills = read_key(&dir.join("memory.events"), "oom_kill").unwrap_or(0);
            }
            None => {}
        }
        if let Some(h) = &self.pids {
            usage.pids_refused = read_key(&h.dir().join("pids.events"), "max").unwrap_or(0);
        }
        usage
    }

    /// Kills what is left and removes the directories. A cgroup only goes once it is empty,
    /// so this retries briefly while the kernel reaps the last processes.
    pub async fn remove(&mut self) {
        let mut dirs = self.dirs();
        for attempt in 0..200u32 {
            dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
            if dirs.is_empty() {
                self.memory = None;
                self.pids = None;
                return;
            }
            self.signal_all(libc::SIGKILL, None);
            let wait = if attempt < 20 { 1 } else { 10 };
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
        tracing::warn!(dirs = ?dirs, "sandbox cgroup still busy, left in place");
    }
}

impl SandboxCgroup {
    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> =
            self.memory.iter().chain(self.pids.iter()).map(|h| h.dir().to_path_buf()).collect();
        dirs.dedup();
        dirs
    }
}

/// A supervisor cut short (its runtime shutting down) still kills the tree and tries once to
/// leave no cgroup behind.
impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        if self.memory.is_none() && self.pids.is_none() {
            return;
        }
        self.signal_all(libc::SIGKILL, None);
        for dir in self.dirs() {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A `key value` line of a cgroup statistics file.
fn read_key(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "8:pids:/\n4:memory:/process_api/abc\n0::/\n";

    #[test]
    fn leftovers_are_named_after_their_process() {
        assert_eq!(leftover_of("canopy-sandbox-1234-7"), Some(1234));
        assert_eq!(leftover_of("canopy-sandbox-probe-1234"), None);
        assert_eq!(leftover_of("canopy-sandbox-1234"), None);
        assert_eq!(leftover_of("other-1234-7"), None);
    }

    /// A cgroup of a process that is gone is removed; one of a live process is kept.
    #[test]
    fn sweeping_removes_the_cgroups_of_dead_processes_only() {
        let controllers = Controllers::detect();
        let Some(pids) = controllers.pids.as_ref().or(controllers.memory.as_ref()) else {
            eprintln!("no cgroup controller here: nothing to sweep");
            return;
        };
        // No pid is this large (pid_max is at most 2^22).
        let dead = pids.dir().join(format!("canopy-sandbox-{}-1", u32::MAX - 7));
        let live = pids.dir().join(format!("canopy-sandbox-{}-999999", std::process::id()));
        fs::create_dir(&dead).unwrap();
        fs::create_dir(&live).unwrap();
        // (Another test process probing at the same time may sweep it first: only the result counts.)
        controllers.sweep_leftovers();
        let (dead_gone, live_kept) = (!dead.exists(), live.exists());
        let _ = fs::remove_dir(&live);
        assert!(dead_gone && live_kept, "dead removed: {dead_gone}, live kept: {live_kept}");
    }

    #[test]
    fn v1_paths_follow_the_own_cgroup() {
        assert_eq!(v1_dir(MOUNTINFO, OWN, "memory"), Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")));
        assert_eq!(v1_dir(MOUNTINFO, OWN, "pids"), Some(PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(v1_dir(MOUNTINFO, OWN, "cpu"), None);
        assert_eq!(v2_dir(MOUNTINFO, OWN), Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn a_container_mount_root_is_stripped() {
        let mountinfo = "40 1 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let own = "0::/kubepods/pod1/app\n";
        assert_eq!(v2_dir(mountinfo, own), Some(PathBuf::from("/sys/fs/cgroup/app")));
    }
}
