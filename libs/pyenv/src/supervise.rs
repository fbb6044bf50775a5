//! Owning a long-lived sandbox (a REPL's interpreter, a spawned process): a task holds the
//! `Running`, waits for the sandbox's end (a pidfd on bwrap, so the wait needs no polling)
//! or for a kill request, and publishes the [`Outcome`] once. Whoever holds a [`Handle`]
//! can ask for the kill and see the end.

use canopy_sandbox::{Outcome, Running};
use std::os::fd::{FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Handle {
    kill: watch::Sender<bool>,
    ended: watch::Receiver<Option<Outcome>>,
}

impl Handle {
    /// Asks for the whole sandbox to end (SIGTERM to its processes, SIGKILL after the grace).
    pub fn kill(&self) {
        let _ = self.kill.send(true);
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.ended.borrow().clone()
    }

    /// Waits for the end and returns how it went.
    pub async fn ended(&self) -> Outcome {
        let mut rx = self.ended.clone();
        loop {
            if let Some(o) = rx.borrow_and_update().clone() {
                return o;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone().unwrap_or_else(gone);
            }
        }
    }
}

fn gone() -> Outcome {
    Outcome {
        reason: canopy_sandbox::Reason::Killed,
        exit_code: None,
        signal: None,
        wall: std::time::Duration::ZERO,
        peak_memory_bytes: None,
        processes_refused: 0,
        output_bytes: 0,
        output_truncated: false,
    }
}

/// Takes ownership of `running` (its output already taken by the caller).
pub fn supervise(running: Running) -> Handle {
    let (kill_tx, mut kill_rx) = watch::channel(false);
    let (ended_tx, ended_rx) = watch::channel(None);
    let pid = running.pid();
    tokio::spawn(async move {
        tokio::select! {
            _ = exited(pid) => {}
            _ = kill_rx.wait_for(|k| *k) => running.kill(),
        }
        let outcome = running.wait().await;
        let _ = ended_tx.send(Some(outcome));
    });
    Handle { kill: kill_tx, ended: ended_rx }
}

/// Resolves when process `pid` (a child of this process, reaped by canopy-sandbox) exits.
async fn exited(pid: u32) {
    // SAFETY: pidfd_open(2) of a pid; the descriptor is owned at once.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        return; // already gone (ESRCH)
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    // SAFETY: the AsyncFd owns the descriptor; nothing else uses or closes it.
    match unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) } {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
