//! Store URLs: `s3://bucket/prefix`, `file:///abs/path`, plain paths and `memory://name`.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use object_store::path::Path;

use crate::error::{Error, Result};

/// Which backend a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// The local filesystem (`file://` URLs and plain paths).
    Local,
    /// An S3 or S3-compatible bucket (`s3://bucket`).
    S3 {
        /// Bucket name.
        bucket: String,
    },
    /// A process-local in-memory store (`memory://name`), for tests.
    Memory {
        /// Name of the in-memory store; the same name in one process opens the same store.
        name: String,
    },
}

/// A parsed store location: a backend plus a root prefix inside it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    scheme: Scheme,
    /// Root prefix inside the backend (for local stores: the absolute path without its leading `/`).
    prefix: Path,
}

impl StoreUrl {
    /// Parses a URL or a plain local path (relative paths are made absolute against the current directory).
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl { url: redact(input), reason: reason.to_owned() };
        if input.is_empty() {
            return Err(invalid("empty location"));
        }
        if let Some((scheme, rest)) = input.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "s3" | "s3a" => {
                    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err(invalid("missing bucket name (expected s3://bucket/prefix)"));
                    }
                    if bucket.contains('@') {
                        return Err(invalid("credentials in URLs are not accepted; use the AWS environment"));
                    }
                    Ok(Self { scheme: Scheme::S3 { bucket: bucket.to_owned() }, prefix: parse_prefix(input, key)? })
                }
                "memory" => {
                    let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
                    Ok(Self { scheme: Scheme::Memory { name: name.to_owned() }, prefix: parse_prefix(input, key)? })
                }
                "file" => {
                    let url = url::Url::parse(input).map_err(|e| invalid(&e.to_string()))?;
                    let path = url.to_file_path().map_err(|()| invalid("not an absolute local path"))?;
                    Self::local(&path)
                }
                other => {
                    Err(invalid(&format!("unsupported scheme `{other}` (use a path, file://, s3:// or memory://)")))
                }
            };
        }
        Self::local(FsPath::new(input))
    }

    /// A local directory as a store URL.
    pub fn local(path: &FsPath) -> Result<Self> {
        let absolute = std::path::absolute(path).map_err(|source| Error::LocalIo {
            operation: "resolve",
            path: path.display().to_string(),
            source,
        })?;
        // Resolve `.` and `..` lexically (like a shell would for a path that may not exist yet).
        let mut normal = PathBuf::new();
        for part in absolute.components() {
            match part {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        let text = normal.to_string_lossy();
        let prefix = Path::parse(text.trim_start_matches('/'))
            .map_err(|e| Error::InvalidUrl { url: text.to_string(), reason: e.to_string() })?;
        Ok(Self { scheme: Scheme::Local, prefix })
    }

    /// The backend this URL names.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Root prefix inside the backend.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// For local stores, the root directory on disk.
    pub fn local_path(&self) -> Option<PathBuf> {
        matches!(self.scheme, Scheme::Local).then(|| PathBuf::from(format!("/{}", self.prefix)))
    }

    /// The URL of the parent prefix and the last segment: `s3://b/a/x.tif` → (`s3://b/a`, `x.tif`).
    /// Used to open the store that holds a single object.
    pub fn split_object(&self) -> Option<(StoreUrl, String)> {
        let mut parts: Vec<_> = self.prefix.parts().collect();
        let name = parts.pop()?.as_ref().to_owned();
        Some((StoreUrl { scheme: self.scheme.clone(), prefix: Path::from_iter(parts) }, name))
    }

    /// The backend root (bucket, filesystem root, memory store) and this URL's key inside it:
    /// `s3://b/a/x.tif` → (`s3://b`, `a/x.tif`). Used to check objects named by full URLs.
    pub fn split_root(&self) -> (StoreUrl, String) {
        (StoreUrl { scheme: self.scheme.clone(), prefix: Path::default() }, self.prefix.to_string())
    }

    /// Full URL of `key` below this root.
    pub fn join_url(&self, key: &Path) -> String {
        let joined: Path = self.prefix.parts().chain(key.parts()).collect();
        self.with_prefix(&joined)
    }

    fn with_prefix(&self, prefix: &Path) -> String {
        match &self.scheme {
            Scheme::Local => format!("file:///{prefix}"),
            Scheme::S3 { bucket } => join_non_empty(&format!("s3://{bucket}"), prefix),
            Scheme::Memory { name } => join_non_empty(&format!("memory://{name}"), prefix),
        }
    }
}

fn join_non_empty(base: &str, prefix: &Path) -> String {
    if prefix.as_ref().is_empty() { base.to_owned() } else { format!("{base}/{prefix}") }
}

fn parse_prefix(input: &str, key: &str) -> Result<Path> {
    Path::parse(key.trim_matches('/')).map_err(|e| Error::InvalidUrl { url: redact(input), reason: e.to_string() })
}

/// Drops any `user:password@` part so a URL can be shown.
pub(crate) fn redact(input: &str) -> String {
    match input.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}/{tail}"),
                None => input.to_owned(),
            }
        }
        None => input.to_owned(),
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_prefix(&self.prefix))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_with_prefix() {
        let u = StoreUrl::parse("s3://bucket/a/b/").expect("valid");
        assert_eq!(u.scheme(), &Scheme::S3 { bucket: "bucket".into() });
        assert_eq!(u.prefix().as_ref(), "a/b");
        assert_eq!(u.to_string(), "s3://bucket/a/b");
        assert_eq!(u.join_url(&Path::from("x.tif")), "s3://bucket/a/b/x.tif");
    }

    #[test]
    fn parses_plain_and_file_paths_the_same() {
        let a = StoreUrl::parse("/tmp/x").expect("valid");
        let b = StoreUrl::parse("file:///tmp/x").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.local_path(), Some(PathBuf::from("/tmp/x")));
        let dotted = StoreUrl::parse("/tmp/a/../x/./").expect("valid");
        assert_eq!(dotted, a);
        let rel = StoreUrl::parse("rel/dir").expect("valid");
        assert!(rel.local_path().expect("local").is_absolute());
    }

    #[test]
    fn splits_object_from_parent() {
        let (parent, name) = StoreUrl::parse("s3://b/dir/x.tif").expect("valid").split_object().expect("has name");
        assert_eq!(parent.to_string(), "s3://b/dir");
        assert_eq!(name, "x.tif");
    }

    #[test]
    fn splits_root_and_key() {
        let (root, key) = StoreUrl::parse("s3://b/dir/x.tif").expect("valid").split_root();
        assert_eq!((root.to_string().as_str(), key.as_str()), ("s3://b", "dir/x.tif"));
        let (root, key) = StoreUrl::parse("/tmp/a/b.tif").expect("valid").split_root();
        assert_eq!((root.local_path(), key.as_str()), (Some(PathBuf::from("/")), "tmp/a/b.tif"));
    }

    #[test]
    fn rejects_bad_urls_naming_them() {
        for bad in ["", "s3://", "s3:///key", "ftp://host/x", "s3://user:pw@bucket/x"] {
            let err = StoreUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid store URL"), "{err}");
            assert!(!err.contains("pw@"), "credentials leaked: {err}");
        }
    }
}
