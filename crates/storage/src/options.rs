//! How a store is opened: S3 endpoint settings, credentials, retries and timeouts.

use std::fmt;
use std::time::Duration;

/// A secret string (access key secret, session token) that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to a backend. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Settings for `s3://` stores. Anything left `None` comes from the standard AWS environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, profile
/// and instance credentials).
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Custom endpoint for S3-compatible servers, e.g. `http://127.0.0.1:8333`.
    pub endpoint: Option<String>,
    /// Region; defaults to `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    pub session_token: Option<Secret>,
    /// Use virtual-hosted-style URLs (`bucket.host`) instead of path style; S3-compatible servers usually
    /// want path style (the default when an endpoint is set).
    pub virtual_hosted_style: Option<bool>,
    /// Allow plain `http://` endpoints (implied by an `http://` endpoint).
    pub allow_http: Option<bool>,
}

/// Retry policy for transient failures (connection errors, timeouts, 5xx, throttling).
#[derive(Clone, Debug)]
pub struct RetryOptions {
    /// Maximum retries of one request; 0 disables retries.
    pub max_retries: usize,
    /// Give up retrying a request after this long.
    pub retry_timeout: Duration,
    /// First backoff delay; doubles on each retry up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
        }
    }
}

/// Everything needed to open a store besides its URL.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// S3 settings (ignored by other schemes).
    pub s3: S3Options,
    /// Retries for remote stores.
    pub retry: RetryOptions,
    /// Timeout of one whole request to a remote store.
    pub request_timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Objects larger than this are uploaded in parts (multipart upload on S3).
    pub multipart_threshold: usize,
    /// Size of each uploaded part (at least 5 MiB on S3).
    pub part_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            s3: S3Options::default(),
            retry: RetryOptions::default(),
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
        }
    }
}

impl StoreOptions {
    /// Options read from the environment: the standard `AWS_*` variables, plus `AWS_ENDPOINT_URL`
    /// (or `AWS_ENDPOINT`), `AWS_S3_FORCE_PATH_STYLE`/`AWS_VIRTUAL_HOSTING` and `AWS_ALLOW_HTTP`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let flag = |k: &str| var(k).map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        let virtual_hosted_style = flag("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")
            .or_else(|| flag("AWS_VIRTUAL_HOSTING"))
            .or_else(|| flag("AWS_S3_FORCE_PATH_STYLE").map(|path_style| !path_style));
        Self {
            s3: S3Options {
                endpoint: var("AWS_ENDPOINT_URL_S3")
                    .or_else(|| var("AWS_ENDPOINT_URL"))
                    .or_else(|| var("AWS_ENDPOINT")),
                region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
                access_key_id: var("AWS_ACCESS_KEY_ID"),
                secret_access_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
                session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
                virtual_hosted_style,
                allow_http: flag("AWS_ALLOW_HTTP"),
            },
            ..Self::default()
        }
    }
}
