//! Bringing a job's `/workspace/artifacts/` back to the poller's host, safely, from wherever
//! it ran.
//!
//! Local: the directory is already on the host; its regular files are copied. Remote (Ray):
//! the job's entrypoint wrapper zips the directory when the command ends and hands the zip to
//! an [`ArtifactDrop`], a place both the cluster and Canopy reach:
//!
//! - [`BlobArtifactDrop`] (the default, and what a remote cluster needs): a signed `PUT` URL
//!   of canopy-blobs (Canopy's own for a local store, presigned S3 otherwise), bound to one
//!   object (`tenants/{t}/jobs/{job}/executions/{execution}/artifacts.zip`), a size limit and
//!   an expiry. The cluster needs no credentials of Canopy's and no shared disk; the object
//!   is named by the execution, so a poller that re-attached finds it too.
//! - [`SharedDirArtifactDrop`] (fallback): a directory both see (an NFS volume, or this
//!   machine), for clusters that cannot reach Canopy over HTTP.
//!
//! Ray's own package store cannot serve this: its REST API uploads packages but only says
//! whether one exists (`GET /api/packages/...` returns no bytes).
//!
//! Whatever the source, only regular files come back: a job can leave a symlink to
//! `/etc/shadow` in its artifacts, and the poller (root) must not follow it. Links, devices
//! and names that climb out (`../`) are skipped and listed in [`CollectedArtifacts::skipped`].

use super::{ExecutionId, JobRef};
use async_trait::async_trait;
use canopy_blobs::{BlobError, BlobKey, BlobUrls, KeyError, UrlIssueError};
use futures::StreamExt;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// A file brought back, relative to the artifacts directory (`out.json`, `plots/a.png`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectedFile {
    pub path: String,
    pub size_bytes: u64,
}

/// Something the job left that was not brought back, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: String,
    pub why: &'static str,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectedArtifacts {
    pub files: Vec<CollectedFile>,
    pub skipped: Vec<SkippedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the artifacts archive is not a valid zip")]
    Zip(#[source] zip::result::ZipError),
    #[error("the artifacts object key is invalid")]
    Key(#[source] KeyError),
    #[error("the artifacts upload URL cannot be issued")]
    Url(#[source] UrlIssueError),
    #[error("the blob store failed")]
    Blob(#[source] BlobError),
    #[error("the artifacts never arrived: {why}")]
    NotDelivered { why: String },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io { what, path: path.to_path_buf(), source }
}

/// Copies the regular files under `from` into `into` (created), keeping the tree. Nothing is
/// followed: a symlink is skipped, not read. When `from` and `into` are the same directory the
/// files are only listed.
pub fn copy_regular_files(from: &Path, into: &Path) -> Result<CollectedArtifacts, ArtifactError> {
    let same = match (from.canonicalize(), into.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    std::fs::create_dir_all(into).map_err(io_error("create", into))?;
    let mut collected = CollectedArtifacts::default();
    walk(from, "", &mut |relative, entry_path, kind| {
        match kind {
            EntryKind::File(size) => {
                if !same {
                    let target = into.join(relative);
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
                    }
                    copy_without_following(entry_path, &target)?;
                }
                collected.files.push(CollectedFile { path: relative.to_owned(), size_bytes: size });
            }
            EntryKind::Skipped(why) => collected.skipped.push(SkippedFile { path: relative.to_owned(), why }),
        }
        Ok(())
    })?;
    collected.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(collected)
}

enum EntryKind {
    File(u64),
    Skipped(&'static str),
}

fn walk(
    dir: &Path,
    prefix: &str,
    visit: &mut dyn FnMut(&str, &Path, EntryKind) -> Result<(), ArtifactError>,
) -> Result<(), ArtifactError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound && prefix.is_empty() => return Ok(()),
        Err(e) => return Err(io_error("read", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io_error("inspect", &path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(&path, &relative, visit)?;
        } else if kind.is_file() {
            visit(&relative, &path, EntryKind::File(meta.len()))?;
        } else if kind.is_symlink() {
            visit(&relative, &path, EntryKind::Skipped("a symbolic link"))?;
        } else {
            visit(&relative, &path, EntryKind::Skipped("not a regular file"))?;
        }
    }
    Ok(())
}

/// Opens `from` with `O_NOFOLLOW` (the job may swap a file for a link between the walk and
/// the copy) and copies its bytes.
fn copy_without_following(from: &Path, to: &Path) -> Result<(), ArtifactError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .map_err(io_error("open", from))?;
    let mut target = std::fs::File::create(to).map_err(io_error("create", to))?;
    io::copy(&mut source, &mut target).map_err(io_error("copy", from))?;
    Ok(())
}

/// Unpacks a zip the entrypoint wrapper made into `into`: regular files only, names that stay
/// inside `into`.
pub fn extract_zip(zip_path: &Path, into: &Path) -> Result<CollectedArtifacts, ArtifactError> {
    let file = std::fs::File::open(zip_path).map_err(io_error("open", zip_path))?;
    let mut archive = zip::ZipArchive::new(file).map_err(ArtifactError::Zip)?;
    std::fs::create_dir_all(into).map_err(io_error("create", into))?;
    let mut collected = CollectedArtifacts::default();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(ArtifactError::Zip)?;
        let name = entry.name().to_owned();
        let relative = match entry.enclosed_name() {
            Some(p) if p.components().all(|c| matches!(c, Component::Normal(_))) => p,
            _ => {
                collected.skipped.push(SkippedFile { path: name, why: "a name outside the artifacts directory" });
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let is_link = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if is_link || !entry.is_file() {
            collected.skipped.push(SkippedFile { path: name, why: "not a regular file" });
            continue;
        }
        let target = into.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        let mut out = std::fs::File::create(&target).map_err(io_error("create", &target))?;
        let size = io::copy(&mut entry, &mut out).map_err(io_error("write", &target))?;
        collected.files.push(CollectedFile { path: relative.to_string_lossy().replace('\\', "/"), size_bytes: size });
    }
    collected.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(collected)
}

/// Where a remote execution leaves a zip of its artifacts, and where Canopy fetches it.
#[async_trait]
pub trait ArtifactDrop: Send + Sync {
    /// The target the entrypoint wrapper writes the zip to: an `http(s)://` URL it `PUT`s to,
    /// or a `file://` path it copies to. A bearer secret: never logged.
    async fn upload_target(
        &self,
        job: &JobRef,
        execution: &ExecutionId,
        ttl: Duration,
        max_bytes: u64,
    ) -> Result<String, ArtifactError>;

    /// Copies the zip to `dest`; `false` when the execution left none.
    async fn fetch(&self, job: &JobRef, execution: &ExecutionId, dest: &Path) -> Result<bool, ArtifactError>;
}

/// Artifacts through canopy-blobs: signed `PUT` URL out, the store's stream back.
#[derive(Clone, Debug)]
pub struct BlobArtifactDrop {
    urls: BlobUrls,
}

impl BlobArtifactDrop {
    pub fn new(urls: BlobUrls) -> Self {
        BlobArtifactDrop { urls }
    }

    fn key(job: &JobRef, execution: &ExecutionId) -> Result<BlobKey, ArtifactError> {
        let segments = ["jobs", job.job_id.as_str(), "executions", execution.as_str(), "artifacts.zip"];
        BlobKey::new(&job.tenant, &segments).map_err(ArtifactError::Key)
    }
}

#[async_trait]
impl ArtifactDrop for BlobArtifactDrop {
    async fn upload_target(
        &self,
        job: &JobRef,
        execution: &ExecutionId,
        ttl: Duration,
        max_bytes: u64,
    ) -> Result<String, ArtifactError> {
        let key = Self::key(job, execution)?;
        let url =
            self.urls.upload_url(&key, max_bytes, Some("application/zip"), ttl).await.map_err(ArtifactError::Url)?;
        Ok(url.expose().to_owned())
    }

    async fn fetch(&self, job: &JobRef, execution: &ExecutionId, dest: &Path) -> Result<bool, ArtifactError> {
        let key = Self::key(job, execution)?;
        let mut read = match self.urls.store().get_stream(&key).await {
            Ok(read) => read,
            Err(BlobError::NotFound) => return Ok(false),
            Err(e) => return Err(ArtifactError::Blob(e)),
        };
        let mut file = std::fs::File::create(dest).map_err(io_error("create", dest))?;
        while let Some(chunk) = read.body.next().await {
            let chunk = chunk.map_err(ArtifactError::Blob)?;
            file.write_all(&chunk).map_err(io_error("write", dest))?;
        }
        Ok(true)
    }
}

/// Artifacts through a directory the cluster's nodes and the poller both mount.
#[derive(Clone, Debug)]
pub struct SharedDirArtifactDrop {
    dir: PathBuf,
}

impl SharedDirArtifactDrop {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SharedDirArtifactDrop { dir: dir.into() }
    }

    fn path(&self, execution: &ExecutionId) -> PathBuf {
        self.dir.join(format!("{execution}.zip"))
    }
}

#[async_trait]
impl ArtifactDrop for SharedDirArtifactDrop {
    async fn upload_target(
        &self,
        _job: &JobRef,
        execution: &ExecutionId,
        _ttl: Duration,
        _max_bytes: u64,
    ) -> Result<String, ArtifactError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error("create", &self.dir))?;
        Ok(format!("file://{}", self.path(execution).display()))
    }

    async fn fetch(&self, _job: &JobRef, execution: &ExecutionId, dest: &Path) -> Result<bool, ArtifactError> {
        let source = self.path(execution);
        match std::fs::copy(&source, dest) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("copy", &source)(e)),
        }
    }
}
