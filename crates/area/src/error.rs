//! The area crate's error type: every variant names the file or the parameter it concerns.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure reading an AOI or building a grid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The AOI file is not a usable polygon AOI.
    #[error("AOI `{path}`: {reason}")]
    Aoi {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An input raster the stage cannot use.
    #[error("`{path}`: {reason}")]
    Input {
        /// The raster.
        path: String,
        /// Why.
        reason: String,
    },
    /// Grid parameters that cannot work.
    #[error("grid: {0}")]
    Grid(String),
    /// A coordinate transform failed.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// Reading or writing a file failed.
    #[error("cannot {operation} `{path}`")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
