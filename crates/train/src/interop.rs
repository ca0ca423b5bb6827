//! A run's weights to and from safetensors files shared with PyTorch ([`eoforge_models::save_safetensors`]): an
//! export carries the run's `config.toml` and `data.json` in its header, so an import needs nothing else; an
//! import writes a new run directory that `eoforge-train eval` and `eoforge-infer predict` take as they take a
//! trained one.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use eoforge_models::{LoadOptions, LoadReport, load_safetensors, safetensors_metadata, save_safetensors};

use crate::config::{FitConfig, ModelConfig};
use crate::error::{Error, Result};
use crate::run_dir::TrainedRun;

/// Header keys of an exported file: the run's `config.toml` and `data.json`, verbatim.
const CONFIG_KEY: &str = "eoforge.config";
const DATA_KEY: &str = "eoforge.data";

/// Writes the weights `run` applies ([`TrainedRun::weights`]) to `path` as safetensors, with the run's
/// configuration and data record in the header. Returns the number of tensors.
pub fn export_safetensors<B: Backend>(run: &TrainedRun, path: &Path, device: &B::Device) -> Result<usize> {
    let mut metadata = BTreeMap::new();
    metadata.insert(CONFIG_KEY.to_owned(), std::fs::read_to_string(run.dir.join("config.toml"))?);
    metadata.insert(DATA_KEY.to_owned(), std::fs::read_to_string(run.dir.join("data.json"))?);
    let count = match &run.config.model {
        ModelConfig::Classifier(_) => save_safetensors(&run.classifier::<B>(device)?, path, &metadata)?,
        ModelConfig::Unet(_) => save_safetensors(&run.unet::<B>(device)?, path, &metadata)?,
        ModelConfig::Segmenter(_) => save_safetensors(&run.segmenter::<B>(device)?, path, &metadata)?,
        ModelConfig::Sr(_) => save_safetensors(&run.sr::<B>(device)?, path, &metadata)?,
    };
    Ok(count)
}

/// Makes the run directory `out` (which must not exist) from the safetensors file `weights`: the configuration
/// and data record come from `like` (a run directory of the same architecture) or else from the file's header
/// (an eoforge export). Writes `config.toml`, `data.json`, `model.mpk` and `import.json` (the source file and the
/// load report) into `out.partial`, renamed to `out` once complete.
pub fn import_safetensors<B: Backend>(
    weights: &Path,
    out: &Path,
    like: Option<&Path>,
    options: &LoadOptions,
    device: &B::Device,
) -> Result<LoadReport> {
    if out.exists() {
        return Err(Error::Run { path: out.to_owned(), reason: "exists; an import writes a new run directory".into() });
    }
    let (config_text, data_text) = if let Some(dir) = like {
        let run = TrainedRun::open(dir)?;
        (std::fs::read_to_string(run.dir.join("config.toml"))?, std::fs::read_to_string(run.dir.join("data.json"))?)
    } else {
        let mut header = safetensors_metadata(weights)?;
        match (header.remove(CONFIG_KEY), header.remove(DATA_KEY)) {
            (Some(c), Some(d)) => (c, d),
            _ => {
                return Err(Error::Run {
                    path: weights.to_owned(),
                    reason: format!(
                        "has no `{CONFIG_KEY}` and `{DATA_KEY}` in its header (not an eoforge export); name a run \
                         directory of the same architecture to take them from (--like)"
                    ),
                });
            }
        }
    };
    let config: FitConfig = toml::from_str(&config_text)
        .map_err(|e| Error::Run { path: weights.to_owned(), reason: format!("its configuration: {e}") })?;
    let mut name = out.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    let work = out.with_file_name(name);
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let result = write_run::<B>(&work, &config, &config_text, &data_text, weights, options, device);
    match result {
        Ok(report) => {
            std::fs::rename(&work, out)?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            Err(e)
        }
    }
}

fn write_run<B: Backend>(
    work: &Path,
    config: &FitConfig,
    config_text: &str,
    data_text: &str,
    weights: &Path,
    options: &LoadOptions,
    device: &B::Device,
) -> Result<LoadReport> {
    std::fs::write(work.join("config.toml"), config_text)?;
    std::fs::write(work.join("data.json"), data_text)?;
    let config_err =
        |e: eoforge_models::ConfigError| Error::Run { path: work.join("config.toml"), reason: e.to_string() };
    let model_path = work.join("model");
    let report = match &config.model {
        ModelConfig::Classifier(c) => {
            load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?
        }
        ModelConfig::Unet(c) => load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?,
        ModelConfig::Segmenter(c) => {
            load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?
        }
        ModelConfig::Sr(c) => load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?,
    };
    let record = serde_json::json!({
        "source": weights.display().to_string(),
        "allow_partial": options.allow_partial,
        "remap": options.remap.iter().map(|(p, r)| [p.as_str().to_owned(), r.clone()]).collect::<Vec<_>>(),
        "report": report,
    });
    std::fs::write(work.join("import.json"), serde_json::to_vec_pretty(&record).unwrap_or_default())?;
    // The new directory must read back as a run.
    TrainedRun::open(work)?;
    Ok(report)
}

fn load_and_save<B: Backend, M: Module<B>>(
    model: M,
    weights: &Path,
    options: &LoadOptions,
    stem: &Path,
) -> Result<LoadReport> {
    let (model, report) = load_safetensors(model, weights, options)?;
    model
        .save_file(stem.to_owned(), &NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .map_err(|e| Error::Checkpoint { path: stem.with_extension("mpk"), reason: e.to_string() })?;
    Ok(report)
}
