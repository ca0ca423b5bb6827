//! Copying objects and whole prefixes between any two stores, as `eoforge-prep cp` does.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::error::{Error, Result};
use crate::location::StoreUrl;
use crate::options::StoreOptions;
use crate::store::Store;

/// What a copy moved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopySummary {
    /// Objects copied.
    pub objects: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// Wall time.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

impl CopySummary {
    /// Throughput in MB/s (10⁶ bytes per second).
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Copies `src` to `dst` (URLs or paths).
///
/// Without `recursive`, `src` is one object; `dst` is the target object, or a folder when it ends with `/` or is
/// an existing local directory (the object keeps its name). With `recursive`, every object under the `src` prefix
/// is copied below `dst`, keeping relative keys, `jobs` at a time. `on_bytes` is called as objects complete.
/// Each object is published atomically; a failure stops the copy and names the object.
pub async fn copy(
    src: &str,
    dst: &str,
    options: &StoreOptions,
    recursive: bool,
    jobs: usize,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<CopySummary> {
    let start = Instant::now();
    if recursive {
        let source = Store::open_with(src, options)?;
        let dest = Store::open_with(dst, options)?;
        let listing = source.list("").await?;
        if listing.is_empty() {
            return Err(Error::NotFound { url: format!("{}/ (no objects under this prefix)", source.url()) });
        }
        let mut copies = futures::stream::iter(listing.iter())
            .map(|object| {
                let (source, dest) = (&source, &dest);
                async move { source.copy_to(&object.key, dest, &object.key).await }
            })
            .buffer_unordered(jobs.max(1));
        let (mut objects, mut bytes) = (0, 0);
        while let Some(copied) = copies.next().await {
            let n = copied?;
            on_bytes(n);
            objects += 1;
            bytes += n;
        }
        return Ok(CopySummary { objects, bytes, elapsed: start.elapsed() });
    }
    let (source, key) = Store::open_object(src, options)?;
    if StoreUrl::parse(src)?.local_path().is_some_and(|p| p.is_dir()) {
        return Err(Error::IsFolder { url: src.to_owned() });
    }
    let (dest, dest_key) = destination(dst, &key, options)?;
    let bytes = match source.copy_to(&key, &dest, &dest_key).await {
        // A remote key that is missing but has objects below it is a prefix.
        Err(Error::NotFound { .. }) if !source.list(&key).await.unwrap_or_default().is_empty() => {
            return Err(Error::IsFolder { url: src.to_owned() });
        }
        other => other?,
    };
    on_bytes(bytes);
    Ok(CopySummary { objects: 1, bytes, elapsed: start.elapsed() })
}

/// Resolves the destination store and key of a single-object copy.
fn destination(dst: &str, name: &str, options: &StoreOptions) -> Result<(Store, String)> {
    let parsed = StoreUrl::parse(dst)?;
    let into_folder =
        dst.ends_with('/') || parsed.local_path().is_some_and(|p| p.is_dir()) || parsed.split_object().is_none();
    if into_folder {
        Ok((Store::from_url(parsed, options)?, name.to_owned()))
    } else {
        Store::open_object(dst, options)
    }
}
