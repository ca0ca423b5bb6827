//! eoforge's Prithvi-sized ViT encoder on burn's flex CPU backend, timed as `benches/scripts/vit_reference.py` times
//! TerraTorch's `PrithviViT` in PyTorch: embed 768, 12 blocks, 12 heads, patch (1, 16, 16), 6 × 224² inputs, batch
//! 4; forward (no autodiff), and one fine-tuning step (a 1×1 convolution head over the last block's tokens, MSE,
//! AdamW) with the encoder frozen (run without gradient tracking) or trained. Prints one JSON line: {"mode", "frames",
//! "seconds", "peak_rss_mib"}; `benches/vit-vs-pytorch.sh` runs both and prints the table.
//!
//! usage: vit-step MODE FRAMES STEPS   (MODE: forward | frozen | trained)

#![allow(clippy::print_stdout)] // a benchmark's output is its printed line

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use eoforge_models::{Coords, Vit, VitConfig};

type AD = Autodiff<Flex>;

/// The encoder and the head a fine-tuning step trains.
#[derive(Module, Debug)]
struct Tuned<B: Backend> {
    encoder: Vit<B>,
    head: Conv2d<B>,
}

fn input<B: Backend>(frames: usize, device: &B::Device) -> Tensor<B, 5> {
    let shape = [4, 6, frames, 224, 224];
    let values: Vec<f32> =
        (0..shape.iter().product::<usize>()).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "forward".into());
    let frames: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let config: VitConfig = serde_json::from_value(serde_json::json!({
        "img_size": 224, "patch_size": [1, 16, 16], "num_frames": frames, "in_chans": 6, "embed_dim": 768,
        "depth": 12, "num_heads": 12, "mlp_ratio": 4.0
    }))
    .expect("config");
    let device = burn::backend::flex::FlexDevice;
    let mut once: Box<dyn FnMut()> = if mode == "forward" {
        let encoder = config.init::<Flex>(&device).expect("encoder");
        let x = input::<Flex>(frames, &device);
        Box::new(move || {
            let features = encoder.forward_features(x.clone(), &Coords::default()).expect("forward");
            let _ = features.last().expect("blocks").clone().into_data();
        })
    } else {
        let frozen = mode == "frozen";
        let mut model = Some(Tuned::<AD> {
            encoder: config.init(&device).expect("encoder"),
            head: Conv2dConfig::new([768 * frames, 1], [1, 1]).init(&device),
        });
        let mut optim = AdamWConfig::new().init::<AD, Tuned<AD>>();
        let x = input::<AD>(frames, &device);
        let target = Tensor::<AD, 4>::zeros([4, 1, 14, 14], &device);
        Box::new(move || {
            let m = model.take().expect("model");
            // A frozen encoder runs untracked, as eoforge's ViT networks run it with `freeze`.
            let encoder = if frozen { m.encoder.clone().no_grad() } else { m.encoder.clone() };
            let tokens = encoder.forward_features(x.clone(), &Coords::default()).expect("forward");
            let last = tokens.last().expect("blocks").clone();
            let [n, count, d] = last.dims();
            let mut maps = last
                .slice([0..n, 1..count, 0..d])
                .reshape([n, frames, 14, 14, d])
                .permute([0, 1, 4, 2, 3])
                .reshape([n, frames * d, 14, 14]);
            if frozen {
                maps = maps.detach();
            }
            let diff = m.head.forward(maps) - target.clone();
            let loss = (diff.clone() * diff).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            model = Some(optim.step(1e-4, m, grads));
        })
    };
    once(); // warm-up
    let start = Instant::now();
    for _ in 0..steps {
        once();
    }
    let seconds = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "{}",
        serde_json::json!({
            "mode": mode, "frames": frames, "seconds": seconds, "peak_rss_mib": eoforge_profile::peak_rss_mib(),
        })
    );
}
