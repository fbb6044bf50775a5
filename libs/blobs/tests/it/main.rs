//! canopy-blobs' integration tests, one binary: keys, the local store, signed URLs, serving
//! them over real HTTP, and S3 against moto's server on loopback.

mod keys;
mod local_store;
mod s3;
mod serving;
mod signing;
mod support;
