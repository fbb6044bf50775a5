//! [`BlobUrls`]: the one place that hands out upload and download URLs, whatever the store:
//! Canopy's own signed URLs ([`crate::UrlSigner`], served by [`crate::router`]) for a local
//! store, presigned S3 URLs for S3. Both are [`SignedUrl`]s (bearer secrets, shown redacted).
//!
//! A difference to know: Canopy's upload URLs carry and enforce a size limit; S3 cannot limit
//! a presigned PUT, so with S3 the caller checks the size when the upload is completed
//! ([`crate::BlobStore::head`]) and deletes an object that is over.

use crate::error::BlobError;
use crate::key::BlobKey;
use crate::signing::{Grant, SignError, SignedUrl, UrlSigner};
use crate::store::BlobStore;
use chrono::Utc;
use std::time::Duration;

/// How long URLs live unless the caller says otherwise.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug)]
pub struct BlobUrls {
    store: BlobStore,
    signer: UrlSigner,
    /// Canopy's public base URL, put in front of its own signed paths.
    public_base: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlIssueError {
    #[error("the URL cannot be signed")]
    Sign(#[from] SignError),
    #[error("the object store cannot presign the URL")]
    Presign(#[from] BlobError),
    #[error("the URL's lifetime is out of range")]
    Lifetime,
}

impl BlobUrls {
    pub fn new(store: BlobStore, signer: UrlSigner, public_base: impl Into<String>) -> Self {
        Self { store, signer, public_base: public_base.into() }
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// A URL to `PUT` at most `max_bytes` to `key` (with `content_type`, if given) within `ttl`.
    pub async fn upload_url(
        &self,
        key: &BlobKey,
        max_bytes: u64,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<SignedUrl, UrlIssueError> {
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).map_err(|_| UrlIssueError::Lifetime)?;
        if let Some(url) = self.store.presigned_url(http::Method::PUT, key, ttl, content_type).await? {
            return Ok(SignedUrl::new(url.into(), expires_at));
        }
        let grant = Grant::upload(key.clone(), max_bytes, content_type.map(str::to_string), expires_at);
        Ok(self.signer.sign(&grant)?.with_base(&self.public_base))
    }

    /// A URL to `GET` `key` within `ttl`; Canopy's serves it with `content_type`.
    pub async fn download_url(
        &self,
        key: &BlobKey,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<SignedUrl, UrlIssueError> {
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).map_err(|_| UrlIssueError::Lifetime)?;
        // S3 serves the content type stored with the object; binding it as a header would
        // oblige the downloader to send it.
        if let Some(url) = self.store.presigned_url(http::Method::GET, key, ttl, None).await? {
            return Ok(SignedUrl::new(url.into(), expires_at));
        }
        let grant = Grant::download(key.clone(), content_type.map(str::to_string), expires_at);
        Ok(self.signer.sign(&grant)?.with_base(&self.public_base))
    }
}
