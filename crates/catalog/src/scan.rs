//! Building a catalog by scanning a BigEarthNet v1 folder tree on any store:
//! `<root>/<patch>/<patch>_B01.tif … _B12.tif, _B8A.tif, <patch>_labels_metadata.json` (and the same for S1 with
//! `_VV.tif`, `_VH.tif` and a `corresponding_s2_patch` field in the JSON).

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};

use eoforge_storage::Store;

use crate::error::{Error, Result};
use crate::record::{PatchRecord, S1_BANDS, S2_BANDS, Sensor, path_column};
use crate::table::Catalog;

/// Objects of one patch folder, by file name.
struct PatchFolder {
    patch_id: String,
    folder: String,
    files: BTreeMap<String, String>,
}

/// Groups a store listing into patch folders (the parent folder name is the patch id).
async fn folders(store: &Store) -> Result<Vec<PatchFolder>> {
    let mut groups: BTreeMap<String, PatchFolder> = BTreeMap::new();
    for object in store.list("").await? {
        let Some((folder, file)) = object.key.rsplit_once('/') else { continue };
        let patch_id = folder.rsplit('/').next().unwrap_or(folder).to_owned();
        let entry = groups.entry(folder.to_owned()).or_insert_with(|| PatchFolder {
            patch_id,
            folder: folder.to_owned(),
            files: BTreeMap::new(),
        });
        entry.files.insert(file.to_owned(), object.key.clone());
    }
    Ok(groups.into_values().filter(|g| g.files.keys().any(|f| f.ends_with("_labels_metadata.json"))).collect())
}

/// The parsed `<patch>_labels_metadata.json` of a folder.
async fn metadata(store: &Store, folder: &PatchFolder) -> Result<serde_json::Value> {
    let name = format!("{}_labels_metadata.json", folder.patch_id);
    let key = folder.files.get(&name).ok_or_else(|| Error::BadPatch {
        patch_id: folder.patch_id.clone(),
        url: store.url_of(&folder.folder),
        reason: format!("no {name}"),
    })?;
    let bytes = store.get(key).await?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BadPatch {
        patch_id: folder.patch_id.clone(),
        url: store.url_of(key),
        reason: format!("invalid JSON: {e}"),
    })
}

/// Band URLs of a folder; every band must be present.
fn band_paths(store: &Store, folder: &PatchFolder, sensor: Sensor, bands: &[&str]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for band in bands {
        match folder.files.get(&format!("{}_{band}.tif", folder.patch_id)) {
            Some(key) => {
                out.insert(path_column(sensor, band), store.url_of(key));
            }
            None => missing.push(*band),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(Error::BadPatch {
            patch_id: folder.patch_id.clone(),
            url: store.url_of(&folder.folder),
            reason: format!("missing band file(s) {}", missing.join(", ")),
        })
    }
}

/// Scans BigEarthNet v1 Sentinel-2 patches under `s2` (and Sentinel-1 patches under `s1`, matched through
/// their `corresponding_s2_patch`), reading labels from each patch's JSON, `jobs` requests at a time.
/// Records are sorted by patch id; splits are left empty (v1 has none; assign by ratio).
pub async fn scan_bigearthnet_v1(s2: &Store, s1: Option<&Store>, jobs: usize) -> Result<Catalog> {
    let s2_folders = folders(s2).await?;
    if s2_folders.is_empty() {
        return Err(Error::NoPatches {
            source_name: format!("{} (no folder holds a *_labels_metadata.json)", s2.url_of("")),
        });
    }
    let mut records: Vec<PatchRecord> = futures::stream::iter(s2_folders.iter())
        .map(|folder| async move {
            let meta = metadata(s2, folder).await?;
            let labels = meta.get("labels").and_then(|l| l.as_array()).ok_or_else(|| Error::BadPatch {
                patch_id: folder.patch_id.clone(),
                url: s2.url_of(&folder.folder),
                reason: "labels JSON has no `labels` list".into(),
            })?;
            let labels = labels.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect();
            Ok::<_, Error>(PatchRecord {
                patch_id: folder.patch_id.clone(),
                labels,
                paths: band_paths(s2, folder, Sensor::S2, &S2_BANDS)?,
                ..PatchRecord::default()
            })
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await?;

    if let Some(s1) = s1 {
        let mut by_s2: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
        let s1_folders = folders(s1).await?;
        let matches: Vec<(String, String, BTreeMap<String, String>)> = futures::stream::iter(s1_folders.iter())
            .map(|folder| async move {
                let meta = metadata(s1, folder).await?;
                let s2_name =
                    meta.get("corresponding_s2_patch").and_then(|v| v.as_str()).ok_or_else(|| Error::BadPatch {
                        patch_id: folder.patch_id.clone(),
                        url: s1.url_of(&folder.folder),
                        reason: "Sentinel-1 JSON has no `corresponding_s2_patch`".into(),
                    })?;
                Ok::<_, Error>((
                    s2_name.to_owned(),
                    folder.patch_id.clone(),
                    band_paths(s1, folder, Sensor::S1, &S1_BANDS)?,
                ))
            })
            .buffered(jobs.max(1))
            .try_collect()
            .await?;
        for (s2_name, s1_name, paths) in matches {
            by_s2.insert(s2_name, (s1_name, paths));
        }
        for record in &mut records {
            if let Some((s1_name, paths)) = by_s2.remove(&record.patch_id) {
                record.s1_name = Some(s1_name);
                record.paths.extend(paths);
            }
        }
    }
    records.sort_by(|a, b| a.patch_id.cmp(&b.patch_id));
    let catalog = Catalog { source: s2.url().to_string(), records };
    catalog.validate()?;
    Ok(catalog)
}
