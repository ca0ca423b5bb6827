//! One function per subcommand, each a few calls into the libraries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eoforge_cli::UsageError;
use eoforge_predict::{Plan, PredictOptions, SceneEvent};
use eoforge_products::{Outcome, ProductSet, Published, WorkDir, publish_file};
use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_qc::{QcConfig, QcReport, SourceReference, run_qc};
use eoforge_raster::{BigTiff, Codec, CogWriterOptions, Compression, DataType, Raster, translate_to_cog};
use eoforge_storage::StoreOptions;

use crate::cli::{Cli, CogArgs, Command, PredictArgs, QcArgs, QcLimits};

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
        dtype: limits.dtype,
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
    let compression = compression(args.compress, args.level)?;
    let resampling = args.resampling.for_data(source.dtype(1)?, source.band_count());
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
    announce(&outcome, &set.dest)
}

/// `--compress` at `--level`.
fn compression(codec: Codec, level: u8) -> Result<Compression> {
    codec.at_level(level).map_err(|e| UsageError(format!("--level {e}")).into())
}

fn rayon_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build()?)
}

/// A library error as the command reports it: flag errors exit 2.
fn usage_or(e: eoforge_predict::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        eoforge_predict::Error::Usage(text) => UsageError(text).into(),
        other => other.into(),
    }
}

/// The typed options of `predict`, from its flags.
fn predict_options(args: &PredictArgs) -> Result<PredictOptions> {
    let mut qc = config(&args.limits)?;
    qc.max_nodata_fraction = args.limits.max_nodata_fraction;
    Ok(PredictOptions {
        model: args.model.clone(),
        device: args.device,
        allow_cpu_fallback: args.allow_cpu_fallback,
        scale: args.scale,
        window: args.window,
        halo: args.halo,
        batch: args.batch,
        input_bands: args.input_bands.clone(),
        blend: args.blend,
        aoi: args.aoi,
        out_dtype: args.out_dtype,
        out_nodata: args.out_nodata,
        blocksize: args.blocksize,
        compression: compression(args.compress, args.level)?,
        resampling: args.resampling,
        force: args.force,
        derivatives: eoforge_engine::DerivativeOptions {
            kinds: args.derivatives.clone(),
            roles: args.band_roles,
            scale: args.reflectance_scale,
            offset: args.reflectance_offset,
            ..eoforge_engine::DerivativeOptions::default()
        },
        stitch_memory_mib: args.stitch_memory_mib,
        trained: eoforge_predict::TrainedOptions {
            no_clip: args.trained.no_clip,
            force_bands: args.trained.force_bands,
            allow_unfinished: args.trained.allow_unfinished,
        },
        onnx: eoforge_predict::OnnxFlags {
            onnxruntime: args.onnx.onnxruntime.clone(),
            output: args.onnx.output,
            normalize: args.onnx.normalize.clone(),
            size_multiple: args.onnx.size_multiple,
        },
        qc,
        nodata_tolerance: args.limits.nodata_tolerance,
    })
}

fn predict(args: &PredictArgs, store: &StoreOptions) -> Result {
    let plan = Plan::new(predict_options(args)?, store.clone());
    let Some(list) = &args.scenes else {
        let (Some(source), Some(dest)) = (&args.source, &args.dest) else {
            return Err("give SOURCE and DEST, or --scenes LIST".into());
        };
        let made = plan.predict(source, dest).map_err(usage_or)?;
        report(&made);
        announce(&made.outcome, dest)?;
        return Ok(());
    };
    let shard = match &args.shard {
        Some(spec) => spec.parse()?,
        None => eoforge_sampling::ShardSpec::from_env()?,
    };
    let mut on_event = |event: SceneEvent<'_>| match event {
        SceneEvent::Started { index, source, dest } => eprintln!("scene {}: {source} -> {dest}", index + 1),
        SceneEvent::Skipped { index, dest } => {
            eprintln!(
                "scene {}: already published with these options and a passing report, skipped: {dest}",
                index + 1
            );
        }
        SceneEvent::Made { made, .. } => report(made),
        SceneEvent::Failed { index, reason } => eprintln!("scene {}: failed: {reason}", index + 1),
    };
    let outcome = plan.predict_list(list, shard, &mut on_event).map_err(usage_or)?;
    eprintln!("shard {shard}: {} of the {} scenes in {list}", outcome.mine, outcome.scenes);
    eprintln!(
        "shard {shard}: {} published, {} skipped, {} failed",
        outcome.done,
        outcome.skipped,
        outcome.failed.len()
    );
    if outcome.failed.is_empty() { Ok(()) } else { Err(eoforge_predict::Error::Scenes(outcome.failed).into()) }
}

/// The engine's throughput and the QC verdicts of a product, on stderr.
fn report(made: &eoforge_predict::Made) {
    let engine = &made.engine;
    eprintln!(
        "{} windows in {:.2} s ({:.0} windows/s, {:.1} output MB/s); busy s: {}",
        engine.windows,
        engine.total_s,
        engine.windows_per_s,
        engine.output_mb_per_s,
        engine.busy_s.0.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ")
    );
    summarize(&made.outcome.report);
    for report in &made.outcome.derived_reports {
        eprint!("{}: ", report.path);
        summarize(report);
    }
}

/// What publishing did, or the failed check.
fn announce(outcome: &Outcome, dest: &str) -> Result {
    match outcome.published {
        Some(Published::Uploaded) => eprintln!("published: {dest}"),
        Some(Published::AlreadyThere) => eprintln!("already published (unchanged): {dest}"),
        None => outcome.gate()?,
    }
    Ok(())
}
