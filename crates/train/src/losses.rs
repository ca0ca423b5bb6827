//! Segmentation losses burn 0.21 lacks: cross-entropy with class weights and a true ignore index (burn's
//! `pad_tokens` still counts masked targets in the mean), and soft Dice. Both take per-pixel logits flattened to
//! `(pixels, classes)` and classes `(pixels,)`.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// Cross-entropy averaged as PyTorch does with `weight` and `ignore_index`: `Σ w[tᵢ]·(−log pᵢ[tᵢ]) / Σ w[tᵢ]` over
/// the pixels whose class is not `ignore`. `weights` has one entry per class (`None`: all 1).
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    weights: Option<&[f32]>,
    ignore: Option<i64>,
) -> Tensor<B, 1> {
    let [n, classes] = logits.dims();
    let device = logits.device();
    let valid = match ignore {
        Some(value) => targets.clone().not_equal_elem(value),
        None => targets.clone().greater_equal_elem(i64::MIN),
    };
    // Ignored pixels gather class 0 and then weigh nothing.
    let safe = targets.mask_fill(valid.clone().bool_not(), 0);
    let picked = log_softmax(logits, 1).gather(1, safe.clone().reshape([n, 1])).reshape([n]);
    let class_weight = match weights {
        Some(w) => {
            let table = Tensor::<B, 1>::from_data(TensorData::new(w.to_vec(), [classes]), &device);
            table.select(0, safe)
        }
        None => Tensor::ones([n], &device),
    };
    let w = class_weight * valid.float();
    let total = w.clone().sum();
    (picked.neg() * w).sum() / total.clamp_min(f32::MIN_POSITIVE)
}

/// Soft Dice loss `1 − mean_c (2·Σ p·t + ε) / (Σ p + Σ t + ε)` over the classes, with softmax probabilities `p`,
/// one-hot targets `t`, and pixels of class `ignore` left out.
pub fn dice<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>, ignore: Option<i64>) -> Tensor<B, 1> {
    let [n, classes] = logits.dims();
    let valid = match ignore {
        Some(value) => targets.clone().not_equal_elem(value),
        None => targets.clone().greater_equal_elem(i64::MIN),
    };
    let safe = targets.mask_fill(valid.clone().bool_not(), 0);
    let keep = valid.float().reshape([n, 1]);
    let probabilities = softmax(logits, 1) * keep.clone();
    let one_hot = safe.one_hot::<2>(classes).float() * keep;
    let eps = 1.0;
    let intersection = (probabilities.clone() * one_hot.clone()).sum_dim(0).reshape([classes]);
    let sizes = (probabilities + one_hot).sum_dim(0).reshape([classes]);
    let score = (intersection * 2.0 + eps) / (sizes + eps);
    score.mean().neg() + 1.0
}
