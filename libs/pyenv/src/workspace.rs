//! Files of an environment's workspace, for the engine's callers (the `workspace_*` tools,
//! `install_requirements`, `run_script`): a path argument is checked as text first (relative,
//! no `..`, no NUL, bounded length), then checked again **where the file is opened**.
//!
//! Why `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from a descriptor of the workspace
//! rather than canonicalising a path and comparing prefixes: the workspace is writable by
//! sandboxed code, which may create a symlink (`ln -s / escape`) or swap a directory for one
//! between a check and a use. With `RESOLVE_BENEATH` the kernel resolves the whole path
//! relative to the workspace's descriptor and fails (`EXDEV`) the moment any component,
//! symlinks included, would leave it; an absolute symlink is refused too. Symlinks that stay
//! inside keep working (a project may have them). `RESOLVE_NO_MAGICLINKS` refuses
//! `/proc/.../fd` style links. There is no window between check and open: the check *is* the
//! open. Writes go one step further: parents are opened (or made) one component at a time
//! beneath the workspace and the file itself is opened with `O_NOFOLLOW`, so a write never
//! lands through a symlink at all. Files and directories the engine creates are given to
//! the sandbox uid, so code can change them later.
//!
//! Quotas on bytes and files are checked before a write; during a run the sandbox measures
//! the workspace (canopy-sandbox's `workspace_bytes`) and `RLIMIT_FSIZE` bounds each file.

use crate::error::WorkspaceError;
use serde::Serialize;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

/// The host uid/gid files are handed to (canopy-sandbox's `NOBODY`).
const OWNER: u32 = canopy_sandbox::NOBODY;
const MAX_PATH: usize = 1024;

/// One entry of `list_files`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    /// Relative to the workspace.
    pub path: String,
    pub is_dir: bool,
    pub is_symlink: bool,
    pub size: u64,
}

/// A regular file of a workspace as it is saved to the object store: what tells a changed
/// file from an unchanged one (size, modification time) and its permission bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegularFile {
    /// Relative to the workspace, `/` between segments.
    pub path: String,
    pub size: u64,
    pub modified_ns: i128,
    pub mode: u32,
}

/// What a workspace holds, for quotas and reports.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
}

/// Checks a path argument as text: relative, no `..`, no NUL or control characters,
/// at most 1024 bytes. `.` components are dropped. Returns the normalised relative path.
pub fn check_relative(arg: &'static str, path: &str) -> Result<String, WorkspaceError> {
    let invalid = |why| WorkspaceError::InvalidPath { arg, path: path.to_owned(), why };
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    if path.len() > MAX_PATH {
        return Err(invalid("longer than 1024 bytes"));
    }
    if path.chars().any(char::is_control) {
        return Err(invalid("contains a NUL or control character"));
    }
    if path.starts_with('/') {
        return Err(invalid("absolute paths are refused: give a path relative to the workspace"));
    }
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` is refused: paths stay inside the workspace")),
            Component::RootDir | Component::Prefix(_) => return Err(invalid("absolute paths are refused")),
        }
    }
    if parts.is_empty() {
        return Err(invalid("names no file (only `.`)"));
    }
    Ok(parts.join("/"))
}

/// A workspace directory on the host, opened for one operation.
pub struct Workspace {
    root: OwnedFd,
}

fn open_how(flags: i32, mode: u32) -> libc::open_how {
    // SAFETY: open_how is plain integers; all-zero is its documented "nothing asked".
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 { mode as u64 } else { 0 };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    how
}

fn openat2(dir: &OwnedFd, path: &str, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let c = CString::new(path).map_err(std::io::Error::other)?;
    let how = open_how(flags, mode);
    loop {
        // SAFETY: openat2(2) with a valid directory fd, a NUL-terminated path and an
        // open_how of the size we pass; the result is owned at once.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh descriptor nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let err = std::io::Error::last_os_error();
        // EAGAIN: a rename raced the lookup (RESOLVE_BENEATH asks to retry).
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

impl Workspace {
    /// Opens the workspace directory itself (a path the engine owns, not user input).
    pub fn open(dir: &Path) -> Result<Workspace, WorkspaceError> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io("env_id", dir, "open workspace", std::io::Error::other(e)))?;
        // SAFETY: open(2) of a NUL-terminated path; owned at once.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io("env_id", dir, "cannot open the workspace", std::io::Error::last_os_error()));
        }
        // SAFETY: fresh descriptor.
        Ok(Workspace { root: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    fn map_err(arg: &'static str, path: &str, what: &'static str, e: std::io::Error) -> WorkspaceError {
        match e.raw_os_error() {
            Some(libc::ENOENT) => WorkspaceError::NotFound { arg, path: path.to_owned() },
            Some(libc::EXDEV) | Some(libc::ELOOP) => WorkspaceError::Escape { arg, path: path.to_owned() },
            Some(libc::ENOTDIR) => {
                WorkspaceError::WrongKind { arg, path: path.to_owned(), why: "a parent is not a directory" }
            }
            Some(libc::EISDIR) => WorkspaceError::WrongKind { arg, path: path.to_owned(), why: "is a directory" },
            _ => WorkspaceError::Io { arg, path: path.to_owned(), what, source: e },
        }
    }

    /// Opens `rel` (already checked as text) beneath the workspace for reading.
    fn open_read(&self, arg: &'static str, rel: &str) -> Result<(std::fs::File, std::fs::Metadata), WorkspaceError> {
        let fd = openat2(&self.root, rel, libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK, 0)
            .map_err(|e| Self::map_err(arg, rel, "cannot open", e))?;
        let file = std::fs::File::from(fd);
        let meta = file.metadata().map_err(|e| Self::map_err(arg, rel, "cannot stat", e))?;
        Ok((file, meta))
    }

    /// What `path` (checked as text, opened beneath the workspace) is, without following a
    /// last symlink out of it.
    pub fn metadata(&self, arg: &'static str, path: &str) -> Result<std::fs::Metadata, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        Ok(self.open_read(arg, &rel)?.1)
    }

    /// Reads a regular file of at most `max` bytes.
    pub fn read(&self, arg: &'static str, path: &str, max: u64) -> Result<Vec<u8>, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        let (mut file, meta) = self.open_read(arg, &rel)?;
        if !meta.is_file() {
            return Err(WorkspaceError::WrongKind { arg, path: rel, why: "not a regular file" });
        }
        if meta.len() > max {
            return Err(WorkspaceError::TooLarge { arg, path: rel, size: meta.len(), max });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        Read::by_ref(&mut file)
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Self::map_err(arg, &rel, "cannot read", e))?;
        if bytes.len() as u64 > max {
            return Err(WorkspaceError::TooLarge { arg, path: rel, size: bytes.len() as u64, max });
        }
        Ok(bytes)
    }

    /// Whether `path` exists beneath the workspace (as a file, directory or symlink that
    /// stays inside). An escaping path is an error, not `false`.
    pub fn exists(&self, arg: &'static str, path: &str) -> Result<bool, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        match openat2(&self.root, &rel, libc::O_PATH, 0) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(Self::map_err(arg, &rel, "cannot open", e)),
        }
    }

    /// Checks that `path` is a regular file beneath the workspace (for `run_script`); returns
    /// the normalised relative path.
    pub fn check_file(&self, arg: &'static str, path: &str) -> Result<String, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        let fd = openat2(&self.root, &rel, libc::O_PATH, 0).map_err(|e| Self::map_err(arg, &rel, "cannot open", e))?;
        let meta = std::fs::File::from(fd).metadata().map_err(|e| Self::map_err(arg, &rel, "cannot stat", e))?;
        if !meta.is_file() {
            return Err(WorkspaceError::WrongKind { arg, path: rel, why: "not a regular file" });
        }
        Ok(rel)
    }

    /// Opens (making missing ones) each parent directory of `rel`, one component at a time
    /// beneath the previous one; returns the last directory and the file's own name.
    fn parent_of<'a>(
        &self,
        arg: &'static str,
        rel: &'a str,
        create: bool,
    ) -> Result<(OwnedFd, &'a str), WorkspaceError> {
        let (dirs, name) = match rel.rsplit_once('/') {
            Some((dirs, name)) => (Some(dirs), name),
            None => (None, rel),
        };
        let mut cur = openat2(&self.root, ".", libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| Self::map_err(arg, rel, "cannot open the workspace", e))?;
        for comp in dirs.into_iter().flat_map(|d| d.split('/')) {
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            cur = match openat2(&cur, comp, flags, 0) {
                Ok(fd) => fd,
                Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                    let c = CString::new(comp)
                        .map_err(|e| Self::map_err(arg, rel, "bad name", std::io::Error::other(e)))?;
                    // SAFETY: mkdirat/fchownat of one name (no slash) in a directory fd we hold.
                    let made = unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) };
                    if made != 0 {
                        let e = std::io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(Self::map_err(arg, rel, "cannot make a directory", e));
                        }
                    } else {
                        // SAFETY: as above.
                        unsafe { libc::fchownat(cur.as_raw_fd(), c.as_ptr(), OWNER, OWNER, libc::AT_SYMLINK_NOFOLLOW) };
                    }
                    openat2(&cur, comp, flags, 0).map_err(|e| Self::map_err(arg, rel, "cannot open a directory", e))?
                }
                Err(e) => return Err(Self::map_err(arg, rel, "cannot open a directory", e)),
            };
        }
        Ok((cur, name))
    }

    /// Writes `content` to `path` (parents made), replacing a regular file, never writing
    /// through a symlink. Quotas: the workspace's bytes and files after the write.
    pub fn write(
        &self,
        arg: &'static str,
        path: &str,
        content: &[u8],
        quota: Usage,
    ) -> Result<FileInfo, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        let existing = match self.open_read(arg, &rel) {
            Ok((_, meta)) if meta.is_dir() => {
                return Err(WorkspaceError::WrongKind { arg, path: rel, why: "is a directory" })
            }
            Ok((_, meta)) => Some(meta.blocks() * 512),
            Err(WorkspaceError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let used = self.usage();
        let would_bytes = used.bytes.saturating_sub(existing.unwrap_or(0)) + content.len() as u64;
        if would_bytes > quota.bytes {
            return Err(WorkspaceError::QuotaBytes { would: would_bytes, quota: quota.bytes });
        }
        let would_files = used.files + u64::from(existing.is_none());
        if would_files > quota.files {
            return Err(WorkspaceError::QuotaFiles { would: would_files, quota: quota.files });
        }
        let mut file = self.create_checked(arg, &rel)?;
        file.write_all(content).map_err(|e| Self::map_err(arg, &rel, "cannot write", e))?;
        let name = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
        Ok(FileInfo { name, path: rel.clone(), is_dir: false, is_symlink: false, size: content.len() as u64 })
    }

    /// Creates (or empties) the regular file `path` for writing, parents made, never through a
    /// symlink, handed to the sandbox uid. No quota is checked: for putting back files the
    /// workspace held before (the object store's copy), which were within it.
    pub fn create(&self, arg: &'static str, path: &str) -> Result<std::fs::File, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        self.create_checked(arg, &rel)
    }

    fn create_checked(&self, arg: &'static str, rel: &str) -> Result<std::fs::File, WorkspaceError> {
        let (dir, name) = self.parent_of(arg, rel, true)?;
        let fd = openat2(
            &dir,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW | libc::O_NOCTTY,
            0o644,
        )
        .map_err(|e| Self::map_err(arg, rel, "cannot open for writing", e))?;
        // SAFETY: fchown(2) of a descriptor we own.
        unsafe { libc::fchown(fd.as_raw_fd(), OWNER, OWNER) };
        let file = std::fs::File::from(fd);
        let meta = file.metadata().map_err(|e| Self::map_err(arg, rel, "cannot stat", e))?;
        if !meta.is_file() {
            return Err(WorkspaceError::WrongKind { arg, path: rel.to_owned(), why: "not a regular file" });
        }
        Ok(file)
    }

    /// Opens the regular file `path` beneath the workspace for reading, whatever its size.
    pub fn open_file(&self, arg: &'static str, path: &str) -> Result<std::fs::File, WorkspaceError> {
        let rel = check_relative(arg, path)?;
        let (file, meta) = self.open_read(arg, &rel)?;
        if !meta.is_file() {
            return Err(WorkspaceError::WrongKind { arg, path: rel, why: "not a regular file" });
        }
        Ok(file)
    }

    /// Every regular file under the workspace, sorted by path: directories descended by their
    /// entry's type, never through a symlink; symlinks, special files and names that are not
    /// UTF-8 are left out.
    pub fn regular_files(&self) -> Vec<RegularFile> {
        let root = std::path::PathBuf::from(format!("/proc/self/fd/{}", self.root.as_raw_fd()));
        let mut out = Vec::new();
        let mut stack = vec![(root, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let (Ok(kind), Some(name)) = (entry.file_type(), entry.file_name().to_str().map(str::to_owned)) else {
                    continue;
                };
                let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
                if kind.is_dir() {
                    stack.push((entry.path(), path));
                } else if kind.is_file() {
                    // DirEntry::metadata does not follow a symlink.
                    let Ok(meta) = entry.metadata() else { continue };
                    let modified_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
                    out.push(RegularFile { path, size: meta.len(), modified_ns, mode: meta.mode() & 0o777 });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Removes a file, a symlink (not its target) or an empty directory.
    pub fn delete(&self, arg: &'static str, path: &str) -> Result<(), WorkspaceError> {
        let rel = check_relative(arg, path)?;
        let (dir, name) = self.parent_of(arg, &rel, false)?;
        let c = CString::new(name).map_err(|e| Self::map_err(arg, &rel, "bad name", std::io::Error::other(e)))?;
        // SAFETY: unlinkat(2) of one name in a directory fd we hold; never follows it.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EISDIR) {
            return Err(Self::map_err(arg, &rel, "cannot delete", e));
        }
        // SAFETY: as above.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOTEMPTY) {
            return Err(WorkspaceError::WrongKind { arg, path: rel, why: "a directory that is not empty" });
        }
        Err(Self::map_err(arg, &rel, "cannot delete", e))
    }

    /// Lists a directory of the workspace (`None`: its top). Entries are not followed.
    pub fn list(&self, arg: &'static str, path: Option<&str>) -> Result<Vec<FileInfo>, WorkspaceError> {
        let (rel, fd) = match path.filter(|p| !p.is_empty() && *p != "." && *p != "./") {
            None => (String::new(), openat2(&self.root, ".", libc::O_RDONLY | libc::O_DIRECTORY, 0)),
            Some(p) => {
                let rel = check_relative(arg, p)?;
                let fd = openat2(&self.root, &rel, libc::O_RDONLY | libc::O_DIRECTORY, 0);
                (rel, fd)
            }
        };
        let fd = fd.map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => WorkspaceError::WrongKind { arg, path: rel.clone(), why: "not a directory" },
            _ => Self::map_err(arg, &rel, "cannot open the directory", e),
        })?;
        // Our own descriptor's directory: reading it through /proc/self/fd cannot leave it.
        let entries = std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|e| Self::map_err(arg, &rel, "cannot list", e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            out.push(FileInfo {
                name,
                path,
                is_dir: meta.is_dir(),
                is_symlink: meta.file_type().is_symlink(),
                size: if meta.is_file() { meta.len() } else { 0 },
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Bytes (allocated blocks) and entries under the workspace, symlinks not followed.
    pub fn usage(&self) -> Usage {
        usage_of(Path::new(&format!("/proc/self/fd/{}", self.root.as_raw_fd())))
    }
}

/// Bytes and entries under `dir`; directories are descended by their directory entry's
/// type, never through a symlink.
pub fn usage_of(dir: &Path) -> Usage {
    let mut usage = Usage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            usage.files += 1;
            if let Ok(meta) = entry.path().symlink_metadata() {
                usage.bytes = usage.bytes.saturating_add(meta.blocks() * 512);
            }
            if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    usage
}

fn io(arg: &'static str, path: &Path, what: &'static str, source: std::io::Error) -> WorkspaceError {
    WorkspaceError::Io { arg, path: path.display().to_string(), what, source }
}

#[cfg(test)]
mod tests {
    use super::check_relative;

    #[test]
    fn paths_are_checked_as_text_first() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/..", "a\0b", "a\nb", ".", "./"] {
            assert!(check_relative("filename", bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(check_relative("filename", "./a//b/./c.py").unwrap(), "a/b/c.py");
        let e = check_relative("filename", "../x").unwrap_err().to_string();
        assert!(e.starts_with("filename \"../x\""), "{e}");
    }
}
