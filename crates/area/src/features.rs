//! The features stage: spectral indices from a tile's input features — any normalised difference `(a − b) /
//! (a + b)` named in the config (NDVI, NDWI, NDBI, …) and EVI — through the same index functions as the engine's
//! derived maps (`eoforge_raster::normalized_difference`, `enhanced_vegetation_index`). NaN where an input is
//! nodata or a denominator is zero.

use ndarray::Array3;

use crate::error::{Error, Result};
use crate::grid::{GridSpec, Tile};
use crate::inputs::TileOutcome;
use crate::store::{FeatureInfo, TileStore};

/// A band of a stored feature: `feature` and its 1-based `band`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandRef {
    /// The input feature's name.
    pub feature: String,
    /// Its band, from 1.
    #[serde(default = "first")]
    pub band: usize,
}

fn first() -> usize {
    1
}

/// One index to compute.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IndexSpec {
    /// `(a − b) / (a + b)`, e.g. NDVI with a = NIR, b = red.
    NormalizedDifference {
        /// The feature name to write.
        name: String,
        /// The first band.
        a: BandRef,
        /// The second band.
        b: BandRef,
    },
    /// EVI on reflectances (`value × scale + offset`).
    Evi {
        /// The feature name to write.
        name: String,
        /// Blue.
        blue: BandRef,
        /// Red.
        red: BandRef,
        /// Near infrared.
        nir: BandRef,
        /// Reflectance scale (Sentinel-2 L2A: 0.0001).
        scale: f64,
        /// Reflectance offset.
        #[serde(default)]
        offset: f64,
    },
}

impl IndexSpec {
    /// The input bands it reads.
    pub fn bands(&self) -> Vec<&BandRef> {
        match self {
            Self::NormalizedDifference { a, b, .. } => vec![a, b],
            Self::Evi { blue, red, nir, .. } => vec![blue, red, nir],
        }
    }

    /// The feature it writes.
    pub fn name(&self) -> &str {
        match self {
            Self::NormalizedDifference { name, .. } | Self::Evi { name, .. } => name,
        }
    }
}

/// Computes `index` for `tile` from its stored inputs into the store.
pub fn compute_index(
    store: &TileStore,
    tile: &Tile,
    spec: &GridSpec,
    index: &IndexSpec,
    skip_existing: bool,
) -> Result<TileOutcome> {
    if skip_existing && store.has(&tile.name, index.name()) {
        return Ok(TileOutcome::Skipped);
    }
    let band = |r: &BandRef| -> Result<ndarray::Array2<f32>> {
        let data: Array3<f32> = store.read(&tile.name, &r.feature)?;
        if r.band == 0 || r.band > data.dim().0 {
            return Err(Error::Grid(format!(
                "index `{}`: feature `{}` of tile {} has {} band(s), not band {}",
                index.name(),
                r.feature,
                tile.name,
                data.dim().0,
                r.band
            )));
        }
        Ok(data.index_axis(ndarray::Axis(0), r.band - 1).to_owned())
    };
    let out: ndarray::Array2<f32> = match index {
        IndexSpec::NormalizedDifference { a, b, .. } => {
            let (a, b) = (band(a)?, band(b)?);
            ndarray::Zip::from(&a)
                .and(&b)
                .map_collect(|&a, &b| eoforge_raster::normalized_difference(f64::from(a), f64::from(b)))
        }
        IndexSpec::Evi { blue, red, nir, scale, offset, .. } => {
            let refl = |v: f32| f64::from(v) * scale + offset;
            let (blue, red, nir) = (band(blue)?, band(red)?, band(nir)?);
            ndarray::Zip::from(&blue)
                .and(&red)
                .and(&nir)
                .map_collect(|&b, &r, &n| eoforge_raster::enhanced_vegetation_index(refl(b), refl(r), refl(n)))
        }
    };
    let empty = out.iter().all(|v| v.is_nan());
    let data = out.insert_axis(ndarray::Axis(0));
    let names = [index.name().to_owned()];
    let info = FeatureInfo { name: index.name(), nodata: Some(f64::NAN), band_names: &names, source: "index" };
    store.write(tile, spec, &info, &data)?;
    Ok(if empty { TileOutcome::Empty } else { TileOutcome::Done })
}
