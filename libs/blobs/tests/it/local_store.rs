//! The local store: streamed round trips with size and SHA-256, size limits enforced while the
//! body streams (nothing left behind), listing stays inside a tenant.

use crate::support::{chunked, files_under, fresh_dir, sha256_hex, tenant, test_bytes, MIB};
use bytes::Bytes;
use canopy_blobs::{BlobError, BlobKey, BlobPrefix, BlobStore, BlobStoreConfig, StoreKind};
use futures::{StreamExt, TryStreamExt};

fn local_store(name: &str) -> (BlobStore, std::path::PathBuf) {
    let state_dir = fresh_dir(name);
    let store = BlobStore::open(&BlobStoreConfig::local_in_state_dir(&state_dir)).unwrap();
    assert_eq!(store.kind(), StoreKind::Local);
    (store, state_dir.join("blobs"))
}

async fn read_all(store: &BlobStore, key: &BlobKey) -> Vec<u8> {
    let read = store.get_stream(key).await.unwrap();
    let chunks: Vec<Bytes> = read.body.try_collect().await.unwrap();
    chunks.concat()
}

#[tokio::test]
async fn a_multi_mib_object_streams_in_and_out_with_its_size_and_sha256() {
    let (store, root) = local_store("roundtrip");
    let acme = tenant("acme");
    let key = BlobKey::job_input(&acme, "inp_1", "données 1.bin").unwrap();
    // 12 MiB + a bit, in 64 KiB pieces: more than two multipart chunks, and an odd tail.
    let data = test_bytes(12 * MIB + 12_345, 1);

    let stored = store
        .put_stream(&key, Some("application/octet-stream"), chunked(&data, 64 * 1024), 13 * MIB as u64)
        .await
        .unwrap();
    assert_eq!(stored.size_bytes, data.len() as u64);
    assert_eq!(stored.sha256, sha256_hex(&data));
    assert_eq!(stored.key, key);
    assert!(stored.etag.is_some());

    let read = store.get_stream(&key).await.unwrap();
    assert_eq!(read.meta.size_bytes, data.len() as u64);
    assert_eq!(read.meta.etag, stored.etag);
    let mut received = Vec::with_capacity(data.len());
    let mut body = read.body;
    let mut pieces = 0;
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.unwrap());
        pieces += 1;
    }
    assert!(pieces > 1, "the object came back in one piece: it was read whole");
    assert_eq!(sha256_hex(&received), stored.sha256);
    assert!(received == data);

    let head = store.head(&key).await.unwrap();
    assert_eq!(head.size_bytes, data.len() as u64);
    // On disk it is the one file at its key, nothing staged beside it.
    assert_eq!(files_under(&root), vec![root.join("tenants/acme/inputs/inp_1/données 1.bin")]);

    store.delete(&key).await.unwrap();
    assert!(matches!(store.head(&key).await, Err(BlobError::NotFound)));
    assert!(matches!(store.get_stream(&key).await, Err(BlobError::NotFound)));
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn a_small_object_is_written_in_one_piece_and_an_empty_one_works_too() {
    let (store, _) = local_store("small");
    let acme = tenant("acme");
    let key = BlobKey::job_artifact(&acme, "job_1", "out.json").unwrap();
    let stored = store.put_bytes(&key, Some("application/json"), Bytes::from_static(b"{\"ok\":1}")).await.unwrap();
    assert_eq!(stored.size_bytes, 8);
    assert_eq!(stored.sha256, sha256_hex(b"{\"ok\":1}"));
    assert_eq!(stored.content_type.as_deref(), Some("application/json"));
    assert_eq!(read_all(&store, &key).await, b"{\"ok\":1}");

    let empty = BlobKey::job_artifact(&acme, "job_1", "empty.txt").unwrap();
    let stored = store.put_bytes(&empty, None, Bytes::new()).await.unwrap();
    assert_eq!((stored.size_bytes, stored.sha256.as_str()), (0, sha256_hex(b"").as_str()));
    assert_eq!(read_all(&store, &empty).await, b"");
}

#[tokio::test]
async fn an_upload_past_its_limit_is_refused_mid_stream_and_leaves_nothing() {
    let (store, root) = local_store("limit");
    let acme = tenant("acme");
    // Large (multipart): refused after 7 MiB of a 12 MiB body.
    let key = BlobKey::job_input(&acme, "inp_big", "big.bin").unwrap();
    let data = test_bytes(12 * MIB, 2);
    let error = store.put_stream(&key, None, chunked(&data, 256 * 1024), 7 * MIB as u64).await.unwrap_err();
    assert!(matches!(error, BlobError::TooLarge { max } if max == 7 * MIB as u64), "{error:?}");
    // Small (one request): refused at byte 101.
    let small = BlobKey::job_input(&acme, "inp_small", "small.bin").unwrap();
    let error = store.put_stream(&small, None, chunked(&test_bytes(1000, 3), 10), 100).await.unwrap_err();
    assert!(matches!(error, BlobError::TooLarge { max: 100 }), "{error:?}");
    // Exactly at the limit is allowed.
    let exact = BlobKey::job_input(&acme, "inp_exact", "exact.bin").unwrap();
    store.put_stream(&exact, None, chunked(&test_bytes(100, 4), 7), 100).await.unwrap();

    for refused in [&key, &small] {
        assert!(matches!(store.head(refused).await, Err(BlobError::NotFound)), "{refused}");
    }
    let listed: Vec<_> = store.list(&BlobPrefix::tenant(&acme)).map(|m| m.unwrap().key).collect().await;
    assert_eq!(listed, vec![exact.clone()]);
    // No staged part or partial file anywhere on disk either.
    assert_eq!(files_under(&root), vec![root.join(exact.as_str())]);
}

#[tokio::test]
async fn a_body_that_breaks_mid_stream_stores_nothing() {
    let (store, root) = local_store("broken");
    let key = BlobKey::job_input(&tenant("acme"), "inp_1", "broken.bin").unwrap();
    let good = chunked(&test_bytes(6 * MIB, 5), MIB);
    let broken = good.chain(futures::stream::iter([Err(std::io::Error::other("client went away"))]));
    let error = store.put_stream(&key, None, broken, 100 * MIB as u64).await.unwrap_err();
    assert!(matches!(error, BlobError::Body(_)), "{error:?}");
    assert!(matches!(store.head(&key).await, Err(BlobError::NotFound)));
    assert!(files_under(&root).is_empty(), "{:?}", files_under(&root));
}

#[tokio::test]
async fn a_listing_sees_only_its_tenants_objects_and_whole_segments() {
    let (store, _) = local_store("list");
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let mut put = Vec::new();
    for (tenant, input) in [(&acme, "inp_1"), (&acme, "inp_10"), (&globex, "inp_1")] {
        let key = BlobKey::job_input(tenant, input, "f.txt").unwrap();
        store.put_bytes(&key, None, Bytes::from_static(b"x")).await.unwrap();
        put.push(key);
    }
    let mut acme_all: Vec<_> = store.list(&BlobPrefix::tenant(&acme)).map(|m| m.unwrap().key).collect().await;
    acme_all.sort();
    assert_eq!(acme_all, vec![put[0].clone(), put[1].clone()]);
    assert!(acme_all.iter().all(|k| k.tenant() == &acme));
    let one: Vec<_> =
        store.list(&BlobPrefix::new(&acme, &["inputs", "inp_1"]).unwrap()).map(|m| m.unwrap()).collect().await;
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].key.clone(), one[0].size_bytes), (put[0].clone(), 1));
}
