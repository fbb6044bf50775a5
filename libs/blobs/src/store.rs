//! [`BlobStore`]: objects in a local directory or an S3 bucket through `object_store`, always
//! streamed. An upload is read chunk by chunk, hashed (SHA-256) and counted as it goes, and
//! refused as soon as it passes its size limit; what was written so far is discarded (a small
//! object is written in one request only once it is complete; a large one goes up as a
//! multipart upload, aborted on failure), so a refused or broken upload never leaves an object
//! at its key. At most [`CHUNK_BYTES`] × ([`PARTS_IN_FLIGHT`] + 1) of an upload is held in
//! memory, whatever its size.

use crate::config::{BlobStoreConfig, S3Config};
use crate::error::BlobError;
use crate::key::{BlobKey, BlobPrefix};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::signer::{HeaderValue, SignedUrlOptions, Signer};
use object_store::{
    Attribute, Attributes, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Size of one multipart part (S3's minimum part size) and of the buffer that decides between
/// one request and a multipart upload.
pub const CHUNK_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// An object just written: what artifacts and inputs record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    pub key: BlobKey,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the bytes, computed while they streamed in.
    pub sha256: String,
    pub etag: Option<String>,
    pub content_type: Option<String>,
}

/// What the store knows of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobMeta {
    pub key: BlobKey,
    pub size_bytes: u64,
    pub etag: Option<String>,
    pub last_modified: DateTime<Utc>,
}

/// An object being read: its metadata and its bytes as a stream.
pub struct BlobRead {
    pub meta: BlobMeta,
    /// The content type the store keeps (S3 does; the local store keeps none: callers record
    /// it, and signed download URLs carry it).
    pub content_type: Option<String>,
    pub body: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead").field("meta", &self.meta).field("content_type", &self.content_type).finish()
    }
}

/// Which kind of store this is, which decides how clients reach objects: Canopy's own signed
/// URLs for a local directory, presigned S3 URLs for S3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Local,
    S3,
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// The same store as `inner` when it is S3, for presigning.
    s3: Option<Arc<AmazonS3>>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobStore({})", self.inner)
    }
}

impl BlobStore {
    /// Opens the configured store (creating a local store's directory).
    pub fn open(config: &BlobStoreConfig) -> Result<Self, BlobError> {
        match config {
            BlobStoreConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(BlobError::CreateDir)?;
                let local = LocalFileSystem::new_with_prefix(root).map_err(BlobError::Config)?;
                Ok(Self { inner: Arc::new(local), s3: None })
            }
            BlobStoreConfig::S3(s3) => {
                let s3 = Arc::new(s3_builder(s3).build().map_err(BlobError::Config)?);
                Ok(Self { inner: s3.clone(), s3: Some(s3) })
            }
        }
    }

    pub fn kind(&self) -> StoreKind {
        if self.s3.is_some() {
            StoreKind::S3
        } else {
            StoreKind::Local
        }
    }

    /// Streams `body` into the object at `key`, refusing it ([`BlobError::TooLarge`]) as soon
    /// as it passes `max_bytes`; nothing is left at `key` then, nor when the body fails. An
    /// existing object at `key` is replaced only by a complete upload.
    pub async fn put_stream<S, E>(
        &self,
        key: &BlobKey,
        content_type: Option<&str>,
        body: S,
        max_bytes: u64,
    ) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = key.to_path();
        let attributes = self.attributes(content_type);
        let mut body = std::pin::pin!(body);
        let mut intake = Intake { size: 0, max: max_bytes, hasher: Sha256::new() };

        // Up to one chunk is buffered: an object that ends within it is written in one request.
        let mut head: Vec<Bytes> = Vec::new();
        let mut buffered = 0usize;
        while buffered < CHUNK_BYTES {
            match body.next().await {
                None => {
                    let opts = PutOptions { attributes, ..Default::default() };
                    let result = self.inner.put_opts(&path, PutPayload::from_iter(head), opts).await?;
                    return Ok(intake.stored(key, result.e_tag, content_type));
                }
                Some(Err(error)) => return Err(BlobError::Body(error.into())),
                Some(Ok(chunk)) => {
                    intake.take(&chunk)?;
                    buffered += chunk.len();
                    head.push(chunk);
                }
            }
        }

        let opts = PutMultipartOptions { attributes, ..Default::default() };
        let mut writer =
            WriteMultipart::new_with_chunk_size(self.inner.put_multipart_opts(&path, opts).await?, CHUNK_BYTES);
        for chunk in head {
            writer.put(chunk);
        }
        loop {
            let step = match body.next().await {
                None => break,
                Some(Err(error)) => Err(BlobError::Body(error.into())),
                Some(Ok(chunk)) => match intake.take(&chunk) {
                    Err(error) => Err(error),
                    Ok(()) => match writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        Err(error) => Err(BlobError::from(error)),
                        Ok(()) => {
                            writer.put(chunk);
                            Ok(())
                        }
                    },
                },
            };
            if let Err(error) = step {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key = %key, error = %abort, "aborting a refused multipart upload failed");
                }
                return Err(error);
            }
        }
        let result = writer.finish().await?;
        Ok(intake.stored(key, result.e_tag, content_type))
    }

    /// Puts a small object held in memory (tests, tiny files); larger ones go through
    /// [`BlobStore::put_stream`].
    pub async fn put_bytes(
        &self,
        key: &BlobKey,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<StoredBlob, BlobError> {
        let size = bytes.len() as u64;
        self.put_stream(key, content_type, futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]), size)
            .await
    }

    /// The object's metadata and its bytes as a stream (never read whole).
    pub async fn get_stream(&self, key: &BlobKey) -> Result<BlobRead, BlobError> {
        let result = self.inner.get_opts(&key.to_path(), GetOptions::default()).await?;
        let content_type = result.attributes.get(&Attribute::ContentType).map(|v| v.to_string());
        let meta = meta(key.clone(), &result.meta);
        let body = result.into_stream().map_err(BlobError::from).boxed();
        Ok(BlobRead { meta, content_type, body })
    }

    pub async fn head(&self, key: &BlobKey) -> Result<BlobMeta, BlobError> {
        let found = self.inner.head(&key.to_path()).await?;
        Ok(meta(key.clone(), &found))
    }

    /// Deletes the object; deleting one that is not there is not an error.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.inner.delete(&key.to_path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(BlobError::Store(error)),
        }
    }

    /// Every object under `prefix` (whole segments: `inputs/inp_1` does not match
    /// `inputs/inp_10`), in no particular order.
    pub fn list(&self, prefix: &BlobPrefix) -> BoxStream<'static, Result<BlobMeta, BlobError>> {
        self.inner
            .list(Some(&prefix.to_path()))
            .map(|item| {
                let found = item?;
                let key = BlobKey::parse(found.location.as_ref()).map_err(BlobError::ForeignObject)?;
                Ok(meta(key, &found))
            })
            .boxed()
    }

    /// A presigned S3 URL for `method` on `key`, valid for `expires_in`; `None` for a local
    /// store (Canopy signs its own URLs for those: [`crate::UrlSigner`]). With `content_type`,
    /// the request must send that `Content-Type` (it is part of the signature). S3 cannot bound
    /// the size of a presigned PUT: check it after the upload (`head`) and delete what is over.
    pub async fn presigned_url(
        &self,
        method: http::Method,
        key: &BlobKey,
        expires_in: Duration,
        content_type: Option<&str>,
    ) -> Result<Option<url::Url>, BlobError> {
        let Some(s3) = &self.s3 else { return Ok(None) };
        let mut options = SignedUrlOptions::new();
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type).map_err(|_| BlobError::BadContentType)?;
            options = options.with_signed_header(http::header::CONTENT_TYPE, value);
        }
        Ok(Some(s3.signed_url_opts(method, &key.to_path(), expires_in, &options).await?))
    }

    fn attributes(&self, content_type: Option<&str>) -> Attributes {
        let mut attributes = Attributes::new();
        // The local store keeps no attributes (it refuses them); S3 keeps the content type.
        if let (Some(content_type), Some(_)) = (content_type, &self.s3) {
            attributes.insert(Attribute::ContentType, content_type.to_string().into());
        }
        attributes
    }
}

/// Counts and hashes an upload as it streams in.
struct Intake {
    size: u64,
    max: u64,
    hasher: Sha256,
}

impl Intake {
    fn take(&mut self, chunk: &Bytes) -> Result<(), BlobError> {
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.max {
            return Err(BlobError::TooLarge { max: self.max });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    fn stored(self, key: &BlobKey, etag: Option<String>, content_type: Option<&str>) -> StoredBlob {
        StoredBlob {
            key: key.clone(),
            size_bytes: self.size,
            sha256: hex(&self.hasher.finalize()),
            etag,
            content_type: content_type.map(str::to_string),
        }
    }
}

fn s3_builder(config: &S3Config) -> AmazonS3Builder {
    let mut builder = match (&config.access_key_id, &config.secret_access_key) {
        (Some(id), Some(secret)) => {
            let builder = AmazonS3Builder::new().with_access_key_id(id).with_secret_access_key(secret);
            match &config.session_token {
                Some(token) => builder.with_token(token),
                None => builder,
            }
        }
        _ => AmazonS3Builder::from_env(),
    };
    builder = builder
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_allow_http(config.allow_http)
        .with_virtual_hosted_style_request(config.virtual_hosted_style);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder
}

fn meta(key: BlobKey, found: &ObjectMeta) -> BlobMeta {
    BlobMeta { key, size_bytes: found.size, etag: found.e_tag.clone(), last_modified: found.last_modified }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
