/*!
BigEarthNet-style patches to training shards.

# Brief overview
- [`plan`]: which patches go to which shard — by id hash and seed, never by input order, so every worker of a
  `--shard i/n` array agrees and the union of n runs equals one full run.
- [`read_patch`]: 12 Sentinel-2 bands at 10/20/60 m resampled (bilinear) onto the 10 m grid as `(12, 120, 120)`
  u16, optional Sentinel-1 VV/VH, 19-class multi-hot labels. Files are fetched whole ([`fetch_local`],
  [`fetch_remote`] with every file of a patch in flight) and decoded in memory ([`decode_patch`]), GDAL reading
  only the layouts the in-memory decoder declines, with the same result.
- [`convert`]: this worker's shards as WebDataset tar and/or Parquet, each published atomically and recorded in
  a manifest, so a killed run resumes where it stopped and produces byte-identical shards; channel statistics of
  the training split in `stats.json`; timings and throughput in `profile/`.
- [`convert_windows`]: windows of a scene plus an aligned label raster (e.g. Sentinel-2 bands with their SCL
  classes, or a crop-type map) as segmentation shards: `image` `(bands, size, size)` and `mask` `(size, size)`,
  splits drawn per block of windows, classes with names and colours in `index.json`.
*/
#![deny(missing_docs)]

mod error;
mod index_labels;
mod patch;
mod plan;
mod profile;
mod run;
mod tessera;
mod window_set;
mod windows;

pub use crate::error::{Error, Result};
pub use crate::index_labels::{INDEX_CLASSES, IndexLabelRule, IndexLabelsReport, NO_LABEL, derive_index_labels};
pub use crate::patch::{
    PATCH_SIZE, PatchData, PatchError, PatchFiles, decode_patch, fetch_local, fetch_remote, patch_urls, read_patch,
    to_sample,
};
pub use crate::plan::{PlannedShard, plan};
pub use crate::profile::{Profile, SkippedPatch, SplitProfile};
pub use crate::run::{ConvertOptions, Formats, OnError, ShardManifest, convert};
pub use crate::window_set::{SceneList, SetReport, cut_window_set, merge_window_set};
pub use crate::windows::{Date, Frame, SceneJob, StoreDtype, WindowOptions, WindowsReport, convert_windows};
pub use eoforge_shards::Dequantize;
