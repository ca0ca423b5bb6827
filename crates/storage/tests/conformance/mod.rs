//! One behaviour suite, run against every backend: memory, local files and a real S3 server.

use bytes::Bytes;
use eoforge_storage::{Error, Store};

/// Exercises every operation of `store` (which must be empty).
pub(crate) async fn suite(store: &Store) {
    // Round trip, including nested keys.
    let data = Bytes::from((0..10_000u32).flat_map(u32::to_le_bytes).collect::<Vec<u8>>());
    store.put("dir/sub/object.bin", data.clone()).await.expect("put");
    assert_eq!(store.get("dir/sub/object.bin").await.expect("get"), data);
    assert_eq!(store.head("dir/sub/object.bin").await.expect("head").size, data.len() as u64);
    assert!(store.exists("dir/sub/object.bin").await.expect("exists"));

    // Ranged reads: start, middle, the last byte, and past the end.
    assert_eq!(store.get_range("dir/sub/object.bin", 0..16).await.expect("range"), data.slice(0..16));
    assert_eq!(store.get_range("dir/sub/object.bin", 1000..3000).await.expect("range"), data.slice(1000..3000));
    let n = data.len() as u64;
    assert_eq!(store.get_range("dir/sub/object.bin", n - 1..n).await.expect("range"), data.slice(data.len() - 1..));
    let err = store.get_range("dir/sub/object.bin", n - 10..n + 10).await.expect_err("past the end");
    assert!(matches!(err, Error::InvalidRange { size, .. } if size == n), "{err:?}");
    assert!(err.to_string().contains("dir/sub/object.bin"), "{err}");

    // Missing keys name their URL.
    let err = store.get("dir/none.bin").await.expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(&store.url_of("dir/none.bin")), "{err}");
    assert!(!store.exists("dir/none.bin").await.expect("exists"));

    // Whole reads into a reused buffer: the old contents go, a missing key is the same error as `get`'s.
    let mut buf = b"stale bytes that must not survive".to_vec();
    store.get_into("dir/sub/object.bin", &mut buf).await.expect("get_into");
    assert_eq!(buf, data);
    let err = store.get_into("dir/none.bin", &mut buf).await.expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(&store.url_of("dir/none.bin")), "{err}");
    assert!(store.get_into("dir", &mut buf).await.is_err(), "a folder is not an object");

    // Overwrite is atomic and complete.
    store.put("dir/sub/object.bin", Bytes::from_static(b"short")).await.expect("overwrite");
    assert_eq!(&store.get("dir/sub/object.bin").await.expect("get")[..], b"short");

    // Copy within the store, list by prefix, delete.
    store.copy("dir/sub/object.bin", "dir/copy.bin").await.expect("copy");
    let keys: Vec<String> = store.list("dir").await.expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["dir/copy.bin", "dir/sub/object.bin"]);
    let all = store.list("").await.expect("list all");
    assert_eq!(all.len(), 2);
    store.delete("dir/copy.bin").await.expect("delete");
    store.delete("dir/copy.bin").await.expect("deleting a missing key is fine");
    assert!(!store.exists("dir/copy.bin").await.expect("exists"));

    // Batch existence: every missing key is reported, in order.
    let keys = ["dir/sub/object.bin", "gone/1", "dir/sub/object.bin", "gone/2", "gone/3"];
    let report = store.check_exist(keys, 3).await.expect("check");
    assert_eq!(report.checked, 5);
    assert_eq!(report.present, 2);
    assert_eq!(report.missing, ["gone/1", "gone/2", "gone/3"]);

    // Invalid keys are rejected with the key named.
    let err = store.put("a/../b", Bytes::new()).await.expect_err("invalid key");
    assert!(err.to_string().contains("a/../b"), "{err}");
}
