/*!
Users' own networks for eoforge's tiled inference.

- [`OnnxModel`]: an ONNX file run by ONNX Runtime, loaded at run time ([`find_library`]: `--onnxruntime`,
  `ORT_DYLIB_PATH`, or the `onnxruntime` Python package), as an [`eoforge_engine::Model`]: windows padded to the
  sizes the network takes, outputs at k× or 1/k of the input read from a probe window.
- [`ModelCard`]: how to feed it and what it writes — `MODEL.onnx.json` beside the file with the STAC Machine
  Learning Model extension's `mlm:input` (bands, `value_scaling`, input shape) and `mlm:output` (tasks,
  `classification:classes`), or the same from flags ([`CardFlags`]).
*/
#![deny(missing_docs)]

mod card;
mod error;
mod onnx;
mod runtime;

pub use crate::card::{CardClass, CardFlags, ModelCard, Normalization, NormalizeSpec, OutputKind, card_path};
pub use crate::error::{Error, Result};
pub use crate::onnx::{
    InInputUnits, OnnxModel, OnnxOptions, OnnxSignature, OutputGeometry, reflect_pad, upsample_bilinear,
};
pub use crate::runtime::{ORT_DYLIB_PATH, find_library};
