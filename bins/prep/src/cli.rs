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

pub(crate) use eoforge_cli::S3Args;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a raster's metadata as JSON: size, bands, data types, nodata, geotransform, bounds, CRS (EPSG and
    /// WKT), block size, compression, overviews.
    ///
    /// Example: eoforge-prep info s3://bucket/scenes/T29RKH_B04.tif
    Info(InfoArgs),

    /// Copy an object, or with -r every object under a prefix, between any two locations
    ///
    /// Uploads are atomic: the destination never shows a partial object. Large objects stream
    /// in parts.
    ///
    /// Examples:
    ///   eoforge-prep cp scene.tif s3://bucket/scenes/      (into a folder, keeps the name)
    ///   eoforge-prep cp s3://bucket/a.tif ./local-copy.tif
    ///   eoforge-prep cp -r ./patches s3://bucket/bigearthnet/patches
    #[command(verbatim_doc_comment)]
    Cp(CpArgs),

    /// Write a catalog (Parquet) with the storage URL of every band file
    ///
    /// Adds columns s2_B01 … s2_B12 (and s1_VV, s1_VH for patches with an s1_name) and keeps
    /// every input column.
    ///
    /// From a BigEarthNet v2 metadata.parquet:
    ///   eoforge-prep gen-metadata --meta s3://data/bigearthnet/metadata.parquet \
    ///     --s2-root s3://data/bigearthnet/BigEarthNet-S2 \
    ///     --s1-root s3://data/bigearthnet/BigEarthNet-S1 \
    ///     --out s3://me/project/metadata_with_paths.parquet
    ///
    /// From a BigEarthNet v1 folder tree (labels read from each patch's JSON):
    ///   eoforge-prep gen-metadata --scan-s2 ./BigEarthNet-v1.0 \
    ///     --scan-s1 ./BigEarthNet-S1-v1.0 --out meta.parquet
    #[command(verbatim_doc_comment)]
    GenMetadata(GenMetadataArgs),

    /// Catalog the rasters of a scene job: one Parquet row per raster with its role and shape
    ///
    /// Each ROLE=URL names a raster (the image, its label raster, …); it is opened (only its
    /// header is read, also from S3) and its size, bands, type and CRS recorded. `check --meta`
    /// then verifies every object exists.
    ///
    /// Example:
    ///   eoforge-prep catalog --scene-id olinda --out s3://me/demo/catalog.parquet \
    ///     image=s3://me/demo/raw/L7_ETMs.tif labels=s3://me/demo/raw/labels.tif
    #[command(verbatim_doc_comment)]
    Catalog(CatalogArgs),

    /// Derive a label raster from a scene's spectral indices (when no reference labels exist)
    ///
    /// Water where NDWI = (green - NIR) / (green + NIR) > --water-ndwi, else vegetation where
    /// NDVI = (NIR - red) / (NIR + red) > --vegetation-ndvi, else other; 0 (nodata) where a band
    /// is nodata. Written as a UInt8 COG on the scene's grid with a colour table, CLASS_NAMES and
    /// the rule in its metadata (LABEL_SOURCE): these are derived labels, not surveyed ones.
    ///
    /// Example:
    ///   eoforge-prep labels --scene L7_ETMs.tif --green 2 --red 3 --nir 4 --out labels.tif
    #[command(verbatim_doc_comment)]
    Labels(LabelsArgs),

    /// Check that every file a catalog references exists, and report every missing one
    ///
    /// HEAD requests run in parallel; the JSON report lists each missing object with its patch
    /// (or scene) and column (or role). Exits 1 if anything is missing. Reads BigEarthNet
    /// catalogs (gen-metadata) and scene catalogs (catalog).
    ///
    /// Example:
    ///   eoforge-prep check --meta s3://me/project/metadata_with_paths.parquet \
    ///     --frac 0.01 --workers 64 --out s3://me/project/validation.json
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),

    /// Convert catalog patches into training shards (WebDataset tar and/or Parquet)
    ///
    /// Each patch's 12 Sentinel-2 bands are resampled onto the 10 m grid (bilinear for 20/60 m)
    /// and stacked as uint16 (12, 120, 120) in the order B01 B02 B03 B04 B05 B06 B07 B08 B8A B09
    /// B11 B12; labels become a 19-class multi-hot vector. Shards are named {split}-{index:06}
    /// under <out>/{split}/. Rerunning resumes: finished shards (listed in <out>/_manifest/) are
    /// kept. With --shard i/n (default from SLURM_ARRAY_TASK_ID/COUNT) each worker writes its own
    /// shards; once all are done, index.json and stats.json (training-split channel statistics)
    /// are written. profile/conversion-<i>-of-<n>.json has timings, throughput and peak memory.
    ///
    /// Example:
    ///   eoforge-prep shard --meta s3://me/project/metadata_with_paths.parquet \
    ///     --out s3://me/project/shards/frac_0.01 --frac 0.01 --target-shard-mb 50
    #[command(verbatim_doc_comment)]
    Shard(ShardArgs),

    /// Cut a scene (or many: --catalog) and its label (or regression target) raster into shards
    ///
    /// Windows of --size pixels every --stride pixels become samples with an `image` tensor
    /// (bands, size, size) and a `mask` tensor (size, size) of class values (with --target: a
    /// float32 `target` tensor of values). With --frame or --time-stack the image is
    /// (bands, frames, size, size) and each window records its frames' dates and its location. The label raster
    /// (one band of UInt8/UInt16 classes, same CRS, covering the scene) is read onto the scene's
    /// grid with nearest-neighbour resampling. Windows with scene nodata are skipped, and so are
    /// windows whose labels are more than --max-ignored the --ignore value (default: the label
    /// raster's nodata). Splits are drawn per block of --block x --block windows, so neighbouring
    /// windows stay in one split. index.json lists the classes with names and colours (from the
    /// label raster's category names and colour table); stats.json the training split's channel
    /// statistics.
    ///
    /// Example (Sentinel-2 bands stacked in a VRT, the scene classification as labels):
    ///   gdalbuildvrt -separate stack.vrt B02.tif B03.tif B04.tif B08.tif
    ///   eoforge-prep windows --scene stack.vrt --labels SCL.tif --ignore 0 \
    ///     --size 64 --out s3://me/project/scl-windows
    ///
    /// Example (four dates of an NDVI time stack, land use as labels):
    ///   eoforge-prep windows --scene ndvi.tif --time-stack ndvi.timestamps.json --frames 17,21,25,29 \
    ///     --labels lulc.tif --size 16 --out ndvi-4dates
    ///
    /// Example (many embedding tiles, each `tile.tif cdl.tif` on a line of scenes.txt, CDL warped onto each tile;
    /// as part 3 of 12, then the index once all parts are done; a rerun resumes, SIGTERM exits 75):
    ///   eoforge-prep windows --catalog scenes.txt --size 128 --ignore 0 --out s3://me/aef --shard 3/12
    ///   eoforge-prep windows --catalog scenes.txt --size 128 --ignore 0 --out s3://me/aef --merge
    #[command(verbatim_doc_comment)]
    Windows(WindowsArgs),
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

/// Arguments of `gen-metadata`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["meta", "scan_s2"])))]
pub struct GenMetadataArgs {
    /// Input catalog (BigEarthNet v2 metadata.parquet): patch_id, labels, split, country, s1_name, …
    #[arg(long, value_name = "URL")]
    pub meta: Option<String>,

    /// Build the catalog by scanning a BigEarthNet v1 Sentinel-2 folder tree instead.
    #[arg(long, value_name = "URL", conflicts_with = "meta")]
    pub scan_s2: Option<String>,

    /// With --scan-s2: the matching Sentinel-1 folder tree (patches joined on corresponding_s2_patch).
    #[arg(long, value_name = "URL", requires = "scan_s2")]
    pub scan_s1: Option<String>,

    /// Root of the Sentinel-2 patch folders the paths point to (required with --meta; with --scan-s2 the
    /// scanned locations are used unless this is given).
    #[arg(long, value_name = "URL", required_unless_present = "scan_s2")]
    pub s2_root: Option<String>,

    /// Root of the Sentinel-1 patch folders (paths for patches with an s1_name).
    #[arg(long, value_name = "URL")]
    pub s1_root: Option<String>,

    /// Folder layout under the roots: v2 = <root>/<tile>/<patch>/, v1 = <root>/<patch>/.
    #[arg(long, value_enum, default_value = "v2")]
    pub layout: LayoutArg,

    /// Output Parquet catalog (written atomically).
    #[arg(long, value_name = "URL")]
    pub out: String,

    /// Concurrent requests while scanning.
    #[arg(short, long, default_value_t = 32, value_name = "N")]
    pub jobs: usize,
}

/// Folder layouts of BigEarthNet releases.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LayoutArg {
    /// <root>/<patch>/<patch>_B04.tif (BigEarthNet v1).
    V1,
    /// <root>/<tile>/<patch>/<patch>_B04.tif (BigEarthNet v2).
    V2,
}

/// Arguments of `catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// The rasters, as ROLE=URL (`image=scene.tif labels=s3://b/labels.tif`).
    #[arg(required = true, value_name = "ROLE=URL", value_parser = parse_role)]
    pub rasters: Vec<(String, String)>,

    /// The scene's id in the catalog.
    #[arg(long, default_value = "scene")]
    pub scene_id: String,

    /// Where to write the Parquet catalog (path or URL).
    #[arg(long, value_name = "URL")]
    pub out: String,
}

/// `ROLE=URL`.
fn parse_role(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((role, url)) if !role.is_empty() && !url.is_empty() && !role.contains('/') => {
            Ok((role.to_owned(), url.to_owned()))
        }
        _ => Err(format!("`{s}` is not ROLE=URL (e.g. image=scene.tif)")),
    }
}

/// Arguments of `labels`.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// The scene (path or URL).
    #[arg(long, value_name = "URL")]
    pub scene: String,

    /// Where to write the label raster (path or URL).
    #[arg(long, value_name = "URL")]
    pub out: String,

    /// Green band (1-based).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub green: u32,

    /// Red band (1-based).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub red: u32,

    /// Near-infrared band (1-based).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub nir: u32,

    /// Water where NDWI exceeds this.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub water_ndwi: f32,

    /// Vegetation where NDVI exceeds this (and NDWI does not exceed --water-ndwi).
    #[arg(long, default_value_t = 0.2, allow_hyphen_values = true)]
    pub vegetation_ndvi: f32,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Catalog with storage paths (from gen-metadata).
    #[arg(long, value_name = "URL")]
    pub meta: String,

    /// Fraction of patches to check, chosen by a hash of the patch id (the same ids for the same seed).
    #[arg(long, default_value_t = 1.0, value_name = "F", value_parser = parse_fraction)]
    pub frac: f64,

    /// Seed of the fraction sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Concurrent HEAD requests (`--workers` is an older name for it).
    #[arg(short = 'j', long = "jobs", visible_alias = "workers", default_value_t = 64, value_name = "N")]
    pub workers: usize,

    /// Where to write the JSON report (path or URL); it is also summarised on stderr.
    #[arg(long, value_name = "URL")]
    pub out: Option<String>,
}

/// A fraction in (0, 1].
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("`{s}` is not a fraction in (0, 1]")),
    }
}

/// Arguments of `shard`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Catalog with storage paths (from gen-metadata).
    #[arg(long, value_name = "URL")]
    pub meta: String,

    /// Output root (path or URL).
    #[arg(long, value_name = "URL")]
    pub out: String,

    /// Shard formats, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "webdataset,parquet")]
    pub format: Vec<FormatArg>,

    /// Fraction of patches to convert, chosen by a hash of the patch id and --seed.
    #[arg(long, default_value_t = 1.0, value_name = "F", value_parser = parse_fraction)]
    pub frac: f64,

    /// Seed for sampling, ratio splits and shard order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Train,validation,test proportions for patches without a split in the catalog.
    #[arg(long, default_value = "0.7,0.15,0.15", value_name = "T,V,E")]
    pub split_ratios: String,

    /// Target shard size in MB of tensor data.
    #[arg(long, default_value_t = 50.0, value_name = "MB")]
    pub target_shard_mb: f64,

    /// This worker's part of the job, i/n (default: from SLURM array variables, else 0/1).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// What to do with a patch that cannot be read: skip (listed in the manifest and profile) or fail.
    #[arg(long, value_enum, default_value = "skip")]
    pub on_error: OnErrorArg,

    /// Convert again the shards whose earlier run skipped patches (after repairing them); finished shards
    /// without skipped patches are kept.
    #[arg(long)]
    pub retry_skipped: bool,

    /// Add Sentinel-1 VV/VH (float32, 2x120x120) as an `s1` tensor.
    #[arg(long)]
    pub with_s1: bool,

    /// Threads decoding patches (0 = all cores; `--threads` is an older name for it).
    #[arg(short = 'j', long = "jobs", visible_alias = "threads", default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Requests in flight when the patches are on object storage (every file of a patch is fetched at once).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_in_flight: u32,
}

/// Arguments of `windows`.
#[derive(Debug, Args)]
pub struct WindowsArgs {
    /// The scene: any raster GDAL reads (a multi-band GeoTIFF, a VRT of band files), or a TESSERA tile
    /// (`grid_X_Y.npy` beside its `_scales.npy` and landmask `.tiff`), path or URL.
    #[arg(long, value_name = "URL", required_unless_present = "catalog", conflicts_with = "catalog")]
    pub scene: Option<String>,

    /// The label raster: one band of class values (any values: they become the set's class table) in any CRS
    /// and resolution covering the scene, read onto the scene's grid (nearest neighbour; warped when its CRS
    /// differs). Without it the set holds images only (super-resolution).
    #[arg(long, value_name = "URL", conflicts_with = "catalog")]
    pub labels: Option<String>,

    /// Many scenes into one set: a scene catalog (Parquet rows scene_id, role image|labels|target, url) or a text
    /// list of `SCENE [LABELS]` lines. Each scene keeps its own CRS and grid; one class table and one stats.json
    /// cover them all.
    #[arg(long, value_name = "URL", conflicts_with_all = ["frame", "time_stack", "target"])]
    pub catalog: Option<String>,

    /// This part of a --catalog set, i/n (default: SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, else 0/1).
    /// Finished scenes are recorded under <out>/_manifest and skipped on rerun; the last part to finish writes
    /// index.json and stats.json.
    #[arg(long, value_name = "I/N", requires = "catalog", conflicts_with = "merge")]
    pub shard: Option<String>,

    /// Write the --catalog set's index.json and stats.json from its finished parts (an error names the scenes
    /// not cut yet).
    #[arg(long, requires = "catalog")]
    pub merge: bool,

    /// Output root (path or URL).
    #[arg(long, value_name = "URL")]
    pub out: String,

    /// Window side in pixels.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub size: u32,

    /// Step between windows in pixels (default: --size, no overlap).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stride: Option<u32>,

    /// Scene bands to keep, 1-based and comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "B,B,...")]
    pub bands: Option<Vec<usize>>,

    /// Label value meaning "no label" (default: the label raster's nodata).
    #[arg(long, value_name = "VALUE")]
    pub ignore: Option<u16>,

    /// Skip windows with a larger share of unlabelled pixels.
    #[arg(long, default_value_t = 0.5, value_name = "F", value_parser = parse_fraction)]
    pub max_ignored: f64,

    /// Train, validation and test shares, drawn per block of windows.
    #[arg(long, default_value = "0.8,0.2,0", value_name = "T,V,E")]
    pub split_ratios: String,

    /// Windows per side of a split block.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub block: u32,

    /// Seed of the block splits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Windows per shard.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub samples_per_shard: u32,

    /// Shard formats, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "webdataset")]
    pub format: Vec<FormatArg>,

    /// A regression target raster instead of --labels: one band in the scene's CRS (its nodata left out); each
    /// window gets a float32 `target` tensor.
    #[arg(long, value_name = "URL", conflicts_with = "labels")]
    pub target: Option<String>,

    /// A frame of a multi-temporal set: a scene co-registered with --scene and its date, PATH@YYYY-MM-DD (or a
    /// name holding YYYYMMDD); repeat in date order. Each frame keeps --bands.
    #[arg(long, value_name = "URL@DATE", conflicts_with = "time_stack")]
    pub frame: Vec<String>,

    /// --scene is a time stack whose bands are dates (date-major, --channels-per-date bands each), dated by this
    /// file (a JSON list of dates, or one per line); --frames picks the dates.
    #[arg(long, value_name = "FILE")]
    pub time_stack: Option<std::path::PathBuf>,

    /// De-quantise an embedding product's stored values: `aef` (AlphaEarth Foundations: signed bytes v to
    /// sign(v)·(|v|/127.5)², in [−1, 1]); its nodata (−128) stays nodata.
    #[arg(long, value_name = "PRODUCT")]
    pub dequantize: Option<eoforge_convert::Dequantize>,

    /// Store windows as `float16` (half the bytes of float32) or `int8` (a quarter: a signed-byte scene's own
    /// values, without --dequantize); default: UInt16 for 8/16-bit unsigned scenes, else float32.
    #[arg(long, value_name = "TYPE")]
    pub store_dtype: Option<eoforge_convert::StoreDtype>,

    /// Dates of the time stack to use as frames, 1-based and comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "N,N,...", requires = "time_stack")]
    pub frames: Vec<usize>,

    /// Bands per date in the time stack.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "time_stack")]
    pub channels_per_date: usize,
}

/// Shard formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// WebDataset tar with .npy members.
    Webdataset,
    /// Parquet with binary tensor columns.
    Parquet,
}

/// Bad-patch policies.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OnErrorArg {
    /// Leave the patch out and report it.
    Skip,
    /// Stop with an error naming the patch.
    Fail,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
