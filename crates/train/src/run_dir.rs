//! [`TrainedRun`]: a run directory read back — its configuration, what it learned from ([`DataRecord`]) and its
//! weights — so a trained network can be scored or applied to a scene elsewhere.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use eoforge_models::{PatchClassifier, UNet};
use eoforge_shards::ClassInfo;

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
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
    /// Output classes with names and colours (segmentation sets); empty when the set declares none.
    pub classes: Vec<ClassInfo>,
    /// Label value left out of losses and metrics.
    pub ignore: Option<i64>,
}

impl DataRecord {
    /// The record of `set` at `url` for a run configured by `config`.
    pub fn of(set: &ShardSet, url: &str, config: &FitConfig) -> Result<Self> {
        let stats = set.stats();
        Ok(Self {
            source: url.to_owned(),
            input: set.input_tensor().to_owned(),
            channels: stats.channels.clone(),
            mean: stats.mean.clone(),
            std: stats.std.iter().map(|s| if *s > 0.0 { *s } else { 1.0 }).collect(),
            classes: set.classes()?,
            ignore: crate::fit::task_of(config, set).ignore,
        })
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

/// A finished run directory: configuration, data record and weights.
#[derive(Clone, Debug)]
pub struct TrainedRun {
    /// The directory.
    pub dir: PathBuf,
    /// `config.toml`.
    pub config: FitConfig,
    /// `data.json`.
    pub data: DataRecord,
}

impl TrainedRun {
    /// Reads `config.toml` and `data.json` of `dir` and checks that weights exist; errors name the file.
    pub fn open(dir: &Path) -> Result<Self> {
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
        if data.channels.len() != config.model.in_channels() || data.mean.len() != data.channels.len() {
            return Err(Error::Run {
                path: dir.join("data.json"),
                reason: format!(
                    "{} channels, but config.toml's model takes {}",
                    data.channels.len(),
                    config.model.in_channels()
                ),
            });
        }
        let run = Self { dir: dir.to_owned(), config, data };
        let weights = run.weights();
        if !weights.is_file() {
            return Err(Error::Run { path: weights, reason: "missing: the run has not finished".into() });
        }
        Ok(run)
    }

    /// The weights applied: the best checkpoint's (`best/model.mpk`) when the run validated, else the final
    /// `model.mpk`.
    pub fn weights(&self) -> PathBuf {
        let best = self.dir.join("best/model.mpk");
        if best.is_file() { best } else { self.dir.join("model.mpk") }
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

    /// The trained segmentation network, U-Net or segmenter; an error when the run trained another family.
    pub fn segmentation<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::SegmentationNet<B>> {
        match &self.config.model {
            ModelConfig::Unet(_) => self.unet(device).map(eoforge_models::SegmentationNet::Unet),
            ModelConfig::Segmenter(_) => self.segmenter(device).map(eoforge_models::SegmentationNet::Segmenter),
            _ => Err(self.wrong_family("a segmentation network (U-Net or segmenter)")),
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

    /// The trained super-resolution network; an error when the run trained another family.
    pub fn sr<B: Backend>(&self, device: &B::Device) -> Result<eoforge_models::SuperResolution<B>> {
        let ModelConfig::Sr(config) = &self.config.model else {
            return Err(self.wrong_family("a super-resolution network"));
        };
        let model = config.init(device).map_err(|e| self.config_error(&e))?;
        self.load(model, device)
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
