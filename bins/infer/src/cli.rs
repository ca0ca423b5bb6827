//! Command-line definitions; the doc comments are the `--help` text.

use clap::{Args, Parser, Subcommand};
use eoforge_engine::{BandRoles, Blend, Derivative};
use eoforge_predict::{LonLatBox, ModelSource, NormalizeSpec, OutputKind};
use eoforge_raster::{Codec, DataType, OverviewResampling};

/// Make and check map products: cloud-optimized GeoTIFFs that are published only when they pass QC.
///
/// Locations are local paths, file:// or s3:// URLs; S3 credentials come from the standard AWS
/// environment, S3-compatible endpoints from --s3-endpoint or EOFORGE_S3_ENDPOINT.
#[derive(Debug, Parser)]
#[command(name = "eoforge-infer", version, max_term_width = 100)]
pub struct Cli {
    /// More log output on stderr; EOFORGE_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// S3 settings, as in every eoforge binary.
    #[command(flatten)]
    pub s3: eoforge_cli::S3Args,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a product and write a JSON QC report; with --publish, upload it only if every check passes
    ///
    /// Checks: band count and dtype (if given), tiling, overview levels, compression, COG layout,
    /// and per band: not all zero, nodata fraction, mean range (if given), std > 0, entropy > 0;
    /// stage timings from --profile against --stage-limit. Exits 1 if any check fails.
    ///
    /// Example:
    ///   eoforge-infer qc S2x10_T33LWF.tif --bands 5 --dtype int16 --publish s3://maps/T33LWF.tif
    #[command(verbatim_doc_comment)]
    Qc(QcArgs),

    /// Convert a raster to a COG, check it, and publish it to DEST only if it passes QC
    ///
    /// The COG is written beside DEST (local) or in a temporary folder (S3), validated, checked
    /// and then moved or uploaded atomically; a failed check leaves nothing at DEST. The QC report
    /// goes to DEST.qc.json and timings, throughput and peak memory to DEST.profile.json.
    ///
    /// Example:
    ///   eoforge-infer cog scene.tif s3://maps/scene.tif --compress zstd --level 9
    #[command(verbatim_doc_comment)]
    Cog(CogArgs),

    /// Run a model over a scene in overlapping windows, check the product and publish it if it passes
    ///
    /// Windows (with a halo) are read, batched, run through the model, blended (Hann or centre)
    /// and streamed into a COG; the output grid is the input's with pixels --scale times smaller.
    /// Built-in reference models: `identity` (1x) and `upsample` (nearest, --scale x), for
    /// checking a deployment end to end and measuring throughput; trained burn models plug into
    /// the same engine. Timings per stage go to DEST.profile.json, the QC report to DEST.qc.json.
    ///
    /// Example:
    ///   eoforge-infer predict T33LWF.tif s3://maps/T33LWF_x10.tif --model upsample --scale 10 \
    ///     --aoi 14.2,45.9,14.4,46.1 --out-dtype int16 --derivatives ndvi,rgb
    ///
    /// Many scenes (one `SOURCE DEST` per line), split over a SLURM array (SLURM_ARRAY_TASK_ID/COUNT
    /// pick the part when --shard is not given); a rerun skips scenes already published:
    ///   eoforge-infer predict --scenes scenes.txt --shard 3/16 --model identity
    #[command(verbatim_doc_comment)]
    Predict(Box<PredictArgs>),

    /// Serve imagery requests from a queue in PostgreSQL, or add, list and retry requests
    ///
    /// Each worker claims one request at a time (SELECT … FOR UPDATE SKIP LOCKED, so workers on
    /// several nodes never share one) under a lease it renews; a dead worker's request goes back
    /// to the queue when its lease ends. A request runs STAC search (the least cloudy Item of its
    /// days over its area) → predict over the area → derived maps → QC → publish under
    /// --store/<id>/ → STAC Item → the row marked published, in that order; a QC failure marks it
    /// rejected with the report; other failures are retried after --retry-delay, then marked
    /// failed after --max-attempts. SIGTERM finishes the current request, then stops (exit 0).
    /// The table and commands: docs/service.md.
    ///
    /// Examples:
    ///   eoforge-infer serve --queue postgres://eo@db/eo --init-db
    ///   eoforge-infer serve submit --queue postgres://eo@db/eo --aoi 14.2,45.9,14.4,46.1 \
    ///     --date 2023-06-01/2023-06-30 --derivatives ndvi,rgb
    ///   eoforge-infer serve --queue postgres://eo@db/eo --store s3://maps/requests \
    ///     --stac-api https://earth-search.aws.element84.com/v1 --model sr.onnx --once
    ///   eoforge-infer serve list --queue postgres://eo@db/eo --status failed
    #[command(verbatim_doc_comment)]
    Serve(Box<ServeArgs>),
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ServeArgs {
    /// Add, list or retry requests instead of serving them.
    #[command(subcommand)]
    pub action: Option<ServeAction>,

    /// The queue's PostgreSQL database, postgres://USER:PASSWORD@HOST:PORT/DB (libpq parameters such as
    /// sslmode understood); EOFORGE_QUEUE keeps the password off the command line. Never printed with its
    /// password.
    #[arg(long, global = true, env = "EOFORGE_QUEUE", hide_env_values = true, value_name = "postgres://…")]
    pub queue: Option<String>,

    /// Create the queue's tables (or migrate them to this version), then exit. Safe to run again.
    #[arg(long)]
    pub init_db: bool,

    /// Where products go: STORE/<request id>/<scene id>.tif with its derived maps, STAC Item and QC report (a
    /// folder or an s3:// prefix).
    #[arg(long, value_name = "DIR|URL", required_unless_present = "init_db")]
    pub store: Option<String>,

    /// The STAC API scenes are searched in (root URL).
    #[arg(long, value_name = "URL", required_unless_present = "init_db")]
    pub stac_api: Option<String>,

    /// The collection searched.
    #[arg(long, value_name = "ID", default_value = "sentinel-2-l2a")]
    pub collection: String,

    /// The Item's assets stacked as the scene's bands, by key or band (common) name.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', default_value = "blue,green,red,nir")]
    pub assets: Vec<String>,

    /// The largest cloud cover of a scene, percent.
    #[arg(long, value_name = "PERCENT")]
    pub max_cloud: Option<f64>,

    /// Process what can be claimed now, then exit (a SLURM job or a cron entry) instead of waiting for more.
    #[arg(long)]
    pub once: bool,

    /// Seconds a claim holds without renewal (renewed every third of it while the request runs): after a
    /// worker dies, its request is taken over this long after its last renewal.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS", value_parser = seconds)]
    pub lease: f64,

    /// Attempts before a failing request (or one whose workers keep dying) is marked failed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub max_attempts: i32,

    /// Seconds a failed attempt's request waits before it is tried again.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS", value_parser = seconds)]
    pub retry_delay: f64,

    /// Seconds an idle worker waits before it looks for requests again.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = seconds)]
    pub poll: f64,

    /// This worker's name in the table (default: HOST:PID).
    #[arg(long, value_name = "NAME")]
    pub worker: Option<String>,

    /// The model's name: requests for this model (`serve submit --model`) or for none are taken (default:
    /// identity, upsample, or the run folder's or ONNX file's name).
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,

    /// The model and how its products are made, checked and announced (one message per request).
    #[command(flatten)]
    pub make: MakeArgs,
}

/// What `serve` does besides serving.
#[derive(Debug, Subcommand)]
pub enum ServeAction {
    /// Add a request to the queue; prints its id
    Submit(SubmitArgs),
    /// List the requests (one line each, or JSON)
    List(ListArgs),
    /// Put a published, rejected or failed request back in the queue with its attempts reset
    Retry(RetryArgs),
}

/// Arguments of `serve submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The area: MINLON,MINLAT,MAXLON,MAXLAT, a GeoJSON file (geometry, Feature or FeatureCollection) or inline
    /// GeoJSON, in WGS 84; the product covers its bounding box.
    #[arg(long, value_name = "BOX|FILE|JSON", allow_hyphen_values = true)]
    pub aoi: eoforge_service::Aoi,

    /// The day, YYYY-MM-DD, or days FIRST/LAST: the least cloudy scene of them is used.
    #[arg(long, value_name = "DAY|FIRST/LAST")]
    pub date: eoforge_service::DateRange,

    /// Only a service with this --model-name takes it (default: any).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Maps derived from the product (ndvi, evi, rgb, nir); default: the service's --derivatives.
    #[arg(long, value_delimiter = ',', value_name = "MAP,…")]
    pub derivatives: Option<Vec<Derivative>>,

    /// Higher first; equal priorities in order of submission.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub priority: i32,
}

/// Arguments of `serve list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this state: pending, running, published, rejected or failed.
    #[arg(long)]
    pub status: Option<eoforge_service::Status>,

    /// One JSON array with every field (products, QC report, error) instead of one line each.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `serve retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The request.
    pub id: i64,
}

/// QC limits shared by `qc` and `cog`.
#[derive(Debug, Args)]
#[command(next_help_heading = "QC limits")]
pub struct QcLimits {
    /// Expected number of bands.
    #[arg(long, value_name = "N")]
    pub bands: Option<usize>,

    /// Expected data type (uint8, uint16, int16, uint32, int32, float32, float64).
    #[arg(long, value_name = "TYPE")]
    pub dtype: Option<DataType>,

    /// Minimum overview levels (default: up to 4, as many as needed to reach one 512 px tile).
    #[arg(long, value_name = "N")]
    pub min_overviews: Option<usize>,

    /// Largest allowed share of nodata pixels per band when the source's share is unknown (`qc` of a
    /// file alone); `cog` and `predict` judge the product against their source's share instead.
    #[arg(long, default_value_t = 0.5, value_name = "F", value_parser = fraction)]
    pub max_nodata_fraction: f64,

    /// How much more nodata than its source a product may have (a share, 0 to 1).
    #[arg(long, default_value_t = 0.01, value_name = "F", value_parser = fraction)]
    pub nodata_tolerance: f64,

    /// Allowed range of every band's mean, e.g. 0,10000.
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true)]
    pub mean_range: Option<Pair>,

    /// Do not require the cloud-optimized layout.
    #[arg(long)]
    pub no_cog: bool,

    /// Stage time limit: BASE seconds plus PER_MPX seconds per megapixel of the product.
    #[arg(long, value_name = "BASE,PER_MPX")]
    pub stage_limit: Option<Pair>,
}

/// Arguments of `qc`.
#[derive(Debug, Args)]
pub struct QcArgs {
    /// The product (local file).
    pub product: String,

    /// Where to write the JSON report (default: PRODUCT.qc.json).
    #[arg(long, value_name = "PATH")]
    pub report: Option<String>,

    /// A profile.json whose "stages" map is checked against --stage-limit.
    #[arg(long, value_name = "PATH")]
    pub profile: Option<String>,

    /// Publish the product here (path or URL) if it passes.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,

    /// Publish even if DEST already holds a product that passed.
    #[arg(long)]
    pub force: bool,

    /// The limits.
    #[command(flatten)]
    pub limits: QcLimits,
}

/// Arguments of `cog`.
#[derive(Debug, Args)]
pub struct CogArgs {
    /// Source raster (path or URL), then DEST; with --stac-item, DEST alone.
    pub source: String,

    /// Destination (path or URL).
    #[arg(required_unless_present = "stac_item")]
    pub dest: Option<String>,

    /// A STAC Item (path, file:// or s3:// URL) as the source: its --assets stacked in that order (as `predict
    /// --stac-item` does); the COG's STAC Item links the Item and takes its datetime. Give DEST alone.
    #[arg(long, value_name = "ITEM.json", requires = "assets")]
    pub stac_item: Option<String>,

    /// With --stac-item: the assets, by key or band (common) name, e.g. blue,green,red,nir.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', requires = "stac_item")]
    pub assets: Vec<String>,

    /// Codec: lzw, deflate or zstd.
    #[arg(long, default_value = "lzw", value_name = "CODEC")]
    pub compress: Codec,

    /// DEFLATE (1-9) or ZSTD (1-22) level.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=22))]
    pub level: u8,

    /// Tile size in pixels.
    #[arg(long, default_value_t = 512)]
    pub blocksize: usize,

    /// Overview resampling: auto (nearest for one UInt8 band, i.e. classes or masks; average otherwise),
    /// average (nodata-aware mean of 2x2) or nearest.
    #[arg(long, default_value = "auto", value_name = "auto|average|nearest")]
    pub resampling: OverviewResampling,

    /// Compression threads (default: all cores; `--threads` is an older name for it).
    #[arg(short = 'j', long = "jobs", visible_alias = "threads", value_name = "N")]
    pub threads: Option<usize>,

    /// Replace DEST even if it already holds a product that passed.
    #[arg(long)]
    pub force: bool,

    /// Add the published product's STAC Item (always written at DEST.json) to the static collection in this
    /// folder or under this s3:// prefix.
    #[arg(long, value_name = "DIR|URL")]
    pub stac_collection: Option<String>,

    /// Send each published product's STAC Item to this collection of a STAC API with the Transactions extension
    /// (API/collections/ID): POSTed, or PUT when the API already holds it; the collection is made from the first
    /// Item when missing. A refusal is an error (the product itself stays published).
    #[arg(long, value_name = "API/collections/ID")]
    pub stac_publish: Option<String>,

    /// The limits.
    #[command(flatten)]
    pub limits: QcLimits,
}

/// Arguments of `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Input scene (path or URL), then DEST; with --stac-item, DEST alone; or give --scenes.
    #[arg(required_unless_present_any = ["scenes", "stac_item", "stac_api"])]
    pub source: Option<String>,

    /// Destination (path or URL).
    #[arg(conflicts_with = "scenes")]
    pub dest: Option<String>,

    /// A STAC Item (path, file:// or s3:// URL) as the scene: its --assets, stacked in that order and read in
    /// place (relative hrefs against the Item, https:// ones through GDAL's /vsicurl/), each band named as asked
    /// and with the asset's nodata, scale and offset; the product's STAC Item links the Item as its source and
    /// takes its datetime. Give DEST alone.
    #[arg(long, value_name = "ITEM.json", conflicts_with_all = ["scenes", "stac_api"], requires = "assets")]
    pub stac_item: Option<String>,

    /// A STAC API (root URL) to find the scene in: the Item of --collection for --mgrs (Earth Search's
    /// `grid:code`) and/or --aoi on --date, with --max-cloud; among several products of the day (ordered by cloud
    /// cover, least first, then id) --s2-index picks. Then as --stac-item. Give DEST alone.
    #[arg(long, value_name = "URL", conflicts_with = "scenes", requires_all = ["assets", "collection", "date"])]
    pub stac_api: Option<String>,

    /// With --stac-api: the collection, e.g. sentinel-2-l2a.
    #[arg(long, value_name = "ID", requires = "stac_api")]
    pub collection: Option<String>,

    /// With --stac-api: the MGRS tile, e.g. 33LWF.
    #[arg(long, value_name = "TILE", requires = "stac_api")]
    pub mgrs: Option<String>,

    /// With --stac-api: the acquisition day, YYYY-MM-DD or YYYYMMDD.
    #[arg(long, value_name = "DAY", requires = "stac_api")]
    pub date: Option<String>,

    /// With --stac-api: the largest cloud cover, percent.
    #[arg(long, value_name = "PERCENT", requires = "stac_api")]
    pub max_cloud: Option<f64>,

    /// With --stac-api: which of the day's products, 0 for the least cloudy.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "stac_api")]
    pub s2_index: usize,

    /// With --stac-item: the assets, by key or band (common) name, e.g. blue,green,red,nir.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', requires = "stac_item")]
    pub assets: Vec<String>,

    /// A list of scenes, one `SOURCE DEST` pair per line (`#` starts a comment); path or URL. Each worker of
    /// --shard takes every n-th scene; scenes already published with a passing QC report are skipped.
    #[arg(long, value_name = "LIST")]
    pub scenes: Option<String>,

    /// This worker's part of the scene list, i/n (default: from SLURM array variables, else 0/1).
    #[arg(long, value_name = "I/N", requires = "scenes")]
    pub shard: Option<String>,

    /// Only this lon/lat box (WGS 84), reprojected to the scene's CRS.
    #[arg(long, value_name = "MINLON,MINLAT,MAXLON,MAXLAT", allow_hyphen_values = true)]
    pub aoi: Option<LonLatBox>,

    /// Replace DEST even if it already holds a product that passed.
    #[arg(long)]
    pub force: bool,

    /// The model and how its product is made, checked and announced.
    #[command(flatten)]
    pub make: MakeArgs,
}

/// How a product is made, checked and announced: what `predict` and `serve` share.
#[derive(Debug, Args)]
pub struct MakeArgs {
    /// Add each published product's STAC Item (always written at DEST.json) to the static collection in this
    /// folder or under this s3:// prefix: catalog.json, collection.json and items/ITEM.json, its extent and item
    /// links rebuilt from the items on every addition.
    #[arg(long, value_name = "DIR|URL")]
    pub stac_collection: Option<String>,

    /// Send each published product's STAC Item to this collection of a STAC API with the Transactions extension
    /// (API/collections/ID): POSTed, or PUT when the API already holds it; the collection is made from the first
    /// Item when missing. A refusal is an error (the product itself stays published).
    #[arg(long, value_name = "API/collections/ID")]
    pub stac_publish: Option<String>,

    /// POST a message about each product (published; rejected by QC, with the failed checks; failed, with the
    /// stage and error) to this webhook: Slack-compatible for hooks.slack.com or a `slack+` prefix, the whole
    /// notice as JSON otherwise (or with `json+`). Repeatable. Tried 3 times; a failed delivery is logged, never
    /// fatal; the URL's path (its secret) is never printed. EOFORGE_NOTIFY (URLs separated by spaces) keeps the
    /// secret off the command line.
    #[arg(long, value_name = "URL", env = "EOFORGE_NOTIFY", hide_env_values = true, value_delimiter = ' ')]
    pub notify: Vec<eoforge_products::Webhook>,

    /// The model: `identity`, `upsample`, a run directory of `eoforge-train fit` (its U-Net writes a class map
    /// of the label values in the run's class table — UInt8 when they and a nodata value fit it, else UInt16 —
    /// with their colours and names), or an ONNX file (`model.onnx`, run by ONNX Runtime; fed as its model card
    /// `model.onnx.json` or the ONNX flags say).
    /// Required (by `predict` and by `serve` when it serves).
    #[arg(long, value_name = "identity|upsample|RUN_DIR|FILE.onnx")]
    pub model: Option<ModelSource>,

    /// Where the model runs: cpu, or cuda:N (builds with the `cuda` feature; ONNX models need
    /// `onnxruntime-gpu`).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda:N")]
    pub device: eoforge_predict::Device,

    /// Run an ONNX model on the CPU when the runtime cannot use the GPU asked for (else an error).
    #[arg(long)]
    pub allow_cpu_fallback: bool,

    /// How a trained run is applied (`--model RUN_DIR`).
    #[command(flatten)]
    pub trained: TrainedArgs,

    /// How an ONNX model is fed and read (`--model FILE.onnx`).
    #[command(flatten)]
    pub onnx: OnnxArgs,

    /// Output pixels per input pixel (upsample only).
    #[arg(long, default_value_t = 1, value_parser = positive)]
    pub scale: usize,

    /// Window size in input pixels.
    #[arg(long, default_value_t = 128)]
    pub window: usize,

    /// Overlap on each side of a window, in input pixels.
    #[arg(long, default_value_t = 16)]
    pub halo: usize,

    /// Windows per batch (0 = a safe batch: under the 2^31-element tensor limit and about 128 MiB of
    /// input and output, at most 64; one window for ONNX models, whose activation memory is their own).
    #[arg(long, default_value_t = 0)]
    pub batch: usize,

    /// Input bands, comma-separated and 1-based (default: all).
    #[arg(long, value_delimiter = ',', value_name = "B,…")]
    pub input_bands: Option<Vec<usize>>,

    /// Seam handling: hann (Hann-weighted average of overlapping windows) or center (each pixel from the window
    /// whose centre holds it).
    #[arg(long, default_value = "hann", value_name = "hann|center")]
    pub blend: Blend,

    /// Output data type (default: the input's, as the built-in models keep its values). A type that
    /// cannot hold the model's values is refused, never cast silently.
    #[arg(long, value_name = "TYPE")]
    pub out_dtype: Option<DataType>,

    /// Output nodata value (default: the input's, as the built-in models keep its bands); it must be a
    /// value of the output type. Input nodata pixels are written as this value, never blended.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub out_nodata: Option<f64>,

    /// Output tile size in pixels (a multiple of 16).
    #[arg(long, default_value_t = 512)]
    pub blocksize: usize,

    /// Codec: lzw, deflate or zstd.
    #[arg(long, default_value = "lzw", value_name = "CODEC")]
    pub compress: Codec,

    /// DEFLATE (1-9) or ZSTD (1-22) level.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=22))]
    pub level: u8,

    /// Overview resampling: auto (nearest for a one-band UInt8 output, i.e. a class map; average otherwise),
    /// average (nodata-aware mean of 2x2) or nearest.
    #[arg(long, default_value = "auto", value_name = "auto|average|nearest")]
    pub resampling: OverviewResampling,

    /// Maps derived from the output, written and published beside DEST as <DEST stem>_<name>.tif (map.tif: map_ndvi.tif).
    /// ndvi, evi, rgb (true colour, 3 x UInt8) or nir.
    #[arg(long, value_delimiter = ',', value_name = "MAP,…")]
    pub derivatives: Vec<Derivative>,

    /// Append a quality band after the model's (named `quality`, the product's type): 0 no data, 1 valid, 2 the
    /// input had nodata within the halo around the pixel, 3 a band's value was clipped to the type's range. QC
    /// counts each value; the STAC Item describes them. Not for class maps.
    #[arg(long)]
    pub quality_band: bool,

    /// Which output bands (1-based) are blue, green, red and NIR; the default is the B02,B03,B04,B08 order.
    #[arg(long, default_value = "blue=1,green=2,red=3,nir=4", value_name = "ROLE=B,…")]
    pub band_roles: BandRoles,

    /// Output value to reflectance: value × scale + offset (Sentinel-2 L2A: 0.0001, offset -0.1 from
    /// processing baseline 04.00).
    #[arg(long, default_value_t = 0.0001)]
    pub reflectance_scale: f64,

    /// See --reflectance-scale.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub reflectance_offset: f64,

    /// Memory for stitching, in MiB: wider outputs are processed in column stripes of tiles.
    #[arg(long, default_value_t = 512)]
    pub stitch_memory_mib: usize,

    /// The limits.
    #[command(flatten)]
    pub limits: QcLimits,
}

/// A whole number of at least 1.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

/// A number of seconds, more than 0.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{text}` is not a number of seconds above 0")),
    }
}

/// A share between 0 and 1.
fn fraction(text: &str) -> Result<f64, String> {
    let v: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not a share between 0 and 1")) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}

/// `predict` flags for a trained run (`--model RUN_DIR`).
#[derive(Debug, Args)]
pub struct TrainedArgs {
    /// A super-resolution run writes the input's integer type with values beyond its range clipped (as GDAL's
    /// resamplers do; the count is in the QC report and profile); with this flag such a value is an error.
    #[arg(long)]
    pub no_clip: bool,

    /// Apply a run to a scene whose band statistics are far from those of the run's training data (a band mean
    /// more than 3 standard deviations away: bands in another order, another product level); refused without it.
    #[arg(long)]
    pub force_bands: bool,

    /// Apply a run stopped before its last epoch (its best or latest checkpoint's weights); the product's metadata
    /// and QC report record the run's state.
    #[arg(long)]
    pub allow_unfinished: bool,
}

/// `predict` flags for an ONNX model (`--model FILE.onnx`); they override its model card.
#[derive(Debug, Args)]
pub struct OnnxArgs {
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else the `onnxruntime` Python package's, as
    /// `pip install onnxruntime` or `onnxruntime-gpu` installs it).
    #[arg(long, value_name = "PATH")]
    pub onnxruntime: Option<std::path::PathBuf>,

    /// What the model's output holds: `classes` (one score per class: a class map), `values` (Float32 bands) or
    /// `image` (the input's units at the model's scale, in the input's type).
    #[arg(long, value_name = "classes|values|image")]
    pub output: Option<OutputKind>,

    /// Input scaling: `mean=M,…/std=S,…` (the model takes (x − mean) / std) or `scale=S,…/offset=O,…` (it takes
    /// x · scale + offset); one value applies to every band.
    #[arg(long, value_name = "mean=…/std=…|scale=…/offset=…", allow_hyphen_values = true)]
    pub normalize: Option<NormalizeSpec>,

    /// The model takes heights and widths that are multiples of this (windows are padded up by reflection).
    #[arg(long, value_name = "PIXELS", value_parser = positive)]
    pub size_multiple: Option<usize>,
}

impl PredictArgs {
    /// The STAC API search `--stac-api` asks for.
    pub fn scene_query(&self) -> eoforge_stac::SceneQuery {
        eoforge_stac::SceneQuery {
            collection: self.collection.clone().unwrap_or_default(),
            date: self.date.clone().unwrap_or_default(),
            until: None,
            mgrs: self.mgrs.clone(),
            bbox: self.aoi.map(|a| [a.min_lon, a.min_lat, a.max_lon, a.max_lat]),
            max_cloud: self.max_cloud,
            index: self.s2_index,
        }
    }

    /// The typed options of `predict`: every flag resolved, in one place.
    pub fn options(&self) -> Result<eoforge_predict::PredictOptions, eoforge_cli::UsageError> {
        self.make.options(self.aoi, self.force)
    }
}

impl MakeArgs {
    /// The typed options of a product over `aoi` (`force`: replace a current one): every flag resolved, in one
    /// place.
    pub fn options(
        &self,
        aoi: Option<LonLatBox>,
        force: bool,
    ) -> Result<eoforge_predict::PredictOptions, eoforge_cli::UsageError> {
        let qc = self.limits.config();
        let model = self.model.clone().ok_or_else(|| eoforge_cli::UsageError("--model is required".into()))?;
        Ok(eoforge_predict::PredictOptions {
            model,
            device: self.device,
            allow_cpu_fallback: self.allow_cpu_fallback,
            scale: self.scale,
            window: self.window,
            halo: self.halo,
            batch: self.batch,
            input_bands: self.input_bands.clone(),
            blend: self.blend,
            aoi,
            out_dtype: self.out_dtype,
            out_nodata: self.out_nodata,
            blocksize: self.blocksize,
            compression: compression(self.compress, self.level)?,
            resampling: self.resampling,
            force,
            derivatives: eoforge_engine::DerivativeOptions {
                kinds: self.derivatives.clone(),
                roles: self.band_roles,
                scale: self.reflectance_scale,
                offset: self.reflectance_offset,
                ..eoforge_engine::DerivativeOptions::default()
            },
            stitch_memory_mib: self.stitch_memory_mib,
            quality_band: self.quality_band,
            trained: eoforge_predict::TrainedOptions {
                no_clip: self.trained.no_clip,
                force_bands: self.trained.force_bands,
                allow_unfinished: self.trained.allow_unfinished,
            },
            onnx: eoforge_predict::OnnxFlags {
                onnxruntime: self.onnx.onnxruntime.clone(),
                output: self.onnx.output,
                normalize: self.onnx.normalize.clone(),
                size_multiple: self.onnx.size_multiple,
            },
            qc,
            nodata_tolerance: self.limits.nodata_tolerance,
            stac_collection: self.stac_collection.clone(),
            stac_publish: self.stac_publish.clone(),
            notify: eoforge_products::Notifier { webhooks: self.notify.clone(), attempts: 0 },
        })
    }
}

impl QcLimits {
    /// The QC limits as the QC library takes them.
    pub fn config(&self) -> eoforge_qc::QcConfig {
        eoforge_qc::QcConfig {
            bands: self.bands,
            dtype: self.dtype,
            min_overviews: self.min_overviews,
            max_nodata_fraction: self.max_nodata_fraction,
            mean_range: self.mean_range.map(|r| (r.0, r.1)),
            require_cog: !self.no_cog,
            stage_limit: self.stage_limit.map(|r| (r.0, r.1)),
            ..eoforge_qc::QcConfig::default()
        }
    }
}

/// `--compress` at `--level`.
pub(crate) fn compression(codec: Codec, level: u8) -> Result<eoforge_raster::Compression, eoforge_cli::UsageError> {
    codec.at_level(level).map_err(|e| eoforge_cli::UsageError(format!("--level {e}")))
}

/// Two numbers `A,B` (`--mean-range`, `--stage-limit`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair(pub f64, pub f64);

impl std::str::FromStr for Pair {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{text}` is not two numbers A,B"))?;
        match parts.as_slice() {
            [a, b] => Ok(Self(*a, *b)),
            _ => Err(format!("`{text}` is not two numbers A,B")),
        }
    }
}
