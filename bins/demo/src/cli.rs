//! The flags of `eoforge-demo`.

use std::path::PathBuf;

use clap::Parser;

/// Run the main job on one scene: ingest → catalog → preflight → windows → shards → train a U-Net → evaluate →
/// tiled inference → COG with overviews → QC → publish, plus derived maps; ends with an HTML report.
///
/// Every stage runs the eoforge binary a user would run (the report shows each command with its time, CPU,
/// peak memory and throughput). Without --labels, labels are derived from the scene's NDWI/NDVI and the report
/// says so.
///
/// Example:
///   eoforge-demo --scene L7_ETMs.tif --band-roles blue=1,green=2,red=3,nir=4 \
///     --store s3://me/demo --out demo-out
#[derive(Debug, Parser)]
#[command(name = "eoforge-demo", version, verbatim_doc_comment)]
pub struct Cli {
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The scene: a multi-band raster (path or URL).
    #[arg(long, value_name = "URL")]
    pub scene: String,

    /// Where the scene comes from and its licence (shown in the report).
    #[arg(long, value_name = "TEXT")]
    pub scene_note: Option<String>,

    /// A label raster covering the scene (default: labels derived from NDWI/NDVI thresholds).
    #[arg(long, value_name = "URL")]
    pub labels: Option<String>,

    /// Label value meaning "no label" (default: 0 for derived labels, else the label raster's nodata).
    #[arg(long, value_name = "VALUE")]
    pub ignore: Option<u16>,

    /// Root for data and products: a path, file:// or s3:// URL (default: OUT/store).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,

    /// Local folder for the training run, stage logs and the report.
    #[arg(long, default_value = "demo-out", value_name = "DIR")]
    pub out: PathBuf,

    /// Which scene bands are blue, green, red and NIR (1-based).
    #[arg(long, default_value = "blue=1,green=2,red=3,nir=4", value_name = "ROLE=B,…")]
    pub band_roles: String,

    /// Derived labels: water where NDWI = (green − NIR) / (green + NIR) exceeds this.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub water_ndwi: f32,

    /// Derived labels: vegetation where NDVI = (NIR − red) / (NIR + red) exceeds this (and it is not water).
    #[arg(long, default_value_t = 0.2, allow_hyphen_values = true)]
    pub vegetation_ndvi: f32,

    /// Reflectance = value × this, for EVI and the true-colour map (1/255 suits 8-bit digital numbers).
    #[arg(long, default_value_t = 1.0 / 255.0)]
    pub reflectance_scale: f64,

    /// Training window side in pixels.
    #[arg(long, default_value_t = 32)]
    pub window: usize,

    /// Training epochs.
    #[arg(long, default_value_t = 15)]
    pub epochs: u64,

    /// Seed of splits, weights and data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Folder of eoforge-prep, eoforge-train and eoforge-infer (default: this binary's folder).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Object storage settings (passed on to every stage).
    #[command(flatten)]
    pub s3: eoforge_cli::S3Args,
}

/// `blue=1,green=2,red=3,nir=4` (all four roles, bands from 1).
pub fn parse_roles(text: &str) -> Result<eoforge_demo::BandRoles, String> {
    let mut roles = [None; 4];
    for part in text.split(',') {
        let (role, band) = part.split_once('=').ok_or_else(|| format!("`{part}` is not ROLE=BAND"))?;
        let band: usize = band
            .trim()
            .parse()
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("`{band}` is not a band number (from 1)"))?;
        let slot = ["blue", "green", "red", "nir"]
            .iter()
            .position(|r| *r == role.trim())
            .ok_or_else(|| format!("unknown role `{role}` (blue, green, red, nir)"))?;
        roles[slot] = Some(band);
    }
    match roles {
        [Some(blue), Some(green), Some(red), Some(nir)] => Ok(eoforge_demo::BandRoles { blue, green, red, nir }),
        _ => Err("give all four roles: blue, green, red and nir".into()),
    }
}
