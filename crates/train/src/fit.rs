//! The training loop for both model families: AdamW, warm-up + cosine schedule, global-norm clipping, the
//! family's loss ([`Trainable`]), validation scores each epoch in `metrics.jsonl`, the best checkpoint by a
//! chosen metric, and full-precision checkpoints (model, optimiser, position) every N steps and at each epoch
//! end, so a stopped run resumes exactly.
//!
//! Run directory: `checkpoints/step-NNNNNNNN/{model,optimizer}.mpk` + `state.json`, `checkpoints/latest` (the
//! newest complete checkpoint, replaced atomically), `losses.jsonl` (every step), `metrics.jsonl` (every
//! epoch), `best/model.mpk` + `best/best.json`, and `model.mpk` once the run finishes.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder as _};
use burn::tensor::ElementConversion;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::loader::{Batch, Loader, LoaderConfig};
use crate::objective::{Report, Scores, Task, Trainable, evaluate};
use crate::optimize::{WarmupCosine, clip_grad_norm};
use crate::run_dir::DataRecord;
use crate::shard_set::ShardSet;

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
    pub validation: Vec<Report>,
    /// The best validation score so far by the run's metric, and the epoch that reached it.
    pub best: Option<(f64, u64)>,
    /// Whether the run reached its last epoch (false when stopped early).
    pub finished: bool,
}

/// Where a run stands: written with every checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Position {
    step: u64,
    epoch: u64,
    batch: usize,
    /// Best validation score so far and its epoch.
    #[serde(default)]
    best: Option<(f64, u64)>,
}

/// Checkpoints keep full precision (burn's `CompactRecorder` stores f16).
type Recorder = NamedMpkFileRecorder<FullPrecisionSettings>;

/// When a call to [`fit`] stops before the run's end, and whom it tells about each step.
#[derive(Default)]
pub struct StopWhen<'a> {
    /// After this many steps of this call, without a checkpoint (as a kill would: the next call resumes from the
    /// last checkpoint).
    pub max_steps: Option<u64>,
    /// Once this flag is set (e.g. by SIGTERM before a wall-time limit), after the current step, with a
    /// checkpoint of exactly where the run stands.
    pub flag: Option<&'a std::sync::atomic::AtomicBool>,
    /// Called after every step (progress bars); it cannot change the run.
    pub on_step: Option<&'a (dyn Fn(&StepProgress) + Sync)>,
}

impl std::fmt::Debug for StopWhen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopWhen")
            .field("max_steps", &self.max_steps)
            .field("flag", &self.flag)
            .field("on_step", &self.on_step.is_some())
            .finish()
    }
}

/// Where a run stands after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepProgress {
    /// Steps done, counting those of earlier calls a resumed run continues.
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// The epoch this step belongs to, from 0.
    pub epoch: u64,
    /// Epochs of the run.
    pub epochs: u64,
    /// This step's training loss.
    pub loss: f64,
}

/// The task of `config` on the data a run records: its classes, "no label" as [`crate::IGNORED`] (masks are
/// mapped through the run's class table), and its normalisation. With `loss.balance` and no explicit weights, the
/// weights come from `set`'s training pixel counts per class.
pub fn task_of(config: &FitConfig, data: &DataRecord, set: &ShardSet) -> Task {
    let classes = config.model.classes();
    let ignore = config.model.is_segmentation().then_some(crate::labels::IGNORED);
    let mut loss = config.loss.clone();
    if loss.balance && loss.class_weights.is_none() {
        // Pixel counts per class index; a class with a handful of pixels counts as if it had 0.1% of them, so its
        // weight stays bounded.
        let mapping = data.label_mapping();
        let mut counts = std::collections::BTreeMap::<usize, u64>::new();
        for (value, n) in set.class_pixels("train") {
            if let Some(i) = mapping.index(value).and_then(|i| usize::try_from(i).ok()) {
                *counts.entry(i).or_default() += n;
            }
        }
        let floor = counts.values().sum::<u64>() / 1000;
        counts.values_mut().filter(|n| **n > 0).for_each(|n| *n = (*n).max(floor));
        let mut present: Vec<u64> = counts.values().copied().filter(|n| *n > 0).collect();
        present.sort_unstable();
        if let Some(&median) = present.get(present.len() / 2) {
            let weight = |c: usize| match counts.get(&c) {
                Some(&n) if n > 0 => (median as f64 / n as f64).sqrt().min(10.0) as f32,
                _ => 1.0,
            };
            loss.class_weights = Some((0..classes).map(weight).collect());
        }
    }
    let stats = set.stats();
    let channels =
        (0..data.mean.len())
            .map(|c| crate::objective::ChannelScale {
                mean: data.mean[c],
                std: data.std.get(c).copied().filter(|s| *s > 0.0).unwrap_or(1.0),
                range: data.range.get(c).copied().unwrap_or_else(|| {
                    stats.max.get(c).copied().unwrap_or(0.0) - stats.min.get(c).copied().unwrap_or(0.0)
                }),
            })
            .collect();
    let target = data.target.as_ref().map(|t| crate::objective::ChannelScale {
        mean: t.mean,
        std: if t.std > 0.0 { t.std } else { 1.0 },
        range: t.max - t.min,
    });
    Task { classes, ignore, loss, channels, target }
}

/// Trains the network of `config` on the `train` split of `set` (validating on `validation` when the set has
/// one), writing the run into `run_dir`. When `run_dir` holds a checkpoint the run resumes from it and reaches the
/// same weights as an uninterrupted run. `stop` ends this call early ([`StopWhen`]).
pub fn fit<B: AutodiffBackend>(
    set: &ShardSet,
    config: &FitConfig,
    run_dir: &Path,
    device: &B::Device,
    stop: &StopWhen<'_>,
) -> Result<FitOutcome> {
    fit_on::<B>(set, config, run_dir, std::slice::from_ref(device), stop)
}

/// [`fit`] data-parallel over `devices`: the configuration's `replicas` are spread over them round robin (the
/// same device may hold several), the weights and the optimiser live on the first, and every global batch of
/// `batch_size × replicas` samples takes one optimiser step with the replicas' summed gradients
/// ([`crate::replica_gradients`]).
pub fn fit_on<B: AutodiffBackend>(
    set: &ShardSet,
    config: &FitConfig,
    run_dir: &Path,
    devices: &[B::Device],
    stop: &StopWhen<'_>,
) -> Result<FitOutcome> {
    if config.replicas == 0 || config.replicas < devices.len() {
        return Err(Error::Config {
            field: "replicas",
            reason: format!("is {}; it must be at least the number of devices ({})", config.replicas, devices.len()),
        });
    }
    let Some(device) = devices.first() else {
        return Err(Error::Config { field: "replicas", reason: "no device to train on".into() });
    };
    let devices = crate::parallel::replica_devices(devices, config.replicas);
    let model_err = |e: eoforge_models::ConfigError| Error::Config { field: "model", reason: e.to_string() };
    std::fs::create_dir_all(run_dir)?;
    let channels = set.input_channels();
    if config.model.in_channels() != channels {
        let frames = set.frames();
        return Err(Error::Config {
            field: "model.in_channels",
            reason: format!(
                "is {}, the shard set has {channels} input channels ({}{})",
                config.model.in_channels(),
                set.stats().channels.join(", "),
                if frames > 1 {
                    format!(" × {frames} frames; set encoder.num_frames = {frames}")
                } else {
                    String::new()
                }
            ),
        });
    }
    if let Some(w) = &config.loss.class_weights
        && w.len() != config.model.classes()
    {
        return Err(Error::Config {
            field: "loss.class_weights",
            reason: format!("{} weights for {} classes", w.len(), config.model.classes()),
        });
    }
    let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v > 0.0);
    if !positive(config.encoder_lr_scale) {
        return Err(Error::Config { field: "encoder_lr_scale", reason: "must be a positive share of `lr`".into() });
    }
    if !positive(config.layer_decay) || config.layer_decay.is_some_and(|d| d > 1.0) {
        return Err(Error::Config { field: "layer_decay", reason: "must be in (0, 1]".into() });
    }
    if let Some(name) = &config.best_metric
        && !METRICS.contains(&name.as_str())
    {
        return Err(Error::Config {
            field: "best_metric",
            reason: format!("`{name}` is not one of {}", METRICS.join(", ")),
        });
    }
    // One process trains into a run directory at a time: a second one would interleave checkpoints and records.
    let lock_path = run_dir.join(".lock");
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    if let Err(e) = lock.try_lock() {
        return Err(Error::Run {
            path: run_dir.to_owned(),
            reason: match e {
                std::fs::TryLockError::WouldBlock => {
                    "another process is training into this run directory; wait for it or use another directory".into()
                }
                std::fs::TryLockError::Error(e) => format!("cannot lock {}: {e}", lock_path.display()),
            },
        });
    }
    let data = DataRecord::of(set, &set.store().url_of(""), config)?;
    if config.model.is_segmentation() && !data.classes.is_empty() && data.classes.len() != config.model.classes() {
        return Err(Error::Config {
            field: "model.classes",
            reason: format!(
                "is {}, the shard set's class table has {} classes ({}); leave it out for the default",
                config.model.classes(),
                data.classes.len(),
                data.classes.names_item()
            ),
        });
    }
    write_or_check_config(config, run_dir)?;
    data.write_or_check(run_dir)?;
    B::seed(device, config.seed);
    let multiple = config.model.size_multiple();
    match &config.model {
        ModelConfig::Classifier(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init(device).map_err(model_err)?, multiple)
        }
        ModelConfig::Unet(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init(device).map_err(model_err)?, multiple)
        }
        ModelConfig::Segmenter(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init(device).map_err(model_err)?, multiple)
        }
        ModelConfig::Vit(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init_pretrained(device).map_err(model_err)?, multiple)
        }
        ModelConfig::VitClassifier(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init_pretrained(device).map_err(model_err)?, multiple)
        }
        ModelConfig::Segformer(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init_pretrained(device).map_err(model_err)?, multiple)
        }
        ModelConfig::VitRegressor(c) => {
            let net = c.init_pretrained(device).map_err(model_err)?;
            run::<B, _>(set, config, run_dir, &devices, stop, crate::objective::VitRegressor { net }, multiple)
        }
        ModelConfig::Sr(c) => {
            run::<B, _>(set, config, run_dir, &devices, stop, c.init(device).map_err(model_err)?, multiple)
        }
    }
}

/// Validation metrics a best checkpoint can be chosen by.
const METRICS: [&str; 9] =
    ["macro_map", "micro_map", "macro_f1", "micro_f1", "mean_iou", "pixel_accuracy", "psnr", "ssim", "r2"];

/// The loop, for any trainable network. `size_multiple`: inputs must have sides divisible by it (U-Net,
/// segmenter).
fn run<B, M>(
    set: &ShardSet,
    config: &FitConfig,
    run_dir: &Path,
    devices: &[B::Device],
    stop: &StopWhen<'_>,
    mut model: M,
    size_multiple: Option<usize>,
) -> Result<FitOutcome>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Trainable<B>,
    M::InnerModule: Trainable<B::InnerBackend>,
{
    let device = &devices[0];
    std::fs::create_dir_all(run_dir.join("checkpoints"))?;
    let data = DataRecord::of(set, &set.store().url_of(""), config)?;
    let task = task_of(config, &data, set);
    let loader_config = LoaderConfig {
        batch_size: config.global_batch(),
        seed: config.seed,
        shuffle_buffer: config.shuffle_buffer,
        augment: config.augment,
        input: set.input_tensor().to_owned(),
        ..LoaderConfig::default()
    };
    let train = Loader::for_run(set.clone(), loader_config.clone(), &data)?;
    let valid = set.shards("validation").ok().filter(|s| !s.is_empty()).map(|_| {
        Loader::for_run(
            set.clone(),
            LoaderConfig { split: "validation".into(), augment: false, shuffle_buffer: 0, ..loader_config },
            &data,
        )
    });
    let valid = valid.transpose()?;
    let schedule = WarmupCosine {
        base_lr: config.scaled_lr(),
        warmup_steps: config.warmup_steps,
        total_steps: config.epochs * train.batches_per_epoch() as u64,
        min_lr: config.min_lr,
    };
    let mut optim = AdamWConfig::new().with_weight_decay(config.weight_decay).init::<B, M>();
    let recorder = Recorder::new();
    let mut position = Position { step: 0, epoch: 0, batch: 0, best: None };
    if let Some(dir) = latest_checkpoint(run_dir)? {
        let err = |e: burn::record::RecorderError| Error::Checkpoint { path: dir.clone(), reason: e.to_string() };
        model = model.load_file(dir.join("model"), &recorder, device).map_err(err)?;
        optim = optim.load_record(Recorder::new().load(dir.join("optimizer"), device).map_err(err)?);
        let state = std::fs::read(dir.join("state.json"))?;
        position = serde_json::from_slice(&state)
            .map_err(|e| Error::Checkpoint { path: dir.join("state.json"), reason: e.to_string() })?;
        tracing::info!(step = position.step, epoch = position.epoch, "resuming");
    }
    // Lines written after the checkpoint (by a killed call) are written again as the run replays those steps.
    keep_lines(&run_dir.join("losses.jsonl"), |v| v["step"].as_u64().is_some_and(|s| s <= position.step))?;
    keep_lines(&run_dir.join("metrics.jsonl"), |v| v["epoch"].as_u64().is_some_and(|e| e <= position.epoch))?;
    let resumed_from = position.step;
    let mut outcome = FitOutcome {
        steps: position.step,
        resumed_from,
        losses: Vec::new(),
        validation: Vec::new(),
        best: position.best,
        finished: false,
    };
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
            check_size(&batch, size_multiple)?;
            let lr = schedule.lr(position.step);
            let (value, mut grads) = if devices.len() == 1 {
                let loss = model.batch_loss(&batch, &task, device)?;
                let value = loss.clone().into_scalar().elem::<f64>();
                (value, GradientsParams::from_grads(loss.backward(), &model))
            } else {
                crate::parallel::replica_gradients(&model, &batch, &task, devices)?
            };
            if !value.is_finite() {
                return Err(Error::Diverged { step: position.step, loss: value });
            }
            outcome.losses.push(value);
            if let Some(limit) = config.clip_norm {
                clip_grad_norm(&model, &mut grads, limit);
            }
            for (share, group) in model.lr_groups(config) {
                let part = crate::lr_groups::take_group(&model, &mut grads, &group);
                if !part.is_empty() {
                    model = optim.step(lr * share, model, part);
                }
            }
            model = optim.step(lr, model, grads);
            position.step += 1;
            position.batch += 1;
            outcome.steps = position.step;
            let line = serde_json::json!({ "step": position.step, "epoch": position.epoch, "loss": value, "lr": lr });
            append_line(&run_dir.join("losses.jsonl"), &line.to_string())?;
            if let Some(report) = stop.on_step {
                report(&StepProgress {
                    step: position.step,
                    total_steps: config.epochs * train.batches_per_epoch() as u64,
                    epoch: position.epoch,
                    epochs: config.epochs,
                    loss: value,
                });
            }
            // The epoch's last step is checkpointed below, with the position moved to the next epoch.
            let epoch_end = position.batch == train.batches_per_epoch();
            if position.step.is_multiple_of(config.checkpoint_every.max(1)) && !epoch_end {
                checkpoint(run_dir, &model, &optim, position)?;
            }
        }
        position = Position { epoch: position.epoch + 1, batch: 0, ..position };
        if let Some(valid) = &valid {
            let inner = model.valid();
            let report = evaluate(&inner, valid, &task, Scores::for_model(&config.model, &task), device)?;
            let line = serde_json::json!({ "epoch": position.epoch, "step": position.step, "validation": report });
            append_line(&run_dir.join("metrics.jsonl"), &line.to_string())?;
            if let Some(score) = report.metric(config.metric())
                && position.best.is_none_or(|(best, _)| score > best)
            {
                position.best = Some((score, position.epoch));
                save_best(run_dir, &inner, config.metric(), score, position)?;
            }
            outcome.best = position.best;
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

/// A U-Net halves its input `depth` times (a segmenter down to its output stride): a side that does not divide
/// is refused before the network panics.
fn check_size(batch: &Batch, multiple: Option<usize>) -> Result<()> {
    let (_, _, h, w) = batch.inputs.dim();
    match multiple {
        Some(m) if h % m != 0 || w % m != 0 => Err(Error::Config {
            field: "model",
            reason: format!(
                "this network (a U-Net's depth, a segmenter's output stride) needs sides divisible by {m}; sample \
                 `{}` is {h}x{w}",
                batch.keys[0]
            ),
        }),
        _ => Ok(()),
    }
}

/// Saves the best model so far into `best/` (replaced as a whole by rename).
fn save_best<B: Backend, M: Module<B>>(
    run_dir: &Path,
    model: &M,
    metric: &str,
    score: f64,
    position: Position,
) -> Result<()> {
    let work = run_dir.join(".best.partial");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    model
        .clone()
        .save_file(work.join("model"), &Recorder::new())
        .map_err(|e| Error::Checkpoint { path: work.join("model.mpk"), reason: e.to_string() })?;
    let record =
        serde_json::json!({ "metric": metric, "value": score, "epoch": position.epoch, "step": position.step });
    std::fs::write(work.join("best.json"), serde_json::to_vec_pretty(&record).unwrap_or_default())?;
    let done = run_dir.join("best");
    if done.exists() {
        std::fs::remove_dir_all(&done)?;
    }
    std::fs::rename(&work, &done)?;
    Ok(())
}

/// Writes a checkpoint into a fresh folder, then points `checkpoints/latest` at it (both by rename), so a kill
/// at any moment leaves the previous checkpoint or the new one, never half of one.
fn checkpoint<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    run_dir: &Path,
    model: &M,
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

/// Keeps the JSON lines of `path` that `keep` accepts (no file: nothing to do).
fn keep_lines(path: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut kept = String::with_capacity(text.len());
    for line in text.lines().filter(|line| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| keep(&v))) {
        kept.push_str(line);
        kept.push('\n');
    }
    if kept.len() != text.len() {
        let work = path.with_extension("jsonl.partial");
        std::fs::write(&work, kept)?;
        std::fs::rename(&work, path)?;
    }
    Ok(())
}

/// Writes `config.toml` into `run_dir`, or checks that the one there is this configuration: a run directory
/// belongs to one configuration, and resuming with another would mix two runs.
fn write_or_check_config(config: &FitConfig, run_dir: &Path) -> Result<()> {
    let path = run_dir.join("config.toml");
    let text = toml::to_string_pretty(config).map_err(|e| Error::Config { field: "config", reason: e.to_string() })?;
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == text => Ok(()),
        Ok(existing) => {
            let before: FitConfig =
                toml::from_str(&existing).map_err(|e| Error::Run { path: path.clone(), reason: e.to_string() })?;
            let differ = before.differences(config);
            if differ == ["epochs"] && config.epochs > before.epochs {
                // Extending a run: more epochs from its last checkpoint (the schedule spans the new total).
                return Ok(std::fs::write(&path, text)?);
            }
            Err(Error::Run {
                path,
                reason: format!(
                    "was made with another configuration ({} differ{}); use a new run directory, the same settings \
                     to resume, or a larger --epochs to extend it",
                    differ.join(", "),
                    if differ.len() == 1 { "s" } else { "" }
                ),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(std::fs::write(&path, text)?),
        Err(e) => Err(e.into()),
    }
}
