/*!
Model architectures for eoforge, generic over the burn backend: the model never knows its device.

# Brief overview
- [`UNet`] ([`UNetConfig`]): encoder–decoder segmentation network; `(n, in_channels, h, w)` → per-pixel class
  logits `(n, classes, h, w)`, `h` and `w` multiples of `2^depth`.
- [`PatchClassifier`] ([`PatchClassifierConfig`]): a small residual encoder with a pooled linear head;
  `(n, in_channels, h, w)` → one logit per class `(n, classes)`, e.g. BigEarthNet's 19 multi-label classes.
- [`SuperResolution`] ([`SuperResolutionConfig`]): EDSR-style super-resolution at an integer scale 2–10,
  residual blocks and sub-pixel upsampling ([`pixel_shuffle`]) over [`bicubic`] upsampling of the input;
  `(n, in_channels, h, w)` → `(n, out_channels, h·scale, w·scale)`.
- [`Norm`]: batch or group normalisation, chosen in the config ([`NormKind`]); batch normalisation is
  [`RowBatchNorm`], burn's `BatchNorm` computed on per-row scalars (several times faster on the CPU backend).

Configs are plain serde structs (TOML/JSON in run directories); [`UNetConfig::validate`] and friends name the
field that is wrong before any tensor is allocated.
*/
#![deny(missing_docs)]

mod batch_norm;
mod classifier;
mod error;
mod norm;
mod sr;
mod unet;

pub use crate::batch_norm::RowBatchNorm;
pub use crate::classifier::{PatchClassifier, PatchClassifierConfig};
pub use crate::error::{ConfigError, Result};
pub use crate::norm::{Norm, NormKind};
pub use crate::sr::{SuperResolution, SuperResolutionConfig, bicubic, pixel_shuffle};
pub use crate::unet::{UNet, UNetConfig};
