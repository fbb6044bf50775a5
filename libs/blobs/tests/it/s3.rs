//! S3, against a real S3 server on loopback: moto's (`moto[server]` from PyPI), started by the
//! test on a port of its own and killed when it ends. The binary is `CANOPY_MOTO_SERVER`, or
//! `.state/tools/moto/bin/moto_server` where `scripts/lib/python-tools.sh`'s `canopy_ensure_moto`
//! puts it. Without it the test fails, unless `CANOPY_SKIP_S3_TESTS=1` (then it says why and
//! skips).

use crate::support::{chunked, fresh_dir, sha256_hex, tenant, test_bytes, MIB};
use bytes::Bytes;
use canopy_blobs::{
    BlobError, BlobKey, BlobPrefix, BlobStore, BlobStoreConfig, BlobUrls, S3Config, SigningKey, StoreKind, UrlSigner,
};
use futures::{StreamExt, TryStreamExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to answer after it is started.
const STARTUP: Duration = Duration::from_secs(30);

/// A running moto server, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CANOPY_MOTO_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("CANOPY_MOTO_SERVER={} is not a file", path.display()))
        };
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let state = std::env::var_os("CANOPY_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join(".state"));
    let default = state.join("tools/moto/bin/moto_server");
    if default.is_file() {
        return Ok(default);
    }
    Err(format!(
        "moto's S3 server was not found: set CANOPY_MOTO_SERVER, or install it with \
         `. scripts/lib/python-tools.sh && canopy_ensure_moto` (looked in {})",
        default.display()
    ))
}

/// Starts moto, or explains why not: `Ok(None)` means skipped (CANOPY_SKIP_S3_TESTS=1).
async fn start_moto() -> Option<Moto> {
    let skip = std::env::var("CANOPY_SKIP_S3_TESTS").is_ok_and(|v| v == "1");
    match try_start_moto().await {
        Ok(moto) => Some(moto),
        Err(reason) if skip => {
            eprintln!("SKIPPED canopy-blobs S3 test (CANOPY_SKIP_S3_TESTS=1): {reason}");
            None
        }
        Err(reason) => panic!("the S3 test needs moto's S3 server: {reason} (CANOPY_SKIP_S3_TESTS=1 skips it)"),
    }
}

async fn try_start_moto() -> Result<Moto, String> {
    let binary = moto_binary()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    let log = fresh_dir("moto").join("moto.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("{} did not start: {e}", binary.display()))?;
    let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), log };
    let started = Instant::now();
    while started.elapsed() < STARTUP {
        if let Ok(Some(status)) = moto.child.try_wait() {
            let log = std::fs::read_to_string(&moto.log).unwrap_or_default();
            return Err(format!("moto exited with {status}: {log}"));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(moto);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&moto.log).unwrap_or_default();
    drop(moto);
    Err(format!("moto did not answer on port {port} within {STARTUP:?}: {log}"))
}

#[tokio::test]
async fn s3_store_and_presigned_urls_against_moto() {
    let Some(moto) = start_moto().await else { return };
    let http = reqwest::Client::new();
    let bucket = "canopy-blobs-test";
    let created = http.put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap();
    assert!(created.status().is_success(), "creating the bucket: {}", created.status());

    let config =
        S3Config::new(bucket, "us-east-1").with_endpoint(&moto.endpoint).with_static_credentials("testing", "testing");
    assert!(!format!("{config:?}").contains("\"testing\", secret"), "{config:?}");
    let store = BlobStore::open(&BlobStoreConfig::S3(config)).unwrap();
    assert_eq!(store.kind(), StoreKind::S3);
    let acme = tenant("acme");

    // A multipart-sized object streams in and out with its size, SHA-256 and content type.
    let key = BlobKey::job_artifact(&acme, "job_1", "model.bin").unwrap();
    let data = test_bytes(11 * MIB + 3, 21);
    let stored =
        store.put_stream(&key, Some("application/x-model"), chunked(&data, 128 * 1024), 12 * MIB as u64).await.unwrap();
    assert_eq!((stored.size_bytes, stored.sha256.clone()), (data.len() as u64, sha256_hex(&data)));
    let read = store.get_stream(&key).await.unwrap();
    assert_eq!(read.meta.size_bytes, data.len() as u64);
    assert_eq!(read.content_type.as_deref(), Some("application/x-model"));
    let received: Vec<Bytes> = read.body.try_collect().await.unwrap();
    assert_eq!(sha256_hex(&received.concat()), stored.sha256);

    // A small one, and a listing that stays in its tenant.
    let small = BlobKey::job_input(&acme, "inp_1", "data.csv").unwrap();
    store.put_bytes(&small, Some("text/csv"), Bytes::from_static(b"a,b\n1,2\n")).await.unwrap();
    let other = BlobKey::job_input(&tenant("globex"), "inp_1", "data.csv").unwrap();
    store.put_bytes(&other, None, Bytes::from_static(b"x")).await.unwrap();
    let mut listed: Vec<_> = store.list(&BlobPrefix::tenant(&acme)).map(|m| m.unwrap().key).collect().await;
    listed.sort();
    assert_eq!(listed, vec![small.clone(), key.clone()]);
    assert_eq!(store.head(&small).await.unwrap().size_bytes, 8);

    // Over the limit mid-stream (multipart, aborted): nothing at the key.
    let refused = BlobKey::job_input(&acme, "inp_2", "big.bin").unwrap();
    let error =
        store.put_stream(&refused, None, chunked(&test_bytes(8 * MIB, 22), MIB), 6 * MIB as u64).await.unwrap_err();
    assert!(matches!(error, BlobError::TooLarge { .. }), "{error:?}");
    assert!(matches!(store.head(&refused).await, Err(BlobError::NotFound)));

    store.delete(&key).await.unwrap();
    assert!(matches!(store.head(&key).await, Err(BlobError::NotFound)));

    // Presigned S3 URLs: PUT then GET with a plain HTTP client.
    let signer = UrlSigner::new(SigningKey::new("k1", [5; 32]).unwrap());
    let urls = BlobUrls::new(store.clone(), signer, "http://canopy.invalid");
    let uploaded = BlobKey::job_input(&acme, "inp_3", "upload.json").unwrap();
    let ttl = Duration::from_secs(120);
    let put_url = urls.upload_url(&uploaded, 1024, Some("application/json"), ttl).await.unwrap();
    assert!(put_url.expose().starts_with(&moto.endpoint), "{put_url}");
    assert!(put_url.expose().contains("X-Amz-Signature="));
    assert!(put_url.redacted().contains("X-Amz-Signature=REDACTED"), "{put_url}");
    let response = http
        .put(put_url.expose())
        .header("content-type", "application/json")
        .body("{\"rows\": 2}")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "presigned PUT: {}", response.status());
    assert_eq!(store.head(&uploaded).await.unwrap().size_bytes, 11);

    let get_url = urls.download_url(&uploaded, None, ttl).await.unwrap();
    let response = http.get(get_url.expose()).send().await.unwrap();
    assert!(response.status().is_success(), "presigned GET: {}", response.status());
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), "{\"rows\": 2}");

    drop(moto);
}
