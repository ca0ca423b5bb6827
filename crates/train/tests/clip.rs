//! Global-norm gradient clipping against the gradients' norm computed by hand.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use eoforge_train::clip_grad_norm;

type AD = Autodiff<Flex>;

/// A 3 → 2 linear layer and the gradients of `sum(layer(x))` for a fixed `x` of 4 rows.
fn setup() -> (Linear<AD>, GradientsParams, Vec<f32>) {
    let device = burn::backend::flex::FlexDevice;
    let mut layer: Linear<AD> = LinearConfig::new(3, 2).init(&device);
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.5f32, -1.0, 0.2, 0.3, 0.1, -0.4], [3, 2]),
        &device,
    ));
    let x_values = vec![1.0f32, 2.0, -1.0, 0.5, 0.0, 3.0, -2.0, 1.0, 1.0, 4.0, -0.5, 2.0];
    let x = Tensor::<AD, 2>::from_data(TensorData::new(x_values.clone(), [4, 3]), &device);
    let loss = layer.forward(x).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &layer);
    (layer, grads, x_values)
}

#[test]
fn clipping_scales_every_gradient_to_the_global_norm() {
    // d sum / dW[i][j] = Σ_rows x[row][i] (the same for both outputs j); d sum / db[j] = rows.
    let (layer, mut grads, x) = setup();
    let column_sums: Vec<f64> = (0..3).map(|i| (0..4).map(|r| f64::from(x[r * 3 + i])).sum()).collect();
    let by_hand = (2.0 * column_sums.iter().map(|s| s * s).sum::<f64>() + 2.0 * 16.0).sqrt();
    let norm = clip_grad_norm(&layer, &mut grads, 1e9);
    assert!((norm - by_hand).abs() < 1e-4 * by_hand, "norm {norm}, by hand {by_hand}");
    let unclipped = clip_grad_norm(&layer, &mut grads, 1e9);
    assert!((unclipped - norm).abs() < 1e-4 * norm, "a norm under the limit leaves the gradients alone");

    let (layer, mut grads, _) = setup();
    let before = clip_grad_norm(&layer, &mut grads, 1.0);
    assert!((before - by_hand).abs() < 1e-4 * by_hand);
    let after = clip_grad_norm(&layer, &mut grads, 1e9);
    assert!((after - 1.0).abs() < 1e-5, "clipped to the limit: {after}");
    let bias = grads.get::<Flex, 1>(layer.bias.as_ref().expect("bias").id).expect("bias gradient");
    let b: Vec<f32> = bias.into_data().to_vec().expect("f32");
    assert!(b.iter().all(|v| (f64::from(*v) - 4.0 / by_hand).abs() < 1e-5), "every gradient scaled alike: {b:?}");
}
