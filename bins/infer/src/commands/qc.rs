//! `qc`: check a product, write its report, publish it when it passes.

use std::collections::BTreeMap;
use std::path::Path;

use eoforge_products::{Published, publish_file};
use eoforge_qc::run_qc;
use eoforge_storage::StoreOptions;

use super::{Result, runtime, summarize};
use crate::cli::QcArgs;

pub(super) fn qc(args: &QcArgs, options: &StoreOptions) -> Result {
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
    let report = run_qc(product, &args.limits.config(), &stages)?;
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
