//! Object keys that belong to a tenant. Every object lives under `tenants/{tenant}/...`, and a
//! [`BlobKey`] cannot be built without a [`TenantId`]; its other segments are checked one by one,
//! so no key can climb out of its tenant (`..`), be absolute, carry NUL or control characters,
//! or have empty segments. One tenant's key can therefore never name another tenant's object.
//!
//! Segments are kept to characters `object_store` stores verbatim (it would percent-encode the
//! others), so a key reads the same in Canopy, on disk and in S3, and parses back unchanged.

use canopy_domain::ids::TenantId;
use object_store::path::Path;
use std::fmt;

/// The first segment of every key.
const ROOT: &str = "tenants";
/// S3's limit on a key's length, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The usual filesystem limit on one name, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Characters refused in a segment besides `/` and control characters: the ones `object_store`
/// percent-encodes (AWS and GCS advise against them), and `#`, which its local store uses for
/// uploads in progress.
const REFUSED: &[char] = &['\\', '{', '}', '^', '%', '`', '[', ']', '"', '<', '>', '~', '#', '|', '*', '?'];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an object key needs at least one segment after the tenant")]
    NoSegments,
    #[error("an object key segment must not be empty")]
    EmptySegment,
    #[error("an object key segment must not be '.' or '..'")]
    DotSegment,
    #[error("an object key segment must not contain '/', NUL or control characters")]
    SeparatorOrControl,
    #[error("an object key segment must not contain '{0}'")]
    RefusedCharacter(char),
    #[error("an object key segment is longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong,
    #[error("an object key is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
    #[error("the object key is not under `tenants/<tenant>/`")]
    NotTenantScoped,
    #[error("the object key belongs to another tenant")]
    OtherTenant,
}

/// The key of one object: `tenants/{tenant}/{segment}/...`, validated.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    tenant: TenantId,
    /// The whole key, `tenants/{tenant}/...`.
    full: String,
}

impl BlobKey {
    /// A key under `tenant` made of `segments` (each one path segment, checked).
    pub fn new<S: AsRef<str>>(tenant: &TenantId, segments: &[S]) -> Result<Self, KeyError> {
        if segments.is_empty() {
            return Err(KeyError::NoSegments);
        }
        let mut full = format!("{ROOT}/{}", tenant.as_str());
        for segment in segments {
            let segment = segment.as_ref();
            check_segment(segment)?;
            full.push('/');
            full.push_str(segment);
        }
        if full.len() > MAX_KEY_BYTES {
            return Err(KeyError::KeyTooLong);
        }
        Ok(Self { tenant: tenant.clone(), full })
    }

    /// Where an uploaded job input is kept: `tenants/{tenant}/inputs/{input_id}/{filename}`.
    pub fn job_input(tenant: &TenantId, input_id: &str, filename: &str) -> Result<Self, KeyError> {
        Self::new(tenant, &["inputs", input_id, filename])
    }

    /// Where a job's artifact is kept: `tenants/{tenant}/jobs/{job_id}/artifacts/{name}`.
    pub fn job_artifact(tenant: &TenantId, job_id: &str, name: &str) -> Result<Self, KeyError> {
        Self::new(tenant, &["jobs", job_id, "artifacts", name])
    }

    /// A file of a Python environment's workspace: `tenants/{tenant}/workspaces/{env_id}/{path}`,
    /// `path` relative with `/` between segments (each checked).
    pub fn workspace_file(tenant: &TenantId, env_id: &str, path: &str) -> Result<Self, KeyError> {
        let mut segments = vec!["workspaces", env_id];
        segments.extend(path.split('/'));
        Self::new(tenant, &segments)
    }

    /// Parses a whole key (`tenants/{tenant}/...`), e.g. one read back from a listing or a
    /// signed URL. Every rule of [`BlobKey::new`] applies.
    pub fn parse(full: &str) -> Result<Self, KeyError> {
        let mut parts = full.split('/');
        if parts.next() != Some(ROOT) {
            return Err(KeyError::NotTenantScoped);
        }
        let tenant = parts.next().and_then(|t| TenantId::parse(t).ok()).ok_or(KeyError::NotTenantScoped)?;
        let rest: Vec<&str> = parts.collect();
        Self::new(&tenant, &rest)
    }

    /// Parses a whole key and requires it to belong to `tenant`.
    pub fn parse_in(tenant: &TenantId, full: &str) -> Result<Self, KeyError> {
        let key = Self::parse(full)?;
        if &key.tenant != tenant {
            return Err(KeyError::OtherTenant);
        }
        Ok(key)
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The last segment (a file name).
    pub fn file_name(&self) -> &str {
        self.full.rsplit('/').next().unwrap_or_default()
    }

    pub(crate) fn to_path(&self) -> Path {
        to_path(&self.full)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.full)
    }
}

/// A prefix to list under; like a key, always inside one tenant (`tenants/{tenant}` at least).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobPrefix {
    full: String,
}

impl BlobPrefix {
    /// Everything of `tenant`.
    pub fn tenant(tenant: &TenantId) -> Self {
        Self { full: format!("{ROOT}/{}", tenant.as_str()) }
    }

    /// `tenants/{tenant}/{segments...}`, each segment checked as in a key.
    pub fn new<S: AsRef<str>>(tenant: &TenantId, segments: &[S]) -> Result<Self, KeyError> {
        let mut full = format!("{ROOT}/{}", tenant.as_str());
        for segment in segments {
            check_segment(segment.as_ref())?;
            full.push('/');
            full.push_str(segment.as_ref());
        }
        if full.len() > MAX_KEY_BYTES {
            return Err(KeyError::KeyTooLong);
        }
        Ok(Self { full })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub(crate) fn to_path(&self) -> Path {
        to_path(&self.full)
    }
}

/// `Path::parse` keeps a checked key verbatim (non-ASCII included, where `Path::from` would
/// percent-encode); it cannot fail on one, and falls back to the encoding form if it ever did.
fn to_path(full: &str) -> Path {
    Path::parse(full).unwrap_or_else(|_| Path::from(full))
}

fn check_segment(segment: &str) -> Result<(), KeyError> {
    if segment.is_empty() {
        return Err(KeyError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(KeyError::DotSegment);
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(KeyError::SegmentTooLong);
    }
    for c in segment.chars() {
        if c == '/' || c.is_control() {
            return Err(KeyError::SeparatorOrControl);
        }
        if REFUSED.contains(&c) {
            return Err(KeyError::RefusedCharacter(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[test]
    fn a_key_reads_back_as_itself_and_as_a_path() {
        let key = BlobKey::job_input(&tenant("acme"), "inp_1", "données 1.csv").unwrap();
        assert_eq!(key.as_str(), "tenants/acme/inputs/inp_1/données 1.csv");
        assert_eq!(key.to_path().as_ref(), key.as_str());
        assert_eq!(BlobKey::parse(key.as_str()).unwrap(), key);
        assert_eq!(key.file_name(), "données 1.csv");
    }
}
