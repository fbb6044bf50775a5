//! Blob storage for Canopy's workloads: job inputs and artifacts (issue 11) and the files of
//! Python workspaces (issue 12), kept through the `object_store` crate in a local directory
//! (the default, `<state_dir>/blobs`) or in S3.
//!
//! - [`BlobKey`]: every object is under `tenants/{tenant}/...`; a key cannot be made without a
//!   tenant, nor climb out of it.
//! - [`BlobStore`]: `put_stream` (streamed, size-limited, SHA-256 and size computed on the way
//!   in, nothing left behind when refused), `get_stream`, `head`, `delete`, `list`.
//! - [`UrlSigner`] and [`SignedUrl`]: Canopy's own signed URLs (HMAC-SHA256 under a key derived
//!   from the deployment's secret key, with a key id), bound to method, object and expiry, with a
//!   size limit on uploads; see [`signing`] for the format.
//! - [`router`]: serves those URLs for a local store (streamed both ways).
//! - [`BlobUrls`]: hands out upload and download URLs, Canopy's for a local store and presigned
//!   S3 URLs for S3.
//!
//! [`BlobStoreConfig`] is only a struct with constructors for now: reading it from Canopy's
//! layered configuration (`canopy-config`) comes when the api and job-poller wire this in.

pub mod config;
pub mod error;
pub mod key;
pub mod serve;
pub mod signing;
pub mod store;
pub mod urls;

pub use config::{BlobStoreConfig, S3Config};
pub use error::BlobError;
pub use key::{BlobKey, BlobPrefix, KeyError};
pub use serve::router;
pub use signing::{BlobMethod, Grant, SignError, SignedUrl, SigningKey, UrlError, UrlSigner, URL_PATH_PREFIX};
pub use store::{BlobMeta, BlobRead, BlobStore, StoreKind, StoredBlob};
pub use urls::{BlobUrls, UrlIssueError, DEFAULT_URL_TTL};
