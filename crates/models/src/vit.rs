//! A ViT encoder with Prithvi-EO semantics (TerraTorch's `PrithviViT`): a 3D patch embedding over (time, y, x) — a
//! Conv3d of kernel = stride = patch, written as a patch reshape and one matrix product —, fixed 3D sin-cos position
//! embeddings, optional temporal (year, day-of-year) and location (lat, lon) sin-cos encodings with learnable
//! scales, a cls token, pre-norm transformer blocks (LayerNorm, multi-head attention with one qkv projection, GELU
//! MLP) and a final LayerNorm. Module names follow TerraTorch's, so its checkpoints load by name
//! ([`crate::load_safetensors`]). Backend-generic; nothing assumes the tiny sizes.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{ConfigError, Result};

/// An integer or a list, as TerraTorch's configs write sizes (`img_size: 224` or `[224, 224]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value for every axis.
    One(usize),
    /// One value per axis.
    Many(Vec<usize>),
}

/// The encoder's configuration, in TerraTorch's `PrithviViT` argument names (its `config.json` reads as is).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VitConfig {
    /// Input height and width (`224` or `[h, w]`).
    pub img_size: OneOrMany,
    /// Patch size (`16` for `(1, 16, 16)`, or `[t, h, w]`).
    pub patch_size: OneOrMany,
    /// Frames (dates) per sample.
    #[serde(default = "one")]
    pub num_frames: usize,
    /// Input channels (bands).
    pub in_chans: usize,
    /// Token width.
    pub embed_dim: usize,
    /// Transformer blocks.
    pub depth: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP width over the token width.
    #[serde(default = "four")]
    pub mlp_ratio: f64,
    /// `time` and/or `location`: which coordinate encodings are added.
    #[serde(default)]
    pub coords_encoding: Vec<String>,
    /// Whether the coordinate encodings' scales are learnt (initialised to 0.1), else fixed at 1.
    #[serde(default)]
    pub coords_scale_learn: bool,
}

fn one() -> usize {
    1
}

fn four() -> f64 {
    4.0
}

impl VitConfig {
    /// The patch size as (t, h, w).
    pub fn patch(&self) -> Result<[usize; 3]> {
        match &self.patch_size {
            OneOrMany::One(p) => Ok([1, *p, *p]),
            OneOrMany::Many(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
            OneOrMany::Many(v) => Err(ConfigError::new("patch_size", format!("{v:?}: give one size or [t, h, w]"))),
        }
    }

    /// The input size as (h, w).
    pub fn image(&self) -> Result<[usize; 2]> {
        match &self.img_size {
            OneOrMany::One(s) => Ok([*s, *s]),
            OneOrMany::Many(v) if v.len() == 2 => Ok([v[0], v[1]]),
            OneOrMany::Many(v) => Err(ConfigError::new("img_size", format!("{v:?}: give one size or [h, w]"))),
        }
    }

    /// Patches along (t, h, w) for the configured input.
    pub fn grid(&self) -> Result<[usize; 3]> {
        let [pt, ph, pw] = self.patch()?;
        let [h, w] = self.image()?;
        Ok([self.num_frames / pt, h / ph, w / pw])
    }

    fn check(&self) -> Result<()> {
        let [pt, ph, pw] = self.patch()?;
        let [h, w] = self.image()?;
        if pt == 0 || ph == 0 || pw == 0 || self.num_frames < pt || h < ph || w < pw {
            return Err(ConfigError::new("patch_size", "is zero or larger than the input"));
        }
        if self.depth == 0 {
            return Err(ConfigError::new("depth", "an encoder needs one block or more"));
        }
        if self.embed_dim == 0 || self.num_heads == 0 || !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(ConfigError::new(
                "num_heads",
                format!("{}: the token width {} must be a multiple of it", self.num_heads, self.embed_dim),
            ));
        }
        if let Some(other) = self.coords_encoding.iter().find(|c| !matches!(c.as_str(), "time" | "location")) {
            return Err(ConfigError::new("coords_encoding", format!("`{other}`: expected time and/or location")));
        }
        if self.time_encoding() && pt != 1 {
            return Err(ConfigError::new("patch_size", "a temporal encoding needs a patch of 1 frame"));
        }
        Ok(())
    }

    fn time_encoding(&self) -> bool {
        self.coords_encoding.iter().any(|c| c == "time")
    }

    fn location_encoding(&self) -> bool {
        self.coords_encoding.iter().any(|c| c == "location")
    }

    /// The encoder, with the fixed position embedding computed and other weights initialised.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Vit<B>> {
        self.check()?;
        let d = self.embed_dim;
        let [pt, ph, pw] = self.patch()?;
        let grid = self.grid()?;
        let hidden = (d as f64 * self.mlp_ratio).round() as usize;
        let scale = |learn: bool| ScaleEncoder {
            scale: Param::from_tensor(Tensor::from_floats([if learn { 0.1 } else { 1.0 }], device)),
        };
        let pos = sincos_3d(d, grid);
        Ok(Vit {
            patch_embed: PatchEmbed {
                proj: Conv3dPatch {
                    weight: Param::from_tensor(Tensor::random(
                        [d, self.in_chans, pt, ph, pw],
                        burn::tensor::Distribution::Normal(0.0, 0.02),
                        device,
                    )),
                    bias: Param::from_tensor(Tensor::zeros([d], device)),
                },
            },
            temporal_embed_enc: self.time_encoding().then(|| scale(self.coords_scale_learn)),
            location_embed_enc: self.location_encoding().then(|| scale(self.coords_scale_learn)),
            cls_token: Param::from_tensor(Tensor::zeros([1, 1, d], device)),
            pos_embed: Param::from_tensor(Tensor::from_data(
                TensorData::new(pos, [1, grid.iter().product::<usize>() + 1, d]),
                device,
            )),
            blocks: (0..self.depth)
                .map(|_| Block {
                    norm1: LayerNormConfig::new(d).with_epsilon(1e-5).init(device),
                    attn: Attention {
                        qkv: LinearConfig::new(d, 3 * d).init(device),
                        proj: LinearConfig::new(d, d).init(device),
                        heads: self.num_heads,
                    },
                    norm2: LayerNormConfig::new(d).with_epsilon(1e-5).init(device),
                    mlp: Mlp {
                        fc1: LinearConfig::new(d, hidden).init(device),
                        fc2: LinearConfig::new(hidden, d).init(device),
                    },
                })
                .collect(),
            norm: LayerNormConfig::new(d).with_epsilon(1e-5).init(device),
            patch_t: pt,
            patch_h: ph,
            patch_w: pw,
            grid_t: grid[0],
            grid_h: grid[1],
            grid_w: grid[2],
        })
    }
}

/// A Conv3d of kernel = stride = patch, named as PyTorch's (`weight` (D, C, t, h, w), `bias`).
#[derive(Module, Debug)]
pub struct Conv3dPatch<B: Backend> {
    /// (embed, channels, t, h, w).
    pub weight: Param<Tensor<B, 5>>,
    /// (embed).
    pub bias: Param<Tensor<B, 1>>,
}

/// The patch embedding (`patch_embed.proj`).
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// The projection.
    pub proj: Conv3dPatch<B>,
}

/// A learnable (or fixed) scale of a coordinate encoding.
#[derive(Module, Debug)]
pub struct ScaleEncoder<B: Backend> {
    /// The scale.
    pub scale: Param<Tensor<B, 1>>,
}

/// Multi-head self-attention with one qkv projection (timm's `Attention`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Queries, keys and values in one projection.
    pub qkv: Linear<B>,
    /// The output projection.
    pub proj: Linear<B>,
    heads: usize,
}

/// The MLP of a block (GELU between two projections).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// To the hidden width.
    pub fc1: Linear<B>,
    /// Back to the token width.
    pub fc2: Linear<B>,
}

/// A pre-norm transformer block (timm's `Block`).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Before attention.
    pub norm1: LayerNorm<B>,
    /// Attention.
    pub attn: Attention<B>,
    /// Before the MLP.
    pub norm2: LayerNorm<B>,
    /// The MLP.
    pub mlp: Mlp<B>,
}

/// The encoder.
#[derive(Module, Debug)]
pub struct Vit<B: Backend> {
    /// The 3D patch embedding.
    pub patch_embed: PatchEmbed<B>,
    /// The temporal encoding's scale (with `coords_encoding` `time`).
    pub temporal_embed_enc: Option<ScaleEncoder<B>>,
    /// The location encoding's scale (with `coords_encoding` `location`).
    pub location_embed_enc: Option<ScaleEncoder<B>>,
    /// The cls token.
    pub cls_token: Param<Tensor<B, 3>>,
    /// The fixed position embedding, cls first: (1, 1 + patches, embed).
    pub pos_embed: Param<Tensor<B, 3>>,
    /// The transformer blocks.
    pub blocks: Vec<Block<B>>,
    /// The final norm (applied to the last block's output).
    pub norm: LayerNorm<B>,
    patch_t: usize,
    patch_h: usize,
    patch_w: usize,
    grid_t: usize,
    grid_h: usize,
    grid_w: usize,
}

impl<B: Backend> Attention<B> {
    fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, tokens, width] = input.dims();
        let heads = self.heads;
        let head_dim = width / heads;
        let qkv = self.qkv.forward(input).reshape([batch, tokens, 3, heads, head_dim]).permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([batch, heads, tokens, head_dim]);
        let (query, key, value) = (part(0), part(1), part(2));
        let scores = query.matmul(key.swap_dims(2, 3)).mul_scalar((head_dim as f64).powf(-0.5));
        let weights = softmax(scores, 3);
        self.proj.forward(weights.matmul(value).swap_dims(1, 2).reshape([batch, tokens, width]))
    }
}

impl<B: Backend> Block<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        let y = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(self.norm2.forward(x.clone()))));
        x + y
    }
}

/// Coordinates of a batch: (year, day of year) per frame and (lat, lon) per sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coords {
    /// (batch, frames, 2): year and day of year.
    pub temporal: Option<Vec<[f32; 2]>>,
    /// (batch, 2): latitude and longitude.
    pub location: Option<Vec<[f32; 2]>>,
}

impl<B: Backend> Vit<B> {
    /// Every block's tokens for `x` (batch, channels, frames, h, w): the cls token then the patches in (t, y, x)
    /// order, the last after the final norm (TerraTorch's `forward_features`). Another number of frames than
    /// configured gets its position embedding recomputed (as TerraTorch does); another height or width is refused,
    /// naming `img_size`.
    pub fn forward_features(&self, input: Tensor<B, 5>, coords: &Coords) -> Result<Vec<Tensor<B, 3>>> {
        let [b, _, frames, height, width] = input.dims();
        let [pt, ph, pw] = [self.patch_t, self.patch_h, self.patch_w];
        if height % ph != 0 || width % pw != 0 || height == 0 || width == 0 {
            return Err(ConfigError::new(
                "img_size",
                format!("input {height}x{width} is not a multiple of the {ph}x{pw} patch"),
            ));
        }
        if frames == 0 || frames % pt != 0 {
            return Err(ConfigError::new(
                "num_frames",
                format!("{frames} frames: a multiple of the patch's {pt} needed"),
            ));
        }
        if let Some(temporal) = &coords.temporal
            && self.temporal_embed_enc.is_some()
            && temporal.len() != b * (frames / pt)
        {
            let reason = format!("{} (year, day) pairs for {b} samples of {} frames", temporal.len(), frames / pt);
            return Err(ConfigError::new("temporal_coords", reason));
        }
        if let Some(location) = &coords.location
            && self.location_embed_enc.is_some()
            && location.len() != b
        {
            return Err(ConfigError::new(
                "location_coords",
                format!("{} (lat, lon) pairs for {b} samples", location.len()),
            ));
        }
        Ok(self.tokens(input, coords))
    }

    /// [`Vit::forward_features`] for an input whose sides are multiples of the patch (unchecked). Another grid of
    /// patches than configured gets the fixed sin-cos position embedding computed for it: the function Prithvi's
    /// buffer holds, so nothing is lost (TerraTorch interpolates the buffer bicubically instead).
    /// Coordinates of another count than the batch's are left out.
    pub(crate) fn tokens(&self, input: Tensor<B, 5>, coords: &Coords) -> Vec<Tensor<B, 3>> {
        let [b, channels, frames, height, width] = input.dims();
        let [pt, ph, pw] = [self.patch_t, self.patch_h, self.patch_w];
        let (gt, gh, gw) = (frames / pt, height / ph, width / pw);
        let device = input.device();
        let d = self.cls_token.val().dims()[2];
        let patch_len = channels * pt * ph * pw;
        let patches = input.reshape([b, channels, gt, pt, gh, ph, gw, pw]).permute([0, 2, 4, 6, 1, 3, 5, 7]).reshape([
            b,
            gt * gh * gw,
            patch_len,
        ]);
        let weight = self.patch_embed.proj.weight.val().reshape([d, patch_len]).transpose();
        let tokens = patches.matmul(weight.unsqueeze::<3>()) + self.patch_embed.proj.bias.val().reshape([1, 1, d]);
        let l = gt * gh * gw;
        // Fixed, never trained (a buffer in TerraTorch).
        let pos = if [gt, gh, gw] == [self.grid_t, self.grid_h, self.grid_w] {
            self.pos_embed.val().detach()
        } else {
            Tensor::from_data(TensorData::new(sincos_3d(d, [gt, gh, gw]), [1, l + 1, d]), &device)
        };
        let mut x = tokens + pos.clone().slice([0..1, 1..l + 1, 0..d]);
        if let (Some(encoder), Some(temporal)) = (&self.temporal_embed_enc, &coords.temporal)
            && temporal.len() == b * gt
        {
            let per_frame = gh * gw;
            let (year_dim, day_dim) = (d / 2, d - d / 2);
            let mut values = Vec::with_capacity(b * l * d);
            for sample in 0..b {
                for frame in 0..gt {
                    let [year, day] = temporal[sample * gt + frame];
                    let mut row = sincos_1d(year_dim, year);
                    row.extend(sincos_1d(day_dim, day));
                    for _ in 0..per_frame {
                        values.extend_from_slice(&row);
                    }
                }
            }
            let enc = Tensor::<B, 3>::from_data(TensorData::new(values, [b, l, d]), &device);
            x = x + enc * encoder.scale.val().reshape([1, 1, 1]);
        }
        if let (Some(encoder), Some(location)) = (&self.location_embed_enc, &coords.location)
            && location.len() == b
        {
            let mut values = Vec::with_capacity(b * d);
            for [lat, lon] in location {
                values.extend(sincos_1d(d / 2, *lat));
                values.extend(sincos_1d(d - d / 2, *lon));
            }
            let enc = Tensor::<B, 3>::from_data(TensorData::new(values, [b, 1, d]), &device);
            x = x + enc * encoder.scale.val().reshape([1, 1, 1]);
        }
        let cls = (self.cls_token.val() + pos.slice([0..1, 0..1, 0..d])).expand([b, 1, d]);
        let mut x = Tensor::cat(vec![cls, x], 1);
        let mut out = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = block.forward(x);
            out.push(x.clone());
        }
        if let Some(last) = out.last_mut() {
            *last = self.norm.forward(x);
        }
        out
    }
}

/// 1D sin-cos encoding of `pos` in `dim` values (sines then cosines), in f32 as PyTorch computes it.
fn sincos_1d(dim: usize, pos: f32) -> Vec<f32> {
    let half = dim / 2;
    let omega: Vec<f32> = (0..half).map(|i| 1.0 / 10_000_f32.powf(i as f32 / (dim as f32 / 2.0))).collect();
    let mut out: Vec<f32> = omega.iter().map(|o| (pos * o).sin()).collect();
    out.extend(omega.iter().map(|o| (pos * o).cos()));
    out
}

/// The fixed 3D sin-cos position embedding with a zero cls row: (1 + t·h·w, dim), width then height then time
/// parts (6/16, 6/16 and 4/16 of `dim`), as TerraTorch's `get_3d_sincos_pos_embed` (in f64, then f32).
fn sincos_3d(dim: usize, [t, h, w]: [usize; 3]) -> Vec<f32> {
    let part = |d: usize, p: usize| -> Vec<f64> {
        let half = d / 2;
        let omega: Vec<f64> = (0..half).map(|i| 1.0 / 10_000_f64.powf(i as f64 / (d as f64 / 2.0))).collect();
        let mut out: Vec<f64> = omega.iter().map(|o| (p as f64 * o).sin()).collect();
        out.extend(omega.iter().map(|o| (p as f64 * o).cos()));
        out
    };
    let (wd, hd) = (dim / 16 * 6, dim / 16 * 6);
    let td = dim - wd - hd;
    let mut out = vec![0.0_f32; dim];
    for ti in 0..t {
        for hi in 0..h {
            for wi in 0..w {
                out.extend(part(wd, wi).into_iter().chain(part(hd, hi)).chain(part(td, ti)).map(|v| v as f32));
            }
        }
    }
    out
}
