//! Scene catalogs: the rasters a scene job reads (the image, its label raster, …) as Parquet rows, one per object,
//! with what a person checks first (size, bands, type, CRS); preflight checks every row's object exists.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::preflight::{MissingObject, PreflightOptions, PreflightReport, check_references};

/// Columns every scene catalog has; `scene_id`, `role` and `url` identify a row.
pub const SCENE_COLUMNS: [&str; 8] = ["scene_id", "role", "url", "width", "height", "bands", "dtype", "crs"];

/// One raster of a scene.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SceneEntry {
    /// The scene it belongs to.
    pub scene_id: String,
    /// What it is to the job (`image`, `labels`, …).
    pub role: String,
    /// Path or URL.
    pub url: String,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Band count.
    pub bands: u64,
    /// GDAL data type of band 1.
    pub dtype: String,
    /// CRS label (`EPSG:31985`, or the WKT name).
    pub crs: String,
}

/// True when the batches have the scene-catalog columns (so `check` knows which kind it reads).
pub fn is_scene_catalog(batches: &[RecordBatch]) -> bool {
    batches.first().is_some_and(|b| SCENE_COLUMNS.iter().all(|c| b.schema().column_with_name(c).is_some()))
}

/// The entries as one Arrow batch.
pub fn scene_batch(entries: &[SceneEntry]) -> Result<RecordBatch> {
    let text = |f: fn(&SceneEntry) -> &str| Arc::new(StringArray::from_iter_values(entries.iter().map(f)));
    let int = |f: fn(&SceneEntry) -> u64| Arc::new(UInt64Array::from_iter_values(entries.iter().map(f)));
    let schema = Schema::new(
        SCENE_COLUMNS
            .iter()
            .map(|&c| {
                let ty = if matches!(c, "width" | "height" | "bands") { DataType::UInt64 } else { DataType::Utf8 };
                Field::new(c, ty, false)
            })
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(|e| &e.scene_id),
            text(|e| &e.role),
            text(|e| &e.url),
            int(|e| e.width),
            int(|e| e.height),
            int(|e| e.bands),
            text(|e| &e.dtype),
            text(|e| &e.crs),
        ],
    )
    .map_err(Error::Arrow)
}

/// Reads scene entries from batches, naming the missing column or the null cell.
pub fn scene_entries(batches: &[RecordBatch], source: &str) -> Result<Vec<SceneEntry>> {
    let mut out = Vec::new();
    for batch in batches {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| Error::MissingColumn {
                source_name: source.to_owned(),
                column: name.to_owned(),
                present: batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
            })
        };
        let text = |name: &str| -> Result<Vec<String>> {
            let array = arrow::compute::cast(column(name)?, &DataType::Utf8).map_err(Error::Arrow)?;
            let array = array.as_string::<i32>();
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) || array.value(i).is_empty() {
                        Err(Error::Empty { source_name: source.to_owned(), row: i, column: name.to_owned() })
                    } else {
                        Ok(array.value(i).to_owned())
                    }
                })
                .collect()
        };
        let int = |name: &str| -> Result<Vec<u64>> {
            let array = arrow::compute::cast(column(name)?, &DataType::UInt64).map_err(Error::Arrow)?;
            let array = array.as_primitive::<arrow::datatypes::UInt64Type>();
            Ok((0..array.len()).map(|i| if array.is_null(i) { 0 } else { array.value(i) }).collect())
        };
        let (ids, roles, urls) = (text("scene_id")?, text("role")?, text("url")?);
        let (widths, heights, bands) = (int("width")?, int("height")?, int("bands")?);
        let (dtypes, crs) = (text("dtype")?, text("crs")?);
        for i in 0..batch.num_rows() {
            out.push(SceneEntry {
                scene_id: ids[i].clone(),
                role: roles[i].clone(),
                url: urls[i].clone(),
                width: widths[i],
                height: heights[i],
                bands: bands[i],
                dtype: dtypes[i].clone(),
                crs: crs[i].clone(),
            });
        }
    }
    Ok(out)
}

/// Checks that every entry's object exists (all of them: a scene catalog is small), reporting every missing one.
pub async fn preflight_scenes(
    entries: &[SceneEntry],
    source: &str,
    workers: usize,
    store_options: &eoforge_storage::StoreOptions,
) -> Result<PreflightReport> {
    let start = std::time::Instant::now();
    let refs: Vec<MissingObject> = entries
        .iter()
        .map(|e| MissingObject { patch_id: e.scene_id.clone(), column: e.role.clone(), url: e.url.clone() })
        .collect();
    let missing = check_references(&refs, workers, store_options).await?;
    let scenes = entries.iter().map(|e| e.scene_id.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let with_missing = missing.iter().map(|m| m.patch_id.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let elapsed = start.elapsed().as_secs_f64();
    Ok(PreflightReport {
        catalog: source.to_owned(),
        options: PreflightOptions { fraction: 1.0, seed: 0, workers },
        patches_total: scenes,
        patches_checked: scenes,
        objects_checked: refs.len(),
        objects_present: refs.len() - missing.len(),
        patches_with_missing: with_missing,
        missing,
        elapsed_s: elapsed,
        heads_per_s: refs.len() as f64 / elapsed.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: &str, url: &str) -> SceneEntry {
        SceneEntry {
            scene_id: "olinda".into(),
            role: role.into(),
            url: url.into(),
            width: 349,
            height: 352,
            bands: 6,
            dtype: "UInt8".into(),
            crs: "EPSG:31985".into(),
        }
    }

    #[tokio::test]
    async fn entries_round_trip_and_preflight_reports_every_missing_object() {
        let dir = tempfile::tempdir().expect("test setup");
        std::fs::write(dir.path().join("scene.tif"), b"x").expect("test setup");
        let root = dir.path().display();
        let entries = vec![
            entry("image", &format!("{root}/scene.tif")),
            entry("labels", &format!("{root}/labels.tif")),
            entry("dem", &format!("{root}/dem.tif")),
        ];
        let batch = scene_batch(&entries).expect("test setup");
        assert!(is_scene_catalog(std::slice::from_ref(&batch)));
        let bytes = crate::write_parquet(&[batch]).expect("test setup");
        let back = scene_entries(&crate::read_parquet(bytes, "c.parquet").expect("test setup"), "c.parquet")
            .expect("test setup");
        assert_eq!(back, entries);
        let report = preflight_scenes(&back, "c.parquet", 4, &eoforge_storage::StoreOptions::default())
            .await
            .expect("test setup");
        assert_eq!(report.objects_checked, 3);
        let missing: Vec<_> = report.missing.iter().map(|m| m.column.as_str()).collect();
        assert_eq!(missing, ["labels", "dem"]);
        assert!(!report.ok());
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = scene_batch(&[entry("image", "/x.tif")]).expect("test setup");
        let narrow = batch.project(&[0, 1]).expect("test setup");
        let err = scene_entries(&[narrow], "c.parquet").expect_err("must fail").to_string();
        assert!(err.contains("url") && err.contains("c.parquet"), "{err}");
    }
}
