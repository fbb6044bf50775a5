//! Starting bwrap without copying Canopy.
//!
//! A `fork` copies the page tables of the whole Canopy process (every service of `canopy
//! start`, its pools and caches) for a child that only sets a few things up and execs, and
//! leaves the parent's pages write-protected, so the parent takes a page fault on each page it
//! writes next; it also holds the parent's address space locked while it copies, stalling its
//! other threads. Here the child shares the parent's memory instead (`clone(CLONE_VM |
//! CLONE_VFORK)`, what `posix_spawn` does): nothing is copied, and the calling thread waits
//! only until the child has exec'd (or failed). The child makes only raw system calls
//! ([`ChildSetup::apply`] and the ones below), on a stack of its own, with every signal
//! blocked until its handlers are back to the defaults.
//!
//! The clone is made on one thread that lives as long as the process: the sandbox asks to be
//! killed when its parent goes (`PR_SET_PDEATHSIG`), and the kernel's parent is the *thread*
//! that created it. A thread of tokio's blocking pool, which ends after 10 s without work,
//! would take the sandboxes it started with it.
//!
//! The child is waited for through its pidfd (`CLONE_PIDFD`), readable once it has ended, and
//! reaped with `waitpid`; dropped before that, it is killed and reaped aside.

use crate::run::ChildSetup;
use std::ffi::{c_char, c_int, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{mpsc, OnceLock};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::unix::pipe;

/// The child's own stack while it shares the parent's memory (it only makes system calls).
const CHILD_STACK: usize = 256 << 10;

/// A started child: bwrap, once it has been exec'd.
pub(crate) struct Child {
    pid: i32,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
}

pub(crate) struct Spawned {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// Starts `program` with `args` (after `argv[0]`), an empty environment, `/` as working
/// directory, stdin from `/dev/null`, stdout and stderr piped, leading a process group of its
/// own, after `setup`. Must be called within a tokio runtime (the pipes and the pidfd
/// register with it).
pub(crate) fn spawn(program: &std::path::Path, args: &[String], setup: ChildSetup) -> io::Result<Spawned> {
    use std::os::unix::ffi::OsStrExt;
    let nul = |_| io::Error::new(io::ErrorKind::InvalidInput, "an argument holds a NUL byte");
    let program = CString::new(program.as_os_str().as_bytes()).map_err(nul)?;
    let mut argv = vec![program.clone()];
    for arg in args {
        argv.push(CString::new(arg.as_bytes()).map_err(nul)?);
    }
    let stdin = above_stdio(std::fs::File::open("/dev/null")?.into())?;
    let (stdout_r, stdout_w) = pipe_pair()?;
    let (stderr_r, stderr_w) = pipe_pair()?;
    let request = Request { program, argv, stdio: [stdin, stdout_w, stderr_w], setup };
    let (pid, pidfd) = on_spawner_thread(move || request.clone_and_exec())??;
    // The child's copies of the write ends are its own now: ours closed with `request`, so
    // the read ends see the end of output when the sandbox's last process is gone.
    // SAFETY: the pidfd is ours, open and unchanged until the `AsyncFd` drops it.
    let pidfd = match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
        Ok(pidfd) => pidfd,
        Err(e) => {
            let (_, error) = e.into_parts();
            kill_and_reap(pid);
            return Err(error);
        }
    };
    let child = Child { pid, pidfd, status: None };
    Ok(Spawned {
        child,
        stdout: pipe::Receiver::from_owned_fd(stdout_r)?,
        stderr: pipe::Receiver::from_owned_fd(stderr_r)?,
    })
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the end (cancel safe).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            let mut ready = self.pidfd.readable().await?;
            match reap_if_ended(self.pid)? {
                Some(status) => self.status = Some(status),
                None => ready.clear_ready(),
            }
        }
    }
}

/// The child's status if it has ended (then it is reaped), without waiting.
fn reap_if_ended(pid: i32) -> io::Result<Option<ExitStatus>> {
    let mut raw: c_int = 0;
    // SAFETY: waitpid(2) on our own unreaped child.
    let reaped = unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG) };
    match reaped {
        0 => Ok(None),
        r if r < 0 => Err(io::Error::last_os_error()),
        _ => Ok(Some(ExitStatus::from_raw(raw))),
    }
}

/// SIGKILL to our own unreaped child (its pid cannot be reused before the reap), reaped on a
/// thread of its own (it may take a moment to die).
fn kill_and_reap(pid: i32) {
    // SAFETY: kill(2) of our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let reap = move || {
        let mut raw: c_int = 0;
        // SAFETY: waitpid(2) on our own child, once.
        unsafe { libc::waitpid(pid, &mut raw, 0) };
    };
    if std::thread::Builder::new().name("sandbox-reap".into()).spawn(reap).is_err() {
        tracing::warn!(pid, "could not reap a killed sandbox");
    }
}

/// Killed and reaped when dropped before its end was seen (the supervisor cut short), as
/// `kill_on_drop` did.
impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            kill_and_reap(self.pid);
        }
    }
}

/// A pipe whose read end is ours and whose write end goes to the child, both close-on-exec.
fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2(2) into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh descriptors nobody else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((read, above_stdio(write)?))
}

/// The descriptor itself, or a close-on-exec copy numbered 3 or above should it be one of
/// 0-2 (Canopy started with one of them closed), so that putting the child's stdio in place
/// never overwrites another of them.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl(2) duplicating a descriptor we own; the copy is owned right away.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

type Task = Box<dyn FnOnce() + Send>;

/// Runs `f` on the spawner thread (started on first use) and returns its result.
fn on_spawner_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    static SPAWNER: OnceLock<mpsc::Sender<Task>> = OnceLock::new();
    let gone = || io::Error::other("the sandbox spawner thread is gone");
    let sender = match SPAWNER.get() {
        Some(sender) => sender,
        None => {
            let (tx, rx) = mpsc::channel::<Task>();
            std::thread::Builder::new().name("sandbox-spawner".into()).spawn(move || {
                for task in rx {
                    task();
                }
            })?;
            // Two first callers at once: the loser's thread ends with its channel.
            SPAWNER.get_or_init(|| tx)
        }
    };
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let task: Task = Box::new(move || {
        let _ = reply_tx.send(f());
    });
    sender.send(task).map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())
}

/// What the child needs, prepared before the clone: it may not allocate.
struct Request {
    program: CString,
    argv: Vec<CString>,
    /// stdin, stdout, stderr for the child (close-on-exec, numbered above 2).
    stdio: [OwnedFd; 3],
    setup: ChildSetup,
}

/// Shared with the child (same memory): its inputs, and the error it met, if any.
struct ChildContext<'a> {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    stdio: [c_int; 3],
    setup: &'a ChildSetup,
    /// Set by the child when it fails before exec (then it exits 127).
    errno: c_int,
}

impl Request {
    /// On the spawner thread: the clone, and the child's pid and pidfd once it has exec'd.
    fn clone_and_exec(self) -> io::Result<(i32, OwnedFd)> {
        let mut argv: Vec<*const c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let envp: [*const c_char; 1] = [std::ptr::null()];
        let mut context = ChildContext {
            program: self.program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            stdio: [self.stdio[0].as_raw_fd(), self.stdio[1].as_raw_fd(), self.stdio[2].as_raw_fd()],
            setup: &self.setup,
            errno: 0,
        };
        // Memory for the child's stack, not written here (it is never read as Rust data): the
        // child writes before it reads. The stack grows down from its (16-byte aligned) top.
        let mut stack: Vec<u8> = Vec::with_capacity(CHILD_STACK);
        let top = ((stack.as_mut_ptr() as usize + CHILD_STACK) & !15) as *mut c_void;
        let mut pidfd: c_int = -1;
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
        // SAFETY: every signal is blocked on this thread across the clone, so no handler runs
        // in the child before it resets them; the child only reads `context` (alive: this
        // thread is suspended until the child has exec'd or exited) and makes system calls.
        let (pid, clone_error) = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
            let pid = libc::clone(
                child_main,
                top,
                flags,
                (&mut context as *mut ChildContext).cast(),
                &mut pidfd as *mut c_int,
                std::ptr::null_mut::<c_void>(),
                std::ptr::null_mut::<c_int>(),
            );
            let clone_error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            (pid, clone_error)
        };
        drop(stack);
        if pid < 0 {
            return Err(clone_error);
        }
        // SAFETY: CLONE_PIDFD stored a fresh descriptor for the child there.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        // SAFETY: the child has exec'd or exited: it no longer writes `context`.
        let errno = unsafe { std::ptr::read_volatile(&context.errno) };
        if errno != 0 {
            let mut raw: c_int = 0;
            // SAFETY: reaping our own child, which has exited.
            unsafe { libc::waitpid(pid, &mut raw, 0) };
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok((pid, pidfd))
    }
}

/// The child, between clone and exec, in the parent's memory: raw system calls only.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `ChildContext`, alive while the parent waits for us.
    let context = unsafe { &mut *arg.cast::<ChildContext>() };
    // SAFETY: see `child_exec`; it returns only on failure.
    let errno = unsafe { child_exec(context) };
    // SAFETY: plain writes and exit(2), nothing of the parent's state touched.
    unsafe {
        std::ptr::write_volatile(&mut context.errno, if errno == 0 { libc::EINVAL } else { errno });
        libc::syscall(libc::SYS_exit, 127);
    }
    127
}

/// Sets the child up and execs; returns the errno of what failed.
unsafe fn child_exec(context: &ChildContext) -> c_int {
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
    // Handlers the parent installed would run here, on the parent's memory: back to the
    // defaults (SIGPIPE too, which Rust ignores) while every signal is still blocked.
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
            continue;
        }
        if current.sa_sigaction != libc::SIG_DFL && (current.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE) {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
    }
    if libc::setpgid(0, 0) != 0 {
        return errno();
    }
    for (target, &fd) in context.stdio.iter().enumerate() {
        if libc::dup2(fd, target as c_int) < 0 {
            return errno();
        }
    }
    if libc::chdir(c"/".as_ptr()) != 0 {
        return errno();
    }
    if let Err(e) = context.setup.apply() {
        return e.raw_os_error().unwrap_or(libc::EINVAL);
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    let kernel_sigset_bytes = 8usize;
    let no_old: *mut libc::sigset_t = std::ptr::null_mut();
    if libc::syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &empty as *const libc::sigset_t,
        no_old,
        kernel_sigset_bytes,
    ) != 0
    {
        return errno();
    }
    libc::execve(context.program, context.argv, context.envp);
    errno()
}
