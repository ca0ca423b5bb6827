//! The storage error type: every variant names the URL it concerns.

/// Result alias for storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A storage failure, carrying the full URL (`s3://bucket/key`, `file:///path`) of the object or store involved.
///
/// Credentials never appear in these messages: URLs are printed without user info and options are never
/// formatted into errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store URL or path could not be understood.
    #[error("invalid store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given (without credentials).
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A key is not a valid object path (empty segment, `..`, control characters).
    #[error("invalid key `{key}` in store `{store}`")]
    InvalidKey {
        /// The store root.
        store: String,
        /// The key as given.
        key: String,
    },

    /// No object exists at this URL.
    #[error("object not found: `{url}`")]
    NotFound {
        /// Full URL of the missing object.
        url: String,
    },

    /// The server refused the credentials or the operation.
    #[error("access denied to `{url}` (check the credentials and permissions for this store)")]
    AccessDenied {
        /// Full URL of the object or store.
        url: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },

    /// No credentials were found for an S3 store (none in the environment, no instance role reachable).
    #[error(
        "no S3 credentials for `{url}`: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)"
    )]
    NoCredentials {
        /// Full URL of the object or store.
        url: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },

    /// A byte range outside the object was requested.
    #[error("range {start}..{end} is outside `{url}` ({size} bytes)")]
    InvalidRange {
        /// Full URL of the object.
        url: String,
        /// Requested start (inclusive).
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Object size in bytes.
        size: u64,
    },

    /// A single-object operation was given a folder or prefix (`cp` without `-r`).
    #[error("`{url}` is a folder, not an object; copy it with --recursive (-r)")]
    IsFolder {
        /// The folder.
        url: String,
    },

    /// The store could not be configured (bad endpoint, missing region, …).
    #[error("cannot open store `{url}`")]
    Config {
        /// The store URL.
        url: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },

    /// Any other backend failure (network, timeout after retries, server error) on `url`.
    #[error("{operation} failed on `{url}`")]
    Backend {
        /// What was being done (`get`, `put`, `list`, …).
        operation: &'static str,
        /// Full URL of the object or prefix.
        url: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },

    /// A local file could not be read or written.
    #[error("cannot {operation} local file `{path}`")]
    LocalIo {
        /// What was being done.
        operation: &'static str,
        /// The local path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Maps an object_store error onto our variants, attaching the full URL.
    pub(crate) fn from_backend(operation: &'static str, url: String, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound { url },
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                Self::AccessDenied { url, source }
            }
            other if no_credentials(&other) => Self::NoCredentials { url, source: other },
            other => {
                if is_denied(&other) {
                    Self::AccessDenied { url, source: other }
                } else {
                    Self::Backend { operation, url, source: other }
                }
            }
        }
    }

    /// True when the error says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// Without keys in the environment, the AWS credential chain falls back to the instance metadata service; when
/// that is unreachable or refuses, the real problem is missing credentials.
fn no_credentials(e: &object_store::Error) -> bool {
    let text = e.to_string();
    text.contains("169.254.169.254") || text.contains("MissingAccessKeyId") || text.contains("MissingSecretAccessKey")
}

/// S3 servers answer bad signatures and unknown keys with 403 bodies that object_store may report as generic
/// errors; recognise them so users get "access denied" rather than a raw HTTP dump.
fn is_denied(e: &object_store::Error) -> bool {
    let text = e.to_string();
    ["403 Forbidden", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"]
        .iter()
        .any(|needle| text.contains(needle))
}
