//! One function per subcommand, each a few calls into the libraries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eoforge_products::{Existing, Outcome, ProductSet, Published, WorkDir, derived_dest, existing, publish_file};
use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_qc::{QcConfig, QcReport, SourceReference, run_qc};
use eoforge_raster::{BigTiff, CogWriterOptions, Compression, DataType, Raster, Resampling, translate_to_cog};
use eoforge_storage::{Store, StoreOptions};

use eoforge_engine::{BandRoles, Derivative, DerivativeOptions};

mod onnx;
mod trained;

use crate::cli::{
    BlendArg, Cli, CodecArg, CogArgs, Command, DerivativeArg, DtypeArg, ModelArg, PredictArgs, QcArgs, QcLimits,
    ResamplingArg,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result {
    let options = cli.s3.store_options();
    match cli.command {
        Command::Qc(args) => qc(&args, &options),
        Command::Cog(args) => cog(&args, &options),
        Command::Predict(args) => predict(&args, &options),
    }
}

fn pair(text: &str, what: &str) -> Result<(f64, f64)> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("{what} `{text}` is not two numbers A,B"))?;
    match parts.as_slice() {
        [a, b] => Ok((*a, *b)),
        _ => Err(format!("{what} `{text}` is not two numbers A,B").into()),
    }
}

fn config(limits: &QcLimits) -> Result<QcConfig> {
    Ok(QcConfig {
        bands: limits.bands,
        dtype: limits.dtype.map(dtype),
        min_overviews: limits.min_overviews,
        max_nodata_fraction: limits.max_nodata_fraction,
        mean_range: limits.mean_range.as_deref().map(|t| pair(t, "--mean-range")).transpose()?,
        require_cog: !limits.no_cog,
        stage_limit: limits.stage_limit.as_deref().map(|t| pair(t, "--stage-limit")).transpose()?,
        ..QcConfig::default()
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn summarize(report: &QcReport) {
    let failed = report.checks.iter().filter(|c| c.status == eoforge_qc::Status::Fail).count();
    eprintln!(
        "QC {}: {} checks, {failed} failed{}",
        if report.passed { "PASS" } else { "FAIL" },
        report.checks.len(),
        if failed > 0 { format!(" ({})", report.failures()) } else { String::new() }
    );
}

fn qc(args: &QcArgs, options: &StoreOptions) -> Result {
    eoforge_raster::set_gdal_cache_mib(128);
    let product = Path::new(&args.product);
    let stages = match &args.profile {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| format!("cannot read profile `{path}`: {e}"))?;
            let value: serde_json::Value =
                serde_json::from_slice(&text).map_err(|e| format!("profile `{path}` is not JSON: {e}"))?;
            let map = value
                .get("stages")
                .and_then(|v| v.as_object())
                .ok_or_else(|| format!("profile `{path}` has no \"stages\" object"))?;
            map.iter().filter_map(|(k, v)| v.as_f64().map(|s| (k.clone(), s))).collect()
        }
        None => BTreeMap::new(),
    };
    let report = run_qc(product, &config(&args.limits)?, &stages)?;
    let report_path = args.report.clone().unwrap_or_else(|| format!("{}.qc.json", args.product));
    report.write(Path::new(&report_path))?;
    summarize(&report);
    if let Some(dest) = &args.publish {
        let recorded = serde_json::Map::new();
        let outcome =
            runtime()?.block_on(publish_file(product, dest, &report, &recorded, args.force, false, options))?;
        eprintln!(
            "{}: {dest}",
            if outcome == Published::Uploaded { "published" } else { "already published (unchanged)" }
        );
        return Ok(());
    }
    report.gate()?;
    Ok(())
}

fn cog(args: &CogArgs, options: &StoreOptions) -> Result {
    // Every source block is read once: GDAL's default cache (5 % of RAM) would only hold memory.
    eoforge_raster::set_gdal_cache_mib(128);
    let mut stages = Stages::default();
    let source = stages.time("open", || Raster::open_with(&args.source, options))?;
    let qc_config = config(&args.limits)?;
    let work = WorkDir::for_dest(&args.dest)?;
    let tmp: PathBuf = work.path().join("product.tif");
    let compression = codec(args.compress, args.level)?;
    let resampling = overview_resampling(args.resampling, source.dtype(1)?, source.band_count());
    let cog_options = CogWriterOptions {
        block_size: args.blocksize,
        compression,
        overview_resampling: resampling,
        bigtiff: BigTiff::IfSafer,
        ..CogWriterOptions::default()
    };
    let pool = rayon_pool(args.threads)?;
    let translated = stages
        .time("write", || pool.install(|| translate_to_cog(&args.source, options, &tmp, &cog_options)))
        .map_err(|e| at_dest(&e, work.path(), &args.dest))?;
    let qc_config = QcConfig {
        source: Some(SourceReference {
            location: args.source.clone(),
            crs: source.crs(),
            geo_transform: source.geo_transform(),
            nodata_fraction: translated.source_nodata_fraction,
            nodata_tolerance: args.limits.nodata_tolerance,
        }),
        ..qc_config
    };
    let (w, h, bands) = (source.width(), source.height(), source.band_count());
    let raw_mb = (w * h * bands * source.dtype(1).map_or(2, DataType::size)) as f64 / 1e6;
    eprintln!(
        "wrote {w}x{h}x{bands} ({raw_mb:.0} MB raw) as COG in {:.2} s ({:.0} MB/s), peak RSS {:.0} MiB",
        stages.get("write"),
        raw_mb / stages.get("write").max(1e-9),
        peak_rss_mib()
    );
    let figures = serde_json::json!({
        "megapixels": (w * h) as f64 / 1e6,
        "raw_mb": raw_mb,
        "write_mb_per_s": raw_mb / stages.get("write").max(1e-9),
    });
    let recorded = serde_json::json!({
        "stage": "cog",
        "compress": format!("{compression:?}"),
        "blocksize": args.blocksize,
        "resampling": resampling.gdal_name(),
    });
    let set = ProductSet {
        source: args.source.clone(),
        product: tmp,
        dest: args.dest.clone(),
        derived: Vec::new(),
        options: recorded.as_object().cloned().unwrap_or_default(),
        force: args.force,
    };
    finish(&set, &qc_config, options, &mut stages, figures)
}

/// A stage's error told in terms of the destination: the working files (`<work>/product.tif`, its derived maps
/// `<work>/product_ndvi.tif`, their `.partial`s) are named by where they were going, not by a hidden folder.
fn at_dest(e: &(dyn std::error::Error + 'static), work: &Path, dest: &str) -> Box<dyn std::error::Error + Send + Sync> {
    eoforge_cli::error_chain(e)
        .replace(&format!("{}/product", work.display()), eoforge_products::product_stem(dest))
        .into()
}

/// QC and publishing of a finished product set, with one line per report and per outcome on stderr.
fn finish(
    set: &ProductSet,
    qc: &QcConfig,
    options: &StoreOptions,
    stages: &mut Stages,
    figures: serde_json::Value,
) -> Result {
    let outcome: Outcome = runtime()?.block_on(set.check_and_publish(qc, options, stages, figures))?;
    summarize(&outcome.report);
    for report in &outcome.derived_reports {
        eprint!("{}: ", report.path);
        summarize(report);
    }
    match outcome.published {
        Some(Published::Uploaded) => eprintln!("published: {}", set.dest),
        Some(Published::AlreadyThere) => eprintln!("already published (unchanged): {}", set.dest),
        None => outcome.gate()?,
    }
    Ok(())
}

fn codec(arg: CodecArg, level: u8) -> Result<Compression> {
    Ok(match arg {
        CodecArg::Lzw => Compression::Lzw,
        CodecArg::Deflate if level > 9 => {
            return eoforge_cli::usage(format!("--level {level}: DEFLATE levels are 1-9"));
        }
        CodecArg::Deflate => Compression::Deflate { level },
        CodecArg::Zstd => Compression::Zstd { level },
    })
}

fn predict(args: &PredictArgs, options: &StoreOptions) -> Result {
    eoforge_raster::set_gdal_cache_mib(128);
    let derivatives = derivative_options(args)?;
    let Some(list) = &args.scenes else {
        let (Some(source), Some(dest)) = (&args.source, &args.dest) else {
            return Err("give SOURCE and DEST, or --scenes LIST".into());
        };
        return predict_one(args, source, dest, &derivatives, options);
    };
    let shard = match &args.shard {
        Some(spec) => spec.parse()?,
        None => eoforge_sampling::ShardSpec::from_env()?,
    };
    let rt = runtime()?;
    let scenes = rt.block_on(eoforge_products::read_scene_list(list, options))?;
    let mine: Vec<(usize, &eoforge_products::Scene)> =
        scenes.iter().enumerate().filter(|(i, _)| shard.owns(*i)).collect();
    eprintln!("shard {shard}: {} of the {} scenes in {list}", mine.len(), scenes.len());
    let (mut done, mut skipped, mut failed) = (0usize, 0usize, Vec::new());
    let recorded = predict_options(args);
    for (i, scene) in mine {
        let (source, dest) = (&scene.source, &scene.dest);
        if !args.force {
            let (store, key) = Store::open_object(dest, options)?;
            match rt.block_on(existing(&store, &key, &recorded))? {
                Existing::Current(_) => {
                    eprintln!(
                        "scene {}: already published with these options and a passing report, skipped: {dest}",
                        i + 1
                    );
                    skipped += 1;
                    continue;
                }
                Existing::OptionsChanged(differences) => {
                    let reason = format!(
                        "{dest} holds a product made with other options ({differences}); pass --force to replace it"
                    );
                    eprintln!("scene {}: failed: {reason}", i + 1);
                    failed.push(format!("scene {} ({source}): {reason}", i + 1));
                    continue;
                }
                Existing::Stale(why) => tracing::info!(dest, why, "replacing"),
                Existing::Missing => {}
            }
        }
        eprintln!("scene {}: {source} -> {dest}", i + 1);
        match predict_one(args, source, dest, &derivatives, options) {
            Ok(()) => done += 1,
            Err(e) => {
                let reason = eoforge_cli::error_chain(e.as_ref());
                eprintln!("scene {}: failed: {reason}", i + 1);
                failed.push(format!("scene {} ({source}): {reason}", i + 1));
            }
        }
    }
    eprintln!("shard {shard}: {done} published, {skipped} skipped, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} scene(s) failed: {}", failed.len(), failed.join("; ")).into())
    }
}

/// The derived maps asked for, with the band roles parsed (`blue=1,green=2,red=3,nir=4`).
fn derivative_options(args: &PredictArgs) -> Result<DerivativeOptions> {
    let mut roles = BandRoles::default();
    for part in args.band_roles.split(',').filter(|p| !p.trim().is_empty()) {
        let bad = || {
            eoforge_cli::UsageError(format!(
                "--band-roles `{part}`: expected ROLE=BAND with ROLE blue, green, red or nir and BAND from 1"
            ))
        };
        let (role, band) = part.split_once('=').ok_or_else(bad)?;
        let band: usize = band.trim().parse().ok().filter(|b| *b >= 1).ok_or_else(bad)?;
        let slot = match role.trim() {
            "blue" => &mut roles.blue,
            "green" => &mut roles.green,
            "red" => &mut roles.red,
            "nir" => &mut roles.nir,
            _ => return Err(bad().into()),
        };
        if slot.is_some() {
            return eoforge_cli::usage(format!("--band-roles: {} is given twice", role.trim()));
        }
        *slot = Some(band);
    }
    let kinds = args
        .derivatives
        .iter()
        .map(|d| match d {
            DerivativeArg::Ndvi => Derivative::Ndvi,
            DerivativeArg::Evi => Derivative::Evi,
            DerivativeArg::Rgb => Derivative::Rgb,
            DerivativeArg::Nir => Derivative::Nir,
        })
        .collect();
    Ok(DerivativeOptions {
        kinds,
        roles,
        scale: args.reflectance_scale,
        offset: args.reflectance_offset,
        ..DerivativeOptions::default()
    })
}

fn predict_one(
    args: &PredictArgs,
    source_url: &str,
    dest: &str,
    derivatives: &DerivativeOptions,
    options: &StoreOptions,
) -> Result {
    let mut stages = Stages::default();
    let source = Raster::open_with(source_url, options)?;
    let crop = match &args.aoi {
        Some(text) => {
            let values: Vec<f64> =
                text.split(',').map(|part| part.trim().parse::<f64>()).collect::<std::result::Result<_, _>>().map_err(
                    |_| eoforge_cli::UsageError(format!("--aoi `{text}` is not MINLON,MINLAT,MAXLON,MAXLAT")),
                )?;
            let [min_lon, min_lat, max_lon, max_lat] = values.as_slice() else {
                return eoforge_cli::usage(format!("--aoi `{text}` needs four numbers MINLON,MINLAT,MAXLON,MAXLAT"));
            };
            if !(-180.0..=180.0).contains(min_lon)
                || !(-180.0..=180.0).contains(max_lon)
                || !(-90.0..=90.0).contains(min_lat)
                || !(-90.0..=90.0).contains(max_lat)
            {
                return eoforge_cli::usage(format!(
                    "--aoi `{text}`: longitudes must lie in -180..180 and latitudes in -90..90"
                ));
            }
            if min_lon >= max_lon || min_lat >= max_lat {
                return eoforge_cli::usage(format!(
                    "--aoi `{text}` is inverted or empty: give MINLON,MINLAT,MAXLON,MAXLAT with MIN < MAX"
                ));
            }
            let aoi = eoforge_raster::Bounds::new(*min_lon, *min_lat, *max_lon, *max_lat);
            Some(source.window_for(&aoi, &eoforge_raster::Crs::wgs84()?)?)
        }
        None => None,
    };
    let info = source.info()?;
    if let ModelArg::Run(dir) = &args.model {
        let product = trained::Product { args, source_url, dest, options, crop, run_dir: dir, derivatives };
        return trained::predict(&product, source, &info, stages);
    }
    if let ModelArg::Onnx(file) = &args.model {
        let product = trained::Product { args, source_url, dest, options, crop, run_dir: file, derivatives };
        return onnx::predict(&product, source, &info, stages);
    }
    let picked: Vec<usize> = args.input_bands.clone().unwrap_or_else(|| (1..=info.band_count).collect());
    let in_bands = picked.len();
    // The built-in models keep the input's bands: their names, nodata, metadata, type and palette carry over to
    // the product. A band out of range carries nothing here; the engine refuses it, naming it.
    let band = |b: &usize| b.checked_sub(1).and_then(|i| info.bands.get(i));
    let names: Option<Vec<String>> = picked.iter().map(|b| Some(band(b)?.description.clone())).collect();
    let out_band_descriptions = names.filter(|n| n.iter().any(|d| !d.is_empty())).unwrap_or_default();
    let in_dtype = source.dtype(picked.first().copied().unwrap_or(1))?;
    for b in &picked {
        if band(b).is_some() && source.dtype(*b)? != in_dtype {
            return Err(format!(
                "{source_url}: input band {b} is {}, band {} is {in_dtype}; pick bands of one type with --input-bands",
                source.dtype(*b)?,
                picked[0]
            )
            .into());
        }
    }
    if !in_dtype.fits_in(DataType::Float32) {
        return Err(format!(
            "{source_url} is {in_dtype}: models take 32-bit floats, which cannot hold every {in_dtype} value; \
             convert the scene first (e.g. `cog` keeps it exactly, gdal_translate -ot Float32 rounds it)"
        )
        .into());
    }
    let out_dtype = args.out_dtype.map_or(in_dtype, dtype);
    // Floats into integers would round every value: refused. A narrower integer type is allowed, and the engine
    // stops at the first value it cannot hold (naming the pixel) instead of saturating it.
    if in_dtype.is_float() && !out_dtype.is_float() {
        return Err(format!(
            "--out-dtype {}: the {} model keeps the input's {in_dtype} values, which {out_dtype} would round; use \
             --out-dtype {} (the default) or float64",
            dtype_flag(out_dtype),
            args.model.name(),
            dtype_flag(in_dtype)
        )
        .into());
    }
    let out_nodata = args.out_nodata.or_else(|| picked.first().and_then(|b| band(b)?.nodata));
    if let Some(nodata) = out_nodata
        && !out_dtype.holds(nodata)
    {
        let origin = if args.out_nodata.is_some() { "--out-nodata" } else { "the input's nodata" };
        return Err(
            format!("{origin} {nodata} is not a value of {out_dtype}; choose --out-nodata within the type").into()
        );
    }
    let metadata = source.metadata()?;
    let out_metadata = eoforge_raster::RasterMetadata {
        bands: if metadata.bands.len() == info.band_count {
            picked.iter().filter_map(|b| b.checked_sub(1).and_then(|i| metadata.bands.get(i)).cloned()).collect()
        } else {
            Vec::new()
        },
        ..metadata
    }
    .for_bands(in_bands);
    let out_color_map = if in_bands == 1 && out_dtype == DataType::UInt8 {
        source.color_table(picked[0]).ok().flatten().map(|mut c| {
            c.truncate(256);
            c
        })
    } else {
        None
    };
    let (source_crs, source_gt) = (source.crs(), source.geo_transform());
    drop(source);
    let scale = match args.model {
        ModelArg::Upsample => args.scale.max(1),
        _ => 1,
    };
    let mut model = eoforge_engine::FnModel::new(in_bands, scale, move |x: ndarray::Array4<f32>| {
        if scale == 1 {
            return Ok(x);
        }
        Ok(upsample_nearest(&x, scale))
    });
    let mut engine_options = eoforge_engine::EngineOptions {
        bands: args.input_bands.clone(),
        out_dtype,
        out_nodata,
        out_band_descriptions,
        out_metadata,
        out_color_map,
        nodata_mask: eoforge_engine::NodataMask::PerBand,
        derivatives: derivatives.clone(),
        ..engine_options(args, options, crop)?
    };
    engine_options.cog.overview_resampling = overview_resampling(args.resampling, out_dtype, in_bands);
    let (_work, tmp, engine) = run_engine(source_url, dest, &mut model, &engine_options, &mut stages)?;
    let extras: Vec<(PathBuf, String)> = derivatives
        .kinds
        .iter()
        .map(|&kind| (eoforge_engine::derivative_path(&tmp, kind), derived_dest(dest, kind.name())))
        .collect();
    let made = Prediction {
        product: tmp,
        derived: extras,
        crs: source_crs,
        geo_transform: source_gt,
        crop,
        scale,
        nodata_fraction: engine.source_nodata_fraction.clone(),
        class_values: None,
        clipped_pixels: None,
    };
    publish_prediction(args, source_url, dest, options, &mut stages, made, serde_json::json!({ "engine": engine }))
}

/// The engine options every model shares, from the flags: windows, batch, blending, crop, COG layout, store and
/// stitching memory; each model sets what its output is.
fn engine_options(
    args: &PredictArgs,
    options: &StoreOptions,
    crop: Option<eoforge_raster::Window>,
) -> Result<eoforge_engine::EngineOptions> {
    Ok(eoforge_engine::EngineOptions {
        window: args.window,
        halo: args.halo,
        batch: args.batch,
        blend: match args.blend {
            BlendArg::Hann => eoforge_engine::Blend::Hann,
            BlendArg::Center => eoforge_engine::Blend::Center,
        },
        crop,
        cog: CogWriterOptions {
            block_size: args.blocksize,
            compression: codec(args.compress, args.level)?,
            ..CogWriterOptions::default()
        },
        store: options.clone(),
        stitch_memory_mib: args.stitch_memory_mib,
        ..eoforge_engine::EngineOptions::default()
    })
}

/// What the engine made for a `predict` product, and the source grid it was made on.
struct Prediction {
    product: PathBuf,
    derived: Vec<(PathBuf, String)>,
    crs: Option<eoforge_raster::Crs>,
    geo_transform: Option<eoforge_raster::GeoTransform>,
    crop: Option<eoforge_raster::Window>,
    scale: usize,
    /// Share of output pixels masked by input nodata (the engine's `source_nodata_fraction`).
    nodata_fraction: Vec<f64>,
    /// A class map's values (QC checks the map holds only these, and not the continuous-product checks).
    class_values: Option<Vec<f64>>,
    /// Output values clipped to the product's type.
    clipped_pixels: Option<u64>,
}

/// Checks a `predict` product against its source (CRS, grid, nodata share) and publishes it if QC passes; `record`
/// goes into its profile.
fn publish_prediction(
    args: &PredictArgs,
    source_url: &str,
    dest: &str,
    options: &StoreOptions,
    stages: &mut Stages,
    made: Prediction,
    record: serde_json::Value,
) -> Result {
    // The product keeps the source's CRS; its grid is the source's, cropped and `scale` times finer.
    let crop_origin = made.crop.map_or((0.0, 0.0), |w| (w.col as f64, w.row as f64));
    let reference = SourceReference {
        location: source_url.to_owned(),
        crs: made.crs,
        geo_transform: made.geo_transform.map(|g| g.shifted(crop_origin.0, crop_origin.1).scaled(made.scale as f64)),
        nodata_fraction: made.nodata_fraction,
        nodata_tolerance: args.limits.nodata_tolerance,
    };
    let set = ProductSet {
        source: source_url.to_owned(),
        product: made.product,
        dest: dest.to_owned(),
        derived: made.derived,
        options: predict_options(args),
        force: args.force,
    };
    let qc = QcConfig {
        source: Some(reference),
        class_values: made.class_values,
        clipped_pixels: made.clipped_pixels,
        ..config(&args.limits)?
    };
    finish(&set, &qc, options, stages, record)
}

/// Runs the engine into a working folder beside `dest` and prints its throughput; the folder goes away when the
/// returned guard is dropped (after publishing, or on failure).
fn run_engine(
    source_url: &str,
    dest: &str,
    model: &mut dyn eoforge_engine::Model,
    options: &eoforge_engine::EngineOptions,
    stages: &mut Stages,
) -> Result<(WorkDir, PathBuf, eoforge_engine::EngineProfile)> {
    let work = WorkDir::for_dest(dest)?;
    let tmp = work.path().join("product.tif");
    let engine = stages
        .time("infer", || eoforge_engine::run(source_url, &tmp, model, options))
        .map_err(|e| at_dest(&e, work.path(), dest))?;
    eprintln!(
        "{} windows in {:.2} s ({:.0} windows/s, {:.1} output MB/s); busy s: {}",
        engine.windows,
        engine.total_s,
        engine.windows_per_s,
        engine.output_mb_per_s,
        engine.busy_s.0.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ")
    );
    Ok((work, tmp, engine))
}

/// The options a `predict` product is made with, recorded beside it and compared on reruns (a scene whose
/// product was made with other options is not skipped as done).
fn predict_options(args: &PredictArgs) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "stage": "predict",
        "model": args.model.name(),
        "scale": args.scale,
        "out_dtype": args.out_dtype.map(|d| dtype(d).name()),
        "out_nodata": args.out_nodata,
        "input_bands": args.input_bands,
        "window": args.window,
        "halo": args.halo,
        "blend": format!("{:?}", args.blend).to_ascii_lowercase(),
        "aoi": args.aoi,
        "derivatives": args.derivatives.iter().map(|d| format!("{d:?}").to_ascii_lowercase()).collect::<Vec<_>>(),
        "band_roles": args.band_roles,
        "reflectance": [args.reflectance_scale, args.reflectance_offset],
        "compress": format!("{:?}", args.compress).to_ascii_lowercase(),
        "level": args.level,
        "blocksize": args.blocksize,
        "resampling": format!("{:?}", args.resampling).to_ascii_lowercase(),
        "onnx_output": args.onnx.output,
        "normalize": args.onnx.normalize.as_ref().map(|n| format!("{n:?}")),
        "size_multiple": args.onnx.size_multiple,
    });
    value.as_object().cloned().unwrap_or_default()
}

/// The overview reduction for `bands` bands of `dtype`.
fn overview_resampling(arg: ResamplingArg, dtype: DataType, bands: usize) -> Resampling {
    match arg {
        ResamplingArg::Auto => Resampling::for_overviews(dtype, bands),
        ResamplingArg::Average => Resampling::Average,
        ResamplingArg::Nearest => Resampling::Nearest,
    }
}

/// Nearest-neighbour upsampling of a batch `(n, bands, h, w)` by `scale`: each input row is widened once and
/// copied to its `scale` output rows.
fn upsample_nearest(x: &ndarray::Array4<f32>, scale: usize) -> ndarray::Array4<f32> {
    let (count, bands, rows, cols) = x.dim();
    let mut out = ndarray::Array4::<f32>::zeros((count, bands, rows * scale, cols * scale));
    for (src, mut dst) in x.outer_iter().zip(out.outer_iter_mut()) {
        for (src, mut dst) in src.outer_iter().zip(dst.outer_iter_mut()) {
            for (r, src_row) in src.outer_iter().enumerate() {
                let wide: Vec<f32> = src_row.iter().flat_map(|&v| std::iter::repeat_n(v, scale)).collect();
                for k in 0..scale {
                    dst.row_mut(r * scale + k).assign(&ndarray::ArrayView1::from(&wide[..]));
                }
            }
        }
    }
    out
}

/// The flag's spelling of a data type (`uint16`), for messages.
fn dtype_flag(dtype: DataType) -> String {
    dtype.name().to_ascii_lowercase()
}

fn dtype(arg: DtypeArg) -> DataType {
    match arg {
        DtypeArg::Uint8 => DataType::UInt8,
        DtypeArg::Uint16 => DataType::UInt16,
        DtypeArg::Int16 => DataType::Int16,
        DtypeArg::Uint32 => DataType::UInt32,
        DtypeArg::Int32 => DataType::Int32,
        DtypeArg::Float32 => DataType::Float32,
        DtypeArg::Float64 => DataType::Float64,
    }
}

fn rayon_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build()?)
}
