//! Where blobs are kept: a local directory (the default, `<state_dir>/blobs`) or an S3 bucket.
//! Only the struct and its constructors live here; reading it from Canopy's layered
//! configuration (`canopy-config`) comes when the services wire blob storage in.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobStoreConfig {
    /// Objects are files under `root`; Canopy serves them through its own signed URLs.
    Local { root: PathBuf },
    /// Objects are in an S3 bucket; clients use presigned S3 URLs.
    S3(S3Config),
}

impl BlobStoreConfig {
    /// The default: `<state_dir>/blobs`.
    pub fn local_in_state_dir(state_dir: &Path) -> Self {
        Self::Local { root: state_dir.join("blobs") }
    }
}

/// An S3 (or S3-compatible) bucket. Without `access_key_id`/`secret_access_key`, credentials
/// come from the environment (`AWS_*`, instance metadata), as the AWS tools find them.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// e.g. `http://127.0.0.1:9000` for an S3-compatible server; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow `http://` endpoints (loopback test servers, private networks).
    pub allow_http: bool,
    /// `bucket.host` rather than `host/bucket` addressing.
    pub virtual_hosted_style: bool,
}

impl S3Config {
    /// A bucket on AWS in `region`, credentials from the environment.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted_style: false,
        }
    }

    /// A bucket on an S3-compatible server at `endpoint` (path-style addressing; `http://`
    /// allowed when the endpoint says so).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        self.allow_http = endpoint.starts_with("http://");
        self.endpoint = Some(endpoint);
        self
    }

    pub fn with_static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key.into());
        self
    }
}

/// Credentials never reach a log line.
impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}
