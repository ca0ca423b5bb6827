//! `predict --model RUN_DIR`: a trained network from a run directory of `eoforge-train fit` over a scene — a U-Net
//! written as a class map of the label values of the run's class table (UInt8 when they and a nodata value fit it,
//! else UInt16; the class colours as a colour table, class names in the band's metadata), or
//! a super-resolution network written at its scale in the input's type (or `--out-dtype`) with the input's nodata,
//! band names and metadata — then checked and published like every product.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use eoforge_engine::{BurnModel, ImageNetwork};
use eoforge_models::{SuperResolution, SuperResolutionConfig};
use eoforge_profile::Stages;
use eoforge_raster::{BandMetadata, DataType, Raster, RasterInfo, RasterMetadata, Resampling, Window};
use eoforge_storage::StoreOptions;
use eoforge_train::TrainedRun;

use super::Result;
use crate::cli::PredictArgs;

/// What `predict` was asked for (`run_dir`: the model's path, a run directory or an ONNX file).
pub(super) struct Product<'a> {
    pub args: &'a PredictArgs,
    pub source_url: &'a str,
    pub dest: &'a str,
    pub options: &'a StoreOptions,
    pub crop: Option<Window>,
    pub run_dir: &'a Path,
    pub derivatives: &'a eoforge_engine::DerivativeOptions,
}

/// Runs the trained model of `product.run_dir` over the scene and finishes the product.
pub(super) fn predict(product: &Product<'_>, source: Raster, info: &RasterInfo, mut stages: Stages) -> Result {
    let (args, source_url, dest) = (product.args, product.source_url, product.dest);
    let run = if args.trained.allow_unfinished {
        TrainedRun::open_any(product.run_dir)?
    } else {
        TrainedRun::open(product.run_dir)?
    };
    if !run.state.finished {
        tracing::warn!(run = %product.run_dir.display(), state = %run.state.describe(), "applying an unfinished run");
    }
    let classes = run.config.model.classes();
    let multiple = match &run.config.model {
        eoforge_train::ModelConfig::Unet(unet) => unet.size_multiple(),
        eoforge_train::ModelConfig::Segmenter(segmenter) => segmenter.size_multiple(),
        eoforge_train::ModelConfig::Classifier(_) => {
            return Err(format!(
                "{}: the run trained a multi-label patch classifier, which gives one score per patch, not a map; \
                 predict takes U-Net, segmenter and super-resolution runs",
                product.run_dir.display()
            )
            .into());
        }
        eoforge_train::ModelConfig::Sr(sr) => {
            let sr = sr.clone();
            return predict_super_resolution(product, source, info, stages, &run, &sr);
        }
    };
    // A class map has one band of label values: options for continuous outputs do not apply.
    let refused = [
        (args.scale != 1, "--scale: a class map is written on the scene's grid"),
        (args.out_dtype.is_some(), "--out-dtype: a class map's type follows its class values (UInt8 or UInt16)"),
        (!product.derivatives.kinds.is_empty(), "--derivatives: a class map has no spectral bands to derive maps from"),
    ];
    if let Some((_, reason)) = refused.iter().find(|(given, _)| *given) {
        return eoforge_cli::usage(format!("{reason}; leave it out with a segmentation run"));
    }
    let picked: Vec<usize> = args.input_bands.clone().unwrap_or_else(|| (1..=info.band_count).collect());
    check_bands(&run, &picked, info, source_url)?;
    check_band_statistics(&run, &source, &picked, source_url, args.trained.force_bands)?;
    // The map holds label values, not class indices: the run's class table (a run without one predicts indices).
    let table = if run.data.classes.is_empty() {
        eoforge_shards::ClassTable::of_values((0..classes).filter_map(|i| u16::try_from(i).ok()), |_| None, |_| None)
    } else {
        run.data.classes.clone()
    };
    let map_type = table.map_type();
    let out_dtype = if map_type.uint16 { DataType::UInt16 } else { DataType::UInt8 };
    let map_nodata = match args.out_nodata {
        Some(v) if !out_dtype.holds(v) || table.index_of(v as u16).is_some() => {
            return eoforge_cli::usage(format!(
                "--out-nodata {v}: a nodata value of this class map must be a {out_dtype} value that is no class ({})",
                table.names_item()
            ));
        }
        Some(v) => v,
        None => f64::from(map_type.nodata),
    };
    let (width, height) = product.crop.map_or((info.width, info.height), |w| (w.width, w.height));
    if args.window % multiple != 0 || width < args.window || height < args.window {
        return Err(eoforge_cli::UsageError(format!(
            "--window {}: the run's network needs windows that are a multiple of {multiple} pixels and no larger than \
             the {width}x{height} scene",
            args.window
        ))
        .into());
    }
    let (source_crs, source_gt) = (source.crs(), source.geo_transform());
    let metadata = source.metadata()?;
    drop(source);
    let device = burn::backend::flex::FlexDevice;
    let network = eoforge_train::ClassProbabilities::<Flex>::of(&run, &device)?;
    let mut model = BurnModel::new(network, device, classes, 1);
    // A colour table for UInt8 maps (GeoTIFF palettes of UInt16 maps would hold 65,536 entries); names either way.
    let colors = (!map_type.uint16).then(|| table.color_table());
    let band = BandMetadata {
        color: colors.as_ref().map(|_| "Palette".into()),
        items: vec![
            ("CLASS_NAMES".into(), table.names_item()),
            ("MODEL_RUN".into(), product.run_dir.display().to_string()),
            ("MODEL_RUN_STATE".into(), run.state.describe()),
        ],
        ..BandMetadata::default()
    };
    let out_metadata = RasterMetadata { bands: vec![band], ..metadata };
    let mut engine_options = eoforge_engine::EngineOptions {
        bands: Some(picked),
        normalize: Some((
            run.data.mean.iter().map(|v| *v as f32).collect(),
            run.data.std.iter().map(|v| *v as f32).collect(),
        )),
        out_dtype,
        out_nodata: Some(map_nodata),
        out_band_descriptions: vec!["class".into()],
        out_metadata,
        out_color_map: colors,
        argmax: true,
        class_values: table.values().into_iter().map(f64::from).collect(),
        nodata_mask: eoforge_engine::NodataMask::AnyBand,
        ..super::engine_options(args, product.options, product.crop)?
    };
    engine_options.cog.overview_resampling = Resampling::Nearest;
    let (_work, tmp, engine) = super::run_engine(source_url, dest, &mut model, &engine_options, &mut stages)?;
    let made = super::Prediction {
        product: tmp,
        derived: Vec::new(),
        crs: source_crs,
        geo_transform: source_gt,
        crop: product.crop,
        scale: 1,
        nodata_fraction: engine.source_nodata_fraction.clone(),
        class_values: Some(table.values().into_iter().map(f64::from).collect()),
        clipped_pixels: None,
    };
    let record = serde_json::json!({
        "engine": engine,
        "model": {
            "run": product.run_dir.display().to_string(),
            "weights": run.weights().display().to_string(),
            "state": run.state,
            "classes": table,
        },
    });
    super::publish_prediction(args, source_url, dest, product.options, &mut stages, made, record)
}

/// The scene's bands must be the run's channels: as many, and with the same names where the scene names its
/// bands.
fn check_bands(run: &TrainedRun, picked: &[usize], info: &RasterInfo, source_url: &str) -> Result {
    let channels = &run.data.channels;
    if picked.len() != channels.len() {
        return Err(format!(
            "{source_url}: {} input bands, but the model was trained on {} channels ({}); pick them with --input-bands",
            picked.len(),
            channels.len(),
            channels.join(", ")
        )
        .into());
    }
    for (&b, channel) in picked.iter().zip(channels) {
        let Some(band) = b.checked_sub(1).and_then(|i| info.bands.get(i)) else {
            return Err(format!("{source_url}: band {b} requested, the scene has {}", info.band_count).into());
        };
        let trained_unnamed = channel.starts_with("band") && channel[4..].parse::<usize>().is_ok();
        if !band.description.is_empty() && !trained_unnamed && !band.description.eq_ignore_ascii_case(channel) {
            return Err(format!(
                "{source_url}: band {b} is `{}`, but the model's channel {} is `{channel}` (trained on {}); pick the \
                 matching bands with --input-bands",
                band.description,
                picked.iter().position(|p| *p == b).unwrap_or(0) + 1,
                channels.join(", ")
            )
            .into());
        }
    }
    Ok(())
}

/// The scene's bands must look like the run's training data: each picked band's mean (over a read of at most
/// 512×512 pixels, from overviews where the scene has them; nodata and NaN left out) within 3 standard deviations
/// of the run's channel mean. A band far outside is refused, naming it (bands in another order pass the name
/// check when unnamed); `force` lets it through with a warning.
fn check_band_statistics(run: &TrainedRun, source: &Raster, picked: &[usize], source_url: &str, force: bool) -> Result {
    let (w, h) = (source.width(), source.height());
    let scale = (w.max(h) as f64 / 512.0).max(1.0);
    let size = (((w as f64 / scale).round() as usize).max(1), ((h as f64 / scale).round() as usize).max(1));
    let sample = source.read_window_resampled::<f64>(Window::full(w, h), size, Some(picked), Resampling::Nearest)?;
    for (k, (&band, plane)) in picked.iter().zip(sample.outer_iter()).enumerate() {
        let nodata = source.nodata(band)?;
        let valid: Vec<f64> = plane.iter().copied().filter(|v| !v.is_nan() && Some(*v) != nodata).collect();
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
                return Err(format!("{what} Pick the matching bands with --input-bands, or pass --force-bands").into());
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

/// Runs a trained super-resolution network over the scene at the run's scale and finishes the product.
fn predict_super_resolution(
    product: &Product<'_>,
    source: Raster,
    info: &RasterInfo,
    mut stages: Stages,
    run: &TrainedRun,
    sr: &SuperResolutionConfig,
) -> Result {
    let (args, source_url, dest) = (product.args, product.source_url, product.dest);
    let picked: Vec<usize> = args.input_bands.clone().unwrap_or_else(|| (1..=info.band_count).collect());
    check_bands(run, &picked, info, source_url)?;
    check_band_statistics(run, &source, &picked, source_url, args.trained.force_bands)?;
    if args.scale != 1 && args.scale != sr.scale {
        return eoforge_cli::usage(format!(
            "--scale {}: the run's network upscales by {}; leave --scale out or give {}",
            args.scale, sr.scale, sr.scale
        ));
    }
    let out_bands = sr.out_channels();
    let in_dtype = source.dtype(picked[0])?;
    let out_dtype = args.out_dtype.map_or(in_dtype, super::dtype);
    let band = |b: &usize| b.checked_sub(1).and_then(|i| info.bands.get(i));
    let out_nodata = args.out_nodata.or_else(|| band(&picked[0]).and_then(|b| b.nodata));
    if let Some(nodata) = out_nodata
        && !out_dtype.holds(nodata)
    {
        return Err(
            format!("nodata {nodata} is not a value of {out_dtype}; choose --out-nodata within the type").into()
        );
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
    out_metadata.items.push(("MODEL_RUN".into(), product.run_dir.display().to_string()));
    out_metadata.items.push(("MODEL_RUN_STATE".into(), run.state.describe()));
    out_metadata.items.push(("SUPER_RESOLUTION_SCALE".into(), sr.scale.to_string()));
    let (source_crs, source_gt) = (source.crs(), source.geo_transform());
    drop(source);
    let device = burn::backend::flex::FlexDevice;
    let column = |values: &[f64]| {
        let values: Vec<f32> = values.iter().take(out_bands).map(|v| *v as f32).collect();
        let n = values.len();
        Tensor::<Flex, 1>::from_floats(values.as_slice(), &device).reshape([1, n, 1, 1])
    };
    if run.data.mean.len() < out_bands || run.data.std.len() < out_bands {
        return Err(format!(
            "{}: data.json has statistics for fewer channels than the network writes",
            product.run_dir.display()
        )
        .into());
    }
    let network = Denormalized::<Flex> {
        network: run.sr::<Flex>(&device)?,
        mean: column(&run.data.mean),
        std: column(&run.data.std),
    };
    let mut model = BurnModel::new(network, device, out_bands, sr.scale);
    let mut engine_options = eoforge_engine::EngineOptions {
        bands: Some(picked),
        normalize: Some((
            run.data.mean.iter().map(|v| *v as f32).collect(),
            run.data.std.iter().map(|v| *v as f32).collect(),
        )),
        out_dtype,
        out_nodata,
        out_band_descriptions,
        out_metadata,
        clip: !args.trained.no_clip,
        nodata_mask: if keeps_bands {
            eoforge_engine::NodataMask::PerBand
        } else {
            eoforge_engine::NodataMask::AnyBand
        },
        derivatives: product.derivatives.clone(),
        ..super::engine_options(args, product.options, product.crop)?
    };
    engine_options.cog.overview_resampling = super::overview_resampling(args.resampling, out_dtype, out_bands);
    let (_work, tmp, engine) = super::run_engine(source_url, dest, &mut model, &engine_options, &mut stages)?;
    let derived = product
        .derivatives
        .kinds
        .iter()
        .map(|&kind| (eoforge_engine::derivative_path(&tmp, kind), eoforge_products::derived_dest(dest, kind.name())))
        .collect();
    let made = super::Prediction {
        product: tmp,
        derived,
        crs: source_crs,
        geo_transform: source_gt,
        crop: product.crop,
        scale: sr.scale,
        nodata_fraction: engine.source_nodata_fraction.clone(),
        class_values: None,
        clipped_pixels: Some(engine.clipped_pixels),
    };
    let record = serde_json::json!({
        "engine": engine,
        "model": {
            "run": product.run_dir.display().to_string(),
            "weights": run.weights().display().to_string(),
            "state": run.state,
            "scale": sr.scale,
        },
    });
    super::publish_prediction(args, source_url, dest, product.options, &mut stages, made, record)
}
