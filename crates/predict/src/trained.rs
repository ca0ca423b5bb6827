//! A trained network from a run directory of `eoforge-train fit` over a scene: a U-Net or segmenter written as a
//! class map of the label values of the run's class table (UInt8 when they and a nodata value fit it, else
//! UInt16; the class colours as a colour table, class names in the band's metadata), or a super-resolution network
//! written at its scale in the input's type (or `--out-dtype`) with the input's nodata, band names and metadata.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use eoforge_engine::{BurnModel, EngineOptions, ImageNetwork, Model};
use eoforge_models::{SuperResolution, SuperResolutionConfig};
use eoforge_profile::Stages;
use eoforge_raster::{BandMetadata, DataType, Raster, RasterInfo, RasterMetadata, Resampling, Window};
use eoforge_shards::ClassTable;
use eoforge_train::TrainedRun;

use crate::class_map::ClassProbabilities;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::plan::{Made, ProductFacts, Scene, SourceGrid};

/// Opens the run at `dir` (an unfinished one only when `allow_unfinished`, with a warning).
pub(crate) fn open_run(dir: &Path, allow_unfinished: bool) -> Result<TrainedRun> {
    let run = TrainedRun::open_with(dir, allow_unfinished)?;
    if !run.state.finished {
        tracing::warn!(run = %dir.display(), state = %run.state.describe(), "applying an unfinished run");
    }
    Ok(run)
}

/// Engine options for a class map of `run`'s label values with `nodata` (per-class probabilities of the run's
/// network, normalised as the run was, argmax written as the class table's values): `base` with the output set.
pub fn class_map_options(
    run: &TrainedRun,
    table: &ClassTable,
    out_dtype: DataType,
    nodata: f64,
    base: EngineOptions,
) -> EngineOptions {
    let mut options = EngineOptions {
        normalize: Some((
            run.data.mean.iter().map(|v| *v as f32).collect(),
            run.data.std.iter().map(|v| *v as f32).collect(),
        )),
        out_dtype,
        out_nodata: Some(nodata),
        input_map: run.data.dequantize.map(eoforge_shards::Dequantize::map_f32),
        argmax: true,
        class_values: table.values().into_iter().map(f64::from).collect(),
        nodata_mask: eoforge_engine::NodataMask::AnyBand,
        ..base
    };
    options.cog.overview_resampling = Resampling::Nearest;
    options
}

/// The run's segmentation network as the engine's model: per-class probabilities on `device` of backend `B`.
pub fn class_model<B: Backend>(run: &TrainedRun, device: B::Device) -> Result<BurnModel<B, ClassProbabilities<B>>> {
    let network = ClassProbabilities::<B>::of(run, &device)?;
    Ok(BurnModel::new(network, device, run.config.model.classes(), 1))
}

/// [`class_model`] on the device asked for.
fn class_model_on(run: &TrainedRun, device: Device) -> Result<Box<dyn Model>> {
    Ok(match device {
        Device::Cpu => Box::new(class_model::<Flex>(run, burn::backend::flex::FlexDevice)?),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            Box::new(class_model::<burn::backend::Cuda>(run, burn::backend::cuda::CudaDevice::new(index))?)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return Err(no_cuda()),
    })
}

/// A super-resolution run's network on the device asked for, its output in the bands' units.
fn sr_model_on(run: &TrainedRun, out_bands: usize, scale: usize, device: Device) -> Result<Box<dyn Model>> {
    fn on<B: Backend>(
        run: &TrainedRun,
        out_bands: usize,
        scale: usize,
        device: B::Device,
    ) -> Result<BurnModel<B, Denormalized<B>>> {
        let column = |values: &[f64]| {
            let values: Vec<f32> = values.iter().take(out_bands).map(|v| *v as f32).collect();
            let n = values.len();
            Tensor::<B, 1>::from_floats(values.as_slice(), &device).reshape([1, n, 1, 1])
        };
        let network = Denormalized::<B> {
            network: run.sr::<B>(&device)?,
            mean: column(&run.data.mean),
            std: column(&run.data.std),
        };
        Ok(BurnModel::new(network, device, out_bands, scale))
    }
    Ok(match device {
        Device::Cpu => Box::new(on::<Flex>(run, out_bands, scale, burn::backend::flex::FlexDevice)?),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            Box::new(on::<burn::backend::Cuda>(run, out_bands, scale, burn::backend::cuda::CudaDevice::new(index))?)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => return Err(no_cuda()),
    })
}

#[cfg(not(feature = "cuda"))]
fn no_cuda() -> Error {
    Error::Usage("--device cuda: this build has no CUDA support (build with `--features cuda`)".into())
}

/// A class map has one band of label values: options for continuous outputs are refused, naming the flag.
pub(crate) fn refuse_continuous_options(o: &crate::options::PredictOptions, model: &str) -> Result<()> {
    let refused = [
        (o.scale != 1, "--scale: a class map is written on the scene's grid"),
        (o.out_dtype.is_some(), "--out-dtype: a class map's type follows its class values (UInt8 or UInt16)"),
        (!o.derivatives.kinds.is_empty(), "--derivatives: a class map has no spectral bands to derive maps from"),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, reason)) => Err(Error::Usage(format!("{reason}; leave it out with {model}"))),
        None => Ok(()),
    }
}

/// The type and nodata value of a class map of `table`: UInt8 when the values and a nodata value fit, else
/// UInt16; `--out-nodata` when given, which must be a value of that type and no class.
pub(crate) fn class_map_type(table: &ClassTable, out_nodata: Option<f64>) -> Result<(DataType, f64)> {
    let map_type = table.map_type();
    let out_dtype = if map_type.uint16 { DataType::UInt16 } else { DataType::UInt8 };
    match out_nodata {
        Some(v) if !out_dtype.holds(v) || table.index_of(v as u16).is_some() => Err(Error::Usage(format!(
            "--out-nodata {v}: a nodata value of this class map must be a {out_dtype} value that is no class ({})",
            table.names_item()
        ))),
        Some(v) => Ok((out_dtype, v)),
        None => Ok((out_dtype, f64::from(map_type.nodata))),
    }
}

/// Runs the trained model of `dir` over the scene and makes the product.
pub(crate) fn predict(scene: &Scene<'_>, source: Raster, dir: &Path, stages: &mut Stages) -> Result<Made> {
    let (o, info, source_url) = (scene.options(), &scene.info, scene.source_url);
    let run = open_run(dir, o.trained.allow_unfinished)?;
    if run.data.frames > 1 {
        return Err(Error::Model {
            path: dir.to_owned(),
            reason: format!(
                "the run learned from windows of {} dates; predict reads one scene (score multi-temporal runs with \
                 `eoforge-train eval`)",
                run.data.frames
            ),
        });
    }
    let multiple = match &run.config.model {
        eoforge_train::ModelConfig::Unet(unet) => unet.size_multiple(),
        eoforge_train::ModelConfig::Segmenter(segmenter) => segmenter.size_multiple(),
        eoforge_train::ModelConfig::Vit(vit) => vit.size_multiple(),
        eoforge_train::ModelConfig::Segformer(segformer) => segformer.size_multiple(),
        eoforge_train::ModelConfig::VitRegressor(_) => {
            return Err(Error::Model {
                path: dir.to_owned(),
                reason: "the run trained a ViT pixel regressor; predict writes class maps and super-resolution \
                         products (score regressors with `eoforge-train eval`)"
                    .into(),
            });
        }
        eoforge_train::ModelConfig::Classifier(_) | eoforge_train::ModelConfig::VitClassifier(_) => {
            return Err(Error::Model {
                path: dir.to_owned(),
                reason: "the run trained a multi-label patch classifier, which gives one score per patch, not a \
                         map; predict takes U-Net, segmenter and super-resolution runs"
                    .into(),
            });
        }
        eoforge_train::ModelConfig::Sr(sr) => {
            let sr = sr.clone();
            return predict_super_resolution(scene, source, stages, &run, &sr);
        }
    };
    refuse_continuous_options(o, "a segmentation run")?;
    let picked = scene.picked();
    check_bands(&run, &picked, info, source_url)?;
    check_band_statistics(&run, &source, &picked, source_url, o.trained.force_bands)?;
    // The map holds label values, not class indices.
    let table = run.class_table();
    let (out_dtype, map_nodata) = class_map_type(&table, o.out_nodata)?;
    let (width, height) = scene.crop.map_or((info.width, info.height), |w| (w.width, w.height));
    if o.window % multiple != 0 || width < o.window || height < o.window {
        return Err(Error::Usage(format!(
            "--window {}: the run's network needs windows that are a multiple of {multiple} pixels and no larger than \
             the {width}x{height} scene",
            o.window
        )));
    }
    let grid = SourceGrid::of(&source);
    let metadata = source.metadata()?;
    drop(source);
    let mut model = class_model_on(&run, o.device)?;
    // A colour table for UInt8 maps (GeoTIFF palettes of UInt16 maps would hold 65,536 entries); names either way.
    let colors = (out_dtype == DataType::UInt8).then(|| table.color_table());
    let band = BandMetadata {
        color: colors.as_ref().map(|_| "Palette".into()),
        items: vec![
            ("CLASS_NAMES".into(), table.names_item()),
            ("MODEL_RUN".into(), dir.display().to_string()),
            ("MODEL_RUN_STATE".into(), run.state.describe()),
        ],
        ..BandMetadata::default()
    };
    let base = EngineOptions {
        bands: Some(picked),
        out_band_descriptions: vec!["class".into()],
        out_metadata: RasterMetadata { bands: vec![band], ..metadata },
        out_color_map: colors,
        ..scene.engine_options()
    };
    let engine_options = class_map_options(&run, &table, out_dtype, map_nodata, base);
    let facts = ProductFacts {
        scale: 1,
        class_values: Some(table.values().into_iter().map(f64::from).collect()),
        clipped: false,
        record: serde_json::json!({
            "run": dir.display().to_string(),
            "weights": run.weights().display().to_string(),
            "state": run.state,
            "classes": table,
        }),
    };
    scene.make(model.as_mut(), &engine_options, grid, facts, stages)
}

/// Runs a trained super-resolution network over the scene at the run's scale and makes the product.
fn predict_super_resolution(
    scene: &Scene<'_>,
    source: Raster,
    stages: &mut Stages,
    run: &TrainedRun,
    sr: &SuperResolutionConfig,
) -> Result<Made> {
    let (o, info, source_url) = (scene.options(), &scene.info, scene.source_url);
    let picked = scene.picked();
    check_bands(run, &picked, info, source_url)?;
    check_band_statistics(run, &source, &picked, source_url, o.trained.force_bands)?;
    if o.scale != 1 && o.scale != sr.scale {
        return Err(Error::Usage(format!(
            "--scale {}: the run's network upscales by {}; leave --scale out or give {}",
            o.scale, sr.scale, sr.scale
        )));
    }
    let out_bands = sr.out_channels();
    let in_dtype = source.dtype(picked[0])?;
    let out_dtype = o.out_dtype.unwrap_or(in_dtype);
    let band = |b: &usize| b.checked_sub(1).and_then(|i| info.bands.get(i));
    let out_nodata = o.out_nodata.or_else(|| band(&picked[0]).and_then(|b| b.nodata));
    if let Some(nodata) = out_nodata
        && !out_dtype.holds(nodata)
    {
        return Err(Error::Product(format!(
            "nodata {nodata} is not a value of {out_dtype}; choose --out-nodata within the type"
        )));
    }
    let keeps_bands = out_bands == picked.len();
    let out_band_descriptions = if keeps_bands {
        let names: Vec<String> = picked.iter().filter_map(|b| band(b).map(|x| x.description.clone())).collect();
        if names.iter().any(|n| !n.is_empty()) { names } else { run.data.channels.clone() }
    } else {
        Vec::new()
    };
    let metadata = source.metadata()?;
    let mut out_metadata = RasterMetadata {
        bands: if keeps_bands && metadata.bands.len() == info.band_count {
            picked.iter().filter_map(|b| b.checked_sub(1).and_then(|i| metadata.bands.get(i)).cloned()).collect()
        } else {
            Vec::new()
        },
        ..metadata
    }
    .for_bands(out_bands);
    out_metadata.items.push(("MODEL_RUN".into(), run.dir.display().to_string()));
    out_metadata.items.push(("MODEL_RUN_STATE".into(), run.state.describe()));
    out_metadata.items.push(("SUPER_RESOLUTION_SCALE".into(), sr.scale.to_string()));
    let grid = SourceGrid::of(&source);
    drop(source);
    if run.data.mean.len() < out_bands || run.data.std.len() < out_bands {
        return Err(Error::Model {
            path: run.dir.clone(),
            reason: "data.json has statistics for fewer channels than the network writes".into(),
        });
    }
    let mut model = sr_model_on(run, out_bands, sr.scale, o.device)?;
    let mut engine_options = EngineOptions {
        bands: Some(picked),
        normalize: Some((
            run.data.mean.iter().map(|v| *v as f32).collect(),
            run.data.std.iter().map(|v| *v as f32).collect(),
        )),
        out_dtype,
        out_nodata,
        out_band_descriptions,
        out_metadata,
        clip: !o.trained.no_clip,
        nodata_mask: if keeps_bands {
            eoforge_engine::NodataMask::PerBand
        } else {
            eoforge_engine::NodataMask::AnyBand
        },
        derivatives: o.derivatives.clone(),
        ..scene.engine_options()
    };
    engine_options.cog.overview_resampling = o.resampling.for_data(out_dtype, out_bands);
    let facts = ProductFacts {
        scale: sr.scale,
        class_values: None,
        clipped: true,
        record: serde_json::json!({
            "run": run.dir.display().to_string(),
            "weights": run.weights().display().to_string(),
            "state": run.state,
            "scale": sr.scale,
        }),
    };
    scene.make(model.as_mut(), &engine_options, grid, facts, stages)
}

/// The scene's bands must be the run's channels: as many, and with the same names where the scene names its
/// bands.
fn check_bands(run: &TrainedRun, picked: &[usize], info: &RasterInfo, source_url: &str) -> Result<()> {
    let channels = &run.data.channels;
    if picked.len() != channels.len() {
        return Err(Error::scene(
            source_url,
            format!(
                "{} input bands, but the model was trained on {} channels ({}); pick them with --input-bands",
                picked.len(),
                channels.len(),
                channels.join(", ")
            ),
        ));
    }
    for (&b, channel) in picked.iter().zip(channels) {
        let Some(band) = b.checked_sub(1).and_then(|i| info.bands.get(i)) else {
            return Err(Error::scene(source_url, format!("band {b} requested, the scene has {}", info.band_count)));
        };
        let trained_unnamed = channel.starts_with("band") && channel[4..].parse::<usize>().is_ok();
        if !band.description.is_empty() && !trained_unnamed && !band.description.eq_ignore_ascii_case(channel) {
            return Err(Error::scene(
                source_url,
                format!(
                    "band {b} is `{}`, but the model's channel {} is `{channel}` (trained on {}); pick the matching \
                     bands with --input-bands",
                    band.description,
                    picked.iter().position(|p| *p == b).unwrap_or(0) + 1,
                    channels.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The scene's bands must look like the run's training data: each picked band's mean (over a read of at most
/// 512×512 pixels, from overviews where the scene has them; nodata and NaN left out; de-quantised as the run's
/// inputs were) within 3 standard deviations
/// of the run's channel mean. A band far outside is refused, naming it (bands in another order pass the name
/// check when unnamed); `force` lets it through with a warning.
fn check_band_statistics(
    run: &TrainedRun,
    source: &Raster,
    picked: &[usize],
    source_url: &str,
    force: bool,
) -> Result<()> {
    let (w, h) = (source.width(), source.height());
    let scale = (w.max(h) as f64 / 512.0).max(1.0);
    let size = (((w as f64 / scale).round() as usize).max(1), ((h as f64 / scale).round() as usize).max(1));
    let sample = source.read_window_resampled::<f64>(Window::full(w, h), size, Some(picked), Resampling::Nearest)?;
    for (k, (&band, plane)) in picked.iter().zip(sample.outer_iter()).enumerate() {
        let nodata = source.nodata(band)?;
        // Compared as the run saw its inputs: de-quantised where its set was.
        let valid: Vec<f64> = plane
            .iter()
            .copied()
            .filter(|v| !v.is_nan() && Some(*v) != nodata)
            .map(|v| run.data.dequantize.map_or(v, |d| d.apply(v)))
            .collect();
        let (Some(&mean), Some(&std)) = (run.data.mean.get(k), run.data.std.get(k)) else { continue };
        if valid.is_empty() || std <= 0.0 {
            continue;
        }
        let scene_mean = valid.iter().sum::<f64>() / valid.len() as f64;
        let z = (scene_mean - mean).abs() / std;
        if z > 3.0 {
            let what = format!(
                "{source_url}: band {band}'s mean {scene_mean:.4} is {z:.1} standard deviations from the mean {mean:.4}                  of the run's channel {} (`{}`): bands in another order, or another product?",
                k + 1,
                run.data.channels.get(k).map_or("?", String::as_str)
            );
            if force {
                tracing::warn!("{what} (--force-bands)");
            } else {
                return Err(Error::Product(format!(
                    "{what} Pick the matching bands with --input-bands, or pass --force-bands"
                )));
            }
        }
    }
    Ok(())
}

/// A super-resolution network whose output goes back to the bands' original units (`y · std + mean`).
struct Denormalized<B: Backend> {
    network: SuperResolution<B>,
    mean: Tensor<B, 4>,
    std: Tensor<B, 4>,
}

impl<B: Backend> ImageNetwork<B> for Denormalized<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        self.network.forward(input) * self.std.clone() + self.mean.clone()
    }
}
