//! [`UrlReader`]: reading objects named by full URLs (`s3://bucket/a/b.tif`, `file:///data/b.tif`), each backend
//! root opened once and shared, so many small reads reuse one client and its connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::error::Result;
use crate::location::StoreUrl;
use crate::options::StoreOptions;
use crate::store::Store;

/// Reads whole objects by URL through one shared [`Store`] per bucket or filesystem root. Cheap to clone.
#[derive(Clone, Debug)]
pub struct UrlReader {
    options: StoreOptions,
    stores: Arc<Mutex<HashMap<String, Store>>>,
}

impl UrlReader {
    /// A reader opening stores with `options`.
    pub fn new(options: &StoreOptions) -> Self {
        Self { options: options.clone(), stores: Arc::default() }
    }

    /// The store holding `url` (opened on first use) and the object's key in it.
    fn store_of(&self, url: &str) -> Result<(Store, String)> {
        let (root, key) = StoreUrl::parse(url)?.split_root();
        let name = root.to_string();
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = stores.get(&name) {
            return Ok((store.clone(), key));
        }
        let store = Store::from_url(root, &self.options)?;
        stores.insert(name, store.clone());
        Ok((store, key))
    }

    /// Reads the whole object at `url`; errors name the URL.
    pub async fn get(&self, url: &str) -> Result<Bytes> {
        let (store, key) = self.store_of(url)?;
        store.get(&key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_by_url_and_opens_each_root_once() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let store = Store::open("memory://url-reader").expect("memory store");
            store.put("a/one.bin", Bytes::from_static(b"one")).await.expect("put");
            store.put("b/two.bin", Bytes::from_static(b"two")).await.expect("put");
            let reader = UrlReader::new(&StoreOptions::default());
            assert_eq!(&reader.get("memory://url-reader/a/one.bin").await.expect("get")[..], b"one");
            assert_eq!(&reader.get("memory://url-reader/b/two.bin").await.expect("get")[..], b"two");
            assert_eq!(reader.stores.lock().expect("lock").len(), 1);
            let missing = reader.get("memory://url-reader/a/none.bin").await.expect_err("missing");
            assert!(
                missing.is_not_found() && missing.to_string().contains("memory://url-reader/a/none.bin"),
                "{missing}"
            );
        });
    }
}
