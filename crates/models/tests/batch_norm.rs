//! `RowBatchNorm` against burn's `BatchNorm` (the straightforward version): the same outputs, input and parameter
//! gradients in training, the same running statistics after several steps, and the same inference outputs.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::BatchNormConfig;
use burn::tensor::{Tensor, TensorData};
use eoforge_models::RowBatchNorm;

type AD = Autodiff<Flex>;

fn input(seed: u32, shape: [usize; 4]) -> Vec<f32> {
    let n = shape.iter().product::<usize>();
    (0..n)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 1000) as f32 / 97.0 - 4.0)
        .collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0f32, f32::max);
    assert!(worst < 2e-5, "{what}: largest relative difference {worst}");
}

fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.into_data().to_vec().expect("f32")
}

#[test]
fn matches_burns_batch_norm_in_training_and_inference() {
    let device = burn::backend::flex::FlexDevice;
    let shape = [3, 5, 7, 6];
    let ours = RowBatchNorm::<AD>::new(5, &device);
    let reference = BatchNormConfig::new(5).init::<AD>(&device);
    // Non-trivial affine parameters, the same in both.
    let gamma = Tensor::<AD, 1>::from_data(TensorData::new(vec![0.5f32, 1.5, -1.0, 2.0, 1.0], [5]), &device);
    let beta = Tensor::<AD, 1>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3, 0.0, 1.0], [5]), &device);
    let ours = RowBatchNorm {
        gamma: burn::module::Param::from_tensor(gamma.clone()),
        beta: burn::module::Param::from_tensor(beta.clone()),
        ..ours
    };
    let reference = burn::nn::BatchNorm {
        gamma: burn::module::Param::from_tensor(gamma),
        beta: burn::module::Param::from_tensor(beta),
        ..reference
    };
    for step in 0..3 {
        let data = input(step, shape);
        let x1 = Tensor::<AD, 4>::from_data(TensorData::new(data.clone(), shape), &device).require_grad();
        let x2 = Tensor::<AD, 4>::from_data(TensorData::new(data, shape), &device).require_grad();
        let weights = Tensor::<AD, 4>::from_data(TensorData::new(input(99, shape), shape), &device);
        let (y1, y2) = (ours.forward(x1.clone()), reference.forward(x2.clone()));
        close(&values(y1.clone().inner()), &values(y2.clone().inner()), "training output");
        let (g1, g2) = ((y1 * weights.clone()).sum().backward(), (y2 * weights).sum().backward());
        close(&values(x1.grad(&g1).expect("grad")), &values(x2.grad(&g2).expect("grad")), "input gradient");
        close(
            &values(ours.gamma.grad(&g1).expect("grad")),
            &values(reference.gamma.grad(&g2).expect("grad")),
            "gamma gradient",
        );
        close(
            &values(ours.beta.grad(&g1).expect("grad")),
            &values(reference.beta.grad(&g2).expect("grad")),
            "beta gradient",
        );
    }
    close(&values(ours.running_mean.value().inner()), &values(reference.running_mean.value().inner()), "running mean");
    close(
        &values(ours.running_var.value().inner()),
        &values(reference.running_var.value().inner()),
        "running variance",
    );
    let x = Tensor::<Flex, 4>::from_data(TensorData::new(input(7, shape), shape), &device);
    close(&values(ours.valid().forward(x.clone())), &values(reference.valid().forward(x)), "inference output");
}
