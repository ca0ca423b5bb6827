//! The storage suite and S3-specific behaviour against a real S3-compatible server (SeaweedFS).
//!
//! All tests share one server and run one at a time (the kill/restart test takes the server down).
// Holding the server's lock across awaits is the point: it serialises the tests, each on its own runtime.
#![allow(clippy::await_holding_lock)]

mod conformance;

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use eoforge_storage::{Error, RetryOptions, Secret, Store, StoreOptions};
use eoforge_testkit::S3Server;
use futures::StreamExt;

fn server() -> Option<MutexGuard<'static, S3Server>> {
    static SERVER: OnceLock<Option<Mutex<S3Server>>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        S3Server::start().map(|s| {
            s.create_bucket("eoforge");
            Mutex::new(s)
        })
    });
    server.as_ref().map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn options(server: &S3Server) -> StoreOptions {
    let mut o = StoreOptions::default();
    o.s3.endpoint = Some(server.endpoint());
    o.s3.access_key_id = Some(server.access_key().into());
    o.s3.secret_access_key = Some(Secret::new(server.secret_key()));
    o.retry = RetryOptions {
        max_retries: 3,
        retry_timeout: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
    };
    o.request_timeout = Duration::from_secs(30);
    o.connect_timeout = Duration::from_secs(2);
    o
}

#[tokio::test]
async fn s3_passes_the_suite() {
    let Some(server) = server() else { return };
    let store = Store::open_with("s3://eoforge/suite", &options(&server)).expect("open");
    conformance::suite(&store).await;
}

#[tokio::test]
async fn s3_lists_more_than_one_page() {
    let Some(server) = server() else { return };
    let store = Store::open_with("s3://eoforge/many", &options(&server)).expect("open");
    let keys: Vec<String> = (0..1_100).map(|i| format!("k/{i:05}.txt")).collect();
    let puts = futures::stream::iter(keys.iter())
        .map(|k| {
            let store = store.clone();
            async move { store.put(k, Bytes::from(k.clone())).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    puts.into_iter().collect::<Result<Vec<()>, _>>().expect("puts");
    let listed: Vec<String> = store.list("k").await.expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(listed, keys);
    let mut probe: Vec<String> = keys.iter().step_by(7).cloned().collect();
    probe.extend(["k/missing-a".to_owned(), "k/missing-b".to_owned()]);
    let report = store.check_exist(&probe, 16).await.expect("check");
    assert_eq!(report.missing, ["k/missing-a", "k/missing-b"]);
}

#[tokio::test]
async fn s3_multipart_object_over_64_mib_round_trips() {
    let Some(server) = server() else { return };
    let store = Store::open_with("s3://eoforge/big", &options(&server)).expect("open");
    let data = random_bytes(70 << 20, 7);
    store.put("blob.bin", data.clone()).await.expect("multipart put");
    assert_eq!(store.head("blob.bin").await.expect("head").size, data.len() as u64);
    let back = store.get("blob.bin").await.expect("get");
    assert!(back == data, "multipart object differs");
    let mid = 33 << 20;
    assert_eq!(
        store.get_range("blob.bin", mid..mid + 1000).await.expect("range"),
        data.slice(mid as usize..mid as usize + 1000)
    );

    // A local file streams up and back down through a local store.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.bin"), &data).expect("write");
    store.put_file("from-file.bin", &dir.path().join("in.bin")).await.expect("put_file");
    let local = Store::open(&dir.path().display().to_string()).expect("local");
    store.copy_to("from-file.bin", &local, "out.bin").await.expect("copy down");
    assert!(std::fs::read(dir.path().join("out.bin")).expect("read") == data);
}

#[tokio::test]
async fn s3_wrong_credentials_give_a_clear_error_without_the_secret() {
    let Some(server) = server() else { return };
    let mut bad = options(&server);
    let planted = "planted-wrong-secret-3f9a1c";
    bad.s3.secret_access_key = Some(Secret::new(planted));
    let store = Store::open_with("s3://eoforge/denied", &bad).expect("open");
    for err in [
        store.put("x.bin", Bytes::from_static(b"x")).await.expect_err("put must be refused"),
        store.get("x.bin").await.expect_err("get must be refused"),
        store.list("").await.expect_err("list must be refused"),
    ] {
        assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
        let text = format!("{err} {err:?} {}", error_chain(&err));
        assert!(text.contains("s3://eoforge/denied"), "{text}");
        assert!(!text.contains(planted), "secret leaked: {text}");
    }
    assert!(!format!("{store:?} {bad:?}").contains(planted));
}

#[tokio::test]
async fn s3_missing_bucket_and_key_name_the_url() {
    let Some(server) = server() else { return };
    let store = Store::open_with("s3://eoforge/none", &options(&server)).expect("open");
    let err = store.get("nope.bin").await.expect_err("missing key");
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("s3://eoforge/none/nope.bin"), "{err}");
    let other = Store::open_with("s3://no-such-bucket/x", &options(&server)).expect("open");
    let err = other.get("y").await.expect_err("missing bucket");
    assert!(err.to_string().contains("s3://no-such-bucket/x/y"), "{err}");
}

#[tokio::test]
async fn s3_server_killed_mid_upload_leaves_no_object_and_a_retry_works() {
    let Some(mut server) = server() else { return };
    let opts = options(&server);
    let store = Store::open_with("s3://eoforge/crash", &opts).expect("open");
    let data = random_bytes(48 << 20, 11);
    let part = opts.part_size;

    // Feed the upload from a channel so the server can be killed after some parts went up.
    let (tx, rx) = futures::channel::mpsc::channel::<eoforge_storage::Result<Bytes>>(1);
    let upload = {
        let store = store.clone();
        tokio::spawn(async move { store.put_stream("object.bin", rx).await })
    };
    let mut tx = tx;
    for chunk in data.chunks(part).take(3) {
        futures::SinkExt::send(&mut tx, Ok(Bytes::copy_from_slice(chunk))).await.expect("feed");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    for chunk in data.chunks(part).skip(3) {
        if futures::SinkExt::send(&mut tx, Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
            break;
        }
    }
    drop(tx);
    let err = upload.await.expect("join").expect_err("upload must fail while the server is down");
    assert!(err.to_string().contains("s3://eoforge/crash/object.bin"), "{err}");

    server.restart();
    assert!(!store.exists("object.bin").await.expect("head after restart"), "partial object visible");
    assert!(store.list("").await.expect("list").iter().all(|o| o.key != "object.bin"));

    store.put("object.bin", data.clone()).await.expect("retry after restart");
    assert!(store.get("object.bin").await.expect("get") == data);
}

#[tokio::test]
async fn s3_retries_ride_out_a_short_outage() {
    let Some(mut server) = server() else { return };
    let mut opts = options(&server);
    opts.retry = RetryOptions {
        max_retries: 30,
        retry_timeout: Duration::from_secs(60),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
    };
    let store = Store::open_with("s3://eoforge/outage", &opts).expect("open");
    store.put("before.bin", Bytes::from_static(b"written before the outage")).await.expect("put");

    server.kill();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move { store.get("before.bin").await })
    };
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { store.put("during.bin", Bytes::from_static(b"written during the outage")).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!reader.is_finished() && !writer.is_finished(), "requests must be retrying, not failed");
    server.restart();
    assert_eq!(
        &reader.await.expect("join").expect("get retried until the server came back")[..],
        b"written before the outage"
    );
    writer.await.expect("join").expect("put retried until the server came back");
    assert_eq!(&store.get("during.bin").await.expect("get")[..], b"written during the outage");
}

fn random_bytes(len: usize, seed: u64) -> Bytes {
    use rand::{RngCore, SeedableRng};
    let mut buf = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut buf);
    Bytes::from(buf)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(" <- ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
