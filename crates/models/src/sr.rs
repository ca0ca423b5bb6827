//! Super-resolution (EDSR-style): a 3×3 head convolution, residual blocks (conv, ReLU, conv, scaled by
//! `res_scale`, added back), a body convolution with a global skip, then a convolution to `out_channels · scale²`
//! maps rearranged into one image `scale` times larger ([`pixel_shuffle`]). The network learns the residual over
//! bicubic upsampling of its input, and its last convolution starts at zero: an untrained network is exactly the
//! bicubic image, and training only has to add what bicubic misses.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{ConfigError, Result};

/// A super-resolution network's shape.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperResolutionConfig {
    /// Input channels (e.g. 4 for B02, B03, B04, B08).
    pub in_channels: usize,
    /// Output channels (default: `in_channels`, the same bands finer).
    #[serde(default)]
    pub out_channels: Option<usize>,
    /// Integer upscaling factor, 2 to 10.
    pub scale: usize,
    /// Feature maps of every convolution before the upsampler.
    #[serde(default = "default_features")]
    pub features: usize,
    /// Residual blocks.
    #[serde(default = "default_blocks")]
    pub blocks: usize,
    /// Factor each residual block's output is scaled by before it is added (EDSR's 0.1 keeps deep stacks stable).
    #[serde(default = "default_res_scale")]
    pub res_scale: f64,
}

fn default_features() -> usize {
    32
}

fn default_blocks() -> usize {
    8
}

fn default_res_scale() -> f64 {
    0.1
}

impl SuperResolutionConfig {
    /// A network of the default size (32 features, 8 residual blocks) for `in_channels` bands at `scale`.
    pub fn new(in_channels: usize, scale: usize) -> Self {
        Self {
            in_channels,
            out_channels: None,
            scale,
            features: default_features(),
            blocks: default_blocks(),
            res_scale: default_res_scale(),
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// Checks every field, naming the first that cannot be built.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(ConfigError::new("in_channels", "must be at least 1"));
        }
        if self.out_channels == Some(0) {
            return Err(ConfigError::new("out_channels", "must be at least 1"));
        }
        if !(2..=10).contains(&self.scale) {
            return Err(ConfigError::new("scale", format!("is {}, expected 2 to 10", self.scale)));
        }
        if self.features == 0 || self.features > 1024 {
            return Err(ConfigError::new("features", format!("is {}, expected 1 to 1024", self.features)));
        }
        if self.blocks > 256 {
            return Err(ConfigError::new("blocks", format!("is {}, expected at most 256", self.blocks)));
        }
        if !(self.res_scale > 0.0 && self.res_scale <= 1.0) {
            return Err(ConfigError::new("res_scale", format!("is {}, expected (0, 1]", self.res_scale)));
        }
        Ok(())
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SuperResolution<B>> {
        self.validate()?;
        let conv = |from: usize, to: usize| {
            Conv2dConfig::new([from, to], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
        };
        let f = self.features;
        // The last convolution starts at zero: an untrained network is exactly bicubic upsampling (when it keeps
        // its bands), and training moves it away only where that helps.
        let mut tail = conv(f, self.out_channels() * self.scale * self.scale);
        tail.weight = burn::module::Param::from_tensor(tail.weight.val().zeros_like());
        tail.bias = tail.bias.map(|b| burn::module::Param::from_tensor(b.val().zeros_like()));
        Ok(SuperResolution {
            head: conv(self.in_channels, f),
            body: (0..self.blocks)
                .map(|_| ResBlock { conv1: conv(f, f), conv2: conv(f, f), res_scale: self.res_scale })
                .collect(),
            body_end: conv(f, f),
            tail,
            scale: self.scale,
            out_channels: self.out_channels(),
        })
    }
}

/// conv → ReLU → conv, scaled and added to its input.
#[derive(Module, Debug)]
struct ResBlock<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    res_scale: f64,
}

impl<B: Backend> ResBlock<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let r = self.conv2.forward(relu(self.conv1.forward(x.clone())));
        x + r * self.res_scale
    }
}

/// A super-resolution network ([`SuperResolutionConfig`]): `(n, in_channels, h, w)` →
/// `(n, out_channels, h·scale, w·scale)`.
#[derive(Module, Debug)]
pub struct SuperResolution<B: Backend> {
    head: Conv2d<B>,
    body: Vec<ResBlock<B>>,
    body_end: Conv2d<B>,
    tail: Conv2d<B>,
    scale: usize,
    out_channels: usize,
}

impl<B: Backend> SuperResolution<B> {
    /// The upscaling factor.
    pub fn scale(&self) -> usize {
        self.scale
    }

    /// The finer image for a batch. With as many output as input channels, the result is bicubic upsampling of
    /// the input plus the learned residual.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let head = self.head.forward(input.clone());
        let mut x = head.clone();
        for block in &self.body {
            x = block.forward(x);
        }
        let features = self.body_end.forward(x) + head;
        let residual = pixel_shuffle(self.tail.forward(features), self.scale);
        if input.dims()[1] == self.out_channels { bicubic(input, self.scale) + residual } else { residual }
    }
}

/// Rearranges `(n, c·r², h, w)` into `(n, c, h·r, w·r)`: output pixel `(y·r + i, x·r + j)` of channel `k` is input
/// channel `k·r² + i·r + j` at `(y, x)` (PyTorch's `PixelShuffle`; burn 0.21 has none).
pub fn pixel_shuffle<B: Backend>(input: Tensor<B, 4>, factor: usize) -> Tensor<B, 4> {
    let [batch, maps, height, width] = input.dims();
    let channels = maps / (factor * factor);
    input.reshape([batch, channels, factor, factor, height, width]).permute([0, 1, 4, 2, 5, 3]).reshape([
        batch,
        channels,
        height * factor,
        width * factor,
    ])
}

/// Bicubic upsampling by `scale` with pixel-area alignment (PyTorch's `align_corners=False`, as image
/// super-resolution baselines use).
pub fn bicubic<B: Backend>(x: Tensor<B, 4>, scale: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    interpolate(x, [h * scale, w * scale], InterpolateOptions::new(InterpolateMode::Bicubic).with_align_corners(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    #[test]
    fn pixel_shuffle_places_every_channel_as_pytorch_does() {
        let device = burn::backend::flex::FlexDevice;
        let (batch, channels, factor, height, width) = (2, 3, 2, 2, 3);
        let maps = channels * factor * factor;
        let values: Vec<f32> = (0..batch * maps * height * width).map(|v| v as f32).collect();
        let input = Tensor::<B, 4>::from_data(TensorData::new(values.clone(), [batch, maps, height, width]), &device);
        let out: Vec<f32> = pixel_shuffle(input, factor).into_data().to_vec().expect("f32");
        for (at, value) in out.iter().enumerate() {
            let col = at % (width * factor);
            let row = at / (width * factor) % (height * factor);
            let channel = at / (width * factor * height * factor) % channels;
            let item = at / (width * factor * height * factor * channels);
            let map = channel * factor * factor + (row % factor) * factor + col % factor;
            let src = ((item * maps + map) * height + row / factor) * width + col / factor;
            assert_eq!(value.to_bits(), values[src].to_bits(), "output element {at}");
        }
    }

    #[test]
    fn output_is_scale_times_larger_and_starts_near_bicubic() {
        let device = burn::backend::flex::FlexDevice;
        for scale in [2, 3, 10] {
            let config = SuperResolutionConfig { features: 8, blocks: 2, ..SuperResolutionConfig::new(4, scale) };
            let model = config.init::<B>(&device).expect("valid config");
            let x = Tensor::<B, 4>::random([1, 4, 6, 5], burn::tensor::Distribution::Default, &device);
            let y = model.forward(x.clone());
            assert_eq!(y.dims(), [1, 4, 6 * scale, 5 * scale]);
            // Fresh weights: the residual starts at zero, the output is bicubic upsampling.
            let diff: f32 = (y - bicubic(x, scale)).abs().max().into_scalar();
            assert!(diff == 0.0, "scale {scale}: {diff}");
        }
    }

    #[test]
    fn bad_configs_name_the_field() {
        let bad = |c: SuperResolutionConfig| c.validate().expect_err("must fail").field;
        assert_eq!(bad(SuperResolutionConfig::new(4, 1)), "scale");
        assert_eq!(bad(SuperResolutionConfig::new(4, 11)), "scale");
        assert_eq!(bad(SuperResolutionConfig::new(0, 2)), "in_channels");
        assert_eq!(bad(SuperResolutionConfig { res_scale: 0.0, ..SuperResolutionConfig::new(4, 2) }), "res_scale");
        let parsed: SuperResolutionConfig =
            serde_json::from_str(r#"{"in_channels": 4, "scale": 10}"#).expect("defaults fill the rest");
        assert_eq!(parsed, SuperResolutionConfig::new(4, 10));
        assert!(serde_json::from_str::<SuperResolutionConfig>(r#"{"in_channels": 4, "scale": 10, "x": 1}"#).is_err());
    }
}
