//! [`SegmentationNet`]: any per-pixel segmentation network behind one type, for code that applies a trained
//! run whatever its architecture (tiled inference, pictures).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::segmenter::Segmenter;
use crate::unet::UNet;

/// A U-Net, a segmenter, a ViT segmenter or SegFormer: `(n, in_channels, h, w)` → class logits `(n, classes, h, w)`.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per applied run, never held in bulk
pub enum SegmentationNet<B: Backend> {
    /// A U-Net.
    Unet(UNet<B>),
    /// The embedding segmenter.
    Segmenter(Segmenter<B>),
    /// A ViT encoder with an FCN decoder.
    Vit(crate::VitSegmenter<B>),
    /// SegFormer (logits upsampled to the input's size).
    SegFormer(crate::SegFormer<B>),
}

impl<B: Backend> SegmentationNet<B> {
    /// Class logits for a batch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Self::Unet(n) => n.forward(input),
            Self::Segmenter(n) => n.forward(input),
            Self::Vit(n) => n.forward(input),
            Self::SegFormer(n) => n.forward(input),
        }
    }
}
