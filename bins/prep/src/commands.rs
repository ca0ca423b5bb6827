//! One function per subcommand, each a call into the libraries.

use std::time::Duration;

use eoforge_raster::{Raster, check_cog};
use eoforge_storage::StoreOptions;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Cli, Command, CpArgs, InfoArgs, S3Args};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn run(cli: Cli) -> Result {
    let options = store_options(&cli.s3);
    match cli.command {
        Command::Info(args) => info(&args, &options),
        Command::Cp(args) => cp(&args, &options),
    }
}

fn store_options(args: &S3Args) -> StoreOptions {
    let mut o = StoreOptions::from_env();
    if let Some(endpoint) = &args.s3_endpoint {
        o.s3.endpoint = Some(endpoint.clone());
    }
    if let Some(region) = &args.s3_region {
        o.s3.region = Some(region.clone());
    }
    if args.s3_virtual_hosted {
        o.s3.virtual_hosted_style = Some(true);
    }
    o.retry.max_retries = args.retries;
    o.request_timeout = Duration::from_secs(args.timeout.max(1));
    o
}

fn info(args: &InfoArgs, options: &StoreOptions) -> Result {
    let raster = Raster::open_with(&args.location, options)?;
    let mut value = serde_json::to_value(raster.info()?)?;
    if args.check_cog {
        let path = std::path::Path::new(&args.location);
        if args.location.contains("://") {
            return Err("--check-cog needs a local file (copy the object first with `eoforge-prep cp`)".into());
        }
        value["cog"] = serde_json::to_value(check_cog(path)?)?;
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn cp(args: &CpArgs, options: &StoreOptions) -> Result {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes} copied ({binary_bytes_per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(eoforge_storage::copy(
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
