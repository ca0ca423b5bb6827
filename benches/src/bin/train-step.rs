//! CPU training-step timings on burn's flex backend, printed as a table in one run:
//! - one normalisation layer (forward + backward at 8×16×128×128): eoforge's `RowBatchNorm` beside burn's
//!   `BatchNorm` (the straightforward version, the reference);
//! - one U-Net training step (12 × 128² input, widths 16–32–64–128, batch 8, cross-entropy, AdamW) with each
//!   normalisation.
//!
//! usage: train-step [STEPS]

#![allow(clippy::print_stdout)] // a benchmark's output is its printed table

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::BatchNormConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use eoforge_models::{NormKind, RowBatchNorm, UNet, UNetConfig};

type AD = Autodiff<Flex>;

fn seconds_per_call(calls: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn unet_step(norm: NormKind, steps: usize) -> f64 {
    let device = burn::backend::flex::FlexDevice;
    let config = UNetConfig { depth: 3, base_width: 16, norm, ..UNetConfig::new(12, 10) };
    let mut model: Option<UNet<AD>> = Some(config.init(&device).expect("model"));
    let mut optim = AdamWConfig::new().init::<AD, UNet<AD>>();
    let shape = [8, 12, 128, 128];
    let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let y: Vec<i64> = (0..8 * 128 * 128).map(|i| ((i / 37) % 10) as i64).collect();
    seconds_per_call(steps, || {
        let m = model.take().expect("model");
        let input = Tensor::<AD, 4>::from_data(TensorData::new(x.clone(), shape), &device);
        let target = Tensor::<AD, 1, Int>::from_data(TensorData::new(y.clone(), [8 * 128 * 128]), &device);
        let logits = m.forward(input).permute([0, 2, 3, 1]).reshape([8 * 128 * 128, 10]);
        let loss = burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(logits, target);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(1e-3, m, grads));
    })
}

fn main() {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let device = burn::backend::flex::FlexDevice;
    let shape = [8, 16, 128, 128];
    let data: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| ((i * 31) % 977) as f32 / 300.0).collect();
    let ours = RowBatchNorm::<AD>::new(16, &device);
    let burns = BatchNormConfig::new(16).init::<AD>(&device);
    let layer = |f: &dyn Fn(Tensor<AD, 4>) -> Tensor<AD, 4>| {
        seconds_per_call(5, || {
            let x = Tensor::<AD, 4>::from_data(TensorData::new(data.clone(), shape), &device).require_grad();
            let _ = f(x).sum().backward();
        })
    };
    let norm_ours = layer(&|x| ours.forward(x));
    let norm_burn = layer(&|x| burns.forward(x));
    let inference = seconds_per_call(5, || {
        let x = Tensor::<Flex, 4>::from_data(TensorData::new(data.clone(), shape), &device);
        let _ = ours.valid().forward(x).into_data();
    });
    let step_batch = unet_step(NormKind::Batch, steps);
    let step_group = unet_step(NormKind::Group { groups: 4 }, steps);
    println!("| CPU, burn flex, {} threads | seconds | reference (same run) | ratio |", rayon_threads());
    println!("|---|---:|---:|---:|");
    println!(
        "| batch norm 8x16x128x128, forward + backward | {norm_ours:.4} | burn BatchNorm {norm_burn:.4} | {:.1}x faster |",
        norm_burn / norm_ours
    );
    println!("| batch norm 8x16x128x128, inference | {inference:.4} | | |");
    println!("| U-Net step (12x128x128, 16-128, batch 8), RowBatchNorm | {step_batch:.3} | | |");
    println!("| U-Net step, GroupNorm (4 groups) | {step_group:.3} | | |");
    println!("\nPyTorch CPU is not part of this run (its wheel is not installed here).");
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
