/*!
Tiled inference: stream a scene through a model in overlapping windows and stitch the outputs into a COG.

# Brief overview
- [`Model`]: anything that maps a batch `(n, bands, h, w)` of f32 to `(n, out_bands, h·s, w·s)` — a burn network
  on any backend and device ([`BurnModel`] over an [`ImageNetwork`]), or a plain closure ([`FnModel`]).
- [`run`] reads windows with a halo (band subset, per-band normalisation), batches them, runs the model on its own
  thread, blends overlaps with a Hann window (or keeps window centres), and hands every finished output tile to
  the streaming [`eoforge_raster::CogWriter`] as soon as no later window can touch it: memory holds a band of
  output rows a window tall, whatever the scene size. Stages overlap through bounded channels; the
  [`EngineProfile`] reports each stage's busy time so the limiting stage is visible.
- Derived maps ([`Derivative`]: NDVI, EVI, true-colour RGB, NIR) are computed from the same finished tiles and
  streamed into their own COGs beside the product.
- Output georeferencing is the input's with pixels `scale` times smaller; edges are covered exactly (the last
  window is shifted back inside the scene).
*/
#![deny(missing_docs)]

mod burn_model;
mod derivatives;
mod error;
mod model;
mod plan;
mod run;

pub use crate::burn_model::{BurnModel, ImageNetwork};
pub use crate::derivatives::{BandRoles, Derivative, DerivativeOptions, derivative_path};
pub use crate::error::{Error, Result};
pub use crate::model::{FnModel, Model, ModelError};
pub use crate::plan::{Blend, WindowPlan, window_starts};
pub use crate::run::{
    EngineOptions, EngineProfile, NodataMask, QUALITY_CLIPPED, QUALITY_NEAR_NODATA, QUALITY_NODATA, QUALITY_VALID, run,
};
