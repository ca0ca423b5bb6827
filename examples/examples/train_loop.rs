//! A minimal custom burn training loop over a streamed segmentation shard set.
//!
//! Opens the shard set at SHARDS (a path or `s3://` URL, as written by `eoforge-prep windows`), streams its
//! `train` split through [`eoforge_train::Loader`] (shards fetched and decoded on worker threads, shuffled,
//! normalised with the set's channel statistics) and trains a tiny per-pixel classifier — a 3×3 convolution, ReLU
//! and a 1×1 convolution giving one logit per class — on burn's Flex CPU backend under `Autodiff`, with Adam and
//! [`eoforge_train::cross_entropy`], leaving out the pixels whose label is the set's ignore value. Prints the mean
//! loss of each epoch (EPOCHS, default 5).
//!
//! Make a shard set from the 29RKH fixture scene and its scene classification, for instance:
//! `F=../shared/fixtures/s2-l2a-29RKH; gdalbuildvrt -separate stack.vrt $F/B02.tif $F/B03.tif $F/B04.tif $F/B08.tif`,
//! then `eoforge-prep windows --scene stack.vrt --labels $F/SCL.tif --ignore 0 --size 32 --out shards`.
//!
//! `cargo run -p eoforge-examples --example train_loop -- shards 5`
#![allow(clippy::print_stdout)] // an example's output is its point

use std::time::Instant;

use anyhow::Context;
use burn::backend::flex::FlexDevice;
use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use eoforge_storage::StoreOptions;
use eoforge_train::{Batch, Loader, LoaderConfig, ShardSet, cross_entropy};

/// The training backend: Flex on the CPU, with automatic differentiation.
type Train = Autodiff<Flex>;

/// Hidden channels of the classifier.
const HIDDEN: usize = 16;
/// Adam's learning rate.
const LEARNING_RATE: f64 = 1e-2;
/// Windows per batch.
const BATCH_SIZE: usize = 8;
/// Seed of the weights, the shard order and the shuffle buffer: the same run gives the same losses.
const SEED: u64 = 7;

/// A tiny per-pixel classifier: each pixel's logits come from its 3×3 neighbourhood.
#[derive(Module, Debug)]
struct PixelClassifier<B: Backend> {
    features: Conv2d<B>,
    logits: Conv2d<B>,
}

impl<B: Backend> PixelClassifier<B> {
    fn new(channels: usize, classes: usize, device: &B::Device) -> Self {
        Self {
            features: Conv2dConfig::new([channels, HIDDEN], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            logits: Conv2dConfig::new([HIDDEN, classes], [1, 1]).init(device),
        }
    }

    /// `(n, channels, h, w)` → `(n, classes, h, w)` logits.
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        self.logits.forward(relu(self.features.forward(input)))
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, epochs) = match args.as_slice() {
        [url] => (url, 5),
        [url, epochs] => (url, epochs.parse::<u64>().with_context(|| format!("not a number of epochs: {epochs}"))?),
        _ => anyhow::bail!("usage: train_loop SHARDS [EPOCHS]"),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let set = runtime
        .block_on(ShardSet::open(url, &StoreOptions::from_env()))
        .with_context(|| format!("opening the shard set {url}"))?;
    anyhow::ensure!(set.is_segmentation(), "{url} is not a segmentation shard set (no `mask` per sample)");
    let channels = set.stats().channels.len();
    // The class table: label values map to indices 0..classes; "no label" pixels arrive as `IGNORED`.
    let classes = set.class_table().with_context(|| format!("reading the class table of {url}"))?.len();
    anyhow::ensure!(classes > 0, "{url} declares no classes");
    let ignore = set.ignore().map(|_| eoforge_train::IGNORED);
    let config = LoaderConfig {
        batch_size: BATCH_SIZE,
        seed: SEED,
        shuffle_buffer: 64,
        augment: true,
        input: set.input_tensor().to_owned(),
        ..LoaderConfig::default()
    };
    let loader = Loader::new(set, config).with_context(|| format!("reading the train split of {url}"))?;
    println!(
        "{url}: {} training windows, {channels} channels, {classes} classes (ignore {}), {} batches of {BATCH_SIZE} per epoch",
        loader.samples_per_rank(),
        ignore.map_or_else(|| "none".to_owned(), |v| v.to_string()),
        loader.batches_per_epoch()
    );

    let device = FlexDevice;
    Train::seed(&device, SEED);
    let mut model = PixelClassifier::<Train>::new(channels, classes, &device);
    let mut optim = AdamConfig::new().init::<Train, PixelClassifier<Train>>();
    for epoch in 0..epochs {
        let start = Instant::now();
        let (mut sum, mut steps) = (0.0, 0usize);
        for batch in loader.epoch(epoch) {
            let batch = batch.with_context(|| format!("loading a batch of epoch {} from {url}", epoch + 1))?;
            let loss = batch_loss(&model, &batch, classes, ignore, &device)?;
            let value = loss.clone().into_scalar().elem::<f64>();
            anyhow::ensure!(value.is_finite(), "the loss diverged ({value}) in epoch {}", epoch + 1);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LEARNING_RATE, model, grads);
            sum += value;
            steps += 1;
        }
        println!(
            "epoch {}: mean loss {:.4} over {steps} batches ({:.2} s)",
            epoch + 1,
            sum / steps.max(1) as f64,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Cross-entropy of the model's per-pixel logits against the batch's masks, pixels labelled `ignore` left out.
fn batch_loss<B: AutodiffBackend>(
    model: &PixelClassifier<B>,
    batch: &Batch,
    classes: usize,
    ignore: Option<i64>,
    device: &B::Device,
) -> anyhow::Result<Tensor<B, 1>> {
    let masks = batch.masks.as_ref().with_context(|| format!("sample `{}` has no mask", batch.keys[0]))?;
    let classes_i64 = classes as i64;
    if let Some(v) = masks.iter().find(|&&v| Some(v) != ignore && !(0..classes_i64).contains(&v)) {
        anyhow::bail!("a mask in the batch of `{}` holds class {v}, the set declares {classes}", batch.keys[0]);
    }
    let (n, c, h, w) = batch.inputs.dim();
    // The batch goes onto the autodiff device: gradients flow from the loss back to the weights.
    let inputs = Tensor::<B, 4>::from_data(
        TensorData::new(batch.inputs.iter().copied().collect::<Vec<f32>>(), [n, c, h, w]),
        device,
    );
    let targets = Tensor::<B, 1, Int>::from_data(
        TensorData::new(masks.iter().copied().collect::<Vec<i64>>(), [n * h * w]),
        device,
    );
    // (n, classes, h, w) → one row of logits per pixel, in the masks' (n, h, w) order.
    let logits = model.forward(inputs).permute([0, 2, 3, 1]).reshape([n * h * w, classes]);
    Ok(cross_entropy(logits, targets, None, ignore))
}
