//! Tiled, compressed GeoTIFF writing block by block, with overviews; published atomically on `finish`.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{Dataset, DriverManager, Metadata};
use ndarray::{ArrayView3, Axis};

use crate::crs::Crs;
use crate::dtype::Pixel;
use crate::error::{Error, Result};
use crate::geo::{GeoTransform, Window};
use crate::partial::PartialFile;
use crate::raster::{Resampling, gdal_message};

/// Tile compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// LZW (universally readable).
    Lzw,
    /// DEFLATE at `level` 1–9.
    Deflate {
        /// 1 (fast) to 9 (small).
        level: u8,
    },
    /// ZSTD at `level` 1–22 (fast and small; needs GDAL ≥ 2.3 readers).
    Zstd {
        /// 1 (fast) to 22 (small).
        level: u8,
    },
}

/// Predictor applied before compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Predictor {
    /// No predictor.
    None,
    /// Horizontal differencing (integers).
    Horizontal,
    /// Floating-point predictor (float data).
    FloatingPoint,
}

/// When to write a BigTIFF (64-bit offsets, needed past 4 GiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BigTiff {
    /// BigTIFF when the uncompressed size may exceed 4 GiB (GDAL's `IF_SAFER`).
    IfSafer,
    /// Always BigTIFF.
    Yes,
    /// Never (fails past 4 GiB).
    No,
}

/// Layout and compression of a written GeoTIFF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiffOptions {
    /// Square tile size in pixels (multiple of 16).
    pub block_size: usize,
    /// Codec.
    pub compression: Compression,
    /// Predictor; `None` picks horizontal for integers and floating-point for floats when compressing.
    pub predictor: Option<Predictor>,
    /// BigTIFF policy.
    pub bigtiff: BigTiff,
    /// Threads GDAL may use to compress tiles (`None` = all cores).
    pub threads: Option<usize>,
}

impl Default for TiffOptions {
    fn default() -> Self {
        Self {
            block_size: 512,
            compression: Compression::Lzw,
            predictor: None,
            bigtiff: BigTiff::IfSafer,
            threads: None,
        }
    }
}

impl TiffOptions {
    /// GDAL creation options for the GTiff or COG driver (`cog` switches the few names that differ).
    pub(crate) fn creation_options(&self, float: bool, cog: bool) -> Result<Vec<String>> {
        if self.block_size == 0 || !self.block_size.is_multiple_of(16) {
            return Err(Error::Invalid {
                path: String::new(),
                reason: format!("block size {} is not a positive multiple of 16", self.block_size),
            });
        }
        let mut o = Vec::new();
        if cog {
            o.push(format!("BLOCKSIZE={}", self.block_size));
        } else {
            o.extend([
                "TILED=YES".to_owned(),
                format!("BLOCKXSIZE={}", self.block_size),
                format!("BLOCKYSIZE={}", self.block_size),
            ]);
        }
        let (codec, level) = match self.compression {
            Compression::None => ("NONE", None),
            Compression::Lzw => ("LZW", None),
            Compression::Deflate { level } => {
                ("DEFLATE", Some((if cog { "LEVEL" } else { "ZLEVEL" }, level.clamp(1, 9))))
            }
            Compression::Zstd { level } => {
                ("ZSTD", Some((if cog { "LEVEL" } else { "ZSTD_LEVEL" }, level.clamp(1, 22))))
            }
        };
        o.push(format!("COMPRESS={codec}"));
        if let Some((key, level)) = level {
            o.push(format!("{key}={level}"));
        }
        if self.compression != Compression::None {
            let predictor =
                self.predictor.unwrap_or(if float { Predictor::FloatingPoint } else { Predictor::Horizontal });
            let value = match (predictor, cog) {
                (Predictor::None, _) => None,
                (Predictor::Horizontal, true) => Some("STANDARD"),
                (Predictor::Horizontal, false) => Some("2"),
                (Predictor::FloatingPoint, true) => Some("FLOATING_POINT"),
                (Predictor::FloatingPoint, false) => Some("3"),
            };
            if let Some(v) = value {
                o.push(format!("PREDICTOR={v}"));
            }
        }
        o.push(
            match self.bigtiff {
                BigTiff::IfSafer => "BIGTIFF=IF_SAFER",
                BigTiff::Yes => "BIGTIFF=YES",
                BigTiff::No => "BIGTIFF=NO",
            }
            .to_owned(),
        );
        o.push(format!("NUM_THREADS={}", self.threads.map_or_else(|| "ALL_CPUS".to_owned(), |n| n.max(1).to_string())));
        Ok(o)
    }
}

/// Size and georeferencing of a raster to write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RasterSpec {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Number of bands.
    pub bands: usize,
    /// Geotransform, if georeferenced.
    pub geo_transform: Option<GeoTransform>,
    /// CRS, if georeferenced.
    pub crs: Option<Crs>,
    /// Nodata value for every band.
    pub nodata: Option<f64>,
    /// Band descriptions (names), one per band or empty.
    pub band_descriptions: Vec<String>,
    /// Dataset and band metadata carried over from the source (licence, scale/offset, colours …).
    pub metadata: crate::metadata::RasterMetadata,
}

/// Overview decimation factors (2, 4, 8, …) until the smallest level fits in one `block_size` tile.
pub fn overview_factors(width: usize, height: usize, block_size: usize) -> Vec<i32> {
    let mut factors = Vec::new();
    let largest = width.max(height);
    let mut f = 2usize;
    while largest > block_size && f < (1 << 30) {
        factors.push(f as i32);
        if largest.div_ceil(f) <= block_size {
            break;
        }
        f *= 2;
    }
    factors
}

/// Writes a tiled GeoTIFF block by block. The file is created as `<path>.partial` and renamed to `path` only by
/// [`TiledWriter::finish`]; dropping an unfinished writer deletes the partial file, so readers never see half a file.
pub struct TiledWriter<T: Pixel> {
    // Field order matters: the dataset closes before the partial file is removed on drop.
    dataset: Option<Dataset>,
    output: PartialFile,
    spec: RasterSpec,
    block_size: usize,
    _pixel: PhantomData<T>,
}

impl<T: Pixel> TiledWriter<T> {
    /// Creates the output (as `<path>.partial`) with the given layout.
    pub fn create(path: &Path, spec: &RasterSpec, options: &TiffOptions) -> Result<Self> {
        crate::raster::route_gdal_errors_to_tracing();
        let shown = path.display().to_string();
        let invalid = |reason: String| Error::Invalid { path: shown.clone(), reason };
        if spec.width == 0 || spec.height == 0 || spec.bands == 0 {
            return Err(invalid(format!("empty raster {}x{}x{}", spec.bands, spec.height, spec.width)));
        }
        if !spec.band_descriptions.is_empty() && spec.band_descriptions.len() != spec.bands {
            return Err(invalid(format!(
                "{} band descriptions for {} bands",
                spec.band_descriptions.len(),
                spec.bands
            )));
        }
        let float = T::DTYPE.is_float();
        let opts = options.creation_options(float, false).map_err(|e| invalid(e.to_string()))?;
        let output = PartialFile::new(path)?;
        let write_err = |e: gdal::errors::GdalError| Error::Write { path: shown.clone(), reason: gdal_message(&e) };
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(write_err)?;
        let creation: RasterCreationOptions = opts.iter().map(String::as_str).collect();
        let mut dataset = driver
            .create_with_band_type_with_options::<T, _>(output.path(), spec.width, spec.height, spec.bands, &creation)
            .map_err(write_err)?;
        let mut writer =
            Self { dataset: None, output, spec: spec.clone(), block_size: options.block_size, _pixel: PhantomData };
        if let Some(gt) = spec.geo_transform {
            dataset.set_geo_transform(&gt.0).map_err(write_err)?;
        }
        if let Some(crs) = &spec.crs {
            dataset.set_projection(&crs.wkt).map_err(write_err)?;
        }
        spec.metadata.for_bands(spec.bands).apply(&mut dataset).map_err(write_err)?;
        for index in 1..=spec.bands {
            let mut band = dataset.rasterband(index).map_err(write_err)?;
            if spec.nodata.is_some() {
                band.set_no_data_value(spec.nodata).map_err(write_err)?;
            }
            if let Some(d) = spec.band_descriptions.get(index - 1) {
                band.set_description(d).map_err(write_err)?;
            }
        }
        writer.dataset = Some(dataset);
        Ok(writer)
    }

    /// Number of tile columns and rows.
    pub fn blocks(&self) -> (usize, usize) {
        (self.spec.width.div_ceil(self.block_size), self.spec.height.div_ceil(self.block_size))
    }

    /// The pixel window of tile (`bx`, `by`); edge tiles are clipped to the raster.
    pub fn block_window(&self, bx: usize, by: usize) -> Window {
        let (col, row) = (bx * self.block_size, by * self.block_size);
        Window::new(
            col,
            row,
            self.block_size.min(self.spec.width.saturating_sub(col)),
            self.block_size.min(self.spec.height.saturating_sub(row)),
        )
    }

    /// Writes tile (`bx`, `by`); `data` is `(bands, rows, cols)` of the tile's (clipped) window.
    #[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
    pub fn write_block(&mut self, bx: usize, by: usize, data: ArrayView3<'_, T>) -> Result<()> {
        let (nx, ny) = self.blocks();
        if bx >= nx || by >= ny {
            return Err(self.invalid(format!("tile {bx},{by} is outside the {nx}x{ny} tile grid")));
        }
        self.write_window(self.block_window(bx, by), data)
    }

    /// Writes any window; `data` is `(bands, rows, cols)` matching it. Tile-aligned windows are fastest.
    #[allow(clippy::needless_pass_by_value)] // array views are passed by value, like slices
    pub fn write_window(&mut self, window: Window, data: ArrayView3<'_, T>) -> Result<()> {
        if !window.fits(self.spec.width, self.spec.height) {
            return Err(
                self.invalid(format!("window {window} is outside the {}x{} raster", self.spec.width, self.spec.height))
            );
        }
        let expected = (self.spec.bands, window.height, window.width);
        if data.dim() != expected {
            return Err(
                self.invalid(format!("array shape {:?} does not match (bands, rows, cols) {expected:?}", data.dim()))
            );
        }
        let shown = self.output.dest().display().to_string();
        let dataset = self
            .dataset
            .as_mut()
            .ok_or_else(|| Error::Write { path: shown.clone(), reason: "writer already finished".into() })?;
        for (i, plane) in data.axis_iter(Axis(0)).enumerate() {
            let mut band = dataset
                .rasterband(i + 1)
                .map_err(|e| Error::Write { path: shown.clone(), reason: gdal_message(&e) })?;
            let mut buffer = Buffer::new((window.width, window.height), plane.iter().copied().collect());
            band.write((window.col as isize, window.row as isize), (window.width, window.height), &mut buffer)
                .map_err(|e| Error::Write {
                    path: shown.clone(),
                    reason: format!("band {} {window}: {}", i + 1, gdal_message(&e)),
                })?;
        }
        Ok(())
    }

    /// Builds internal overviews (if `overviews` is given), closes the file and renames it into place.
    ///
    /// The result is a valid tiled GeoTIFF; it is a COG only without overviews (overviews added after the base
    /// image sit after it in the file). Use [`crate::write_cog`] for a COG.
    pub fn finish(mut self, overviews: Option<Resampling>) -> Result<PathBuf> {
        let shown = self.output.dest().display().to_string();
        let write_err = |e: gdal::errors::GdalError| Error::Write { path: shown.clone(), reason: gdal_message(&e) };
        let mut dataset = self
            .dataset
            .take()
            .ok_or_else(|| Error::Write { path: shown.clone(), reason: "writer already finished".into() })?;
        if let Some(resampling) = overviews {
            let factors = overview_factors(self.spec.width, self.spec.height, self.block_size);
            if !factors.is_empty() {
                dataset.build_overviews(resampling.gdal_name(), &factors, &[]).map_err(write_err)?;
            }
        }
        dataset.flush_cache().map_err(write_err)?;
        dataset.close().map_err(write_err)?;
        self.output.publish()
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Invalid { path: self.output.dest().display().to_string(), reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_levels_reach_one_tile() {
        assert_eq!(overview_factors(512, 300, 512), Vec::<i32>::new());
        assert_eq!(overview_factors(1098, 1098, 512), vec![2, 4]);
        assert_eq!(overview_factors(10_980, 10_980, 512), vec![2, 4, 8, 16, 32]);
    }

    #[test]
    fn creation_options_follow_the_driver() {
        let o = TiffOptions { compression: Compression::Zstd { level: 3 }, ..TiffOptions::default() };
        let gtiff = o.creation_options(false, false).expect("valid");
        assert!(gtiff.contains(&"ZSTD_LEVEL=3".to_owned()) && gtiff.contains(&"PREDICTOR=2".to_owned()), "{gtiff:?}");
        let cog = o.creation_options(true, true).expect("valid");
        assert!(cog.contains(&"LEVEL=3".to_owned()) && cog.contains(&"PREDICTOR=FLOATING_POINT".to_owned()), "{cog:?}");
        assert!(TiffOptions { block_size: 100, ..TiffOptions::default() }.creation_options(false, false).is_err());
    }
}
