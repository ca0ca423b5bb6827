//! Dense decoders over a ViT's feature maps (TerraTorch's decoder factory, in spirit): [`VitDecoder::Fcn`] — the last
//! block doubled in size by 3×3 convolution, ReLU and nearest upsampling until the patch is undone — and
//! [`VitDecoder::Upernet`] — four blocks made a pyramid (×4 and ×2 by transposed convolutions, ×1, ×½ by pooling,
//! as TerraTorch's `LearnedInterpolateToPyramidal`), then UPerNet: pyramid pooling (1, 2, 3, 6) on the coarsest
//! level, lateral 1×1 convolutions, a top-down path, 3×3 smoothing, every level upsampled to the finest and fused
//! by a 3×3 convolution. A 1×1 head gives the outputs; the caller resizes them to the input.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{adaptive_avg_pool2d, interpolate};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

/// Which decoder a dense ViT network uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitDecoder {
    /// Progressive upsampling of the last block.
    #[default]
    Fcn,
    /// A feature pyramid over four blocks with pyramid pooling.
    Upernet,
}

/// Pooled grid sizes of the pyramid pooling module.
const POOL_SCALES: [usize; 4] = [1, 2, 3, 6];

/// A decoder with its head.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per network
pub(crate) enum Decoder<B: Backend> {
    /// See [`VitDecoder::Fcn`].
    Fcn(Fcn<B>),
    /// See [`VitDecoder::Upernet`].
    Upernet(UperNet<B>),
}

/// Progressive upsampling.
#[derive(Module, Debug)]
pub(crate) struct Fcn<B: Backend> {
    up: Vec<Conv2d<B>>,
    head: Conv2d<B>,
    block: usize,
}

/// The pyramid and UPerNet.
#[derive(Module, Debug)]
pub(crate) struct UperNet<B: Backend> {
    /// Level 0: two ×2 transposed convolutions; level 1: one.
    up4: Vec<ConvTranspose2d<B>>,
    up2: ConvTranspose2d<B>,
    ppm: Vec<Conv2d<B>>,
    bottleneck: Conv2d<B>,
    lateral: Vec<Conv2d<B>>,
    smooth: Vec<Conv2d<B>>,
    fuse: Conv2d<B>,
    head: Conv2d<B>,
    blocks: Vec<usize>,
}

fn conv<B: Backend>(from: usize, to: usize, k: usize, device: &B::Device) -> Conv2d<B> {
    let config = Conv2dConfig::new([from, to], [k, k]);
    if k > 1 { config.with_padding(PaddingConfig2d::Same) } else { config }.init(device)
}

fn up2<B: Backend>(from: usize, to: usize, device: &B::Device) -> ConvTranspose2d<B> {
    ConvTranspose2dConfig::new([from, to], [2, 2]).with_stride([2, 2]).init(device)
}

fn resize<B: Backend>(x: Tensor<B, 4>, size: [usize; 2]) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    if [h, w] == size { x } else { interpolate(x, size, InterpolateOptions::new(InterpolateMode::Bilinear)) }
}

impl<B: Backend> Decoder<B> {
    /// A decoder of `kind` over feature maps of `width` channels, `channels` wide, undoing a `patch`-pixel patch
    /// (the FCN), reading `blocks`, with `outputs` values per pixel.
    pub(crate) fn new(
        kind: VitDecoder,
        width: usize,
        channels: usize,
        patch: usize,
        blocks: &[usize],
        outputs: usize,
        device: &B::Device,
    ) -> Self {
        match kind {
            VitDecoder::Fcn => {
                let mut up = Vec::new();
                let mut size = 1;
                while size < patch {
                    up.push(conv(if up.is_empty() { width } else { channels }, channels, 3, device));
                    size *= 2;
                }
                let last = if up.is_empty() { width } else { channels };
                Self::Fcn(Fcn { up, head: conv(last, outputs, 1, device), block: blocks[0] })
            }
            VitDecoder::Upernet => {
                let c = channels;
                Self::Upernet(UperNet {
                    up4: vec![up2(width, width, device), up2(width, width, device)],
                    up2: up2(width, width, device),
                    ppm: POOL_SCALES.iter().map(|_| conv(width, c, 1, device)).collect(),
                    bottleneck: conv(width + POOL_SCALES.len() * c, c, 3, device),
                    lateral: (0..3).map(|_| conv(width, c, 1, device)).collect(),
                    smooth: (0..3).map(|_| conv(c, c, 3, device)).collect(),
                    fuse: conv(4 * c, c, 3, device),
                    head: conv(c, outputs, 1, device),
                    blocks: blocks.to_vec(),
                })
            }
        }
    }

    /// The encoder blocks whose feature maps [`Decoder::forward`] takes, in order.
    pub(crate) fn blocks(&self) -> Vec<usize> {
        match self {
            Self::Fcn(f) => vec![f.block],
            Self::Upernet(u) => u.blocks.clone(),
        }
    }

    /// Outputs at the decoder's resolution from the feature maps of [`Decoder::blocks`].
    pub(crate) fn forward(&self, maps: Vec<Tensor<B, 4>>) -> Tensor<B, 4> {
        match self {
            Self::Fcn(f) => {
                let mut x = maps.into_iter().last().expect("one feature map");
                for conv in &f.up {
                    let [_, _, rows, cols] = x.dims();
                    x = relu(conv.forward(x));
                    x = interpolate(x, [rows * 2, cols * 2], InterpolateOptions::new(InterpolateMode::Nearest));
                }
                f.head.forward(x)
            }
            Self::Upernet(u) => u.forward(maps),
        }
    }
}

impl<B: Backend> UperNet<B> {
    fn forward(&self, maps: Vec<Tensor<B, 4>>) -> Tensor<B, 4> {
        let mut maps = maps.into_iter();
        let mut next = || maps.next().expect("four feature maps");
        // The pyramid: ×4, ×2, ×1 and ×½ of the token grid.
        let mut level0 = next();
        for up in &self.up4 {
            level0 = relu(up.forward(level0));
        }
        let level1 = relu(self.up2.forward(next()));
        let level2 = next();
        let top = next();
        let [_, _, top_rows, top_cols] = top.dims();
        let level3 = adaptive_avg_pool2d(top, [top_rows.div_ceil(2), top_cols.div_ceil(2)]);
        // Pyramid pooling on the coarsest level.
        let [_, _, r3, c3] = level3.dims();
        let mut pooled = vec![level3.clone()];
        for (scale, conv) in POOL_SCALES.iter().zip(&self.ppm) {
            let p = relu(conv.forward(adaptive_avg_pool2d(level3.clone(), [(*scale).min(r3), (*scale).min(c3)])));
            pooled.push(resize(p, [r3, c3]));
        }
        let mut laterals: Vec<Tensor<B, 4>> =
            [level0, level1, level2].into_iter().zip(&self.lateral).map(|(x, conv)| relu(conv.forward(x))).collect();
        laterals.push(relu(self.bottleneck.forward(Tensor::cat(pooled, 1))));
        // Top-down.
        for i in (1..laterals.len()).rev() {
            let [_, _, h, w] = laterals[i - 1].dims();
            let upper = resize(laterals[i].clone(), [h, w]);
            laterals[i - 1] = laterals[i - 1].clone() + upper;
        }
        let [_, _, fine_rows, fine_cols] = laterals[0].dims();
        let mut outs = Vec::with_capacity(4);
        for (i, x) in laterals.into_iter().enumerate() {
            let x = match self.smooth.get(i) {
                Some(conv) => relu(conv.forward(x)),
                None => x,
            };
            outs.push(resize(x, [fine_rows, fine_cols]));
        }
        self.head.forward(relu(self.fuse.forward(Tensor::cat(outs, 1))))
    }
}
