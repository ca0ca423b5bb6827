//! Preflight: does every object a catalog references exist? HEADs with bounded concurrency over an
//! id-deterministic fraction of the patches, reporting every missing object.

use std::collections::BTreeMap;
use std::time::Instant;

use eoforge_sampling::keep_fraction;
use eoforge_storage::{Store, StoreOptions, StoreUrl};

use crate::error::Result;
use crate::table::Catalog;

/// What to check.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PreflightOptions {
    /// Fraction of patches to check (chosen by a hash of the patch id and `seed`).
    pub fraction: f64,
    /// Seed of the fraction sample.
    pub seed: u64,
    /// Concurrent HEAD requests.
    pub workers: usize,
}

/// One missing object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MissingObject {
    /// The patch that references it.
    pub patch_id: String,
    /// The path column (`s2_B04`).
    pub column: String,
    /// Its URL.
    pub url: String,
}

/// The preflight report, written as JSON.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PreflightReport {
    /// The catalog checked.
    pub catalog: String,
    /// Options used.
    pub options: PreflightOptions,
    /// Patches in the catalog.
    pub patches_total: usize,
    /// Patches in the checked fraction.
    pub patches_checked: usize,
    /// Objects checked.
    pub objects_checked: usize,
    /// Objects found.
    pub objects_present: usize,
    /// Patches in the fraction with at least one missing object.
    pub patches_with_missing: usize,
    /// Every missing object.
    pub missing: Vec<MissingObject>,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// HEAD requests per second.
    pub heads_per_s: f64,
}

impl PreflightReport {
    /// True when nothing is missing.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Checks the referenced objects of the catalog's sampled fraction. A catalog without path columns is an error
/// (there is nothing to check: add paths with `gen-metadata` first).
pub async fn preflight(
    catalog: &Catalog,
    options: PreflightOptions,
    store_options: &StoreOptions,
) -> Result<PreflightReport> {
    let start = Instant::now();
    let selected: Vec<_> =
        catalog.records.iter().filter(|r| keep_fraction(&r.patch_id, options.fraction, options.seed)).collect();
    if catalog.records.iter().all(|r| r.paths.is_empty()) {
        return Err(crate::Error::MissingColumn {
            source_name: catalog.source.clone(),
            column: "s2_B01 … s2_B12 (storage paths)".into(),
            present: "none; add them with `eoforge-prep gen-metadata`".into(),
        });
    }
    let mut refs: Vec<MissingObject> = Vec::new();
    for record in &selected {
        for (column, url) in &record.paths {
            refs.push(MissingObject { patch_id: record.patch_id.clone(), column: column.clone(), url: url.clone() });
        }
    }
    let missing = check_references(&refs, options.workers, store_options).await?;
    let patches_with_missing =
        missing.iter().map(|m| m.patch_id.as_str()).collect::<std::collections::HashSet<_>>().len();
    let elapsed = start.elapsed().as_secs_f64();
    Ok(PreflightReport {
        catalog: catalog.source.clone(),
        options,
        patches_total: catalog.records.len(),
        patches_checked: selected.len(),
        objects_checked: refs.len(),
        objects_present: refs.len() - missing.len(),
        patches_with_missing,
        missing,
        elapsed_s: elapsed,
        heads_per_s: refs.len() as f64 / elapsed.max(1e-9),
    })
}

/// The references whose object does not exist, in their order: HEADs with `workers` in flight, each store
/// opened once.
pub(crate) async fn check_references(
    refs: &[MissingObject],
    workers: usize,
    store_options: &StoreOptions,
) -> Result<Vec<MissingObject>> {
    // Group object URLs by backend root: root → (store URL, [(ref index, key)]).
    let mut by_root: BTreeMap<String, (StoreUrl, Vec<(usize, String)>)> = BTreeMap::new();
    for (i, r) in refs.iter().enumerate() {
        let (root, key) = StoreUrl::parse(&r.url)?.split_root();
        by_root.entry(root.to_string()).or_insert_with(|| (root, Vec::new())).1.push((i, key));
    }
    let mut missing_idx = Vec::new();
    for (root, objects) in by_root.into_values() {
        let store = Store::from_url(root, store_options)?;
        let report = store.check_exist(objects.iter().map(|(_, key)| key.as_str()), workers).await?;
        let missing: std::collections::HashSet<&str> = report.missing.iter().map(String::as_str).collect();
        missing_idx.extend(objects.iter().filter(|(_, key)| missing.contains(key.as_str())).map(|(i, _)| *i));
    }
    missing_idx.sort_unstable();
    Ok(missing_idx.into_iter().map(|i| refs[i].clone()).collect())
}
