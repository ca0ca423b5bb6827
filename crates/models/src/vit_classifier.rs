//! [`VitClassifier`]: a ViT encoder ([`crate::Vit`]) with a pooled linear head, one logit per class — the
//! (multi-label) scene classification of TerraTorch's classification tasks. The last block's patch tokens are
//! averaged (or the cls token taken) and projected; with `freeze` only the head learns.

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{ConfigError, Result};
use crate::vit::{Coords, Vit, VitConfig};
use crate::vit_segmenter::pretrained_encoder;

/// How the classifier pools the last block's tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitPool {
    /// The mean of the patch tokens.
    #[default]
    Mean,
    /// The cls token.
    Cls,
}

/// A ViT encoder with a pooled linear head.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitClassifierConfig {
    /// The encoder, in TerraTorch's `PrithviViT` argument names.
    pub encoder: VitConfig,
    /// Output classes (labels of a multi-label task).
    pub classes: usize,
    /// Token pooling.
    #[serde(default)]
    pub pool: VitPool,
    /// Train the head only; the encoder keeps its (pretrained) weights.
    #[serde(default)]
    pub freeze: bool,
    /// Pretrained encoder weights (safetensors under TerraTorch's names), loaded when a run starts.
    #[serde(default)]
    pub encoder_weights: Option<PathBuf>,
    /// Renames of the checkpoint's tensors before matching, `RE=REPLACEMENT`.
    #[serde(default)]
    pub encoder_remap: Vec<String>,
}

impl VitClassifierConfig {
    /// Input channels: the encoder's channels times its frames.
    pub fn in_channels(&self) -> usize {
        self.encoder.in_chans * self.encoder.num_frames.max(1)
    }

    /// Input sides must be multiples of the patch.
    pub fn size_multiple(&self) -> usize {
        self.encoder.patch().map_or(1, |[_, h, w]| h.max(w))
    }

    /// The classifier with its encoder from `encoder_weights` when given: how a training run starts.
    pub fn init_pretrained<B: Backend>(&self, device: &B::Device) -> Result<VitClassifier<B>> {
        let mut model = self.init::<B>(device)?;
        model.encoder = pretrained_encoder(model.encoder, self.encoder_weights.as_deref(), &self.encoder_remap)?;
        Ok(model)
    }

    /// The classifier, randomly initialised.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<VitClassifier<B>> {
        if self.classes == 0 {
            return Err(ConfigError::new("classes", "a classifier needs one class or more"));
        }
        Ok(VitClassifier {
            encoder: self.encoder.init(device)?,
            head: LinearConfig::new(self.encoder.embed_dim, self.classes).init(device),
            freeze: self.freeze,
            cls: self.pool == VitPool::Cls,
            channels: self.encoder.in_chans,
        })
    }
}

/// The classifier.
#[derive(Module, Debug)]
pub struct VitClassifier<B: Backend> {
    /// The encoder.
    pub encoder: Vit<B>,
    head: Linear<B>,
    freeze: bool,
    cls: bool,
    channels: usize,
}

impl<B: Backend> VitClassifier<B> {
    /// Logits `(n, classes)` for inputs `(n, channels × frames, h, w)` whose sides are multiples of the patch.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_with(input, &Coords::default())
    }

    /// [`VitClassifier::forward`] with each sample's dates and location.
    pub fn forward_with(&self, input: Tensor<B, 4>, coords: &Coords) -> Tensor<B, 2> {
        let [batch, stacked, height, width] = input.dims();
        let frames = stacked / self.channels.max(1);
        let input = input.reshape([batch, self.channels, frames, height, width]);
        let tokens = if self.freeze {
            self.encoder.clone().no_grad().tokens(input, coords)
        } else {
            self.encoder.tokens(input, coords)
        };
        let last = tokens.into_iter().last().expect("an encoder has blocks");
        let [n, count, d] = last.dims();
        let mut pooled = if self.cls {
            last.slice([0..n, 0..1, 0..d]).reshape([n, d])
        } else {
            last.slice([0..n, 1..count, 0..d]).mean_dim(1).reshape([n, d])
        };
        if self.freeze {
            pooled = pooled.detach();
        }
        self.head.forward(pooled)
    }
}
