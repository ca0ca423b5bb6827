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
    /// A config file that cannot be read as an area pipeline.
    #[error("`{path}`{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        /// The file.
        path: String,
        /// The line, where known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A selection of stages or tiles that does not fit the pipeline (a usage error).
    #[error("{0}")]
    Usage(String),
    /// A run stopped on request, after recording what it finished.
    #[error("{0}")]
    Stopped(String),

    /// A stage failed after earlier stages had failed on tiles: the message names the first failure.
    #[error("{0}")]
    Failed(String),
    /// Grid parameters that cannot work.
    #[error("grid: {0}")]
    Grid(String),
    /// A coordinate transform failed.
    #[error(transparent)]
    Raster(#[from] eoforge_raster::Error),
    /// Object storage (a store on `s3://`) failed; the error names the URL.
    #[error(transparent)]
    Storage(#[from] eoforge_storage::Error),
    /// QC or publishing a map failed.
    #[error(transparent)]
    Product(#[from] eoforge_products::Error),
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

/// An error and its causes joined by `: `, for reports and logs.
pub(crate) use eoforge_profile::error_chain as chain;
