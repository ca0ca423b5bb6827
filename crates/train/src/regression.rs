//! Pixel regression: the masked loss on normalised targets, and RMSE, MAE and R² in the target's units beside the
//! trivial baseline (the training split's mean everywhere), with a sample of (target, prediction) pairs for the
//! scatter plot.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::config::{LossConfig, RegressionLoss};
use crate::objective::ChannelScale;

/// Pairs kept for the scatter plot, at most.
const SCATTER_PAIRS: usize = 20_000;

/// The loss of `predicted` (normalised units, `(n, 1, h, w)`) against `targets` (the target's units, NaN = no
/// value), normalised with `scale`; pixels without a value are left out. `None` when the batch has none.
pub(crate) fn regression_loss<B: Backend>(
    predicted: Tensor<B, 4>,
    targets: &ndarray::Array3<f32>,
    scale: ChannelScale,
    loss: &LossConfig,
) -> Tensor<B, 1> {
    let device = predicted.device();
    let (n, h, w) = targets.dim();
    let (mut values, mut valid) = (Vec::with_capacity(n * h * w), Vec::with_capacity(n * h * w));
    for v in targets {
        let ok = v.is_finite();
        values.push(if ok { ((f64::from(*v) - scale.mean) / scale.std) as f32 } else { 0.0 });
        valid.push(if ok { 1.0f32 } else { 0.0 });
    }
    let count = valid.iter().sum::<f32>().max(1.0);
    let target = Tensor::<B, 4>::from_data(TensorData::new(values, [n, 1, h, w]), &device);
    let valid = Tensor::<B, 4>::from_data(TensorData::new(valid, [n, 1, h, w]), &device);
    let diff = (predicted - target) * valid;
    let per_pixel = match loss.regression {
        RegressionLoss::Mse => diff.clone() * diff,
        RegressionLoss::Huber => {
            let delta = loss.huber_delta.unwrap_or(1.0) as f32;
            let a = diff.abs();
            let quadratic = a.clone().clamp_max(delta);
            let linear = a - quadratic.clone();
            quadratic.clone() * quadratic * 0.5 + linear * delta
        }
    };
    per_pixel.sum() / count
}

/// Running regression scores, in the target's units.
#[derive(Clone, Debug, Default)]
pub struct RegressionTotals {
    pixels: u64,
    sum_sq: f64,
    sum_abs: f64,
    sum_y: f64,
    sum_y2: f64,
    /// Squared and absolute errors of the baseline (the training mean).
    base_sq: f64,
    base_abs: f64,
    train_mean: f64,
    pairs: Vec<[f32; 2]>,
    seen: u64,
}

impl RegressionTotals {
    /// Empty totals whose baseline predicts `train_mean`.
    pub fn new(train_mean: f64) -> Self {
        Self { train_mean, ..Self::default() }
    }

    /// Adds predictions and targets (both in the target's units; NaN targets skipped).
    pub(crate) fn update(&mut self, predicted: &[f32], targets: &[f32]) {
        for (p, y) in predicted.iter().zip(targets) {
            if !y.is_finite() {
                continue;
            }
            let (p64, y64) = (f64::from(*p), f64::from(*y));
            let (e, b) = (p64 - y64, self.train_mean - y64);
            self.pixels += 1;
            self.sum_sq += e * e;
            self.sum_abs += e.abs();
            self.sum_y += y64;
            self.sum_y2 += y64 * y64;
            self.base_sq += b * b;
            self.base_abs += b.abs();
            // A uniform sample of the split (reservoir sampling, seeded by the pixel's position in the split).
            self.seen += 1;
            if self.pairs.len() < SCATTER_PAIRS {
                self.pairs.push([*y, *p]);
            } else {
                let j = mix(self.seen) % self.seen;
                if let Some(slot) = self.pairs.get_mut(j as usize) {
                    *slot = [*y, *p];
                }
            }
        }
    }

    /// The report.
    pub fn report(&self) -> RegressionReport {
        let n = self.pixels.max(1) as f64;
        let variance = (self.sum_y2 / n - (self.sum_y / n).powi(2)).max(0.0) * n;
        let r2 = |sq: f64| if variance > 0.0 { 1.0 - sq / variance } else { 0.0 };
        RegressionReport {
            pixels: self.pixels,
            rmse: (self.sum_sq / n).sqrt(),
            mae: self.sum_abs / n,
            r2: r2(self.sum_sq),
            baseline_rmse: (self.base_sq / n).sqrt(),
            baseline_mae: self.base_abs / n,
            baseline_r2: r2(self.base_sq),
            pairs: self.pairs.clone(),
        }
    }
}

/// Regression scores of a split, in the target's units, beside predicting the training mean everywhere.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RegressionReport {
    /// Pixels with a target value.
    pub pixels: u64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination against the split's own mean.
    pub r2: f64,
    /// The baseline's RMSE.
    pub baseline_rmse: f64,
    /// The baseline's MAE.
    pub baseline_mae: f64,
    /// The baseline's R² (about 0, below when the split's mean differs from the training mean).
    pub baseline_r2: f64,
    /// Up to 20,000 (target, prediction) pairs spread over the split, for the scatter plot.
    #[serde(skip)]
    pub pairs: Vec<[f32; 2]>,
}

/// SplitMix64's finaliser: a well-spread hash of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
