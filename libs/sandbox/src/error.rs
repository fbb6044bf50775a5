//! Why a sandbox could not be started. Once it runs, how it ended is an [`crate::Outcome`],
//! not an error: a program that breaks a bound is an expected result, not a failure of Canopy.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// bubblewrap is not installed: nothing can be isolated, so nothing runs.
    #[error("bubblewrap (bwrap) is not installed: install the Debian package `bubblewrap`")]
    BwrapMissing,
    /// bubblewrap is there but a trial sandbox failed (user namespaces refused, ...).
    #[error("bubblewrap cannot create a sandbox on this host: {detail}")]
    BwrapBroken { detail: String },
    /// A bound the caller requires cannot be enforced here.
    #[error("the host cannot enforce {what}: {detail}")]
    Unenforceable { what: &'static str, detail: String },
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// A bind's host path is missing or not reachable by the sandbox's host uid, which is
    /// who bubblewrap runs as when it mounts it.
    #[error("bind source {} is not reachable by uid {uid}", path.display())]
    BindUnreachable { path: PathBuf, uid: u32 },
    #[error("cannot create the sandbox's cgroup under {}", path.display())]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start bubblewrap")]
    Spawn(#[source] std::io::Error),
    #[error("cannot prepare the sandbox's {what}")]
    Prepare {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}
