//! The evaluation suite: one backbone (a ViT encoder's weights and configuration) fine-tuned on several downstream
//! tasks, each into its own run directory under the suite's output, then one comparison table (`suite.json`) and
//! a page (`index.html`) with each task's metrics beside its trivial baseline, epochs, wall time, peak memory,
//! parameters trained and frozen, and its pictures. A task that fails writes `error.txt` in its directory and the
//! others go on; a finished task is skipped on a rerun. Every row records the content hash of its shard set
//! (index, statistics and every shard file) and of its configuration, so two suites can be compared
//! ([`compare_suites`]).
//!
//! `SUITE.toml`:
//! ```toml
//! [backbone]
//! weights = "prithvi/model.safetensors"   # TerraTorch names; relative paths are from the suite file
//! config = "prithvi/config.json"          # TerraTorch's PrithviViT arguments
//! remap = []                              # RE=REPLACEMENT renames (`^encoder\.=` for a PrithviMAE checkpoint)
//!
//! [defaults]                              # run settings every task starts from (any `FitConfig` field)
//! batch_size = 8
//! lr = 3e-3
//!
//! [[task]]
//! name = "land-use"
//! kind = "segmentation"                   # segmentation | classification | regression
//! data = "shards/land-use"                # a shard set (path or URL)
//! decoder = "upernet"                     # fcn | upernet (dense tasks)
//! freeze = true
//! epochs = 5
//! [task.settings]                         # this task's own run settings over the defaults
//! lr = 1e-3
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use eoforge_models::{VitClassifierConfig, VitConfig, VitDecoder, VitPool, VitSegmenterConfig};
use eoforge_storage::StoreOptions;
use sha2::Digest;

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::fit::StopWhen;
use crate::run_dir::TrainedRun;
use crate::run_files::{CallRecord, FitProfile, RunDir};
use crate::shard_set::ShardSet;

/// A suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteConfig {
    /// The backbone every task fine-tunes.
    pub backbone: Backbone,
    /// Run settings every task starts from (`FitConfig` fields: `batch_size`, `lr`, `seed`, …).
    #[serde(default)]
    pub defaults: toml::Table,
    /// The downstream tasks, run in this order.
    #[serde(rename = "task")]
    pub tasks: Vec<SuiteTask>,
}

/// The backbone: encoder weights and configuration.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backbone {
    /// Safetensors under TerraTorch's names (`None`: a randomly initialised encoder, for a from-scratch reference).
    #[serde(default)]
    pub weights: Option<PathBuf>,
    /// TerraTorch's `PrithviViT` arguments as JSON (`in_chans` and `num_frames` are taken from each task's data).
    pub config: PathBuf,
    /// Renames of the checkpoint's tensors, `RE=REPLACEMENT`.
    #[serde(default)]
    pub remap: Vec<String>,
}

/// A downstream task kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Per-pixel classes from `mask` tensors.
    Segmentation,
    /// Multi-label scene classes from `labels` tensors.
    Classification,
    /// Per-pixel values from `target` tensors.
    Regression,
}

/// One downstream task.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteTask {
    /// Its name: the run directory under the suite's output.
    pub name: String,
    /// What it predicts.
    pub kind: TaskKind,
    /// Its shard set (path or URL; relative paths are from the suite file).
    pub data: String,
    /// The dense decoder (segmentation and regression).
    #[serde(default)]
    pub decoder: VitDecoder,
    /// Train the head only.
    #[serde(default)]
    pub freeze: bool,
    /// Passes over the training split.
    pub epochs: u64,
    /// Channels of the decoder's convolutions.
    #[serde(default = "default_decoder_channels")]
    pub decoder_channels: usize,
    /// This task's run settings over the suite's defaults.
    #[serde(default)]
    pub settings: toml::Table,
}

fn default_decoder_channels() -> usize {
    64
}

impl SuiteConfig {
    /// Reads a suite file; relative paths in it are made relative to its directory.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Run { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut suite: Self = toml::from_str(&text).map_err(|e| bad(e.to_string().trim().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
        suite.backbone.config = resolve(&suite.backbone.config);
        suite.backbone.weights = suite.backbone.weights.as_deref().map(resolve);
        for task in &mut suite.tasks {
            if !task.data.contains("://") {
                task.data = resolve(Path::new(&task.data)).display().to_string();
            }
        }
        if suite.tasks.is_empty() {
            return Err(bad("names no [[task]]".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for task in &suite.tasks {
            if task.name.is_empty() || task.name.contains(['/', '\\']) || task.name.starts_with('.') {
                return Err(bad(format!("task name `{}` must be a plain directory name", task.name)));
            }
            if !seen.insert(&task.name) {
                return Err(bad(format!("task name `{}` is used twice", task.name)));
            }
        }
        Ok(suite)
    }

    /// The encoder configuration of the backbone.
    pub fn encoder(&self) -> Result<VitConfig> {
        let path = &self.backbone.config;
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Run { path: path.clone(), reason: e.to_string() })?;
        serde_json::from_str(&text).map_err(|e| Error::Run { path: path.clone(), reason: e.to_string() })
    }

    /// The run configuration of `task` on `set`: its network (the backbone with the task's head, channels and
    /// frames from the data) under the suite's defaults and the task's settings.
    pub fn fit_config(&self, task: &SuiteTask, set: &ShardSet) -> Result<FitConfig> {
        let mut encoder = self.encoder()?;
        encoder.in_chans = set.stats().channels.len();
        encoder.num_frames = set.frames();
        let weights = self.backbone.weights.clone();
        let remap = self.backbone.remap.clone();
        let dense = |classes| VitSegmenterConfig {
            encoder: encoder.clone(),
            classes,
            decoder: task.decoder,
            decoder_channels: task.decoder_channels,
            feature_blocks: None,
            freeze: task.freeze,
            encoder_weights: weights.clone(),
            encoder_remap: remap.clone(),
        };
        let wrong = |what: &str| Error::ShardSet {
            url: set.store().url_of("index.json"),
            reason: format!("task `{}` is {:?}, but the set {what}", task.name, task.kind),
        };
        let model = match task.kind {
            TaskKind::Segmentation => {
                if !set.is_segmentation() {
                    return Err(wrong("is no segmentation set (no class table)"));
                }
                ModelConfig::Vit(dense(set.class_table()?.len()))
            }
            TaskKind::Regression => {
                if set.target().is_none() {
                    return Err(wrong("has no regression target"));
                }
                ModelConfig::VitRegressor(dense(1))
            }
            TaskKind::Classification => {
                if set.is_segmentation() || set.target().is_some() {
                    return Err(wrong("holds per-pixel targets, not scene labels"));
                }
                ModelConfig::VitClassifier(VitClassifierConfig {
                    encoder: encoder.clone(),
                    classes: 19,
                    pool: VitPool::Mean,
                    freeze: task.freeze,
                    encoder_weights: weights,
                    encoder_remap: remap,
                })
            }
        };
        let mut settings = self.defaults.clone();
        settings.extend(task.settings.clone());
        settings.insert("epochs".into(), toml::Value::Integer(i64::try_from(task.epochs).unwrap_or(i64::MAX)));
        settings.insert(
            "model".into(),
            toml::Value::try_from(&model).map_err(|e| Error::Config { field: "model", reason: e.to_string() })?,
        );
        let text =
            toml::to_string(&settings).map_err(|e| Error::Config { field: "settings", reason: e.to_string() })?;
        FitConfig::from_toml(&text, || Ok(model.clone()))
            .map_err(|reason| Error::Config { field: "settings", reason: format!("task `{}`: {reason}", task.name) })
    }
}

/// One row of the comparison table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteRow {
    /// The task's name.
    pub task: String,
    /// `segmentation`, `classification` or `regression`.
    pub kind: String,
    /// `trained` (its run finished, in this call or an earlier one) or `failed`.
    pub status: String,
    /// The failure, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The metric the best checkpoint was chosen by.
    #[serde(default)]
    pub metric: String,
    /// Its validation value.
    #[serde(default)]
    pub value: Option<f64>,
    /// The trivial baseline's value of the same metric.
    #[serde(default)]
    pub baseline: Option<f64>,
    /// Every validation score of the run.
    #[serde(default)]
    pub scores: serde_json::Value,
    /// Every score of the trivial baseline.
    #[serde(default)]
    pub baseline_scores: serde_json::Value,
    /// Epochs trained.
    #[serde(default)]
    pub epochs: u64,
    /// Wall seconds of the last training call.
    #[serde(default)]
    pub wall_s: f64,
    /// Seconds spent training (forward, backward, optimiser) in that call.
    #[serde(default)]
    pub train_s: f64,
    /// The devices trained on.
    #[serde(default)]
    pub device: String,
    /// Peak resident memory of the process, MiB.
    #[serde(default)]
    pub peak_rss_mib: f64,
    /// Peak device memory, MiB (`None` on the CPU).
    #[serde(default)]
    pub peak_device_mib: Option<f64>,
    /// Parameters the optimiser updated.
    #[serde(default)]
    pub params_trained: usize,
    /// Parameters kept frozen (the encoder's when `freeze`).
    #[serde(default)]
    pub params_frozen: usize,
    /// SHA-256 of the shard set (index, statistics and every shard file).
    #[serde(default)]
    pub data_sha256: String,
    /// SHA-256 of the run's `config.toml`.
    #[serde(default)]
    pub config_sha256: String,
    /// The run's `run.json`: eoforge and burn versions, git revision, calls.
    #[serde(default)]
    pub run: serde_json::Value,
}

/// The suite's output: `suite.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteReport {
    /// The backbone's weights, as given.
    pub backbone: Option<PathBuf>,
    /// SHA-256 of the backbone weights.
    pub backbone_sha256: Option<String>,
    /// One row per task, in the suite's order.
    pub rows: Vec<SuiteRow>,
}

/// Where and how a suite runs.
#[derive(Clone, Copy, Debug)]
pub struct SuiteRun<'a> {
    /// The output directory: one run directory per task, `suite.json`, `index.html`.
    pub out: &'a Path,
    /// Run only this task (one element of an array job).
    pub only: Option<&'a str>,
    /// What makes the calls (versions, command line, devices), for each run's `run.json`.
    pub record: &'a CallRecord,
    /// Store settings for the shard sets.
    pub store: &'a StoreOptions,
}

/// Runs the suite's tasks (only `run.only` when given) into `run.out/<task>/` on `devices`, then writes the table
/// and page from every task's directory. A finished task is skipped; a failing task writes `out/<task>/error.txt`
/// and the others go on. `on_task` hears each task's name before it starts.
pub fn run_suite<B: AutodiffBackend, P: Backend>(
    suite: &SuiteConfig,
    run: &SuiteRun<'_>,
    devices: &[B::Device],
    picture_device: &P::Device,
    on_task: &dyn Fn(&str),
) -> Result<SuiteReport> {
    let SuiteRun { out, only, record, store } = *run;
    if let Some(name) = only
        && !suite.tasks.iter().any(|t| t.name == name)
    {
        let names: Vec<&str> = suite.tasks.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::Config { field: "task", reason: format!("`{name}` is not one of {}", names.join(", ")) });
    }
    std::fs::create_dir_all(out)?;
    for task in suite.tasks.iter().filter(|t| only.is_none_or(|n| n == t.name)) {
        let dir = out.join(&task.name);
        if TrainedRun::open(&dir).is_ok() {
            tracing::info!(task = task.name, "finished before; skipped");
            continue;
        }
        on_task(&task.name);
        let _ = std::fs::remove_file(dir.join("error.txt"));
        let result = (|| -> Result<()> {
            let set = ShardSet::open_blocking(&task.data, store)?;
            let config = suite.fit_config(task, &set)?;
            let record = CallRecord { data: task.data.clone(), ..record.clone() };
            RunDir::new(&dir).train::<B, P>(&set, &config, devices, picture_device, &record, &StopWhen::default())?;
            Ok(())
        })();
        if let Err(e) = result {
            std::fs::create_dir_all(&dir)?;
            let text = eoforge_profile::error_chain(&e);
            tracing::warn!(task = task.name, error = text, "task failed");
            std::fs::write(dir.join("error.txt"), format!("{text}\n"))?;
        }
    }
    suite_report::<P>(suite, out, store, picture_device)
}

/// The table and page of the suite's output directory as it stands (every task's directory read back); writes
/// `suite.json` and `index.html`.
pub fn suite_report<P: Backend>(
    suite: &SuiteConfig,
    out: &Path,
    store: &StoreOptions,
    device: &P::Device,
) -> Result<SuiteReport> {
    let mut rows = Vec::new();
    for task in &suite.tasks {
        rows.push(task_row::<P>(task, &out.join(&task.name), store, device));
    }
    let report = SuiteReport {
        backbone: suite.backbone.weights.clone(),
        backbone_sha256: suite.backbone.weights.as_deref().map(file_sha256).transpose()?,
        rows,
    };
    let json =
        serde_json::to_vec_pretty(&report).map_err(|e| Error::Config { field: "suite", reason: e.to_string() })?;
    write_atomic(&out.join("suite.json"), &json)?;
    write_atomic(&out.join("index.html"), page(&report).as_bytes())?;
    Ok(report)
}

/// A task's row from its directory: its error, or its scores beside the baseline's.
fn task_row<P: Backend>(task: &SuiteTask, dir: &Path, store: &StoreOptions, device: &P::Device) -> SuiteRow {
    let kind = serde_json::to_value(task.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let mut row = SuiteRow {
        task: task.name.clone(),
        kind,
        status: "failed".into(),
        error: None,
        metric: String::new(),
        value: None,
        baseline: None,
        scores: serde_json::Value::Null,
        baseline_scores: serde_json::Value::Null,
        epochs: 0,
        wall_s: 0.0,
        train_s: 0.0,
        device: String::new(),
        peak_rss_mib: 0.0,
        peak_device_mib: None,
        params_trained: 0,
        params_frozen: 0,
        data_sha256: String::new(),
        config_sha256: String::new(),
        run: serde_json::Value::Null,
    };
    if let Ok(text) = std::fs::read_to_string(dir.join("error.txt")) {
        row.error = Some(text.trim().to_owned());
        return row;
    }
    match fill_row::<P>(&mut row, task, dir, store, device) {
        Ok(()) => row,
        Err(e) => {
            row.error = Some(eoforge_profile::error_chain(&e));
            row
        }
    }
}

fn fill_row<P: Backend>(
    row: &mut SuiteRow,
    task: &SuiteTask,
    dir: &Path,
    store: &StoreOptions,
    device: &P::Device,
) -> Result<()> {
    let run = TrainedRun::open(dir)?;
    let set = ShardSet::open_blocking(&task.data, store)?;
    let scores = run.evaluate::<P>(&set, "validation", device)?;
    let baseline = crate::baseline::trivial_baseline::<P>(&run, &set, "validation", device)?;
    let metric = run.config.metric().to_owned();
    row.value = scores.metric(&metric);
    row.baseline = baseline.metric(&metric);
    row.metric = metric;
    row.scores = serde_json::to_value(&scores).unwrap_or_default();
    row.baseline_scores = serde_json::to_value(&baseline).unwrap_or_default();
    row.epochs = run.state.epoch;
    if let Ok(text) = std::fs::read(dir.join("profile.json"))
        && let Ok(profile) = serde_json::from_slice::<FitProfile>(&text)
    {
        row.wall_s = profile.total_s;
        row.train_s = profile.stages.get("training").copied().unwrap_or_default();
        row.device = profile.devices;
        row.peak_rss_mib = profile.peak_rss_mib;
    }
    // A rerun that skipped the task reports the profile of the call that trained it.
    row.status = "trained".into();
    let (total, frozen) = parameter_counts::<P>(&run, device)?;
    row.params_trained = total - frozen;
    row.params_frozen = frozen;
    row.data_sha256 = shard_set_sha256(&set)?;
    row.config_sha256 = file_sha256(&dir.join("config.toml"))?;
    row.run =
        std::fs::read(dir.join("run.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    Ok(())
}

/// All parameters of the run's network, and those of a frozen encoder.
fn parameter_counts<P: Backend>(run: &TrainedRun, device: &P::Device) -> Result<(usize, usize)> {
    let err = |e: eoforge_models::ConfigError| Error::Config { field: "model", reason: e.to_string() };
    Ok(match &run.config.model {
        ModelConfig::Vit(c) | ModelConfig::VitRegressor(c) => {
            let net = c.init::<P>(device).map_err(err)?;
            (net.num_params(), if c.freeze { net.encoder.num_params() } else { 0 })
        }
        ModelConfig::VitClassifier(c) => {
            let net = c.init::<P>(device).map_err(err)?;
            (net.num_params(), if c.freeze { net.encoder.num_params() } else { 0 })
        }
        _ => (0, 0),
    })
}

/// SHA-256 of a shard set: `index.json`, `stats.json` and every shard file listed, in index order.
fn shard_set_sha256(set: &ShardSet) -> Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut hash = sha2::Sha256::new();
    let mut bytes = Vec::new();
    for key in ["index.json", "stats.json"] {
        rt.block_on(set.store().get_into(key, &mut bytes))?;
        hash.update(&bytes);
    }
    for split in ["train", "validation", "test"] {
        for shard in set.shards(split).unwrap_or_default() {
            if shard.samples > 0 {
                rt.block_on(set.store().get_into(&shard.file, &mut bytes))?;
                hash.update(&bytes);
            }
        }
    }
    Ok(format!("{:x}", hash.finalize()))
}

fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Run { path: path.to_owned(), reason: e.to_string() })?;
    Ok(format!("{:x}", sha2::Sha256::digest(&bytes)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let work = path.with_extension("partial");
    std::fs::write(&work, bytes)?;
    std::fs::rename(&work, path)?;
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The suite's page: the table, then each task's pictures.
fn page(report: &SuiteReport) -> String {
    let number = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.4}"));
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>eoforge suite</title><style>body{font-family:sans-serif}\
         td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child{text-align:left}\
         .failed{color:#b00}</style><h1>Evaluation suite</h1>",
    );
    let _ = write!(
        html,
        "<p>Backbone: {}</p><table><tr><th>task</th><th>kind</th><th>status</th><th>metric</th><th>value</th>\
         <th>baseline</th><th>epochs</th><th>wall s</th><th>train s</th><th>peak MiB</th><th>trained params</th>\
         <th>frozen params</th></tr>",
        escape(&report.backbone.as_ref().map_or_else(|| "random".into(), |p| p.display().to_string()))
    );
    for row in &report.rows {
        let _ = write!(
            html,
            "<tr class={}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td>\
             <td>{:.1}</td><td>{:.0}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.status),
            escape(&row.task),
            row.kind,
            escape(&row.status),
            escape(&row.metric),
            number(row.value),
            number(row.baseline),
            row.epochs,
            row.wall_s,
            row.train_s,
            row.peak_rss_mib,
            row.params_trained,
            row.params_frozen
        );
    }
    html.push_str("</table>");
    for row in &report.rows {
        let _ = write!(html, "<h2>{}</h2>", escape(&row.task));
        if let Some(error) = &row.error {
            let _ = write!(html, "<pre class=failed>{}</pre>", escape(error));
            continue;
        }
        for picture in ["curves.png", "samples.png", "scatter.png"] {
            let _ = write!(
                html,
                "<img src=\"{}/{picture}\" alt=\"{picture}\" style=\"max-width:48%\" onerror=\"this.remove()\">",
                escape(&row.task)
            );
        }
    }
    html
}

/// Metric deltas of two suites' tables (`b − a`) per task both ran: (task, metric, a, b).
pub fn compare_suites(a: &SuiteReport, b: &SuiteReport) -> Vec<(String, String, Option<f64>, Option<f64>)> {
    let by_task: BTreeMap<&str, &SuiteRow> = b.rows.iter().map(|r| (r.task.as_str(), r)).collect();
    let mut out = Vec::new();
    for row in &a.rows {
        let Some(other) = by_task.get(row.task.as_str()) else { continue };
        let names: std::collections::BTreeSet<String> = [&row.scores, &other.scores]
            .iter()
            .filter_map(|s| s.as_object())
            .flat_map(|o| o.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k.clone()))
            .collect();
        for name in names {
            out.push((row.task.clone(), name.clone(), row.scores[&name].as_f64(), other.scores[&name].as_f64()));
        }
    }
    out
}

impl SuiteReport {
    /// Reads a suite's `suite.json` (the file, or the output directory holding it).
    pub fn read(path: &Path) -> Result<Self> {
        let file = if path.is_dir() { path.join("suite.json") } else { path.to_owned() };
        let bytes = std::fs::read(&file).map_err(|e| Error::Run { path: file.clone(), reason: e.to_string() })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Run { path: file, reason: e.to_string() })
    }
}
