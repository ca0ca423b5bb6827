//! `cog`: stream a raster into a COG, check it against its source, publish it when it passes.

use std::path::{Path, PathBuf};

use eoforge_products::{Outcome, ProductSet, WorkDir};
use eoforge_profile::{Stages, peak_rss_mib};
use eoforge_qc::{QcConfig, SourceReference};
use eoforge_raster::{BigTiff, CogWriterOptions, DataType, Raster, translate_to_cog};
use eoforge_storage::StoreOptions;

use eoforge_cli::UsageError;
use eoforge_stac::StacItem;

use super::{Result, announce, runtime, summarize};
use crate::cli::CogArgs;

pub(super) fn cog(args: &CogArgs, options: &StoreOptions) -> Result {
    // Every source block is read once: GDAL's default cache (5 % of RAM) would only hold memory.
    eoforge_raster::set_gdal_cache_mib(128);
    let mut stages = Stages::default();
    // The pixels read, what the product records as its source, its time, and the destination.
    let (item, scene, dest) = match (&args.stac_item, &args.dest) {
        (Some(item), None) => {
            let item = StacItem::read(item, options)?;
            let scene = item.scene(&args.assets, options)?;
            (Some(item), Some(scene), args.source.clone())
        }
        (None, Some(dest)) => (None, None, dest.clone()),
        _ => return Err(UsageError("give SOURCE and DEST, or --stac-item ITEM --assets … DEST".into()).into()),
    };
    let pixels = scene.as_ref().map_or_else(|| args.source.clone(), |s| s.path.display().to_string());
    let source_name = item.as_ref().map_or_else(|| args.source.clone(), |i| i.location().to_owned());
    let datetime = item.as_ref().and_then(|i| i.datetime().map(str::to_owned));
    let source = stages.time("open", || Raster::open_with(&pixels, options))?;
    let qc_config = args.limits.config();
    let work = WorkDir::for_dest(&dest)?;
    let tmp: PathBuf = work.path().join("product.tif");
    let compression = crate::cli::compression(args.compress, args.level)?;
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
        .time("write", || pool.install(|| translate_to_cog(&pixels, options, &tmp, &cog_options)))
        .map_err(|e| at_dest(&e, work.path(), &dest))?;
    let qc_config = QcConfig {
        source: Some(SourceReference {
            location: source_name.clone(),
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
        source: source_name,
        product: tmp,
        dest: dest.clone(),
        derived: Vec::new(),
        options: recorded.as_object().cloned().unwrap_or_default(),
        force: args.force,
        datetime,
        collection: args.stac_collection.clone(),
        stac_api: args.stac_publish.clone(),
        preview_rgb: None,
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

fn rayon_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build()?)
}
