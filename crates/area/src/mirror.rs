//! [`Mirror`]: a store root on object storage (`s3://bucket/prefix`) worked on through a local folder. The object
//! store is the truth: what exists is what it listed when the run began, plus what this run uploaded since. A
//! file is downloaded when a stage first reads it and uploaded as soon as a stage has written it whole, so another
//! node, a later SLURM job or a rerun on a fresh machine sees exactly what finished. The local folder is a
//! temporary one, removed at the end of the run; a local file is trusted only once this run has fetched or
//! written it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use eoforge_storage::{Store, StoreOptions};

use crate::error::{Error, Result};

/// A store on object storage and the local folder it is worked on through.
#[derive(Debug)]
pub(crate) struct Mirror {
    store: Store,
    runtime: tokio::runtime::Runtime,
    local: tempfile::TempDir,
    /// Key → size of every object under the root: listed once, then kept up to date by uploads.
    listed: Mutex<HashMap<String, u64>>,
    /// Keys whose local copy this run fetched or wrote.
    current: Mutex<HashSet<String>>,
}

impl Mirror {
    /// Opens `url` and lists what it holds.
    pub(crate) fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        let store = Store::open_with(url, options)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io { operation: "start an I/O runtime for", path: url.to_owned(), source })?;
        let local = tempfile::Builder::new().prefix("eoforge-area-").tempdir().map_err(|source| Error::Io {
            operation: "create a working folder for",
            path: url.to_owned(),
            source,
        })?;
        let listed = runtime.block_on(store.list(""))?.into_iter().map(|o| (o.key, o.size)).collect();
        tracing::debug!(url, local = %local.path().display(), "store on object storage");
        Ok(Self { store, runtime, local, listed: Mutex::new(listed), current: Mutex::new(HashSet::new()) })
    }

    /// The local folder files are worked on in.
    pub(crate) fn local(&self) -> &Path {
        self.local.path()
    }

    /// The URL of the store's root.
    pub(crate) fn url(&self) -> String {
        self.store.url().to_string().trim_end_matches('/').to_owned()
    }

    /// The URL of a local file's object.
    pub(crate) fn url_of(&self, path: &Path) -> String {
        match self.key(path) {
            Ok(key) => self.store.url_of(&key),
            Err(_) => path.display().to_string(),
        }
    }

    /// Whether the store holds the object of `path` (a path under [`Mirror::local`]).
    pub(crate) fn has(&self, path: &Path) -> bool {
        self.key(path).is_ok_and(|key| lock(&self.listed).contains_key(&key))
    }

    /// Downloads the object of `path` unless this run has it already; returns whether the store holds it.
    pub(crate) fn fetch(&self, path: &Path) -> Result<bool> {
        let key = self.key(path)?;
        if !lock(&self.listed).contains_key(&key) {
            return Ok(false);
        }
        if lock(&self.current).contains(&key) && path.is_file() {
            return Ok(true);
        }
        let bytes = self.runtime.block_on(self.store.get(&key))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(crate::store::io("create", dir))?;
        }
        crate::store::write_file(path, &bytes)?;
        lock(&self.current).insert(key);
        Ok(true)
    }

    /// Uploads the local file `path` (written whole) to its object.
    pub(crate) fn upload(&self, path: &Path) -> Result<()> {
        let key = self.key(path)?;
        let size = self.runtime.block_on(self.store.put_file(&key, path))?;
        lock(&self.listed).insert(key.clone(), size);
        lock(&self.current).insert(key);
        Ok(())
    }

    /// Downloads every object under the folder `dir` (a path under [`Mirror::local`]) this run does not have yet.
    pub(crate) fn fetch_dir(&self, dir: &Path) -> Result<()> {
        let prefix = format!("{}/", self.key(dir)?);
        let mut keys: Vec<String> = lock(&self.listed).keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        keys.sort();
        for key in keys {
            self.fetch(&self.local.path().join(&key))?;
        }
        Ok(())
    }

    /// Deletes every object under the folder `dir` (a path under [`Mirror::local`]).
    pub(crate) fn delete_dir(&self, dir: &Path) -> Result<()> {
        let prefix = format!("{}/", self.key(dir)?);
        let mut keys: Vec<String> = lock(&self.listed).keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        keys.sort();
        for key in keys {
            self.runtime.block_on(self.store.delete(&key))?;
            lock(&self.listed).remove(&key);
            lock(&self.current).remove(&key);
        }
        Ok(())
    }

    /// Uploads every file under the local folder `dir`.
    pub(crate) fn upload_dir(&self, dir: &Path) -> Result<()> {
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(crate::store::io("list", &d))? {
                let path = entry.map_err(crate::store::io("list", &d))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    self.upload(&path)?;
                }
            }
        }
        Ok(())
    }

    /// The object key of a path under the local folder (`/`-separated).
    fn key(&self, path: &Path) -> Result<String> {
        let relative = path.strip_prefix(self.local.path()).map_err(|_| Error::Input {
            path: path.display().to_string(),
            reason: format!("not under the working folder of `{}`", self.url()),
        })?;
        let parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        Ok(parts.join("/"))
    }
}

/// A lock that a panicking holder did not spoil (the sets stay valid whatever a holder did).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a store location is on object storage (worked on through a [`Mirror`]) rather than a local folder.
pub(crate) fn is_remote(location: &str) -> bool {
    location.starts_with("s3://") || location.starts_with("memory://")
}
