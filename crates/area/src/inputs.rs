//! The inputs and reference stages: rasters (local or on S3) warped onto every tile's buffered grid — bands with
//! a chosen resampling, label rasters with nearest neighbour — written to the [`TileStore`], skipping tiles that
//! already have the feature.

use eoforge_raster::{Crs, Raster, Resampling};
use eoforge_storage::StoreOptions;

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
/// unless `skip_existing` and the tile has it. `s3://` rasters use the environment's settings.
pub fn read_input(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    input: &InputSpec,
    skip_existing: bool,
) -> Result<TileOutcome> {
    read_input_with(store, tile, spec, input, skip_existing, &StoreOptions::from_env())
}

/// [`read_input`] with explicit settings for `s3://` rasters (endpoint, credentials, retries).
pub fn read_input_with(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    input: &InputSpec,
    skip_existing: bool,
    storage: &StoreOptions,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, &input.name) {
        return Ok(TileOutcome::Skipped);
    }
    let raster = Raster::open_with(&input.raster, storage)?;
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
    read_reference_with(store, tile, spec, labels, skip_existing, &StoreOptions::from_env())
}

/// [`read_reference`] with explicit settings for an `s3://` raster.
pub fn read_reference_with(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    labels: &str,
    skip_existing: bool,
    storage: &StoreOptions,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, "reference") {
        return Ok(TileOutcome::Skipped);
    }
    let raster = Raster::open_with(labels, storage)?;
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

/// Where reference labels come from: a label raster (`raster`), or the polygons of a vector file (`vector`)
/// with a numeric or text `attribute` (and optionally a `layer`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// A label raster (path, `file://` or `s3://` URL), resampled with nearest neighbour.
    #[serde(default)]
    pub raster: Option<String>,
    /// A vector file (GeoJSON, GeoPackage, …) whose polygons are burnt onto each tile.
    #[serde(default)]
    pub vector: Option<String>,
    /// With `vector`: the attribute holding each polygon's class: a number (1–65535; 0 is nodata), or a name
    /// (names sorted get 1, 2, …, and name the classes of the maps).
    #[serde(default)]
    pub attribute: Option<String>,
    /// With `vector`: the layer (default: the first).
    #[serde(default)]
    pub layer: Option<String>,
}

impl ReferenceSpec {
    /// Checks that exactly one source is named, with an attribute for a vector; the error says what is missing.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match (&self.raster, &self.vector, &self.attribute) {
            (Some(_), None, None) | (None, Some(_), Some(_)) if self.layer.is_none() || self.vector.is_some() => Ok(()),
            (Some(_), Some(_), _) => Err("`raster` and `vector` are both set; name one".into()),
            (None, None, _) => Err("neither `raster` nor `vector` is set".into()),
            (None, Some(_), None) => Err("`vector` needs `attribute` (the polygons' class)".into()),
            _ => Err("`attribute` and `layer` go with `vector`, not `raster`".into()),
        }
    }

    /// Writes the tile's `reference` from whichever source this names (an `s3://` raster read with `storage`).
    pub fn read(
        &self,
        store: &TileStore,
        tile: &Tile,
        spec: &GridSpec,
        skip_existing: bool,
        storage: &StoreOptions,
    ) -> Result<TileOutcome> {
        let invalid = |reason| crate::error::Error::Input { path: "reference".into(), reason };
        self.validate().map_err(invalid)?;
        match (&self.raster, &self.vector, &self.attribute) {
            (Some(raster), _, _) => read_reference_with(store, tile, spec, raster, skip_existing, storage),
            (None, Some(vector), Some(attribute)) => {
                read_vector_reference(store, tile, spec, vector, self.layer.as_deref(), attribute, skip_existing)
            }
            _ => Err(invalid("no reference source".into())),
        }
    }
}

/// Reads a vector reference and checks its values (run once before the tiles, so a bad file is one error, not
/// one per tile): each must be a whole number in 1–65535, or a name.
pub(crate) fn check_vector_reference(
    vector: &str,
    layer: Option<&str>,
    attribute: &str,
) -> Result<eoforge_raster::ShapeLayer> {
    let layer = eoforge_raster::read_shapes(vector, layer, attribute)?;
    if let Some(bad) =
        layer.shapes.iter().find(|s| !(s.value.fract() == 0.0 && (1.0..=f64::from(u16::MAX)).contains(&s.value)))
    {
        return Err(crate::error::Error::Input {
            path: vector.to_owned(),
            reason: format!("`{attribute}` = {} is not a class in 1–65535 (0 is nodata) nor a name", bad.value),
        });
    }
    Ok(layer)
}

/// Burns the polygons of a vector file onto `tile` as the `reference` feature (UInt16, 0 = no label): each
/// polygon's `attribute` value (a name's place in the sorted names, from 1), later polygons over earlier ones. A
/// value that is not a whole number in 1–65535 is an error naming the file.
pub fn read_vector_reference(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    vector: &str,
    layer: Option<&str>,
    attribute: &str,
    skip_existing: bool,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, "reference") {
        return Ok(TileOutcome::Skipped);
    }
    let eoforge_raster::ShapeLayer { shapes, crs: shapes_crs, .. } = check_vector_reference(vector, layer, attribute)?;
    let grid = tile_grid(tile, spec);
    let crs = Crs::from_epsg(tile.epsg())?;
    let burnt = eoforge_raster::rasterize(&shapes, &shapes_crs, &grid, &crs, 0.0, vector)?;
    let data = burnt.mapv(|v| v as u16).insert_axis(ndarray::Axis(0));
    let empty = data.iter().all(|v| *v == 0);
    let names = ["reference".to_owned()];
    store.write(
        tile,
        spec,
        &FeatureInfo { name: "reference", nodata: Some(0.0), band_names: &names, source: vector },
        &data,
    )?;
    Ok(if empty { TileOutcome::Empty } else { TileOutcome::Done })
}
