//! A U-Net for semantic segmentation: `depth` stages of two 3×3 convolutions (each followed by normalisation
//! and ReLU) halving the resolution, a bottleneck, and as many up-sampling stages (2×2 transposed convolution,
//! concatenation with the encoder's skip, two convolutions), then a 1×1 convolution to class logits.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use crate::error::{ConfigError, Result};
use crate::norm::{Norm, NormKind};

/// A U-Net's shape: input bands, classes, depth, width of the first stage (doubled at each stage), normalisation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Input channels (e.g. 12 for the Sentinel-2 bands of a BigEarthNet patch).
    pub in_channels: usize,
    /// Output classes (one logit map each).
    pub classes: usize,
    /// Down-sampling stages; input height and width must be multiples of `2^depth`.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Channels of the first stage; stage `i` has `base_width · 2^i`.
    #[serde(default = "default_base_width")]
    pub base_width: usize,
    /// Normalisation after each convolution.
    #[serde(default)]
    pub norm: NormKind,
}

fn default_depth() -> usize {
    3
}

fn default_base_width() -> usize {
    16
}

impl UNetConfig {
    /// A U-Net of the default depth (3) and width (16, 32, 64, 128) with batch normalisation.
    pub fn new(in_channels: usize, classes: usize) -> Self {
        Self {
            in_channels,
            classes,
            depth: default_depth(),
            base_width: default_base_width(),
            norm: NormKind::default(),
        }
    }

    /// Channels of each stage, the bottleneck last (`depth + 1` values).
    pub fn widths(&self) -> Vec<usize> {
        (0..=self.depth).map(|i| self.base_width << i).collect()
    }

    /// Input height and width must be multiples of this (`2^depth`).
    pub fn size_multiple(&self) -> usize {
        1 << self.depth
    }

    /// Checks every field, naming the first that cannot be built.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(ConfigError::new("in_channels", "must be at least 1"));
        }
        if self.classes == 0 {
            return Err(ConfigError::new("classes", "must be at least 1"));
        }
        if !(1..=6).contains(&self.depth) {
            return Err(ConfigError::new("depth", format!("is {}, expected 1 to 6", self.depth)));
        }
        if self.base_width == 0 || self.base_width > 1024 {
            return Err(ConfigError::new("base_width", format!("is {}, expected 1 to 1024", self.base_width)));
        }
        self.norm.validate(&self.widths())
    }

    /// The network with freshly initialised weights on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<UNet<B>> {
        self.validate()?;
        let widths = self.widths();
        let mut down = Vec::with_capacity(self.depth);
        let mut channels = self.in_channels;
        for &w in &widths[..self.depth] {
            down.push(ConvBlock::new(channels, w, self.norm, device));
            channels = w;
        }
        let bottom = ConvBlock::new(channels, widths[self.depth], self.norm, device);
        let mut up = Vec::with_capacity(self.depth);
        let mut up_blocks = Vec::with_capacity(self.depth);
        for i in 0..self.depth {
            up.push(ConvTranspose2dConfig::new([widths[i + 1], widths[i]], [2, 2]).with_stride([2, 2]).init(device));
            up_blocks.push(ConvBlock::new(2 * widths[i], widths[i], self.norm, device));
        }
        Ok(UNet {
            down,
            bottom,
            up,
            up_blocks,
            head: Conv2dConfig::new([widths[0], self.classes], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        })
    }
}

/// Two 3×3 convolutions, each followed by normalisation and ReLU; the resolution is kept.
#[derive(Module, Debug)]
pub(crate) struct ConvBlock<B: Backend> {
    conv1: Conv2d<B>,
    norm1: Norm<B>,
    conv2: Conv2d<B>,
    norm2: Norm<B>,
}

impl<B: Backend> ConvBlock<B> {
    fn new(from: usize, to: usize, norm: NormKind, device: &B::Device) -> Self {
        let conv = |a, b| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        Self { conv1: conv(from, to), norm1: norm.init(to, device), conv2: conv(to, to), norm2: norm.init(to, device) }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = relu(self.norm1.forward(self.conv1.forward(x)));
        relu(self.norm2.forward(self.conv2.forward(x)))
    }
}

/// A U-Net ([`UNetConfig`]): `(n, in_channels, h, w)` → class logits `(n, classes, h, w)`, with `h` and `w`
/// multiples of [`UNetConfig::size_multiple`] (burn panics on other shapes; check them before the call).
#[derive(Module, Debug)]
pub struct UNet<B: Backend> {
    down: Vec<ConvBlock<B>>,
    bottom: ConvBlock<B>,
    up: Vec<ConvTranspose2d<B>>,
    up_blocks: Vec<ConvBlock<B>>,
    head: Conv2d<B>,
    pool: MaxPool2d,
}

impl<B: Backend> UNet<B> {
    /// Class logits for a batch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = input;
        for block in &self.down {
            x = block.forward(x);
            skips.push(x.clone());
            x = self.pool.forward(x);
        }
        x = self.bottom.forward(x);
        for ((up, block), skip) in self.up.iter().zip(&self.up_blocks).zip(skips).rev() {
            let upsampled = up.forward(x);
            x = block.forward(Tensor::cat(vec![skip, upsampled], 1));
        }
        self.head.forward(x)
    }
}
