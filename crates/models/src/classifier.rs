//! A multi-label patch classifier: a 3×3 stem, residual stages (the first at full resolution, each later one
//! halving it), global average pooling and a linear head giving one logit per class.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use crate::error::{ConfigError, Result};
use crate::norm::{Norm, NormKind};

/// A patch classifier's shape: input bands, classes, stage widths, normalisation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchClassifierConfig {
    /// Input channels (12 for BigEarthNet's Sentinel-2 stack).
    pub in_channels: usize,
    /// Classes (19 for BigEarthNet's nomenclature); each gets an independent logit (multi-label).
    pub classes: usize,
    /// Width of each residual stage; every stage after the first halves the resolution.
    #[serde(default = "default_widths")]
    pub widths: Vec<usize>,
    /// Normalisation after each convolution.
    #[serde(default)]
    pub norm: NormKind,
}

fn default_widths() -> Vec<usize> {
    vec![32, 64, 128, 256]
}

impl PatchClassifierConfig {
    /// A classifier with the default stages (32, 64, 128, 256) and batch normalisation.
    pub fn new(in_channels: usize, classes: usize) -> Self {
        Self { in_channels, classes, widths: default_widths(), norm: NormKind::default() }
    }

    /// Checks every field, naming the first that cannot be built.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(ConfigError::new("in_channels", "must be at least 1"));
        }
        if self.classes == 0 {
            return Err(ConfigError::new("classes", "must be at least 1"));
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(ConfigError::new("widths", "needs at least one stage, each at least 1 channel wide"));
        }
        self.norm.validate(&self.widths)
    }

    /// The network with freshly initialised weights on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<PatchClassifier<B>> {
        self.validate()?;
        let first = self.widths[0];
        let mut blocks = Vec::with_capacity(self.widths.len());
        let mut channels = first;
        for (i, &w) in self.widths.iter().enumerate() {
            blocks.push(ResidualBlock::new(channels, w, if i == 0 { 1 } else { 2 }, self.norm, device));
            channels = w;
        }
        Ok(PatchClassifier {
            stem: conv3x3(self.in_channels, first, 1, device),
            stem_norm: self.norm.init(first, device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(channels, self.classes).init(device),
        })
    }
}

fn conv3x3<B: Backend>(from: usize, to: usize, stride: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([from, to], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions with normalisation, added to the input (through a strided 1×1 convolution when the
/// width or resolution changes), then ReLU.
#[derive(Module, Debug)]
struct ResidualBlock<B: Backend> {
    conv1: Conv2d<B>,
    norm1: Norm<B>,
    conv2: Conv2d<B>,
    norm2: Norm<B>,
    shortcut: Option<Conv2d<B>>,
    shortcut_norm: Option<Norm<B>>,
}

impl<B: Backend> ResidualBlock<B> {
    fn new(from: usize, to: usize, stride: usize, norm: NormKind, device: &B::Device) -> Self {
        let projected = from != to || stride != 1;
        Self {
            conv1: conv3x3(from, to, stride, device),
            norm1: norm.init(to, device),
            conv2: conv3x3(to, to, 1, device),
            norm2: norm.init(to, device),
            shortcut: projected.then(|| {
                Conv2dConfig::new([from, to], [1, 1]).with_stride([stride, stride]).with_bias(false).init(device)
            }),
            shortcut_norm: projected.then(|| norm.init(to, device)),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match (&self.shortcut, &self.shortcut_norm) {
            (Some(conv), Some(norm)) => norm.forward(conv.forward(x.clone())),
            _ => x.clone(),
        };
        let y = relu(self.norm1.forward(self.conv1.forward(x)));
        relu(self.norm2.forward(self.conv2.forward(y)) + identity)
    }
}

/// A multi-label patch classifier ([`PatchClassifierConfig`]): `(n, in_channels, h, w)` → logits `(n, classes)`
/// (apply a sigmoid for per-class probabilities). Any `h`, `w` of at least `2^(stages − 1)` pixels.
#[derive(Module, Debug)]
pub struct PatchClassifier<B: Backend> {
    stem: Conv2d<B>,
    stem_norm: Norm<B>,
    blocks: Vec<ResidualBlock<B>>,
    pool: AdaptiveAvgPool2d,
    head: Linear<B>,
}

impl<B: Backend> PatchClassifier<B> {
    /// Per-class logits for a batch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = relu(self.stem_norm.forward(self.stem.forward(input)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [n, c, _, _] = x.dims();
        self.head.forward(self.pool.forward(x).reshape([n, c]))
    }
}
