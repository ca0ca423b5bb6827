//! An ONNX network as an engine [`Model`]: windows padded to the sizes the network takes, outputs at k× the input
//! (super-resolution) or 1/k of it (SegFormer's logits, upsampled bilinearly to the window as its authors do), read
//! from the output of a probe window, never assumed.

use std::path::{Path, PathBuf};

use eoforge_engine::{Model, ModelError};
use ndarray::{Array4, ArrayView4, Axis, Ix4, s};

use crate::error::{Error, Result};
use eoforge_card::ModelCard;

/// How an ONNX model is run.
#[derive(Clone, Debug, Default)]
pub struct OnnxOptions {
    /// The ONNX Runtime library (default: found by [`crate::find_library`]).
    pub library: Option<PathBuf>,
    /// Threads ONNX Runtime may use inside one batch (0: its default, every core).
    pub threads: usize,
    /// Where the network runs.
    pub device: crate::device::Device,
    /// Run on the CPU when the runtime cannot use the GPU asked for (else that is an error).
    pub allow_cpu_fallback: bool,
}

/// The session builder with the execution provider of `options.device`: CUDA when asked for (an error when the
/// loaded runtime has none, unless the CPU fallback is allowed).
fn with_device(
    builder: ort::session::builder::SessionBuilder,
    options: &OnnxOptions,
    library: &Path,
) -> Result<ort::session::builder::SessionBuilder> {
    match options.device {
        crate::device::Device::Cpu => Ok(builder),
        #[cfg(feature = "cuda")]
        crate::device::Device::Cuda(index) => {
            let index =
                i32::try_from(index).map_err(|_| Error::Usage(format!("--device cuda:{index}: no such GPU")))?;
            let cuda = ort::ep::CUDA::default().with_device_id(index).build();
            let cuda = if options.allow_cpu_fallback { cuda } else { cuda.error_on_failure() };
            builder.with_execution_providers([cuda]).map_err(|e| {
                Error::Runtime(format!(
                    "{} cannot run on cuda:{index} ({e}); install `onnxruntime-gpu` with the CUDA 12 libraries, or \
                     allow the CPU (--allow-cpu-fallback)",
                    library.display()
                ))
            })
        }
        #[cfg(not(feature = "cuda"))]
        crate::device::Device::Cuda(_) => {
            let _ = library;
            Err(Error::Usage("--device cuda: this build has no CUDA support (build with `--features cuda`)".into()))
        }
    }
}

/// Output resolution against the input's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputGeometry {
    /// `k` output pixels per input pixel along each axis.
    Up(usize),
    /// One output pixel per `k` input pixels: upsampled bilinearly back to the input's size.
    Down(usize),
}

/// What a loaded model takes and gives, for records.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OnnxSignature {
    /// The input's name.
    pub input: String,
    /// The output's name.
    pub output: String,
    /// Input channels.
    pub channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Output resolution.
    pub geometry: OutputGeometry,
    /// Input height and width the model requires, when fixed.
    pub fixed_size: Option<(usize, usize)>,
    /// Input sizes must be multiples of this.
    pub size_multiple: usize,
    /// Windows per run when the model fixes its batch size.
    pub fixed_batch: Option<usize>,
}

/// An ONNX network run by ONNX Runtime.
pub struct OnnxModel {
    path: PathBuf,
    session: ort::session::Session,
    signature: OnnxSignature,
}

impl OnnxModel {
    /// Loads `path`, checks that it takes `bands` channels in (batch, channel, height, width) order, and probes
    /// its output with one window of `window` pixels (padded to what the model takes).
    pub fn open(path: &Path, card: &ModelCard, bands: usize, window: usize, options: &OnnxOptions) -> Result<Self> {
        let model_error = |reason: String| Error::Model { path: path.to_owned(), reason };
        if !path.is_file() {
            return Err(model_error("no such file".into()));
        }
        let library = crate::runtime::find_library(options.library.as_deref())?;
        let env = crate::runtime::environment(&library)?;
        let mut builder = ort::session::Session::builder(&env).map_err(|e| Error::Runtime(e.to_string()))?;
        if options.threads > 0 {
            builder = builder.with_intra_threads(options.threads).map_err(|e| Error::Runtime(e.to_string()))?;
        }
        builder = with_device(builder, options, &library)?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| model_error(format!("not a model ONNX Runtime can load: {e}")))?;
        let inputs: Vec<(String, Option<Vec<i64>>)> = session
            .inputs()
            .iter()
            .map(|i| (i.name().to_owned(), i.dtype().tensor_shape().map(|s| s.to_vec())))
            .collect();
        let [(input, Some(shape))] = inputs.as_slice() else {
            return Err(model_error(format!(
                "takes {} inputs ({}); eoforge feeds one image tensor",
                inputs.len(),
                inputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            )));
        };
        let element = session.inputs()[0].dtype().tensor_type();
        if element != Some(ort::value::TensorElementType::Float32) {
            return Err(model_error(format!("input `{input}` is {element:?}; eoforge feeds float32")));
        }
        if shape.len() != 4 {
            return Err(model_error(format!(
                "input `{input}` has shape {shape:?}; eoforge feeds (batch, channel, height, width)"
            )));
        }
        let fixed = |d: i64| usize::try_from(d).ok().filter(|d| *d > 0);
        if let Some(c) = fixed(shape[1])
            && c != bands
        {
            return Err(model_error(format!(
                "takes {c} input channels, but {bands} bands are given; pick {c} with --input-bands"
            )));
        }
        if !card.bands.is_empty() && card.bands.len() != bands {
            return Err(model_error(format!(
                "its card names {} bands ({}), but {bands} are given",
                card.bands.len(),
                card.bands.join(", ")
            )));
        }
        let fixed_size = fixed(shape[2]).zip(fixed(shape[3])).or(card.fixed_size);
        let output = session
            .outputs()
            .first()
            .map(|o| o.name().to_owned())
            .ok_or_else(|| model_error("has no output".into()))?;
        let mut model = Self {
            path: path.to_owned(),
            session,
            signature: OnnxSignature {
                input: input.clone(),
                output,
                channels: bands,
                out_channels: 0,
                geometry: OutputGeometry::Up(1),
                fixed_size,
                size_multiple: card.size_multiple.max(1),
                fixed_batch: fixed(shape[0]),
            },
        };
        model.probe(window)?;
        Ok(model)
    }

    /// What the model takes and gives.
    pub fn signature(&self) -> &OnnxSignature {
        &self.signature
    }

    /// Runs a zero window to learn the output's channels and resolution.
    fn probe(&mut self, window: usize) -> Result<()> {
        let (h, w) = self.padded(window, window);
        let out = self.run(Array4::zeros((1, self.signature.channels, h, w))).map_err(|e| Error::Model {
            path: self.path.clone(),
            reason: format!("a {h}x{w} probe window failed: {e}"),
        })?;
        let (_, k, oh, ow) = out.dim();
        let geometry = if oh >= h && oh % h == 0 && ow == w * (oh / h) {
            OutputGeometry::Up(oh / h)
        } else if oh < h && oh > 0 && h % oh == 0 && ow > 0 && w / ow == h / oh && w % ow == 0 {
            OutputGeometry::Down(h / oh)
        } else {
            return Err(Error::Model {
                path: self.path.clone(),
                reason: format!(
                    "a {h}x{w} window gives a {oh}x{ow} output: not a whole multiple or fraction of the input"
                ),
            });
        };
        self.signature.out_channels = k;
        self.signature.geometry = geometry;
        Ok(())
    }

    /// The input size a `h`×`w` window is padded to: the model's fixed size (windows are never larger), else the
    /// next multiple of the size multiple.
    fn padded(&self, h: usize, w: usize) -> (usize, usize) {
        if let Some(fixed) = self.signature.fixed_size {
            return fixed;
        }
        let m = self.signature.size_multiple;
        (h.div_ceil(m) * m, w.div_ceil(m) * m)
    }

    /// ONNX Runtime over `batch`, in runs of the model's fixed batch size when it has one.
    fn run(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        let n = batch.dim().0;
        let chunk = self.signature.fixed_batch.unwrap_or(n).max(1);
        if chunk == n {
            return self.run_once(batch, n);
        }
        let mut parts = Vec::new();
        for start in (0..n).step_by(chunk) {
            let part = batch.slice(s![start..(start + chunk).min(n), .., .., ..]);
            let real = part.dim().0;
            // A fixed batch size: the last run is filled with zero windows, dropped from the output.
            let (_, c, h, w) = part.dim();
            let mut full = Array4::zeros((chunk, c, h, w));
            full.slice_mut(s![..real, .., .., ..]).assign(&part);
            parts.push(self.run_once(full, real)?);
        }
        let views: Vec<ArrayView4<f32>> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).map_err(|e| ModelError::new(format!("cannot join the outputs: {e}")))
    }

    /// One run of ONNX Runtime; the first `real` outputs are kept.
    fn run_once(&mut self, batch: Array4<f32>, real: usize) -> Result<Array4<f32>, ModelError> {
        let tensor = ort::value::Tensor::from_array(batch)
            .map_err(|e| ModelError::with_source("cannot hand the batch to ONNX Runtime", e))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| ModelError::with_source(format!("{}: ONNX Runtime failed", self.path.display()), e))?;
        let view = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| ModelError::with_source("the model's first output is not a float32 tensor", e))?;
        let view = view.into_dimensionality::<Ix4>().map_err(|_| {
            ModelError::new(format!("the model's output has shape {:?}; expected (n, c, h, w)", outputs[0].shape()))
        })?;
        Ok(view.slice(s![..real, .., .., ..]).to_owned())
    }
}

impl Model for OnnxModel {
    fn out_bands(&self) -> usize {
        self.signature.out_channels
    }

    fn scale(&self) -> usize {
        match self.signature.geometry {
            OutputGeometry::Up(k) => k,
            OutputGeometry::Down(_) => 1,
        }
    }

    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        let (_, _, h, w) = batch.dim();
        let (ph, pw) = self.padded(h, w);
        let input = if (ph, pw) == (h, w) { batch } else { reflect_pad(&batch.view(), ph, pw) };
        let out = self.run(input)?;
        Ok(match self.signature.geometry {
            OutputGeometry::Up(k) => out.slice(s![.., .., ..h * k, ..w * k]).to_owned(),
            OutputGeometry::Down(_) => {
                let full = upsample_bilinear(&out.view(), ph, pw);
                full.slice(s![.., .., ..h, ..w]).to_owned()
            }
        })
    }
}

/// A model whose image output is put back into the input's units: output band `i` becomes `y · divide[i] +
/// subtract[i]`, the inverse of the input scaling (a super-resolution network fed reflectances in [0, 1] writes
/// the scene's digital numbers again).
pub struct InInputUnits<M> {
    inner: M,
    subtract: Vec<f32>,
    divide: Vec<f32>,
}

impl<M: Model> InInputUnits<M> {
    /// Wraps `inner`, whose output bands are the input's bands scaled as `normalization` says.
    pub fn new(inner: M, normalization: &eoforge_card::Normalization) -> Self {
        Self { inner, subtract: normalization.subtract.clone(), divide: normalization.divide.clone() }
    }
}

impl<M: Model> Model for InInputUnits<M> {
    fn out_bands(&self) -> usize {
        self.inner.out_bands()
    }

    fn scale(&self) -> usize {
        self.inner.scale()
    }

    fn forward(&mut self, batch: Array4<f32>) -> Result<Array4<f32>, ModelError> {
        let mut out = self.inner.forward(batch)?;
        for mut sample in out.outer_iter_mut() {
            for (k, mut plane) in sample.outer_iter_mut().enumerate() {
                let (a, b) = (self.divide.get(k).copied().unwrap_or(1.0), self.subtract.get(k).copied().unwrap_or(0.0));
                plane.mapv_inplace(|y| y * a + b);
            }
        }
        Ok(out)
    }
}

/// Pads `x` at the bottom and right to `h`×`w` by reflection (as PyTorch's `reflect` pad; repeated where the
/// window is too small to reflect).
pub fn reflect_pad(input: &ArrayView4<f32>, height: usize, width: usize) -> Array4<f32> {
    let (batch, bands, in_h, in_w) = input.dim();
    let mirror = |i: usize, len: usize| -> usize {
        let mut i = i;
        if len == 1 {
            return 0;
        }
        let period = 2 * (len - 1);
        i %= period;
        if i < len { i } else { period - i }
    };
    Array4::from_shape_fn((batch, bands, height, width), |(b, k, row, col)| {
        input[[b, k, mirror(row, in_h), mirror(col, in_w)]]
    })
}

/// Bilinear resize of `x` to `h`×`w` with half-pixel centres (PyTorch's `interpolate(mode="bilinear",
/// align_corners=False)`).
pub fn upsample_bilinear(input: &ArrayView4<f32>, height: usize, width: usize) -> Array4<f32> {
    let (batch, bands, in_h, in_w) = input.dim();
    let taps = |out: usize, input: usize| -> Vec<(usize, usize, f32)> {
        let ratio = input as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = ((o as f32 + 0.5) * ratio - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(input - 1);
                let i1 = (i0 + 1).min(input - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (taps(height, in_h), taps(width, in_w));
    let mut out = Array4::zeros((batch, bands, height, width));
    for b in 0..batch {
        for k in 0..bands {
            let plane = input.slice(s![b, k, .., ..]);
            let mut target = out.slice_mut(s![b, k, .., ..]);
            for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
                for (xx, &(x0, x1, fx)) in xs.iter().enumerate() {
                    let top = plane[[y0, x0]] * (1.0 - fx) + plane[[y0, x1]] * fx;
                    let bottom = plane[[y1, x0]] * (1.0 - fx) + plane[[y1, x1]] * fx;
                    target[[y, xx]] = top * (1.0 - fy) + bottom * fy;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_mirrors_without_repeating_the_edge() {
        let x = Array4::from_shape_fn((1, 1, 1, 3), |(_, _, _, i)| i as f32);
        let p = reflect_pad(&x.view(), 2, 6);
        assert_eq!(p.slice(s![0, 0, 0, ..]).to_vec(), [0.0, 1.0, 2.0, 1.0, 0.0, 1.0]);
        assert_eq!(p.slice(s![0, 0, 1, ..]).to_vec(), p.slice(s![0, 0, 0, ..]).to_vec());
    }

    #[test]
    fn bilinear_upsampling_matches_half_pixel_centres() {
        // PyTorch: F.interpolate(tensor([[[[0., 4.]]]]), size=(1, 4), mode="bilinear", align_corners=False)
        // = [0, 1, 3, 4].
        let x = Array4::from_shape_vec((1, 1, 1, 2), vec![0.0, 4.0]).expect("shape");
        let y = upsample_bilinear(&x.view(), 1, 4);
        assert_eq!(y.slice(s![0, 0, 0, ..]).to_vec(), [0.0, 1.0, 3.0, 4.0]);
    }
}
