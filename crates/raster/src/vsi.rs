//! Store URLs → GDAL virtual file paths.
//!
//! `s3://bucket/key` is opened through GDAL's `/vsis3/` driver rather than downloaded first: GDAL then fetches only
//! the byte ranges a read needs (the header and the tiles under a window), so a window of a multi-gigabyte COG
//! costs a few requests and no local disk. The store's endpoint, path style, region and credentials are handed to
//! GDAL as path-specific options for `/vsis3/<bucket>` (GDAL ≥ 3.6), so they never leak into other buckets or the
//! environment.

use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use eoforge_storage::{Scheme, StoreOptions, StoreUrl};

use crate::error::{Error, Result};

/// Where GDAL should open a location: a local path, or a `/vsis3/` path after configuring the bucket.
pub(crate) fn gdal_path(location: &str, options: &StoreOptions) -> Result<String> {
    if !location.contains("://") {
        // Plain paths (and GDAL's own /vsi… paths) go to GDAL unchanged.
        return Ok(location.to_owned());
    }
    let url = StoreUrl::parse(location)?;
    match url.scheme() {
        Scheme::S3 { bucket } => {
            configure_bucket(bucket, options)?;
            Ok(format!("/vsis3/{bucket}/{}", url.prefix()))
        }
        Scheme::Local => Ok(url.local_path().map_or_else(|| location.to_owned(), |p| p.display().to_string())),
        Scheme::Memory { .. } => Err(Error::Open {
            path: location.to_owned(),
            reason: "memory:// stores are process-local and cannot be opened by GDAL; copy the object to a file".into(),
        }),
    }
}

fn configure_bucket(bucket: &str, options: &StoreOptions) -> Result<()> {
    static CONFIGURED: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
    let prefix = format!("/vsis3/{bucket}");
    let settings = bucket_settings(options);
    // GDAL caches object headers and bytes per path; when a bucket's settings change (other credentials, other
    // endpoint), drop that cache so nothing read under the old settings is served under the new ones.
    let fingerprint = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        settings.hash(&mut h);
        h.finish()
    };
    let mut configured = CONFIGURED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let previous = configured.get_or_insert_with(HashMap::new).insert(prefix.clone(), fingerprint);
    if previous == Some(fingerprint) {
        return Ok(());
    }
    let c_prefix = CString::new(prefix.as_str())
        .map_err(|_| Error::Invalid { path: prefix.clone(), reason: "NUL byte in bucket name".into() })?;
    if previous.is_some() {
        clear_options_and_cache(&c_prefix);
    }
    for (key, value) in &settings {
        set_path_option(&prefix, key, value)?;
    }
    Ok(())
}

/// GDAL configuration options for one bucket, derived from the store options.
fn bucket_settings(options: &StoreOptions) -> Vec<(&'static str, String)> {
    let s3 = &options.s3;
    let mut out = Vec::new();
    let mut set = |key: &'static str, value: &str| out.push((key, value.to_owned()));
    if let Some(endpoint) = &s3.endpoint {
        let (https, host) = match endpoint.split_once("://") {
            Some((scheme, host)) => (scheme.eq_ignore_ascii_case("https"), host.trim_end_matches('/')),
            None => (true, endpoint.trim_end_matches('/')),
        };
        set("AWS_S3_ENDPOINT", host);
        set("AWS_HTTPS", if https && s3.allow_http != Some(true) { "YES" } else { "NO" });
        set("AWS_VIRTUAL_HOSTING", if s3.virtual_hosted_style == Some(true) { "TRUE" } else { "FALSE" });
    } else if let Some(virtual_hosted) = s3.virtual_hosted_style {
        set("AWS_VIRTUAL_HOSTING", if virtual_hosted { "TRUE" } else { "FALSE" });
    }
    set("AWS_REGION", s3.region.as_deref().unwrap_or("us-east-1"));
    if let Some(key) = &s3.access_key_id {
        set("AWS_ACCESS_KEY_ID", key);
    }
    if let Some(secret) = &s3.secret_access_key {
        set("AWS_SECRET_ACCESS_KEY", secret.expose());
    }
    if let Some(token) = &s3.session_token {
        set("AWS_SESSION_TOKEN", token.expose());
    }
    // Opening a single object must not list its folder first.
    set("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    set("GDAL_HTTP_MAX_RETRY", &options.retry.max_retries.to_string());
    set("GDAL_HTTP_RETRY_DELAY", &format!("{:.3}", options.retry.initial_backoff.as_secs_f64()));
    set("GDAL_HTTP_TIMEOUT", &options.request_timeout.as_secs().max(1).to_string());
    set("GDAL_HTTP_CONNECTTIMEOUT", &options.connect_timeout.as_secs().max(1).to_string());
    out
}

/// Forgets a bucket's previous options (so an option no longer given does not linger) and its cached data.
#[allow(unsafe_code)]
fn clear_options_and_cache(prefix: &CString) {
    // SAFETY: `prefix` is a valid NUL-terminated string for the duration of both calls.
    unsafe {
        gdal_sys::VSIClearPathSpecificOptions(prefix.as_ptr());
        gdal_sys::VSICurlPartialClearCache(prefix.as_ptr());
    }
}

#[allow(unsafe_code)]
fn set_path_option(prefix: &str, key: &str, value: &str) -> Result<()> {
    let invalid = || Error::Invalid { path: prefix.to_owned(), reason: format!("option {key} contains a NUL byte") };
    let (p, k, v) = (
        CString::new(prefix).map_err(|_| invalid())?,
        CString::new(key).map_err(|_| invalid())?,
        CString::new(value).map_err(|_| invalid())?,
    );
    // SAFETY: the three pointers are valid NUL-terminated strings for the duration of the call; GDAL copies them.
    unsafe { gdal_sys::VSISetPathSpecificOption(p.as_ptr(), k.as_ptr(), v.as_ptr()) };
    Ok(())
}
