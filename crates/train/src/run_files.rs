//! [`RunDir`]: a run directory being trained — the one owner of its layout and of the records a training call
//! leaves there beside what [`crate::fit_on`] writes (`config.toml`, `data.json`, checkpoints, metrics): the
//! configuration (defaults, a file over them, flags over both), `run.json` (what made the run, every call),
//! `profile.json` ([`FitProfile`]), `errors.log` and the pictures of a finished run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use eoforge_models::{PatchClassifierConfig, UNetConfig};

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::fit::{FitOutcome, StopWhen, fit_on};
use crate::loader::{Loader, LoaderConfig};
use crate::parallel::LrScaling;
use crate::run_dir::TrainedRun;
use crate::shard_set::ShardSet;

/// Settings given for one call (`eoforge-train fit` flags), each over the same field of the configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitOverrides {
    /// Passes over the training split.
    pub epochs: Option<u64>,
    /// Samples per batch, per replica.
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// Seed of weights, data order and augmentation.
    pub seed: Option<u64>,
    /// Checkpoint every N steps.
    pub checkpoint_every: Option<u64>,
    /// How the learning rate follows the replica count.
    pub lr_scaling: Option<LrScaling>,
    /// Data-parallel replicas (default: one per device).
    pub replicas: Option<usize>,
}

/// What one training call measured, as `profile.json` holds it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitProfile {
    /// Seconds per stage of the call (`training`, `pictures`), under `stages` as in every eoforge profile.
    pub stages: std::collections::BTreeMap<String, f64>,
    /// Wall seconds of the call.
    pub total_s: f64,
    /// Optimiser steps this call took.
    pub steps: u64,
    /// The step it resumed from (0 for a fresh run).
    pub resumed_from_step: u64,
    /// Training samples per second.
    pub samples_per_s: f64,
    /// Data-parallel replicas.
    pub replicas: usize,
    /// The devices, as given.
    pub devices: String,
    /// Peak resident memory in MiB.
    pub peak_rss_mib: f64,
    /// Whether the run reached its last epoch.
    pub finished: bool,
}

/// A run directory being trained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (created by the first call that trains into it).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration of a call: the defaults for `set` ([`default_model`], [`FitConfig::new`]), the TOML
    /// file's fields over them ([`FitConfig::from_toml`]), then `overrides`; `devices` replicas unless given. A
    /// default warm-up is capped at a tenth of the run, so short runs reach their peak learning rate.
    pub fn configure(
        set: &ShardSet,
        file: Option<&Path>,
        overrides: &FitOverrides,
        devices: usize,
    ) -> Result<FitConfig> {
        let config_error = |path: &Path, reason: String| Error::Run { path: path.to_owned(), reason };
        let (mut config, warmup_given) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| config_error(path, e.to_string()))?;
                let given = text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("warmup_steps"));
                let config = FitConfig::from_toml(&text, || default_model(set).map_err(|e| e.to_string()))
                    .map_err(|reason| config_error(path, reason))?;
                (config, given)
            }
            None => (FitConfig::new(default_model(set)?), false),
        };
        let o = overrides;
        config.epochs = o.epochs.unwrap_or(config.epochs);
        config.batch_size = o.batch_size.unwrap_or(config.batch_size);
        config.lr = o.lr.unwrap_or(config.lr);
        config.seed = o.seed.unwrap_or(config.seed);
        config.checkpoint_every = o.checkpoint_every.unwrap_or(config.checkpoint_every);
        config.lr_scaling = o.lr_scaling.unwrap_or(config.lr_scaling);
        match o.replicas {
            Some(n) => config.replicas = n,
            None if devices > 1 => config.replicas = devices,
            None => {}
        }
        let bad = |field, reason: String| Err(Error::Config { field, reason });
        if config.replicas < devices.max(1) {
            return bad("replicas", format!("is {}, fewer than the {devices} devices", config.replicas));
        }
        if config.batch_size == 0 || config.epochs == 0 || config.lr.is_nan() || config.lr <= 0.0 {
            return bad("batch_size", "batch size, epochs and learning rate must be positive".into());
        }
        if !warmup_given {
            let loader = LoaderConfig { batch_size: config.global_batch(), ..LoaderConfig::default() };
            let batches = Loader::new(set.clone(), loader)?.batches_per_epoch() as u64;
            config.warmup_steps = config.warmup_steps.min((batches * config.epochs / 10).max(1));
        }
        Ok(config)
    }

    /// Trains `config` on `set` into this directory over `devices` (resuming from its checkpoint), recording the
    /// call in `run.json`, its figures in `profile.json` and any failure in `errors.log`; a finished run gets its
    /// pictures, drawn on `picture_device`. `record` says what made the call (versions, command line, device
    /// names).
    pub fn train<B: AutodiffBackend, P: Backend>(
        &self,
        set: &ShardSet,
        config: &FitConfig,
        devices: &[B::Device],
        picture_device: &P::Device,
        record: &CallRecord,
        stop: &StopWhen<'_>,
    ) -> Result<(FitOutcome, FitProfile)> {
        let result = (|| -> Result<(FitOutcome, FitProfile)> {
            let start = Instant::now();
            std::fs::create_dir_all(&self.path)
                .map_err(|e| Error::Run { path: self.path.clone(), reason: format!("cannot create it: {e}") })?;
            self.record_call(record)?;
            let mut stages = eoforge_profile::Stages::default();
            let t = Instant::now();
            let outcome = fit_on::<B>(set, config, &self.path, devices, stop)?;
            let train_s = t.elapsed().as_secs_f64();
            stages.add("training", train_s);
            if outcome.finished {
                let t = Instant::now();
                let run = TrainedRun::open(&self.path)?;
                crate::pictures::draw_run::<P>(&run, set, picture_device)?;
                stages.add("pictures", t.elapsed().as_secs_f64());
            }
            let steps = outcome.steps - outcome.resumed_from;
            let profile = FitProfile {
                stages: stages.0,
                total_s: start.elapsed().as_secs_f64(),
                steps,
                resumed_from_step: outcome.resumed_from,
                samples_per_s: (steps as usize * config.global_batch()) as f64 / train_s.max(1e-9),
                replicas: config.replicas,
                devices: record.device.clone(),
                peak_rss_mib: eoforge_profile::peak_rss_mib(),
                finished: outcome.finished,
            };
            let text = serde_json::to_vec_pretty(&profile)
                .map_err(|e| Error::Config { field: "profile", reason: e.to_string() })?;
            std::fs::write(self.path.join("profile.json"), text)?;
            Ok((outcome, profile))
        })();
        if let Err(e) = &result {
            self.log_error(e);
        }
        result
    }

    /// Appends `error` with its causes to `errors.log` (a run directory keeps every failure beside its
    /// checkpoints); a directory that does not exist is left alone.
    pub fn log_error(&self, error: &dyn std::error::Error) {
        if !self.path.is_dir() {
            return;
        }
        let mut text = format!("{} fit failed: {error}", eoforge_profile::utc_now());
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join("errors.log"))
            .and_then(|mut f| writeln!(f, "{text}"));
        if let Err(e) = appended {
            tracing::warn!("cannot append to {}: {e}", self.path.join("errors.log").display());
        }
    }

    /// `run.json`: what made the run; this call is added to `calls`.
    fn record_call(&self, record: &CallRecord) -> Result<()> {
        let path = self.path.join("run.json");
        let mut run: RunJson = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::Run { path: path.clone(), reason: e.to_string() })?
            }
            Err(_) => RunJson {
                eoforge_version: record.eoforge_version.clone(),
                git_revision: record.git_revision.clone(),
                burn_version: "0.21.0".into(),
                data: record.data.clone(),
                calls: Vec::new(),
            },
        };
        run.calls.push(Call {
            started: eoforge_profile::utc_now(),
            command: record.command.clone(),
            device: record.device.clone(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned(),
        });
        let text =
            serde_json::to_vec_pretty(&run).map_err(|e| Error::Run { path: path.clone(), reason: e.to_string() })?;
        std::fs::write(&path, text)?;
        Ok(())
    }
}

/// What made a training call, for `run.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRecord {
    /// The shard set's URL.
    pub data: String,
    /// The devices, as given.
    pub device: String,
    /// The command line.
    pub command: Vec<String>,
    /// The eoforge version of the binary.
    pub eoforge_version: String,
    /// The git revision it was built from.
    pub git_revision: String,
}

/// `run.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RunJson {
    eoforge_version: String,
    git_revision: String,
    burn_version: String,
    data: String,
    calls: Vec<Call>,
}

/// One call in `run.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Call {
    started: String,
    command: Vec<String>,
    device: String,
    host: String,
}

/// The network of a run when the configuration names none, for `set`: a U-Net over its channels with one output
/// per class of its class table for a segmentation set, else the multi-label classifier for BigEarthNet's 19
/// classes.
pub fn default_model(set: &ShardSet) -> Result<ModelConfig> {
    let channels = set.input_channels();
    if set.target().is_some() {
        return Err(Error::ShardSet {
            url: set.store().url_of("index.json"),
            reason: "is a regression set: name the network in the configuration ([model] kind = \"vit_regressor\")"
                .into(),
        });
    }
    if !set.is_segmentation() {
        return Ok(ModelConfig::Classifier(PatchClassifierConfig::new(channels, 19)));
    }
    let classes = set.class_table()?.len();
    if classes < 2 {
        return Err(Error::ShardSet {
            url: set.store().url_of("index.json"),
            reason: format!(
                "has {classes} class (label values other than the ignore value); a segmentation network needs two \
                 or more"
            ),
        });
    }
    Ok(ModelConfig::Unet(UNetConfig::new(channels, classes)))
}
