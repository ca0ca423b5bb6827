/*!
The quality gate for raster products: a failed check blocks publishing.

# Brief overview
- [`run_qc`] checks a product — band count and dtype, tiling, overview levels, compression, COG layout, the
  source's CRS and geotransform ([`SourceReference`]), and per band: not all zero, nodata share (against the
  source's, or an absolute limit), mean range, standard deviation, entropy; and stage timings against limits
  scaled by size — and returns a [`QcReport`] (written as JSON whether it passes or not).
- [`QcReport::gate`] turns a failed report into [`Error::Blocked`]: publishing (in `eoforge-products`) starts
  with it, so nothing that failed is ever published.
*/
#![deny(missing_docs)]

mod checks;
mod error;
mod stats;

pub use crate::checks::{Check, QcConfig, QcReport, SourceReference, Status, run_qc};
pub use crate::error::{Error, Result};
pub use crate::stats::{BandStats, band_stats};
