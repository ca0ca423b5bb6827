//! The raster error type: every variant names the raster it concerns.

use crate::geo::Window;

/// Result alias for raster operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A raster failure, naming the file or URL involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error("raster not found: `{path}`")]
    NotFound {
        /// Path or URL as given.
        path: String,
    },

    /// GDAL could not open the file as a raster (not a raster, truncated header, unreadable).
    #[error("cannot open `{path}` as a raster: {reason}")]
    Open {
        /// Path or URL as given.
        path: String,
        /// GDAL's explanation.
        reason: String,
    },

    /// Reading pixels failed (e.g. a truncated or corrupt file).
    #[error("cannot read {what} of `{path}`: {reason}")]
    Read {
        /// Path or URL.
        path: String,
        /// What was being read (`band 3 window 0,0 120x120`).
        what: String,
        /// GDAL's explanation.
        reason: String,
    },

    /// Writing failed.
    #[error("cannot write `{path}`: {reason}")]
    Write {
        /// Output path.
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// A band's data type is not one eoforge reads (u8, u16, i16, f32).
    #[error(
        "`{path}` band {band} has data type {dtype}, which is not supported (supported: UInt8, UInt16, Int16, UInt32, Int32, Float32, Float64)"
    )]
    UnsupportedDtype {
        /// Path or URL.
        path: String,
        /// 1-based band index.
        band: usize,
        /// GDAL's type name.
        dtype: String,
    },

    /// The requested element type cannot hold the band's values without loss.
    #[error("`{path}` band {band} is {band_dtype} and cannot be read as {requested} without loss")]
    DtypeMismatch {
        /// Path or URL.
        path: String,
        /// 1-based band index.
        band: usize,
        /// GDAL's type name of the band.
        band_dtype: String,
        /// The requested type.
        requested: &'static str,
    },

    /// A band index outside `1..=band_count`.
    #[error("`{path}` has {count} bands; band {band} does not exist (bands are numbered from 1)")]
    BandOutOfRange {
        /// Path or URL.
        path: String,
        /// The 1-based index asked for.
        band: usize,
        /// Number of bands.
        count: usize,
    },

    /// A pixel window that is empty or not inside the raster.
    #[error("window {window} is outside `{path}` ({width}x{height} pixels)")]
    WindowOutOfBounds {
        /// Path or URL.
        path: String,
        /// The window asked for.
        window: Window,
        /// Raster width.
        width: usize,
        /// Raster height.
        height: usize,
    },

    /// A target grid that cannot be read from this raster (different CRS, rotated, outside).
    #[error("cannot resample `{path}` onto the target grid: {reason}")]
    Grid {
        /// Path or URL.
        path: String,
        /// Why.
        reason: String,
    },

    /// Coordinate reference system or reprojection failure.
    #[error("coordinate reference system error ({what}): {reason}")]
    Crs {
        /// What was being done.
        what: String,
        /// GDAL/PROJ's explanation.
        reason: String,
    },

    /// Invalid writer or COG options, or an array of the wrong shape.
    #[error("invalid argument for `{path}`: {reason}")]
    Invalid {
        /// The path concerned.
        path: String,
        /// What is wrong.
        reason: String,
    },

    /// A local file operation failed.
    #[error("cannot {operation} `{path}`")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A store URL could not be understood.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
}
