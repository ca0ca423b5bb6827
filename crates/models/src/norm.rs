//! Normalisation layers chosen by configuration.

use burn::module::Module;
use burn::nn::{GroupNorm, GroupNormConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::batch_norm::RowBatchNorm;
use crate::error::{ConfigError, Result};

/// Which normalisation a network uses after each convolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NormKind {
    /// Batch normalisation (running statistics; train/eval behaviour differs).
    #[default]
    Batch,
    /// Group normalisation with this many groups (independent of the batch size).
    Group {
        /// Channel groups; every layer's width must be a multiple of it.
        groups: usize,
    },
}

impl NormKind {
    /// Checks that every width in `widths` can be normalised.
    pub(crate) fn validate(self, widths: &[usize]) -> Result<()> {
        if let Self::Group { groups } = self {
            if groups == 0 {
                return Err(ConfigError::new("norm.groups", "must be at least 1"));
            }
            if let Some(w) = widths.iter().find(|w| *w % groups != 0) {
                return Err(ConfigError::new("norm.groups", format!("{groups} does not divide layer width {w}")));
            }
        }
        Ok(())
    }

    /// The layer for `channels` channels.
    pub(crate) fn init<B: Backend>(self, channels: usize, device: &B::Device) -> Norm<B> {
        match self {
            Self::Batch => Norm::Batch(RowBatchNorm::new(channels, device)),
            Self::Group { groups } => Norm::Group(GroupNormConfig::new(groups, channels).init(device)),
        }
    }
}

/// A normalisation layer over `(n, channels, h, w)`.
#[derive(Module, Debug)]
pub enum Norm<B: Backend> {
    /// Batch normalisation (burn's `BatchNorm` computed on per-row scalars: [`RowBatchNorm`]).
    Batch(RowBatchNorm<B>),
    /// Group normalisation.
    Group(GroupNorm<B>),
}

impl<B: Backend> Norm<B> {
    /// Normalises `x`, shape unchanged.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Self::Batch(n) => n.forward(x),
            Self::Group(n) => n.forward(x),
        }
    }
}
