//! Cloud-optimized GeoTIFFs: producing one with GDAL's COG driver, and checking a file's layout from Rust.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use gdal::raster::{RasterBand, RasterCreationOptions};
use gdal::{DriverManager, Metadata};

use crate::error::{Error, Result};
use crate::partial::PartialFile;
use crate::raster::{Raster, Resampling, gdal_message};
use crate::write::TiffOptions;

/// Options for [`write_cog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CogOptions {
    /// Tiling, codec, predictor, BigTIFF and threads.
    pub tiff: TiffOptions,
    /// Overview resampling; `None` writes no overviews (not recommended above 512 px).
    pub overviews: Option<Resampling>,
}

impl Default for CogOptions {
    fn default() -> Self {
        Self { tiff: TiffOptions::default(), overviews: Some(Resampling::Average) }
    }
}

/// Writes `source` as a COG at `dest` (written as `<dest>.partial`, checked, then renamed).
/// Fails, leaving nothing at `dest`, if the result does not pass [`check_cog`].
pub fn write_cog(source: &Raster, dest: &Path, options: &CogOptions) -> Result<CogReport> {
    let shown = dest.display().to_string();
    let float = source.dtype(1)?.is_float();
    let mut opts = options
        .tiff
        .creation_options(float, true)
        .map_err(|e| Error::Invalid { path: shown.clone(), reason: e.to_string() })?;
    match options.overviews {
        Some(resampling) => {
            opts.push("OVERVIEWS=IGNORE_EXISTING".into());
            opts.push(format!("RESAMPLING={}", resampling.gdal_name()));
        }
        None => opts.push("OVERVIEWS=NONE".into()),
    }
    let output = PartialFile::new(dest)?;
    let write_err = |e: gdal::errors::GdalError| Error::Write { path: shown.clone(), reason: gdal_message(&e) };
    let driver = DriverManager::get_driver_by_name("COG").map_err(write_err)?;
    let creation: RasterCreationOptions = opts.iter().map(String::as_str).collect();
    let written = source.dataset().create_copy(&driver, output.path(), &creation).map_err(write_err)?;
    written.close().map_err(write_err)?;
    let mut report = check_cog(output.path())?;
    if !report.is_valid() {
        return Err(Error::Write {
            path: shown,
            reason: format!("the written file is not a valid COG: {}", report.errors.join("; ")),
        });
    }
    dest.clone_into(&mut report.path);
    output.publish()?;
    Ok(report)
}

/// What [`check_cog`] found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CogReport {
    /// The file checked.
    pub path: PathBuf,
    /// Tile width and height of the full-resolution image.
    pub block_size: [usize; 2],
    /// Number of internal overview levels.
    pub overview_count: usize,
    /// Byte offsets of the IFDs: full resolution first, then each overview.
    pub ifd_offsets: Vec<u64>,
    /// Byte offset of the first tile of each level, in the same order.
    pub data_offsets: Vec<u64>,
    /// Layout violations; empty for a valid COG.
    pub errors: Vec<String>,
    /// Advice that does not invalidate the file.
    pub warnings: Vec<String>,
}

impl CogReport {
    /// True when no layout rule is violated.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks the cloud-optimized layout of a local GeoTIFF, with the rules of GDAL's
/// `validate_cloud_optimized_geotiff.py`: tiled, internal overviews, IFDs at the start in order, and tile data
/// ordered smallest overview first, full resolution last. Stricter than GDAL's validator in one respect: a raster
/// larger than 512 px without overviews is an error here, not a warning.
pub fn check_cog(path: &Path) -> Result<CogReport> {
    let shown = path.display().to_string();
    let raster = Raster::open(&shown)?;
    let driver = raster.dataset().driver().short_name();
    if driver != "GTiff" {
        return Err(Error::Open { path: shown, reason: format!("not a GeoTIFF (driver {driver})") });
    }
    let main = raster.band(1)?;
    let (width, height) = (raster.width(), raster.height());
    let (bw, bh) = main.block_size();
    let overview_count = main.overview_count().map_or(0, |n| n.max(0) as usize);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    if Path::new(&format!("{shown}.ovr")).exists() {
        errors.push("overviews found in an external .ovr file; they must be internal".into());
    }
    let large = width > 512 || height > 512;
    if large && bw == width && bw > 1024 {
        errors.push(format!("the file is larger than 512 px but not tiled (block {bw}x{bh})"));
    }
    if large && bh != 1 && bw == width && bw <= 1024 {
        warnings.push(format!("strip layout (block {bw}x{bh}); tiles are recommended"));
    }
    if large && overview_count == 0 {
        errors.push("the file is larger than 512 px but has no internal overviews".into());
    }

    let offset = |band: &RasterBand<'_>, key: &str| band.metadata_item(key, "TIFF").and_then(|v| v.parse::<u64>().ok());
    let mut levels = vec![main];
    for i in 0..overview_count {
        levels.push(raster.band(1)?.overview(i).map_err(|e| Error::Read {
            path: shown.clone(),
            what: format!("overview {i}"),
            reason: gdal_message(&e),
        })?);
    }
    let mut ifd_offsets = Vec::with_capacity(levels.len());
    let mut data_offsets = Vec::with_capacity(levels.len());
    for (i, band) in levels.iter().enumerate() {
        ifd_offsets.push(offset(band, "IFD_OFFSET").unwrap_or(0));
        data_offsets.push(first_block_offset(band, &offset));
        if i > 0 {
            let (prev_w, prev_h) = levels[i - 1].size();
            let (w, h) = band.size();
            if w > prev_w || h > prev_h {
                errors.push(format!("overview {} is larger than the level before it", i - 1));
            }
            let (obw, _) = band.block_size();
            if obw == w && obw > 1024 {
                errors.push(format!("overview {} is not tiled", i - 1));
            }
        }
    }

    let expected_first_ifd = expected_main_ifd_offset(path).map_err(|source| Error::Io {
        operation: "read header of",
        path: shown.clone(),
        source,
    })?;
    if let Some((expected, incompatible)) = expected_first_ifd {
        if incompatible {
            errors.push("KNOWN_INCOMPATIBLE_EDITION=YES is declared in the file".into());
        }
        if ifd_offsets[0] != expected {
            errors.push(format!(
                "the main IFD should be at byte {expected}, it is at {} (IFDs must come first)",
                ifd_offsets[0]
            ));
        }
    }
    for i in 1..ifd_offsets.len() {
        if ifd_offsets[i] < ifd_offsets[i - 1] {
            errors.push(format!("the IFD of overview {} comes before the IFD of the level above it", i - 1));
        }
    }
    if let (Some(&last_data), Some(&last_ifd)) = (data_offsets.last(), ifd_offsets.last())
        && last_data != 0
        && last_data < last_ifd
    {
        errors.push("tile data of the smallest level starts before its IFD".into());
    }
    for i in (1..data_offsets.len().saturating_sub(1)).rev() {
        if data_offsets[i] != 0 && data_offsets[i] < data_offsets[i + 1] {
            errors.push(format!("tiles of overview {} should come after those of overview {i}", i - 1));
        }
    }
    if data_offsets.len() >= 2 && data_offsets[0] != 0 && data_offsets[0] < data_offsets[1] {
        errors.push(format!("full-resolution tiles should come after those of overview {}", overview_count - 1));
    }

    Ok(CogReport {
        path: path.to_owned(),
        block_size: [bw, bh],
        overview_count,
        ifd_offsets,
        data_offsets,
        errors,
        warnings,
    })
}

fn first_block_offset(band: &RasterBand<'_>, offset: &dyn Fn(&RasterBand<'_>, &str) -> Option<u64>) -> u64 {
    let (bw, bh) = band.block_size();
    let (w, h) = band.size();
    for y in 0..h.div_ceil(bh.max(1)) {
        for x in 0..w.div_ceil(bw.max(1)) {
            if let Some(o) = offset(band, &format!("BLOCK_OFFSET_{x}_{y}")) {
                return o;
            }
        }
    }
    0
}

/// Where the first IFD of a COG must be: right after the header and GDAL's optional "ghost" structural metadata.
/// Returns the offset and whether the file declares itself incompatible.
fn expected_main_ifd_offset(path: &Path) -> std::io::Result<Option<(u64, bool)>> {
    let mut file = std::fs::File::open(path)?;
    let mut sig = [0u8; 4];
    file.read_exact(&mut sig)?;
    let bigtiff = matches!(sig, [0x49, 0x49, 0x2B, 0x00] | [0x4D, 0x4D, 0x00, 0x2B]);
    let mut expected: u64 = if bigtiff { 16 } else { 8 };
    file.seek(SeekFrom::Start(expected))?;
    let pattern_len = "GDAL_STRUCTURAL_METADATA_SIZE=000000 bytes\n".len();
    let mut head = vec![0u8; pattern_len];
    let mut incompatible = false;
    if file.read_exact(&mut head).is_ok() && head.starts_with(b"GDAL_STRUCTURAL_METADATA_SIZE=") {
        let digits = std::str::from_utf8(&head[30..36]).ok().and_then(|d| d.parse::<u64>().ok());
        if let Some(size) = digits {
            let mut extra = vec![0u8; size as usize];
            file.read_exact(&mut extra)?;
            incompatible = String::from_utf8_lossy(&extra).contains("KNOWN_INCOMPATIBLE_EDITION=YES");
            expected += pattern_len as u64 + size;
            expected += expected % 2;
        }
    }
    Ok(Some((expected, incompatible)))
}
