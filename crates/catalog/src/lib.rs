/*!
Dataset catalogs for eoforge: BigEarthNet-style Parquet metadata, folder scans, storage paths and preflight.

# Brief overview
- [`Catalog`]: validated [`PatchRecord`]s (unique `patch_id`, `labels`, `split`, `country`, `s1_name`, band URLs)
  from Parquet ([`Catalog::from_parquet`]) or from a BigEarthNet v1 folder tree on any store
  ([`scan_bigearthnet_v1`]); errors name the catalog, column and row.
- [`Catalog::set_paths`] and [`Catalog::with_path_columns`] add per-band storage URLs (`s2_B01` … `s2_B12`,
  `s1_VV`, `s1_VH`) under a root, keeping every input column; [`write_parquet`] writes Parquet that pyarrow,
  DuckDB and Spark read unchanged.
- [`preflight`] HEADs every referenced object of an id-deterministic fraction with bounded concurrency and
  reports every missing one ([`PreflightReport`]).
- [`labels`]: the BigEarthNet 43- and 19-class nomenclatures and the official mapping between them.
*/
#![deny(missing_docs)]

pub mod labels;

mod error;
mod paths;
mod preflight;
mod record;
mod scan;
mod scenes;
mod table;

pub use crate::error::{Error, Result};
pub use crate::paths::Layout;
pub use crate::preflight::{MissingObject, PreflightOptions, PreflightReport, preflight};
pub use crate::record::{LABEL_RASTER, PatchRecord, S1_BANDS, S2_BANDS, Sensor, path_column};
pub use crate::scan::scan_bigearthnet_v1;
pub use crate::scenes::{SCENE_COLUMNS, SceneEntry, is_scene_catalog, preflight_scenes, scene_batch, scene_entries};
pub use crate::table::{Catalog, read_catalog, read_parquet, write_catalog, write_parquet};
