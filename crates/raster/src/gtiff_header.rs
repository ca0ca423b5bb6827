//! The georeferencing and metadata tags of a GeoTIFF header, written by GDAL itself.
//!
//! Our streaming writer lays out tiles and IFDs on its own, but encoding a CRS as GeoKeys is GDAL's (and PROJ's)
//! business: any CRS GDAL can represent — EPSG codes, ESRI codes, custom `+proj` strings — round-trips only if
//! the keys are exactly what GDAL writes. So GDAL writes a 1×1 GeoTIFF with the product's CRS, geotransform,
//! nodata and metadata; its tags are copied into the product's first IFD; and the tiny file is read back to
//! prove that the CRS and geotransform survive. What GDAL cannot write is refused, never dropped.

use std::path::Path;

use gdal::raster::RasterCreationOptions;
use gdal::{DriverManager, Metadata};

use crate::dtype::Pixel;
use crate::error::{Error, Result};
use crate::raster::gdal_message;
use crate::tiff_ifd::{Value, read_first_ifd};
use crate::write::RasterSpec;

/// Tags copied from GDAL's file: PhotometricInterpretation, ExtraSamples, ModelPixelScale, ModelTiepoint,
/// ModelTransformation, GeoKeyDirectory, GeoDoubleParams, GeoAsciiParams, GDAL_METADATA, GDAL_NODATA.
const COPIED: [u16; 10] = [262, 338, 33_550, 33_922, 34_264, 34_735, 34_736, 34_737, 42_112, 42_113];

/// The header tags of a product described by `spec`, from a GDAL-written file in `dir`. Fails, naming `dest`,
/// when the CRS or geotransform would not read back as given.
pub(crate) fn header_tags<T: Pixel>(spec: &RasterSpec, dir: &Path, dest: &str) -> Result<Vec<(u16, Value)>> {
    crate::raster::route_gdal_errors_to_tracing();
    let path = dir.join("header.tif");
    let failed = |reason: String| Error::Write { path: dest.to_owned(), reason };
    let gdal_failed = |e: gdal::errors::GdalError| failed(format!("encoding the GeoTIFF header: {}", gdal_message(&e)));
    if !spec.band_descriptions.is_empty() && spec.band_descriptions.len() != spec.bands {
        return Err(failed(format!("{} band descriptions for {} bands", spec.band_descriptions.len(), spec.bands)));
    }
    if !spec.metadata.bands.is_empty() && spec.metadata.bands.len() != spec.bands {
        return Err(failed(format!(
            "metadata for {} bands on a {}-band raster",
            spec.metadata.bands.len(),
            spec.bands
        )));
    }
    if let Some(nodata) = spec.nodata
        && !T::DTYPE.holds(nodata)
    {
        return Err(Error::Invalid {
            path: dest.to_owned(),
            reason: format!("nodata {nodata} cannot be stored in {} (choose another nodata value or type)", T::DTYPE),
        });
    }
    {
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(gdal_failed)?;
        let options: RasterCreationOptions =
            ["COMPRESS=NONE", "BIGTIFF=NO", "ENDIANNESS=LITTLE", "INTERLEAVE=PIXEL"].into_iter().collect();
        let mut ds = driver
            .create_with_band_type_with_options::<T, _>(&path, 1, 1, spec.bands, &options)
            .map_err(gdal_failed)?;
        if let Some(gt) = spec.geo_transform {
            ds.set_geo_transform(&gt.0).map_err(gdal_failed)?;
        }
        if let Some(crs) = &spec.crs {
            ds.set_spatial_ref(&crs.spatial_ref()?).map_err(gdal_failed)?;
        }
        spec.metadata.apply(&mut ds).map_err(gdal_failed)?;
        for index in 1..=spec.bands {
            let mut band = ds.rasterband(index).map_err(gdal_failed)?;
            if let Some(nodata) = spec.nodata {
                band.set_no_data_value(Some(nodata)).map_err(gdal_failed)?;
            }
            if let Some(d) = spec.band_descriptions.get(index - 1) {
                band.set_description(d).map_err(gdal_failed)?;
            }
        }
        ds.close().map_err(gdal_failed)?;
    }
    // The CRS and geotransform must read back as given.
    let back = crate::Raster::open(&path.display().to_string())?;
    if let Some(crs) = &spec.crs {
        let same = back.crs().is_some_and(|c| c.is_same(crs));
        if !same {
            return Err(failed(format!(
                "its CRS cannot be written as GeoTIFF keys (GDAL reads back {}); refusing to write a product with \
                 a different CRS. CRS: {}",
                back.crs().map_or_else(|| "no CRS".to_owned(), |c| c.label()),
                crs.label()
            )));
        }
    }
    if let Some(gt) = spec.geo_transform {
        let read = back.geo_transform();
        if read.is_none_or(|r| r.0.iter().zip(gt.0).any(|(a, b)| (a - b).abs() > 1e-9 * b.abs().max(1.0))) {
            return Err(failed(format!("its geotransform {:?} reads back as {:?}", gt.0, read.map(|r| r.0))));
        }
    }
    drop(back);
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        operation: "read",
        path: path.display().to_string(),
        source,
    })?;
    let _ = std::fs::remove_file(&path);
    let tags = read_first_ifd(&bytes).map_err(|reason| failed(format!("reading GDAL's GeoTIFF header: {reason}")))?;
    Ok(tags.into_iter().filter(|(tag, _)| COPIED.contains(tag)).collect())
}

/// Whether `tags` hold a GDAL_METADATA item naming a band's colour interpretation (for tests of the header).
#[cfg(test)]
fn gdal_metadata(tags: &[(u16, Value)]) -> Option<&str> {
    tags.iter().find_map(|(t, v)| match v {
        Value::Ascii(s) if *t == 42_112 => Some(s.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Crs, GeoTransform, RasterMetadata};

    #[test]
    fn a_custom_crs_and_metadata_become_gdal_tags() {
        let dir = tempfile::tempdir().expect("tmp");
        let crs =
            Crs::from_user_input("+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m")
                .expect("laea");
        let mut metadata = RasterMetadata::default();
        metadata.items.push(("license".into(), "CC-BY-4.0".into()));
        let spec = RasterSpec {
            width: 10,
            height: 10,
            bands: 1,
            geo_transform: Some(GeoTransform([4_321_000.0, 10.0, 0.0, 3_210_000.0, 0.0, -10.0])),
            crs: Some(crs),
            nodata: Some(-9999.0),
            band_descriptions: vec!["B04".into()],
            metadata,
        };
        let tags = header_tags::<f32>(&spec, dir.path(), "x.tif").expect("tags");
        assert!(tags.iter().any(|(t, _)| *t == 34_735), "GeoKeyDirectory");
        let md = gdal_metadata(&tags).expect("GDAL_METADATA");
        assert!(md.contains("CC-BY-4.0") && md.contains("B04"), "{md}");
        let bad = RasterSpec { nodata: Some(70_000.0), ..spec };
        let err = header_tags::<u16>(&bad, dir.path(), "x.tif").expect_err("70000 on UInt16");
        assert!(err.to_string().contains("70000") && err.to_string().contains("UInt16"), "{err}");
    }
}
