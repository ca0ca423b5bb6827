//! [`VitSegmenter`]: a ViT encoder ([`crate::Vit`], Prithvi-EO semantics, its weights optionally from a checkpoint)
//! with a progressive-upsampling (FCN) decoder: the last block's patch tokens as a feature map, doubled in size by
//! 3×3 convolution, ReLU and nearest upsampling until the patch size is undone, then per-pixel class logits. With
//! `freeze` the encoder's features are detached, so only the decoder learns.

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{ConfigError, Result};
use crate::vit::{Coords, Vit, VitConfig};

/// A ViT encoder with an FCN decoder for segmentation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitSegmenterConfig {
    /// The encoder, in TerraTorch's `PrithviViT` argument names (`num_frames` 1: windows are single dates).
    pub encoder: VitConfig,
    /// Output classes.
    pub classes: usize,
    /// Channels of the decoder's convolutions.
    #[serde(default = "default_decoder_channels")]
    pub decoder_channels: usize,
    /// Train the decoder only; the encoder keeps its (pretrained) weights.
    #[serde(default)]
    pub freeze: bool,
    /// Pretrained encoder weights (safetensors under TerraTorch's names), loaded when a run starts.
    #[serde(default)]
    pub encoder_weights: Option<PathBuf>,
    /// Renames of the checkpoint's tensors before matching, `RE=REPLACEMENT` (`^encoder\.=` for a `PrithviMAE`).
    #[serde(default)]
    pub encoder_remap: Vec<String>,
}

fn default_decoder_channels() -> usize {
    64
}

impl VitSegmenterConfig {
    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.encoder.in_chans
    }

    /// Window sides must be multiples of the patch.
    pub fn size_multiple(&self) -> usize {
        self.encoder.patch().map_or(1, |[_, h, w]| h.max(w))
    }

    /// The segmenter with its encoder from `encoder_weights` when given (every tensor must load): how a training run
    /// starts.
    pub fn init_pretrained<B: Backend>(&self, device: &B::Device) -> Result<VitSegmenter<B>> {
        let mut model = self.init::<B>(device)?;
        if let Some(path) = &self.encoder_weights {
            let mut remap = Vec::new();
            for rule in &self.encoder_remap {
                let (pattern, replacement) = rule
                    .split_once('=')
                    .ok_or_else(|| ConfigError::new("encoder_remap", format!("`{rule}`: expected RE=REPLACEMENT")))?;
                let pattern = regex::Regex::new(pattern)
                    .map_err(|e| ConfigError::new("encoder_remap", format!("`{rule}`: {e}")))?;
                remap.push((pattern, replacement.to_owned()));
            }
            let options = crate::LoadOptions { allow_partial: false, remap };
            model.encoder = crate::load_safetensors(model.encoder, path, &options)
                .map_err(|e| ConfigError::new("encoder_weights", e.to_string()))?
                .0;
        }
        Ok(model)
    }

    /// The segmenter's architecture, randomly initialised (a trained run's weights are loaded over it).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<VitSegmenter<B>> {
        if self.classes < 2 {
            return Err(ConfigError::new("classes", format!("{}: a segmentation needs two or more", self.classes)));
        }
        if self.encoder.num_frames != 1 {
            return Err(ConfigError::new("encoder.num_frames", "segmentation windows are single dates: give 1"));
        }
        let [_, ph, pw] = self.encoder.patch()?;
        if ph != pw {
            return Err(ConfigError::new("encoder.patch_size", "square patches are needed"));
        }
        let encoder = self.encoder.init::<B>(device)?;
        let d = self.encoder.embed_dim;
        let c = self.decoder_channels.max(1);
        let mut up = Vec::new();
        let mut size = 1;
        while size < ph {
            let from = if up.is_empty() { d } else { c };
            up.push(Conv2dConfig::new([from, c], [3, 3]).with_padding(PaddingConfig2d::Same).init(device));
            size *= 2;
        }
        let last = if up.is_empty() { d } else { c };
        Ok(VitSegmenter {
            encoder,
            up,
            head: Conv2dConfig::new([last, self.classes], [1, 1]).init(device),
            freeze: self.freeze,
            patch: ph,
        })
    }
}

/// The segmenter.
#[derive(Module, Debug)]
pub struct VitSegmenter<B: Backend> {
    /// The encoder.
    pub encoder: Vit<B>,
    up: Vec<Conv2d<B>>,
    head: Conv2d<B>,
    freeze: bool,
    patch: usize,
}

impl<B: Backend> VitSegmenter<B> {
    /// Class logits `(n, classes, h, w)` for inputs `(n, channels, h, w)` whose sides are multiples of the patch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, _, height, width] = input.dims();
        let tokens = self.encoder.tokens(input.unsqueeze_dim::<5>(2), &Coords::default());
        let last = tokens.into_iter().last().expect("an encoder has blocks");
        let [_, count, embed] = last.dims();
        let (rows, cols) = (height / self.patch, width / self.patch);
        let mut x =
            last.slice([0..batch, 1..count, 0..embed]).reshape([batch, rows, cols, embed]).permute([0, 3, 1, 2]);
        if self.freeze {
            x = x.detach();
        }
        for conv in &self.up {
            let [_, _, rows, cols] = x.dims();
            x = relu(conv.forward(x));
            x = interpolate(x, [rows * 2, cols * 2], InterpolateOptions::new(InterpolateMode::Nearest));
        }
        let [_, _, rows, cols] = x.dims();
        if [rows, cols] != [height, width] {
            x = interpolate(x, [height, width], InterpolateOptions::new(InterpolateMode::Bilinear));
        }
        self.head.forward(x)
    }
}
