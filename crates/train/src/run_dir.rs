//! [`TrainedRun`]: a run directory read back — its configuration, what it learned from ([`DataRecord`]) and its
//! weights — so a trained network can be scored or applied to a scene elsewhere.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use eoforge_models::{PatchClassifier, UNet};
use eoforge_shards::ClassTable;

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::fit::task_of;
use crate::loader::{Loader, LoaderConfig};
use crate::objective::{Report, Scores, evaluate};
use crate::shard_set::ShardSet;

/// The data a run learned from, as `data.json` in its directory records it: what a user of the weights must
/// feed them (channels in order, normalisation) and what the outputs mean (classes).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataRecord {
    /// The shard set's URL.
    pub source: String,
    /// The input tensor's name in the shards.
    pub input: String,
    /// Input channel names, in order.
    pub channels: Vec<String>,
    /// Per-channel mean subtracted before the network.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation divided by before the network (0 is replaced by 1).
    pub std: Vec<f64>,
    /// Per-channel value range (`max − min`) of the training split: super-resolution scores' data range.
    #[serde(default)]
    pub range: Vec<f64>,
    /// The class table: output `i` of the network is `classes[i]`, whose label value is `value` (segmentation
    /// sets); empty when the set declares none (mask values are then the indices themselves).
    pub classes: ClassTable,
    /// Label value left out of losses and metrics ("no label"); never a class.
    pub ignore: Option<i64>,
    /// Frames per sample (multi-temporal sets; inputs hold `channels × frames` planes, channel-major).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub frames: usize,
    /// The regression target and the statistics it is normalised with (regression runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::shard_set::TargetRecord>,
    /// How the inputs were de-quantised from a scene's stored values (the same mapping applies to new scenes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dequantize: Option<eoforge_shards::Dequantize>,
}

fn one() -> usize {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_one(n: &usize) -> bool {
    *n == 1
}

impl DataRecord {
    /// The record of `set` at `url` for a run configured by `config`: the set's statistics and class table, the
    /// configuration's `loss.ignore_index` (else the set's ignore value) as "no label".
    pub fn of(set: &ShardSet, url: &str, config: &FitConfig) -> Result<Self> {
        let mut record = Self::of_set(set, url, config.loss.ignore_index)?;
        if !config.model.is_segmentation() {
            // Only segmentation networks predict the set's classes.
            record.classes = ClassTable::default();
        }
        if config.model.is_regression() {
            record.target = Some(set.target().ok_or_else(|| Error::ShardSet {
                url: set.store().url_of("index.json"),
                reason: "has no regression target (`target`); cut the set with `eoforge-prep windows --target`".into(),
            })?);
        }
        Ok(record)
    }

    /// The record of `set` at `url` with `ignore` (else the set's ignore value) as "no label".
    pub fn of_set(set: &ShardSet, url: &str, ignore: Option<i64>) -> Result<Self> {
        let stats = set.stats();
        if stats.mean.len() != stats.channels.len() {
            return Err(Error::ShardSet {
                url: set.store().url_of("stats.json"),
                reason: "has no statistics of a training split to normalise with; score the set with a run's                          (`eoforge-train eval --run`)"
                    .into(),
            });
        }
        let ignore = ignore.or_else(|| set.ignore().map(i64::from));
        let table = set.class_table()?;
        let classes =
            ClassTable::new(table.classes().iter().filter(|c| Some(i64::from(c.value)) != ignore).cloned().collect())
                .map_err(|reason| Error::ShardSet { url: set.store().url_of("index.json"), reason })?;
        Ok(Self {
            source: url.to_owned(),
            input: set.input_tensor().to_owned(),
            channels: stats.channels.clone(),
            mean: stats.mean.clone(),
            std: stats.std.iter().map(|s| if *s > 0.0 { *s } else { 1.0 }).collect(),
            range: stats.max.iter().zip(&stats.min).map(|(hi, lo)| hi - lo).collect(),
            classes,
            ignore,
            frames: set.frames(),
            target: None,
            dequantize: set.dequantize()?,
        })
    }

    /// How this run's masks map label values to class indices.
    pub fn label_mapping(&self) -> crate::labels::LabelMapping {
        crate::labels::LabelMapping::new(&self.classes, self.ignore.and_then(|v| u16::try_from(v).ok()))
    }

    /// Writes `data.json` into `run_dir`, or checks that the one there describes the same data (a run resumed
    /// on another shard set would mix two datasets).
    pub fn write_or_check(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join("data.json");
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => Ok(()),
            Ok(_) => Err(Error::Run {
                path,
                reason: "was written for another shard set or its statistics changed; use a new run directory".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(std::fs::write(&path, text)?),
            Err(e) => Err(e.into()),
        }
    }
}

/// Where a run stands: finished, or stopped at its last checkpoint's epoch and step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunState {
    /// Every configured epoch trained and the final weights written.
    pub finished: bool,
    /// Epochs completed.
    pub epoch: u64,
    /// Epochs configured.
    pub epochs: u64,
    /// Optimiser steps taken.
    pub step: u64,
}

impl RunState {
    /// `finished`, or `unfinished (epoch E of N, step S)`.
    pub fn describe(&self) -> String {
        if self.finished {
            "finished".into()
        } else {
            format!("unfinished (epoch {} of {}, step {})", self.epoch, self.epochs, self.step)
        }
    }
}

/// A run directory: configuration, data record, weights and where the run stands.
#[derive(Clone, Debug)]
pub struct TrainedRun {
    /// The directory.
    pub dir: PathBuf,
    /// `config.toml`.
    pub config: FitConfig,
    /// `data.json`.
    pub data: DataRecord,
    /// Finished, or where it stopped.
    pub state: RunState,
}

impl TrainedRun {
    /// Reads a finished run: `config.toml`, `data.json` and its weights; an unfinished run (stopped before its last
    /// epoch) is refused, naming its epoch and step. Errors name the file.
    pub fn open(dir: &Path) -> Result<Self> {
        let run = Self::open_any(dir)?;
        if !run.state.finished {
            return Err(Error::Run {
                path: dir.to_owned(),
                reason: format!(
                    "the run is {}: run `eoforge-train fit` again to finish it, or allow an unfinished run \
                     (--allow-unfinished)",
                    run.state.describe()
                ),
            });
        }
        Ok(run)
    }

    /// [`TrainedRun::open`], or [`TrainedRun::open_any`] when `allow_unfinished` (`--allow-unfinished`).
    pub fn open_with(dir: &Path, allow_unfinished: bool) -> Result<Self> {
        if allow_unfinished { Self::open_any(dir) } else { Self::open(dir) }
    }

    /// [`TrainedRun::open`] that also takes an unfinished run: its best checkpoint's weights, else its latest
    /// checkpoint's.
    pub fn open_any(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| Error::Run {
                path,
                reason: if e.kind() == std::io::ErrorKind::NotFound {
                    "missing: not a run directory of `eoforge-train fit`".into()
                } else {
                    e.to_string()
                },
            })
        };
        let config: FitConfig = toml::from_str(&read("config.toml")?)
            .map_err(|e| Error::Run { path: dir.join("config.toml"), reason: e.to_string().trim().to_owned() })?;
        let data: DataRecord = serde_json::from_str(&read("data.json")?)
            .map_err(|e| Error::Run { path: dir.join("data.json"), reason: e.to_string() })?;
        if data.channels.len() * data.frames.max(1) != config.model.in_channels()
            || data.mean.len() != data.channels.len()
        {
            return Err(Error::Run {
                path: dir.join("data.json"),
                reason: format!(
                    "{} channels × {} frames, but config.toml's model takes {}",
                    data.channels.len(),
                    data.frames,
                    config.model.in_channels()
                ),
            });
        }
        if config.model.is_segmentation() && !data.classes.is_empty() && data.classes.len() != config.model.classes() {
            return Err(Error::Run {
                path: dir.join("data.json"),
                reason: format!(
                    "its class table has {} classes, config.toml's model {}; the run predates class tables or was \
                     edited: train it again",
                    data.classes.len(),
                    config.model.classes()
                ),
            });
        }
        let state = run_state(dir, config.epochs)?;
        let run = Self { dir: dir.to_owned(), config, data, state };
        let weights = run.weights();
        if !weights.is_file() {
            return Err(Error::Run { path: weights, reason: "missing: the run has no weights yet".into() });
        }
        Ok(run)
    }

    /// The run's class table (a run that predates class tables predicts indices 0…classes−1).
    pub fn class_table(&self) -> ClassTable {
        if self.data.classes.is_empty() {
            let classes = self.config.model.classes();
            ClassTable::of_values((0..classes).filter_map(|i| u16::try_from(i).ok()), |_| None, |_| None)
        } else {
            self.data.classes.clone()
        }
    }

    /// The weights applied: the best checkpoint's (`best/model.mpk`) when the run validated, else the final
    /// `model.mpk` (an unfinished run without either: its latest checkpoint's).
    pub fn weights(&self) -> PathBuf {
        let best = self.dir.join("best/model.mpk");
        let last = self.dir.join("model.mpk");
        if best.is_file() {
            best
        } else if self.state.finished || last.is_file() {
            last
        } else {
            latest_checkpoint(&self.dir).map_or(last, |dir| dir.join("model.mpk"))
        }
    }

    /// The trained U-Net; an error when the run trained another family.
    pub fn unet<B: Backend>(&self, device: &B::Device) -> Result<UNet<B>> {
        let ModelConfig::Unet(config) = &self.config.model else {
            return Err(self.wrong_family("a U-Net"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
    }

    /// The trained embedding segmenter; an error when the run trained another family.
    pub fn segmenter<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::Segmenter<B>> {
        let ModelConfig::Segmenter(config) = &self.config.model else {
            return Err(self.wrong_family("a segmenter"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
    }

    /// The trained segmentation network, U-Net, segmenter, ViT or SegFormer; an error when the run trained another family.
    pub fn segmentation<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::SegmentationNet<B>> {
        match &self.config.model {
            ModelConfig::Unet(_) => self.unet(device).map(eoforge_models::SegmentationNet::Unet),
            ModelConfig::Segmenter(_) => self.segmenter(device).map(eoforge_models::SegmentationNet::Segmenter),
            ModelConfig::Vit(config) => {
                let model = config.init(device).map_err(|e| self.config_error(&e))?;
                self.load(model, device).map(eoforge_models::SegmentationNet::Vit)
            }
            ModelConfig::Segformer(config) => {
                let model = config.init(device).map_err(|e| self.config_error(&e))?;
                self.load(model, device).map(eoforge_models::SegmentationNet::SegFormer)
            }
            _ => Err(self.wrong_family("a segmentation network (U-Net, segmenter, ViT or SegFormer)")),
        }
    }

    /// The trained multi-label classifier; an error when the run trained another family.
    pub fn classifier<B: Backend>(&self, device: &B::Device) -> Result<PatchClassifier<B>> {
        let ModelConfig::Classifier(config) = &self.config.model else {
            return Err(self.wrong_family("a classifier"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
    }

    /// The trained ViT classifier; an error when the run trained another family.
    pub fn vit_classifier<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::VitClassifier<B>> {
        let ModelConfig::VitClassifier(config) = &self.config.model else {
            return Err(self.wrong_family("a ViT classifier"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
    }

    /// The trained ViT regressor; an error when the run trained another family.
    pub fn vit_regressor<B: Backend>(&self, device: &B::Device) -> Result<crate::objective::VitRegressor<B>> {
        let ModelConfig::VitRegressor(config) = &self.config.model else {
            return Err(self.wrong_family("a ViT regressor"));
        };
        let net = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(crate::objective::VitRegressor { net }, device)
    }

    /// The trained super-resolution network; an error when the run trained another family.
    pub fn sr<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::SuperResolution<B>> {
        let ModelConfig::Sr(config) = &self.config.model else {
            return Err(self.wrong_family("a super-resolution network"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
    }

    /// Scores the run's weights on split `split` of `set`, normalised with the run's own `data.json` and mapped
    /// through its class table, whatever the set's statistics say; any set with the run's channels can be scored.
    pub fn evaluate<B: Backend>(&self, set: &ShardSet, split: &str, device: &B::Device) -> Result<Report> {
        if set.stats().channels != self.data.channels {
            return Err(Error::ShardSet {
                url: set.store().url_of("stats.json"),
                reason: format!(
                    "has channels {:?}; the run `{}` was trained on {:?}",
                    set.stats().channels,
                    self.dir.display(),
                    self.data.channels
                ),
            });
        }
        let loader = Loader::for_run(
            set.clone(),
            LoaderConfig {
                split: split.to_owned(),
                batch_size: self.config.batch_size,
                shuffle_buffer: 0,
                input: self.data.input.clone(),
                ..LoaderConfig::default()
            },
            &self.data,
        )?;
        let task = task_of(&self.config, &self.data, set);
        let scores = Scores::for_model(&self.config.model, &task);
        match &self.config.model {
            ModelConfig::Classifier(_) => evaluate(&self.classifier::<B>(device)?, &loader, &task, scores, device),
            ModelConfig::VitClassifier(_) => {
                evaluate(&self.vit_classifier::<B>(device)?, &loader, &task, scores, device)
            }
            ModelConfig::VitRegressor(_) => evaluate(&self.vit_regressor::<B>(device)?, &loader, &task, scores, device),
            ModelConfig::Unet(_) => evaluate(&self.unet::<B>(device)?, &loader, &task, scores, device),
            ModelConfig::Segmenter(_) | ModelConfig::Vit(_) | ModelConfig::Segformer(_) => {
                evaluate(&self.segmentation::<B>(device)?, &loader, &task, scores, device)
            }
            ModelConfig::Sr(_) => evaluate(&self.sr::<B>(device)?, &loader, &task, scores, device),
        }
    }

    fn load<B: Backend, M: Module<B>>(&self, model: M, device: &B::Device) -> Result<M> {
        let weights = self.weights();
        let stem = weights.with_extension("");
        model
            .load_file(stem, &NamedMpkFileRecorder::<FullPrecisionSettings>::new(), device)
            .map_err(|e| Error::Run { path: weights, reason: format!("does not fit config.toml's model: {e}") })
    }

    fn wrong_family(&self, wanted: &str) -> Error {
        Error::Run { path: self.dir.join("config.toml"), reason: format!("the run did not train {wanted}") }
    }

    fn config_error(&self, e: &eoforge_models::ConfigError) -> Error {
        Error::Run { path: self.dir.join("config.toml"), reason: e.to_string() }
    }
}

/// The newest complete checkpoint folder of the run in `dir`, if any.
fn latest_checkpoint(dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(dir.join("checkpoints/latest")).ok()?;
    Some(dir.join("checkpoints").join(name.trim()))
}

/// Where the run in `dir` stands: finished when its final weights are written and its last checkpoint (if it has
/// checkpoints: an imported run has none) completed every configured epoch.
fn run_state(dir: &Path, epochs: u64) -> Result<RunState> {
    #[derive(serde::Deserialize)]
    struct Position {
        step: u64,
        epoch: u64,
        #[serde(default)]
        batch: usize,
    }
    let last = dir.join("model.mpk").is_file();
    let Some(checkpoint) = latest_checkpoint(dir) else {
        return Ok(RunState { finished: last, epoch: if last { epochs } else { 0 }, epochs, step: 0 });
    };
    let path = checkpoint.join("state.json");
    let text = std::fs::read(&path)?;
    let position: Position =
        serde_json::from_slice(&text).map_err(|e| Error::Checkpoint { path: path.clone(), reason: e.to_string() })?;
    Ok(RunState {
        finished: last && position.epoch >= epochs && position.batch == 0,
        epoch: position.epoch,
        epochs,
        step: position.step,
    })
}
