//! Serving a local store's objects on Canopy's own signed URLs: `GET`/`HEAD` and `PUT` on
//! `/blobs/{token}` ([`crate::signing`] says what the token and query hold). Every request is
//! verified first; bodies stream both ways, never held whole. A `PUT` is held to the size limit
//! signed into its URL (`413` past it, before reading when `Content-Length` says so, otherwise as
//! soon as the stream passes it; nothing is stored). Refusals use Canopy's one error envelope:
//! `UNAUTHORIZED` for a bad, altered, expired or other-method URL, `NOT_FOUND`,
//! `INVALID_REQUEST` (also with `413`). Logs name the object key and the outcome, never the URL,
//! its query or its signature; whoever mounts this router must keep request logging free of
//! query strings too.
//!
//! Downloads come from Canopy's own origin, so they are served as attachments with
//! `nosniff` and a sandboxing CSP: an uploaded HTML file cannot run as a page of Canopy.

use crate::error::BlobError;
use crate::signing::{Grant, UrlError, UrlSigner};
use crate::store::BlobStore;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use canopy_api_types::{ErrorCode, ErrorEnvelope};
use chrono::Utc;
use serde::Serialize;
use std::sync::Arc;

struct Served {
    store: BlobStore,
    signer: UrlSigner,
}

/// The router of `GET`/`HEAD`/`PUT /blobs/{token}`, for a local store.
pub fn router(store: BlobStore, signer: UrlSigner) -> Router {
    let route = get(download).put(upload).fallback(other_method);
    Router::new().route("/blobs/{token}", route).with_state(Arc::new(Served { store, signer }))
}

/// What a successful `PUT` answers.
#[derive(Debug, Serialize)]
struct Uploaded {
    size_bytes: u64,
    sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

fn refuse(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorEnvelope::new(code, message))).into_response()
}

fn verified(served: &Served, method: &Method, token: &str, query: Option<&str>) -> Result<Grant, UrlError> {
    served.signer.verify(method, token, query.unwrap_or_default(), Utc::now())
}

fn unauthorized(error: UrlError) -> Response {
    tracing::info!(error = %error, "signed blob URL refused");
    refuse(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, error.to_string())
}

fn store_failed(grant: &Grant, error: &BlobError) -> Response {
    tracing::error!(key = %grant.key, error = %error, source = ?std::error::Error::source(error), "blob store failed");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError, "the object store failed")
}

async fn upload(
    State(served): State<Arc<Served>>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let grant = match verified(&served, &Method::PUT, &token, query.as_deref()) {
        Ok(grant) => grant,
        Err(error) => return unauthorized(error),
    };
    // `verify` refuses an upload URL without a limit; 0 would refuse every byte anyway.
    let max = grant.max_bytes.unwrap_or(0);
    let sent_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let (Some(signed), Some(sent)) = (&grant.content_type, sent_type) {
        if !signed.eq_ignore_ascii_case(sent) {
            let message = format!("this URL uploads '{signed}', not '{sent}'");
            return refuse(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message);
        }
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max) {
        return too_large(&grant, max);
    }
    let content_type = grant.content_type.as_deref().or(sent_type);
    match served.store.put_stream(&grant.key, content_type, body.into_data_stream(), max).await {
        Ok(stored) => {
            tracing::info!(key = %grant.key, size_bytes = stored.size_bytes, "blob uploaded");
            let mut response =
                Json(Uploaded { size_bytes: stored.size_bytes, sha256: stored.sha256, etag: stored.etag.clone() })
                    .into_response();
            if let Some(etag) = stored.etag.as_deref().and_then(etag_header) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Err(BlobError::TooLarge { max }) => too_large(&grant, max),
        Err(BlobError::Body(_)) => {
            tracing::info!(key = %grant.key, "blob upload cut short");
            refuse(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, "the upload's body could not be read to its end")
        }
        Err(error) => store_failed(&grant, &error),
    }
}

fn too_large(grant: &Grant, max: u64) -> Response {
    tracing::info!(key = %grant.key, max, "blob upload over its limit refused");
    let message = format!("the upload is larger than the {max} bytes this URL allows");
    refuse(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidRequest, message)
}

async fn download(
    State(served): State<Arc<Served>>,
    method: Method,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let grant = match verified(&served, &method, &token, query.as_deref()) {
        Ok(grant) => grant,
        Err(error) => return unauthorized(error),
    };
    let read = match served.store.get_stream(&grant.key).await {
        Ok(read) => read,
        Err(BlobError::NotFound) => {
            return refuse(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such object");
        }
        Err(error) => return store_failed(&grant, &error),
    };
    let content_type = grant.content_type.clone().or(read.content_type.clone());
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(read.meta.size_bytes));
    let content_type = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok());
    headers.insert(header::CONTENT_TYPE, content_type.unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Some(etag) = read.meta.etag.as_deref().and_then(etag_header) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CONTENT_DISPOSITION, disposition(grant.key.file_name()));
    tracing::debug!(key = %grant.key, "blob served");
    (StatusCode::OK, headers, Body::from_stream(read.body)).into_response()
}

async fn other_method() -> Response {
    refuse(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest, "signed blob URLs take GET, HEAD and PUT")
}

/// An entity tag as HTTP wants it: quoted (S3's already are; the local store's are not).
fn etag_header(etag: &str) -> Option<HeaderValue> {
    if etag.starts_with('"') || etag.starts_with("W/\"") {
        HeaderValue::from_str(etag).ok()
    } else {
        HeaderValue::from_str(&format!("\"{etag}\"")).ok()
    }
}

/// `attachment`, with the file name when it is plain ASCII (key segments hold no quote,
/// backslash or control character).
fn disposition(file_name: &str) -> HeaderValue {
    if file_name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
            return value;
        }
    }
    HeaderValue::from_static("attachment")
}
