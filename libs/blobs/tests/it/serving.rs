//! Canopy serving a local store's signed URLs over real HTTP (axum on a loopback port, reqwest
//! as the client): upload then download, limits, refusals in the error envelope.

use crate::support::{chunked, files_under, fresh_dir, sha256_hex, tenant, test_bytes, MIB};
use canopy_blobs::{BlobError, BlobKey, BlobStore, BlobStoreConfig, BlobUrls, Grant, SigningKey, UrlSigner};
use chrono::{Duration, Utc};
use serde_json::Value;
use std::path::PathBuf;

struct Served {
    urls: BlobUrls,
    root: PathBuf,
    http: reqwest::Client,
    base: String,
}

async fn serve(name: &str) -> Served {
    let state_dir = fresh_dir(name);
    let store = BlobStore::open(&BlobStoreConfig::local_in_state_dir(&state_dir)).unwrap();
    let signer = UrlSigner::new(SigningKey::new("k1", [3; 32]).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = canopy_blobs::router(store.clone(), signer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served {
        urls: BlobUrls::new(store, signer, &base),
        root: state_dir.join("blobs"),
        http: reqwest::Client::new(),
        base,
    }
}

/// Asserts an error answer: its status and the envelope's code.
async fn assert_refused(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], Value::Bool(false), "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn put_then_get_through_signed_urls_streams_the_bytes_with_their_headers() {
    let s = serve("roundtrip").await;
    let key = BlobKey::job_input(&tenant("acme"), "inp_1", "data.csv").unwrap();
    let data = test_bytes(6 * MIB + 7, 11);
    let ttl = std::time::Duration::from_secs(60);
    let upload = s.urls.upload_url(&key, 8 * MIB as u64, Some("text/csv"), ttl).await.unwrap();
    assert!(upload.expose().starts_with(&format!("{}/blobs/", s.base)), "{upload}");

    // A streamed (chunked) body, as a client uploading a file sends it.
    let response = s
        .http
        .put(upload.expose())
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(chunked(&data, 100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let put_etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["size_bytes"], data.len() as u64);
    assert_eq!(body["sha256"], sha256_hex(&data));

    let download = s.urls.download_url(&key, Some("text/csv"), ttl).await.unwrap();
    let response = s.http.get(download.expose()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-length"], data.len().to_string().as_str());
    assert_eq!(headers["content-type"], "text/csv");
    assert_eq!(headers["etag"].to_str().unwrap(), put_etag);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"data.csv\"");
    let received = response.bytes().await.unwrap();
    assert_eq!(sha256_hex(&received), sha256_hex(&data));

    // HEAD answers the headers alone.
    let response = s.http.head(download.expose()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], data.len().to_string().as_str());

    // Reusing the upload URL to read, or the download URL to write, is refused.
    let response = s.http.get(upload.expose()).send().await.unwrap();
    assert_refused(response, 401, "UNAUTHORIZED").await;
    let response = s.http.put(download.expose()).body("overwritten").send().await.unwrap();
    assert_refused(response, 401, "UNAUTHORIZED").await;
    let response = s.http.delete(download.expose()).send().await.unwrap();
    assert_refused(response, 405, "INVALID_REQUEST").await;
    assert_eq!(s.urls.store().head(&key).await.unwrap().size_bytes, data.len() as u64);
}

#[tokio::test]
async fn an_upload_over_the_signed_limit_gets_413_and_stores_nothing() {
    let s = serve("limit").await;
    let ttl = std::time::Duration::from_secs(60);
    let acme = tenant("acme");

    // Content-Length says so: refused before the body is read.
    let key = BlobKey::job_input(&acme, "inp_1", "a.bin").unwrap();
    let url = s.urls.upload_url(&key, 1000, None, ttl).await.unwrap();
    let response = s.http.put(url.expose()).body(test_bytes(1001, 1)).send().await.unwrap();
    let message = assert_refused(response, 413, "INVALID_REQUEST").await;
    assert!(message.contains("1000 bytes"), "{message}");

    // A chunked body with no length: refused as it passes the limit.
    let key2 = BlobKey::job_input(&acme, "inp_2", "b.bin").unwrap();
    let url = s.urls.upload_url(&key2, 256 * 1024, None, ttl).await.unwrap();
    let body = reqwest::Body::wrap_stream(chunked(&test_bytes(2 * MIB, 2), 64 * 1024));
    let response = s.http.put(url.expose()).body(body).send().await.unwrap();
    assert_refused(response, 413, "INVALID_REQUEST").await;

    for key in [&key, &key2] {
        assert!(matches!(s.urls.store().head(key).await, Err(BlobError::NotFound)));
    }
    assert!(files_under(&s.root).is_empty(), "{:?}", files_under(&s.root));
}

#[tokio::test]
async fn expired_tampered_or_unknown_urls_get_401_in_the_envelope() {
    let s = serve("refusals").await;
    let key = BlobKey::job_artifact(&tenant("acme"), "job_1", "out.json").unwrap();
    s.urls.store().put_bytes(&key, Some("application/json"), "{}".into()).await.unwrap();
    let signer = s.urls.signer();

    let expired = signer.sign(&Grant::download(key.clone(), None, Utc::now() - Duration::seconds(1))).unwrap();
    let response = s.http.get(expired.with_base(&s.base).expose()).send().await.unwrap();
    let message = assert_refused(response, 401, "UNAUTHORIZED").await;
    assert!(message.contains("expired"), "{message}");

    let valid = s.urls.download_url(&key, None, std::time::Duration::from_secs(60)).await.unwrap();
    let tampered = valid.expose().replace("sig=", "sig=A");
    let response = s.http.get(&tampered).send().await.unwrap();
    let message = assert_refused(response, 401, "UNAUTHORIZED").await;
    assert!(!message.contains(valid.expose().split("sig=").nth(1).unwrap()), "the answer repeats the signature");

    let foreign = UrlSigner::new(SigningKey::new("k9", [3; 32]).unwrap());
    let url = foreign.sign(&Grant::download(key.clone(), None, Utc::now() + Duration::minutes(1))).unwrap();
    let response = s.http.get(url.with_base(&s.base).expose()).send().await.unwrap();
    assert_refused(response, 401, "UNAUTHORIZED").await;

    let response = s.http.get(format!("{}/blobs/{}", s.base, "x")).send().await.unwrap();
    assert_refused(response, 401, "UNAUTHORIZED").await;

    // A valid URL for an object that is not there.
    let missing = BlobKey::job_artifact(&tenant("acme"), "job_1", "missing.json").unwrap();
    let url = s.urls.download_url(&missing, None, std::time::Duration::from_secs(60)).await.unwrap();
    let response = s.http.get(url.expose()).send().await.unwrap();
    assert_refused(response, 404, "NOT_FOUND").await;

    // The valid one works.
    let response = s.http.get(valid.expose()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(response.text().await.unwrap(), "{}");
}
