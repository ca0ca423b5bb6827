//! A DeepLabv3+-class segmenter for dense many-channel inputs (64–128-dimensional foundation-model embeddings,
//! band stacks with indices and their statistics): a 1×1 projection of the input channels, strided stages down to
//! the output stride, atrous spatial pyramid pooling (a 1×1 branch, one dilated 3×3 branch per rate, image
//! pooling), and a decoder that joins the upsampled context with full-resolution features.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{ConfigError, Result};
use crate::norm::{Norm, NormKind};

/// The segmenter's shape.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmenterConfig {
    /// Input channels (64 for a 64-dimensional embedding).
    pub in_channels: usize,
    /// Output classes.
    pub classes: usize,
    /// Channels of every internal layer.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Resolution of the context features relative to the input: 1, 2, 4, 8 or 16.
    #[serde(default = "default_output_stride")]
    pub output_stride: usize,
    /// Dilation rates of the pyramid's 3×3 branches (each 1 to 36).
    #[serde(default = "default_rates")]
    pub rates: Vec<usize>,
    /// Channels the full-resolution features are reduced to before the decoder joins them with the context.
    #[serde(default = "default_low_level")]
    pub low_level_channels: usize,
    /// Normalisation after each convolution.
    #[serde(default)]
    pub norm: NormKind,
}

fn default_width() -> usize {
    64
}

fn default_output_stride() -> usize {
    8
}

fn default_rates() -> Vec<usize> {
    vec![1, 2, 3]
}

fn default_low_level() -> usize {
    16
}

impl SegmenterConfig {
    /// A segmenter of width 64, output stride 8, rates 1, 2, 3, batch normalisation.
    pub fn new(in_channels: usize, classes: usize) -> Self {
        Self {
            in_channels,
            classes,
            width: default_width(),
            output_stride: default_output_stride(),
            rates: default_rates(),
            low_level_channels: default_low_level(),
            norm: NormKind::default(),
        }
    }

    /// Checks every field, naming the first that cannot be built.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(ConfigError::new("in_channels", "must be at least 1"));
        }
        if self.classes == 0 {
            return Err(ConfigError::new("classes", "must be at least 1"));
        }
        if self.width == 0 || self.width > 1024 {
            return Err(ConfigError::new("width", format!("is {}, expected 1 to 1024", self.width)));
        }
        if ![1, 2, 4, 8, 16].contains(&self.output_stride) {
            return Err(ConfigError::new(
                "output_stride",
                format!("is {}, expected 1, 2, 4, 8 or 16", self.output_stride),
            ));
        }
        if let Some(r) = self.rates.iter().find(|r| !(1..=36).contains(*r)) {
            return Err(ConfigError::new("rates", format!("holds {r}, expected rates from 1 to 36")));
        }
        if self.low_level_channels == 0 {
            return Err(ConfigError::new("low_level_channels", "must be at least 1"));
        }
        self.norm.validate(&[self.width, self.low_level_channels])
    }

    /// Input height and width must be multiples of this (the output stride), so that the context features
    /// upsample onto the input's pixel grid exactly.
    pub fn size_multiple(&self) -> usize {
        self.output_stride
    }

    /// The network with freshly initialised weights on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Segmenter<B>> {
        self.validate()?;
        let w = self.width;
        let stages = self.output_stride.trailing_zeros() as usize;
        Ok(Segmenter {
            stem: ConvNorm::new(self.in_channels, w, 1, 1, 1, self.norm, device),
            features: ConvNorm::new(w, w, 3, 1, 1, self.norm, device),
            down: (0..stages)
                .map(|_| {
                    (ConvNorm::new(w, w, 3, 2, 1, self.norm, device), ConvNorm::new(w, w, 3, 1, 1, self.norm, device))
                })
                .map(|(reduce, refine)| Stage { reduce, refine })
                .collect(),
            aspp_point: ConvNorm::new(w, w, 1, 1, 1, self.norm, device),
            aspp_rates: self.rates.iter().map(|&r| ConvNorm::new(w, w, 3, 1, r, self.norm, device)).collect(),
            aspp_pool: Conv2dConfig::new([w, w], [1, 1]).init(device),
            aspp_project: ConvNorm::new(w * (self.rates.len() + 2), w, 1, 1, 1, self.norm, device),
            low_level: ConvNorm::new(w, self.low_level_channels, 1, 1, 1, self.norm, device),
            decoder: ConvNorm::new(w + self.low_level_channels, w, 3, 1, 1, self.norm, device),
            head: Conv2dConfig::new([w, self.classes], [1, 1]).init(device),
        })
    }
}

/// A convolution without bias, normalisation, ReLU.
#[derive(Module, Debug)]
pub(crate) struct ConvNorm<B: Backend> {
    conv: Conv2d<B>,
    norm: Norm<B>,
}

impl<B: Backend> ConvNorm<B> {
    /// A `kernel`×`kernel` convolution (1 or 3) with `stride` and `dilation`, padded to keep the size at stride 1.
    fn new(
        from: usize,
        to: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        norm: NormKind,
        device: &B::Device,
    ) -> Self {
        let pad = dilation * (kernel / 2);
        let conv = Conv2dConfig::new([from, to], [kernel, kernel])
            .with_stride([stride, stride])
            .with_dilation([dilation, dilation])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        Self { conv, norm: norm.init(to, device) }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

/// One halving of the resolution: a strided 3×3 convolution, then a 3×3 one.
#[derive(Module, Debug)]
pub(crate) struct Stage<B: Backend> {
    reduce: ConvNorm<B>,
    refine: ConvNorm<B>,
}

/// The segmenter ([`SegmenterConfig`]): `(n, in_channels, h, w)` → class logits `(n, classes, h, w)`; `h` and
/// `w` should be multiples of [`SegmenterConfig::size_multiple`] (other sizes run, with the context resampled).
#[derive(Module, Debug)]
pub struct Segmenter<B: Backend> {
    stem: ConvNorm<B>,
    features: ConvNorm<B>,
    down: Vec<Stage<B>>,
    aspp_point: ConvNorm<B>,
    aspp_rates: Vec<ConvNorm<B>>,
    aspp_pool: Conv2d<B>,
    aspp_project: ConvNorm<B>,
    low_level: ConvNorm<B>,
    decoder: ConvNorm<B>,
    head: Conv2d<B>,
}

impl<B: Backend> Segmenter<B> {
    /// Class logits for a batch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, height, width] = input.dims();
        let full = self.features.forward(self.stem.forward(input));
        let mut context = full.clone();
        for stage in &self.down {
            context = stage.refine.forward(stage.reduce.forward(context));
        }
        let [n, channels, rows, cols] = context.dims();
        let mut branches = vec![self.aspp_point.forward(context.clone())];
        branches.extend(self.aspp_rates.iter().map(|b| b.forward(context.clone())));
        let pooled = relu(self.aspp_pool.forward(context.mean_dim(2).mean_dim(3)));
        branches.push(pooled.expand([n, channels, rows, cols]));
        let mut context = self.aspp_project.forward(Tensor::cat(branches, 1));
        if (rows, cols) != (height, width) {
            let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false);
            context = interpolate(context, [height, width], options);
        }
        let joined = Tensor::cat(vec![context, self.low_level.forward(full)], 1);
        self.head.forward(self.decoder.forward(joined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    #[test]
    fn logits_at_the_input_resolution_for_every_output_stride() {
        let d = burn::backend::flex::FlexDevice;
        for stride in [1, 2, 4, 8] {
            let config = SegmenterConfig {
                width: 8,
                output_stride: stride,
                norm: NormKind::Group { groups: 4 },
                low_level_channels: 4,
                ..SegmenterConfig::new(64, 5)
            };
            let net = config.init::<Flex>(&d).expect("valid");
            let x = Tensor::<Flex, 4>::random([2, 64, 20, 12], Distribution::Normal(0.0, 1.0), &d);
            assert_eq!(net.forward(x).dims(), [2, 5, 20, 12], "output stride {stride}");
        }
    }

    #[test]
    fn configs_name_the_field_that_is_wrong() {
        let d = burn::backend::flex::FlexDevice;
        let bad = |c: SegmenterConfig| c.init::<Flex>(&d).expect_err("refused").to_string();
        assert!(bad(SegmenterConfig { output_stride: 3, ..SegmenterConfig::new(64, 2) }).contains("`output_stride`"));
        assert!(bad(SegmenterConfig { rates: vec![1, 0], ..SegmenterConfig::new(64, 2) }).contains("`rates`"));
        assert!(bad(SegmenterConfig::new(0, 2)).contains("`in_channels`"));
        let groups = SegmenterConfig { width: 6, norm: NormKind::Group { groups: 4 }, ..SegmenterConfig::new(64, 2) };
        assert!(bad(groups).contains("`norm.groups`"));
    }
}
