/*!
Raster I/O for eoforge, on GDAL and ndarray.

# Brief overview
- [`Raster::open`] opens a local path, `file://` or `s3://` URL (through GDAL's `/vsis3/`, configured from the
  same [`eoforge_storage::StoreOptions`] as the object store) and reports [`RasterInfo`]: size, bands, dtypes,
  nodata, geotransform, CRS (EPSG and WKT), block size.
- [`Raster::read_window`] reads a pixel [`Window`] of a band subset into `Array3<T>` (bands, rows, cols) for
  [`Pixel`] types u8/u16/i16/u32/i32/f32/f64; [`Raster::read_onto_grid`] resamples onto a target [`Grid`] (nearest, bilinear,
  average; fractional source windows are honoured), e.g. BigEarthNet's 20 m and 60 m bands onto the 10 m grid.
- [`GeoTransform`] maps pixels ↔ map coordinates; [`reproject_bounds`] and [`utm_epsg`] move boxes between
  lon/lat and UTM.
- [`rasterize`] burns polygons ([`Shape`]s, e.g. vector labels from [`read_shapes`] or an AOI) onto a [`Grid`] in
  any CRS.
- [`TiledWriter`] writes a tiled, compressed GeoTIFF block by block (LZW/DEFLATE/ZSTD, predictor, BigTIFF) and
  publishes it atomically; [`write_cog`] produces a COG with GDAL's driver; [`CogWriter`] streams tiles into a
  COG, compressing in parallel and reducing overviews on the fly with bounded memory; [`check_cog`] checks COG
  layout from Rust.
- [`decode_geotiff`] decodes small single-band GeoTIFFs from bytes in memory without GDAL (GDAL stays the fallback
  for other layouts), and [`upsample_bilinear`] upsamples by an integer factor exactly as GDAL's bilinear read
  does: the fast path for reading millions of small patches.
- Every [`Error`] names the file; bad input (missing file, not a raster, truncated TIFF, window outside the
  raster, unsupported dtype) is an error, never a panic.

# Example
```no_run
use eoforge_raster::{Raster, Window};
let raster = Raster::open("T29RKH_B04.tif")?;
let info = raster.info()?;
let red = raster.read_window::<u16>(Window::new(0, 0, 256, 256), Some(&[1]))?;
assert_eq!(red.dim(), (1, 256, 256));
# Ok::<(), eoforge_raster::Error>(())
```
*/
#![deny(missing_docs)]

pub use crate::cog::{CogOptions, CogReport, check_cog, write_cog};
pub use crate::cog_stream::{CogWriter, CogWriterOptions, Translated, translate_to_cog};
pub use crate::crs::{Crs, reproject_bounds, transform_points, utm_epsg, utm_zone};
pub use crate::dtype::{DataType, Pixel};
pub use crate::error::{Error, Result};
pub use crate::geo::{Bounds, GeoTransform, Grid, Window};
pub use crate::indices::{enhanced_vegetation_index, normalized_difference};
pub use crate::lzw::encode as lzw_encode;
pub use crate::metadata::{BandMetadata, RasterMetadata};
pub use crate::names::{Codec, OverviewResampling, UnknownName};
pub use crate::raster::{BandInfo, Raster, RasterInfo, Resampling, set_gdal_cache_mib};
pub use crate::rasterize::{Shape, ShapeLayer, rasterize, read_shapes};
pub use crate::stack::{StackBand, stack_bands};
pub use crate::tiff_read::{DecodedBand, decode_geotiff};
pub use crate::upsample::upsample_bilinear;
pub use crate::write::{BigTiff, Compression, Predictor, RasterSpec, TiffOptions, TiledWriter, overview_factors};

mod cog;
mod cog_stream;
mod crs;
mod dtype;
mod error;
mod geo;
mod gtiff_header;
mod indices;
mod lzw;
mod metadata;
mod names;
mod partial;
pub mod preview;
mod raster;
mod rasterize;
mod stack;
mod tiff_ifd;
mod tiff_read;
mod upsample;
mod vsi;
mod write;
