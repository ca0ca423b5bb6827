//! One function per subcommand, each a call into the libraries.

use std::time::Duration;

use eoforge_raster::{Raster, check_cog};
use eoforge_storage::StoreOptions;
use indicatif::{ProgressBar, ProgressStyle};

use eoforge_catalog::{Layout, PreflightOptions, read_catalog, scan_bigearthnet_v1, write_catalog};
use eoforge_storage::Store;

use crate::cli::{
    CatalogArgs, CheckArgs, Cli, Command, CpArgs, FormatArg, GenMetadataArgs, InfoArgs, LabelsArgs, LayoutArg,
    OnErrorArg, S3Args, ShardArgs, WindowsArgs,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result {
    let options = store_options(&cli.s3);
    match cli.command {
        Command::Info(args) => info(&args, &options),
        Command::Cp(args) => cp(&args, &options),
        Command::GenMetadata(args) => runtime()?.block_on(gen_metadata(&args, &options)),
        Command::Catalog(args) => catalog(&args, &options),
        Command::Labels(args) => labels(&args, &options),
        Command::Check(args) => runtime()?.block_on(check(&args, &options)),
        Command::Shard(args) => shard(&args, options),
        Command::Windows(args) => windows(&args, options),
    }
}

fn store_options(args: &S3Args) -> StoreOptions {
    args.store_options()
}

fn info(args: &InfoArgs, options: &StoreOptions) -> Result {
    let raster = Raster::open_with(&args.location, options)?;
    let info = raster.info()?;
    let mut value = serde_json::to_value(&info)?;
    // JSON has no NaN: a NaN nodata value is printed as the string GDAL uses, "nan", not as null.
    for (i, band) in info.bands.iter().enumerate() {
        if band.nodata.is_some_and(f64::is_nan) {
            value["bands"][i]["nodata"] = serde_json::Value::String("nan".into());
        }
    }
    if args.check_cog {
        let path = std::path::Path::new(&args.location);
        if args.location.contains("://") {
            return Err("--check-cog needs a local file (copy the object first with `eoforge-prep cp`)".into());
        }
        value["cog"] = serde_json::to_value(check_cog(path)?)?;
    }
    print_stdout(&serde_json::to_string_pretty(&value)?)
}

/// Prints a line on stdout; a closed pipe (`info x | head`) is the reader's choice, not an error.
fn print_stdout(text: &str) -> Result {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn cp(args: &CpArgs, options: &StoreOptions) -> Result {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes} copied ({binary_bytes_per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let summary = runtime()?.block_on(eoforge_storage::copy(
        &args.source,
        &args.destination,
        options,
        args.recursive,
        args.jobs,
        &|n| bar.inc(n),
    ));
    bar.finish_and_clear();
    let summary = summary?;
    tracing::info!(
        objects = summary.objects,
        bytes = summary.bytes,
        seconds = summary.elapsed.as_secs_f64(),
        "copy finished"
    );
    eprintln!(
        "copied {} object(s), {} bytes in {:.2} s ({:.1} MB/s)",
        summary.objects,
        summary.bytes,
        summary.elapsed.as_secs_f64(),
        summary.mb_per_s()
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn gen_metadata(args: &GenMetadataArgs, options: &StoreOptions) -> Result {
    let layout = match args.layout {
        LayoutArg::V1 => Layout::V1,
        LayoutArg::V2 => Layout::V2,
    };
    let (mut catalog, batches) = if let Some(meta) = &args.meta {
        read_catalog(meta, options).await?
    } else {
        let s2 = Store::open_with(args.scan_s2.as_deref().unwrap_or_default(), options)?;
        let s1 = args.scan_s1.as_deref().map(|u| Store::open_with(u, options)).transpose()?;
        let catalog = scan_bigearthnet_v1(&s2, s1.as_ref(), args.jobs).await?;
        let batch = catalog.to_batch()?;
        (catalog, vec![batch])
    };
    if let Some(root) = &args.s2_root {
        catalog.set_paths(root, args.s1_root.as_deref(), layout);
    }
    let with_s1 = catalog.records.iter().filter(|r| r.s1_name.is_some()).count();
    write_catalog(&args.out, &catalog.with_path_columns(&batches)?, options).await?;
    eprintln!("wrote {} patches ({with_s1} with Sentinel-1) to {}", catalog.records.len(), args.out);
    Ok(())
}

fn catalog(args: &CatalogArgs, options: &StoreOptions) -> Result {
    let mut entries = Vec::new();
    for (role, url) in &args.rasters {
        let raster = Raster::open_with(url, options)?;
        entries.push(eoforge_catalog::SceneEntry {
            scene_id: args.scene_id.clone(),
            role: role.clone(),
            url: url.clone(),
            width: raster.width() as u64,
            height: raster.height() as u64,
            bands: raster.band_count() as u64,
            dtype: raster.dtype(1)?.name().to_owned(),
            crs: raster.crs().map_or_else(|| "none".to_owned(), |c| c.label()),
        });
    }
    let batch = eoforge_catalog::scene_batch(&entries)?;
    runtime()?.block_on(write_catalog(&args.out, &[batch], options))?;
    print_stdout(&serde_json::to_string_pretty(&serde_json::json!({ "catalog": args.out, "rasters": entries }))?)
}

fn labels(args: &LabelsArgs, options: &StoreOptions) -> Result {
    let rule = eoforge_convert::IndexLabelRule {
        green: args.green as usize,
        red: args.red as usize,
        nir: args.nir as usize,
        water_ndwi: args.water_ndwi,
        vegetation_ndvi: args.vegetation_ndvi,
    };
    let report = eoforge_convert::derive_index_labels(&args.scene, &args.out, &rule, options)?;
    print_stdout(&serde_json::to_string_pretty(&report)?)
}

async fn check(args: &CheckArgs, options: &StoreOptions) -> Result {
    let (store, key) = Store::open_object(&args.meta, options)?;
    let batches = eoforge_catalog::read_parquet(store.get(&key).await?, &args.meta)?;
    let scenes = eoforge_catalog::is_scene_catalog(&batches);
    let report = if scenes {
        let entries = eoforge_catalog::scene_entries(&batches, &args.meta)?;
        eoforge_catalog::preflight_scenes(&entries, &args.meta, args.workers, options).await?
    } else {
        let catalog = eoforge_catalog::Catalog::from_batches(&batches, &args.meta)?;
        eoforge_catalog::preflight(
            &catalog,
            PreflightOptions { fraction: args.frac, seed: args.seed, workers: args.workers },
            options,
        )
        .await?
    };
    if let Some(out) = &args.out {
        let (store, key) = Store::open_object(out, options)?;
        store.put(&key, serde_json::to_vec_pretty(&report)?.into()).await?;
    }
    eprintln!(
        "checked {} objects of {} {} ({} of {}) in {:.2} s ({:.0} HEAD/s): {} missing",
        report.objects_checked,
        report.patches_checked,
        if scenes { "scenes" } else { "patches" },
        args.frac,
        report.patches_total,
        report.elapsed_s,
        report.heads_per_s,
        report.missing.len()
    );
    for m in report.missing.iter().take(20) {
        eprintln!("missing: {} ({} of {})", m.url, m.column, m.patch_id);
    }
    if report.missing.len() > 20 {
        eprintln!("… and {} more (see the report)", report.missing.len() - 20);
    }
    if report.ok() { Ok(()) } else { Err(format!("{} referenced object(s) missing", report.missing.len()).into()) }
}

fn shard(args: &ShardArgs, options: StoreOptions) -> Result {
    let shard = match &args.shard {
        Some(spec) => spec.parse()?,
        None => eoforge_sampling::ShardSpec::from_env()?,
    };
    let t = std::time::Instant::now();
    let (catalog, _) = runtime()?.block_on(read_catalog(&args.meta, &options))?;
    let convert_options = eoforge_convert::ConvertOptions {
        out: args.out.clone(),
        formats: eoforge_convert::Formats {
            webdataset: args.format.contains(&FormatArg::Webdataset),
            parquet: args.format.contains(&FormatArg::Parquet),
        },
        fraction: args.frac,
        seed: args.seed,
        ratios: args.split_ratios.parse().map_err(|e| eoforge_cli::UsageError(format!("--split-ratios: {e}")))?,
        target_shard_mb: args.target_shard_mb,
        shard,
        retry_skipped: args.retry_skipped,
        on_error: match args.on_error {
            OnErrorArg::Skip => eoforge_convert::OnError::Skip,
            OnErrorArg::Fail => eoforge_convert::OnError::Fail,
        },
        with_s1: args.with_s1,
        with_mask: false,
        threads: args.threads,
        requests_in_flight: args.requests_in_flight as usize,
        store: options,
        catalog_load_s: t.elapsed().as_secs_f64(),
        stop: Some(eoforge_cli::stop_flag().map_err(|e| format!("cannot watch the stop signals: {e}"))?),
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} patches ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let profile = eoforge_convert::convert(&catalog, &convert_options, &|| bar.inc(1));
    bar.finish_and_clear();
    let profile = profile?;
    eprintln!(
        "shard {}: {} patches converted in {:.2} s ({:.1} patches/s, {:.1} MB/s), {} skipped, peak RSS {:.0} MiB{}",
        profile.shard,
        profile.patches_converted,
        profile.stages.get("convert"),
        profile.patches_per_s,
        profile.mb_per_s,
        profile.skipped.len(),
        profile.peak_rss_mib,
        if profile.complete { "; all shards done, index.json and stats.json written" } else { "" }
    );
    for s in profile.skipped.iter().take(20) {
        eprintln!("skipped: {}: {}", s.patch_id, s.reason);
    }
    eoforge_cli::report_work(profile.patches_converted as f64, "patches");
    if profile.stopped {
        return Err(eoforge_cli::Stopped(format!(
            "shard {}: finished shards are recorded under {}/_manifest; run the same command to continue",
            profile.shard, args.out
        ))
        .into());
    }
    Ok(())
}

fn windows(args: &WindowsArgs, options: StoreOptions) -> Result {
    let size = args.size as usize;
    let usage = |flag: &str, e: String| eoforge_cli::UsageError(format!("{flag}: {e}"));
    let frames = match &args.time_stack {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("--time-stack {}: {e}", path.display()))?;
            let dates = eoforge_convert::Date::parse_list(&text)
                .map_err(|e| format!("--time-stack {}: {e}", path.display()))?;
            eoforge_convert::Frame::of_stack(
                args.scene.as_deref().unwrap_or_default(),
                &dates,
                &args.frames,
                args.channels_per_date,
            )
            .map_err(|e| usage("--frames", e))?
        }
        None => args
            .frame
            .iter()
            .map(|spec| eoforge_convert::Frame::from_spec(spec, args.bands.clone().unwrap_or_default()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| usage("--frame", e))?,
    };
    let window_options = eoforge_convert::WindowOptions {
        out: args.out.clone(),
        size,
        stride: args.stride.map_or(size, |s| s as usize),
        bands: args.bands.clone(),
        ratios: args.split_ratios.parse().map_err(|e| eoforge_cli::UsageError(format!("--split-ratios: {e}")))?,
        block: args.block as usize,
        seed: args.seed,
        samples_per_shard: args.samples_per_shard as usize,
        formats: eoforge_convert::Formats {
            webdataset: args.format.contains(&FormatArg::Webdataset),
            parquet: args.format.contains(&FormatArg::Parquet),
        },
        ignore: args.ignore,
        max_ignored: args.max_ignored,
        store: options,
        target: args.target.clone(),
        frames,
        dequantize: args.dequantize,
        store_dtype: args.store_dtype,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} windows ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    if let Some(catalog) = &args.catalog {
        let list = eoforge_convert::SceneList::read(catalog, &window_options.store)?;
        if args.merge {
            bar.finish_and_clear();
            eoforge_convert::merge_window_set(&list, &window_options)?;
            eprintln!("{} scenes merged: {}/index.json and stats.json written", list.scenes.len(), args.out);
            return Ok(());
        }
        let part = match &args.shard {
            Some(spec) => spec.parse().map_err(|e| eoforge_cli::UsageError(format!("--shard: {e}")))?,
            None => eoforge_sampling::ShardSpec::from_env()?,
        };
        let stop = eoforge_cli::stop_flag().map_err(|e| format!("cannot watch the stop signals: {e}"))?;
        let report = eoforge_convert::cut_window_set(&list, &window_options, part, Some(&stop), &|| bar.inc(1));
        bar.finish_and_clear();
        let report = report?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        eoforge_cli::report_work(report.windows.windows as f64, "windows");
        if report.stopped {
            return Err(eoforge_cli::Stopped(format!(
                "part {}: finished scenes are recorded under {}/_manifest; run the same command to continue",
                report.part, args.out
            ))
            .into());
        }
        return Ok(());
    }
    let scene = args.scene.as_deref().unwrap_or_default();
    let report = eoforge_convert::convert_windows(scene, args.labels.as_deref(), &window_options, &|| bar.inc(1));
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
