//! TESSERA embedding tiles read as scenes: `grid_X_Y.npy` (int8, `(rows, cols, 128)`), `grid_X_Y_scales.npy`
//! (float32 per pixel, `(rows, cols)`, or per value, `(rows, cols, 128)`) and the tile's landmask `grid_X_Y.tiff`
//! (its UTM grid and CRS), as `geotessera` stores them. Values are `q × scale`; a pixel whose scale is not finite
//! holds no data (NaN), so its windows are skipped. The tile is held in memory as float32 (about 620 MB for a
//! 0.1° tile) while its windows are cut. GeoTIFF exports of the same tiles are read like any raster.

use eoforge_raster::Raster;
use eoforge_storage::{Store, StoreOptions};
use ndarray::{Array3, ArrayD, Axis, Ix2, Ix3};

use crate::error::{Error, Result};

/// The scene at `location`: a TESSERA tile when it names a `.npy` file, else any raster GDAL reads.
pub(crate) fn open_scene(location: &str, options: &StoreOptions) -> Result<Raster> {
    match location.strip_suffix(".npy") {
        Some(stem) => open_tile(location, stem, options),
        None => Ok(Raster::open_with(location, options)?),
    }
}

fn open_tile(location: &str, stem: &str, options: &StoreOptions) -> Result<Raster> {
    let refuse = |path: &str, reason: String| Error::Input { path: path.to_owned(), reason };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let fetch = |url: &str| -> Result<Vec<u8>> {
        let (store, key) = Store::open_object(url, options)?;
        Ok(rt.block_on(store.get(&key))?.to_vec())
    };
    let scales_url = format!("{stem}_scales.npy");
    let quantized = eoforge_shards::npy::from_npy::<i8>(&fetch(location)?)
        .ok_or_else(|| refuse(location, "not a C-order int8 .npy array (TESSERA's embeddings)".into()))?;
    let quantized = quantized
        .into_dimensionality::<Ix3>()
        .map_err(|_| refuse(location, "expected (rows, cols, channels) embeddings".into()))?;
    let (rows, cols, channels) = quantized.dim();
    let scales: ArrayD<f32> = eoforge_shards::npy::from_npy::<f32>(&fetch(&scales_url)?)
        .ok_or_else(|| refuse(&scales_url, "not a C-order float32 .npy array (TESSERA's scales)".into()))?;
    let per_value = match scales.shape() {
        [r, c] if (*r, *c) == (rows, cols) => false,
        [r, c, k] if (*r, *c, *k) == (rows, cols, channels) => true,
        shape => {
            return Err(refuse(
                &scales_url,
                format!(
                    "shape {shape:?}; the embeddings are {rows}x{cols}x{channels}, so ({rows}, {cols}) or ({rows}, {cols}, {channels})"
                ),
            ));
        }
    };
    // The landmask beside the tile gives its grid.
    let mut grid = None;
    for ext in ["tiff", "tif"] {
        let url = format!("{stem}.{ext}");
        match Raster::open_with(&url, options) {
            Ok(raster) => {
                grid = Some((url, raster));
                break;
            }
            Err(eoforge_raster::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some((landmask, raster)) = grid else {
        return Err(refuse(location, format!("no landmask {stem}.tiff (or .tif) beside it to georeference it")));
    };
    if (raster.width(), raster.height()) != (cols, rows) {
        return Err(refuse(
            &landmask,
            format!("{}x{} pixels, the embeddings {cols}x{rows}", raster.width(), raster.height()),
        ));
    }
    let (Some(transform), Some(crs)) = (raster.geo_transform(), raster.crs()) else {
        return Err(refuse(&landmask, "not georeferenced (no geotransform or CRS)".into()));
    };
    let planes = if per_value {
        let scales = scales.into_dimensionality::<Ix3>().map_err(|e| refuse(&scales_url, e.to_string()))?;
        Array3::from_shape_fn((channels, rows, cols), |(k, r, c)| dequantize(quantized[[r, c, k]], scales[[r, c, k]]))
    } else {
        let scales = scales.into_dimensionality::<Ix2>().map_err(|e| refuse(&scales_url, e.to_string()))?;
        let mut planes = Array3::<f32>::zeros((channels, rows, cols));
        for (k, mut plane) in planes.axis_iter_mut(Axis(0)).enumerate() {
            plane.indexed_iter_mut().for_each(|((r, c), v)| *v = dequantize(quantized[[r, c, k]], scales[[r, c]]));
        }
        planes
    };
    let names: Vec<String> = (0..channels).map(|k| format!("T{k:03}")).collect();
    Ok(Raster::from_planes(location, &planes, transform, &crs, &names, Some(f64::NAN))?)
}

fn dequantize(q: i8, scale: f32) -> f32 {
    if scale.is_finite() { f32::from(q) * scale } else { f32::NAN }
}
