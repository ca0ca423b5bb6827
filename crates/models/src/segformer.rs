//! [`SegFormer`]: the Mix Transformer encoder and all-MLP decoder of SegFormer (Xie et al. 2021), as Hugging Face
//! `transformers` builds it — so its checkpoints load by name (`segformer.stages.0.blocks.1.attention.q_proj.weight`,
//! `decode_head.linear_fuse.weight`, …).
//!
//! Encoder: four stages, each an overlapping patch embedding (a strided convolution, 7×7 stride 4 then 3×3 stride 2,
//! and a LayerNorm), transformer blocks (LayerNorm, efficient self-attention whose keys and values come from the
//! tokens reduced by a `sr × sr` strided convolution and a LayerNorm, LayerNorm, Mix-FFN: a linear layer, a 3×3
//! depth-wise convolution, GELU, a linear layer) and a final LayerNorm. Decoder: each stage's features projected to
//! `decoder_dim` channels, upsampled bilinearly to 1/4 of the input, concatenated deepest first, fused by a 1×1
//! convolution with batch normalisation and ReLU, and classified by a 1×1 convolution: logits at 1/4 resolution,
//! which [`SegFormer::forward`] upsamples bilinearly to the input's size (for the loss and for prediction).

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, relu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::batch_norm::RowBatchNorm;
use crate::error::{ConfigError, Result};

/// SegFormer's settings, in `transformers`' `SegformerConfig` terms (defaults: MiT-B0).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegFormerConfig {
    /// Input channels (64 for AlphaEarth embeddings, 128 for TESSERA's, 3 for RGB).
    pub in_channels: usize,
    /// Output classes.
    pub classes: usize,
    /// Channels of each stage.
    #[serde(default = "b0_hidden")]
    pub hidden_sizes: [usize; 4],
    /// Transformer blocks per stage.
    #[serde(default = "b0_depths")]
    pub depths: [usize; 4],
    /// Attention heads per stage.
    #[serde(default = "b0_heads")]
    pub num_attention_heads: [usize; 4],
    /// Sequence-reduction ratio of each stage's attention (1: none).
    #[serde(default = "default_sr")]
    pub sr_ratios: [usize; 4],
    /// Patch-embedding kernel of each stage.
    #[serde(default = "default_patch_sizes")]
    pub patch_sizes: [usize; 4],
    /// Patch-embedding stride of each stage.
    #[serde(default = "default_strides")]
    pub strides: [usize; 4],
    /// Mix-FFN hidden channels per stage channel.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: usize,
    /// Channels of the decoder.
    #[serde(default = "b0_decoder")]
    pub decoder_hidden_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Pretrained weights (safetensors under `transformers`' names), loaded when a run starts; a checkpoint for
    /// another channel count or class count loads with `partial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// Renames of the checkpoint's tensors before matching, `RE=REPLACEMENT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remap: Vec<String>,
    /// Load the tensors `weights` has, leaving the model's others initialised (an encoder-only checkpoint).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

fn b0_hidden() -> [usize; 4] {
    [32, 64, 160, 256]
}
fn b0_depths() -> [usize; 4] {
    [2, 2, 2, 2]
}
fn b0_heads() -> [usize; 4] {
    [1, 2, 5, 8]
}
fn default_sr() -> [usize; 4] {
    [8, 4, 2, 1]
}
fn default_patch_sizes() -> [usize; 4] {
    [7, 3, 3, 3]
}
fn default_strides() -> [usize; 4] {
    [4, 2, 2, 2]
}
fn default_mlp_ratio() -> usize {
    4
}
fn b0_decoder() -> usize {
    256
}
fn default_eps() -> f64 {
    1e-5
}

impl SegFormerConfig {
    /// MiT-B0 with the all-MLP decoder (3.7 M parameters for 3 channels and 150 classes).
    pub fn b0(in_channels: usize, classes: usize) -> Self {
        Self {
            in_channels,
            classes,
            hidden_sizes: b0_hidden(),
            depths: b0_depths(),
            num_attention_heads: b0_heads(),
            sr_ratios: default_sr(),
            patch_sizes: default_patch_sizes(),
            strides: default_strides(),
            mlp_ratio: default_mlp_ratio(),
            decoder_hidden_size: b0_decoder(),
            layer_norm_eps: default_eps(),
            weights: None,
            remap: Vec::new(),
            partial: false,
        }
    }

    /// MiT-B1: B0's depths and heads with twice its channels, a 256-channel decoder.
    pub fn b1(in_channels: usize, classes: usize) -> Self {
        Self { hidden_sizes: [64, 128, 320, 512], ..Self::b0(in_channels, classes) }
    }

    /// Window sides should be multiples of this (the logits are at 1/4 of the input).
    pub fn size_multiple(&self) -> usize {
        self.strides[0]
    }

    /// Names the setting that cannot build a network.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 || self.classes == 0 {
            return Err(ConfigError::new("in_channels", "a network needs one input channel and one class or more"));
        }
        for i in 0..4 {
            let (d, h) = (self.hidden_sizes[i], self.num_attention_heads[i]);
            if d == 0 || h == 0 || d % h != 0 {
                return Err(ConfigError::new(
                    "num_attention_heads",
                    format!("stage {i}: {d} channels do not split into {h} heads"),
                ));
            }
            if self.sr_ratios[i] == 0 || self.patch_sizes[i] == 0 || self.strides[i] == 0 {
                return Err(ConfigError::new(
                    "sr_ratios",
                    format!("stage {i}: ratios, kernels and strides are at least 1"),
                ));
            }
        }
        if self.decoder_hidden_size == 0 || self.mlp_ratio == 0 {
            return Err(ConfigError::new("decoder_hidden_size", "must be at least 1"));
        }
        Ok(())
    }

    /// The network with `weights` loaded when given: how a training run starts.
    pub fn init_pretrained<B: Backend>(&self, device: &B::Device) -> Result<SegFormer<B>> {
        let model = self.init::<B>(device)?;
        crate::weights::pretrained(model, self.weights.as_deref(), &self.remap, self.partial, ("weights", "remap"))
    }

    /// The network, randomly initialised.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SegFormer<B>> {
        self.validate()?;
        let eps = self.layer_norm_eps;
        let norm = |d: usize| LayerNormConfig::new(d).with_epsilon(eps).init(device);
        let mut stages = Vec::with_capacity(4);
        let mut channels = self.in_channels;
        for i in 0..4 {
            let d = self.hidden_sizes[i];
            let (k, s, sr) = (self.patch_sizes[i], self.strides[i], self.sr_ratios[i]);
            let hidden = d * self.mlp_ratio;
            let blocks = (0..self.depths[i])
                .map(|_| Block {
                    layernorm_before: norm(d),
                    attention: Attention {
                        q_proj: LinearConfig::new(d, d).init(device),
                        k_proj: LinearConfig::new(d, d).init(device),
                        v_proj: LinearConfig::new(d, d).init(device),
                        o_proj: LinearConfig::new(d, d).init(device),
                        sequence_reduction: (sr > 1).then(|| SequenceReduction {
                            sequence_reduction: Conv2dConfig::new([d, d], [sr, sr]).with_stride([sr, sr]).init(device),
                            layer_norm: norm(d),
                        }),
                        heads: self.num_attention_heads[i],
                    },
                    layernorm_after: norm(d),
                    mlp: MixFfn {
                        fc1: LinearConfig::new(d, hidden).init(device),
                        dwconv: DepthWise {
                            dwconv: Conv2dConfig::new([hidden, hidden], [3, 3])
                                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                                .with_groups(hidden)
                                .init(device),
                        },
                        fc2: LinearConfig::new(hidden, d).init(device),
                    },
                })
                .collect();
            stages.push(Stage {
                patch_embeddings: PatchEmbeddings {
                    proj: Conv2dConfig::new([channels, d], [k, k])
                        .with_stride([s, s])
                        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                        .init(device),
                    layer_norm: norm(d),
                },
                blocks,
                layer_norm: norm(d),
            });
            channels = d;
        }
        let dec = self.decoder_hidden_size;
        Ok(SegFormer {
            segformer: Encoder { stages },
            decode_head: DecodeHead {
                linear_projections: self
                    .hidden_sizes
                    .iter()
                    .map(|&d| Projection { proj: LinearConfig::new(d, dec).init(device) })
                    .collect(),
                linear_fuse: Conv2dConfig::new([4 * dec, dec], [1, 1]).with_bias(false).init(device),
                batch_norm: RowBatchNorm::new(dec, device),
                classifier: Conv2dConfig::new([dec, self.classes], [1, 1]).init(device),
            },
        })
    }
}

/// SegFormer: `(n, in_channels, h, w)` → class logits.
#[derive(Module, Debug)]
pub struct SegFormer<B: Backend> {
    /// The Mix Transformer encoder.
    pub segformer: Encoder<B>,
    /// The all-MLP decoder.
    pub decode_head: DecodeHead<B>,
}

/// The Mix Transformer encoder's four stages.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// The stages, 1/4 to 1/32 of the input.
    pub stages: Vec<Stage<B>>,
}

/// One encoder stage.
#[derive(Module, Debug)]
pub struct Stage<B: Backend> {
    patch_embeddings: PatchEmbeddings<B>,
    blocks: Vec<Block<B>>,
    layer_norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
struct PatchEmbeddings<B: Backend> {
    proj: Conv2d<B>,
    layer_norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
struct Block<B: Backend> {
    layernorm_before: LayerNorm<B>,
    attention: Attention<B>,
    layernorm_after: LayerNorm<B>,
    mlp: MixFfn<B>,
}

#[derive(Module, Debug)]
struct Attention<B: Backend> {
    q_proj: Linear<B>,
    k_proj: Linear<B>,
    v_proj: Linear<B>,
    o_proj: Linear<B>,
    sequence_reduction: Option<SequenceReduction<B>>,
    heads: usize,
}

#[derive(Module, Debug)]
struct SequenceReduction<B: Backend> {
    sequence_reduction: Conv2d<B>,
    layer_norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
struct MixFfn<B: Backend> {
    fc1: Linear<B>,
    dwconv: DepthWise<B>,
    fc2: Linear<B>,
}

#[derive(Module, Debug)]
struct DepthWise<B: Backend> {
    dwconv: Conv2d<B>,
}

/// The all-MLP decoder.
#[derive(Module, Debug)]
pub struct DecodeHead<B: Backend> {
    linear_projections: Vec<Projection<B>>,
    linear_fuse: Conv2d<B>,
    batch_norm: RowBatchNorm<B>,
    classifier: Conv2d<B>,
}

#[derive(Module, Debug)]
struct Projection<B: Backend> {
    proj: Linear<B>,
}

/// `(n, c, h, w)` → tokens `(n, h·w, c)`.
fn tokens<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    x.flatten::<3>(2, 3).swap_dims(1, 2)
}

/// Tokens `(n, rows·cols, c)` → `(n, c, rows, cols)`.
fn image<B: Backend>(sequence: Tensor<B, 3>, rows: usize, cols: usize) -> Tensor<B, 4> {
    let [batch, _, channels] = sequence.dims();
    sequence.swap_dims(1, 2).reshape([batch, channels, rows, cols])
}

impl<B: Backend> Attention<B> {
    #[allow(clippy::many_single_char_names)] // the attention paper's names: q, k, v, n, l, c, d, h, w
    fn forward(&self, x: Tensor<B, 3>, h: usize, w: usize) -> Tensor<B, 3> {
        let [n, l, c] = x.dims();
        let d = c / self.heads;
        let split = |t: Tensor<B, 3>| {
            let len = t.dims()[1];
            t.reshape([n, len, self.heads, d]).swap_dims(1, 2)
        };
        let q = split(self.q_proj.forward(x.clone()));
        let kv = match &self.sequence_reduction {
            Some(sr) => sr.layer_norm.forward(tokens(sr.sequence_reduction.forward(image(x, h, w)))),
            None => x,
        };
        let k = split(self.k_proj.forward(kv.clone()));
        let v = split(self.v_proj.forward(kv));
        let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
        let context = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([n, l, c]);
        self.o_proj.forward(context)
    }
}

impl<B: Backend> MixFfn<B> {
    fn forward(&self, x: Tensor<B, 3>, h: usize, w: usize) -> Tensor<B, 3> {
        let hidden = self.fc1.forward(x);
        let hidden = tokens(self.dwconv.dwconv.forward(image(hidden, h, w)));
        self.fc2.forward(gelu(hidden))
    }
}

impl<B: Backend> SegFormer<B> {
    /// Each stage's features `(n, c_i, h_i, w_i)`, 1/4 to 1/32 of the input.
    pub fn features(&self, input: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let mut x = input;
        let mut out = Vec::with_capacity(self.segformer.stages.len());
        for stage in &self.segformer.stages {
            let embedded = stage.patch_embeddings.proj.forward(x);
            let [_, _, h, w] = embedded.dims();
            let mut t = stage.patch_embeddings.layer_norm.forward(tokens(embedded));
            for block in &stage.blocks {
                t = t.clone() + block.attention.forward(block.layernorm_before.forward(t), h, w);
                t = t.clone() + block.mlp.forward(block.layernorm_after.forward(t), h, w);
            }
            x = image(stage.layer_norm.forward(t), h, w);
            out.push(x.clone());
        }
        out
    }

    /// Class logits at 1/4 of the input's resolution, as SegFormer outputs them.
    pub fn forward_quarter(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let features = self.features(input);
        let [_, _, h, w] = features[0].dims();
        let head = &self.decode_head;
        let mut projected: Vec<Tensor<B, 4>> = features
            .into_iter()
            .zip(&head.linear_projections)
            .map(|(f, p)| {
                let [_, _, fh, fw] = f.dims();
                let x = image(p.proj.forward(tokens(f)), fh, fw);
                if [fh, fw] == [h, w] { x } else { resize(x, [h, w]) }
            })
            .collect();
        projected.reverse();
        let fused = head.linear_fuse.forward(Tensor::cat(projected, 1));
        head.classifier.forward(relu(head.batch_norm.forward(fused)))
    }

    /// Class logits `(n, classes, h, w)`: the 1/4-resolution logits upsampled bilinearly to the input's size.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = input.dims();
        let logits = self.forward_quarter(input);
        if logits.dims()[2..] == [h, w] { logits } else { resize(logits, [h, w]) }
    }
}

/// Bilinear resizing with pixel-area alignment (PyTorch's `align_corners=False`).
fn resize<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    interpolate(x, size, InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false))
}
