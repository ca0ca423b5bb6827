//! [`Store`]: one object store (local, S3, memory) rooted at a prefix, with keys relative to that root.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};
use crate::location::{Scheme, StoreUrl};
use crate::options::StoreOptions;

/// Size, time and tag of one stored object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObjectInfo {
    /// Key relative to the store root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, RFC 3339.
    pub last_modified: String,
    /// Entity tag, when the backend has one.
    pub e_tag: Option<String>,
}

/// An object store rooted at a URL; every key is relative to that root.
///
/// Puts are atomic: readers see the whole object or nothing (local files are staged and renamed, S3 uses a
/// single PUT or a multipart upload that is completed only at the end and aborted on failure).
#[derive(Clone)]
pub struct Store {
    url: StoreUrl,
    inner: Arc<dyn ObjectStore>,
    multipart_threshold: usize,
    part_size: usize,
}

impl fmt::Debug for Store {
    // Deliberately shows only the URL: backend builders carry credentials in their Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url.to_string()).finish_non_exhaustive()
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.url, f)
    }
}

impl Store {
    /// Opens the store at `url` (a path, `file://`, `s3://bucket/prefix`, `memory://name`) with options from the
    /// environment (see [`StoreOptions::from_env`]).
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &StoreOptions::from_env())
    }

    /// Opens the store at `url` with explicit options.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Self> {
        Self::from_url(StoreUrl::parse(url)?, options)
    }

    /// Opens the store that holds the single object at `url`, returning it and the object's key.
    pub fn open_object(url: &str, options: &StoreOptions) -> Result<(Self, String)> {
        let parsed = StoreUrl::parse(url)?;
        let (parent, name) = parsed.split_object().ok_or_else(|| Error::InvalidUrl {
            url: parsed.to_string(),
            reason: "names a bucket or root, not an object".into(),
        })?;
        Ok((Self::from_url(parent, options)?, name))
    }

    /// Opens a parsed store URL.
    pub fn from_url(url: StoreUrl, options: &StoreOptions) -> Result<Self> {
        let inner: Arc<dyn ObjectStore> = match url.scheme() {
            Scheme::Local => Arc::new(LocalFileSystem::new()),
            Scheme::Memory { name } => memory_store(name),
            Scheme::S3 { bucket } => Arc::new(
                s3_builder(bucket, options).build().map_err(|source| Error::Config { url: url.to_string(), source })?,
            ),
        };
        Ok(Self {
            url,
            inner,
            multipart_threshold: options.multipart_threshold,
            part_size: options.part_size.max(5 << 20),
        })
    }

    /// The store's root URL.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Full URL of `key`, for messages and reports.
    pub fn url_of(&self, key: &str) -> String {
        match Path::parse(key) {
            Ok(p) => self.url.join_url(&p),
            Err(_) => format!("{}/{key}", self.url),
        }
    }

    /// The backend-level path of `key` (root prefix + key), validated.
    fn path(&self, key: &str) -> Result<Path> {
        let rel = Path::parse(key.trim_start_matches('/'))
            .map_err(|_| Error::InvalidKey { store: self.url.to_string(), key: key.to_owned() })?;
        if rel.as_ref().is_empty() {
            return Err(Error::InvalidKey { store: self.url.to_string(), key: key.to_owned() });
        }
        Ok(self.url.prefix().parts().chain(rel.parts()).collect())
    }

    fn err(&self, operation: &'static str, key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        let url = self.url_of(key);
        move |source| Error::from_backend(operation, url, source)
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        let got = self.inner.get(&path).await.map_err(self.err("get", key))?;
        got.bytes().await.map_err(self.err("get", key))
    }

    /// Reads a whole object into `buf` (cleared first), reusing its allocation: a loop reading many objects of
    /// similar size from a local store touches no fresh memory after the first. Errors as [`Store::get`].
    pub async fn get_into(&self, key: &str, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        if matches!(self.url.scheme(), Scheme::Local) {
            let file = LocalFileSystem::new().path_to_filesystem(&self.path(key)?);
            if let Ok(file) = file {
                let mut owned = std::mem::take(buf);
                let read = tokio::task::spawn_blocking(move || {
                    let read =
                        std::fs::File::open(&file).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut owned));
                    (read.is_ok(), owned)
                })
                .await;
                if let Ok((ok, owned)) = read {
                    *buf = owned;
                    if ok {
                        return Ok(());
                    }
                    buf.clear();
                }
            }
            // Anything unusual (a missing file, a folder) takes the backend's path, which names the error.
        }
        buf.extend_from_slice(&self.get(key).await?);
        Ok(())
    }

    /// Streams an object in chunks, for objects too large to hold in memory.
    pub async fn get_stream(&self, key: &str) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static> {
        let path = self.path(key)?;
        let got = self.inner.get(&path).await.map_err(self.err("get", key))?;
        let url = self.url_of(key);
        Ok(got.into_stream().map_err(move |source| Error::from_backend("get", url.clone(), source)))
    }

    /// Reads bytes `range` (end exclusive) of an object; a range past the end is an [`Error::InvalidRange`].
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let path = self.path(key)?;
        let out_of_range =
            |size: u64| Error::InvalidRange { url: self.url_of(key), start: range.start, end: range.end, size };
        if range.start > range.end {
            return Err(out_of_range(0));
        }
        if range.is_empty() {
            let meta = self.head(key).await?;
            return if range.end <= meta.size { Ok(Bytes::new()) } else { Err(out_of_range(meta.size)) };
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), ..GetOptions::default() };
        match self.inner.get_opts(&path, options).await {
            Ok(got) => {
                let size = got.meta.size;
                let bytes = got.bytes().await.map_err(self.err("get_range", key))?;
                if bytes.len() as u64 == range.end - range.start { Ok(bytes) } else { Err(out_of_range(size)) }
            }
            Err(e) => {
                let mapped = Error::from_backend("get_range", self.url_of(key), e);
                if mapped.is_not_found() {
                    return Err(mapped);
                }
                // A failed ranged read is often a range past the end (HTTP 416 / local out-of-range): say so.
                match self.head(key).await {
                    Ok(meta) if range.end > meta.size => Err(out_of_range(meta.size)),
                    _ => Err(mapped),
                }
            }
        }
    }

    /// Writes an object atomically. Payloads above the multipart threshold are uploaded in parts.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        if data.len() <= self.multipart_threshold {
            let path = self.path(key)?;
            self.inner.put(&path, PutPayload::from_bytes(data)).await.map_err(self.err("put", key))?;
            return Ok(());
        }
        let chunks = self.part_size;
        let parts = (0..data.len()).step_by(chunks).map(move |at| Ok(data.slice(at..(at + chunks).min(data.len()))));
        self.put_stream(key, futures::stream::iter(parts.collect::<Vec<_>>())).await.map(|_| ())
    }

    /// Uploads a stream of chunks as one object, in parts of the configured part size; the object appears only
    /// when the whole stream has been stored, and a failed upload is aborted. Returns the bytes written.
    pub async fn put_stream<S>(&self, key: &str, chunks: S) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes>> + Send,
    {
        let path = self.path(key)?;
        let upload = self.inner.put_multipart(&path).await.map_err(self.err("put", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut written = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            };
            if let Err(e) = writer.wait_for_capacity(4).await {
                let _ = writer.abort().await;
                return Err(Error::from_backend("put", self.url_of(key), e));
            }
            written += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await.map_err(self.err("put", key))?;
        tracing::debug!(url = %self.url_of(key), bytes = written, "uploaded");
        Ok(written)
    }

    /// Uploads a local file (streamed; large files go up in parts). Returns the bytes written.
    pub async fn put_file(&self, key: &str, local: &FsPath) -> Result<u64> {
        let io_err = |source| Error::LocalIo { operation: "read", path: local.display().to_string(), source };
        let mut file = tokio::fs::File::open(local).await.map_err(io_err)?;
        let size = file.metadata().await.map_err(io_err)?.len();
        if size as usize <= self.multipart_threshold {
            let mut buf = Vec::with_capacity(size as usize);
            file.read_to_end(&mut buf).await.map_err(io_err)?;
            self.put(key, Bytes::from(buf)).await?;
            return Ok(size);
        }
        let part = self.part_size;
        let path_text = local.display().to_string();
        let chunks = futures::stream::try_unfold(file, move |mut file| {
            let path_text = path_text.clone();
            async move {
                let mut buf = vec![0u8; part];
                let mut filled = 0;
                while filled < part {
                    let n = file.read(&mut buf[filled..]).await.map_err(|source| Error::LocalIo {
                        operation: "read",
                        path: path_text.clone(),
                        source,
                    })?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                buf.truncate(filled);
                Ok((filled > 0).then(|| (Bytes::from(buf), file)))
            }
        });
        self.put_stream(key, chunks).await
    }

    /// Stores the local file `local` under `key` and removes it: a rename on a local store when both are on one
    /// filesystem (atomic and instant, however large the file), otherwise [`Store::put_file`] then removal.
    pub async fn put_file_moving(&self, key: &str, local: &FsPath) -> Result<u64> {
        if let Some(dst) = self.local_file(key)? {
            let size = std::fs::metadata(local)
                .map_err(|source| Error::LocalIo { operation: "read", path: local.display().to_string(), source })?
                .len();
            if let Some(dir) = dst.parent() {
                std::fs::create_dir_all(dir).map_err(|source| Error::LocalIo {
                    operation: "create",
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            if std::fs::rename(local, &dst).is_ok() {
                return Ok(size);
            }
        }
        let size = self.put_file(key, local).await?;
        std::fs::remove_file(local).map_err(|source| Error::LocalIo {
            operation: "remove",
            path: local.display().to_string(),
            source,
        })?;
        Ok(size)
    }

    /// Size and modification time of an object.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo> {
        let path = self.path(key)?;
        let meta = self.inner.head(&path).await.map_err(self.err("head", key))?;
        Ok(self.info(meta))
    }

    /// Whether an object exists (any error other than "not found" is returned as an error).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Lists every object under `prefix` (relative to the root; `""` lists the whole store), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let trimmed = prefix.trim_matches('/');
        let path: Path = if trimmed.is_empty() { self.url.prefix().clone() } else { self.path(trimmed)? };
        let listing = if path.as_ref().is_empty() { None } else { Some(&path) };
        let mut out: Vec<ObjectInfo> = self
            .inner
            .list(listing)
            .map_ok(|meta| self.info(meta))
            .try_collect()
            .await
            .map_err(self.err("list", trimmed))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Copies an object within this store (server-side on S3; a real byte copy on local disks, never a hard link).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        if matches!(self.url.scheme(), Scheme::Local) {
            return self.copy_to(from, self, to).await.map(|_| ());
        }
        let (src, dst) = (self.path(from)?, self.path(to)?);
        self.inner.copy(&src, &dst).await.map_err(self.err("copy", from))
    }

    /// Copies an object to another store (or another key of this one), streaming it; returns the bytes copied.
    pub async fn copy_to(&self, key: &str, dest: &Store, dest_key: &str) -> Result<u64> {
        if let (Some(src), Some(dst)) = (self.local_file(key)?, dest.local_file(dest_key)?) {
            return copy_local_file(src, dst).await.map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    Error::NotFound { url: self.url_of(key) }
                } else {
                    Error::LocalIo { operation: "copy", path: self.url_of(key), source }
                }
            });
        }
        if Arc::ptr_eq(&self.inner, &dest.inner) {
            // Same remote store: a server-side copy moves no bytes through us.
            let (src, dst) = (self.path(key)?, dest.path(dest_key)?);
            self.inner.copy(&src, &dst).await.map_err(self.err("copy", key))?;
            return Ok(dest.head(dest_key).await?.size);
        }
        let size = self.head(key).await?.size;
        if size as usize <= dest.multipart_threshold {
            let data = self.get(key).await?;
            dest.put(dest_key, data).await?;
            return Ok(size);
        }
        let stream = self.get_stream(key).await?;
        dest.put_stream(dest_key, rechunk(stream, dest.part_size)).await
    }

    /// Removes staging files that a killed writer left beside a local object (`<name>#<n>`); a no-op for
    /// remote stores, where an interrupted upload is never visible. Call it only for keys this process owns:
    /// another live writer's staging file would be removed too.
    pub fn remove_stale_staging(&self, key: &str) -> Result<usize> {
        let Some(file) = self.local_file(key)? else { return Ok(0) };
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else { return Ok(0) };
        let prefix = format!("{}#", name.to_string_lossy());
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(Error::LocalIo { operation: "list", path: dir.display().to_string(), source }),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::from_backend("delete", self.url_of(key), e)),
        }
    }

    /// The file behind `key` when this is a local store.
    fn local_file(&self, key: &str) -> Result<Option<std::path::PathBuf>> {
        let path = self.path(key)?;
        Ok(matches!(self.url.scheme(), Scheme::Local).then(|| std::path::PathBuf::from(format!("/{path}"))))
    }

    fn info(&self, meta: object_store::ObjectMeta) -> ObjectInfo {
        let root = self.url.prefix().as_ref();
        let full = meta.location.as_ref();
        let key = if root.is_empty() { full } else { full.strip_prefix(root).unwrap_or(full).trim_start_matches('/') };
        ObjectInfo {
            key: key.to_owned(),
            size: meta.size,
            last_modified: meta.last_modified.to_rfc3339(),
            e_tag: meta.e_tag,
        }
    }
}

/// Copies a local file through a staging file beside the destination, renamed into place when complete.
/// (object_store's local copy hard-links, which would let writes to the copy change the original.)
async fn copy_local_file(src: std::path::PathBuf, dst: std::path::PathBuf) -> std::io::Result<u64> {
    tokio::task::spawn_blocking(move || {
        if !src.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} is not a file", src.display())));
        }
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut name = dst.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
        name.push(format!("#copy-{}", std::process::id()));
        let staging = dst.with_file_name(name);
        let copied = std::fs::copy(&src, &staging).and_then(|n| {
            // The copy is the user's file: keep the source's mode but make it writable by its owner.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mut perms = std::fs::metadata(&staging)?.permissions();
                perms.set_mode(perms.mode() | 0o200);
                std::fs::set_permissions(&staging, perms)?;
            }
            std::fs::rename(&staging, &dst)?;
            Ok(n)
        });
        if copied.is_err() {
            let _ = std::fs::remove_file(&staging);
        }
        copied
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Regroups a byte stream into chunks of about `size` bytes so uploads use full parts.
fn rechunk<S>(stream: S, size: usize) -> impl Stream<Item = Result<Bytes>> + Send
where
    S: Stream<Item = Result<Bytes>> + Send + 'static,
{
    futures::stream::try_unfold(
        (Box::pin(stream), Vec::with_capacity(size), false),
        move |(mut s, mut buf, mut done)| async move {
            while !done && buf.len() < size {
                match s.next().await {
                    Some(chunk) => buf.extend_from_slice(&chunk?),
                    None => done = true,
                }
            }
            if buf.is_empty() {
                return Ok(None);
            }
            let out = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(size)));
            Ok(Some((out, (s, buf, done))))
        },
    )
}

fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Mutex::default);
    let mut stores = stores.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    stores.entry(name.to_owned()).or_insert_with(|| Arc::new(InMemory::new())).clone()
}

fn s3_builder(bucket: &str, options: &StoreOptions) -> AmazonS3Builder {
    let s3 = &options.s3;
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = s3.endpoint.as_deref();
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder = builder.with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()));
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    if let Some(token) = &s3.session_token {
        builder = builder.with_token(token.expose());
    }
    let virtual_hosted = s3.virtual_hosted_style.unwrap_or(endpoint.is_none());
    builder = builder.with_virtual_hosted_style_request(virtual_hosted);
    let allow_http = s3.allow_http.unwrap_or_else(|| endpoint.is_some_and(|e| e.starts_with("http://")));
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_timeout(options.request_timeout)
        .with_connect_timeout(options.connect_timeout);
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: options.retry.initial_backoff,
            max_backoff: options.retry.max_backoff,
            base: 2.0,
        },
        max_retries: options.retry.max_retries,
        retry_timeout: options.retry.retry_timeout,
    };
    builder.with_client_options(client).with_retry(retry)
}
