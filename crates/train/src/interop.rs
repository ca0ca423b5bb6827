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
        ModelConfig::Vit(_) | ModelConfig::Segformer(_) => {
            save_safetensors(&run.segmentation::<B>(device)?, path, &metadata)?
        }
        ModelConfig::VitClassifier(_) => save_safetensors(&run.vit_classifier::<B>(device)?, path, &metadata)?,
        ModelConfig::VitRegressor(_) => save_safetensors(&run.vit_regressor::<B>(device)?, path, &metadata)?,
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
        ModelConfig::Vit(c) => load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?,
        ModelConfig::Segformer(c) => {
            load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?
        }
        ModelConfig::VitClassifier(c) => {
            load_and_save(c.init::<B>(device).map_err(config_err)?, weights, options, &model_path)?
        }
        ModelConfig::VitRegressor(c) => {
            let net = c.init::<B>(device).map_err(config_err)?;
            load_and_save(crate::objective::VitRegressor { net }, weights, options, &model_path)?
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

/// A ViT encoder's per-block features for an input, as files: what `eoforge-train features` writes to check an
/// imported backbone against the framework it came from.
#[derive(Clone, Copy, Debug)]
pub struct FeatureFiles<'a> {
    /// The weights (safetensors, the framework's tensor names after `options.remap`).
    pub weights: &'a Path,
    /// The encoder's configuration: JSON in TerraTorch's `PrithviViT` argument names.
    pub config: &'a Path,
    /// The input, `.npy` float32 (batch, channels, frames, h, w), or (batch, channels, h, w) for one frame.
    pub input: &'a Path,
    /// (batch, frames, 2) year and day of year, `.npy` float32.
    pub temporal_coords: Option<&'a Path>,
    /// (batch, 2) latitude and longitude, `.npy` float32.
    pub location_coords: Option<&'a Path>,
}

/// Runs the encoder of `files` on `device` and writes each block's tokens to `out/block{i}.npy` (the last after
/// the final norm, as TerraTorch's `forward_features`); returns the files written and the load report.
pub fn write_vit_features<B: Backend>(
    files: &FeatureFiles<'_>,
    options: &LoadOptions,
    out: &Path,
    device: &B::Device,
) -> Result<(Vec<std::path::PathBuf>, LoadReport)> {
    let run_error = |path: &Path, reason: String| Error::Run { path: path.to_owned(), reason };
    let text = std::fs::read(files.config).map_err(|e| run_error(files.config, e.to_string()))?;
    let config: eoforge_models::VitConfig =
        serde_json::from_slice(&text).map_err(|e| run_error(files.config, format!("not an encoder config: {e}")))?;
    let model = config.init::<B>(device).map_err(|e| run_error(files.config, e.to_string()))?;
    let (model, report) = load_safetensors(model, files.weights, options)?;
    let read = |path: &Path| -> Result<ndarray::ArrayD<f32>> {
        let bytes = std::fs::read(path).map_err(|e| run_error(path, e.to_string()))?;
        eoforge_shards::npy::from_npy::<f32>(&bytes).ok_or_else(|| run_error(path, "not a float32 .npy array".into()))
    };
    let input = read(files.input)?;
    let shape: [usize; 5] = match *input.shape() {
        [batch, channels, frames, height, width] => [batch, channels, frames, height, width],
        [batch, channels, height, width] => [batch, channels, 1, height, width],
        ref other => {
            return Err(run_error(files.input, format!("shape {other:?}: expected (batch, channels, [frames,] h, w)")));
        }
    };
    let pairs = |path: Option<&Path>| -> Result<Option<Vec<[f32; 2]>>> {
        let Some(path) = path else { return Ok(None) };
        let a = read(path)?;
        if a.shape().last() != Some(&2) {
            return Err(run_error(path, format!("shape {:?}: the last axis must hold 2 values", a.shape())));
        }
        Ok(Some(a.iter().copied().collect::<Vec<_>>().chunks(2).map(|c| [c[0], c[1]]).collect()))
    };
    let coords =
        eoforge_models::Coords { temporal: pairs(files.temporal_coords)?, location: pairs(files.location_coords)? };
    let x = burn::tensor::Tensor::<B, 5>::from_data(
        burn::tensor::TensorData::new(input.iter().copied().collect::<Vec<_>>(), shape),
        device,
    );
    let blocks = model.forward_features(x, &coords).map_err(|e| run_error(files.input, e.to_string()))?;
    std::fs::create_dir_all(out).map_err(|e| run_error(out, e.to_string()))?;
    let mut written = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.into_iter().enumerate() {
        let dims = block.dims();
        let values: Vec<f32> = block.into_data().convert::<f32>().to_vec().unwrap_or_default();
        let array =
            ndarray::ArrayD::from_shape_vec(dims.to_vec(), values).map_err(|e| run_error(out, e.to_string()))?;
        let path = out.join(format!("block{i}.npy"));
        std::fs::write(&path, eoforge_shards::npy::to_npy(&array.view()))
            .map_err(|e| run_error(&path, e.to_string()))?;
        written.push(path);
    }
    Ok((written, report))
}
