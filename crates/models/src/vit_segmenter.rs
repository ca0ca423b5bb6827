//! [`VitSegmenter`]: a ViT encoder ([`crate::Vit`], Prithvi-EO semantics, its weights optionally from a checkpoint)
//! with a dense decoder — an FCN (progressive upsampling of the last block) or a UPerNet over four blocks — and a
//! per-pixel head: class logits for segmentation, values for pixel regression. Inputs of several frames come as
//! `(n, channels × frames, h, w)` (channel-major); each frame's tokens are folded into the feature maps' channels,
//! as TerraTorch's `ReshapeTokensToImage` does. With `freeze` the encoder runs without gradient tracking and its
//! features are detached, so only the decoder learns (and no autodiff graph is kept for the encoder).

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{ConfigError, Result};
use crate::vit::{Coords, Vit, VitConfig};
use crate::vit_decoders::{Decoder, VitDecoder};

/// A ViT encoder with a dense decoder, for segmentation (`classes` logits per pixel) or pixel regression
/// (`classes` = values per pixel, also spelt `outputs`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitSegmenterConfig {
    /// The encoder, in TerraTorch's `PrithviViT` argument names; `num_frames` is the frames per window.
    pub encoder: VitConfig,
    /// Output classes (segmentation) or values (regression) per pixel.
    #[serde(alias = "outputs")]
    pub classes: usize,
    /// The decoder: `fcn` (progressive upsampling of the last block) or `upernet` (a feature pyramid over four
    /// blocks with pyramid pooling).
    #[serde(default)]
    pub decoder: VitDecoder,
    /// Channels of the decoder's convolutions.
    #[serde(default = "default_decoder_channels")]
    pub decoder_channels: usize,
    /// Blocks (from 0) whose outputs the UPerNet decoder takes, shallow to deep (default: the ends of each quarter
    /// of the encoder, as TerraTorch's Prithvi configurations select `[5, 11, 17, 23]` of 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_blocks: Option<Vec<usize>>,
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
    /// Input channels: the encoder's channels times its frames (frames stacked channel-major).
    pub fn in_channels(&self) -> usize {
        self.encoder.in_chans * self.encoder.num_frames.max(1)
    }

    /// Window sides must be multiples of the patch.
    pub fn size_multiple(&self) -> usize {
        self.encoder.patch().map_or(1, |[_, h, w]| h.max(w))
    }

    /// The network with its encoder from `encoder_weights` when given (every tensor must load): how a training run
    /// starts.
    pub fn init_pretrained<B: Backend>(&self, device: &B::Device) -> Result<VitSegmenter<B>> {
        let mut model = self.init::<B>(device)?;
        model.encoder = pretrained_encoder(model.encoder, self.encoder_weights.as_deref(), &self.encoder_remap)?;
        Ok(model)
    }

    /// The network's architecture, randomly initialised (a trained run's weights are loaded over it).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<VitSegmenter<B>> {
        if self.classes == 0 {
            return Err(ConfigError::new("classes", "a network needs one output or more"));
        }
        let [pt, ph, pw] = self.encoder.patch()?;
        if ph != pw {
            return Err(ConfigError::new("encoder.patch_size", "square patches are needed"));
        }
        let frames = self.encoder.num_frames.max(1);
        if !frames.is_multiple_of(pt) {
            return Err(ConfigError::new("encoder.num_frames", format!("{frames}: a multiple of the patch's {pt}")));
        }
        let encoder = self.encoder.init::<B>(device)?;
        let width = self.encoder.embed_dim * (frames / pt);
        let decoder =
            Decoder::new(self.decoder, width, self.decoder_channels.max(1), ph, &self.blocks()?, self.classes, device);
        Ok(VitSegmenter { encoder, decoder, freeze: self.freeze, patch: ph, channels: self.encoder.in_chans })
    }

    /// The blocks the decoder reads: the last for the FCN, four for the UPerNet.
    fn blocks(&self) -> Result<Vec<usize>> {
        let depth = self.encoder.depth;
        match (self.decoder, &self.feature_blocks) {
            (VitDecoder::Fcn, None) => Ok(vec![depth.saturating_sub(1)]),
            (VitDecoder::Fcn, Some(b)) if b.len() == 1 && b[0] < depth => Ok(b.clone()),
            (VitDecoder::Fcn, Some(b)) => {
                Err(ConfigError::new("feature_blocks", format!("{b:?}: the FCN decoder takes one block below {depth}")))
            }
            (VitDecoder::Upernet, None) => Ok((1..=4).map(|q| (depth * q / 4).max(1) - 1).collect()),
            (VitDecoder::Upernet, Some(b)) if b.len() == 4 && b.iter().all(|i| *i < depth) => Ok(b.clone()),
            (VitDecoder::Upernet, Some(b)) => Err(ConfigError::new(
                "feature_blocks",
                format!("{b:?}: the UPerNet decoder takes four blocks, each below {depth}"),
            )),
        }
    }
}

/// `encoder` with the tensors of the safetensors file at `weights` (when given) loaded over it, after the
/// `RE=REPLACEMENT` renames; every tensor of the encoder must load.
pub(crate) fn pretrained_encoder<B: Backend>(
    encoder: Vit<B>,
    weights: Option<&std::path::Path>,
    rules: &[String],
) -> Result<Vit<B>> {
    crate::weights::pretrained(encoder, weights, rules, false, ("encoder_weights", "encoder_remap"))
}

/// The encoder with its dense decoder.
#[derive(Module, Debug)]
pub struct VitSegmenter<B: Backend> {
    /// The encoder.
    pub encoder: Vit<B>,
    decoder: Decoder<B>,
    freeze: bool,
    patch: usize,
    channels: usize,
}

impl<B: Backend> VitSegmenter<B> {
    /// Per-pixel outputs `(n, classes, h, w)` for inputs `(n, channels × frames, h, w)` whose sides are multiples
    /// of the patch, without coordinates.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_with(input, &Coords::default())
    }

    /// [`VitSegmenter::forward`] with each sample's dates and location for the encoder's coordinate encodings.
    pub fn forward_with(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 4> {
        let [batch, stacked, height, width] = input.dims();
        let frames = stacked / self.channels.max(1);
        let input = input.reshape([batch, self.channels, frames, height, width]);
        // A frozen encoder runs untracked (its parameters need no gradient): no autodiff graph is kept for it, as
        // PyTorch does for parameters with `requires_grad = False`.
        let tokens = if self.freeze {
            self.encoder.clone().no_grad().tokens(input, coords)
        } else {
            self.encoder.tokens(input, coords)
        };
        let (rows, cols) = (height / self.patch, width / self.patch);
        let maps = self
            .decoder
            .blocks()
            .iter()
            .map(|&i| {
                let map = token_map(tokens[i.min(tokens.len() - 1)].clone(), rows, cols);
                if self.freeze { map.detach() } else { map }
            })
            .collect();
        let out = self.decoder.forward(maps);
        let [_, _, r, c] = out.dims();
        if [r, c] == [height, width] {
            out
        } else {
            interpolate(out, [height, width], InterpolateOptions::new(InterpolateMode::Bilinear))
        }
    }
}

/// A block's tokens `(n, 1 + frames·rows·cols, d)` as a feature map `(n, d·frames, rows, cols)`: the cls token
/// dropped, each frame's tokens folded into the channels (frame-major).
pub(crate) fn token_map<B: Backend>(tokens: Tensor<B, 3>, rows: usize, cols: usize) -> Tensor<B, 4> {
    let [n, count, d] = tokens.dims();
    let frames = (count - 1) / (rows * cols).max(1);
    tokens.slice([0..n, 1..count, 0..d]).reshape([n, frames, rows, cols, d]).permute([0, 1, 4, 2, 3]).reshape([
        n,
        frames * d,
        rows,
        cols,
    ])
}
