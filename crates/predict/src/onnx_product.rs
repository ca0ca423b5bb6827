//! A user's ONNX network over a scene, fed as its model card (or the flags) says — a `classes` output written as a
//! class map of the card's class values with their names and colours, an `image` output at the model's scale in
//! the input's type and units (clipped to the type), a `values` output as Float32.

use std::path::Path;

use eoforge_engine::EngineOptions;
use eoforge_profile::Stages;
use eoforge_raster::{BandMetadata, DataType, Raster, RasterInfo, RasterMetadata, Resampling};
use eoforge_shards::ClassTable;

use crate::error::{Error, Result};
use crate::onnx::{InInputUnits, OnnxModel, OnnxOptions};
use crate::plan::{Made, ProductFacts, Scene, SourceGrid};
use eoforge_card::{CardFlags, ModelCard, OutputKind};

/// Runs the ONNX model `file` over the scene and makes the product.
pub(crate) fn predict(scene: &Scene<'_>, source: Raster, file: &Path, stages: &mut Stages) -> Result<Made> {
    let (args, info, source_url) = (scene.options(), &scene.info, scene.source_url);
    let flags = CardFlags {
        bands: Vec::new(),
        normalize: args.onnx.normalize.clone(),
        output: args.onnx.output,
        size_multiple: args.onnx.size_multiple,
    };
    let card = ModelCard::for_model(file, &flags)?;
    let picked = pick_bands(&card, args.input_bands.as_deref(), info, source_url)?;
    let in_dtype = source.dtype(picked[0])?;
    for b in &picked {
        if source.dtype(*b)? != in_dtype {
            return Err(scene.error(format!(
                "band {b} is {}, band {} is {in_dtype}; pick bands of one type with --input-bands",
                source.dtype(*b)?,
                picked[0]
            )));
        }
    }
    let options = OnnxOptions {
        library: args.onnx.onnxruntime.clone(),
        threads: 0,
        device: args.device,
        allow_cpu_fallback: args.allow_cpu_fallback,
    };
    let mut onnx = match scene.plan.take_onnx(picked.len()) {
        Some(model) => model,
        None => stages.time("load", || OnnxModel::open(file, &card, picked.len(), args.window, &options))?,
    };
    let made = predict_with(scene, source, file, stages, &card, &picked, &mut onnx);
    // The next scene of a list runs the same session.
    scene.plan.keep_onnx(picked.len(), onnx);
    made
}

/// The product of the scene with the loaded model.
fn predict_with(
    scene: &Scene<'_>,
    source: Raster,
    file: &Path,
    stages: &mut Stages,
    card: &ModelCard,
    picked: &[usize],
    onnx: &mut OnnxModel,
) -> Result<Made> {
    let (args, info) = (scene.options(), &scene.info);
    let in_dtype = source.dtype(picked[0])?;
    let normalization = card.normalization_for(picked.len())?;
    let signature = onnx.signature().clone();
    let scale = eoforge_engine::Model::scale(&*onnx);
    let out_bands = signature.out_channels;
    // An image comes back in the input's units: the input scaling undone on the output.
    let mut model: Box<dyn eoforge_engine::Model + '_> = match (&normalization, card.output) {
        (Some(n), OutputKind::Image) if out_bands == picked.len() => Box::new(InInputUnits::new(onnx, n)),
        (Some(_), OutputKind::Image) => {
            return Err(Error::Usage(format!(
                "{}: an `image` output of {out_bands} bands cannot be put back into the units of {} scaled input \
                 bands; use --output values",
                file.display(),
                picked.len()
            )));
        }
        _ => Box::new(onnx),
    };
    let normalize = normalization.map(|n| (n.subtract, n.divide));
    let metadata = source.metadata()?;
    let grid = SourceGrid::of(&source);
    let band = |b: &usize| b.checked_sub(1).and_then(|i| info.bands.get(i));
    let mut engine_options = scene.engine_options();
    // A model with a fixed input size gets windows of exactly that size (smaller scenes are padded up to it).
    if let Some((height, width)) = signature.fixed_size {
        if height != width {
            return Err(Error::Model {
                path: file.to_owned(),
                reason: format!("takes fixed {height}x{width} inputs; eoforge's windows are square"),
            });
        }
        if args.window != height {
            tracing::info!(window = height, "the model takes fixed {height}x{width} inputs: windows of that size");
        }
        if height <= 2 * args.halo {
            return Err(Error::Usage(format!(
                "--halo {}: the model's fixed {height} px windows need a halo under {}",
                args.halo,
                height / 2
            )));
        }
        engine_options.window = height;
    }
    // A network's activation memory is its own (a Swin2SR ×4 window of 256² holds ~2 GB in ONNX Runtime): one
    // window per run unless --batch says otherwise.
    if args.batch == 0 {
        engine_options.batch = 1;
    }
    engine_options.bands = Some(picked.to_vec());
    engine_options.normalize = normalize;
    let mut class_values = None;
    let mut provenance =
        vec![("MODEL_ONNX".to_owned(), file.display().to_string()), ("MODEL_CARD".to_owned(), card.source.clone())];
    match card.output {
        OutputKind::Classes => {
            crate::trained::refuse_continuous_options(args, "a `classes` model")?;
            if !card.classes.is_empty() && card.classes.len() != out_bands {
                return Err(Error::Card(format!(
                    "{}: lists {} classes, the model writes {out_bands} scores",
                    card.source,
                    card.classes.len()
                )));
            }
            // Output channel i is the card's class i (values 0, 1, … without a card's classes).
            let values: Vec<u16> = if card.classes.is_empty() {
                (0..out_bands)
                    .map(|i| {
                        u16::try_from(i).map_err(|_| {
                            Error::Product(format!("{out_bands} class scores do not fit a UInt16 class map"))
                        })
                    })
                    .collect::<Result<_>>()?
            } else {
                card.classes.iter().map(|c| c.value).collect()
            };
            let named = |v: u16| card.classes.iter().find(|c| c.value == v);
            let table = ClassTable::of_values(
                values.iter().copied(),
                |v| named(v).map(|c| c.name.clone()),
                |v| named(v).and_then(|c| c.color),
            );
            let (out_dtype, nodata) = crate::trained::class_map_type(&table, args.out_nodata)?;
            let colors = (out_dtype == DataType::UInt8).then(|| table.color_table());
            provenance.push(("CLASS_NAMES".into(), table.names_item()));
            let band = BandMetadata {
                color: colors.as_ref().map(|_| "Palette".into()),
                items: provenance,
                ..BandMetadata::default()
            };
            let class_list: Vec<f64> = values.iter().copied().map(f64::from).collect();
            engine_options = EngineOptions {
                out_dtype,
                out_nodata: Some(nodata),
                out_band_descriptions: vec!["class".into()],
                out_metadata: RasterMetadata { bands: vec![band], ..metadata },
                out_color_map: colors,
                argmax: true,
                class_values: class_list.clone(),
                nodata_mask: eoforge_engine::NodataMask::AnyBand,
                ..engine_options
            };
            engine_options.cog.overview_resampling = Resampling::Nearest;
            class_values = Some(class_list);
        }
        OutputKind::Image | OutputKind::Values => {
            if args.scale != 1 && args.scale != scale {
                return Err(Error::Usage(format!(
                    "--scale {}: the model writes {scale} output pixels per input pixel; leave --scale out or give \
                     {scale}",
                    args.scale
                )));
            }
            let image = card.output == OutputKind::Image;
            let out_dtype = args.out_dtype.unwrap_or(if image { in_dtype } else { DataType::Float32 });
            if !image && !out_dtype.is_float() {
                return Err(Error::Usage(format!(
                    "--out-dtype {}: a `values` output is continuous; give float32 or float64, or --output image",
                    out_dtype.name().to_ascii_lowercase()
                )));
            }
            let keeps_bands = out_bands == picked.len();
            let out_nodata = args
                .out_nodata
                .or_else(|| if keeps_bands || image { band(&picked[0]).and_then(|b| b.nodata) } else { None })
                .or(if out_dtype.is_float() { Some(f64::NAN) } else { None });
            if let Some(nodata) = out_nodata
                && !nodata.is_nan()
                && !out_dtype.holds(nodata)
            {
                return Err(Error::Product(format!(
                    "nodata {nodata} is not a value of {out_dtype}; choose --out-nodata within the type"
                )));
            }
            let names: Vec<String> = if keeps_bands {
                picked.iter().filter_map(|b| band(b).map(|x| x.description.clone())).collect()
            } else {
                Vec::new()
            };
            let mut out_metadata = RasterMetadata {
                bands: if keeps_bands && metadata.bands.len() == info.band_count {
                    picked
                        .iter()
                        .filter_map(|b| b.checked_sub(1).and_then(|i| metadata.bands.get(i)).cloned())
                        .collect()
                } else {
                    Vec::new()
                },
                ..metadata
            }
            .for_bands(out_bands);
            out_metadata.items.extend(provenance);
            if scale > 1 {
                out_metadata.items.push(("SUPER_RESOLUTION_SCALE".into(), scale.to_string()));
            }
            engine_options = EngineOptions {
                out_dtype,
                out_nodata,
                out_band_descriptions: if names.iter().any(|n| !n.is_empty()) { names } else { Vec::new() },
                out_metadata,
                clip: image && !out_dtype.is_float() && !args.trained.no_clip,
                nodata_mask: if keeps_bands {
                    eoforge_engine::NodataMask::PerBand
                } else {
                    eoforge_engine::NodataMask::AnyBand
                },
                derivatives: args.derivatives.clone(),
                ..engine_options
            };
            engine_options.cog.overview_resampling = args.resampling.for_data(out_dtype, out_bands);
        }
    }
    drop(source);
    let facts = ProductFacts {
        scale,
        clipped: class_values.is_none(),
        class_values,
        record: serde_json::json!({ "onnx": file.display().to_string(), "card": card, "signature": signature }),
    };
    scene.make(model.as_mut(), &engine_options, grid, facts, stages)
}

/// The scene's bands the model takes: `--input-bands`, else the card's band names matched to the scene's band
/// descriptions, else every band. A card band the scene does not name is an error naming it.
fn pick_bands(card: &ModelCard, given: Option<&[usize]>, info: &RasterInfo, source_url: &str) -> Result<Vec<usize>> {
    if let Some(bands) = given {
        if let Some(b) = bands.iter().find(|b| **b == 0 || **b > info.band_count) {
            return Err(Error::Usage(format!("--input-bands {b}: {source_url} has bands 1..={}", info.band_count)));
        }
        return Ok(bands.to_vec());
    }
    let named = info.bands.iter().any(|b| !b.description.is_empty());
    if card.bands.is_empty() || !named {
        return Ok((1..=info.band_count).collect());
    }
    card.bands
        .iter()
        .map(|name| {
            info.bands.iter().position(|b| b.description.eq_ignore_ascii_case(name)).map(|i| i + 1).ok_or_else(|| {
                let have: Vec<&str> = info.bands.iter().map(|b| b.description.as_str()).collect();
                Error::scene(
                    source_url,
                    format!(
                        "no band named `{name}` (the model takes {}; the scene has {}); pick the bands with \
                         --input-bands",
                        card.bands.join(", "),
                        have.join(", ")
                    ),
                )
            })
        })
        .collect()
}
