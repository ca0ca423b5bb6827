//! Optimisation helpers burn 0.21 lacks: a warm-up + cosine learning-rate schedule that is a pure function of the
//! step (so a resumed run needs only the step), and gradient clipping by the global norm over every parameter
//! (burn's own clipping acts on each tensor alone).

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

/// Linear warm-up from `base_lr / warmup_steps` to `base_lr` over `warmup_steps`, then a cosine decay to
/// `min_lr` at `total_steps` (held there after).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WarmupCosine {
    /// Peak learning rate (already multiplied by the device count under `--lr-scaling`).
    pub base_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Final learning rate.
    pub min_lr: f64,
}

impl WarmupCosine {
    /// The learning rate of step `step` (from 0).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// Scales `grads` so that their global L2 norm over every float parameter of `model` is at most `max_norm`;
/// returns the norm before clipping. Parameters are visited in the module's fixed order, so the result is
/// deterministic.
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let mut norm = SquaredNorm::<B> { grads, sum: 0.0, _backend: std::marker::PhantomData };
    model.visit(&mut norm);
    let total = norm.sum.sqrt();
    if total > max_norm && total > 0.0 {
        let mut scale = Scale::<B> { grads, factor: max_norm / total, _backend: std::marker::PhantomData };
        model.visit(&mut scale);
    }
    total
}

struct SquaredNorm<'a, B> {
    grads: &'a GradientsParams,
    sum: f64,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.sum += g.powi_scalar(2).sum().into_scalar().elem::<f64>();
        }
    }
}

struct Scale<'a, B> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.factor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_then_cosine_down_to_the_floor() {
        let s = WarmupCosine { base_lr: 1e-3, warmup_steps: 10, total_steps: 110, min_lr: 1e-5 };
        assert!((s.lr(0) - 1e-4).abs() < 1e-15 && (s.lr(9) - 1e-3).abs() < 1e-15);
        assert!((s.lr(10) - 1e-3).abs() < 1e-15, "the peak right after warm-up");
        assert!((s.lr(60) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-12, "half way down at mid-decay");
        assert!((s.lr(110) - 1e-5).abs() < 1e-15 && (s.lr(500) - 1e-5).abs() < 1e-15);
        assert!((10..110).all(|t| s.lr(t + 1) <= s.lr(t)), "decays monotonically");
    }
}
