/*!
eoforge area pipelines, eo-grow style: an AOI is cut into a UTM tile grid, and the stages (inputs, features,
reference, sampling, model, export per UTM zone) run tile by tile.

- [`Aoi`] reads a GeoJSON AOI (RFC 7946 lon/lat, or a legacy `crs` member) as lon/lat polygons; anything but
  polygons is an error naming the geometry.
- [`UtmZone`] is a zone with its lon/lat region, the Norway and Svalbard exceptions included.
- [`build_grid`] cuts an AOI into [`Tile`]s of a [`GridSpec`] per zone, named `<zone>_<col>_<row>`;
  [`load_or_build_grid`] caches the grid as GeoJSON keyed by its parameters.
- [`TileStore`] holds a folder per tile with a GeoTIFF per feature and `meta.json`, locally or on `s3://`;
  [`read_input`] and [`read_reference`] warp rasters onto each tile's buffered grid, [`compute_index`] derives
  normalised differences and EVI from them. Each skips what the store already has.
- [`sample_tile`] draws blocks from a tile's core (seeded from the seed and the tile's name) with their feature
  values, label and split; [`write_table`] merges them into a Parquet training table.
- [`PixelModel`] trains and applies gradient-boosted trees on those samples (LightGBM's role);
  [`classification_report`] scores it; [`predict_tile`] writes its class map (or values) for every pixel of a tile.
- [`write_patch_set`] cuts sampled N×N blocks into a segmentation shard set for `eoforge-train`; [`PatchModel`]
  applies a trained segmentation run to every tile through the tiled engine.
- [`write_zone_mosaic`] merges tile cores into one COG per UTM zone; [`AreaConfig`] and [`run`] drive the stages
  from a config file, writing a report per run.
*/
#![deny(missing_docs)]

mod aoi;
mod config;
mod error;
mod export;
mod features;
mod grid;
mod inputs;
mod mirror;
mod network;
mod patch_model;
mod pipeline;
mod pixel_model;
mod predict;
mod samples;
mod store;
mod utm;

pub use crate::aoi::Aoi;
pub use crate::config::{AreaConfig, AreaSection, ExportSection, ModelSection, Network, SamplingSection};
pub use crate::error::{Error, Result};
pub use crate::export::{ZoneMosaic, write_zone_mosaic};
pub use crate::features::{BandRef, IndexSpec, compute_index};
pub use crate::grid::{GridSpec, Tile, TileGrid, build_grid, grid_cache_path, load_or_build_grid};
pub use crate::inputs::{
    InputSpec, ReferenceSpec, ResamplingName, TileOutcome, read_input, read_input_with, read_reference,
    read_reference_with, read_vector_reference,
};
pub use crate::network::{PatchSet, write_patch_set};
pub use crate::patch_model::{PATCH_NODATA, PatchModel};
pub use crate::pipeline::{
    AreaProfile, Failure, NoProgress, Progress, RunOptions, RunReport, Stage, StageReport, StageUnits, model_path, run,
    table_path,
};
pub use crate::pixel_model::{
    ClassificationReport, PixelModel, PixelModelConfig, PixelTask, RegressionReport, classification_report,
    regression_report,
};
pub use crate::predict::{PREDICTION, predict_tile};
pub use crate::samples::{Sample, SampleOptions, SplitBy, read_table, sample_tile, write_table};
pub use crate::store::{FeatureInfo, TileStore, tile_grid};
pub use crate::utm::UtmZone;
