//! The inputs and reference stages: rasters (local or on S3) warped onto every tile's buffered grid — bands with
//! a chosen resampling, label rasters with nearest neighbour — written to the [`TileStore`], skipping tiles that
//! already have the feature.

use eoforge_raster::{Crs, Raster, Resampling};

use crate::error::Result;
use crate::grid::{GridSpec, Tile};
use crate::store::{FeatureInfo, TileStore, tile_grid};

/// One input feature: bands of a raster.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The feature's name (its file name in each tile's folder).
    pub name: String,
    /// The raster: a path, `file://` or `s3://` URL.
    pub raster: String,
    /// Bands to read (1-based); empty for all.
    #[serde(default)]
    pub bands: Vec<usize>,
    /// `bilinear` (default), `nearest` or `average`.
    #[serde(default = "bilinear")]
    pub resampling: ResamplingName,
}

/// The resampling of an input, as written in a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResamplingName {
    /// Nearest neighbour (labels, masks).
    Nearest,
    /// Bilinear (continuous bands).
    Bilinear,
    /// Area average (downsampling).
    Average,
}

fn bilinear() -> ResamplingName {
    ResamplingName::Bilinear
}

impl From<ResamplingName> for Resampling {
    fn from(r: ResamplingName) -> Self {
        match r {
            ResamplingName::Nearest => Resampling::Nearest,
            ResamplingName::Bilinear => Resampling::Bilinear,
            ResamplingName::Average => Resampling::Average,
        }
    }
}

/// What a stage did to one tile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TileOutcome {
    /// Written.
    Done,
    /// Already in the store.
    Skipped,
    /// No pixel of the tile is covered by the input: written as all nodata.
    Empty,
}

/// Reads `input` onto `tile` as Float32 (NaN where the raster has nodata or does not reach) into the store,
/// unless `skip_existing` and the tile has it.
pub fn read_input(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    input: &InputSpec,
    skip_existing: bool,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, &input.name) {
        return Ok(TileOutcome::Skipped);
    }
    let raster = Raster::open(&input.raster)?;
    let bands: Vec<usize> =
        if input.bands.is_empty() { (1..=raster.band_count()).collect() } else { input.bands.clone() };
    let grid = tile_grid(tile, spec);
    let crs = Crs::from_epsg(tile.epsg())?;
    let data = raster.warp_onto::<f32>(&grid, &crs, Some(&bands), input.resampling.into(), f64::NAN)?;
    let empty = data.iter().all(|v| v.is_nan());
    let names: Vec<String> = bands
        .iter()
        .map(|b| {
            raster.band_description(*b).ok().filter(|d| !d.is_empty()).unwrap_or_else(|| format!("{}_{b}", input.name))
        })
        .collect();
    let info = FeatureInfo { name: &input.name, nodata: Some(f64::NAN), band_names: &names, source: &input.raster };
    store.write(tile, spec, &info, &data)?;
    Ok(if empty { TileOutcome::Empty } else { TileOutcome::Done })
}

/// Reads a label raster onto `tile` with nearest neighbour, keeping its values and its nodata, as the
/// `reference` feature (UInt16; pixels the raster does not reach get its nodata, or 0 without one).
pub fn read_reference(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    labels: &str,
    skip_existing: bool,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, "reference") {
        return Ok(TileOutcome::Skipped);
    }
    let raster = Raster::open(labels)?;
    let nodata = raster.nodata(1)?.unwrap_or(0.0);
    if !(nodata.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&nodata)) {
        return Err(crate::error::Error::Input {
            path: labels.to_owned(),
            reason: format!("label nodata {nodata} is not a UInt16 value; labels are stored as UInt16"),
        });
    }
    let grid = tile_grid(tile, spec);
    let crs = Crs::from_epsg(tile.epsg())?;
    let data = raster.warp_onto::<u16>(&grid, &crs, Some(&[1]), Resampling::Nearest, nodata)?;
    let fill = nodata as u16;
    let empty = data.iter().all(|v| *v == fill);
    let names = ["reference".to_owned()];
    store.write(
        tile,
        spec,
        &FeatureInfo { name: "reference", nodata: Some(nodata), band_names: &names, source: labels },
        &data,
    )?;
    Ok(if empty { TileOutcome::Empty } else { TileOutcome::Done })
}
