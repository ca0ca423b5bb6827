//! The segmentation losses against the same sums done by hand in f64.

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use eoforge_train::{cross_entropy, dice};

const LOGITS: [[f32; 3]; 5] = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [1.5, -0.5, 2.5]];
const CLASSES: [i64; 5] = [0, 2, 1, 255, 2];

fn tensors() -> (Tensor<Flex, 2>, Tensor<Flex, 1, Int>) {
    let device = burn::backend::flex::FlexDevice;
    let flat: Vec<f32> = LOGITS.iter().flatten().copied().collect();
    (
        Tensor::from_data(TensorData::new(flat, [5, 3]), &device),
        Tensor::from_data(TensorData::new(CLASSES.to_vec(), [5]), &device),
    )
}

fn softmax(row: &[f32; 3]) -> [f64; 3] {
    let e: Vec<f64> = row.iter().map(|v| f64::from(*v).exp()).collect();
    let s: f64 = e.iter().sum();
    [e[0] / s, e[1] / s, e[2] / s]
}

#[test]
fn cross_entropy_ignores_pixels_and_weighs_classes_like_pytorch() {
    let weights = [1.0f32, 2.0, 0.5];
    let (mut num, mut den, mut plain) = (0.0, 0.0, 0.0);
    for (row, &class) in LOGITS.iter().zip(&CLASSES) {
        if class == 255 {
            continue;
        }
        let nll = -softmax(row)[class as usize].ln();
        num += f64::from(weights[class as usize]) * nll;
        den += f64::from(weights[class as usize]);
        plain += nll / 4.0;
    }
    let (logits, targets) = tensors();
    let weighted: f32 = cross_entropy(logits.clone(), targets.clone(), Some(&weights), Some(255)).into_scalar();
    assert!((f64::from(weighted) - num / den).abs() < 1e-5, "{weighted} vs {}", num / den);
    let unweighted: f32 = cross_entropy(logits, targets, None, Some(255)).into_scalar();
    assert!((f64::from(unweighted) - plain).abs() < 1e-5, "{unweighted} vs {plain}: the ignored pixel must not count");
}

#[test]
fn dice_leaves_ignored_pixels_out() {
    let (mut inter, mut sizes) = ([0.0f64; 3], [0.0f64; 3]);
    for (row, &class) in LOGITS.iter().zip(&CLASSES) {
        if class == 255 {
            continue;
        }
        let p = softmax(row);
        for c in 0..3 {
            let t = f64::from(u8::from(c as i64 == class));
            inter[c] += p[c] * t;
            sizes[c] += p[c] + t;
        }
    }
    let expected = 1.0 - (0..3).map(|c| (2.0 * inter[c] + 1.0) / (sizes[c] + 1.0)).sum::<f64>() / 3.0;
    let (logits, targets) = tensors();
    let loss: f32 = dice(logits, targets, Some(255)).into_scalar();
    assert!((f64::from(loss) - expected).abs() < 1e-5, "{loss} vs {expected}");
}
