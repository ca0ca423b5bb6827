/*!
Model architectures for eoforge, generic over the burn backend: the model never knows its device.

# Brief overview
- [`UNet`] ([`UNetConfig`]): encoder–decoder segmentation network; `(n, in_channels, h, w)` → per-pixel class
  logits `(n, classes, h, w)`, `h` and `w` multiples of `2^depth`.
- [`Segmenter`] ([`SegmenterConfig`]): a DeepLabv3+-class segmenter for 64–128-channel inputs (embeddings):
  strided stages to an output stride, atrous spatial pyramid pooling, a decoder joining full-resolution features;
  [`SegmentationNet`] holds any segmentation network.
- [`SegFormer`] ([`SegFormerConfig`]): SegFormer's Mix Transformer encoder and all-MLP decoder, B0/B1 sizes, loading
  Hugging Face `transformers` checkpoints by name; logits at 1/4 resolution upsampled bilinearly to the input.
- [`PatchClassifier`] ([`PatchClassifierConfig`]): a small residual encoder with a pooled linear head;
  `(n, in_channels, h, w)` → one logit per class `(n, classes)`, e.g. BigEarthNet's 19 multi-label classes.
- [`SuperResolution`] ([`SuperResolutionConfig`]): EDSR-style super-resolution at an integer scale 2–10,
  residual blocks and sub-pixel upsampling ([`pixel_shuffle`]) over [`bicubic`] upsampling of the input;
  `(n, in_channels, h, w)` → `(n, out_channels, h·scale, w·scale)`.
- [`Norm`]: batch or group normalisation, chosen in the config ([`NormKind`]); batch normalisation is
  [`RowBatchNorm`], burn's `BatchNorm` computed on per-row scalars (several times faster on the CPU backend).

- [`save_safetensors`], [`load_safetensors`]: weights shared with PyTorch under stable names ([`tensor_names`]),
  with a [`LoadReport`] of applied, missing and unused tensors.

Configs are plain serde structs (TOML/JSON in run directories); [`UNetConfig::validate`] and friends name the
field that is wrong before any tensor is allocated.
*/
#![deny(missing_docs)]

mod batch_norm;
mod classifier;
mod error;
mod norm;
mod segformer;
mod segmentation_net;
mod segmenter;
mod sr;
mod unet;
mod vit;
mod vit_classifier;
mod vit_decoders;
mod vit_segmenter;
mod weights;

pub use crate::batch_norm::RowBatchNorm;
pub use crate::classifier::{PatchClassifier, PatchClassifierConfig};
pub use crate::error::{ConfigError, Result};
pub use crate::norm::{Norm, NormKind};
pub use crate::segformer::{SegFormer, SegFormerConfig};
pub use crate::segmentation_net::SegmentationNet;
pub use crate::segmenter::{Segmenter, SegmenterConfig};
pub use crate::sr::{SuperResolution, SuperResolutionConfig, bicubic, pixel_shuffle};
pub use crate::unet::{UNet, UNetConfig};
pub use crate::vit::{Coords, OneOrMany, Vit, VitConfig};
pub use crate::vit_classifier::{VitClassifier, VitClassifierConfig, VitPool};
pub use crate::vit_decoders::VitDecoder;
pub use crate::vit_segmenter::{VitSegmenter, VitSegmenterConfig};
pub use crate::weights::{
    LoadOptions, LoadReport, WeightsError, load_safetensors, safetensors_metadata, save_safetensors, tensor_names,
};
