//! The bubblewrap command line for a [`SandboxSpec`]: which namespaces, which mounts, which
//! environment. Kept apart from spawning so the mapping from spec to isolation can be read
//! (and unit-tested) in one place.
//!
//! Why each namespace: a user namespace so the sandbox can mount without privileges and so
//! `--disable-userns` can forbid nested ones (the kernel surface they open); a pid namespace
//! so it sees only its own processes and so the death of its init takes every descendant
//! with it; a network namespace (unless egress is allowed) so not even the host's loopback
//! services (Postgres, Redis, NATS) answer; ipc, uts and cgroup namespaces so nothing of the
//! host's shows through them. `--new-session` keeps it away from any terminal (no TIOCSTI),
//! `--die-with-parent` ends it with the bwrap process Canopy supervises.
//!
//! The options travel to bwrap through a memfd (`--args FD`), not argv: the environment
//! values of a job (its own secrets) never appear in the host's `ps` or `/proc/PID/cmdline`.
//! Only the command does.

use crate::spec::{SandboxSpec, SYSTEM_ETC};
use crate::SandboxError;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Top-level directories that hold programs and libraries. On a merged-usr host they are
/// symlinks into `/usr` and are recreated as symlinks; otherwise they are bound read-only.
const SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// Extra `/etc` files a sandbox with egress needs to resolve names.
const NETWORK_ETC: &[&str] = &["/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf"];

/// Files bwrap writes into the sandbox from a file descriptor the caller provides.
#[derive(Debug)]
pub struct DataFile {
    pub inside: &'static str,
    pub contents: Vec<u8>,
}

/// The files of `/etc` that name the sandbox's only user: enough for `id`, `whoami`, Python's
/// `getpass` and `localhost`, and nothing about the host's accounts.
pub fn identity_files(uid: u32, gid: u32) -> Vec<DataFile> {
    vec![
        DataFile {
            inside: "/etc/passwd",
            contents: format!("sandbox:x:{uid}:{gid}:sandbox:/tmp:/usr/sbin/nologin\n").into_bytes(),
        },
        DataFile { inside: "/etc/group", contents: format!("sandbox:x:{gid}:\n").into_bytes() },
        DataFile { inside: "/etc/hosts", contents: b"127.0.0.1 localhost\n::1 localhost\n".to_vec() },
    ]
}

/// The options for `bwrap --args FD` (NUL-separated there; the command itself follows `--`
/// on bwrap's argv, which `--args` cannot carry). `data_fds` are the descriptors the child
/// holds the [`identity_files`] on.
pub fn arguments(spec: &SandboxSpec, data_fds: &[(i32, &'static str)]) -> Result<Vec<OsString>, SandboxError> {
    validate(spec)?;
    let mut a = Args(Vec::new());
    a.push(["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]);
    if !spec.network {
        a.push(["--unshare-net"]);
    }
    a.push(["--disable-userns", "--die-with-parent", "--new-session", "--hostname", "sandbox"]);
    a.push(["--uid".to_owned(), spec.uid.to_string(), "--gid".to_owned(), spec.gid.to_string()]);
    a.push(["--clearenv"]);
    for (key, value) in &spec.env {
        a.push(["--setenv", key, value]);
    }

    if spec.system {
        a.push(["--ro-bind", "/usr", "/usr"]);
        for dir in SYSTEM_DIRS {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(dir) {
                        a.push_os(["--symlink".into(), target.into_os_string(), (*dir).into()]);
                    }
                }
                Ok(m) if m.is_dir() => a.push(["--ro-bind", dir, dir]),
                _ => {}
            }
        }
        let etc = SYSTEM_ETC.iter().chain(if spec.network { NETWORK_ETC } else { &[] });
        for file in etc {
            a.push(["--ro-bind-try", file, file]);
        }
        for (fd, inside) in data_fds {
            a.push([
                "--perms".to_owned(),
                "0644".to_owned(),
                "--ro-bind-data".to_owned(),
                fd.to_string(),
                inside.to_string(),
            ]);
        }
    }
    a.push(["--proc", "/proc", "--dev", "/dev"]);
    a.push(["--size".to_owned(), spec.tmp_size_bytes.to_string(), "--tmpfs".to_owned(), "/tmp".to_owned()]);

    for bind in spec.workspace.iter().chain(&spec.binds) {
        let flag = if bind.writable { "--bind" } else { "--ro-bind" };
        a.push_os([flag.into(), bind.host.clone().into_os_string(), bind.inside.clone().into_os_string()]);
    }
    // The root is bwrap's own tmpfs; read-only, nothing can be left in `/` or `/etc` (and
    // nothing counts against memory there). Only the workspace, its writable binds and /tmp take writes.
    a.push(["--remount-ro", "/"]);
    a.push_os(["--chdir".into(), spec.working_dir().into_os_string()]);
    Ok(a.0)
}

/// The `--args` payload: every argument followed by a NUL.
pub fn encode(args: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for arg in args {
        out.extend_from_slice(arg.as_bytes());
        out.push(0);
    }
    out
}

struct Args(Vec<OsString>);

impl Args {
    fn push<S: AsRef<str>>(&mut self, items: impl IntoIterator<Item = S>) {
        self.0.extend(items.into_iter().map(|s| OsString::from(s.as_ref())));
    }

    fn push_os(&mut self, items: impl IntoIterator<Item = OsString>) {
        self.0.extend(items);
    }
}

fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let invalid = |m: String| Err(SandboxError::InvalidSpec(m));
    if spec.command.is_empty() {
        return invalid("the command is empty".into());
    }
    if spec.command.iter().any(|c| c.contains('\0')) {
        return invalid("a command argument contains NUL".into());
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!("environment variable {key:?} is not a valid name or value"));
        }
    }
    for bind in spec.workspace.iter().chain(&spec.binds) {
        let inside_ok = bind.inside.is_absolute() && !has_dot_dot(&bind.inside);
        if !inside_ok || bind.host.as_os_str().as_bytes().contains(&0) {
            return invalid(format!(
                "bind {} -> {} needs an absolute inside path",
                bind.host.display(),
                bind.inside.display()
            ));
        }
    }
    if !spec.working_dir().is_absolute() {
        return invalid("the working directory must be absolute".into());
    }
    Ok(())
}

fn has_dot_dot(path: &Path) -> bool {
    path.components().any(|c| matches!(c, std::path::Component::ParentDir))
}

/// Converts an argument back for a test's eyes.
#[cfg(test)]
fn strings(args: &[OsString]) -> Vec<String> {
    use std::os::unix::ffi::OsStringExt;
    args.iter().map(|a| String::from_utf8_lossy(&a.clone().into_vec()).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Bind;

    fn pairs(args: &[String], flag: &str) -> Vec<(String, String)> {
        args.windows(3).filter(|w| w[0] == flag).map(|w| (w[1].clone(), w[2].clone())).collect()
    }

    #[test]
    fn the_workspace_is_mounted_before_the_binds_on_top_of_it() {
        let mut spec = SandboxSpec::new(["python3", "main.py"]);
        spec.workspace = Some(Bind::writable("/srv/jobs/1", "/workspace"));
        spec.binds.push(Bind::read_only("/srv/inputs/1", "/workspace/inputs"));
        let args = strings(&arguments(&spec, &[]).unwrap());
        let ws = args.iter().position(|a| a == "/srv/jobs/1").unwrap();
        let inputs = args.iter().position(|a| a == "/srv/inputs/1").unwrap();
        assert!(ws < inputs);
        assert_eq!(args[ws - 1], "--bind");
        assert_eq!(args[inputs - 1], "--ro-bind");
        let chdir = args.iter().position(|a| a == "--chdir").unwrap();
        assert_eq!(args[chdir + 1], "/workspace");
    }

    #[test]
    fn no_network_unless_asked_and_only_the_specs_environment() {
        let mut spec = SandboxSpec::new(["env"]);
        spec.env.insert("JOB_TOKEN".into(), "t".into());
        let args = strings(&arguments(&spec, &[]).unwrap());
        assert!(args.contains(&"--unshare-net".to_owned()));
        assert!(args.contains(&"--clearenv".to_owned()));
        assert!(pairs(&args, "--setenv").contains(&("JOB_TOKEN".into(), "t".into())));
        spec.network = true;
        let args = strings(&arguments(&spec, &[]).unwrap());
        assert!(!args.contains(&"--unshare-net".to_owned()));
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(arguments(&SandboxSpec::new(Vec::<String>::new()), &[]).is_err());
        let mut spec = SandboxSpec::new(["true"]);
        spec.env.insert("A=B".into(), "x".into());
        assert!(arguments(&spec, &[]).is_err());
        let mut spec = SandboxSpec::new(["true"]);
        spec.binds.push(Bind::read_only("/srv", "relative"));
        assert!(arguments(&spec, &[]).is_err());
        let mut spec = SandboxSpec::new(["true"]);
        spec.binds.push(Bind::read_only("/srv", "/a/../etc"));
        assert!(arguments(&spec, &[]).is_err());
    }
}
