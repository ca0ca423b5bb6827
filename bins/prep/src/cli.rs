//! Command-line definitions; the doc comments are the `--help` text.

use clap::{Args, Parser, Subcommand};

/// Prepare Earth-observation data: inspect rasters and move data between local disk and object storage.
///
/// Locations are local paths, file:// URLs or s3://bucket/key URLs. S3 credentials come from the standard AWS
/// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, instance roles);
/// they are never taken on the command line.
#[derive(Debug, Parser)]
#[command(name = "eoforge-prep", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); EOFORGE_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// S3 settings shared by every subcommand.
    #[command(flatten)]
    pub s3: S3Args,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings for S3-compatible servers (MinIO, SeaweedFS, Ceph, …); AWS itself needs none of them.
#[derive(Debug, Args)]
#[command(next_help_heading = "S3 options")]
pub struct S3Args {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "EOFORGE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// Use virtual-hosted-style requests (bucket.host) even with a custom endpoint.
    #[arg(long, global = true)]
    pub s3_virtual_hosted: bool,

    /// Retries of a failed request before giving up.
    #[arg(long, global = true, default_value_t = 10, value_name = "N")]
    pub retries: usize,

    /// Seconds before one request times out.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a raster's metadata as JSON: size, bands, data types, nodata, geotransform, bounds, CRS (EPSG and
    /// WKT), block size, compression, overviews.
    ///
    /// Example: eoforge-prep info s3://bucket/scenes/T29RKH_B04.tif
    Info(InfoArgs),

    /// Copy an object, or with -r every object under a prefix, between any two locations.
    ///
    /// Uploads are atomic: the destination never shows a partial object. Large objects stream in parts.
    ///
    /// Examples:
    ///   eoforge-prep cp scene.tif s3://bucket/scenes/        (into a folder, keeps the name)
    ///   eoforge-prep cp s3://bucket/a.tif ./local-copy.tif
    ///   eoforge-prep cp -r ./patches s3://bucket/bigearthnet/patches
    Cp(CpArgs),
}

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Raster to describe: a path, file:// or s3:// URL.
    pub location: String,

    /// Also check the cloud-optimized layout (local files) and report violations.
    #[arg(long)]
    pub check_cog: bool,
}

/// Arguments of `cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Source object (or prefix with -r).
    pub source: String,

    /// Destination object, or folder (trailing / or an existing directory).
    pub destination: String,

    /// Copy every object under the source prefix, keeping relative keys.
    #[arg(short, long)]
    pub recursive: bool,

    /// Objects copied at once with -r.
    #[arg(short, long, default_value_t = 8, value_name = "N")]
    pub jobs: usize,
}
