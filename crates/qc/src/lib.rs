/*!
The quality gate for raster products: a failed check blocks publishing.

# Brief overview
- [`run_qc`] checks a product — band count and dtype, tiling, overview levels, compression, COG layout, the
  source's CRS and geotransform ([`SourceReference`]), and per band: nodata share against the source's, not all zero, nodata fraction, mean range, standard deviation, entropy; and stage timings against limits
  scaled by size — and returns a [`QcReport`] (written as JSON whether it passes or not).
- [`publish`] uploads a product only if its report passed, atomically, with the report beside it; a product
  already published with a passing report is skipped unless forced; [`publish_moving`] renames instead of
  copying when the destination is on the same filesystem.
*/
#![deny(missing_docs)]

mod checks;
mod error;
mod publish;
mod stats;

pub use crate::checks::{Check, QcConfig, QcReport, SourceReference, Status, run_qc};
pub use crate::error::{Error, Result};
pub use crate::publish::{Published, publish, publish_moving};
pub use crate::stats::{BandStats, band_stats};
