//! The training loop for the multi-label patch classifier: AdamW, warm-up + cosine schedule, global-norm
//! clipping, BCE on logits, validation metrics each epoch in `metrics.jsonl`, and full-precision checkpoints
//! (model, optimiser, position) every N steps and at each epoch end, so a stopped run resumes exactly.
//!
//! Run directory: `checkpoints/step-NNNNNNNN/{model,optimizer}.mpk` + `state.json`, `checkpoints/latest` (the
//! newest complete checkpoint, replaced atomically), `metrics.jsonl`, and `model.mpk` once the run finishes.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder as _};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use eoforge_models::{PatchClassifier, PatchClassifierConfig};

use crate::error::{Error, Result};
use crate::loader::{Batch, Loader, LoaderConfig};
use crate::metrics::{MultiLabelMetrics, MultiLabelReport};
use crate::optimize::{WarmupCosine, clip_grad_norm};
use crate::shard_set::ShardSet;

/// Everything a multi-label training run is made of.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// The network.
    pub model: PatchClassifierConfig,
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle buffer of the training loader.
    pub shuffle_buffer: usize,
    /// Flips and rotations of training samples.
    pub augment: bool,
    /// Passes over the training split.
    pub epochs: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps before the cosine decay.
    pub warmup_steps: u64,
    /// Final learning rate.
    pub min_lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Clip gradients to this global L2 norm.
    pub clip_norm: Option<f64>,
    /// Write a checkpoint every this many steps (and at every epoch end).
    pub checkpoint_every: u64,
    /// Seed of the weights, the data order and the augmentation.
    pub seed: u64,
}

/// What a call to [`fit`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOutcome {
    /// Optimiser steps taken since the run began (including earlier, resumed calls).
    pub steps: u64,
    /// The step a resumed call started from (0 for a fresh run).
    pub resumed_from: u64,
    /// Training loss of each step this call took.
    pub losses: Vec<f64>,
    /// Validation scores of each epoch this call finished.
    pub validation: Vec<MultiLabelReport>,
    /// Whether the run reached its last epoch (false when stopped by `max_steps`).
    pub finished: bool,
}

/// Where a run stands: written with every checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Position {
    step: u64,
    epoch: u64,
    batch: usize,
}

/// Checkpoints keep full precision (burn's `CompactRecorder` stores f16).
type Recorder = NamedMpkFileRecorder<FullPrecisionSettings>;

/// When a call to [`fit`] stops before the run's end.
#[derive(Debug, Default)]
pub struct StopWhen<'a> {
    /// After this many steps of this call, without a checkpoint (as a kill would: the next call resumes from the
    /// last checkpoint).
    pub max_steps: Option<u64>,
    /// Once this flag is set (e.g. by SIGTERM before a wall-time limit), after the current step, with a
    /// checkpoint of exactly where the run stands.
    pub flag: Option<&'a std::sync::atomic::AtomicBool>,
}

/// Trains the classifier of `config` on the `train` split of `set` (validating on `validation` when the set has
/// one), writing the run into `run_dir`. When `run_dir` holds a checkpoint the run resumes from it and reaches the
/// same weights as an uninterrupted run. `stop` ends this call early ([`StopWhen`]).
pub fn fit<B: AutodiffBackend>(
    set: &ShardSet,
    config: &FitConfig,
    run_dir: &Path,
    device: &B::Device,
    stop: &StopWhen<'_>,
) -> Result<FitOutcome> {
    std::fs::create_dir_all(run_dir.join("checkpoints"))?;
    let loader_config = LoaderConfig {
        batch_size: config.batch_size,
        seed: config.seed,
        shuffle_buffer: config.shuffle_buffer,
        augment: config.augment,
        ..LoaderConfig::default()
    };
    let train = Loader::new(set.clone(), loader_config.clone())?;
    let valid = set.shards("validation").ok().filter(|s| !s.is_empty()).map(|_| {
        Loader::new(
            set.clone(),
            LoaderConfig { split: "validation".into(), augment: false, shuffle_buffer: 0, ..loader_config },
        )
    });
    let valid = valid.transpose()?;
    let schedule = WarmupCosine {
        base_lr: config.lr,
        warmup_steps: config.warmup_steps,
        total_steps: config.epochs * train.batches_per_epoch() as u64,
        min_lr: config.min_lr,
    };
    B::seed(device, config.seed);
    let model_err = |e: eoforge_models::ConfigError| Error::Config { field: "model", reason: e.to_string() };
    let mut model: PatchClassifier<B> = config.model.init(device).map_err(model_err)?;
    let mut optim = AdamWConfig::new().with_weight_decay(config.weight_decay).init::<B, PatchClassifier<B>>();
    let recorder = Recorder::new();
    let mut position = Position { step: 0, epoch: 0, batch: 0 };
    if let Some(dir) = latest_checkpoint(run_dir)? {
        let err = |e: burn::record::RecorderError| Error::Checkpoint { path: dir.clone(), reason: e.to_string() };
        model = model.load_file(dir.join("model"), &recorder, device).map_err(err)?;
        optim = optim.load_record(Recorder::new().load(dir.join("optimizer"), device).map_err(err)?);
        let state = std::fs::read(dir.join("state.json"))?;
        position = serde_json::from_slice(&state)
            .map_err(|e| Error::Checkpoint { path: dir.join("state.json"), reason: e.to_string() })?;
        tracing::info!(step = position.step, epoch = position.epoch, "resuming");
    }
    let resumed_from = position.step;
    let loss_fn = BinaryCrossEntropyLossConfig::new().with_logits(true).init(device);
    let mut outcome =
        FitOutcome { steps: position.step, resumed_from, losses: Vec::new(), validation: Vec::new(), finished: false };
    while position.epoch < config.epochs {
        for batch in train.epoch_from(position.epoch, position.batch) {
            if stop.max_steps.is_some_and(|m| outcome.losses.len() as u64 >= m) {
                return Ok(outcome);
            }
            if stop.flag.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
                checkpoint(run_dir, &model, &optim, position)?;
                tracing::info!(step = position.step, "stopped on request; checkpoint written");
                return Ok(outcome);
            }
            let batch = batch?;
            let (inputs, targets) = tensors::<B>(&batch, device)?;
            let loss = loss_fn.forward(model.forward(inputs), targets);
            outcome.losses.push(loss.clone().into_scalar().elem::<f64>());
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(limit) = config.clip_norm {
                clip_grad_norm(&model, &mut grads, limit);
            }
            model = optim.step(schedule.lr(position.step), model, grads);
            position.step += 1;
            position.batch += 1;
            outcome.steps = position.step;
            // The epoch's last step is checkpointed below, with the position moved to the next epoch.
            let epoch_end = position.batch == train.batches_per_epoch();
            if position.step.is_multiple_of(config.checkpoint_every.max(1)) && !epoch_end {
                checkpoint(run_dir, &model, &optim, position)?;
            }
        }
        position = Position { step: position.step, epoch: position.epoch + 1, batch: 0 };
        if let Some(valid) = &valid {
            let report = evaluate(&model.valid(), valid, config.model.classes, device)?;
            let line = serde_json::json!({ "epoch": position.epoch, "step": position.step, "validation": report });
            append_line(&run_dir.join("metrics.jsonl"), &line.to_string())?;
            outcome.validation.push(report);
        }
        checkpoint(run_dir, &model, &optim, position)?;
    }
    model
        .valid()
        .save_file(run_dir.join("model"), &Recorder::new())
        .map_err(|e| Error::Checkpoint { path: run_dir.join("model.mpk"), reason: e.to_string() })?;
    outcome.finished = true;
    Ok(outcome)
}

/// Validation scores of `model` over all batches of `loader` (probabilities thresholded at 0.5).
pub fn evaluate<B: Backend>(
    model: &PatchClassifier<B>,
    loader: &Loader,
    classes: usize,
    device: &B::Device,
) -> Result<MultiLabelReport> {
    let mut metrics = MultiLabelMetrics::new(classes);
    for batch in loader.epoch(0) {
        let batch = batch?;
        let labels = batch.labels.as_ref().ok_or_else(|| no_labels(&batch))?;
        let (inputs, _) = tensors::<B>(&batch, device)?;
        let probabilities = burn::tensor::activation::sigmoid(model.forward(inputs));
        let [n, c] = probabilities.dims();
        let values: Vec<f32> = probabilities.into_data().convert::<f32>().to_vec().unwrap_or_default();
        let scores = ndarray::Array2::from_shape_vec((n, c), values)
            .map_err(|e| Error::Config { field: "model", reason: e.to_string() })?;
        metrics.update(&scores.view(), &labels.view());
    }
    Ok(metrics.report(0.5))
}

fn no_labels(batch: &Batch) -> Error {
    Error::Config { field: "split", reason: format!("sample `{}` has no `labels` tensor", batch.keys[0]) }
}

/// A batch as burn tensors: inputs `(n, c, h, w)` and multi-hot targets `(n, classes)`.
fn tensors<B: Backend>(batch: &Batch, device: &B::Device) -> Result<(Tensor<B, 4>, Tensor<B, 2, Int>)> {
    let labels = batch.labels.as_ref().ok_or_else(|| no_labels(batch))?;
    let (n, c, h, w) = batch.inputs.dim();
    let inputs =
        Tensor::from_data(TensorData::new(batch.inputs.iter().copied().collect::<Vec<f32>>(), [n, c, h, w]), device);
    let targets: Vec<i64> = labels.iter().map(|v| i64::from(*v > 0.5)).collect();
    let targets = Tensor::from_data(TensorData::new(targets, [n, labels.ncols()]), device);
    Ok((inputs, targets))
}

/// Writes a checkpoint into a fresh folder, then points `checkpoints/latest` at it (both by rename), so a kill
/// at any moment leaves the previous checkpoint or the new one, never half of one.
fn checkpoint<B: AutodiffBackend, O: Optimizer<PatchClassifier<B>, B>>(
    run_dir: &Path,
    model: &PatchClassifier<B>,
    optim: &O,
    position: Position,
) -> Result<()> {
    let root = run_dir.join("checkpoints");
    let name = format!("step-{:08}", position.step);
    let work = root.join(format!(".{name}.partial"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let err = |e: burn::record::RecorderError| Error::Checkpoint { path: work.clone(), reason: e.to_string() };
    model.clone().save_file(work.join("model"), &Recorder::new()).map_err(err)?;
    Recorder::new().record(optim.to_record(), work.join("optimizer")).map_err(err)?;
    std::fs::write(work.join("state.json"), serde_json::to_vec_pretty(&position).unwrap_or_default())?;
    let done = root.join(&name);
    if done.exists() {
        std::fs::remove_dir_all(&done)?;
    }
    std::fs::rename(&work, &done)?;
    let pointer = root.join(".latest.partial");
    std::fs::write(&pointer, &name)?;
    std::fs::rename(&pointer, root.join("latest"))?;
    Ok(())
}

/// The newest complete checkpoint of a run, if any.
fn latest_checkpoint(run_dir: &Path) -> Result<Option<PathBuf>> {
    let pointer = run_dir.join("checkpoints/latest");
    match std::fs::read_to_string(&pointer) {
        Ok(name) => Ok(Some(run_dir.join("checkpoints").join(name.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")?;
    Ok(())
}
