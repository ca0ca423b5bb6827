//! Publishing a product: only after QC passed, atomically, and idempotently.

use std::path::Path;

use eoforge_storage::{Store, StoreOptions};

use crate::checks::QcReport;
use crate::error::Result;

/// What [`publish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Published {
    /// The product was uploaded (with its QC report beside it as `<dest>.qc.json`).
    Uploaded,
    /// The destination already holds a product that passed QC with the same size; nothing was done.
    AlreadyThere,
}

/// Publishes the local `product` to `dest` (path or URL) if `report` passed; a failed report is an error and
/// nothing is written. The upload is atomic; the QC report goes to `<dest>.qc.json` after the product. An existing
/// destination whose report passed and whose size matches is left alone unless `force`.
pub async fn publish(
    product: &Path,
    dest: &str,
    report: &QcReport,
    force: bool,
    options: &StoreOptions,
) -> Result<Published> {
    publish_with(product, dest, report, force, options, false).await
}

/// [`publish`], moving the product instead of copying it: a rename when `dest` is on the product's local
/// filesystem (no bytes copied), an upload then removal otherwise. When the destination is already there the
/// product is left in place.
pub async fn publish_moving(
    product: &Path,
    dest: &str,
    report: &QcReport,
    force: bool,
    options: &StoreOptions,
) -> Result<Published> {
    publish_with(product, dest, report, force, options, true).await
}

async fn publish_with(
    product: &Path,
    dest: &str,
    report: &QcReport,
    force: bool,
    options: &StoreOptions,
    moving: bool,
) -> Result<Published> {
    report.gate()?;
    let (store, key) = Store::open_object(dest, options)?;
    let sidecar = format!("{key}.qc.json");
    let size = std::fs::metadata(product).map_or(0, |m| m.len());
    if !force && let (Ok(existing), Ok(previous)) = (store.head(&key).await, store.get(&sidecar).await) {
        let passed = serde_json::from_slice::<serde_json::Value>(&previous).ok().and_then(|v| v["passed"].as_bool())
            == Some(true);
        if passed && existing.size == size {
            tracing::info!(dest, "already published and passed QC; skipping");
            return Ok(Published::AlreadyThere);
        }
    }
    if moving {
        store.put_file_moving(&key, product).await?;
    } else {
        store.put_file(&key, product).await?;
    }
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    store.put(&sidecar, json.into()).await?;
    Ok(Published::Uploaded)
}
