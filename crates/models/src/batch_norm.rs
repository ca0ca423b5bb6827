//! [`RowBatchNorm`]: batch normalisation computed on an `(n·c, h·w)` view with per-row scalars.
//!
//! It gives burn's `BatchNorm` results (same parameters, running statistics, momentum and train/eval switch) but
//! never broadcasts a `(1, c, 1, 1)` tensor against `(n, c, h, w)`: on burn's CPU backend that broadcast misses
//! the fast paths and costs 15–20× a same-shape operation, while a per-row scalar against a row-major matrix is one
//! of them. Statistics are reduced per row first, then per channel; the normalisation and the affine transform are
//! folded into one scale and one shift per row.

use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Batch normalisation over `(n, channels, h, w)`, with burn `BatchNorm`'s parameters and behaviour.
#[derive(Module, Debug)]
pub struct RowBatchNorm<B: Backend> {
    /// Scale per channel.
    pub gamma: Param<Tensor<B, 1>>,
    /// Shift per channel.
    pub beta: Param<Tensor<B, 1>>,
    /// Running mean per channel (used in inference).
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (biased) variance per channel (used in inference).
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Weight of the new batch in the running statistics.
    pub momentum: f64,
    /// Added to the variance.
    pub epsilon: f64,
}

impl<B: Backend> RowBatchNorm<B> {
    /// A layer for `channels` channels: gamma 1, beta 0, running mean 0 and variance 1, momentum 0.1, epsilon 1e-5
    /// (burn's and PyTorch's defaults).
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalises `x` with the batch's statistics while training (autodiff on), with the running ones otherwise.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = input.dims();
        let device = input.device();
        let rows = input.reshape([n * c, h * w]);
        let per_row = |channel: Tensor<B, 2>| channel.repeat_dim(0, n).reshape([n * c, 1]);
        let (centered, var) = if B::ad_enabled(&device) {
            // Per-row means, then per channel (rows of one channel have equal length, so this is the mean).
            let mean = rows.clone().mean_dim(1).reshape([n, c]).mean_dim(0);
            let centered = rows - per_row(mean.clone());
            let var = centered.clone().square().mean_dim(1).reshape([n, c]).mean_dim(0);
            let keep = 1.0 - self.momentum;
            let running_mean = self.running_mean.value_sync().to_device(&device);
            let running_var = self.running_var.value_sync().to_device(&device);
            self.running_mean.update((running_mean * keep + mean.detach().reshape([c]) * self.momentum).detach());
            self.running_var.update((running_var * keep + var.clone().detach().reshape([c]) * self.momentum).detach());
            (centered, var)
        } else {
            let mean = self.running_mean.value().to_device(&device).reshape([1, c]);
            let var = self.running_var.value().to_device(&device).reshape([1, c]);
            (rows - per_row(mean), var)
        };
        let scale = self.gamma.val().reshape([1, c]) / (var + self.epsilon).sqrt();
        let out = centered * per_row(scale) + per_row(self.beta.val().reshape([1, c]));
        out.reshape([n, c, h, w])
    }
}
