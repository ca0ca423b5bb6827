/*!
`predict` as a library: a model applied to scenes through the tiled engine, each product checked against its source
and published only when QC passes.

- [`Plan`]: built once from typed [`PredictOptions`] (the model as a [`ModelSource`]: a built-in, a run directory of
  `eoforge-train fit`, or an ONNX file), then [`Plan::predict`] for one scene or [`Plan::predict_list`] for a
  worker's share of a scene list (skipping scenes already published with the same options).
- [`OnnxModel`]: an ONNX file run by ONNX Runtime, loaded at run time ([`find_library`]: `--onnxruntime`,
  `ORT_DYLIB_PATH`, or the `onnxruntime` Python package), as an [`eoforge_engine::Model`]: windows padded to the
  sizes the network takes, outputs at k× or 1/k of the input read from a probe window.
- [`ModelCard`] (from `eoforge-card`): how to feed it and what it writes — `MODEL.onnx.json` beside the file with the STAC Machine
  Learning Model extension's `mlm:input` (bands, `value_scaling`, input shape) and `mlm:output` (tasks,
  `classification:classes`), or the same from flags ([`CardFlags`]).
- Trained runs: [`ClassProbabilities`] (a segmentation run as the engine's network), [`class_model`] and
  [`class_map_options`], shared with the area pipeline's patch model.
*/
#![deny(missing_docs)]

mod builtin;
mod class_map;
mod device;
mod error;
mod onnx;
mod onnx_product;
mod options;
mod plan;
mod runtime;
mod trained;

pub use crate::class_map::ClassProbabilities;
pub use crate::device::Device;
pub use crate::error::{Error, Result};
pub use crate::onnx::{
    InInputUnits, OnnxModel, OnnxOptions, OnnxSignature, OutputGeometry, reflect_pad, upsample_bilinear,
};
pub use crate::options::{LonLatBox, ModelSource, OnnxFlags, PredictOptions, TrainedOptions};
pub use crate::plan::{ListOutcome, Made, Plan, SceneEvent, SceneSource, notice};
pub use crate::runtime::{ORT_DYLIB_PATH, find_library};
pub use crate::trained::{class_map_options, class_model};
pub use eoforge_card::{CardClass, CardFlags, ModelCard, Normalization, NormalizeSpec, OutputKind, card_path};
