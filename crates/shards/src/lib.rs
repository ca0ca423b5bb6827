/*!
Training shard formats for eoforge.

# Brief overview
- [`Sample`]: a key, named [`Tensor`]s and JSON metadata.
- [`webdataset_tar`]: a deterministic WebDataset tar (`<key>.<tensor>.npy`, `<key>.json`) that the Python
  `webdataset` library reads as-is.
- [`parquet_shard`]: a Parquet shard with one binary tensor column per tensor, shape and dtype in the schema
  metadata, readable by pyarrow.
- [`ChannelStats`] / [`StatsReport`]: per-channel count, mean, std, min and max, merged exactly across samples.
- [`read_webdataset_tar`], [`read_parquet_shard`]: a shard back into its samples (what the training loader
  streams).
- [`ClassInfo`], [`ClassTable`]: label classes (value, name, colour) of a segmentation shard set, in model order:
  label values map to contiguous network outputs and back.
- [`npy`]: `.npy` encoding and decoding.
*/
#![deny(missing_docs)]

pub mod npy;

mod classes;
mod dequantize;
mod read;
mod sample;
mod stats;
mod tar;

pub use crate::classes::{ClassInfo, ClassMapType, ClassTable};
pub use crate::dequantize::Dequantize;
pub use crate::read::{ReadError, read_parquet_shard, read_webdataset_tar};
pub use crate::sample::{Error, Sample, Tensor, parquet_shard, webdataset_tar};
pub use crate::stats::{ChannelStats, StatsReport, merge_all, sample_stats, sample_stats_u16};
pub use crate::tar::{NameTooLong, TarBuilder};
