//! [`stack_bands`]: single-band rasters (a STAC item's assets, a product's band files) presented as one scene — a
//! VRT that reads them in place, each band named and carrying its nodata, scale and offset.

use std::path::Path;

use eoforge_storage::StoreOptions;
use gdal::Metadata;
use gdal::programs::raster::{BuildVRTOptions, build_vrt};

use crate::error::{Error, Result};
use crate::raster::Raster;

/// One band of a stacked scene: the raster holding it (its first band) and what the scene says of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackBand {
    /// Path or URL (`s3://`, or a GDAL `/vsicurl/` path) of a single-band raster.
    pub location: String,
    /// The band's name in the scene (its description), e.g. `red`.
    pub name: String,
    /// Nodata value, when the source's own is missing or to be replaced.
    pub nodata: Option<f64>,
    /// Value scale (physical = value × scale + offset).
    pub scale: Option<f64>,
    /// Value offset.
    pub offset: Option<f64>,
}

/// Writes the VRT `out` presenting `bands` in order as one raster on the finest grid among them (coarser bands
/// read nearest-neighbour onto it). The bands must share a CRS; a missing or unreadable one is an error naming it.
pub fn stack_bands(bands: &[StackBand], out: &Path, options: &StoreOptions) -> Result<()> {
    let Some(first) = bands.first() else {
        return Err(Error::Open { path: out.display().to_string(), reason: "no bands to stack".into() });
    };
    let rasters: Vec<Raster> = bands.iter().map(|b| Raster::open_with(&b.location, options)).collect::<Result<_>>()?;
    let reference = rasters[0].crs();
    for (band, raster) in bands.iter().zip(&rasters) {
        let same = match (&reference, raster.crs()) {
            (Some(a), Some(b)) => a.is_same(&b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err(Error::Open {
                path: band.location.clone(),
                reason: format!(
                    "its CRS ({}) differs from that of `{}` ({}); a stacked scene keeps one CRS",
                    raster.crs().map_or_else(|| "none".into(), |c| c.label()),
                    first.location,
                    reference.as_ref().map_or_else(|| "none".into(), crate::crs::Crs::label),
                ),
            });
        }
    }
    let vrt_options = BuildVRTOptions::new(["-separate", "-resolution", "highest", "-r", "nearest"])
        .map_err(|e| Error::Open { path: out.display().to_string(), reason: e.to_string() })?;
    let datasets: Vec<&gdal::Dataset> = rasters.iter().map(Raster::dataset).collect();
    let write_err =
        |e: gdal::errors::GdalError| Error::Write { path: out.display().to_string(), reason: e.to_string() };
    let mut vrt = build_vrt(Some(out), &datasets, Some(vrt_options)).map_err(write_err)?;
    for (index, band) in bands.iter().enumerate() {
        let mut target = vrt.rasterband(index + 1).map_err(write_err)?;
        target.set_description(&band.name).map_err(write_err)?;
        if let Some(nodata) = band.nodata {
            target.set_no_data_value(Some(nodata)).map_err(write_err)?;
        }
        if let Some(scale) = band.scale {
            target.set_scale(scale).map_err(write_err)?;
        }
        if let Some(offset) = band.offset {
            target.set_offset(offset).map_err(write_err)?;
        }
    }
    vrt.flush_cache().map_err(write_err)?;
    Ok(())
}
