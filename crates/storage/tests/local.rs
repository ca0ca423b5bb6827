//! The storage suite on memory and local-file stores, plus local-only guarantees.

mod conformance;

use bytes::Bytes;
use eoforge_storage::{Store, StoreOptions};

#[tokio::test]
async fn memory_store_passes_the_suite() {
    let store = Store::open("memory://suite").expect("open");
    conformance::suite(&store).await;
}

#[tokio::test]
async fn local_store_passes_the_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("root").display().to_string()).expect("open");
    conformance::suite(&store).await;
    // file:// URLs and plain paths open the same place.
    let url = format!("file://{}", dir.path().join("root").display());
    let again = Store::open(&url).expect("open file url");
    assert!(again.exists("dir/sub/object.bin").await.expect("exists"));
}

#[tokio::test]
async fn local_multipart_upload_is_invisible_until_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions { multipart_threshold: 1 << 20, part_size: 5 << 20, ..StoreOptions::default() };
    let store = Store::open_with(&dir.path().display().to_string(), &options).expect("open");
    let data: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    let parts: Vec<_> = data.chunks(3 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let upload = {
        let store = store.clone();
        tokio::spawn(async move { store.put_stream("big.bin", rx).await })
    };
    let mut parts = parts.into_iter();
    tx.unbounded_send(parts.next().expect("part")).expect("send");
    tx.unbounded_send(parts.next().expect("part")).expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!store.exists("big.bin").await.expect("exists"), "partial object visible");
    assert!(store.list("").await.expect("list").is_empty(), "staging files listed");
    for p in parts {
        tx.unbounded_send(p).expect("send");
    }
    drop(tx);
    assert_eq!(upload.await.expect("join").expect("upload"), data.len() as u64);
    assert_eq!(store.get("big.bin").await.expect("get"), data);
}

#[tokio::test]
async fn failed_stream_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().display().to_string()).expect("open");
    let chunks = futures::stream::iter(vec![
        Ok(Bytes::from(vec![1u8; 6 << 20])),
        Err(eoforge_storage::Error::InvalidUrl { url: "source".into(), reason: "planted failure".into() }),
    ]);
    store.put_stream("broken.bin", chunks).await.expect_err("the source failed");
    assert!(!store.exists("broken.bin").await.expect("exists"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(leftovers.is_empty(), "staging files left: {leftovers:?}");

    // What a killed process leaves behind is cleaned up for the key it belonged to, and only for it.
    std::fs::write(dir.path().join("shard.tar#7"), b"half").expect("plant");
    std::fs::write(dir.path().join("other.tar#1"), b"someone else's").expect("plant");
    assert_eq!(store.remove_stale_staging("shard.tar").expect("clean"), 1);
    assert!(!dir.path().join("shard.tar#7").exists() && dir.path().join("other.tar#1").exists());
    assert_eq!(store.remove_stale_staging("nowhere/x.tar").expect("missing dir"), 0);
}

#[tokio::test]
async fn copies_between_stores_and_uploads_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = Store::open(&dir.path().display().to_string()).expect("open");
    let memory = Store::open("memory://copy-target").expect("open");
    let src = dir.path().join("input.bin");
    let payload: Vec<u8> = (0..(20u32 << 20)).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&src, &payload).expect("write input");
    assert_eq!(local.put_file("uploaded.bin", &src).await.expect("put_file"), payload.len() as u64);
    assert_eq!(local.copy_to("uploaded.bin", &memory, "x/y.bin").await.expect("copy"), payload.len() as u64);
    assert_eq!(memory.get("x/y.bin").await.expect("get"), payload);

    // Local copies are real copies: changing the copy never changes the original (no hard links).
    local.copy("uploaded.bin", "copied.bin").await.expect("local copy");
    let other = Store::open(&dir.path().join("elsewhere").display().to_string()).expect("open");
    local.copy_to("uploaded.bin", &other, "deep/copy.bin").await.expect("copy across folders");
    for copy in [dir.path().join("copied.bin"), dir.path().join("elsewhere/deep/copy.bin")] {
        std::fs::write(&copy, b"changed").expect("write the copy");
        assert_eq!(std::fs::read(dir.path().join("uploaded.bin")).expect("original"), payload, "{}", copy.display());
    }
    let err = local.copy_to("absent.bin", &other, "x.bin").await.expect_err("missing source");
    assert!(err.is_not_found() && err.to_string().contains("absent.bin"), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let mut options = StoreOptions::default();
    options.s3.secret_access_key = Some(eoforge_storage::Secret::new("planted-secret-value"));
    options.s3.session_token = Some(eoforge_storage::Secret::new("planted-session-token"));
    options.s3.access_key_id = Some("AKIDEXAMPLE".into());
    options.s3.endpoint = Some("http://127.0.0.1:1".into());
    let store = Store::open_with("s3://bucket/prefix", &options).expect("open");
    let text = format!("{options:?} {store:?} {store}");
    assert!(!text.contains("planted-secret-value") && !text.contains("planted-session-token"), "{text}");
}
