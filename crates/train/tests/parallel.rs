//! Data-parallel training on logical replicas of one CPU device: the multi-device code path (equal shares of each
//! global batch, per-replica gradients summed, one optimiser step) must give the step a single device takes on
//! the whole batch, to 1e-6, on real windows of the 29RKH scene; a whole run with 2 replicas of 4 samples ends
//! where a run with batches of 8 ends.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};
use common::{open, scene_windows};
use eoforge_models::{NormKind, SuperResolutionConfig, UNetConfig};
use eoforge_train::{
    Batch, Error, FitConfig, Loader, LoaderConfig, LossConfig, ModelConfig, StopWhen, Task, Trainable, TrainedRun, fit,
    fit_on, replica_gradients, task_of,
};

type AD = Autodiff<Flex>;
/// burn's CPU backend seeds one process-wide generator: tests that draw weights run one at a time.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());
const CPU: burn::backend::flex::FlexDevice = burn::backend::flex::FlexDevice;

/// Every float parameter of a module, flattened in the module's fixed order.
struct Weights(Vec<f32>);

impl<B: Backend> ModuleVisitor<B> for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.extend(param.val().into_data().convert::<f32>().to_vec::<f32>().expect("f32 values"));
    }
}

fn weights<B: Backend, M: Module<B>>(model: &M) -> Vec<f32> {
    let mut w = Weights(Vec::new());
    model.visit(&mut w);
    w.0
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "same parameters");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// One AdamW step of `model` with `grads`.
fn step<M: burn::module::AutodiffModule<AD>>(model: M, grads: GradientsParams) -> M {
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init::<AD, M>();
    optim.step(1e-3, model, grads)
}

/// The single-device step on the whole batch, then the data-parallel step over 2, 3 and 4 replicas of the same
/// device from the same weights: updated weights agree to 1e-6, losses to f32 rounding.
fn equal_steps<M>(initial: &M, batch: &Batch, task: &Task)
where
    M: burn::module::AutodiffModule<AD> + Trainable<AD>,
{
    // burn initialises parameters lazily, and a clone made before would draw its own: initialise them first.
    weights(initial);
    let model = initial.clone();
    let loss = model.batch_loss(batch, task, &CPU).expect("loss");
    let single_loss = loss.clone().into_scalar().elem::<f64>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let single = weights(&step(model, grads));
    for replicas in [2, 3, 4] {
        let model = initial.clone();
        let (loss, grads) = replica_gradients(&model, batch, task, &vec![CPU; replicas]).expect("replica step");
        let parallel = weights(&step(model, grads));
        let (dl, dw) = ((loss - single_loss).abs(), max_difference(&single, &parallel));
        // The loss is a mean of 50,000-200,000 f32 terms summed in another order: equal to f32 rounding.
        assert!(dl < 1e-4 * single_loss.abs(), "{replicas} replicas: loss {loss} vs {single_loss}");
        assert!(dw < 1e-6, "{replicas} replicas: weights differ by up to {dw} after one AdamW step");
    }
}

/// Segmentation windows of the real 29RKH scene in `dir` (`None`: no fixtures, skipped).
fn scene_set(dir: &std::path::Path) -> Option<eoforge_train::ShardSet> {
    let shards = dir.join("shards");
    scene_windows(dir, &shards)?;
    Some(open(&shards))
}

#[test]
fn a_data_parallel_step_over_logical_replicas_equals_one_step_on_the_whole_batch() {
    let _one_at_a_time = SEEDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(set) = scene_set(dir.path()) else { return };
    let loader = Loader::new(
        set.clone(),
        LoaderConfig {
            batch_size: 12,
            shuffle_buffer: 0,
            augment: false,
            input: set.input_tensor().to_owned(),
            ..LoaderConfig::default()
        },
    )
    .expect("loader");
    let mut batch = loader.epoch(0).next().expect("a batch").expect("batch");
    assert_eq!(batch.keys.len(), 12);
    // Every pixel labelled (no-label pixels taken as class 0), so the loss is a plain mean over pixels.
    if let Some(masks) = &mut batch.masks {
        masks.mapv_inplace(|v| v.max(0));
    }

    // A U-Net with group normalisation (batch statistics would be per share by design), and a cross-entropy that
    // is a mean over every pixel (no ignored class, no class weights), so the shares' weighted sum is exact.
    let classes = set.class_table().expect("class table").len();
    let unet =
        UNetConfig { depth: 2, base_width: 8, norm: NormKind::Group { groups: 4 }, ..UNetConfig::new(4, classes) };
    let fit_config = FitConfig::new(ModelConfig::Unet(unet.clone()));
    let data = eoforge_train::DataRecord::of(&set, "shards", &fit_config).expect("record");
    let task = Task { ignore: None, loss: LossConfig::default(), ..task_of(&fit_config, &data, &set) };
    equal_steps(&unet.init::<AD>(&CPU).expect("unet"), &batch, &task);

    // Super-resolution (L1, a mean over every output value) at 2x.
    let sr = SuperResolutionConfig { features: 8, blocks: 2, ..SuperResolutionConfig::new(4, 2) };
    let sr_config = FitConfig::new(ModelConfig::Sr(sr.clone()));
    let data = eoforge_train::DataRecord::of(&set, "shards", &sr_config).expect("record");
    let task = task_of(&sr_config, &data, &set);
    equal_steps(&sr.init::<AD>(&CPU).expect("sr"), &batch, &task);
}

#[test]
fn a_run_with_two_replicas_of_four_ends_where_a_run_with_batches_of_eight_ends() {
    let _one_at_a_time = SEEDED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(set) = scene_set(dir.path()) else { return };
    let base = FitConfig {
        batch_size: 8,
        shuffle_buffer: 16,
        epochs: 1,
        lr: 1e-3,
        warmup_steps: 2,
        checkpoint_every: 100,
        seed: 4,
        ..FitConfig::new(ModelConfig::Sr(SuperResolutionConfig {
            features: 8,
            blocks: 2,
            ..SuperResolutionConfig::new(4, 2)
        }))
    };
    let single_dir = dir.path().join("single");
    let single = fit::<AD>(&set, &base, &single_dir, &CPU, &StopWhen::default()).expect("single-device fit");
    let parallel_config = FitConfig { batch_size: 4, replicas: 2, ..base.clone() };
    let parallel_dir = dir.path().join("parallel");
    let parallel = fit_on::<AD>(&set, &parallel_config, &parallel_dir, &[CPU], &StopWhen::default()).expect("fit");
    assert!(single.finished && parallel.finished);
    assert_eq!(single.steps, parallel.steps, "one optimiser step per global batch");
    assert!(single.steps >= 3, "a few steps at least: {}", single.steps);
    for (a, b) in single.losses.iter().zip(&parallel.losses) {
        assert!((a - b).abs() < 1e-5, "losses per step: {a} vs {b}");
    }
    let load = |d: &std::path::Path| weights(&TrainedRun::open(d).expect("run").sr::<Flex>(&CPU).expect("weights"));
    let dw = max_difference(&load(&single_dir), &load(&parallel_dir));
    assert!(dw < 1e-5, "final weights differ by up to {dw}");
    let config = std::fs::read_to_string(parallel_dir.join("config.toml")).expect("config.toml");
    assert!(config.contains("replicas = 2"), "{config}");
    let config = std::fs::read_to_string(single_dir.join("config.toml")).expect("config.toml");
    assert!(!config.contains("replicas"), "a one-replica run's config.toml is unchanged: {config}");

    // Fewer replicas than devices, or none, is refused naming the field.
    for (replicas, devices) in [(0, 1), (1, 2)] {
        let config = FitConfig { replicas, ..base.clone() };
        let err = fit_on::<AD>(&set, &config, &dir.path().join("bad"), &vec![CPU; devices], &StopWhen::default())
            .expect_err("refused");
        assert!(matches!(err, Error::Config { field: "replicas", .. }), "{err}");
    }
}
