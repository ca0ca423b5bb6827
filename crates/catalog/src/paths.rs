//! Storage paths of each band, derived from patch ids under a root (what `gen-metadata` adds).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;
use crate::record::{S1_BANDS, S2_BANDS, Sensor, path_column};
use crate::table::Catalog;

/// How patch folders are arranged under a root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// BigEarthNet v1: `<root>/<patch>/<patch>_B04.tif`.
    V1,
    /// BigEarthNet v2 (reBEN): `<root>/<tile>/<patch>/<patch>_B04.tif`, where the tile folder is the patch id
    /// without its last two `_row_col` parts.
    #[default]
    V2,
}

/// The folder of a patch relative to the root.
fn folder(layout: Layout, name: &str) -> String {
    match layout {
        Layout::V1 => name.to_owned(),
        Layout::V2 => {
            let tile = name.rsplitn(3, '_').nth(2).unwrap_or(name);
            format!("{tile}/{name}")
        }
    }
}

fn band_url(root: &str, layout: Layout, name: &str, band: &str) -> String {
    format!("{}/{}/{name}_{band}.tif", root.trim_end_matches('/'), folder(layout, name))
}

impl Catalog {
    /// Sets every patch's band URLs: Sentinel-2 under `s2_root`, and Sentinel-1 under `s1_root` for patches with
    /// an `s1_name`. Existing band paths are replaced; a `label_raster` path is kept.
    pub fn set_paths(&mut self, s2_root: &str, s1_root: Option<&str>, layout: Layout) {
        for record in &mut self.records {
            record.paths.retain(|k, _| !k.starts_with("s2_") && !k.starts_with("s1_"));
            for band in S2_BANDS {
                record.paths.insert(path_column(Sensor::S2, band), band_url(s2_root, layout, &record.patch_id, band));
            }
            if let (Some(root), Some(s1)) = (s1_root, record.s1_name.as_deref()) {
                for band in S1_BANDS {
                    record.paths.insert(path_column(Sensor::S1, band), band_url(root, layout, s1, band));
                }
            }
        }
    }

    /// `batches` (the rows this catalog was read from, in order) with this catalog's path columns appended or
    /// replaced, keeping every other input column as it was.
    pub fn with_path_columns(&self, batches: &[arrow::array::RecordBatch]) -> Result<Vec<RecordBatch>> {
        let names: Vec<String> = crate::table::all_path_columns()
            .into_iter()
            .filter(|n| self.records.iter().any(|r| r.paths.contains_key(n)))
            .collect();
        let mut out = Vec::with_capacity(batches.len());
        let mut offset = 0;
        for batch in batches {
            let rows = &self.records[offset..offset + batch.num_rows()];
            offset += batch.num_rows();
            let schema = batch.schema();
            let mut fields: Vec<Field> = Vec::new();
            let mut columns: Vec<ArrayRef> = Vec::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                if !names.contains(field.name()) {
                    fields.push(field.as_ref().clone());
                    columns.push(column.clone());
                }
            }
            for name in &names {
                columns.push(Arc::new(
                    rows.iter().map(|r| r.paths.get(name).map(String::as_str)).collect::<StringArray>(),
                ));
                fields.push(Field::new(name, DataType::Utf8, true));
            }
            out.push(RecordBatch::try_new(
                Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
                columns,
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let id = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57";
        assert_eq!(
            band_url("s3://b/BigEarthNet-S2/", Layout::V2, id, "B04"),
            format!("s3://b/BigEarthNet-S2/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/{id}/{id}_B04.tif")
        );
        assert_eq!(band_url("/data", Layout::V1, "S2A_X_4_55", "B8A"), "/data/S2A_X_4_55/S2A_X_4_55_B8A.tif");
    }
}
