//! What can go wrong storing, reading and serving blobs. `Display` never repeats a `#[source]`
//! (the chain is logged once, where it is handled).

use crate::key::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid object key")]
    Key(#[from] KeyError),
    #[error("no such object")]
    NotFound,
    #[error("the object is larger than the {max} bytes allowed")]
    TooLarge { max: u64 },
    #[error("reading the uploaded body failed")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the content type is not a valid header value")]
    BadContentType,
    #[error("the object store's configuration is invalid")]
    Config(#[source] object_store::Error),
    #[error("the object store failed")]
    Store(#[source] object_store::Error),
    #[error("the object store lists an object outside Canopy's key layout")]
    ForeignObject(#[source] KeyError),
    #[error("creating the local store's directory failed")]
    CreateDir(#[source] std::io::Error),
}

impl From<object_store::Error> for BlobError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => BlobError::NotFound,
            other => BlobError::Store(other),
        }
    }
}
