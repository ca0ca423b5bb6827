/*!
eoforge area pipelines, eo-grow style: an AOI is cut into a UTM tile grid, and the stages (inputs, features,
reference, sampling, model, export per UTM zone) run tile by tile.

- [`Aoi`] reads a GeoJSON AOI (RFC 7946 lon/lat, or a legacy `crs` member) as lon/lat polygons; anything but
  polygons is an error naming the geometry.
- [`UtmZone`] is a zone with its lon/lat region, the Norway and Svalbard exceptions included.
- [`build_grid`] cuts an AOI into [`Tile`]s of a [`GridSpec`] per zone, named `<zone>_<col>_<row>`;
  [`load_or_build_grid`] caches the grid as GeoJSON keyed by its parameters.
- [`TileStore`] holds a folder per tile with a GeoTIFF per feature and `meta.json`; [`read_input`] and
  [`read_reference`] warp rasters onto each tile's buffered grid, [`compute_index`] derives normalised differences
  and EVI from them. Each skips what the store already has.
- [`sample_tile`] draws blocks from a tile's core (seeded from the seed and the tile's name) with their feature
  values, label and split; [`write_table`] merges them into a Parquet training table.
- [`PixelModel`] trains and applies gradient-boosted trees on those samples (LightGBM's role);
  [`classification_report`] scores it; [`predict_tile`] writes its class map (or values) for every pixel of a tile.
*/
#![deny(missing_docs)]

mod aoi;
mod error;
mod features;
mod grid;
mod inputs;
mod pixel_model;
mod predict;
mod samples;
mod store;
mod utm;

pub use crate::aoi::Aoi;
pub use crate::error::{Error, Result};
pub use crate::features::{BandRef, IndexSpec, compute_index};
pub use crate::grid::{GridSpec, Tile, TileGrid, build_grid, grid_cache_path, load_or_build_grid};
pub use crate::inputs::{InputSpec, ResamplingName, TileOutcome, read_input, read_reference};
pub use crate::pixel_model::{ClassificationReport, PixelModel, PixelModelConfig, PixelTask, classification_report};
pub use crate::predict::{PREDICTION, predict_tile};
pub use crate::samples::{Sample, SampleOptions, SplitBy, sample_tile, write_table};
pub use crate::store::{FeatureInfo, TileStore, tile_grid};
pub use crate::utm::UtmZone;
